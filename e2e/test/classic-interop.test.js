// Interop matrix: a cluster of peer nodes of mixed runtimes (shared/PEER-NODE.md) on one
// private redis-server, real socket.io-client 4.8 clients on every node, and every
// cluster operation checked from every origin node towards every node.
//
// Run with (from e2e/):
//   npm test                                   # E2E_RUNTIMES=rust,rust,node
//   npm run test:node-only                     # E2E_RUNTIMES=node,node,node
//
// Environment:
//   E2E_RUNTIMES   comma-separated runtimes of the cluster's nodes      [rust,rust,node]
//   E2E_PARSERS    parsers to run: common,msgpack                       [common,msgpack]
//   E2E_SPECIFIC_RESPONSE_CHANNEL  off,on (classic adapter option)      [off,on]
//   E2E_ADAPTER    pubsub (classic), sharded or streams                 [pubsub]
//   SHARDED_MODE   static, dynamic or dynamic-private (sharded only)    [dynamic]
//   STREAM_COUNT   streamCount of the streams adapter                   [1]
//   E2E_ONLY       only run checks whose name contains this text
//   RUST_PEER_NODE command of the Rust peer node [../target/release/peer-node]
//   E2E_VERBOSE=1  peer nodes log every event, children's output is echoed
//
// One cluster is started per (parser, option) combination and reused by its checks.
// Each check runs once per (namespace, origin node); its per-node assertions are subtests
// named "<origin> → <target>  Rust→Node" so that the direction of a failure is visible.
"use strict";

