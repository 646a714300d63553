//! The error type of every fallible testkit call.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Why a testkit operation failed.
///
/// Each variant says what failed and carries what a test author needs to see
/// to fix it: the install hint, the tail of the server log, the output of
/// `redis-cli --cluster create`. None of these failures is worth retrying
/// automatically except [`TestkitError::Io`] during a restart or a failover.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestkitError {
    /// The binary (`redis-server` or `redis-cli`) is not on `PATH`.
    #[error("`{binary}` was not found on PATH; install it, e.g. `apt-get install -y redis-server`")]
    BinaryNotFound {
        /// The program name that was looked up.
        binary: String,
    },

    /// The binary exists but could not be started.
    #[error("could not run `{binary}`")]
    Spawn {
        /// The program name.
        binary: String,
        /// The error from `std::process::Command::spawn`.
        #[source]
        source: io::Error,
    },

    /// A builder option was rejected (port 6379, fewer than 3 cluster
    /// primaries, an out-of-range index…).
    #[error("invalid testkit configuration: {0}")]
    InvalidConfig(String),

    /// The temporary directory or a file in it could not be created.
    #[error("could not prepare {path}")]
    TempDir {
        /// The directory or file that failed.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },

    /// Signalling or reaping a `redis-server` or `redis-cli` process failed.
    #[error("could not {action} process {pid}")]
    Process {
        /// The process id.
        pid: u32,
        /// What the kit tried: `signal`, `wait for`.
        action: &'static str,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },

    /// No free loopback port could be found (each candidate was taken, or
    /// `redis-server` lost the race for it).
    #[error("no free loopback port found after {attempts} attempts")]
    NoFreePort {
        /// How many ports were tried.
        attempts: u32,
    },

    /// `redis-server` exited before it answered `PING`.
    #[error("redis-server on port {port} exited during startup ({status}); log tail:\n{log_tail}")]
    Exited {
        /// The port it was asked to listen on.
        port: u16,
        /// The exit status, as printed by `std::process::ExitStatus`.
        status: String,
        /// The last lines of its stdout/stderr capture and log file.
        log_tail: String,
    },

    /// `redis-server` is still running but did not answer `PING` (with `PONG`
    /// or `NOAUTH`) before the deadline.
    #[error(
        "redis-server on port {port} did not answer within {waited_ms} ms; log tail:\n{log_tail}"
    )]
    NotReady {
        /// The port it listens on.
        port: u16,
        /// How long the kit waited, in milliseconds.
        waited_ms: u128,
        /// The last lines of its stdout/stderr capture and log file.
        log_tail: String,
    },

    /// The operation needs a running server, but it was stopped.
    #[error("redis-server on port {port} is not running")]
    NotRunning {
        /// The port of the stopped server.
        port: u16,
    },

    /// Connecting to, writing to or reading from a server failed.
    #[error("I/O error talking to redis at {addr}")]
    Io {
        /// The server address.
        addr: SocketAddr,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },

    /// The server sent bytes that are not valid RESP.
    #[error("invalid RESP from {addr}: {detail}")]
    Protocol {
        /// The server address.
        addr: SocketAddr,
        /// What was wrong.
        detail: String,
    },

    /// A command the kit sends for its own bookkeeping got a reply it did not
    /// expect (an error reply, or the wrong shape).
    #[error("unexpected reply from {addr} to `{command}`: {reply}")]
    UnexpectedReply {
        /// The server address.
        addr: SocketAddr,
        /// The command name.
        command: String,
        /// The reply, in `Debug` form.
        reply: String,
    },

    /// `redis-cli --cluster create` failed or did not finish in time.
    #[error("`redis-cli --cluster create` failed ({status}); output:\n{output}")]
    ClusterCreate {
        /// The exit status, or why the kit stopped waiting.
        status: String,
        /// Its combined stdout and stderr.
        output: String,
    },

    /// The cluster did not reach the awaited state before the deadline
    /// (after creation, or after a failover).
    #[error("redis cluster not ready after {waited_ms} ms: {detail}")]
    ClusterNotReady {
        /// How long the kit waited, in milliseconds.
        waited_ms: u128,
        /// The last unmet condition, e.g. `node 127.0.0.1:40001: cluster_state:fail`.
        detail: String,
    },
}

/// Result alias used throughout the testkit.
pub type Result<T, E = TestkitError> = std::result::Result<T, E>;
