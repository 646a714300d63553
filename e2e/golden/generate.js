#!/usr/bin/env node
"use strict";

// Golden-vector generator: makes the REAL npm packages (@socket.io/redis-adapter,
// @socket.io/redis-streams-adapter, @socket.io/redis-emitter, on socket.io-adapter) encode
// every kind of message they put on Redis, and writes the exact bytes to
// crates/wire/tests/golden/vectors.json.
//
//   node golden/generate.js          write the file
//   node golden/generate.js --check  regenerate in memory, exit 1 if the file differs
//
// See README.md next to this file.

// 1. Determinism first: replace crypto.randomBytes BEFORE any package is loaded.
const seeded = require("./seeded-random");
seeded.install();

const fs = require("fs");
const path = require("path");

const { createAdapter, createShardedAdapter } = require("@socket.io/redis-adapter");
const { createAdapter: createStreamsAdapter } = require("@socket.io/redis-streams-adapter");
const { Emitter } = require("@socket.io/redis-emitter");

const { FakeRedis, toBuffer } = require("./fake-redis");
const { createGoldenServer } = require("./fake-sockets");
const { format, diffSummary } = require("./format");
const { jsArgs } = require("./js-literal");
const P = require("./payloads");

const E2E_DIR = path.resolve(__dirname, "..");
const OUT_FILE = path.resolve(E2E_DIR, "../crates/wire/tests/golden/vectors.json");
const GENERATOR = "e2e/golden/generate.js";

const PACKAGES = [
  "@socket.io/redis-adapter",
  "@socket.io/redis-emitter",
  "@socket.io/redis-streams-adapter",
  "socket.io-adapter",
  "socket.io",
  "socket.io-parser",
  "notepack.io",
  "@msgpack/msgpack",
  "uid2",
];

// ---------------------------------------------------------------------------------------
// Infrastructure
// ---------------------------------------------------------------------------------------

function packageVersion(name) {
  const file = path.join(E2E_DIR, "node_modules", name, "package.json");
  return JSON.parse(fs.readFileSync(file, "utf8")).version;
}

/** Fails if a package resolves its own nested copy of a shared dependency. */
function assertSingleCopies() {
  const top = (dep) => require.resolve(dep);
  const checks = [
    ["@socket.io/redis-adapter", "socket.io-adapter"],
    ["@socket.io/redis-streams-adapter", "socket.io-adapter"],
    ["socket.io", "socket.io-adapter"],
    ["@socket.io/redis-adapter", "notepack.io"],
    ["@socket.io/redis-emitter", "notepack.io"],
    ["@socket.io/redis-streams-adapter", "@msgpack/msgpack"],
  ];
  for (const [pkg, dep] of checks) {
    const from = path.dirname(require.resolve(pkg));
    const resolved = require.resolve(dep, { paths: [from] });
    if (resolved !== top(dep)) {
      throw new Error(`${pkg} resolves its own copy of ${dep}: ${resolved}`);
    }
  }
}

/** Waits until no fake-Redis delivery or fake client ack is pending any more. */
async function settle(redis) {
  let idle = 0;
  for (let turns = 0; idle < 5; turns++) {
    if (turns > 100000) throw new Error(`fake redis ${redis.name} never settled`);
    await new Promise((resolve) => setImmediate(resolve));
    idle = redis.inflight === 0 ? idle + 1 : 0;
  }
}

function hexOf(payload) {
  return toBuffer(payload).toString("hex");
}

/**
 * Runs one scenario: reseeds the id generator, runs `spec.run()`, waits until every
 * message and every reply has been delivered, and turns each recorded write command into a
 * case. `spec.labels` names the recorded messages in order (default: one message).
 */
async function runScenario(section, spec) {
  seeded.reseed(`scenario:${spec.name}`);
  for (const server of Object.values(section.servers || {})) {
    server.replies = Object.assign({}, section.defaultReplies(server), spec.replies || {});
  }
  const start = section.redis.log.length;
  let state = "pending";
  let error;
  Promise.resolve()
    .then(() => spec.run())
    .then(
      () => (state = "done"),
      (e) => {
        state = "failed";
        error = e;
      }
    );
  await settle(section.redis);
  if (state !== "done") {
    throw new Error(`scenario ${spec.name}: ${state}${error ? `: ${error.stack || error}` : ""}`);
  }
  const records = section.redis.log.slice(start);
  const labels = spec.labels || [null];
  if (records.length !== labels.length) {
    const seen = records.map((r) => `  ${r.client} ${r.command} ${r.target}`).join("\n");
    throw new Error(
      `scenario ${spec.name}: expected ${labels.length} message(s) [${labels}], got ${records.length}:\n${seen}`
    );
  }
  const acting = spec.by || "A";
  records.forEach((rec, i) => {
    const server = rec.client.split(".")[0];
    const name = labels[i] ? `${spec.name}/${labels[i]}` : spec.name;
    let note = spec.note;
    if (server !== acting) {
      note = `reply of server ${server} to: ${spec.note}`;
      if (spec.replyNote) note += ` (${spec.replyNote})`;
    }
    const c = {
      name,
      source: section.source,
      kind: section.kindOf(rec),
      command: rec.command,
      target: rec.target,
    };
    if (rec.command === "XADD") c.fields = rec.fields;
    else c.hex = hexOf(rec.payload);
    if (rec.args && rec.args.length) c.args = rec.args;
    c.note = note;
    section.cases.push(c);
  });
}