const { describe, test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const { each, bytesFor, verifyDisconnectWithClose } = require("./lib/checks");
const { startCluster, startRedisCluster, waitFor } = require("./lib/cluster");

const list = (s) => s.split(",").map((x) => x.trim()).filter(Boolean);
const RUNTIMES = list(process.env.E2E_RUNTIMES || "rust,rust,node");
const PARSERS = list(process.env.E2E_PARSERS || "common,msgpack");
const ADAPTER = process.env.E2E_ADAPTER || "pubsub";
const SHARDED_MODE = process.env.SHARDED_MODE || "dynamic";
const STREAM_COUNT = process.env.STREAM_COUNT || "1";
const SPECIFIC = ADAPTER === "pubsub"
  ? list(process.env.E2E_SPECIFIC_RESPONSE_CHANNEL || "off,on")
  : ["off"];
const ONLY = process.env.E2E_ONLY || "";
const NAMESPACES = ["/", "/ns2"];
const KEY = "e2e";
const REQUESTS_TIMEOUT = 3000;
const WAIT = 5000; // deadline of every wait for a condition
const ACK_TIMEOUT = 4000; // broadcastWithAck timeout
const LABEL = { node: "Node", rust: "Rust" };
const NODE_IDS = RUNTIMES.map((r, i) => `${r}${i}`);
// E2E_REDIS_CLUSTER=1: the nodes share a 3-primary + 3-replica Redis Cluster (seeds in
// REDIS_URL, REDIS_CLUSTER=1; Node nodes on a node-redis cluster client).
const ON_CLUSTER = process.env.E2E_REDIS_CLUSTER === "1";

if (RUNTIMES.length < 2) throw new Error("E2E_RUNTIMES needs at least two nodes");

// ---------------------------------------------------------------------------------------
// helpers

/** A client's event arguments as compared: binaries as Buffer, no stream offset. */
function norm(args) {
  const out = args.map((a) =>
    a instanceof ArrayBuffer ? Buffer.from(a)
      : ArrayBuffer.isView(a) && !Buffer.isBuffer(a) ? Buffer.from(a.buffer, a.byteOffset, a.byteLength)
        : a);
  // the streams adapter with connection state recovery appends the stream offset
  if (ADAPTER === "streams" && typeof out[out.length - 1] === "string" &&
      /^\d+-\d+$/.test(out[out.length - 1])) {
    out.pop();
  }
  return out;
}

const payload = (tag) => [tag, {
  n: 42,
  f: 2.5,
  neg: -7,
  s: "héllo ✓ \"quoted\"",
  arr: [1, null, true, "x"],
  nested: { deep: { empty: [], obj: {} } },
}];

let seqCounter = 0;

/** Per-test context: the namespace, the origin node, clients and wait helpers. */
function makeCtx(env, nsp, origin) {
  const { cluster } = env;
  const nodes = cluster.nodes;
  const seq = ++seqCounter;
  const other = nsp === "/" ? "/ns2" : "/";
  const clientsOf = (node, n = nsp) => env.clients[n][node.id];
  const listOf = (node, n = nsp) => Object.values(clientsOf(node, n));
  const all = (n = nsp) => nodes.flatMap((node) => listOf(node, n));
  const sender = clientsOf(origin).a;
  let fencePromise = null;
  const ctx = {
    seq,
    nsp,
    other,
    origin,
    nodes,
    cluster,
    sender,
    clientsOf,
    listOf,
    all,
    name: (kind) => `${kind}-${seq}`,
    cleanups: [],

    /** Local joins: [[client, rooms], ...]; then waits until the adapters can route them. */
    async join(pairs) {
      const rooms = new Set();
      await Promise.all(pairs.map(async ([client, r]) => {
        const got = await client.call("join", r);
        for (const room of [].concat(r)) {
          rooms.add(room);
          assert.ok(got.includes(room), `join ack of ${client.name} lacks ${room}: ${JSON.stringify(got)}`);
        }
      }));
      await ctx.settle([...rooms]);
    },

    /**
     * The sharded adapter in dynamic mode subscribes to a room's channel when the room
     * is created on a node, asynchronously: wait until every node subscribed.
     */
    async settle(rooms) {
      if (ADAPTER !== "sharded" || SHARDED_MODE === "static") return;
      for (const room of rooms) {
        const ch = `${KEY}#${nsp}#${room}#`;
        await waitFor(async () => {
          const [, n] = await cluster.command(["PUBSUB", "SHARDNUMSUB", ch]);
          return Number(n) >= nodes.length;
        }, WAIT, `every node subscribed to ${ch}`);
      }
    },

    async broadcast(p) {
      const res = await sender.call("broadcast", p);
      assert.equal(res, true, `broadcast ack: ${JSON.stringify(res)}`);
    },

    /** Waits until `client` got `ev`; checks the arguments of the first one. */
    async expectEvent(client, ev, args) {
      await waitFor(() => client.got(ev).length > 0, WAIT, `${client.name} to receive ${ev}`);
      if (args !== undefined) {
        assert.deepStrictEqual(norm(client.got(ev)[0]), args, `arguments of ${ev} at ${client.name}`);
      }
    },

    /**
     * Everything the origin sent before the fence has reached every client of the
     * namespace once every client got the fence (same publisher, Redis keeps the order).
     */
    fence() {
      if (!fencePromise) {
        fencePromise = (async () => {
          const ev = `fence-${seq}`;
          await ctx.broadcast({ event: ev, args: [] });
          await Promise.all(all().map((c) =>
            waitFor(() => c.got(ev).length > 0, WAIT, `${c.name} to receive the fence ${ev}`)));
        })();
      }
      return fencePromise;
    },

    async expectOnce(client, ev, args) {
      await ctx.expectEvent(client, ev, args);
      await ctx.fence();
      assert.equal(client.got(ev).length, 1, `${client.name} got ${ev} ${client.got(ev).length} times`);
    },

    async expectNone(client, ev) {
      await ctx.fence();
      assert.equal(client.got(ev).length, 0, `${client.name} got ${ev} but should not have`);
    },

    async rooms(client) {
      const info = await client.call("info");
      return info.rooms;
    },

    async sseEntries(node, tag, n = nsp) {
      const log = await clientsOf(node, n).a.call("sseLog");
      assert.ok(Array.isArray(log), `sseLog of ${node.id}${n} is not an array: ${JSON.stringify(log)}`);
      return log.filter((e) => e && Array.isArray(e.args) && e.args[0] === tag);
    },
  };
  return ctx;
}

/** One room broadcast proving who is in `room`: expected members get it once, others never. */
function memberProof(ctx, room, members) {
  let p = null;
  return {
    run(waitMembers) {
      if (!p) {
        p = (async () => {
          await waitMembers();
          await ctx.settle([room]);
          const ev = `proof-${room}`;
          await ctx.broadcast({ event: ev, args: [room], rooms: [room] });
          return ev;
        })();
      }
      return p;
    },
    async verify(target, waitMembers) {
      const ev = await this.run(waitMembers);
      const cs = ctx.clientsOf(target);
      for (const [n, c] of Object.entries(cs)) {
        if (members.includes(n)) await ctx.expectOnce(c, ev, [room]);
        else await ctx.expectNone(c, ev);
      }
    },
  };
}

/** Waits until each listed client of every node is (or is not) in `room`. */
function waitRoomState(ctx, nodes, names, room, inside) {
  return Promise.all(nodes.flatMap((node) => names.map((n) => {
    const c = ctx.clientsOf(node)[n];
    return waitFor(async () => (await ctx.rooms(c)).includes(room) === inside, WAIT,
      `${c.name} ${inside ? "to be in" : "to have left"} room ${room}`);
  })));
}

function expectSocket(ctx, sockets, client, target, { inRooms = [], notInRooms = [] } = {}) {
  const found = sockets.filter((s) => s.id === client.id);
  assert.equal(found.length, 1,
    `fetchSockets lists ${client.name} (${client.id}) ${found.length} times`);
  const s = found[0];
  assert.deepStrictEqual(s.data, { node: target.id, name: client.name }, `data of ${client.name}`);
  assert.ok(Array.isArray(s.rooms), `rooms of ${client.name} is an array`);
  assert.ok(s.rooms.includes(client.id), `rooms of ${client.name} include its own id: ${JSON.stringify(s.rooms)}`);
  for (const r of inRooms) assert.ok(s.rooms.includes(r), `rooms of ${client.name} include ${r}`);
  for (const r of notInRooms) assert.ok(!s.rooms.includes(r), `rooms of ${client.name} exclude ${r}`);
}

function expectAbsent(sockets, client) {
  assert.ok(!sockets.some((s) => s.id === client.id),
    `fetchSockets must not list ${client.name} (${client.id})`);
}

/** Connects extra clients for the disconnect checks: per node d (room D), e, and d2 on d's connection in the other namespace. */
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
  await ctx.settle([room]);
  ctx.cleanups.push(async () => {
    for (const x of Object.values(extra)) for (const c of Object.values(x)) c.close();
    // wait until the nodes forgot them, so that later counts are exact
    for (const n of [ctx.nsp, ctx.other]) {
      await waitFor(async () => {
        const socks = await ctx.clientsOf(ctx.origin, n).a.call("fetchSockets", {});
        return socks.length === ctx.all(n).length;
      }, WAIT, `the extra clients of ${n} to be gone`);
    }
  });
  return extra;
}

