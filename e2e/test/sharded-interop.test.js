// The interop suite (classic-interop.test.js) with the sharded adapter
// (@socket.io/redis-adapter 8.3 createShardedAdapter on the Node nodes, sio_redis's
// ShardedAdapter on the Rust nodes) on a private standalone redis-server 7, in each
// subscription mode: every check both ways, both parsers. E2E_SHARDED_MODES narrows the
// modes (comma-separated); E2E_PARSERS and E2E_RUNTIMES as in the classic suite.
"use strict";
process.env.E2E_ADAPTER = "sharded";
const modes = (process.env.E2E_SHARDED_MODES || "static,dynamic,dynamic-private").split(",");
for (const mode of modes) {
  process.env.SHARDED_MODE = mode.trim();
  // a fresh copy of the suite per mode (it reads its settings when loaded)
  delete require.cache[require.resolve("./classic-interop.test.js")];
  require("./classic-interop.test.js");
}
