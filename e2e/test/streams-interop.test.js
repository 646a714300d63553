// The interop suite (classic-interop.test.js) with the streams adapter
// (@socket.io/redis-streams-adapter 0.3 on the Node nodes, with connection state recovery;
// sio_redis's StreamsAdapter on the Rust nodes) on a private standalone redis-server, with
// streamCount 1 and 3: every check both ways, both parsers. E2E_STREAM_COUNTS narrows the
// counts (comma-separated); E2E_PARSERS and E2E_RUNTIMES as in the classic suite.
"use strict";
process.env.E2E_ADAPTER = "streams";
for (const count of (process.env.E2E_STREAM_COUNTS || "1,3").split(",")) {
  process.env.STREAM_COUNT = count.trim();
  // a fresh copy of the suite per count (it reads its settings when loaded)
  delete require.cache[require.resolve("./classic-interop.test.js")];
  require("./classic-interop.test.js");
}