// ---------------------------------------------------------------------------------------
// the checks: op(ctx) runs once at the origin; verify(ctx, state, target) per node

const ALL = ["a", "b", "c"];

const CHECKS = [
  {
    name: "broadcast to all",
    async op(ctx) {
      const ev = ctx.name("all");
      await ctx.broadcast({ event: ev, args: payload(ev) });
      return { ev };
    },
    async verify(ctx, { ev }, target) {
      await each(ctx, target, ALL, (c) => ctx.expectOnce(c, ev, payload(ev)));
      for (const c of ctx.listOf(target, ctx.other)) await ctx.expectNone(c, ev);
    },
  },
  {
    name: "broadcast to a room",
    async op(ctx) {
      const ev = ctx.name("room");
      const R = ctx.name("R");
      await ctx.join(ctx.nodes.map((n) => [ctx.clientsOf(n).a, R]));
      await ctx.broadcast({ event: ev, args: payload(ev), rooms: [R] });
      return { ev };
    },
    async verify(ctx, { ev }, target) {
      await each(ctx, target, ["a"], (c) => ctx.expectOnce(c, ev, payload(ev)));
      await each(ctx, target, ["b", "c"], (c) => ctx.expectNone(c, ev));
    },
  },
  {
    // io.to(<socket id>): a Node id has 20 characters, a socketioxide id 16, which the
    // sharded adapter's dynamic mode tells apart by length (room channel or main channel)
    name: "broadcast to one socket by its id",
    async op(ctx) {
      const ev = ctx.name("sid");
      for (const n of ctx.nodes) {
        await ctx.broadcast({ event: ev, args: payload(ev), rooms: [ctx.clientsOf(n).b.id] });
      }
      return { ev };
    },
    async verify(ctx, { ev }, target) {
      await each(ctx, target, ["b"], (c) => ctx.expectOnce(c, ev, payload(ev)));
      await each(ctx, target, ["a", "c"], (c) => ctx.expectNone(c, ev));
    },
  },
  {
    name: "broadcast to several rooms (once per socket)",
    async op(ctx) {
      const ev = ctx.name("rooms");
      const R1 = ctx.name("R1");
      const R2 = ctx.name("R2");
      await ctx.join(ctx.nodes.flatMap((n) => [
        [ctx.clientsOf(n).a, [R1]],
        [ctx.clientsOf(n).b, [R1, R2]],
      ]));
      await ctx.broadcast({ event: ev, args: payload(ev), rooms: [R1, R2] });
      return { ev };
    },
    async verify(ctx, { ev }, target) {
      await each(ctx, target, ["a", "b"], (c) => ctx.expectOnce(c, ev, payload(ev)));
      await each(ctx, target, ["c"], (c) => ctx.expectNone(c, ev));
    },
  },
  {
    name: "broadcast except a room",
    async op(ctx) {
      const ev = ctx.name("except");
      const X = ctx.name("X");
      await ctx.join(ctx.nodes.map((n) => [ctx.clientsOf(n).b, X]));
      await ctx.broadcast({ event: ev, args: payload(ev), except: [X] });
      return { ev };
    },
    async verify(ctx, { ev }, target) {
      await each(ctx, target, ["a", "c"], (c) => ctx.expectOnce(c, ev, payload(ev)));
      await each(ctx, target, ["b"], (c) => ctx.expectNone(c, ev));
    },
  },
  {
    name: "broadcast to a room except a room",
    async op(ctx) {
      const ev = ctx.name("roomexcept");
      const R = ctx.name("R");
      const X = ctx.name("X");
      await ctx.join(ctx.nodes.flatMap((n) => [
        [ctx.clientsOf(n).a, [R]],
        [ctx.clientsOf(n).b, [R, X]],
      ]));
      await ctx.broadcast({ event: ev, args: payload(ev), rooms: [R], except: [X] });
      return { ev };
    },
    async verify(ctx, { ev }, target) {
      await each(ctx, target, ["a"], (c) => ctx.expectOnce(c, ev, payload(ev)));
      await each(ctx, target, ["b", "c"], (c) => ctx.expectNone(c, ev));
    },
  },
  {
    name: "broadcast from a socket (sender excluded)",
    async op(ctx) {
      const ev = ctx.name("from");
      await ctx.broadcast({ event: ev, args: payload(ev), fromSocket: true });
      return { ev };
    },
    async verify(ctx, { ev }, target) {
      for (const c of ctx.listOf(target)) {
        if (c === ctx.sender) await ctx.expectNone(c, ev);
        else await ctx.expectOnce(c, ev, payload(ev));
      }
    },
  },
  {
    name: "broadcast from a socket to a room (sender excluded)",
    async op(ctx) {
      const ev = ctx.name("fromroom");
      const R = ctx.name("R");
      await ctx.join(ctx.nodes.flatMap((n) => [
        [ctx.clientsOf(n).a, R],
        [ctx.clientsOf(n).b, R],
      ]));
      await ctx.broadcast({ event: ev, args: payload(ev), fromSocket: true, rooms: [R] });
      return { ev };
    },
    async verify(ctx, { ev }, target) {
      const cs = ctx.clientsOf(target);
      for (const c of [cs.a, cs.b]) {
        if (c === ctx.sender) await ctx.expectNone(c, ev);
        else await ctx.expectOnce(c, ev, payload(ev));
      }
      await ctx.expectNone(cs.c, ev);
    },
  },
  {
    name: "volatile broadcast",
    async op(ctx) {
      const ev = ctx.name("volatile");
      await ctx.broadcast({ event: ev, args: payload(ev), volatile: true });
      return { ev };
    },
    async verify(ctx, { ev }, target) {
      // idle websocket connections: a volatile packet is not dropped
      await each(ctx, target, ALL, (c) => ctx.expectOnce(c, ev, payload(ev)));
    },
  },
  {
    name: "broadcast with a binary argument",
    async op(ctx) {
      const ev = ctx.name("binary");
      const bytes = bytesFor(ctx.seq);
      await ctx.broadcast({
        event: ev,
        args: [ev, { k: "v", n: 1 }],
        binary: bytes.toString("base64"),
      });
      return { ev, bytes };
    },
    async verify(ctx, { ev, bytes }, target) {
      await each(ctx, target, ALL, async (c) => {
        await ctx.expectOnce(c, ev);
        const args = c.got(ev)[0];
        const got = norm(args);
        assert.equal(got.length, 3, `argument count at ${c.name}: ${got.length}`);
        assert.deepStrictEqual(got.slice(0, 2), [ev, { k: "v", n: 1 }]);
        const bin = args[2];
        assert.ok(Buffer.isBuffer(bin) || bin instanceof ArrayBuffer || ArrayBuffer.isView(bin),
          `${c.name}: third argument is binary (got ${Object.prototype.toString.call(bin)} ${JSON.stringify(bin).slice(0, 80)})`);
        assert.ok(got[2].equals(bytes), `${c.name}: binary bytes are equal`);
      });
    },
  },
  {
    name: "broadcastWithAck to all",
    async op(ctx) {
      const tag = ctx.name("ack");
      const res = await ctx.sender.call("broadcastWithAck",
        { event: "ackme", args: [tag], timeout: ACK_TIMEOUT }, ACK_TIMEOUT + 4000);
      assert.equal(res.err, null, `broadcastWithAck err: ${JSON.stringify(res)}`);
      assert.ok(Array.isArray(res.responses), `responses is an array: ${JSON.stringify(res)}`);
      assert.equal(res.responses.length, ctx.all().length,
        `one response per client of ${ctx.nsp}: ${JSON.stringify(res.responses)}`);
      return { tag, responses: res.responses };
    },
    async verify(ctx, { tag, responses }, target) {
      await each(ctx, target, ALL, async (c) => {
        assert.deepStrictEqual(responses.filter((r) => r && r.sid === c.id), [{ name: c.name, sid: c.id }],
          `${c.name} answered once`);
        assert.deepStrictEqual(norm(c.got("ackme").find((a) => a[0] === tag) || []), [tag]);
      });
    },
  },
  {
    name: "broadcastWithAck to a room",
    async op(ctx) {
      const tag = ctx.name("ackroom");
      const R = ctx.name("R");
      await ctx.join(ctx.nodes.map((n) => [ctx.clientsOf(n).a, R]));
      const res = await ctx.sender.call("broadcastWithAck",
        { event: "ackme", args: [tag], rooms: [R], timeout: ACK_TIMEOUT }, ACK_TIMEOUT + 4000);
      assert.equal(res.err, null, `broadcastWithAck err: ${JSON.stringify(res)}`);
      assert.equal(res.responses.length, ctx.nodes.length, `one response per node: ${JSON.stringify(res.responses)}`);
      return { tag, responses: res.responses };
    },
    async verify(ctx, { tag, responses }, target) {
      const cs = ctx.clientsOf(target);
      assert.deepStrictEqual(responses.filter((r) => r && r.sid === cs.a.id), [{ name: cs.a.name, sid: cs.a.id }]);
      for (const c of [cs.b, cs.c]) {
        assert.ok(!responses.some((r) => r && r.sid === c.id), `${c.name} must not answer`);
        assert.ok(!c.got("ackme").some((a) => a[0] === tag), `${c.name} must not get ackme ${tag}`);
      }
    },
  },
  {
    name: "broadcastWithAck except a room",
    async op(ctx) {
      const tag = ctx.name("ackexcept");
      const X = ctx.name("X");
      await ctx.join(ctx.nodes.map((n) => [ctx.clientsOf(n).b, X]));
      const res = await ctx.sender.call("broadcastWithAck",
        { event: "ackme", args: [tag], except: [X], timeout: ACK_TIMEOUT }, ACK_TIMEOUT + 4000);
      assert.equal(res.err, null, `broadcastWithAck err: ${JSON.stringify(res)}`);
      assert.equal(res.responses.length, 2 * ctx.nodes.length, `two responses per node: ${JSON.stringify(res.responses)}`);
      return { tag, responses: res.responses };
    },
    async verify(ctx, { tag, responses }, target) {
      const cs = ctx.clientsOf(target);
      for (const c of [cs.a, cs.c]) {
        assert.deepStrictEqual(responses.filter((r) => r && r.sid === c.id), [{ name: c.name, sid: c.id }]);
      }
      assert.ok(!responses.some((r) => r && r.sid === cs.b.id), `${cs.b.name} must not answer`);
      assert.ok(!cs.b.got("ackme").some((a) => a[0] === tag), `${cs.b.name} must not get ackme ${tag}`);
    },
  },
  {
    name: "fetchSockets (all)",
    async op(ctx) {
      const F = ctx.name("F");
      await ctx.join(ctx.nodes.map((n) => [ctx.clientsOf(n).b, F]));
      const sockets = await ctx.sender.call("fetchSockets", {});
      assert.ok(Array.isArray(sockets), `fetchSockets answer: ${JSON.stringify(sockets)}`);
      assert.equal(sockets.length, ctx.all().length, `count: ${JSON.stringify(sockets.map((s) => s.data))}`);
      return { sockets, F };
    },
    async verify(ctx, { sockets, F }, target) {
      const cs = ctx.clientsOf(target);
      expectSocket(ctx, sockets, cs.a, target, { notInRooms: [F] });
      expectSocket(ctx, sockets, cs.b, target, { inRooms: [F] });
      expectSocket(ctx, sockets, cs.c, target, { notInRooms: [F] });
      for (const c of ctx.listOf(target, ctx.other)) expectAbsent(sockets, c);
    },
  },
  {
    name: "fetchSockets in a room",
    async op(ctx) {
      const F = ctx.name("F");
      await ctx.join(ctx.nodes.map((n) => [ctx.clientsOf(n).a, F]));
      const sockets = await ctx.sender.call("fetchSockets", { rooms: [F] });
      assert.equal(sockets.length, ctx.nodes.length, `count: ${JSON.stringify(sockets)}`);
      return { sockets, F };
    },
    async verify(ctx, { sockets, F }, target) {
      const cs = ctx.clientsOf(target);
      expectSocket(ctx, sockets, cs.a, target, { inRooms: [F] });
      expectAbsent(sockets, cs.b);
      expectAbsent(sockets, cs.c);
    },
  },
  {
    name: "fetchSockets except a room",
    async op(ctx) {
      const X = ctx.name("X");
      await ctx.join(ctx.nodes.map((n) => [ctx.clientsOf(n).b, X]));
      const sockets = await ctx.sender.call("fetchSockets", { except: [X] });
      assert.equal(sockets.length, 2 * ctx.nodes.length, `count: ${JSON.stringify(sockets)}`);
      return { sockets };
    },
    async verify(ctx, { sockets }, target) {
      const cs = ctx.clientsOf(target);
      expectSocket(ctx, sockets, cs.a, target);
      expectSocket(ctx, sockets, cs.c, target);
      expectAbsent(sockets, cs.b);
    },
  },
  {
    name: "fetchSockets in a room except a room",
    async op(ctx) {
      const R = ctx.name("R");
      const X = ctx.name("X");
      await ctx.join(ctx.nodes.flatMap((n) => [
        [ctx.clientsOf(n).a, [R]],
        [ctx.clientsOf(n).b, [R, X]],
      ]));
      const sockets = await ctx.sender.call("fetchSockets", { rooms: [R], except: [X] });
      assert.equal(sockets.length, ctx.nodes.length, `count: ${JSON.stringify(sockets)}`);
      return { sockets, R };
    },
    async verify(ctx, { sockets, R }, target) {
      const cs = ctx.clientsOf(target);
      expectSocket(ctx, sockets, cs.a, target, { inRooms: [R] });
      expectAbsent(sockets, cs.b);
      expectAbsent(sockets, cs.c);
    },
  },
  {
    name: "socketsJoin",
    async op(ctx) {
      const S = ctx.name("S");
      const J1 = ctx.name("J1");
      const J2 = ctx.name("J2");
      await ctx.join(ctx.nodes.map((n) => [ctx.clientsOf(n).a, S]));
      assert.equal(await ctx.sender.call("socketsJoin", { rooms: [S], join: [J1, J2] }), true);
      const proof = memberProof(ctx, J1, ["a"]);
      return { J1, J2, proof };
    },
    async verify(ctx, { J1, J2, proof }, target) {
      const a = ctx.clientsOf(target).a;
      await waitFor(async () => {
        const rooms = await ctx.rooms(a);
        return rooms.includes(J1) && rooms.includes(J2);
      }, WAIT, `${a.name} to join ${J1} and ${J2}`);
      await proof.verify(target, () => waitRoomState(ctx, ctx.nodes, ["a"], J2, true));
    },
  },
  {
    name: "socketsJoin except a room",
    async op(ctx) {
      const X = ctx.name("X");
      const J = ctx.name("J");
      await ctx.join(ctx.nodes.map((n) => [ctx.clientsOf(n).b, X]));
      assert.equal(await ctx.sender.call("socketsJoin", { except: [X], join: J }), true);
      return { J, proof: memberProof(ctx, J, ["a", "c"]) };
    },
    async verify(ctx, { J, proof }, target) {
      await waitRoomState(ctx, [target], ["a", "c"], J, true);
      await proof.verify(target, () => waitRoomState(ctx, ctx.nodes, ["a", "c"], J, true));
    },
  },
  {
    name: "socketsLeave",
    async op(ctx) {
      const L = ctx.name("L");
      const S = ctx.name("S");
      await ctx.join(ctx.nodes.flatMap((n) => [
        [ctx.clientsOf(n).a, [L]],
        [ctx.clientsOf(n).b, [L, S]],
        [ctx.clientsOf(n).c, [L]],
      ]));
      assert.equal(await ctx.sender.call("socketsLeave", { rooms: [S], leave: L }), true);
      return { L, proof: memberProof(ctx, L, ["a", "c"]) };
    },
    async verify(ctx, { L, proof }, target) {
      await waitRoomState(ctx, [target], ["b"], L, false);
      await proof.verify(target, () => waitRoomState(ctx, ctx.nodes, ["b"], L, false));
    },
  },
  {
    name: "disconnectSockets",
    async op(ctx) {
      const D = ctx.name("D");
      const extra = await extraClients(ctx, D);
      assert.equal(await ctx.sender.call("disconnectSockets", { rooms: [D], close: false }), true);
      return { extra };
    },
    async verify(ctx, { extra }, target) {
      const { d, e, d2 } = extra[target.id];
      await waitFor(() => d.disconnects.length > 0, WAIT, `${d.name} to be disconnected`);
      assert.deepStrictEqual(d.disconnects, ["io server disconnect"]);
      // not targeted: still connected and answering
      assert.ok((await e.call("info")).sid === e.id && e.connected(), `${e.name} still connected`);
      // the same connection's other namespace stays (close: false)
      assert.ok((await d2.call("info")).sid === d2.id && d2.connected(), `${d2.name} still connected`);
      assert.equal(d.manager.engine.readyState, "open", `the connection of ${d.name} stays open`);
    },
  },
  {
    name: "disconnectSockets with close",
    async op(ctx) {
      const D = ctx.name("D");
      const extra = await extraClients(ctx, D);
      assert.equal(await ctx.sender.call("disconnectSockets", { rooms: [D], close: true }), true);
      return { extra };
    },
    async verify(ctx, { extra }, target) {
      await verifyDisconnectWithClose(extra[target.id], target, WAIT);
    },
  },
  {
    name: "serverSideEmit",
    async op(ctx) {
      const tag = ctx.name("sse");
      const args = [tag, { x: 1, s: "é", list: [true, null] }];
      assert.equal(await ctx.sender.call("serverSideEmit", { args }), true);
      const others = ctx.nodes.filter((n) => n !== ctx.origin);
      let seen = null;
      const allSeen = () => seen || (seen = Promise.all(others.map((n) =>
        waitFor(async () => (await ctx.sseEntries(n, tag)).length > 0, WAIT, `${n.id}${ctx.nsp} to log ${tag}`))));
      return { tag, args, allSeen };
    },
    async verify(ctx, { tag, args, allSeen }, target) {
      if (target === ctx.origin) {
        // the origin does not get its own server-side emit
        await allSeen();
        assert.deepStrictEqual(await ctx.sseEntries(target, tag), [], "origin logged its own emit");
        return;
      }
      await waitFor(async () => (await ctx.sseEntries(target, tag)).length > 0, WAIT,
        `${target.id}${ctx.nsp} to log ${tag}`);
      assert.deepStrictEqual(await ctx.sseEntries(target, tag), [{ nsp: ctx.nsp, args }]);
      assert.deepStrictEqual(await ctx.sseEntries(target, tag, ctx.other), [], "logged in the other namespace");
    },
  },
  {
    name: "serverSideEmit with ack",
    async op(ctx) {
      const tag = ctx.name("sseack");
      const args = [tag, { y: [1, 2, 3] }];
      const res = await ctx.sender.call("serverSideEmit", { args, withAck: true }, REQUESTS_TIMEOUT + 4000);
      assert.equal(res.err, null, `serverSideEmit err: ${JSON.stringify(res)}`);
      assert.equal(res.responses.length, ctx.nodes.length - 1,
        `one response per other node: ${JSON.stringify(res.responses)}`);
      return { tag, args, responses: res.responses };
    },
    async verify(ctx, { tag, args, responses }, target) {
      const mine = responses.filter((r) => r && r.node === target.id);
      if (target === ctx.origin) {
        assert.deepStrictEqual(mine, [], "origin answered its own emit");
        assert.deepStrictEqual(await ctx.sseEntries(target, tag), []);
        return;
      }
      assert.deepStrictEqual(mine, [{ node: target.id, nsp: ctx.nsp, args }]);
      assert.deepStrictEqual(await ctx.sseEntries(target, tag), [{ nsp: ctx.nsp, args }]);
    },
  },
];