async function runSection(section, specs) {
  for (const spec of specs) await runScenario(section, spec);
  return section.cases;
}

/** `expr.method(...args)` on the object returned by `target()`, with a matching note. */
function call(name, expr, target, method, args, extra) {
  return Object.assign(
    {
      name,
      note: `${expr}.${method}(${jsArgs(args)})`,
      run: () => target()[method](...args),
    },
    extra
  );
}

/** Two socket.io servers A and B on one fake Redis, each with its own adapter instance. */
async function createPair(sectionId, redis, makeAdapter, serverOptions) {
  const servers = {};
  for (const name of ["A", "B"]) {
    seeded.reseed(`server:${sectionId}:${name}`);
    servers[name] = createGoldenServer({
      name,
      redis,
      adapter: makeAdapter(name),
      namespaces: ["/chat"],
      sockets: name === "A" ? P.socketsA() : P.socketsB(),
      serverOptions,
    });
  }
  await settle(redis); // let the (asynchronous) subscriptions happen
  return servers;
}

const defaultReplies = (server) => ({
  ack: (socket) => `client-ack:${socket.id}`,
  serverSideEmit: () => `pong-from-${server.name}`,
});

// Replies used by the broadcast-with-ack scenarios: B's first socket answers with a
// string, the second with a structured value (binary, date, undefined member).
const mixedAckReplies = {
  ack: (socket) =>
    socket.id === P.SID.B1
      ? "client-ack:x1"
      : { ok: true, n: 2, at: P.dates.wholeSeconds, raw: Buffer.from([4, 5, 6]), skipped: undefined },
};

// ---------------------------------------------------------------------------------------
// Payload sets shared by several sections (one event per set)
// ---------------------------------------------------------------------------------------

const PAYLOADS = {
  ints: ["ints", ...P.ints],
  floats: ["floats", ...P.floats],
  specialFloats: ["special", NaN, Infinity, -Infinity],
  bigNumbers: ["big", 2 ** 53, 2 ** 60],
  strings: ["strings", ...Object.values(P.strings)],
  structures: ["structures", P.nested, P.empties, P.withUndefined, true, false, null],
  buffers: ["buffers", P.buffers.empty, P.buffers.three, P.buffers.b300, P.buffers.u8],
  dates: ["dates", ...Object.values(P.dates)],
  big16: ["big16", P.array16, P.map16],
  binaryMix: [
    "mix",
    { file: P.buffers.three, at: P.dates.withMillis, meta: P.withUndefined, n: -(2 ** 40) },
    [P.strings.long, 1e-7, -129, 2 ** 32 + 1],
  ],
  jsonMix: [
    "mix",
    { at: P.dates.withMillis, meta: P.withUndefined, text: P.strings.long },
    [P.strings.accents, P.strings.cjk, P.strings.emoji, 1e21, -0.1, 1e-7, 2 ** 53 - 1, -(2 ** 31)],
  ],
};

// ---------------------------------------------------------------------------------------
// 1. Classic adapter (createAdapter): PUBLISH on <key>#<nsp>#[room#], requests/responses
// ---------------------------------------------------------------------------------------

function classicKind(rec) {
  if (rec.command !== "PUBLISH") throw new Error(`unexpected ${rec.command} in classic section`);
  if (rec.target.startsWith("socket.io-request#")) return "classic-request";
  if (rec.target.startsWith("socket.io-response#")) return "classic-response";
  return "classic-broadcast";
}

