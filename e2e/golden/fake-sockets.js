"use strict";

// Real socket.io `Server` instances (never attached to an HTTP server, so nothing listens)
// populated with fake, fixed socket objects.
//
// A fake socket has everything the in-memory adapter touches: `id`, `handshake`, `data`,
// `rooms` (read from the adapter, like the real getter), `acks`, `client.writeToEngine()`,
// and no-op `join` / `leave` / `disconnect` (so that no scenario changes the room state seen
// by the next one). When a packet is written with acks pending (broadcast with ack), the
// socket answers each ack on the next macrotask with `server.replies.ack(socket, ...)`,
// like a client would after a round trip.

const { Server } = require("socket.io");

class FakeSocket {
  constructor(nsp, def, server) {
    this.nsp = nsp;
    this.server = nsp.server; // marks the socket as local for BroadcastOperator.fetchSockets()
    this.id = def.id;
    this.handshake = def.handshake;
    this.data = def.data;
    this.connected = true;
    this.acks = new Map();
    this.written = [];
    this.client = {
      writeToEngine: (encodedPackets, opts) => this.onWrite(encodedPackets, opts),
    };
    this._golden = server;
  }

  get rooms() {
    return new Set(this.nsp.adapter.socketRooms(this.id) || []);
  }

  onWrite(encodedPackets, opts) {
    this.written.push({ encodedPackets, opts });
    for (const [id, ack] of [...this.acks]) {
      this.acks.delete(id);
      const value = this._golden.replies.ack(this, id);
      this._golden.redis.later(() => ack(value));
    }
  }

  join() {}
  leave() {}
  disconnect() {}
}

/**
 * Creates a socket.io Server using `adapter`, with the namespaces and fake sockets given.
 *
 * @param {object} o
 * @param {string} o.name - "A", "B", ... (for notes)
 * @param {import("./fake-redis").FakeRedis} o.redis - the fake Redis the adapter talks to
 * @param {Function} o.adapter - adapter constructor/factory (createAdapter(...) result)
 * @param {string[]} o.namespaces - namespaces to create besides "/"
 * @param {object[]} o.sockets - [{ nsp, id, rooms, handshake, data }]
 * @param {object} [o.serverOptions] - extra socket.io Server options
 */
function createGoldenServer(o) {
  const io = new Server(
    Object.assign({ adapter: o.adapter, serveClient: false }, o.serverOptions || {})
  );
  const golden = {
    name: o.name,
    io,
    redis: o.redis,
    replies: {
      ack: (socket) => `client-ack:${socket.id}`,
      serverSideEmit: () => `pong-from-${o.name}`,
    },
  };
  for (const name of o.namespaces || []) io.of(name);
  for (const def of o.sockets || []) {
    const nsp = io.of(def.nsp || "/");
    const socket = new FakeSocket(nsp, def, golden);
    nsp.sockets.set(def.id, socket);
    nsp.adapter.addAll(def.id, new Set([def.id, ...(def.rooms || [])]));
  }
  // server-side emits with ack: answer with replies.serverSideEmit(event, args)
  for (const nsp of io._nsps.values()) {
    nsp.on("ping-servers", (...args) => {
      const cb = args[args.length - 1];
      if (typeof cb === "function") cb(golden.replies.serverSideEmit("ping-servers", args.slice(0, -1)));
    });
  }
  return golden;
}

module.exports = { createGoldenServer, FakeSocket };
