// Session records of the streams adapter (connection state recovery), both ways between a
// Node node (socket.io 4.8 with connectionStateRecovery, @socket.io/redis-streams-adapter
// 0.3.1) and a Rust node (sio_redis's RedisAdapterState::persist_session /
// restore_session, driven by the Rust peer node's `session:persist` / `session:restore`
// events) on a private standalone redis-server:
// (a) a Node node persists the session of a client whose transport closed abruptly,
//     broadcasts go on from both nodes, the Rust API restores it: same sid, rooms and
//     data, exactly the missed broadcasts that pass the room filter, each with its entry id;
// (b) a session persisted through the Rust API is restored by the Node node: a
//     socket.io-client connecting with that pid and offset sees `recovered`, the persisted
//     id, rooms and data, and the missed broadcasts.
// Both parsers (E2E_PARSERS narrows them, as in the classic suite).
"use strict";
const { describe, test, before, after } = require("node:test");
const assert = require("node:assert");
const { io } = require("socket.io-client");
const { startCluster, connectClient, waitFor, deadline } = require("./lib/cluster");

/** The ids of the entries of the stream after `offset` (exclusive), oldest first. */
async function idsAfter(cluster, offset) {
  const entries = await cluster.command(["XRANGE", "socket.io", `(${offset}`, "+"]);
  return entries.map((e) => e[0]);
}

/** The id of the newest entry of the stream. */
async function lastId(cluster) {
  const [entry] = await cluster.command(["XREVRANGE", "socket.io", "+", "-", "COUNT", "1"]);
  return entry[0];
}

const PARSERS = (process.env.E2E_PARSERS || "common,msgpack").split(",").map((p) => p.trim());