async function classicAdapterSection(source) {
  const redis = new FakeRedis("classic");
  const servers = await createPair("classic", redis, (name) =>
    createAdapter(redis.client(`${name}.pub`), redis.client(`${name}.sub`))
  );
  const section = { source, redis, servers, cases: [], kindOf: classicKind, defaultReplies };
  const io = servers.A.io;
  const ioExpr = "io";
  const c = (name, expr, target, method, args, extra) =>
    call(`classic/${name}`, expr, target, method, args, extra);

  return runSection(section, [
    // --- broadcasts (msgpack, never JSON) ---
    c("broadcast/all-basic", ioExpr, () => io, "emit", ["greet", "hello", 1, 2.5, true, null]),
    c("broadcast/one-room-except", 'io.to("room1").except("nobody")',
      () => io.to("room1").except("nobody"), "emit", ["greet", { a: 1 }]),
    c("broadcast/one-room-binary", 'io.to("room1")', () => io.to("room1"), "emit",
      ["greet", P.buffers.three]),
    c("broadcast/several-rooms", 'io.to(["room1", "room2"])', () => io.to(["room1", "room2"]),
      "emit", ["news", P.strings.accents, P.strings.cjk, P.strings.emoji]),
    c("broadcast/except-rooms", `io.except(["room3", "${P.SID.A}"])`,
      () => io.except(["room3", P.SID.A]), "emit", ["update", { version: 3 }]),
    c("broadcast/volatile", "io.volatile", () => io.volatile, "emit", ["tick", 42]),
    c("broadcast/compress-false", "io.compress(false)", () => io.compress(false), "emit",
      ["bulk", "x"]),
    c("broadcast/room-volatile-compress", 'io.to("room2").volatile.compress(true)',
      () => io.to("room2").volatile.compress(true), "emit", ["pos", 1.5, -2.25]),
    c("broadcast/numeric-room", "io.to(42)", () => io.to(42), "emit", ["n", 42]),
    c("broadcast/room-unicode-name", 'io.to("salle-été")', () => io.to("salle-été"),
      "emit", ["bonjour", P.strings.long]),
    c("broadcast/ints", ioExpr, () => io, "emit", PAYLOADS.ints),
    c("broadcast/floats", ioExpr, () => io, "emit", PAYLOADS.floats),
    c("broadcast/special-floats", ioExpr, () => io, "emit", PAYLOADS.specialFloats),
    c("broadcast/big-numbers", ioExpr, () => io, "emit", PAYLOADS.bigNumbers),
    Object.assign(c("broadcast/integer-1e21", ioExpr, () => io, "emit", ["overflow", 1e21]), {
      note:
        'io.emit("overflow", 1e21) -- notepack.io 3.0.1 treats 1e21 as an integer and writes it as ' +
        "uint64 with the high word truncated to 32 bits (ToInt32), so the bytes decode to " +
        "902409669 * 2^32 + (1e21 mod 2^32) = 3875820019684212736, not 1e21",
    }),
    c("broadcast/strings", ioExpr, () => io, "emit", PAYLOADS.strings),
    c("broadcast/structures", ioExpr, () => io, "emit", PAYLOADS.structures),
    c("broadcast/buffers", ioExpr, () => io, "emit", PAYLOADS.buffers),
    c("broadcast/buffer-70000", ioExpr, () => io, "emit", ["big-file", P.buffers.b70000]),
    c("broadcast/dates", ioExpr, () => io, "emit", PAYLOADS.dates),
    c("broadcast/array16-map16", ioExpr, () => io, "emit", PAYLOADS.big16),
    c("broadcast/binary-mix", ioExpr, () => io, "emit", PAYLOADS.binaryMix),
    c("broadcast/namespace-chat", 'io.of("/chat").to("lobby")', () => io.of("/chat").to("lobby"),
      "emit", ["msg", { from: "alice", text: "hi" }]),

    // --- broadcast with ack: request 7 (msgpack), responses 8 (JSON) and 9 (msgpack) ---
    c("broadcast-ack/all", "io.timeout(2000)", () => io.timeout(2000), "emitWithAck",
      ["ackme", "x1"], {
        labels: ["request", "client-count", "ack-1", "ack-2"],
        replies: mixedAckReplies,
        replyNote: `${P.SID.B1} acks "client-ack:x1", ${P.SID.B2} acks an object`,
      }),
    c("broadcast-ack/room-binary", 'io.to("room1").timeout(1500)', () => io.to("room1").timeout(1500),
      "emitWithAck", ["ackme", Buffer.from([9, 8, 7])], {
        labels: ["request", "client-count", "ack"],
        replies: { ack: () => Buffer.from([4, 5, 6]) },
        replyNote: "the client acks with Buffer.from([4, 5, 6])",
      }),
    c("broadcast-ack/no-clients", 'io.to("empty-room").timeout(1000)',
      () => io.to("empty-room").timeout(1000), "emitWithAck", ["ackme"], {
        labels: ["request", "client-count"],
        replyNote: "no socket matched: clientCount 0",
      }),

    // --- requests (JSON) and their responses ---
    { name: "classic/all-rooms", note: 'await io.of("/").adapter.allRooms()',
      run: () => io.of("/").adapter.allRooms(), labels: ["request", "response"] },
    c("fetch-sockets/all", ioExpr, () => io, "fetchSockets", [], { labels: ["request", "response"] }),
    c("fetch-sockets/one-room", 'io.in("room1")', () => io.in("room1"), "fetchSockets", [],
      { labels: ["request", "response"] }),
    c("fetch-sockets/no-match", 'io.in("room1").except("room2")', () => io.in("room1").except("room2"),
      "fetchSockets", [], { labels: ["request", "response"] }),
    c("sockets-join/from-room", 'io.in("room1")', () => io.in("room1"), "socketsJoin",
      [["room2", "room3"]]),
    c("sockets-join/all", ioExpr, () => io, "socketsJoin", ["room9"]),
    c("sockets-leave", 'io.in("room1").except("room3")', () => io.in("room1").except("room3"),
      "socketsLeave", ["room2"]),
    c("disconnect-sockets/close-true", 'io.in("room2")', () => io.in("room2"), "disconnectSockets",
      [true]),
    c("disconnect-sockets/close-false", ioExpr, () => io, "disconnectSockets", []),
    c("server-side-emit/no-ack", ioExpr, () => io, "serverSideEmit", ["hello", "world", { n: 1 }]),
    c("server-side-emit/with-ack", ioExpr, () => io, "serverSideEmitWithAck", ["ping-servers", 42],
      { labels: ["request", "response"], replyNote: 'its handler calls cb("pong-from-B")' }),
    c("server-side-emit/with-ack-object", ioExpr, () => io, "serverSideEmitWithAck",
      ["ping-servers", P.strings.cjk], {
        labels: ["request", "response"],
        replies: { serverSideEmit: () => ({ load: 0.75, uptime: 2 ** 32 + 1, at: P.dates.withMillis }) },
        replyNote: "its handler calls cb({ load: 0.75, uptime: 4294967297, at: <Date> })",
      }),
    c("server-side-emit/namespace-chat", 'io.of("/chat")', () => io.of("/chat"), "serverSideEmit",
      ["sync", [1, 2, 3]]),

    // --- responses to legacy requests (8.3.0 no longer sends them but still answers them).
    //     The request is injected into Redis directly (not recorded); both servers answer.
    legacyRequest("classic/legacy/sockets", redis, ["from-A", "from-B"],
      { uid: "legacy", requestId: "LEGS01", type: 0, rooms: ["room1"] }),
    legacyRequest("classic/legacy/remote-join", redis, ["from-B"],
      { uid: "legacy", requestId: "LEGJ01", type: 2, sid: P.SID.B1, room: "room7" }),
  ]);
}

