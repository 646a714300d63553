// The Rust emitter CLI (`sio-emit`, crates/emitter) against a mixed cluster: one Node.js
// peer node (socket.io 4.8 + @socket.io/redis-adapter 8.3) and one Rust peer node
// (socketioxide + sio-redis), on a private redis-server (7.0 or later), with the classic
// adapter (`createAdapter`; plain sio-emit) and with the sharded adapter
// (`createShardedAdapter`; `sio-emit --sharded --mode <mode>`) in each subscription mode,
// and with the streams adapter (@socket.io/redis-streams-adapter 0.3 with connection state
// recovery on the Node node, sio_redis's StreamsAdapter on the Rust node; `sio-emit
// --streams --stream-name <name> --stream-count <n>`) with streamCount 1 and 3.
// Every operation is done by running the sio-emit binary, and every check shows that the
// clients of BOTH nodes got (or did not get) what was sent.
//
// Run with (from e2e/):
//   node --test test/emitter.test.js
//
// Environment:
//   SIO_EMIT        the sio-emit binary            [../target/release/sio-emit]
//                   (cargo build --release -p sio-redis-emitter)
//   RUST_PEER_NODE  command of the Rust peer node  [../target/release/peer-node]
//                   (cargo build --release -p sio-redis-peer-node)
//   E2E_PARSERS     parsers to run: common,msgpack [common,msgpack]
//   E2E_ADAPTERS    adapters to run: pubsub,sharded,streams [pubsub,sharded,streams]
//   E2E_SHARDED_MODES  modes of the sharded runs [static,dynamic,dynamic-private]
//   E2E_STREAM_COUNTS  streamCount of the streams runs [1,3]
//   E2E_ONLY        only run checks whose name contains this text
//   E2E_VERBOSE=1   peer nodes log every event, children's output is echoed
"use strict";

const { describe, test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const { execFile } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { each, bytesFor, verifyDisconnectWithClose } = require("./lib/checks");
const { startCluster, waitFor, E2E_DIR } = require("./lib/cluster");

const SIO_EMIT = process.env.SIO_EMIT ||
  path.resolve(E2E_DIR, "..", "target", "release", "sio-emit");
const list = (s) => s.split(",").map((x) => x.trim()).filter(Boolean);
const PARSERS = list(process.env.E2E_PARSERS || "common,msgpack");
const ADAPTERS = list(process.env.E2E_ADAPTERS || "pubsub,sharded,streams");
const SHARDED_MODES = list(process.env.E2E_SHARDED_MODES || "static,dynamic,dynamic-private");
const STREAM_COUNTS = list(process.env.E2E_STREAM_COUNTS || "1,3");
const KEY = "e2e-emitter";
/** The streams adapter's streamName (its channelPrefix is KEY). */
const STREAM = `${KEY}-stream`;
/**
 * The runs: the classic adapter, the sharded adapter in each mode, the streams adapter
 * with each streamCount. `argv` selects the emitter kind, `keyArgv` the channel prefix
 * (the streams emitter writes to a stream, named by --stream-name, and refuses --key).
 */
const SUITES = ADAPTERS.flatMap((adapter) => {
  const keyArgv = ["--key", KEY];
  if (adapter === "sharded") {
    return SHARDED_MODES.map((mode) => ({
      adapter, mode, argv: ["--sharded", "--mode", mode], keyArgv, env: { SHARDED_MODE: mode },
    }));
  }
  if (adapter === "streams") {
    return STREAM_COUNTS.map((count) => ({
      adapter,
      mode: null,
      argv: ["--streams", "--stream-name", STREAM, "--stream-count", count],
      keyArgv: [],
      env: { STREAM_NAME: STREAM, STREAM_COUNT: count },
    }));
  }
  return [{ adapter, mode: null, argv: [], keyArgv, env: {} }];
});
const ONLY = process.env.E2E_ONLY || "";
const RUNTIMES = ["node", "rust"];
const NAMESPACES = ["/", "/ns2"];
const WAIT = 5000; // deadline of every wait for a condition
const EMIT_TIMEOUT = 15000; // deadline of one sio-emit run
const ALL = ["a", "b", "c"];
const LABEL = { node: "Node", rust: "Rust" };

if (!fs.existsSync(SIO_EMIT)) {
  throw new Error(`sio-emit not found at ${SIO_EMIT}: build it with ` +
    "`cargo build --release -p sio-redis-emitter` or set SIO_EMIT");
}

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), "sio-emit-e2e-"));
process.on("exit", () => fs.rmSync(TMP, { recursive: true, force: true }));

