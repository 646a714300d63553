"use strict";

// Deterministic replacement for crypto.randomBytes.
//
// Every id the packages draw comes from crypto.randomBytes:
//   * uid2 (classic adapter uid and request ids):  `var crypto = require('crypto'); crypto.randomBytes(n)`
//   * socket.io-adapter ClusterAdapter uid / request ids: `const crypto_1 = require("crypto");
//     (0, crypto_1.randomBytes)(8).toString("hex")`
// Both look the property up on the shared `crypto` module object at call time, so replacing
// the property on that object is enough. This module must still be required BEFORE any
// package, so that nothing can keep a reference to the original function.
//
// The byte stream is SHA-256(seed || 0x00 || counter) blocks. `reseed(label)` restarts the
// stream, so the ids drawn by one scenario do not depend on the scenarios before it.

const crypto = require("crypto");

const original = crypto.randomBytes;
let seed = "";
let counter = 0;
let pool = Buffer.alloc(0);
let draws = 0;

function reseed(label) {
  seed = String(label);
  counter = 0;
  pool = Buffer.alloc(0);
}

function take(size) {
  while (pool.length < size) {
    const block = crypto
      .createHash("sha256")
      .update(`${seed}\u0000${counter++}`)
      .digest();
    pool = Buffer.concat([pool, block]);
  }
  const out = Buffer.from(pool.subarray(0, size));
  pool = pool.subarray(size);
  return out;
}

function seededRandomBytes(size, callback) {
  draws++;
  const bytes = take(size);
  if (typeof callback === "function") {
    process.nextTick(callback, null, bytes);
    return undefined;
  }
  return bytes;
}

function install() {
  if (crypto.randomBytes !== seededRandomBytes) {
    crypto.randomBytes = seededRandomBytes;
  }
  reseed("init");
}

/** Number of calls that went through the seeded generator (used to prove the patch works). */
function drawCount() {
  return draws;
}

module.exports = { install, reseed, take, drawCount, original };
