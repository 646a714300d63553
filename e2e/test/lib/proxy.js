// A TCP proxy on a free loopback port that can stop forwarding without closing anything,
// as a network that drops every packet does (a half-open connection: no FIN, no reset).
// The JavaScript twin of sio-redis-testkit's StallProxy, for the peer-node fault tests.
"use strict";

const net = require("node:net");

/**
 * Starts a proxy to 127.0.0.1:`targetPort`. `stall()`: every open connection stops
 * forwarding for good (held open, never closed) and connections accepted meanwhile are
 * held too; `resume()`: new connections are forwarded again. `close()` ends everything.
 * Resolves with {port, url, stall(), resume(), close()}.
 */
async function startStallProxy(targetPort) {
  let stalled = false;
  let epoch = 0;
  const sockets = new Set();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    client.on("error", () => {});
    const mine = stalled ? -1 : epoch; // made during a stall: dead from the start
    const upstream = net.connect(targetPort, "127.0.0.1");
    sockets.add(upstream);
    upstream.on("close", () => sockets.delete(upstream));
    upstream.on("error", () => client.destroy());
    client.on("error", () => upstream.destroy());
    const forward = (from, to) => {
      from.on("data", (chunk) => {
        if (mine !== epoch) {
          from.pause(); // nothing more is read, nothing is closed
          return;
        }
        // Backpressure: a reader that stops reading makes us stop reading too, so
        // that the buffering happens where it would without the proxy (Redis's
        // output buffer).
        if (!to.write(chunk)) {
          from.pause();
          to.once("drain", () => { if (mine === epoch) from.resume(); });
        }
      });
      from.on("end", () => { if (mine === epoch) to.end(); });
    };
    forward(client, upstream);
    forward(upstream, client);
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    stall() { stalled = true; epoch += 1; },
    resume() { stalled = false; },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

module.exports = { startStallProxy };
