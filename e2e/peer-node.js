#!/usr/bin/env node
// The Node.js peer node: one Socket.IO 4.8 server of a cluster, driven through the
// contract in shared/PEER-NODE.md (the same contract the Rust peer node implements).
//
// Run with:
//   ADAPTER=pubsub PORT=3001 NODE_ID=n1 REDIS_URL=redis://127.0.0.1:6390 node peer-node.js
//
// Environment (defaults in brackets):
//   ADAPTER        pubsub | sharded | streams | none                         [pubsub]
//   PORT           port on 127.0.0.1                                         [3000]
//   NODE_ID        node name echoed in replies                               [node-<PORT>]
//   REDIS_URL      redis:// or rediss:// URL; several comma-separated seed URLs
//                  mean a Redis Cluster                                      [redis://127.0.0.1:6379]
//   KEY            channel / stream prefix (`key` of the classic adapter,
//                  `channelPrefix` of the sharded and streams adapters)      [socket.io]
//   PARSER         common | msgpack (socket.io-msgpack-parser)               [common]
//   SHARDED_MODE   static | dynamic | dynamic-private                        [dynamic]
//   STREAM_NAME, STREAM_MAXLEN, STREAM_READ_COUNT                            [socket.io, 10000, 100]
//   REQUESTS_TIMEOUT  ms to wait for other nodes' replies                    [5000]
//   PUBLISH_ON_SPECIFIC_RESPONSE_CHANNEL  1: classic adapter option on       [off]
//   QUIET          1: no per-event logging on stderr                         [unset]
//
// Prints `READY {"node","port","adapter","runtime":"node","pid",...}` on stdout once
// listening; exits cleanly (io and Redis clients closed) on SIGTERM / SIGINT.
"use strict";

const http = require("node:http");
const { performance } = require("node:perf_hooks");
const { Server } = require("socket.io");

const env = process.env;
const ADAPTER = env.ADAPTER || "pubsub";
const PORT = Number(env.PORT || 3000);
const NODE_ID = env.NODE_ID || `node-${PORT}`;
const REDIS_URL = env.REDIS_URL || "redis://127.0.0.1:6379";
const KEY = env.KEY || "socket.io";
const PARSER = env.PARSER || "common";
const SHARDED_MODE = env.SHARDED_MODE || "dynamic";
const STREAM_NAME = env.STREAM_NAME || "socket.io";
const STREAM_MAXLEN = Number(env.STREAM_MAXLEN || 10000);
const STREAM_READ_COUNT = Number(env.STREAM_READ_COUNT || 100);
const REQUESTS_TIMEOUT = Number(env.REQUESTS_TIMEOUT || 5000);
const PSRC = env.PUBLISH_ON_SPECIFIC_RESPONSE_CHANNEL === "1" ||
  env.PUBLISH_ON_SPECIFIC_RESPONSE_CHANNEL === "true";
const QUIET = env.QUIET === "1";
const NAMESPACES = ["/", "/ns2"];
const SSE_EVENT = "peer:sse";

function log(...args) {
  if (!QUIET) console.error(`[${NODE_ID}]`, ...args);
}

function fatal(msg, err) {
  console.error(`[${NODE_ID}] ${msg}:`, err);
  process.exit(1);
}

if (!["pubsub", "sharded", "streams", "none"].includes(ADAPTER)) {
  fatal("bad ADAPTER", ADAPTER);
}
if (!["common", "msgpack"].includes(PARSER)) fatal("bad PARSER", PARSER);

/** A node-redis v4 client (or cluster client for several comma-separated URLs). */
function createRedisClient() {
  const redis = require("redis");
  const urls = REDIS_URL.split(",").map((u) => u.trim()).filter(Boolean);
  const client = urls.length > 1
    ? redis.createCluster({ rootNodes: urls.map((url) => ({ url })) })
    : redis.createClient({ url: urls[0] });
  client.on("error", (err) => console.error(`[${NODE_ID}] redis error:`, err.message));
  return client;
}