// ---------------------------------------------------------------------------------------
// running sio-emit

/** Runs sio-emit with `argv`; resolves {code, stdout, stderr} whatever the exit code. */
function runEmit(argv) {
  return new Promise((resolve, reject) => {
    execFile(SIO_EMIT, argv, { timeout: EMIT_TIMEOUT, encoding: "utf8" }, (err, stdout, stderr) => {
      if (err && typeof err.code !== "number") {
        reject(new Error(`sio-emit ${argv.join(" ")}: ${err.message}\n${stderr}`));
        return;
      }
      resolve({ code: err ? err.code : 0, stdout, stderr });
    });
  });
}

/**
 * A client's event arguments as compared: binaries as Buffer; with `streams`, without
 * the stream offset that the streams adapter's connection state recovery appends (Node
 * node, non-volatile events).
 */
function norm(args, streams = false) {
  const out = args.map((a) =>
    a instanceof ArrayBuffer ? Buffer.from(a)
      : ArrayBuffer.isView(a) && !Buffer.isBuffer(a) ? Buffer.from(a.buffer, a.byteOffset, a.byteLength)
        : a);
  if (streams && typeof out[out.length - 1] === "string" && /^\d+-\d+$/.test(out[out.length - 1])) {
    out.pop();
  }
  return out;
}

const payloadObject = {
  n: 42,
  f: 2.5,
  neg: -7,
  s: "héllo ✓ \"quoted\"",
  arr: [1, null, true, "x"],
  nested: { deep: { empty: [], obj: {} } },
};
/** The JSON_ARGs of the standard payload, and the arguments the clients must get. */
const payloadArgv = (tag) => [JSON.stringify(tag), JSON.stringify(payloadObject)];
const payload = (tag) => [tag, payloadObject];

let seqCounter = 0;

// ---------------------------------------------------------------------------------------
// per-check context