/** A hand-written (legacy) JSON request published straight into the fake Redis. */
function legacyRequest(name, redis, labels, request) {
  const json = JSON.stringify(request);
  return {
    name,
    by: "legacy",
    labels,
    note: `PUBLISH socket.io-request#/# ${json} (hand-written legacy request)`,
    run: () => {
      redis.publish("socket.io-request#/#", json);
    },
  };
}

// The same requests with publishOnSpecificResponseChannel: true (responses go to
// <key>-response#<nsp>#<requesterUid># except the SERVER_SIDE_EMIT one).
async function classicSpecificChannelSection(source) {
  const redis = new FakeRedis("classic-specific");
  const opts = { publishOnSpecificResponseChannel: true };
  const servers = await createPair("classic-specific", redis, (name) =>
    createAdapter(redis.client(`${name}.pub`), redis.client(`${name}.sub`), opts)
  );
  const section = { source, redis, servers, cases: [], kindOf: classicKind, defaultReplies };
  const io = servers.A.io;
  const prefix = "classic/specific-response-channel";
  const note = (s) => `${s} // createAdapter(pub, sub, { publishOnSpecificResponseChannel: true })`;
  return runSection(section, [
    { name: `${prefix}/all-rooms`, note: note('await io.of("/").adapter.allRooms()'),
      run: () => io.of("/").adapter.allRooms(), labels: ["request", "response"] },
    { name: `${prefix}/fetch-sockets`, note: note('await io.in("room3").fetchSockets()'),
      run: () => io.in("room3").fetchSockets(), labels: ["request", "response"] },
    { name: `${prefix}/broadcast-ack`, note: note('await io.timeout(2000).emitWithAck("ackme", "x2")'),
      run: () => io.timeout(2000).emitWithAck("ackme", "x2"),
      labels: ["request", "client-count", "ack-1", "ack-2"], replies: mixedAckReplies },
    { name: `${prefix}/server-side-emit-ack`,
      note: note('await io.serverSideEmitWithAck("ping-servers", true)'),
      run: () => io.serverSideEmitWithAck("ping-servers", true), labels: ["request", "response"],
      replyNote: "SERVER_SIDE_EMIT responses always use the shared response channel" },
  ]);
}

// ---------------------------------------------------------------------------------------
// 2. Sharded adapter (createShardedAdapter, subscriptionMode "dynamic"): SPUBLISH of
//    ClusterAdapter messages, JSON or notepack
// ---------------------------------------------------------------------------------------