/** Builds the adapter factory; returns {adapter, clients} (clients to close on exit). */
async function buildAdapter() {
  if (ADAPTER === "none") return { adapter: undefined, clients: [] };
  const pubClient = createRedisClient();
  if (ADAPTER === "streams") {
    await pubClient.connect();
    const { createAdapter } = require("@socket.io/redis-streams-adapter");
    const adapter = createAdapter(pubClient, {
      streamName: STREAM_NAME,
      streamCount: Number(env.STREAM_COUNT || 1),
      maxLen: STREAM_MAXLEN,
      readCount: STREAM_READ_COUNT,
      channelPrefix: KEY,
      useShardedPubSub: env.STREAMS_SHARDED === "1",
    });
    return { adapter, clients: [pubClient] };
  }
  const subClient = pubClient.duplicate();
  subClient.on("error", (err) => console.error(`[${NODE_ID}] redis sub error:`, err.message));
  await Promise.all([pubClient.connect(), subClient.connect()]);
  if (ADAPTER === "sharded") {
    const { createShardedAdapter } = require("@socket.io/redis-adapter");
    const adapter = createShardedAdapter(pubClient, subClient, {
      channelPrefix: KEY,
      subscriptionMode: SHARDED_MODE,
    });
    return { adapter, clients: [pubClient, subClient] };
  }
  const { createAdapter } = require("@socket.io/redis-adapter");
  const adapter = createAdapter(pubClient, subClient, {
    key: KEY,
    requestsTimeout: REQUESTS_TIMEOUT,
    publishOnSpecificResponseChannel: PSRC,
  });
  return { adapter, clients: [pubClient, subClient] };
}

/**
 * Messages the sharded adapters of this node received from Redis (`redisReceived` of
 * `bench:stats`; null with the other adapters): calls of each namespace adapter's
 * `onRawMessage`, the handler of every channel it SSUBSCRIBEs.
 */
let redisReceived = ADAPTER === "sharded" ? 0 : null;
function countReceived(adapter) {
  if (redisReceived === null || typeof adapter.onRawMessage !== "function") return;
  const onRawMessage = adapter.onRawMessage.bind(adapter);
  adapter.onRawMessage = (message, channel) => {
    redisReceived++;
    return onRawMessage(message, channel);
  };
}

/** An object payload; a missing one is `{}`. */
function obj(p, event) {
  if (p === undefined || p === null) return {};
  if (typeof p !== "object" || Array.isArray(p)) throw new Error(`${event}: the payload must be an object`);
  return p;
}

/** A room argument: a string, a number or an array of them; missing means none. */
function roomList(v) {
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v : [v];
}

/** Applies `rooms` / `except` of a request payload to a namespace or broadcast operator. */
function narrow(op, p) {
  const rooms = roomList(p && p.rooms);
  const except = roomList(p && p.except);
  if (rooms.length) op = op.to(rooms);
  if (except.length) op = op.except(except);
  return op;
}

function describeSocket(s) {
  return { id: s.id, rooms: [...s.rooms], data: s.data };
}

