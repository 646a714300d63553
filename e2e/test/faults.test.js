// Outages with real peer nodes: sequence-numbered broadcasts at 200/s from one node to a
// client of another (`bench:emit`, PEER-NODE.md) while Redis is restarted with 1 s down.
// Counts what the client lost and got twice, and when delivery resumed after Redis
// answered again.
"use strict";
const { describe, test, after } = require("node:test");
const assert = require("node:assert");
const { startCluster, waitFor, sleep } = require("./lib/cluster");

const COUNT = 1400; // 7 s at 200/s
const RATE = 200;

// The bound is asserted for Rust -> Rust; Rust -> Node is measured and reported (a Node
// receiver's node-redis subscriber comes back on its own schedule, sometimes after a
// Rust sender's offline buffer went out). Node -> Node is not run: the Node peer's
// connection to its clients does not survive the restart (e2e/peer-node.js).
for (const pair of [["rust", "rust"], ["rust", "node"]]) {
  describe(`Redis restart (1 s down) during broadcasts, ${pair[0]} -> ${pair[1]}`, () => {
    let cluster;
    after(async () => { if (cluster) await cluster.stop(); });

    test("at most a few broadcasts lost, none duplicated, delivery resumes", async () => {
      cluster = await startCluster([{ runtime: pair[0] }, { runtime: pair[1] }], {
        adapter: "pubsub", key: "e2e-faults",
      });
      const [sender, receiver] = cluster.nodes;
      await waitFor(async () =>
        Number((await cluster.command(["PUBSUB", "NUMSUB", "e2e-faults-request#/#"]))[1]) === 2,
      10000, "2 subscribers");
      const driver = await cluster.connect(sender, "/", "driver");
      const client = await cluster.connect(receiver, "/", "counter");
      const arrivals = [];
      client.socket.on("bench", (m) => arrivals.push([performance.now(), m.s]));

      const run = driver.call("bench:emit", { count: COUNT, size: 16, rate: RATE, event: "bench" }, 30000);
      await sleep(1000); // the fault, one second into the run
      // (The kit's own node-redis client reconnects by itself; cluster.stop() quits it.)
      const answered = await cluster.redis.restart(1000);
      const reply = await run;
      assert.equal(reply.sent + (reply.errors ?? 0), COUNT, JSON.stringify(reply));
      // Everything still queued has arrived once nothing has come for a while.
      let seen = -1;
      await waitFor(() => {
        const settled = arrivals.length === seen;
        seen = arrivals.length;
        return settled && arrivals.length > 0;
      }, 10000, "the last broadcasts", 300);

      const counts = new Map();
      for (const [, s] of arrivals) counts.set(s, (counts.get(s) ?? 0) + 1);
      const lost = COUNT - counts.size;
      const duplicated = [...counts.values()].reduce((a, n) => a + n - 1, 0);
      const first = arrivals.find(([at]) => at > answered);
      const resumedMs = first ? Math.round(first[0] - answered) : -1;
      console.log(`# faults ${pair.join("->")}: restart 1 s down: lost ${lost} of ${COUNT}, ` +
        `duplicated ${duplicated}, delivery resumed ${resumedMs} ms after Redis answered, ` +
        `sender reply ${JSON.stringify(reply)}`);
      assert.equal(duplicated, 0);
      assert.ok(first, "delivery resumed");
      if (pair[0] === "rust" && pair[1] === "rust") assert.ok(lost <= 20, `lost ${lost}`);
    }, { timeout: 60000 });
  });
}
