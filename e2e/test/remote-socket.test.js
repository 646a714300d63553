// socketioxide's own RemoteSocket API on sockets of other servers: a Rust node fetches the
// cluster's sockets with `io.fetch_sockets()` and emits to, joins, leaves, lists the rooms
// of and disconnects a socket connected to a Node node (and to another Rust node), through
// the Rust peer's `remoteSocket` event (a Rust-only extension of PEER-NODE.md).
"use strict";
const { describe, test, before, after } = require("node:test");
const assert = require("node:assert");
const { startCluster, waitFor } = require("./lib/cluster");

const KEY = "e2e-remote";

for (const parser of ["common", "msgpack"]) {
  describe(`RemoteSocket API from a Rust node (parser=${parser})`, () => {
    const env = {};
    before(async () => {
      env.cluster = await startCluster([{ runtime: "rust" }, { runtime: "node" }, { runtime: "rust" }], {
        adapter: "pubsub", parser, key: KEY, requestsTimeout: 3000,
      });
      await waitFor(async () => Number((await env.cluster.command(["PUBSUB", "NUMSUB", `${KEY}-request#/#`]))[1]) === 3,
        10000, "3 subscribers");
      const [rust, node, rust2] = env.cluster.nodes;
      env.driver = await env.cluster.connect(rust, "/", "driver");
      env.targets = {
        node: await env.cluster.connect(node, "/", "on-node"),
        rust: await env.cluster.connect(rust2, "/", "on-rust"),
      };
      env.probe = await env.cluster.connect(node, "/", "probe");
    }, { timeout: 60000 });
    after(async () => { if (env.cluster) await env.cluster.stop(); });

    for (const where of ["node", "rust"]) {
      test(`emit, join, rooms, leave, disconnect a socket on a ${where} node`, async () => {
        const target = env.targets[where];
        const id = target.id;
        const drive = (payload) => env.driver.call("remoteSocket", { id, ...payload });

        assert.equal(await drive({ op: "emit", event: "direct", args: [where, { n: 1 }] }), true);
        await waitFor(() => target.got("direct").length === 1, 5000, "the direct emit");
        assert.deepStrictEqual(target.got("direct")[0], [where, { n: 1 }]);

        const room = `r-${where}-${parser}`;
        assert.equal(await drive({ op: "join", room }), true);
        await waitFor(async () => (await drive({ op: "rooms" })).includes(room), 5000, "the join");
        assert.ok((await drive({ op: "rooms" })).includes(id), "the socket is in its own-id room");
        await env.probe.call("broadcast", { event: "in-room", args: [room], rooms: [room] });
        await waitFor(() => target.got("in-room").length === 1, 5000, "a room broadcast after the join");

        assert.equal(await drive({ op: "leave", room }), true);
        await waitFor(async () => !(await drive({ op: "rooms" })).includes(room), 5000, "the leave");

        assert.equal(await drive({ op: "disconnect" }), true);
        await waitFor(() => target.disconnects.length === 1, 5000, "the disconnect");
        assert.deepStrictEqual(target.disconnects, ["io server disconnect"]);
      });
    }
  });
}