// ---------------------------------------------------------------------------------------
// readiness: every node subscribed (the Node adapters subscribe asynchronously)

async function waitSubscribed(cluster) {
  const n = cluster.nodes.length;
  for (const nsp of NAMESPACES) {
    let cmd;
    if (ADAPTER === "pubsub") cmd = ["PUBSUB", "NUMSUB", `${KEY}-request#${nsp}#`];
    else if (ADAPTER === "sharded") cmd = ["PUBSUB", "SHARDNUMSUB", `${KEY}#${nsp}#`];
    else if (ADAPTER === "streams") cmd = ["PUBSUB", "NUMSUB", `${KEY}#${nsp}#`];
    else return;
    await waitFor(async () => Number((await cluster.command(cmd))[1]) === n, 10000,
      `${n} subscribers (${cmd.join(" ")})`);
  }
  if (ADAPTER === "streams") {
    // the XREAD loops start at "$": wait until each node blocks in XREAD
    await waitFor(async () => {
      const clients = String(await cluster.command(["CLIENT", "LIST"]));
      return (clients.match(/cmd=xread/g) || []).length >= n;
    }, 10000, `${n} XREAD loops`);
  }
}

// ---------------------------------------------------------------------------------------
// the matrix

function direction(origin, target) {
  const o = LABEL[origin.runtime] || origin.runtime;
  const t = LABEL[target.runtime] || target.runtime;
  return `${o}→${t}${origin === target ? " (same node)" : ""}`;
}

