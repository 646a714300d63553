// Recovery of the sharded adapter on a 3-primary + 3-replica Redis Cluster (issue 11
// item 8): sequence-numbered broadcasts at 200/s from a Rust node (`bench:emit`,
// PEER-NODE.md) to a client of another Rust node and to a client of a Node node
// (socket.io 4.8, createShardedAdapter of @socket.io/redis-adapter 8.3 on a node-redis
// cluster client), while the primary that owns the main channel `<key>#/#` suffers one
// fault at a time: CLIENT KILL of its pub/sub connections, a failover (CLUSTER FAILOVER on
// its replica), the migration of the channel's slot to another primary. For each: lost and
// duplicated broadcasts per receiver, when delivery resumed after the promotion / the slot
// switch, and a fetchSockets and a serverSideEmit with ack afterwards. Asserted for the
// Rust receiver (resumed within 1 s, nothing twice); measured and printed for Node's.
"use strict";
const { describe, test, after } = require("node:test");
const assert = require("node:assert");
const { startRedisCluster, startCluster, waitFor, sleep, call } = require("./lib/cluster");

const RATE = 200;
const KEY = "e2e-shrec";
const MAIN = `${KEY}#/#`;
/** E2E_FAULTS=failover,migration runs only the faults whose names contain one of these. */
const ONLY = (process.env.E2E_FAULTS || "").split(",").filter(Boolean);

/** `CLUSTER SHARDS` of one node as [{primary: port, replicas: [port], slots: [[a, b]]}]. */
async function shards(rc) {
  const out = [];
  for (const shard of await rc.command(["CLUSTER", "SHARDS"])) {
    const m = {};
    for (let i = 0; i < shard.length; i += 2) m[shard[i]] = shard[i + 1];
    const slots = [];
    for (let i = 0; i < m.slots.length; i += 2) slots.push([Number(m.slots[i]), Number(m.slots[i + 1])]);
    const nodes = m.nodes.map((n) => {
      const o = {};
      for (let i = 0; i < n.length; i += 2) o[n[i]] = n[i + 1];
      return o;
    });
    const primary = nodes.find((n) => n.role === "master");
    if (!primary || !slots.length) continue;
    out.push({
      primary: Number(primary.port),
      id: primary.id,
      // (Redis 7.0 reports a synced replica whose offset is still 0 as "loading")
      replicas: nodes.filter((n) => n.role !== "master" && n.health !== "failed").map((n) => Number(n.port)),
      slots,
    });
  }
  return out;
}

/** The shard whose slots include `slot`. */
async function shardOf(rc, slot) {
  return (await shards(rc)).find((s) => s.slots.some(([a, b]) => a <= slot && slot <= b));
}

const FAULTS = [
  {
    name: "CLIENT KILL TYPE pubsub on the main channel's primary",
    run: async (rc, slot) => {
      const owner = await shardOf(rc, slot);
      await rc.commandOn(owner.primary, ["CLIENT", "KILL", "TYPE", "pubsub"]);
      return performance.now();
    },
  },
  {
    name: "failover of the main channel's primary (CLUSTER FAILOVER on its replica)",
    run: async (rc, slot) => {
      const owner = await shardOf(rc, slot);
      const replica = owner.replicas[0];
      await rc.commandOn(replica, ["CLUSTER", "FAILOVER"]);
      await waitFor(async () => (await rc.commandOn(replica, ["ROLE"]))[0] === "master",
        10000, "the replica promoted", 5);
      return performance.now(); // the promotion
    },
  },
  {
    name: "migration of the main channel's slot to another primary",
    run: async (rc, slot) => {
      const all = await shards(rc);
      const from = all.find((s) => s.slots.some(([a, b]) => a <= slot && slot <= b));
      const to = all.find((s) => s !== from);
      await rc.commandOn(to.primary, ["CLUSTER", "SETSLOT", String(slot), "IMPORTING", from.id]);
      await rc.commandOn(from.primary, ["CLUSTER", "SETSLOT", String(slot), "MIGRATING", to.id]);
      // (no keys in a channel's slot to MIGRATE)
      for (const s of all) {
        await rc.commandOn(s.primary, ["CLUSTER", "SETSLOT", String(slot), "NODE", to.id]);
      }
      return performance.now(); // the slot switch
    },
  },
];