for (const parser of PARSERS) describe(`streams adapter session records, Node <-> Rust, ${parser} parser`, () => {
  let cluster;
  let node;
  let rust;
  let driver; // a client of the Rust node, to call its events
  let other; // a client of the Node node, to broadcast from it

  before(async () => {
    cluster = await startCluster([{ runtime: "node" }, { runtime: "rust" }], { adapter: "streams", parser });
    [node, rust] = cluster.nodes;
    driver = await cluster.connect(rust, "/", "driver");
    other = await cluster.connect(node, "/", "other");
  });

  after(async () => {
    if (cluster) await cluster.stop();
  });

  /** Broadcasts through `client`'s node and waits for the entry to be in the stream. */
  async function broadcast(client, p) {
    const before = await lastId(cluster).catch(() => "0-0");
    assert.strictEqual(await client.call("broadcast", { args: [], ...p }), true);
    await waitFor(async () => (await lastId(cluster)) !== before, 5000, `${p.event} in the stream`);
  }

  test("(a) a session persisted by a Node node is restored through the Rust API", async () => {
    // A CSR client of the Node node: it keeps its pid and the offset of each event.
    const c = await connectClient(node, "/", "bob", { parser });
    assert.ok(c.socket._pid, "the Node node gave the client a pid");
    await c.call("join", ["r1"]);
    await broadcast(other, { event: "warmup" });
    await waitFor(() => c.got("warmup").length === 1, 5000, "warmup");
    const offset = c.socket._lastOffset;
    assert.match(offset, /^\d+-\d+$/);
    assert.strictEqual(offset, await lastId(cluster), "Node appends the entry id to live events");
    const { id: sid } = c;
    const pid = c.socket._pid;

    // The transport closes abruptly (no DISCONNECT packet): "transport close", recoverable.
    c.socket.io.engine.close();
    await waitFor(async () => (await cluster.command(["EXISTS", `sio:session:${pid}`])) === 1,
      5000, "the Node node to persist the session");
    const ttl = await cluster.command(["PTTL", `sio:session:${pid}`]);
    assert.ok(ttl > 0 && ttl <= 120000, `PX maxDisconnectionDuration (PTTL ${ttl})`);

    // Broadcasts go on, from both nodes.
    await broadcast(driver, { event: "m-all", args: [1] }); // kept
    await broadcast(other, { event: "m-r1", args: [2], rooms: ["r1"] }); // kept
    await broadcast(driver, { event: "m-r2", args: [3], rooms: ["r2"] }); // not in r2
    await broadcast(other, { event: "m-except-r1", args: [4], except: ["r1"] }); // excluded
    await broadcast(driver, { event: "m-except-me", args: [5], except: [sid] }); // excluded
    await broadcast(driver, { event: "m-r2-r1", args: [6], rooms: ["r2", "r1"] }); // kept
    const ids = await idsAfter(cluster, offset);
    assert.strictEqual(ids.length, 6);

    const restored = await driver.call("session:restore", { pid, offset });
    assert.strictEqual(restored.sid, sid);
    assert.strictEqual(restored.pid, pid);
    assert.deepStrictEqual([...restored.rooms].sort(), [sid, "r1"].sort());
    assert.deepStrictEqual(restored.data, { node: node.id, name: "bob" });
    assert.deepStrictEqual(restored.missedPackets, [
      ["m-all", 1, ids[0]],
      ["m-r1", 2, ids[1]],
      ["m-r2-r1", 6, ids[5]],
    ]);
    // Once: the record is gone.
    const again = await driver.socket.timeout(8000).emitWithAck("session:restore", { pid, offset });
    assert.match(again.error, /no session record/);
  });

  test("(b) a session persisted through the Rust API is restored by a Node node", async () => {
    await broadcast(driver, { event: "anchor" });
    const offset = await lastId(cluster);
    const sid = "RustPersistedSid0001"; // 20 characters, as a Node socket id
    const pid = "RustPersistedPid0001";
    assert.strictEqual(await driver.call("session:persist", {
      sid, pid, rooms: [sid, "r1"], data: { user: "alice", n: 7 }, maxDisconnectionDuration: 60000,
    }), true);
    const ttl = await cluster.command(["PTTL", `sio:session:${pid}`]);
    assert.ok(ttl > 0 && ttl <= 60000, `PTTL ${ttl}`);

    await broadcast(driver, { event: "n-all", args: ["x"] }); // kept
    await broadcast(other, { event: "n-r2", args: ["y"], rooms: ["r2"] }); // not in r2
    await broadcast(other, { event: "n-r1", args: ["z"], rooms: ["r1"] }); // kept
    const ids = await idsAfter(cluster, offset);
    assert.strictEqual(ids.length, 3);

    // A client that had that session: it presents {pid, offset} in its CONNECT packet.
    const socket = io(node.url, {
      transports: ["websocket"], forceNew: true, reconnection: false, autoConnect: false,
      ...(parser === "msgpack" ? { parser: require("socket.io-msgpack-parser") } : {}),
    });
    const events = [];
    socket.onAny((ev, ...args) => events.push([ev, ...args]));
    socket._pid = pid;
    socket._lastOffset = offset;
    socket.connect();
    try {
      await deadline(new Promise((resolve, reject) => {
        socket.once("connect", resolve);
        socket.once("connect_error", reject);
      }), 6000, "connecting the recovering client");
      assert.strictEqual(socket.recovered, true, "socket.recovered");
      assert.strictEqual(socket.id, sid);
      await waitFor(() => events.length >= 2, 5000, "the missed packets");
      assert.deepStrictEqual(events, [["n-all", "x", ids[0]], ["n-r1", "z", ids[2]]]);
      assert.strictEqual(socket._lastOffset, ids[2], "the client's offset moved on");
      const info = await socket.timeout(8000).emitWithAck("info");
      assert.deepStrictEqual([...info.rooms].sort(), [sid, "r1"].sort());
      const sockets = await other.call("fetchSockets", { rooms: [sid] });
      assert.deepStrictEqual(sockets.map((s) => s.data), [{ user: "alice", n: 7 }]);
      assert.strictEqual(await cluster.command(["EXISTS", `sio:session:${pid}`]), 0, "restored once");
    } finally {
      socket.close();
    }
  });
});
