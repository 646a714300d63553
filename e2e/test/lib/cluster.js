// Helpers for the interop tests: a private redis-server, peer nodes of any runtime
// (shared/PEER-NODE.md), socket.io-client 4.8 clients, and deadline-based waiting.
//
// Every child (redis-server, peer nodes) is spawned in its own process group and is
// killed by `stopAll()` (call it from an `after` hook), and as a last resort when this
// process exits or gets SIGINT/SIGTERM.
"use strict";

const { spawn } = require("node:child_process");
const fs = require("node:fs");
const net = require("node:net");
const path = require("node:path");
const { io, Manager } = require("socket.io-client");

const E2E_DIR = path.resolve(__dirname, "..", "..");
const NODE_PEER = path.resolve(E2E_DIR, process.env.NODE_PEER || "peer-node.js");
const DEFAULT_RUST_PEER = path.resolve(E2E_DIR, "..", "target", "release", "peer-node");
const VERBOSE = process.env.E2E_VERBOSE === "1";
const TAIL_BYTES = 8192;

// ---------------------------------------------------------------------------------------
// waiting

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls `predicate` (sync or async) every `interval` ms until it returns a truthy value,
 * which is returned. Throws after `ms` with `what` and the last value/error seen.
 */
async function waitFor(predicate, ms = 5000, what = "condition", interval = 15) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const v = await predicate();
      if (v) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out after ${ms} ms waiting for ${what} (last: ${detail})`);
    }
    await sleep(interval);
  }
}

/** Rejects if `promise` has not settled after `ms`. */
function deadline(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------------------
// child processes

/** Every child still running, by pid (the pid is also its process-group id). */
const children = new Map();

function killGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

function killAllNow() {
  for (const pid of children.keys()) killGroup(pid, "SIGKILL");
  children.clear();
}

process.on("exit", killAllNow);
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.once(sig, () => {
    killAllNow();
    process.exit(130);
  });
}

/** A free TCP port on 127.0.0.1 (asks the OS for one, then releases it). */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Whether `port` on 127.0.0.1 can be listened on now. */
function portIsFree(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

/**
 * Spawns `cmd args` in its own process group and keeps the tail of its output.
 * Returns a handle {proc, pid, name, tail(), exited, stop()}.
 */
function spawnChild(name, cmd, args, env) {
  const proc = spawn(cmd, args, {
    cwd: E2E_DIR,
    env,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const child = {
    name,
    proc,
    pid: proc.pid,
    out: "",
    err: "",
    exitCode: undefined,
    exitSignal: undefined,
  };
  const keep = (field) => (chunk) => {
    child[field] = (child[field] + chunk.toString()).slice(-TAIL_BYTES);
    if (VERBOSE) process.stderr.write(`[${name} ${field}] ${chunk}`);
  };
  proc.stdout.on("data", keep("out"));
  proc.stderr.on("data", keep("err"));
  child.exited = new Promise((resolve) => {
    proc.on("exit", (code, signal) => {
      child.exitCode = code;
      child.exitSignal = signal;
      children.delete(proc.pid);
      resolve({ code, signal });
    });
    proc.on("error", (err) => {
      child.err += `\nspawn error: ${err.message}`;
      children.delete(proc.pid);
      resolve({ code: -1, signal: null, error: err });
    });
  });
  if (proc.pid) children.set(proc.pid, child);
  child.alive = () => child.exitCode === undefined && child.exitSignal === undefined;
  child.tail = () =>
    `----- ${name} (pid ${child.pid}, ${child.alive() ? "running" : `exited code=${child.exitCode} signal=${child.exitSignal}`}) -----\n` +
    (child.out ? `stdout tail:\n${child.out}\n` : "") +
    (child.err ? `stderr tail:\n${child.err}\n` : "");
  /** SIGTERM the group, wait up to `ms`, then SIGKILL. Resolves with the exit status. */
  child.stop = async (ms = 3000) => {
    if (!child.alive() || !child.pid) return child.exited;
    killGroup(child.pid, "SIGTERM");
    const timer = setTimeout(() => killGroup(child.pid, "SIGKILL"), ms);
    const status = await child.exited;
    clearTimeout(timer);
    // the group may still hold grandchildren (e.g. a wrapper script): make sure
    killGroup(child.pid, "SIGKILL");
    return status;
  };
  return child;
}

// ---------------------------------------------------------------------------------------
// redis-server

/** Sends PING on a fresh TCP connection; resolves true on +PONG. */
function redisPing(port) {
  return new Promise((resolve) => {
    const sock = net.connect(port, "127.0.0.1");
    let buf = "";
    const done = (v) => {
      sock.destroy();
      resolve(v);
    };
    sock.setTimeout(500, () => done(false));
    sock.on("error", () => done(false));
    sock.on("connect", () => sock.write("PING\r\n"));
    sock.on("data", (d) => {
      buf += d.toString();
      if (buf.includes("\r\n")) done(buf.startsWith("+PONG"));
    });
  });
}

/** Spawns redis-server on `port` (plus `extra` arguments) and waits until it answers. */
async function spawnRedis(port, bin, extra = []) {
  const child = spawnChild(`redis:${port}`, bin, [
    "--port", String(port),
    "--bind", "127.0.0.1",
    "--save", "",
    "--appendonly", "no",
    "--protected-mode", "no",
    ...extra,
  ], process.env);
  try {
    await waitFor(async () => {
      if (!child.alive()) throw new Error(`redis-server exited\n${child.tail()}`);
      return redisPing(port);
    }, 10000, `redis-server on port ${port}`, 25);
  } catch (err) {
    await child.stop();
    throw err;
  }
  return child;
}

/**
 * Starts a private redis-server on a free port (never 6379) and waits until it answers.
 * `restart(downMs)` stops it, keeps it down for `downMs` and starts it again on the same
 * port; it resolves with the time (performance.now()) at which it answered again.
 */
async function startRedis({ bin = process.env.REDIS_SERVER || "redis-server" } = {}) {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    if (port === 6379) continue;
    let child;
    try {
      child = await spawnRedis(port, bin);
    } catch (err) {
      if (attempt < 2) continue; // port taken in the meantime: try another
      throw err;
    }
    const redis = {
      port,
      url: `redis://127.0.0.1:${port}`,
      child,
      tail: () => redis.child.tail(),
      stop: () => redis.child.stop(),
      restart: async (downMs) => {
        await redis.child.stop();
        await sleep(downMs); // the outage itself
        redis.child = await spawnRedis(port, bin);
        return performance.now();
      },
    };
    return redis;
  }
}

