// GET /healthz and GET /metrics of the Rust peer node (PEER-NODE.md) while its Redis goes
// down and comes back: 200 "ok" while the adapter is connected and subscribed, 503 with a
// short reason while Redis is down, 200 again once it has resubscribed; /metrics (Prometheus
// text) shows the subscriber's `connected` gauge follow, and one subscriber reconnect
// counted with its outage. For each adapter kind of the peer node.
"use strict";
const { test } = require("node:test");
const assert = require("node:assert");
const { startRedis, startPeer, waitFor } = require("./lib/cluster");

const get = async (url) => {
  const res = await fetch(url);
  return { status: res.status, text: await res.text() };
};

/** The value of the series `name{…labels…}` whose labels contain every `key="value"` of `want`. */
function series(text, name, want) {
  for (const line of text.split("\n")) {
    const m = line.match(/^([a-z_]+)\{([^}]*)\} (\S+)$/);
    if (!m || m[1] !== name) continue;
    if (Object.entries(want).every(([k, v]) => m[2].includes(`${k}="${v}"`))) return Number(m[3]);
  }
  return undefined;
}

for (const adapter of ["pubsub", "sharded", "streams"]) {
  test(`/healthz and /metrics of a Rust peer node (${adapter}) while Redis is down and after`, { timeout: 60_000 }, async (t) => {
    const redis = await startRedis();
    t.after(() => redis.stop());
    const peer = await startPeer({ runtime: "rust", id: "rust-health" }, { redisUrl: redis.url, adapter });
    t.after(() => peer.stop());
    const kind = adapter === "pubsub" ? "classic" : adapter;
    const sub = { adapter: kind, node: "rust-health", role: "subscriber" };

    const up = await get(`${peer.url}/healthz`);
    assert.deepStrictEqual([up.status, up.text.trim()], [200, "ok"]);
    let metrics = (await get(`${peer.url}/metrics`)).text;
    assert.strictEqual(series(metrics, "sio_redis_transport_connected", sub), 1, metrics);

    await redis.stop();
    const down = await waitFor(async () => {
      const r = await get(`${peer.url}/healthz`);
      return r.status === 503 && r;
    }, 15_000, "/healthz to answer 503 while Redis is down");
    assert.match(down.text, /subscriber not subscribed|publisher disconnected/);
    metrics = (await get(`${peer.url}/metrics`)).text;
    assert.strictEqual(series(metrics, "sio_redis_transport_connected", sub), 0, metrics);

    await redis.restart(0);
    await waitFor(async () => (await get(`${peer.url}/healthz`)).status === 200, 20_000,
      "/healthz to answer 200 again after Redis is back");
    metrics = (await get(`${peer.url}/metrics`)).text;
    assert.strictEqual(series(metrics, "sio_redis_transport_connected", sub), 1, metrics);
    assert.strictEqual(series(metrics, "sio_redis_transport_reconnects_total", sub), 1, metrics);
    assert.strictEqual(series(metrics, "sio_redis_transport_outage_seconds_count", sub), 1, metrics);
  });
}
