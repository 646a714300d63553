"use strict";

const { describe } = require("./js-literal");

// Fixed payloads and fixtures shared by the scenarios. Everything here is a constant: no
// Date.now(), no randomness.

function pattern(length, mul, add) {
  const b = Buffer.alloc(length);
  for (let i = 0; i < length; i++) b[i] = (i * mul + add) & 0xff;
  return b;
}

const buffers = {
  empty: Buffer.alloc(0), // bin8, length 0
  three: Buffer.from([1, 2, 3]), // bin8
  b300: describe(pattern(300, 7, 3), "bytes(300) /* byte i = (7*i + 3) & 0xff */"), // bin16
  b70000: describe(pattern(70000, 13, 5), "bytes(70000) /* byte i = (13*i + 5) & 0xff */"), // bin32
  u8: new Uint8Array([10, 20, 30, 250]), // typed array, written as bin
};

const dates = {
  wholeSeconds: new Date(Date.UTC(2024, 0, 15, 12, 30, 45)), // timestamp 32
  withMillis: new Date(Date.UTC(2024, 0, 15, 12, 30, 45, 678)), // timestamp 64
  before1970: new Date(Date.UTC(1969, 6, 20, 20, 17, 40)), // timestamp 96 (negative seconds)
  before1970Millis: new Date(-1), // 1969-12-31T23:59:59.999Z, timestamp 96
  after2514: new Date(Date.UTC(2600, 0, 1)), // seconds >= 2^34, timestamp 96
};

const strings = {
  empty: "",
  ascii31: "abcdefghijklmnopqrstuvwxyz01234", // 31 bytes: largest fixstr
  ascii32: "abcdefghijklmnopqrstuvwxyz012345", // 32 bytes: smallest str8
  accents: "héllo wörld, ça va ?",
  cjk: "日本語のテキスト",
  emoji: "🎉🚀👍",
  long: "Grüße aus Zürich — 你好世界 — 👋🌍 — ok", // > 40 bytes, str8
  s300: "0123456789".repeat(30), // str16
};

const ints = [
  0, 1, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32 + 1, 2 ** 53 - 1,
  -1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, -(2 ** 40), -0,
];

const floats = [2.5, -0.1, 1e-7, 123456.789, -1.5e300, 5e-324];

const nested = {
  user: {
    id: 42,
    name: "bob",
    roles: ["admin", "dev"],
    profile: { age: 30, verified: true, score: 9.5, address: null },
  },
  list: [[1, [2, [3]]], { deep: { deeper: { deepest: "yes" } } }],
};

const empties = { arr: [], obj: {}, nestedEmpty: [[], {}, [[]], { a: {} }] };

const withUndefined = { a: 1, b: undefined, c: "x", d: [1, undefined, 3] };

const array16 = Array.from({ length: 20 }, (_, i) => i * i); // array16 (>= 16 elements)

const map16 = Object.fromEntries(
  Array.from({ length: 17 }, (_, i) => [`k${String(i).padStart(2, "0")}`, i % 2 ? `v${i}` : i])
); // map16 (>= 16 keys)

// --- sockets --------------------------------------------------------------------------

function handshake(overrides) {
  return Object.assign(
    {
      headers: {
        host: "localhost:3000",
        connection: "Upgrade",
        upgrade: "websocket",
        "sec-websocket-version": "13",
        "user-agent": "golden-vectors/1.0",
      },
      time: "Sun Nov 22 2026 11:16:41 GMT+0000 (Coordinated Universal Time)",
      address: "::ffff:127.0.0.1",
      xdomain: false,
      secure: false,
      issued: 1795346201351,
      url: "/socket.io/?EIO=4&transport=websocket",
      query: { EIO: "4", transport: "websocket" },
      auth: {},
    },
    overrides
  );
}

const SID = {
  A: "AAAAAAAAAAAAAAAAAAAA",
  B1: "BBBBBBBBBBBBBBBBBBBA",
  B2: "BBBBBBBBBBBBBBBBBBBB",
  Bchat: "BBBBBBBBBBBBBBBBBBBC",
};

// server A: one socket; server B: two sockets in "/" and one in "/chat"
function socketsA() {
  return [
    { nsp: "/", id: SID.A, rooms: ["room1"], handshake: handshake(), data: { user: "alice" } },
  ];
}

function socketsB() {
  return [
    {
      nsp: "/",
      id: SID.B1,
      rooms: ["room1", "room2"],
      handshake: handshake({ issued: 1795346201402 }),
      data: { user: "bob" },
    },
    {
      nsp: "/",
      id: SID.B2,
      rooms: ["room3", "salle-été"],
      handshake: handshake({
        headers: {
          host: "example.com",
          "user-agent": "Mozilla/5.0",
          "accept-language": "fr-FR,fr;q=0.9",
          cookie: "io=abc; lang=fr",
        },
        time: "Sun Nov 22 2026 11:16:42 GMT+0000 (Coordinated Universal Time)",
        address: "203.0.113.7",
        xdomain: true,
        secure: true,
        issued: 1795346202001,
        url: "/socket.io/?EIO=4&transport=polling&t=Pabc&nom=%C3%A9t%C3%A9",
        query: { EIO: "4", transport: "polling", t: "Pabc", nom: "été" },
        auth: { token: "jwt.abc.def" },
      }),
      data: {
        user: "carol",
        score: 9.75,
        avatar: Buffer.from([0xde, 0xad, 0xbe, 0xef]),
        since: dates.withMillis,
        nickname: undefined,
        tags: [],
      },
    },
    {
      nsp: "/chat",
      id: SID.Bchat,
      rooms: ["lobby"],
      handshake: handshake({ issued: 1795346203000, url: "/socket.io/?EIO=4&transport=websocket" }),
      data: {},
    },
  ];
}

module.exports = {
  buffers,
  dates,
  strings,
  ints,
  floats,
  nested,
  empties,
  withUndefined,
  array16,
  map16,
  SID,
  socketsA,
  socketsB,
};