async function shardedAdapterSection(source) {
  const redis = new FakeRedis("sharded");
  const servers = await createPair("sharded", redis, (name) =>
    createShardedAdapter(redis.client(`${name}.pub`), redis.client(`${name}.sub`), {
      subscriptionMode: "dynamic",
    })
  );
  const kindOf = (rec) => {
    if (rec.command !== "SPUBLISH") throw new Error(`unexpected ${rec.command} in sharded section`);
    return "cluster-message";
  };
  const section = { source, redis, servers, cases: [], kindOf, defaultReplies };
  const io = servers.A.io;
  const c = (name, expr, target, method, args, extra) =>
    call(`sharded/${name}`, expr, target, method, args, extra);

  return runSection(section, [
    // BROADCAST (3)
    c("broadcast/all-basic", "io", () => io, "emit", ["greet", "hello", 1, 2.5, true, null]),
    c("broadcast/one-room", 'io.to("room1")', () => io.to("room1"), "emit", ["greet", { a: 1 }]),
    c("broadcast/socket-id-room", `io.to("${P.SID.B1}")`, () => io.to(P.SID.B1), "emit",
      ["private", "psst"]),
    c("broadcast/several-rooms-except", 'io.to(["room1", "room3"]).except("room2")',
      () => io.to(["room1", "room3"]).except("room2"), "emit", ["news", P.strings.accents]),
    c("broadcast/volatile-compress", "io.volatile.compress(false)", () => io.volatile.compress(false),
      "emit", ["tick", 1]),
    c("broadcast/one-room-binary", 'io.to("room1")', () => io.to("room1"), "emit",
      ["greet", P.buffers.three]),
    c("broadcast/json-mix", "io", () => io, "emit", PAYLOADS.jsonMix),
    c("broadcast/json-numbers", "io", () => io, "emit",
      ["numbers", ...P.ints, ...P.floats, NaN, Infinity, 2 ** 53, 2 ** 60]),
    c("broadcast/json-structures", "io", () => io, "emit", [...PAYLOADS.structures, P.array16, P.map16]),
    c("broadcast/binary-mix", "io", () => io, "emit", PAYLOADS.binaryMix),
    c("broadcast/binary-buffers-dates", "io", () => io, "emit",
      ["bd", ...PAYLOADS.buffers.slice(1), ...PAYLOADS.dates.slice(1)]),
    c("broadcast/binary-numbers", "io", () => io, "emit",
      ["nb", P.buffers.empty, ...P.ints, ...P.floats, 2 ** 53, 2 ** 60]),
    c("broadcast/buffer-70000", "io", () => io, "emit", ["big-file", P.buffers.b70000]),
    c("broadcast/namespace-chat", 'io.of("/chat").to("lobby")', () => io.of("/chat").to("lobby"),
      "emit", ["msg", { from: "alice", text: "hi" }]),

    // BROADCAST with requestId (3) + BROADCAST_CLIENT_COUNT (11) + BROADCAST_ACK (12)
    c("broadcast-ack/all", "io.timeout(2000)", () => io.timeout(2000), "emitWithAck", ["ackme", "x1"], {
      labels: ["request", "client-count", "ack-1", "ack-2-binary"],
      replies: mixedAckReplies,
      replyNote: `${P.SID.B1} acks "client-ack:x1" (JSON), ${P.SID.B2} acks an object with a Buffer (notepack)`,
    }),
    c("broadcast-ack/room-binary", 'io.to("room3").timeout(1500)', () => io.to("room3").timeout(1500),
      "emitWithAck", ["ackme", P.buffers.u8], {
        labels: ["request", "client-count", "ack"],
        replies: { ack: () => ["done", 7] },
        replyNote: 'the client acks with ["done", 7]',
      }),
    c("broadcast-ack/no-clients", 'io.to("empty-room").timeout(1000)',
      () => io.to("empty-room").timeout(1000), "emitWithAck", ["ackme"], {
        labels: ["request", "client-count"],
        replyNote: "no socket matched: clientCount 0",
      }),

    // SOCKETS_JOIN (4), SOCKETS_LEAVE (5), DISCONNECT_SOCKETS (6)
    c("sockets-join", 'io.in("room1")', () => io.in("room1"), "socketsJoin", [["room2", "room3"]]),
    c("sockets-leave", 'io.except("room3")', () => io.except("room3"), "socketsLeave", ["room1"]),
    c("disconnect-sockets/close-true", 'io.in("room2")', () => io.in("room2"), "disconnectSockets", [true]),
    c("disconnect-sockets/close-false", "io", () => io, "disconnectSockets", []),

    // FETCH_SOCKETS (7) + FETCH_SOCKETS_RESPONSE (8)
    c("fetch-sockets/one-room", 'io.in("room1")', () => io.in("room1"), "fetchSockets", [],
      { labels: ["request", "response"] }),
    c("fetch-sockets/all-binary", "io", () => io, "fetchSockets", [],
      { labels: ["request", "response"], replyNote: "one socket has a Buffer in socket.data: notepack" }),
    c("fetch-sockets/timeout-flag", 'io.in("room3").timeout(3000)', () => io.in("room3").timeout(3000),
      "fetchSockets", [], { labels: ["request", "response"] }),

    // SERVER_SIDE_EMIT (9) + SERVER_SIDE_EMIT_RESPONSE (10)
    c("server-side-emit/no-ack", "io", () => io, "serverSideEmit", ["hello", "world", { n: 1 }]),
    c("server-side-emit/no-ack-binary", "io", () => io, "serverSideEmit", ["blob", P.buffers.three]),
    c("server-side-emit/with-ack", "io", () => io, "serverSideEmitWithAck", ["ping-servers", 42],
      { labels: ["request", "response"], replyNote: 'its handler calls cb("pong-from-B")' }),
    c("server-side-emit/with-ack-binary-reply", "io", () => io, "serverSideEmitWithAck",
      ["ping-servers", P.strings.emoji], {
        labels: ["request", "response"],
        replies: { serverSideEmit: () => ({ blob: Buffer.from([0xca, 0xfe]), at: P.dates.wholeSeconds }) },
        replyNote: "its handler calls cb({ blob: Buffer.from([202, 254]), at: <Date> })",
      }),
  ]);
}