function errorMessage(err) {
  if (err && typeof err.message === "string") return err.message;
  return String(err);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const tick = () => new Promise((resolve) => setImmediate(resolve));

/** Resolves with the promise's value, or rejects after `ms`. */
function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function main() {
  const { adapter, clients } = await buildAdapter();
  const httpServer = http.createServer();
  const opts = { serveClient: false, cors: { origin: "*" } };
  if (adapter) opts.adapter = adapter;
  if (PARSER === "msgpack") opts.parser = require("socket.io-msgpack-parser");
  if (ADAPTER === "streams") {
    opts.connectionStateRecovery = { maxDisconnectionDuration: 2 * 60 * 1000, skipMiddlewares: true };
  }
  const io = new Server(httpServer, opts);

  for (const name of NAMESPACES) {
    countReceived(io.of(name).adapter);
    setupNamespace(io, io.of(name));
  }

  await new Promise((resolve, reject) => {
    httpServer.once("error", reject);
    httpServer.listen(PORT, "127.0.0.1", () => {
      httpServer.off("error", reject);
      resolve();
    });
  });

  let closing = false;
  const shutdown = async (signal) => {
    if (closing) return;
    closing = true;
    log(`${signal}: closing`);
    const force = setTimeout(() => {
      console.error(`[${NODE_ID}] shutdown took too long, exiting`);
      process.exit(1);
    }, 5000);
    force.unref();
    try {
      await io.close();
    } catch (err) {
      console.error(`[${NODE_ID}] io.close:`, errorMessage(err));
    }
    for (const c of clients) {
      try {
        if (c.isOpen !== false) await c.quit();
      } catch (err) {
        console.error(`[${NODE_ID}] redis quit:`, errorMessage(err));
      }
    }
    process.exit(0);
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));

  process.stdout.write(`READY ${JSON.stringify({
    node: NODE_ID,
    port: PORT,
    adapter: ADAPTER,
    runtime: "node",
    pid: process.pid,
    parser: PARSER,
    namespaces: NAMESPACES,
  })}\n`);
}

