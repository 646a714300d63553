// The classic interop suite (classic-interop.test.js) on a 3-primary + 3-replica Redis
// Cluster: Rust peer nodes with REDIS_CLUSTER=1 and the seeds in REDIS_URL, Node peer
// nodes (socket.io 4.8, @socket.io/redis-adapter 8.3) on a node-redis cluster client;
// every check both ways, both parsers, with and without the specific response channel
// (~30 s). E2E_PARSERS, E2E_SPECIFIC_RESPONSE_CHANNEL and E2E_RUNTIMES narrow it.
"use strict";
process.env.E2E_REDIS_CLUSTER = "1";
require("./classic-interop.test.js");