// ---------------------------------------------------------------------------------------
// 3. Streams adapter 0.3.1: XADD entries, PUBLISH of msgpack envelopes, session SET
// ---------------------------------------------------------------------------------------

async function streamsAdapterSection(source) {
  const redis = new FakeRedis("streams");
  const servers = await createPair(
    "streams",
    redis,
    (name) => createStreamsAdapter(redis.client(`${name}.main`)),
    { connectionStateRecovery: { maxDisconnectionDuration: 120000 } }
  );
  const kindOf = (rec) => {
    switch (rec.command) {
      case "XADD":
        return "stream-entry";
      case "PUBLISH":
        return "streams-pubsub";
      case "SET":
        return "session";
      default:
        throw new Error(`unexpected ${rec.command} in streams section`);
    }
  };
  const section = { source, redis, servers, cases: [], kindOf, defaultReplies };
  const io = servers.A.io;
  const adapter = io.of("/").adapter;
  const c = (name, expr, target, method, args, extra) =>
    call(`streams/${name}`, expr, target, method, args, extra);
  const session = (name, value) => ({
    name: `streams/session/${name}`,
    note: `adapter.persistSession(${jsArgs([value])}) // what socket.io calls on a recoverable disconnect; connectionStateRecovery.maxDisconnectionDuration = 120000`,
    run: () => adapter.persistSession(value),
  });

  return runSection(section, [
    // stream entries: BROADCAST without ack, SOCKETS_JOIN/LEAVE, DISCONNECT_SOCKETS
    c("broadcast/all-basic", "io", () => io, "emit", ["greet", "hello", 1, 2.5, true, null]),
    c("broadcast/one-room-binary", 'io.to("room1")', () => io.to("room1"), "emit",
      ["greet", P.buffers.three]),
    c("broadcast/rooms-except-volatile", 'io.to(["room1", "room2"]).except("room3").volatile',
      () => io.to(["room1", "room2"]).except("room3").volatile, "emit", ["tick", { n: 1 }]),
    c("broadcast/compress", 'io.to("salle-été").compress(true)', () => io.to("salle-été").compress(true),
      "emit", ["bonjour", P.strings.long]),
    c("broadcast/json-mix", "io", () => io, "emit", PAYLOADS.jsonMix),
    c("broadcast/binary-mix", "io", () => io, "emit", PAYLOADS.binaryMix),
    c("broadcast/binary-numbers", "io", () => io, "emit",
      ["nb", P.buffers.empty, ...P.ints, ...P.floats, 1e21, NaN, Infinity, 2 ** 53, 2 ** 60]),
    c("broadcast/binary-structures", "io", () => io, "emit",
      [...PAYLOADS.structures, P.buffers.u8, P.array16, P.map16]),
    c("broadcast/binary-buffers-dates", "io", () => io, "emit",
      ["bd", ...PAYLOADS.buffers.slice(1), ...PAYLOADS.dates.slice(1)]),
    c("broadcast/buffer-70000", "io", () => io, "emit", ["big-file", P.buffers.b70000]),
    c("broadcast/namespace-chat", 'io.of("/chat").to("lobby")', () => io.of("/chat").to("lobby"),
      "emit", ["msg", { from: "alice", text: "hi" }]),
    c("sockets-join", 'io.in("room1")', () => io.in("room1"), "socketsJoin", [["room2", "room3"]]),
    c("sockets-leave", 'io.in("room1").except("room2")', () => io.in("room1").except("room2"),
      "socketsLeave", ["room3"]),
    c("disconnect-sockets/close-true", 'io.in("room2")', () => io.in("room2"), "disconnectSockets", [true]),
    c("disconnect-sockets/close-false", "io", () => io, "disconnectSockets", []),

    // pub/sub: BROADCAST with ack, FETCH_SOCKETS, SERVER_SIDE_EMIT, and responses
    c("broadcast-ack/all", "io.timeout(2000)", () => io.timeout(2000), "emitWithAck", ["ackme", "x1"], {
      labels: ["request", "client-count", "ack-1", "ack-2"],
      replies: mixedAckReplies,
      replyNote: `${P.SID.B1} acks "client-ack:x1", ${P.SID.B2} acks an object with an undefined member`,
    }),
    c("broadcast-ack/no-clients", 'io.to("empty-room").timeout(1000)',
      () => io.to("empty-room").timeout(1000), "emitWithAck", ["ackme", P.buffers.three], {
        labels: ["request", "client-count"],
        replyNote: "no socket matched: clientCount 0",
      }),
    c("fetch-sockets/all", "io", () => io, "fetchSockets", [], { labels: ["request", "response"] }),
    c("fetch-sockets/one-room", 'io.in("room1").except("room3")', () => io.in("room1").except("room3"),
      "fetchSockets", [], { labels: ["request", "response"] }),
    c("server-side-emit/no-ack", "io", () => io, "serverSideEmit", ["hello", "world", { n: 1, u: undefined }]),
    c("server-side-emit/with-ack", "io", () => io, "serverSideEmitWithAck", ["ping-servers", 42],
      { labels: ["request", "response"], replyNote: 'its handler calls cb("pong-from-B")' }),
    c("server-side-emit/with-ack-binary-reply", "io", () => io, "serverSideEmitWithAck",
      ["ping-servers", P.buffers.u8], {
        labels: ["request", "response"],
        replies: { serverSideEmit: () => ({ blob: Buffer.from([0xca, 0xfe]), at: P.dates.before1970 }) },
        replyNote: "its handler calls cb({ blob: Buffer.from([202, 254]), at: <Date> })",
      }),

    // sessions (connection state recovery)
    session("basic", {
      sid: "LYZxvSkOjhPsDzpNAAAA",
      pid: "7YegtP8m4_FK1Ae2AAAB",
      rooms: ["LYZxvSkOjhPsDzpNAAAA", "room1", "room2"],
      data: { user: "bob" },
    }),
    session("rich-data", {
      sid: P.SID.B2,
      pid: "PPPPPPPPPPPPPPPPPPPP",
      rooms: [P.SID.B2, "room3", "salle-été"],
      data: {
        user: "carol",
        avatar: Buffer.from([0xde, 0xad, 0xbe, 0xef]),
        since: P.dates.withMillis,
        nickname: undefined,
        counters: [0, -1, 2 ** 32 + 1, 2.5],
        prefs: {},
      },
    }),
    session("empty-data", {
      sid: "QQQQQQQQQQQQQQQQQQQQ",
      pid: "RRRRRRRRRRRRRRRRRRRR",
      rooms: ["QQQQQQQQQQQQQQQQQQQQ"],
      data: {},
    }),
  ]);
}