function setupNamespace(io, nsp) {
  const sseLog = [];

  // Server-side events from other nodes (or an emitter): log them, acknowledge if asked.
  nsp.on(SSE_EVENT, (...args) => {
    const cb = typeof args[args.length - 1] === "function" ? args.pop() : null;
    sseLog.push({ nsp: nsp.name, args });
    log(`${nsp.name} ${SSE_EVENT}`, JSON.stringify(args), cb ? "(ack)" : "");
    if (cb) cb({ node: NODE_ID, nsp: nsp.name, args });
  });

  nsp.on("connection", (socket) => {
    const auth = socket.handshake.auth || {};
    if (!socket.recovered) socket.data = { node: NODE_ID, name: auth.name ?? null };
    log(`${nsp.name} connect ${socket.id} name=${socket.data && socket.data.name}`);
    socket.on("disconnect", (reason) => log(`${nsp.name} disconnect ${socket.id} ${reason}`));

    // Registers a client→server event whose last argument is the acknowledgement. The
    // acknowledgement is always called: with the handler's result, or {error} on failure.
    const handle = (event, fn) => {
      socket.on(event, async (...args) => {
        const ack = typeof args[args.length - 1] === "function" ? args.pop() : () => {};
        const payload = args[0];
        if (!QUIET) log(`${nsp.name} ${socket.id} ${event}`, String(JSON.stringify(payload)).slice(0, 300));
        let result;
        try {
          result = await fn(payload);
        } catch (err) {
          log(`${nsp.name} ${event} failed: ${errorMessage(err)}`);
          result = { error: errorMessage(err) };
        }
        ack(result);
      });
    };

    handle("info", () => ({
      node: NODE_ID,
      sid: socket.id,
      nsp: nsp.name,
      adapter: ADAPTER,
      runtime: "node",
      pid: process.pid,
      rooms: [...socket.rooms],
    }));

    handle("join", async (rooms) => {
      await socket.join(roomList(rooms));
      return [...socket.rooms];
    });

    handle("leave", async (rooms) => {
      for (const r of roomList(rooms)) await socket.leave(r);
      return [...socket.rooms];
    });

    handle("broadcast", (p) => {
      p = obj(p, "broadcast");
      if (typeof p.event !== "string") throw new Error("broadcast: `event` must be a string");
      let op = p.fromSocket ? socket.broadcast : nsp.to([]);
      op = narrow(op, p);
      if (p.volatile) op = op.volatile;
      const args = Array.isArray(p.args) ? [...p.args] : [];
      if (p.binary !== undefined && p.binary !== null) args.push(Buffer.from(p.binary, "base64"));
      op.emit(p.event, ...args);
      return true;
    });

    handle("broadcastWithAck", (p) => {
      p = obj(p, "broadcastWithAck");
      if (typeof p.event !== "string") throw new Error("broadcastWithAck: `event` must be a string");
      const timeout = Number(p.timeout ?? REQUESTS_TIMEOUT);
      const args = Array.isArray(p.args) ? [...p.args] : [];
      if (p.binary !== undefined && p.binary !== null) args.push(Buffer.from(p.binary, "base64"));
      const op = narrow(nsp.to([]), p).timeout(timeout);
      return new Promise((resolve) => {
        op.emit(p.event, ...args, (err, responses) => {
          resolve({ err: err ? errorMessage(err) : null, responses: responses ?? [] });
        });
      });
    });

    handle("fetchSockets", async (p) => {
      p = obj(p, "fetchSockets");
      const sockets = await withTimeout(
        narrow(nsp.to([]), p).fetchSockets(), REQUESTS_TIMEOUT + 1000, "fetchSockets");
      return sockets.map(describeSocket);
    });

    handle("socketsJoin", (p) => {
      p = obj(p, "socketsJoin");
      narrow(nsp.to([]), p).socketsJoin(roomList(p.join));
      return true;
    });

    handle("socketsLeave", (p) => {
      p = obj(p, "socketsLeave");
      const op = narrow(nsp.to([]), p);
      // socket.io's BroadcastOperator#socketsLeave takes one room or an array
      op.socketsLeave(roomList(p.leave));
      return true;
    });

    handle("disconnectSockets", (p) => {
      p = obj(p, "disconnectSockets");
      narrow(nsp.to([]), p).disconnectSockets(Boolean(p.close));
      return true;
    });

    handle("serverSideEmit", async (p) => {
      p = obj(p, "serverSideEmit");
      const event = p.event ?? SSE_EVENT;
      const args = Array.isArray(p.args) ? [...p.args] : [];
      if (!p.withAck) {
        nsp.serverSideEmit(event, ...args);
        return true;
      }
      try {
        const responses = await withTimeout(
          nsp.serverSideEmitWithAck(event, ...args), REQUESTS_TIMEOUT + 1000, "serverSideEmitWithAck");
        return { err: null, responses };
      } catch (err) {
        return { err: errorMessage(err), responses: err.responses ?? [] };
      }
    });

    handle("sseLog", () => sseLog);

    handle("bench:emit", async (p) => {
      p = obj(p, "bench:emit");
      const target = io.of(p.nsp ?? nsp.name);
      const count = Number(p.count ?? 0);
      const rate = Number(p.rate ?? 0);
      const batch = Math.max(1, Number(p.batch ?? 1));
      const event = p.event ?? "bench";
      const payload = "x".repeat(Number(p.size ?? 0));
      const rooms = roomList(p.rooms);
      const op = rooms.length ? target.to(rooms) : target.to([]);
      const start = performance.now();
      let s = 0;
      let errors = 0;
      while (s < count) {
        const n = Math.min(batch, count - s);
        for (let i = 0; i < n; i++) {
          // A broadcast that fails does not stop the run (PEER-NODE.md); the Node
          // adapter's publish is not awaited, so only a synchronous throw counts.
          try {
            op.emit(event, { s, t: performance.timeOrigin + performance.now(), p: payload });
          } catch {
            errors++;
          }
          s++;
        }
        if (rate > 0) {
          const due = start + (s / rate) * 1000;
          const wait = due - performance.now();
          if (wait > 1) await sleep(wait);
          else await tick();
        } else {
          await tick();
        }
      }
      return { sent: s - errors, ms: performance.now() - start, errors };
    });

    handle("bench:stats", () => {
      const cpu = process.cpuUsage();
      return {
        node: NODE_ID,
        pid: process.pid,
        cpuUserUs: cpu.user,
        cpuSysUs: cpu.system,
        rss: process.memoryUsage().rss,
        clients: io.engine.clientsCount,
        redisReceived,
      };
    });
  });
}

main().catch((err) => fatal("start-up failed", err));
