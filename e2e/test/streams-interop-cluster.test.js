// The streams interop suite (streams-interop.test.js) on a 3-primary + 3-replica Redis
// Cluster: Rust peer nodes with REDIS_CLUSTER=1, Node peer nodes on a node-redis cluster
// client; streamCount 1 and 3, both parsers.
"use strict";
process.env.E2E_REDIS_CLUSTER = "1";
require("./streams-interop.test.js");