/**
 * Starts a private Redis Cluster of 3 primaries + 3 replicas on free ports
 * (`redis-cli --cluster create`) and waits until every node reports
 * `cluster_state:ok` with all 16384 slots and 6 known nodes. Resolves with
 * {ports, seeds ("redis://127.0.0.1:p1,…"), nodes (children), tail(), numsub(channel)
 * (PUBSUB NUMSUB added up over every node; numsub(channel, "SHARDNUMSUB") for shard
 * channels), command(args) (on the first node), commandOn(port, args), stop()}.
 */
async function startRedisCluster({ bin = process.env.REDIS_SERVER || "redis-server" } = {}) {
  const os = require("node:os");
  const { execFile } = require("node:child_process");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "e2e-cluster-"));
  const ports = [];
  while (ports.length < 6) {
    const port = await freePort();
    // A cluster node also listens on port + 10000 (its cluster bus): that one must be
    // free as well, or the node exits ("Address already in use").
    if (port !== 6379 && port + 10000 < 65536 && !ports.includes(port) &&
        await portIsFree(port + 10000)) ports.push(port);
  }
  const nodes = [];
  const clients = [];
  const rc = {
    ports,
    seeds: ports.map((p) => `redis://127.0.0.1:${p}`).join(","),
    nodes,
    tail: () => nodes.map((n) => n.tail()).join("\n"),
    stop: async () => {
      for (const c of clients.splice(0)) await c.quit().catch(() => c.disconnect().catch(() => {}));
      await Promise.all(nodes.map((n) => n.stop()));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    for (const port of ports) {
      nodes.push(await spawnRedis(port, bin, [
        "--cluster-enabled", "yes",
        "--cluster-config-file", path.join(dir, `nodes-${port}.conf`),
        "--cluster-node-timeout", "2000",
        "--dir", dir,
      ]));
    }
    await new Promise((resolve, reject) => {
      execFile("redis-cli", ["--cluster", "create", ...ports.map((p) => `127.0.0.1:${p}`),
        "--cluster-replicas", "1", "--cluster-yes"], { timeout: 30000 },
      (err, stdout, stderr) => (err ? reject(new Error(`redis-cli --cluster create: ${err.message}\n${stdout}${stderr}`)) : resolve()));
    });
    const redis = require("redis");
    for (const port of ports) {
      const c = redis.createClient({ url: `redis://127.0.0.1:${port}` });
      c.on("error", () => {});
      await c.connect();
      clients.push(c);
    }
    await waitFor(async () => {
      for (const c of clients) {
        const info = String(await c.sendCommand(["CLUSTER", "INFO"]));
        if (!/cluster_state:ok/.test(info) || !/cluster_slots_assigned:16384/.test(info) ||
            !/cluster_known_nodes:6/.test(info)) return false;
      }
      return true;
    }, 30000, "the Redis Cluster settled", 50);
  } catch (err) {
    err.message += `\n${rc.tail()}`;
    await rc.stop();
    throw err;
  }
  rc.command = (args) => clients[0].sendCommand(args);
  rc.commandOn = (port, args) => clients[ports.indexOf(port)].sendCommand(args);
  // `kind` NUMSUB or SHARDNUMSUB: each node counts only its own clients, so the count
  // is added up over every node (as the Node adapters do, PROTOCOL §1.6 and §2.5).
  rc.numsub = async (channel, kind = "NUMSUB") => {
    const counts = await Promise.all(clients.map((c) => c.sendCommand(["PUBSUB", kind, channel])));
    return counts.reduce((sum, [, n]) => sum + Number(n), 0);
  };
  return rc;
}