function makeCtx(env, nsp = "/") {
  const { cluster, suite } = env;
  const nodes = cluster.nodes;
  const seq = ++seqCounter;
  const other = nsp === "/" ? "/ns2" : "/";
  const clientsOf = (node, n = nsp) => env.clients[n][node.id];
  const all = (n = nsp) => nodes.flatMap((node) => Object.values(clientsOf(node, n)));
  const fences = {};
  const ctx = {
    seq,
    nsp,
    other,
    nodes,
    cluster,
    clientsOf,
    all,
    name: (kind) => `${kind}-${seq}`,
    streams: suite.adapter === "streams",
    cleanups: [],

    /**
     * Runs `sio-emit --redis <url> --key <KEY> [--sharded --mode M] ...argv` (streams:
     * `--streams --stream-name <STREAM> --stream-count N` instead of `--key`); it must
     * exit 0 and be silent.
     */
    async emit(argv) {
      const full = ["--redis", cluster.redis.url, ...suite.keyArgv, ...suite.argv, ...argv];
      const res = await runEmit(full);
      assert.equal(res.code, 0, `sio-emit ${full.join(" ")} exited ${res.code}: ${res.stderr}`);
      assert.equal(res.stderr, "", `sio-emit ${full.join(" ")} wrote to stderr`);
      return res;
    },

    /** Local joins through the peer nodes: [[client, rooms], ...]; then waits until the adapters can route them. */
    async join(pairs) {
      const rooms = new Map(); // "nsp\0room" -> [nsp, room]
      await Promise.all(pairs.map(async ([client, r]) => {
        const got = await client.call("join", r);
        for (const room of [].concat(r)) {
          rooms.set(`${client.nsp}\0${room}`, [client.nsp, room]);
          assert.ok(got.includes(room), `join ack of ${client.name} lacks ${room}: ${JSON.stringify(got)}`);
        }
      }));
      for (const [n, room] of rooms.values()) await ctx.settle([room], n);
    },

    /**
     * An emit to exactly one room goes on the room's own shard channel in the dynamic
     * modes (Node's computeChannel), which a node subscribes asynchronously when a
     * member joins: wait until `count` nodes (every node unless told) subscribed it.
     */
    async settle(rooms, n = nsp, count = nodes.length) {
      for (const room of rooms) {
        if (!onRoomChannel(suite, room)) continue;
        const ch = `${KEY}#${n}#${room}#`;
        await waitFor(async () => {
          const [, subs] = await cluster.command(["PUBSUB", "SHARDNUMSUB", ch]);
          return Number(subs) >= count;
        }, WAIT, `${count} node(s) subscribed to ${ch}`);
      }
    },

    async rooms(client) {
      return (await client.call("info")).rooms;
    },

    /**
     * Everything emitted before the fence has been handled by every node once every
     * client of namespace `n` got the fence: each node reads all of a prefix's channels
     * on one subscriber connection, in Redis's order.
     */
    fence(n = nsp) {
      if (!fences[n]) {
        fences[n] = (async () => {
          const ev = `fence-${seq}`;
          await ctx.emit(["--nsp", n, ev]);
          await Promise.all(all(n).map((c) =>
            waitFor(() => c.got(ev).length > 0, WAIT, `${c.name} to receive the fence ${ev}`)));
        })();
      }
      return fences[n];
    },

    /** Waits until `client` got `ev`; checks the arguments of the first one. */
    async expectEvent(client, ev, args) {
      await waitFor(() => client.got(ev).length > 0, WAIT, `${client.name} to receive ${ev}`);
      if (args !== undefined) {
        assert.deepStrictEqual(norm(client.got(ev)[0], suite.adapter === "streams"), args,
          `arguments of ${ev} at ${client.name}`);
      }
    },

    async expectOnce(client, ev, args) {
      await ctx.expectEvent(client, ev, args);
      await ctx.fence(client.nsp);
      assert.equal(client.got(ev).length, 1, `${client.name} got ${ev} ${client.got(ev).length} times`);
    },

    async expectNone(client, ev) {
      await ctx.fence(client.nsp);
      assert.equal(client.got(ev).length, 0, `${client.name} got ${ev} but should not have`);
    },

    async sseEntries(node, tag, n = nsp) {
      const log = await clientsOf(node, n).a.call("sseLog");
      assert.ok(Array.isArray(log), `sseLog of ${node.id}${n} is not an array: ${JSON.stringify(log)}`);
      return log.filter((e) => e && Array.isArray(e.args) && e.args[0] === tag);
    },
  };
  return ctx;
}

/**
 * Whether an emit to `room` alone goes on the room's shard channel (sharded adapter 8.3
 * `computeChannel`: dynamic-private always, dynamic unless the room has the length of a
 * Node socket id, 20 UTF-16 code units, as JavaScript counts it).
 */
function onRoomChannel(suite, room) {
  return suite.mode === "dynamic-private" || (suite.mode === "dynamic" && room.length !== 20);
}

/** Waits until each named client of every node is (or is not) in `room`. */
function waitRoomState(ctx, names, room, inside) {
  return Promise.all(ctx.nodes.flatMap((node) => names.map((n) => {
    const c = ctx.clientsOf(node)[n];
    return waitFor(async () => (await ctx.rooms(c)).includes(room) === inside, WAIT,
      `${c.name} ${inside ? "to be in" : "to have left"} room ${room}`);
  })));
}

/**
 * A room emit (by sio-emit) proving who is in `room` once the room operation reached
 * every node: the members get it once, the others never.
 */
function memberProof(ctx, room, members, settled) {
  let p = null;
  const run = () => {
    if (!p) {
      p = (async () => {
        await settled();
        await ctx.settle([room]);
        const ev = `proof-${room}`;
        await ctx.emit(["--nsp", ctx.nsp, "--to", room, ev, JSON.stringify(room)]);
        return ev;
      })();
    }
    return p;
  };
  return async (target) => {
    const ev = await run();
    for (const [n, c] of Object.entries(ctx.clientsOf(target))) {
      if (members.includes(n)) await ctx.expectOnce(c, ev, [room]);
      else await ctx.expectNone(c, ev);
    }
  };
}