// ---------------------------------------------------------------------------------------
// 4. Emitter 5.1.0 (classic formats, uid "emitter")
// ---------------------------------------------------------------------------------------

async function emitterSection(source) {
  const redis = new FakeRedis("emitter");
  const emitter = new Emitter(redis.client("E.pub"));
  const section = {
    source,
    redis,
    servers: {},
    cases: [],
    kindOf: classicKind,
    defaultReplies,
  };
  const c = (name, expr, target, method, args, extra) =>
    call(`emitter/${name}`, expr, target, method, args, Object.assign({ by: "E" }, extra));

  return runSection(section, [
    c("emit/all-basic", "emitter", () => emitter, "emit", ["greet", "hello", 1, 2.5, true, null]),
    c("emit/one-room-volatile", 'emitter.to("room1").volatile', () => emitter.to("room1").volatile,
      "emit", ["greet", "from-emitter"]),
    c("emit/rooms-except", 'emitter.to(["room1", "room2"]).except("room3")',
      () => emitter.to(["room1", "room2"]).except("room3"), "emit", ["news", P.strings.cjk]),
    c("emit/compress", "emitter.compress(false)", () => emitter.compress(false), "emit",
      ["bulk", P.array16]),
    c("emit/volatile-compress-except", 'emitter.except("room2").volatile.compress(true)',
      () => emitter.except("room2").volatile.compress(true), "emit", ["tick", -1.5]),
    c("emit/of-chat", 'emitter.of("/chat")', () => emitter.of("/chat"), "emit", ["x"]),
    c("emit/of-chat-without-slash", 'emitter.of("chat").to("lobby")',
      () => emitter.of("chat").to("lobby"), "emit", ["msg", { from: "emitter", text: P.strings.long }]),
    c("emit/binary-mix", "emitter", () => emitter, "emit", PAYLOADS.binaryMix),
    c("emit/dates", "emitter", () => emitter, "emit", PAYLOADS.dates),
    c("emit/ints-floats", "emitter", () => emitter, "emit", ["numbers", ...P.ints, ...P.floats]),
    c("emit/structures", "emitter", () => emitter, "emit", [...PAYLOADS.structures, P.map16]),
    c("sockets-join/from-room", 'emitter.in("room1")', () => emitter.in("room1"), "socketsJoin",
      [["room2", "room3"]]),
    c("sockets-join/all", "emitter", () => emitter, "socketsJoin", ["room9"]),
    c("sockets-leave", 'emitter.in("room2")', () => emitter.in("room2"), "socketsLeave", ["room3"]),
    c("disconnect-sockets/close-true", 'emitter.in("room1").except("room2")',
      () => emitter.in("room1").except("room2"), "disconnectSockets", [true]),
    c("disconnect-sockets/default", "emitter", () => emitter, "disconnectSockets", []),
    c("server-side-emit", "emitter", () => emitter, "serverSideEmit", ["ping-servers", 7]),
    c("server-side-emit/of-chat", 'emitter.of("/chat")', () => emitter.of("/chat"), "serverSideEmit",
      ["sync", { at: P.dates.withMillis, list: [] }]),
  ]);
}