// ---------------------------------------------------------------------------------------
// peer nodes

const RUNTIME_LABEL = { node: "Node", rust: "Rust" };

/** The command that starts a peer node of `runtime`: [cmd, args]. */
function peerCommand(runtime) {
  if (runtime === "node") return [process.execPath, [NODE_PEER]];
  if (runtime === "rust") {
    const spec = process.env.RUST_PEER_NODE || DEFAULT_RUST_PEER;
    const parts = spec.trim().split(/\s+/);
    const bin = path.resolve(E2E_DIR, parts[0]);
    if (parts.length === 1 && !fs.existsSync(bin)) {
      throw new Error(
        `Rust peer node not found at ${bin}. Build it (cargo build --release) or set ` +
        `RUST_PEER_NODE to its command; to run Node-only use E2E_RUNTIMES=node,node,node.`);
    }
    return [parts.length === 1 ? bin : parts[0], parts.slice(1)];
  }
  throw new Error(`unknown runtime ${JSON.stringify(runtime)} (expected node or rust)`);
}

/**
 * Starts one peer node and waits for its READY line.
 * `spec` = {runtime, id?, env?}; `common` = {redisUrl, adapter, key, parser,
 * requestsTimeout, specificResponseChannel, env}.
 */
async function startPeer(spec, common, index = 0) {
  const runtime = spec.runtime;
  const [cmd, args] = peerCommand(runtime);
  const port = await freePort();
  const id = spec.id || `${runtime}${index}`;
  const env = {
    ...process.env,
    ADAPTER: common.adapter ?? "pubsub",
    PORT: String(port),
    NODE_ID: id,
    REDIS_URL: common.redisUrl ?? "",
    ...(common.redisCluster ? { REDIS_CLUSTER: "1" } : {}),
    KEY: common.key ?? "socket.io",
    PARSER: common.parser ?? "common",
    REQUESTS_TIMEOUT: String(common.requestsTimeout ?? 5000),
    QUIET: VERBOSE ? "" : "1",
    PUBLISH_ON_SPECIFIC_RESPONSE_CHANNEL: common.specificResponseChannel ? "1" : "0",
    ...(common.env || {}),
    ...(spec.env || {}),
  };
  if (!VERBOSE) env.QUIET = "1";
  const child = spawnChild(id, cmd, args, env);
  const readyTimeout = Number(process.env.E2E_READY_TIMEOUT || 20000);
  let ready;
  try {
    ready = await waitFor(() => {
      if (!child.alive()) throw new Error(`${id} exited before READY`);
      const m = child.out.match(/^READY (\{.*\})\s*$/m);
      return m && JSON.parse(m[1]);
    }, readyTimeout, `READY line of ${id} (${runtime})`, 20);
  } catch (err) {
    const tail = child.tail();
    await child.stop();
    err.message += `\n${tail}`;
    throw err;
  }
  for (const k of ["node", "port", "adapter", "runtime", "pid"]) {
    if (!(k in ready)) throw new Error(`${id}: READY line lacks "${k}": ${JSON.stringify(ready)}`);
  }
  if (ready.runtime !== runtime) {
    throw new Error(`${id}: READY says runtime ${ready.runtime}, expected ${runtime}`);
  }
  return {
    id,
    runtime,
    label: RUNTIME_LABEL[runtime] || runtime,
    port,
    url: `http://127.0.0.1:${port}`,
    ready,
    child,
    tail: () => child.tail(),
    stop: () => child.stop(),
  };
}

