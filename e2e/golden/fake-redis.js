"use strict";

// A tiny in-memory stand-in for a Redis server plus node-redis v4 style clients.
//
// The adapters detect node-redis v4 by `typeof client.pSubscribe === "function"` (classic
// adapter) or `typeof client.sSubscribe === "function"` (sharded adapter, streams adapter),
// so the fake client implements that API: pSubscribe / subscribe / sSubscribe with a
// listener and `bufferMode` true (listener(message: Buffer, channel: Buffer)), publish,
// sPublish, sendCommand(["PUBSUB", "NUMSUB" | "SHARDNUMSUB", channel]), xAdd, xRead, xRange,
// set, multi, duplicate, connect.
//
// PUBLISH / SPUBLISH really route the message to the subscribed fake clients (asynchronously,
// with setImmediate, like a network round trip), so a second Socket.IO server on the same
// FakeRedis answers requests with the real package code. NUMSUB/SHARDNUMSUB count the
// subscribed clients, like Redis. Every write command (PUBLISH, SPUBLISH, XADD, SET) is
// appended to `log` exactly as the package passed it.

const { EventEmitter } = require("events");

function globToRegExp(pattern) {
  let re = "^";
  for (const ch of pattern) {
    if (ch === "*") re += ".*";
    else if (ch === "?") re += ".";
    else re += ch.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(re + "$", "s");
}

function toBuffer(value) {
  if (Buffer.isBuffer(value)) return value;
  if (typeof value === "string") return Buffer.from(value, "utf8");
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  throw new TypeError(`unexpected payload type ${Object.prototype.toString.call(value)}`);
}

class FakeRedis {
  constructor(name) {
    this.name = name;
    this.log = [];
    this.inflight = 0;
    this.channels = new Map(); // channel -> Map<client, listener[]>
    this.patterns = new Map(); // pattern -> { re, subs: Map<client, listener[]> }
    this.shardChannels = new Map(); // channel -> Map<client, listener[]>
    this.streams = new Map(); // key -> [{ id, message }]
    this.kv = new Map();
    this.clock = 1795346230000; // fixed stream-id clock
    this.seq = 0;
    this.clientCount = 0;
  }

  client(name) {
    return new FakeRedisClient(this, name || `client${++this.clientCount}`);
  }

  record(client, entry) {
    this.log.push(Object.assign({ client: client.name }, entry));
  }

  /** Calls fn later (next macrotask), counting it as "in flight" until it ran. */
  later(fn) {
    this.inflight++;
    setImmediate(() => {
      this.inflight--;
      fn();
    });
  }

  static addSub(map, key, client, listener) {
    if (!map.has(key)) map.set(key, new Map());
    const subs = map.get(key);
    if (!subs.has(client)) subs.set(client, []);
    subs.get(client).push(listener);
  }

  static removeSub(map, key, client, listener) {
    const subs = map.get(key);
    if (!subs || !subs.has(client)) return;
    if (listener) {
      const list = subs.get(client).filter((l) => l !== listener);
      if (list.length) subs.set(client, list);
      else subs.delete(client);
    } else {
      subs.delete(client);
    }
    if (subs.size === 0) map.delete(key);
  }

  deliver(subs, message, channel) {
    let receivers = 0;
    if (!subs) return receivers;
    for (const [, listeners] of subs) {
      receivers++;
      for (const listener of listeners) {
        this.later(() => listener(Buffer.from(message), Buffer.from(channel)));
      }
    }
    return receivers;
  }

  publish(channel, payload) {
    const message = toBuffer(payload);
    let receivers = this.deliver(this.channels.get(channel), message, channel);
    for (const [, { re, subs }] of this.patterns) {
      if (re.test(channel)) receivers += this.deliver(subs, message, channel);
    }
    return receivers;
  }

  sPublish(channel, payload) {
    return this.deliver(this.shardChannels.get(channel), toBuffer(payload), channel);
  }

  numsub(map, channel) {
    const subs = map.get(channel);
    return subs ? subs.size : 0;
  }

  nextStreamId() {
    return `${this.clock}-${this.seq++}`;
  }
}

class FakeRedisClient extends EventEmitter {
  constructor(server, name) {
    super();
    this.server = server;
    this.name = name;
    this.duplicates = 0;
    this.isOpen = false;
  }

  duplicate() {
    return new FakeRedisClient(this.server, `${this.name}.dup${++this.duplicates}`);
  }

  async connect() {
    this.isOpen = true;
    return this;
  }

  async disconnect() {
    this.isOpen = false;
  }

  async quit() {
    this.isOpen = false;
  }

  // --- pub/sub (node-redis v4 signatures) ---------------------------------------------

  async subscribe(channels, listener /*, bufferMode */) {
    for (const channel of [].concat(channels)) {
      FakeRedis.addSub(this.server.channels, channel, this, listener);
    }
  }

  async unsubscribe(channels, listener) {
    for (const channel of [].concat(channels)) {
      FakeRedis.removeSub(this.server.channels, channel, this, listener);
    }
  }

  async pSubscribe(patterns, listener /*, bufferMode */) {
    for (const pattern of [].concat(patterns)) {
      if (!this.server.patterns.has(pattern)) {
        this.server.patterns.set(pattern, { re: globToRegExp(pattern), subs: new Map() });
      }
      const entry = this.server.patterns.get(pattern);
      if (!entry.subs.has(this)) entry.subs.set(this, []);
      entry.subs.get(this).push(listener);
    }
  }

  async pUnsubscribe(patterns, listener) {
    for (const pattern of [].concat(patterns)) {
      const entry = this.server.patterns.get(pattern);
      if (!entry) continue;
      const map = new Map([[pattern, entry.subs]]);
      FakeRedis.removeSub(map, pattern, this, listener);
      if (!entry.subs.size) this.server.patterns.delete(pattern);
    }
  }

  async sSubscribe(channels, listener /*, bufferMode */) {
    for (const channel of [].concat(channels)) {
      FakeRedis.addSub(this.server.shardChannels, channel, this, listener);
    }
  }

  async sUnsubscribe(channels, listener) {
    for (const channel of [].concat(channels)) {
      FakeRedis.removeSub(this.server.shardChannels, channel, this, listener);
    }
  }

  publish(channel, message) {
    this.server.record(this, { command: "PUBLISH", target: channel, payload: message });
    return Promise.resolve(this.server.publish(channel, message));
  }

  sPublish(channel, message) {
    this.server.record(this, { command: "SPUBLISH", target: channel, payload: message });
    return Promise.resolve(this.server.sPublish(channel, message));
  }

  sendCommand(args) {
    const [cmd, sub, channel] = args.map(String);
    if (cmd.toUpperCase() === "PUBSUB" && sub.toUpperCase() === "NUMSUB") {
      return Promise.resolve([channel, this.server.numsub(this.server.channels, channel)]);
    }
    if (cmd.toUpperCase() === "PUBSUB" && sub.toUpperCase() === "SHARDNUMSUB") {
      return Promise.resolve([channel, this.server.numsub(this.server.shardChannels, channel)]);
    }
    return Promise.reject(new Error(`fake redis: unsupported command ${args.join(" ")}`));
  }

  // --- streams --------------------------------------------------------------------------

  xAdd(key, id, message, options) {
    const args = [];
    if (options && options.TRIM) {
      const { strategy, strategyModifier, threshold } = options.TRIM;
      args.push(String(strategy));
      if (strategyModifier) args.push(String(strategyModifier));
      args.push(String(threshold));
    }
    if (id !== "*") throw new Error(`fake redis: unexpected XADD id ${id}`);
    const fields = Object.entries(message).map(([k, v]) => {
      if (typeof v !== "string") {
        throw new Error(`fake redis: XADD field ${k} is not a string (${typeof v})`);
      }
      return [k, v];
    });
    this.server.record(this, { command: "XADD", target: key, fields, args });
    const entryId = this.server.nextStreamId();
    if (!this.server.streams.has(key)) this.server.streams.set(key, []);
    this.server.streams.get(key).push({ id: entryId, message: Object.fromEntries(fields) });
    return Promise.resolve(entryId);
  }

  xRead() {
    // The reading loop is not needed: stream entries carry no replies. Never resolve, so the
    // adapter's poll loop simply stays parked (a pending promise keeps nothing alive).
    return new Promise(() => {});
  }

  xRange() {
    return Promise.resolve([]);
  }

  // --- keys -----------------------------------------------------------------------------

  set(key, value, options) {
    const args = [];
    if (options && options.PX !== undefined) args.push("PX", String(options.PX));
    if (options && options.EX !== undefined) args.push("EX", String(options.EX));
    this.server.record(this, { command: "SET", target: key, payload: value, args });
    this.server.kv.set(key, value);
    return Promise.resolve("OK");
  }

  get(key) {
    return Promise.resolve(this.server.kv.has(key) ? this.server.kv.get(key) : null);
  }

  multi() {
    const ops = [];
    const self = this;
    const chain = {
      get(key) {
        ops.push(() => (self.server.kv.has(key) ? self.server.kv.get(key) : null));
        return chain;
      },
      del(key) {
        ops.push(() => (self.server.kv.delete(key) ? 1 : 0));
        return chain;
      },
      exec() {
        return Promise.resolve(ops.map((op) => op()));
      },
    };
    return chain;
  }
}

module.exports = { FakeRedis, FakeRedisClient, toBuffer };
