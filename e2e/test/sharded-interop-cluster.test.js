// The sharded interop suite (sharded-interop.test.js) on a 3-primary + 3-replica Redis
// Cluster: Rust peer nodes with REDIS_CLUSTER=1 and the seeds in REDIS_URL, Node peer
// nodes on a node-redis cluster client; the three subscription modes, both parsers.
"use strict";
process.env.E2E_REDIS_CLUSTER = "1";
require("./sharded-interop.test.js");
