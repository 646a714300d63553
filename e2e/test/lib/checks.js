// Pieces shared by the check tables of classic-interop.test.js and emitter.test.js.
"use strict";
const assert = require("node:assert");
const { waitFor } = require("./cluster");

/** Runs `fn` on the clients `names` of node `target` (one after another). */
async function each(ctx, target, names, fn) {
  const cs = ctx.clientsOf(target);
  for (const n of names) await fn(cs[n]);
}

/** `n` deterministic bytes for sequence `seq` (binary-argument checks). */
function bytesFor(seq, n = 300) {
  return Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + seq) & 255));
}

/**
 * After a disconnectSockets with `close: true` aimed at client `d`: `d` is disconnected;
 * on a Node node its whole Engine.IO connection closes (so `d2`, the same connection's
 * other namespace, goes too); `e`, not targeted, stays.
 */
async function verifyDisconnectWithClose({ d, e, d2 }, target, wait) {
  await waitFor(() => d.disconnects.length > 0, wait, `${d.name} to be disconnected`);
  if (target.runtime === "rust") {
    // Known limitation (README): socketioxide 0.18 gives an adapter no way to close a
    // socket's Engine.IO connection, so a Rust node disconnects the socket from the
    // namespace only; the connection and its other namespaces stay.
    assert.deepStrictEqual(d.disconnects, ["io server disconnect"]);
    assert.ok((await e.call("info")).sid === e.id && e.connected(), `${e.name} still connected`);
    return;
  }
  await waitFor(() => d2.disconnects.length > 0, wait, `${d2.name} (same connection) to be disconnected`);
  for (const c of [d, d2]) {
    // Node sends a DISCONNECT packet per namespace, then closes: "io server disconnect"
    assert.ok(["io server disconnect", "transport close"].includes(c.disconnects[0]),
      `${c.name} disconnect reason ${c.disconnects[0]}`);
  }
  await waitFor(() => !d.manager.engine || d.manager.engine.readyState === "closed", wait,
    `the Engine.IO connection of ${d.name} to be closed`);
  assert.ok((await e.call("info")).sid === e.id && e.connected(), `${e.name} still connected`);
}

module.exports = { each, bytesFor, verifyDisconnectWithClose };