for (const parser of PARSERS) {
  for (const specific of SPECIFIC) {
    const title = `${ADAPTER}${ON_CLUSTER ? " on a Redis Cluster" : ""} parser=${parser}` +
      (ADAPTER === "pubsub" ? ` specificResponseChannel=${specific}` : "") +
      (ADAPTER === "sharded" ? ` mode=${SHARDED_MODE}` : "") +
      (ADAPTER === "streams" ? ` streamCount=${STREAM_COUNT}` : "") +
      ` nodes=${NODE_IDS.join(",")}`;
    describe(title, () => {
      const env = { cluster: null, clients: {}, failures: 0 };

      before(async () => {
        if (ON_CLUSTER) env.redisCluster = await startRedisCluster();
        env.cluster = await startCluster(RUNTIMES.map((runtime) => ({ runtime })), {
          redisCluster: env.redisCluster,
          adapter: ADAPTER,
          parser,
          key: KEY,
          requestsTimeout: REQUESTS_TIMEOUT,
          specificResponseChannel: specific === "on",
          env: { SHARDED_MODE, STREAM_NAME: `${KEY}-stream`, STREAM_COUNT },
        });
        await waitSubscribed(env.cluster);
        for (const nsp of NAMESPACES) {
          env.clients[nsp] = {};
          for (const node of env.cluster.nodes) {
            const cs = {};
            for (const n of ALL) {
              cs[n] = await env.cluster.connect(node, nsp, `${node.id}${nsp}-${n}`);
            }
            env.clients[nsp][node.id] = cs;
            const info = await cs.a.call("info");
            assert.equal(info.node, node.id);
            assert.equal(info.runtime, node.runtime);
            assert.equal(info.nsp, nsp);
            assert.equal(info.sid, cs.a.id);
            assert.ok(info.rooms.includes(cs.a.id), `info.rooms has the own-id room: ${JSON.stringify(info)}`);
          }
        }
      }, { timeout: 60000 });

      after(async () => {
        if (env.cluster) await env.cluster.stop();
        if (env.redisCluster) await env.redisCluster.stop();
      });

      for (const check of CHECKS) {
        if (ONLY && !check.name.includes(ONLY)) continue;
        for (const nsp of NAMESPACES) {
          RUNTIMES.forEach((runtime, oi) => {
            const originId = NODE_IDS[oi];
            test(`${check.name} | ${nsp} | from ${originId} (${LABEL[runtime] || runtime})`, async (t) => {
              const origin = env.cluster.nodes[oi];
              const ctx = makeCtx(env, nsp, origin);
              // the children's output tails, printed once per cluster with the first failure
              const report = (err) => {
                if (env.failures++ === 0) {
                  console.error(`first failure in "${title}": ${err.message}\n${env.cluster.tails()}`);
                }
                throw err;
              };
              try {
                const state = await check.op(ctx).catch(report);
                for (const target of ctx.nodes) {
                  await t.test(`${origin.id} → ${target.id}  ${direction(origin, target)}`, () =>
                    check.verify(ctx, state, target).catch(report));
                }
              } finally {
                for (const c of ctx.cleanups) await c();
              }
            });
          });
        }
      }

      test("every node exits with code 0 on SIGTERM", async () => {
        const statuses = await env.cluster.stop();
        env.cluster.nodes.forEach((node, i) => {
          assert.deepStrictEqual(statuses[i] && { code: statuses[i].code, signal: statuses[i].signal },
            { code: 0, signal: null }, `${node.id} exit status\n${node.tail()}`);
        });
      });
    });
  }
}