// ---------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------

function selfCheckDeterminism(cases) {
  // The patch must have been used (ids come from it) and ids must look like real ones.
  if (seeded.drawCount() === 0) throw new Error("seeded randomBytes was never called: patch ineffective");
  const sample = cases.find((c) => c.name === "classic/broadcast/all-basic");
  const uid = Buffer.from(sample.hex, "hex").subarray(2, 8).toString();
  if (!/^[A-Za-z0-9_-]{6}$/.test(uid)) throw new Error(`unexpected classic uid ${uid}`);
}

async function generate() {
  assertSingleCopies();
  const versions = Object.fromEntries(PACKAGES.map((p) => [p, packageVersion(p)]));
  const src = (p) => `${p}@${versions[p]}`;
  const cases = [
    ...(await classicAdapterSection(src("@socket.io/redis-adapter"))),
    ...(await classicSpecificChannelSection(src("@socket.io/redis-adapter"))),
    ...(await shardedAdapterSection(src("@socket.io/redis-adapter"))),
    ...(await streamsAdapterSection(src("@socket.io/redis-streams-adapter"))),
    ...(await emitterSection(src("@socket.io/redis-emitter"))),
  ];
  const names = new Set();
  for (const c of cases) {
    if (names.has(c.name)) throw new Error(`duplicate case name ${c.name}`);
    names.add(c.name);
  }
  selfCheckDeterminism(cases);
  return { text: format({ generator: GENERATOR, packages: versions, cases }) + "\n", cases };
}

function summary(cases) {
  const byKind = {};
  for (const c of cases) byKind[c.kind] = (byKind[c.kind] || 0) + 1;
  return `${cases.length} cases (${Object.entries(byKind)
    .map(([k, n]) => `${k}: ${n}`)
    .join(", ")})`;
}

async function main() {
  const check = process.argv.includes("--check");
  const { text, cases } = await generate();
  const rel = path.relative(process.cwd(), OUT_FILE);
  if (check) {
    if (!fs.existsSync(OUT_FILE)) {
      console.error(`golden:check: ${rel} does not exist; run "npm --prefix e2e run golden"`);
      return 1;
    }
    const current = fs.readFileSync(OUT_FILE, "utf8");
    if (current === text) {
      console.log(`golden:check: ${rel} is up to date, ${summary(cases)}`);
      return 0;
    }
    console.error(`golden:check: ${rel} differs from what the packages produce now:`);
    for (const line of diffSummary(current, text)) console.error(`  ${line}`);
    console.error(`run "npm --prefix e2e run golden" to regenerate it`);
    return 1;
  }
  fs.mkdirSync(path.dirname(OUT_FILE), { recursive: true });
  fs.writeFileSync(OUT_FILE, text);
  console.log(`wrote ${rel}: ${summary(cases)}`);
  return 0;
}

main().then(
  (code) => process.exit(code), // pending adapter timers (ack cleanup, XREAD loops) must not keep us alive
  (err) => {
    console.error(err && err.stack ? err.stack : err);
    process.exit(2);
  }
);