/**
 * Starts a cluster: a private redis-server (unless adapter is "none" or a redisUrl is
 * given) and one peer node per entry of `nodes` ([{runtime: "node"}, {runtime: "rust"}]).
 * Returns {redis, nodes, clients, connect(), tails(), stop()}.
 */
async function startCluster(nodes, common = {}) {
  const cluster = { redis: null, nodes: [], clients: [] };
  cluster.tails = () =>
    [cluster.redis && cluster.redis.tail(), ...cluster.nodes.map((n) => n.tail())]
      .filter(Boolean).join("\n");
  cluster.stop = async () => {
    for (const c of cluster.clients.splice(0)) c.close();
    if (cluster.redisClient) {
      const rc = cluster.redisClient;
      cluster.redisClient = null;
      await rc.quit().catch(() => rc.disconnect().catch(() => {}));
    }
    const statuses = await Promise.all(cluster.nodes.map((n) => n.stop()));
    if (cluster.redis) await cluster.redis.stop();
    return statuses;
  };
  try {
    const adapter = common.adapter ?? "pubsub";
    for (const spec of nodes) peerCommand(spec.runtime); // fail fast: unknown runtime, no binary
    if (adapter !== "none" && !common.redisUrl && !common.redisCluster) {
      cluster.redis = await startRedis();
    }
    const redisUrl = common.redisCluster ? common.redisCluster.seeds
      : common.redisUrl ?? (cluster.redis ? cluster.redis.url : "");
    const started = await Promise.allSettled(
      nodes.map((spec, i) => startPeer(spec, { ...common, adapter, redisUrl }, i)));
    cluster.nodes = started.filter((r) => r.status === "fulfilled").map((r) => r.value);
    const failed = started.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  /**
   * Runs one raw command (['PUBSUB', 'NUMSUB', ch]) on the cluster's Redis; on a Redis
   * Cluster `PUBSUB NUMSUB` and `SHARDNUMSUB` are added up over every node, `CLIENT LIST`
   * is every node's list, anything else runs on one node.
   */
  cluster.command = async (args) => {
    if (common.redisCluster) {
      if (args[0] === "PUBSUB" && (args[1] === "NUMSUB" || args[1] === "SHARDNUMSUB")) {
        return [args[2], await common.redisCluster.numsub(args[2], args[1])];
      }
      if (args[0] === "CLIENT" && args[1] === "LIST") {
        const rc = common.redisCluster;
        return (await Promise.all(rc.ports.map((p) => rc.commandOn(p, args)))).join("");
      }
      return common.redisCluster.command(args);
    }
    if (!cluster.redisClient) {
      const url = common.redisUrl ?? (cluster.redis && cluster.redis.url);
      if (!url) throw new Error("this cluster has no Redis");
      const rc = require("redis").createClient({ url });
      rc.on("error", () => {});
      await rc.connect();
      cluster.redisClient = rc;
    }
    return cluster.redisClient.sendCommand(args);
  };
  cluster.connect = async (node, nsp, name, opts = {}) => {
    const client = await connectClient(node, nsp, name, { parser: common.parser, ...opts });
    cluster.clients.push(client);
    return client;
  };
  return cluster;
}

/** Kills every child started by this module (redis-servers and peer nodes). */
async function stopAll() {
  await Promise.all([...children.values()].map((c) => c.stop()));
}

// ---------------------------------------------------------------------------------------
// clients

function clientParser(parser) {
  return parser === "msgpack" ? require("socket.io-msgpack-parser") : undefined;
}

/**
 * Connects a socket.io-client 4.8 client (websocket only, auth {name}) to `nsp` of
 * `node` and records every event it receives. Answers `ackme` with {name, sid}.
 * Returns a wrapper {socket, id, name, node, nsp, events, got(ev), call(), close()}.
 */
async function connectClient(node, nsp, name, { parser, timeout = 5000, manager, ...rest } = {}) {
  let socket;
  if (manager) {
    // a second namespace on an existing connection (multiplexing)
    socket = manager.socket(nsp, { auth: { name } });
  } else {
    const opts = {
      transports: ["websocket"],
      auth: { name },
      forceNew: true,
      reconnection: false,
      timeout,
      ...rest,
    };
    const p = clientParser(parser);
    if (p) opts.parser = p;
    socket = io(`${node.url}${nsp === "/" ? "" : nsp}`, opts);
  }
  const client = {
    socket,
    name,
    node,
    nsp,
    id: undefined,
    /** [{ev, args}] in arrival order; acknowledgement callbacks are left out of args. */
    events: [],
    /** disconnect reasons in order */
    disconnects: [],
  };
  socket.onAny((ev, ...args) => {
    client.events.push({ ev, args: args.filter((a) => typeof a !== "function") });
  });
  socket.on("ackme", (...args) => {
    const cb = args[args.length - 1];
    if (typeof cb === "function") cb({ name, sid: socket.id });
  });
  socket.on("disconnect", (reason) => client.disconnects.push(reason));
  client.got = (ev) => client.events.filter((e) => e.ev === ev).map((e) => e.args);
  client.connected = () => socket.connected;
  client.close = () => socket.close();
  /** the underlying Manager (one Engine.IO connection), to open another namespace on it */
  client.manager = socket.io;
  /** emitWithAck with a deadline; throws if the node answers {error}. */
  client.call = (ev, payload, ms = 8000) => call(client, ev, payload, ms);
  await deadline(new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", (err) => reject(new Error(`connect_error: ${err.message}`)));
  }), timeout + 1000, `connecting ${name} to ${node.id}${nsp}`).catch((err) => {
    socket.close();
    throw err;
  });
  client.id = socket.id;
  return client;
}

