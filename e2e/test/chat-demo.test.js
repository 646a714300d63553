// The demo (README's first command) in a real browser: headless Chromium opens the chat
// page on two nodes of `cluster-chat`, sends a message on one and sees it on the other.
// Needs Debian's chromium (/usr/bin/chromium) and the release build of cluster-chat
// (CLUSTER_CHAT, default ../target/release/cluster-chat). Saves a screenshot to
// e2e/artifacts/chat-demo.png. Then the same with the sharded adapter on a private Redis
// Cluster (e2e/artifacts/chat-demo-sharded.png), and with the streams adapter on a private
// Redis (e2e/artifacts/chat-demo-streams.png). The screenshots show each page's node
// status panel (adapter, Redis state, server count, messages/s, from GET /status), which
// the test checks, with GET /healthz and GET /metrics.
"use strict";
const { test } = require("node:test");
const assert = require("node:assert");
const { spawn, execFileSync } = require("node:child_process");
const fs = require("node:fs");
const net = require("node:net");
const path = require("node:path");
const { startRedisCluster } = require("./lib/cluster");

const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const BIN = process.env.CLUSTER_CHAT || path.join(__dirname, "..", "..", "target", "release", "cluster-chat");

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, "127.0.0.1", () => { const { port } = srv.address(); srv.close(() => resolve(port)); });
    srv.on("error", reject);
  });
}

async function waitForLine(child, re, ms) {
  let out = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${re} within ${ms} ms; output:\n${out}`)), ms);
    const onData = (d) => {
      out += d.toString();
      if (re.test(out)) { clearTimeout(timer); resolve(out); }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", (d) => { out += d.toString(); });
    child.on("exit", (code) => { clearTimeout(timer); reject(new Error(`exited with ${code}:\n${out}`)); });
  });
}

/** A private redis-server, so the demo never touches a Redis it does not own: its URL. */
async function privateRedis(t) {
  const redisPort = await freePort();
  const redis = spawn("redis-server", ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
  t.after(() => redis.kill("SIGKILL"));
  for (let i = 0; i < 200; i++) {
    try { execFileSync("redis-cli", ["-p", String(redisPort), "ping"], { stdio: "pipe" }); break; } catch { await new Promise((r) => setTimeout(r, 25)); }
  }
  return `redis://127.0.0.1:${redisPort}`;
}

test("chat demo: a message typed on node 1 appears on node 2 (headless Chromium)", { timeout: 90_000 }, async (t) => {
  if (!fs.existsSync(CHROMIUM)) { t.skip(`no ${CHROMIUM}`); return; }
  await chat(t, { REDIS_URL: await privateRedis(t) }, "chat-demo.png");
});

test("chat demo with the streams adapter (ADAPTER=streams)", { timeout: 90_000 }, async (t) => {
  if (!fs.existsSync(CHROMIUM)) { t.skip(`no ${CHROMIUM}`); return; }
  await chat(t, { REDIS_URL: await privateRedis(t), ADAPTER: "streams" }, "chat-demo-streams.png");
});

test("chat demo with the sharded adapter on a Redis Cluster (ADAPTER=sharded, seeds in REDIS_URL)", { timeout: 120_000 }, async (t) => {
  if (!fs.existsSync(CHROMIUM)) { t.skip(`no ${CHROMIUM}`); return; }
  const rc = await startRedisCluster();
  t.after(() => rc.stop());
  await chat(t, { REDIS_URL: rc.seeds, ADAPTER: "sharded" }, "chat-demo-sharded.png");
});

/** Starts the demo with `env`, chats from node 1 to node 2 in Chromium, saves `shot`. */
async function chat(t, env, shot) {
  assert.ok(fs.existsSync(BIN), `build the demo first: cargo build --release -p cluster-chat (${BIN})`);
  const { chromium } = require("playwright-core");
  const ports = [await freePort(), await freePort(), await freePort()];
  const demo = spawn(BIN, [], {
    env: { ...process.env, ...env, PORTS: ports.join(","), RUST_LOG: "warn" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  t.after(() => demo.kill("SIGKILL"));
  await waitForLine(demo, /READY/, 30_000);

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  t.after(() => browser.close());
  const [a, b] = await Promise.all([browser.newPage(), browser.newPage()]);
  await a.goto(`http://127.0.0.1:${ports[0]}/`);
  await b.goto(`http://127.0.0.1:${ports[1]}/`);
  await a.waitForFunction(() => document.getElementById("status").textContent.startsWith("connected"));
  await b.waitForFunction(() => document.getElementById("status").textContent.startsWith("connected"));
  assert.strictEqual(await a.textContent("#node"), `node-${ports[0]}`);
  assert.strictEqual(await b.textContent("#node"), `node-${ports[1]}`);

  const text = `hello from node-${ports[0]} at ${Date.now()}`;
  await a.fill("#text", text);
  await a.click("button");
  await b.waitForFunction((t) => [...document.querySelectorAll("#log .text")].some((e) => e.textContent === t), text, { timeout: 10_000 });
  const from = await b.evaluate((t) => [...document.querySelectorAll("#log li")].find((li) => li.querySelector(".text").textContent === t).querySelector(".from").textContent, text);
  assert.strictEqual(from, `node-${ports[0]}`);

  // The status panel beside the chat, and the node's /healthz and /metrics.
  const adapter = env.ADAPTER === "sharded" || env.ADAPTER === "streams" ? env.ADAPTER : "classic";
  await b.waitForFunction((adapter) => document.getElementById("st-adapter").textContent === adapter
    && document.getElementById("st-redis").textContent === "connected, subscribed"
    && document.getElementById("st-servers").textContent === "3"
    && /^[0-9]+\.[0-9]$/.test(document.getElementById("st-rate").textContent), adapter, { timeout: 10_000 });
  const health = await fetch(`http://127.0.0.1:${ports[1]}/healthz`);
  assert.strictEqual(health.status, 200);
  assert.strictEqual((await health.text()).trim(), "ok");
  const metrics = await (await fetch(`http://127.0.0.1:${ports[1]}/metrics`)).text();
  const published = new RegExp(`^sio_redis_messages_published_total\\{[^}]*node="node-${ports[0]}"[^}]*type="broadcast"[^}]*\\} 1$`, "m");
  assert.match(metrics, published, "node 1 published one broadcast (the chat message)");

  const dir = path.join(__dirname, "..", "artifacts");
  fs.mkdirSync(dir, { recursive: true });
  await b.screenshot({ path: path.join(dir, shot) });
}
