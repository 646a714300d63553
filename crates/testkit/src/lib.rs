//! Test fixtures for the sio-redis crates: real `redis-server` processes on
//! free loopback ports.
//!
//! * [`RedisServer`] – one standalone server, with options for passwords, ACL
//!   users and any other config; restartable on the same port, for reconnect
//!   tests.
//! * [`RedisCluster`] – a Redis Cluster (3 primaries + 3 replicas by default)
//!   created with `redis-cli --cluster create`, with a failover helper.
//! * [`RespConnection`] / [`RespValue`] – a tiny blocking RESP client to drive
//!   and inspect them.
//! * [`StallProxy`] – a TCP proxy that can stop forwarding without closing
//!   anything (half-open connections).
//! * [`key_slot`] – the cluster hash slot of a key.
//! * [`hex`] – hex text ↔ bytes, for golden vectors.
//! * [`proc`] – CPU time and RSS of a process, from `/proc`.
//!
//! Everything is synchronous (std only), so it works from sync tests and,
//! briefly blocking, from async ones. Servers run with no persistence, in a
//! temp dir of their own, never on port 6379. Dropping a fixture kills and
//! reaps its processes and removes its temp dir; when the test is failing
//! (the thread panics), each server's log tail is printed to stderr first.
//! Needs `redis-server` and `redis-cli` on `PATH` (tested with Redis 7.0);
//! use [`redis_server_available`] to skip tests where they are missing.
//!
//! ```no_run
//! use sio_redis_testkit::{RedisCluster, RedisServer, RespValue};
//!
//! # fn main() -> Result<(), sio_redis_testkit::TestkitError> {
//! let server = RedisServer::builder().password("secret").start()?;
//! assert_eq!(server.command(&["PING"])?, RespValue::Simple("PONG".into()));
//! let url = server.url(); // redis://127.0.0.1:<port>
//!
//! let cluster = RedisCluster::start()?;
//! let node = cluster.node_for_key(b"user:1")?;
//! assert!(node.command(&["SET", "user:1", "x"])?.is_ok());
//! # Ok(())
//! # }
//! ```

mod cluster;
mod error;
pub mod hex;
pub mod proc;
mod proxy;
mod resp;
mod server;
mod util;

pub use cluster::{RedisCluster, RedisClusterBuilder};
pub use error::{Result, TestkitError};
pub use proxy::StallProxy;
pub use resp::{RespConnection, RespValue};
pub use server::{RedisServer, RedisServerBuilder};
/// The cluster hash slot of a key (from `sio-redis-wire`, the project's one copy).
pub use sio_redis_transport::slot::{SLOT_COUNT, key_slot};

/// Whether `redis-server --version` runs: use it to skip tests on machines
/// without Redis.
pub fn redis_server_available() -> bool {
    util::binary_runs(server::REDIS_SERVER)
}

/// Whether `redis-cli --version` runs (needed by [`RedisCluster`]).
pub fn redis_cli_available() -> bool {
    util::binary_runs("redis-cli")
}