function isErrorReply(res) {
  return res !== null && typeof res === "object" && !Array.isArray(res) &&
    Object.keys(res).length === 1 && typeof res.error === "string";
}

/** `emitWithAck(ev, payload?)` with a deadline; a `{error}` reply becomes an exception. */
async function emitWithAck(client, ev, payload, ms = 8000) {
  const sock = client.socket ?? client;
  const args = payload === undefined ? [] : [payload];
  let res;
  try {
    res = await sock.timeout(ms).emitWithAck(ev, ...args);
  } catch (err) {
    throw new Error(`${ev} on ${client.node ? `${client.node.id}${client.nsp}` : "?"}: ${err.message}`);
  }
  return res;
}

async function call(client, ev, payload, ms = 8000) {
  const res = await emitWithAck(client, ev, payload, ms);
  if (isErrorReply(res)) {
    throw new Error(`${ev} on ${client.node.id}${client.nsp} answered error: ${res.error}`);
  }
  return res;
}

module.exports = {
  E2E_DIR,
  sleep,
  waitFor,
  deadline,
  freePort,
  startRedis,
  startRedisCluster,
  startPeer,
  startCluster,
  stopAll,
  connectClient,
  emitWithAck,
  call,
  isErrorReply,
  peerCommand,
  RUNTIME_LABEL,
};