/** Extra clients per node for the disconnect checks: d (in `room`), e, and d2 on d's connection in the other namespace. */
async function extraClients(ctx, room) {
  const extra = {};
  await Promise.all(ctx.nodes.map(async (node) => {
    const d = await ctx.cluster.connect(node, ctx.nsp, `${node.id}${ctx.nsp}-d${ctx.seq}`);
    const e = await ctx.cluster.connect(node, ctx.nsp, `${node.id}${ctx.nsp}-e${ctx.seq}`);
    const d2 = await ctx.cluster.connect(node, ctx.other, `${node.id}${ctx.other}-d2-${ctx.seq}`,
      { manager: d.manager });
    await d.call("join", room);
    extra[node.id] = { d, e, d2 };
  }));
  ctx.cleanups.push(async () => {
    for (const x of Object.values(extra)) for (const c of Object.values(x)) c.close();
  });
  return extra;
}

// ---------------------------------------------------------------------------------------
// the checks: op(ctx) runs sio-emit once; verify(ctx, state, target) per node

const CHECKS = [
  {
    name: "emit to all",
    async op(ctx) {
      const ev = ctx.name("all");
      await ctx.emit([ev, ...payloadArgv(ev)]);
      return { ev };
    },
    async verify(ctx, { ev }, target) {
      await each(ctx, target, ALL, (c) => ctx.expectOnce(c, ev, payload(ev)));
      for (const c of Object.values(ctx.clientsOf(target, ctx.other))) await ctx.expectNone(c, ev);
    },
  },
  {
    name: "emit to a room (--to)",
    async op(ctx) {
      const ev = ctx.name("room");
      const R = ctx.name("R");
      await ctx.join(ctx.nodes.map((n) => [ctx.clientsOf(n).a, R]));
      await ctx.emit(["--to", R, ev, ...payloadArgv(ev)]);
      return { ev };
    },
    async verify(ctx, { ev }, target) {
      await each(ctx, target, ["a"], (c) => ctx.expectOnce(c, ev, payload(ev)));
      await each(ctx, target, ["b", "c"], (c) => ctx.expectNone(c, ev));
    },
  },
  {
    name: "emit to several rooms (--to --to, once per socket)",
    async op(ctx) {
      const ev = ctx.name("rooms");
      const R1 = ctx.name("R1");
      const R2 = ctx.name("R2");
      await ctx.join(ctx.nodes.flatMap((n) => [
        [ctx.clientsOf(n).a, [R1]],
        [ctx.clientsOf(n).b, [R1, R2]],
      ]));
      await ctx.emit(["--to", R1, "--to", R2, ev, ...payloadArgv(ev)]);
      return { ev };
    },
    async verify(ctx, { ev }, target) {
      await each(ctx, target, ["a", "b"], (c) => ctx.expectOnce(c, ev, payload(ev)));
      await each(ctx, target, ["c"], (c) => ctx.expectNone(c, ev));
    },
  },
  {
    name: "emit except a room (--except)",
    async op(ctx) {
      const ev = ctx.name("except");
      const X = ctx.name("X");
      await ctx.join(ctx.nodes.map((n) => [ctx.clientsOf(n).b, X]));
      await ctx.emit(["--except", X, ev, ...payloadArgv(ev)]);
      return { ev };
    },
    async verify(ctx, { ev }, target) {
      await each(ctx, target, ["a", "c"], (c) => ctx.expectOnce(c, ev, payload(ev)));
      await each(ctx, target, ["b"], (c) => ctx.expectNone(c, ev));
    },
  },
  {
    name: "emit to a room except a room",
    async op(ctx) {
      const ev = ctx.name("roomexcept");
      const R = ctx.name("R");
      const X = ctx.name("X");
      await ctx.join(ctx.nodes.flatMap((n) => [
        [ctx.clientsOf(n).a, [R]],
        [ctx.clientsOf(n).b, [R, X]],
      ]));
      await ctx.emit(["--to", R, "--except", X, ev, ...payloadArgv(ev)]);
      return { ev };
    },
    async verify(ctx, { ev }, target) {
      await each(ctx, target, ["a"], (c) => ctx.expectOnce(c, ev, payload(ev)));
      await each(ctx, target, ["b", "c"], (c) => ctx.expectNone(c, ev));
    },
  },
  {
    name: "emit to one socket id (--to <sid>, one per node)",
    async op(ctx) {
      const evs = {};
      for (const node of ctx.nodes) {
        const a = ctx.clientsOf(node).a;
        // Node ids have 20 characters, socketioxide's 16: in dynamic mode the first go
        // on the main channel, the second on the id's room channel (the Rust node
        // subscribes its sockets' ids); in dynamic-private both on the room channel.
        await ctx.settle([a.id], ctx.nsp, 1);
        evs[node.id] = ctx.name(`sid-${node.id}`);
        // `--to=<sid>`: an id may start with "-"
        await ctx.emit([`--to=${a.id}`, evs[node.id], ...payloadArgv(evs[node.id])]);
      }
      return { evs };
    },
    async verify(ctx, { evs }, target) {
      await each(ctx, target, ["a"], (c) => ctx.expectOnce(c, evs[target.id], payload(evs[target.id])));
      for (const [id, ev] of Object.entries(evs)) {
        const others = id === target.id ? ["b", "c"] : ALL;
        await each(ctx, target, others, (c) => ctx.expectNone(c, ev));
      }
    },
  },
  {
    name: "volatile emit (--volatile)",
    async op(ctx) {
      const ev = ctx.name("volatile");
      await ctx.emit(["--volatile", ev, ...payloadArgv(ev)]);
      return { ev };
    },
    async verify(ctx, { ev }, target) {
      // idle websocket connections: a volatile packet is not dropped
      await each(ctx, target, ALL, (c) => ctx.expectOnce(c, ev, payload(ev)));
    },
  },
  {
    name: "compressed emit (--compress)",
    async op(ctx) {
      const ev = ctx.name("compress");
      await ctx.emit(["--compress", "--to", ctx.name("none"), "--to", ctx.name("none2"), "--except", ctx.name("none3"),
        "--volatile", ev, ...payloadArgv(ev)]);
      const ev2 = ctx.name("compress-all");
      await ctx.emit(["--compress", ev2, ...payloadArgv(ev2)]);
      return { ev, ev2 };
    },
    async verify(ctx, { ev, ev2 }, target) {
      await each(ctx, target, ALL, (c) => ctx.expectOnce(c, ev2, payload(ev2)));
      // the first one targeted two empty rooms
      await each(ctx, target, ALL, (c) => ctx.expectNone(c, ev));
    },
  },
  {
    name: "second namespace /ns2 (--nsp ns2, no leading slash)",
    async op(ctx) {
      const ev = ctx.name("ns2");
      const R = ctx.name("R");
      await ctx.join(ctx.nodes.map((n) => [ctx.clientsOf(n, "/ns2").c, R]));
      await ctx.emit(["--nsp", "ns2", ev, ...payloadArgv(ev)]);
      const evRoom = ctx.name("ns2room");
      await ctx.emit(["--nsp", "/ns2", "--to", R, evRoom, ...payloadArgv(evRoom)]);
      return { ev, evRoom };
    },
    async verify(ctx, { ev, evRoom }, target) {
      const ns2 = ctx.clientsOf(target, "/ns2");
      for (const c of Object.values(ns2)) await ctx.expectOnce(c, ev, payload(ev));
      await ctx.expectOnce(ns2.c, evRoom, payload(evRoom));
      for (const c of [ns2.a, ns2.b]) await ctx.expectNone(c, evRoom);
      for (const c of Object.values(ctx.clientsOf(target, "/"))) {
        await ctx.expectNone(c, ev);
        await ctx.expectNone(c, evRoom);
      }
    },
  },
  {
    name: "binary arguments (--binary @file, twice)",
    async op(ctx) {
      const ev = ctx.name("binary");
      const bytes = bytesFor(ctx.seq);
      const small = Buffer.from([0, 1, 2, 254, 255]);
      const f1 = path.join(TMP, `bin-${ctx.seq}-1`);
      const f2 = path.join(TMP, `bin-${ctx.seq}-2`);
      fs.writeFileSync(f1, bytes);
      fs.writeFileSync(f2, small);
      await ctx.emit(["--binary", `@${f1}`, "--binary", `@${f2}`, ev, JSON.stringify(ev), '{"k":"v","n":1}']);
      return { ev, bytes, small };
    },
    async verify(ctx, { ev, bytes, small }, target) {
      await each(ctx, target, ALL, async (c) => {
        await ctx.expectOnce(c, ev);
        const args = c.got(ev)[0];
        const got = norm(args, ctx.streams);
        assert.equal(got.length, 4, `argument count at ${c.name}: ${got.length}`);
        assert.deepStrictEqual(got.slice(0, 2), [ev, { k: "v", n: 1 }]);
        for (const [i, want] of [[2, bytes], [3, small]]) {
          const bin = args[i];
          assert.ok(Buffer.isBuffer(bin) || bin instanceof ArrayBuffer || ArrayBuffer.isView(bin),
            `${c.name}: argument ${i} is binary (got ${Object.prototype.toString.call(bin)} ` +
            `${JSON.stringify(bin).slice(0, 80)})`);
          assert.ok(got[i].equals(want), `${c.name}: bytes of argument ${i} are equal`);
        }
      });
    },
  },
  {
    name: "join (then an emit to the room proves membership)",
    async op(ctx) {
      const S = ctx.name("S");
      const J1 = ctx.name("J1");
      const J2 = ctx.name("J2");
      await ctx.join(ctx.nodes.map((n) => [ctx.clientsOf(n).a, S]));
      await ctx.emit(["--to", S, "join", J1, J2]);
      const proof = memberProof(ctx, J1, ["a"], () => waitRoomState(ctx, ["a"], J2, true));
      return { J1, J2, proof };
    },
    async verify(ctx, { J1, J2, proof }, target) {
      const cs = ctx.clientsOf(target);
      await waitFor(async () => {
        const rooms = await ctx.rooms(cs.a);
        return rooms.includes(J1) && rooms.includes(J2);
      }, WAIT, `${cs.a.name} to join ${J1} and ${J2}`);
      await proof(target);
      for (const c of [cs.b, cs.c]) {
        const rooms = await ctx.rooms(c);
        assert.ok(!rooms.includes(J1) && !rooms.includes(J2), `${c.name} must not join: ${JSON.stringify(rooms)}`);
      }
    },
  },
  {
    name: "join except a room",
    async op(ctx) {
      const X = ctx.name("X");
      const J = ctx.name("J");
      await ctx.join(ctx.nodes.map((n) => [ctx.clientsOf(n).b, X]));
      await ctx.emit(["--except", X, "join", J]);
      return { J, proof: memberProof(ctx, J, ["a", "c"], () => waitRoomState(ctx, ["a", "c"], J, true)) };
    },
    async verify(ctx, { J, proof }, target) {
      await proof(target);
      const b = ctx.clientsOf(target).b;
      assert.ok(!(await ctx.rooms(b)).includes(J), `${b.name} must not join ${J}`);
    },
  },
  {
    name: "leave (then an emit to the room proves membership)",
    async op(ctx) {
      const L = ctx.name("L");
      const S = ctx.name("S");
      await ctx.join(ctx.nodes.flatMap((n) => [
        [ctx.clientsOf(n).a, [L]],
        [ctx.clientsOf(n).b, [L, S]],
        [ctx.clientsOf(n).c, [L]],
      ]));
      await ctx.emit(["--to", S, "leave", L]);
      return { L, proof: memberProof(ctx, L, ["a", "c"], () => waitRoomState(ctx, ["b"], L, false)) };
    },
    async verify(ctx, { L, proof }, target) {
      const b = ctx.clientsOf(target).b;
      await waitFor(async () => !(await ctx.rooms(b)).includes(L), WAIT, `${b.name} to leave ${L}`);
      await proof(target);
    },
  },
  {
    name: "server-side-emit (sseLog of every node)",
    async op(ctx) {
      const tag = ctx.name("sse");
      const args = [tag, { x: 1, s: "é", list: [true, null] }];
      await ctx.emit(["server-side-emit", "peer:sse", ...args.map((a) => JSON.stringify(a))]);
      return { tag, args };
    },
    async verify(ctx, { tag, args }, target) {
      await waitFor(async () => (await ctx.sseEntries(target, tag)).length > 0, WAIT,
        `${target.id}${ctx.nsp} to log ${tag}`);
      assert.deepStrictEqual(await ctx.sseEntries(target, tag), [{ nsp: ctx.nsp, args }]);
      assert.deepStrictEqual(await ctx.sseEntries(target, tag, ctx.other), [], "logged in the other namespace");
    },
  },
  {
    name: "server-side-emit in /ns2 (--nsp /ns2)",
    nsp: "/ns2",
    async op(ctx) {
      const tag = ctx.name("sse2");
      const args = [tag, 7, [1, "two"]];
      await ctx.emit(["--nsp", "/ns2", "server-side-emit", "peer:sse", ...args.map((a) => JSON.stringify(a))]);
      return { tag, args };
    },
    async verify(ctx, { tag, args }, target) {
      await waitFor(async () => (await ctx.sseEntries(target, tag)).length > 0, WAIT,
        `${target.id}/ns2 to log ${tag}`);
      assert.deepStrictEqual(await ctx.sseEntries(target, tag), [{ nsp: "/ns2", args }]);
      assert.deepStrictEqual(await ctx.sseEntries(target, tag, "/"), [], "logged in /");
    },
  },
  {
    name: "disconnect",
    async op(ctx) {
      const D = ctx.name("D");
      const extra = await extraClients(ctx, D);
      await ctx.emit(["--to", D, "disconnect"]);
      return { extra };
    },
    async verify(ctx, { extra }, target) {
      const { d, e, d2 } = extra[target.id];
      await waitFor(() => d.disconnects.length > 0, WAIT, `${d.name} to be disconnected`);
      assert.deepStrictEqual(d.disconnects, ["io server disconnect"]);
      // not targeted: still connected and answering
      assert.ok((await e.call("info")).sid === e.id && e.connected(), `${e.name} still connected`);
      // the same connection's other namespace stays (no --close)
      assert.ok((await d2.call("info")).sid === d2.id && d2.connected(), `${d2.name} still connected`);
      assert.equal(d.manager.engine.readyState, "open", `the connection of ${d.name} stays open`);
      for (const c of Object.values(ctx.clientsOf(target))) {
        assert.ok(c.connected(), `${c.name} (not in the room) still connected`);
      }
    },
  },
  {
    name: "disconnect --close",
    async op(ctx) {
      const D = ctx.name("D");
      const extra = await extraClients(ctx, D);
      await ctx.emit(["--to", D, "disconnect", "--close"]);
      return { extra };
    },
    async verify(ctx, { extra }, target) {
      await verifyDisconnectWithClose(extra[target.id], target, WAIT);
    },
  },
];