describe("sharded adapter recovery on a Redis Cluster, rust -> rust and rust -> node", () => {
  let rc;
  let cluster;
  after(async () => {
    if (cluster) await cluster.stop();
    if (rc) await rc.stop();
  });

  test("broadcasts resume after each fault; fetchSockets and serverSideEmit with ack work afterwards", async () => {
    rc = await startRedisCluster();
    cluster = await startCluster([{ runtime: "rust" }, { runtime: "rust" }, { runtime: "node" }], {
      redisCluster: rc, adapter: "sharded", key: KEY, requestsTimeout: 3000,
      env: { SHARDED_MODE: "dynamic" },
    });
    const [sender, rustReceiver, nodeReceiver] = cluster.nodes;
    await waitFor(async () => (await rc.numsub(MAIN, "SHARDNUMSUB")) === 3, 10000, "3 subscribers of the main channel");
    const driver = await cluster.connect(sender, "/", "driver");
    const receivers = [
      { node: rustReceiver, client: await cluster.connect(rustReceiver, "/", "rust-counter"), arrivals: [] },
      { node: nodeReceiver, client: await cluster.connect(nodeReceiver, "/", "node-counter"), arrivals: [] },
    ];
    for (const r of receivers) r.client.socket.on("bench", (m) => r.arrivals.push([performance.now(), m.s]));
    const slot = Number(await rc.command(["CLUSTER", "KEYSLOT", MAIN]));

    for (const fault of FAULTS.filter((f) => !ONLY.length || ONLY.some((o) => f.name.includes(o)))) {
      for (const r of receivers) r.arrivals = [];
      const count = RATE * 4; // 1 s before the fault, 3 s after
      const run = call(driver, "bench:emit", { count, size: 16, rate: RATE, event: "bench" }, 60000);
      await sleep(1000); // the fault, one second into the run (fault injection, not a wait)
      const healed = await fault.run(rc, slot);
      const reply = await run;
      assert.equal(reply.sent + (reply.errors ?? 0), count, JSON.stringify(reply));
      // Everything on its way has arrived once nothing has come for a while.
      let seen = -1;
      await waitFor(() => {
        const n = receivers[0].arrivals.length;
        const settled = n === seen;
        seen = n;
        return settled && n > 0;
      }, 15000, "the last broadcasts", 300);
      for (const r of receivers) {
        const counts = new Map();
        for (const [, s] of r.arrivals) counts.set(s, (counts.get(s) ?? 0) + 1);
        r.lost = count - counts.size;
        r.duplicated = [...counts.values()].reduce((a, n) => a + n - 1, 0);
        const first = r.arrivals.find(([at]) => at > healed);
        r.resumedMs = first ? Math.round(first[0] - healed) : -1;
      }
      const fetched = await call(driver, "fetchSockets", {}, 10000).catch((e) => ({ error: e.message }));
      const sse = await call(driver, "serverSideEmit", { args: ["after"], withAck: true }, 10000)
        .catch((e) => ({ error: e.message }));
      const [rust, node] = receivers;
      const twice = (r) => {
        const c = new Map();
        for (const [at, s] of r.arrivals) c.set(s, [...(c.get(s) ?? []), Math.round(at - healed)]);
        return [...c].filter(([, ats]) => ats.length > 1).map(([s, ats]) => `${s}@${ats.join("/")}`).join(" ");
      };
      if (rust.duplicated) console.log(`# twice (seq@ms after the fault): ${twice(rust)}`);
      console.log(`# sharded recovery: ${fault.name}: ` +
        `Rust receiver lost ${rust.lost} of ${count}, duplicated ${rust.duplicated}, resumed ${rust.resumedMs} ms after; ` +
        `Node receiver lost ${node.lost}, duplicated ${node.duplicated}, resumed ${node.resumedMs} ms after; ` +
        `fetchSockets ${Array.isArray(fetched) ? `${fetched.length} sockets` : JSON.stringify(fetched)}; ` +
        `serverSideEmit with ack ${JSON.stringify(sse)}`);
      assert.equal(rust.duplicated, 0, fault.name);
      assert.ok(rust.resumedMs >= 0 && rust.resumedMs < 1000, `${fault.name}: resumed ${rust.resumedMs} ms`);
      assert.ok(Array.isArray(fetched) && fetched.some((s) => s.data?.name === "rust-counter"),
        `${fault.name}: fetchSockets reaches the other Rust node: ${JSON.stringify(fetched)}`);
      assert.ok(Array.isArray(sse?.responses) && sse.responses.length >= 1,
        `${fault.name}: serverSideEmit with ack answered: ${JSON.stringify(sse)}`);
    }
  }, { timeout: 180000 });
});