// ---------------------------------------------------------------------------------------
// readiness: both nodes subscribed to the request channel (classic), the main shard
// channel (sharded) or the public channel (streams) of each namespace; streams: and both
// nodes' readers blocked in XREAD (they start at "$")

async function waitSubscribed(cluster, suite) {
  const n = cluster.nodes.length;
  for (const nsp of NAMESPACES) {
    const cmd = suite.adapter === "sharded"
      ? ["PUBSUB", "SHARDNUMSUB", `${KEY}#${nsp}#`]
      : suite.adapter === "streams"
        ? ["PUBSUB", "NUMSUB", `${KEY}#${nsp}#`]
        : ["PUBSUB", "NUMSUB", `${KEY}-request#${nsp}#`];
    await waitFor(async () => Number((await cluster.command(cmd))[1]) === n,
      10000, `${n} subscribers (${cmd.join(" ")})`);
  }
  if (suite.adapter === "streams") {
    await waitFor(async () => {
      const clients = String(await cluster.command(["CLIENT", "LIST"]));
      return (clients.match(/cmd=xread/g) || []).length >= n;
    }, 10000, `${n} XREAD loops`);
  }
}

// ---------------------------------------------------------------------------------------
// the suite

for (const suite of SUITES) for (const parser of PARSERS) {
  const title = `sio-emit${suite.argv.length ? ` ${suite.argv.join(" ")}` : ""} → ` +
    `nodes=${RUNTIMES.join(",")} adapter=${suite.adapter} parser=${parser}`;
  describe(title, () => {
    const env = { cluster: null, clients: {}, failures: 0, suite };

    before(async () => {
      env.cluster = await startCluster(RUNTIMES.map((runtime) => ({ runtime })), {
        adapter: suite.adapter,
        parser,
        key: KEY,
        requestsTimeout: 3000,
        env: suite.env,
      });
      await waitSubscribed(env.cluster, suite);
      for (const nsp of NAMESPACES) {
        env.clients[nsp] = {};
        for (const node of env.cluster.nodes) {
          const cs = {};
          for (const n of ALL) cs[n] = await env.cluster.connect(node, nsp, `${node.id}${nsp}-${n}`);
          env.clients[nsp][node.id] = cs;
          const info = await cs.a.call("info");
          assert.equal(info.runtime, node.runtime);
          assert.equal(info.nsp, nsp);
        }
      }
    }, { timeout: 60000 });

    after(async () => {
      if (env.cluster) await env.cluster.stop();
    });

    for (const check of CHECKS) {
      if (ONLY && !check.name.includes(ONLY)) continue;
      test(check.name, async (t) => {
        const ctx = makeCtx(env, check.nsp || "/");
        const report = (err) => {
          if (env.failures++ === 0) {
            console.error(`first failure in "${title}": ${err.message}\n${env.cluster.tails()}`);
          }
          throw err;
        };
        try {
          const state = await check.op(ctx).catch(report);
          for (const target of ctx.nodes) {
            await t.test(`sio-emit → ${target.id} (${LABEL[target.runtime]} node)`, () =>
              check.verify(ctx, state, target).catch(report));
          }
        } finally {
          for (const c of ctx.cleanups) await c();
        }
      });
    }

    test("failures: one line on stderr, exit 1; usage errors exit 2; nothing sent", async () => {
      const redis = ["--redis", env.cluster.redis.url, ...suite.keyArgv, ...suite.argv];
      const ctx = makeCtx(env);

      const ok = await runEmit([...redis, "disconnect_me_not", "1"]);
      assert.equal(ok.code, 0, ok.stderr);
      const refused = await runEmit([...redis, "emit", "connect", "1"]);
      assert.equal(refused.code, 1);
      assert.equal(refused.stderr, 'sio-emit: "connect" is a reserved event name\n');

      const unreachable = await runEmit(["--redis", "redis://127.0.0.1:1", "--timeout-ms", "2000", "x"]);
      assert.equal(unreachable.code, 1);
      assert.match(unreachable.stderr, /^sio-emit: cannot connect to Redis at redis:\/\/127\.0\.0\.1:1: .+\n$/);

      const noFile = await runEmit([...redis, "--binary", `@${path.join(TMP, "missing")}`, "x"]);
      assert.equal(noFile.code, 1);
      assert.match(noFile.stderr, /^sio-emit: cannot read .*missing: .+\n$/);

      for (const argv of [
        ["x"], // no --redis
        [...redis], // no event
        [...redis, "x", "not-json"], // JSON_ARG is not JSON
        [...redis, "--binary", "file", "x"], // no @
        [...redis, "--to", "r", "server-side-emit", "peer:sse"], // rooms do not apply
        [...redis, "--volatile", "join", "r"], // flags do not apply
        [...redis, "join"], // no room
        ["--redis", env.cluster.redis.url, "--mode", "static", "x"], // --mode without --sharded
        ["--redis", env.cluster.redis.url, "--sharded", "--mode", "Dynamic", "x"], // not a mode
      ]) {
        const res = await runEmit(argv);
        assert.equal(res.code, 2, `sio-emit ${argv.join(" ")}: exit ${res.code} ${res.stderr}`);
      }

      // none of the refused operations reached a client
      for (const target of ctx.nodes) {
        for (const c of Object.values(ctx.clientsOf(target))) await ctx.expectNone(c, "x");
        for (const c of Object.values(ctx.clientsOf(target))) {
          await ctx.expectOnce(c, "disconnect_me_not", [1]);
        }
      }
    });

    test("every node exits with code 0 on SIGTERM", async () => {
      const statuses = await env.cluster.stop();
      env.cluster.nodes.forEach((node, i) => {
        assert.deepStrictEqual(statuses[i] && { code: statuses[i].code, signal: statuses[i].signal },
          { code: 0, signal: null }, `${node.id} exit status\n${node.tail()}`);
      });
    });
  });
}
