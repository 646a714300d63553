//! One `redis-server` process on a free loopback port.

use std::fmt;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{Result, TestkitError};
use crate::resp::{RespConnection, RespValue};
use crate::util::{self, POLL_INTERVAL, RESERVED_PORT, TempDir};

/// The program started for each server, looked up on `PATH`.
pub(crate) const REDIS_SERVER: &str = "redis-server";

/// Default of [`RedisServerBuilder::ready_timeout`]: 10 s.
const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long [`RedisServer::stop`] waits after SIGTERM before SIGKILL: 5 s.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// How many times a server is restarted on a new port after losing the race
/// for its first one.
const PORT_ATTEMPTS: u32 = 5;

/// Lines of each log printed to stderr when a test panics.
pub(crate) const PANIC_LOG_LINES: usize = 200;

/// Lines of log included in startup errors.
const ERROR_LOG_LINES: usize = 40;

/// The log line Redis writes once its listening sockets are bound.
const READY_LINE: &str = "Ready to accept connections";

/// Credentials the kit sends with `AUTH` before its own commands.
#[derive(Clone)]
pub(crate) struct Credentials {
    pub(crate) user: Option<String>,
    pub(crate) password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Options for [`RedisServer`]; created by [`RedisServer::builder`], consumed
/// by [`RedisServerBuilder::start`].
///
/// Every server runs with `--port P --bind 127.0.0.1 --protected-mode no
/// --save "" --appendonly no --dir <tempdir> --logfile <tempdir>/redis.log`
/// (no persistence, nothing outside its temp dir). Options added here come
/// after those, so they can override them.
#[derive(Debug, Clone)]
pub struct RedisServerBuilder {
    port: Option<u16>,
    config_lines: Vec<String>,
    args: Vec<String>,
    credentials: Option<Credentials>,
    ready_timeout: Duration,
    /// `Some(node timeout in ms)` for a Redis Cluster node.
    cluster_node_timeout_ms: Option<u64>,
}

impl Default for RedisServerBuilder {
    fn default() -> Self {
        RedisServerBuilder {
            port: None,
            config_lines: Vec::new(),
            args: Vec::new(),
            credentials: None,
            ready_timeout: DEFAULT_READY_TIMEOUT,
            cluster_node_timeout_ms: None,
        }
    }
}

impl RedisServerBuilder {
    /// Listen on this loopback port instead of a free one picked by the kit.
    /// Port 6379 is refused by [`RedisServerBuilder::start`].
    ///
    /// Default: a free port found by binding `127.0.0.1:0`.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Adds one line to the server's `redis.conf`, verbatim, e.g.
    /// `user alice on >secret ~* &* +@all` or `enable-debug-command yes`.
    /// The file is loaded before the kit's own command-line options.
    pub fn config(mut self, line: impl Into<String>) -> Self {
        self.config_lines.push(line.into());
        self
    }

    /// Appends one command-line argument, e.g. `"--maxmemory"` then
    /// `"10mb"`. Arguments come after the kit's own, so they win.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Protects the default user with `password` (`--requirepass`), and makes
    /// the kit authenticate its own commands with it.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        let password = password.into();
        self.args.push("--requirepass".to_owned());
        self.args.push(password.clone());
        self.credentials = Some(Credentials {
            user: None,
            password,
        });
        self
    }

    /// The ACL user the kit authenticates as (`AUTH user password`) before
    /// its own commands: readiness checks, [`RedisServer::command`],
    /// [`RedisServer::kill_clients`]. Does not configure the server; add the
    /// matching `user …` line with [`RedisServerBuilder::config`].
    pub fn credentials(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.credentials = Some(Credentials {
            user: Some(user.into()),
            password: password.into(),
        });
        self
    }

    /// How long [`RedisServerBuilder::start`] and [`RedisServer::restart`]
    /// wait for `PING` to be answered. Default: 10 s.
    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// Makes this a Redis Cluster node (`--cluster-enabled yes`,
    /// `--cluster-config-file <dir>/nodes.conf`, the given node timeout), on a
    /// port whose cluster bus port (+10000) is free too.
    pub(crate) fn cluster_node(mut self, node_timeout_ms: u64) -> Self {
        self.cluster_node_timeout_ms = Some(node_timeout_ms);
        self
    }

    pub(crate) fn credentials_ref(&self) -> Option<&Credentials> {
        self.credentials.as_ref()
    }

    /// Starts `redis-server` and waits until it answers `PING` (with `PONG`,
    /// or `NOAUTH` when a password is set).
    ///
    /// # Errors
    ///
    /// * [`TestkitError::InvalidConfig`] for port 6379;
    /// * [`TestkitError::BinaryNotFound`] if `redis-server` is not on `PATH`;
    /// * [`TestkitError::Exited`] if it exits during startup (bad config; the
    ///   log tail says why), after retrying other ports if it lost a port race;
    /// * [`TestkitError::NotReady`] if it does not answer in time;
    /// * [`TestkitError::TempDir`], [`TestkitError::NoFreePort`].
    pub fn start(self) -> Result<RedisServer> {
        if self.port == Some(RESERVED_PORT) {
            return Err(TestkitError::InvalidConfig(format!(
                "port {RESERVED_PORT} is reserved for the developer's own Redis"
            )));
        }
        let cluster = self.cluster_node_timeout_ms.is_some();
        let dir = TempDir::new(if cluster { "cluster-node" } else { "server" })?;
        let conf = dir.path().join("redis.conf");
        let mut text = String::from("# written by sio-redis-testkit\n");
        for line in &self.config_lines {
            text.push_str(line);
            text.push('\n');
        }
        std::fs::write(&conf, text)
            .map_err(|source| TestkitError::TempDir { path: conf, source })?;
        let fixed_port = self.port.is_some();
        let port = match self.port {
            Some(port) => port,
            None => util::free_port(cluster)?,
        };
        let mut server = RedisServer {
            port,
            dir,
            child: None,
            opts: self,
        };
        server.boot(!fixed_port)?;
        Ok(server)
    }
}

/// A running `redis-server` on `127.0.0.1`, with its own temp dir.
///
/// Dropping it SIGKILLs and reaps the process and removes the temp dir. If the
/// thread is panicking (a failing test), the last 200 lines of its log are
/// printed to stderr first, labelled with the port.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    dir: TempDir,
    child: Option<Child>,
    opts: RedisServerBuilder,
}

impl RedisServer {
    /// Starts a server with default options on a free port; see
    /// [`RedisServerBuilder::start`].
    ///
    /// # Errors
    ///
    /// As for [`RedisServerBuilder::start`].
    pub fn start() -> Result<RedisServer> {
        RedisServer::builder().start()
    }

    /// Options for a server.
    pub fn builder() -> RedisServerBuilder {
        RedisServerBuilder::default()
    }

    /// The TCP port it listens on (never 6379). Stays the same across
    /// [`RedisServer::restart`].
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `redis://127.0.0.1:<port>`, without credentials.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Like [`RedisServer::url`], with the kit's credentials (if any)
    /// percent-encoded into it: `redis://user:pass@127.0.0.1:<port>` or
    /// `redis://:pass@127.0.0.1:<port>`.
    pub fn url_with_credentials(&self) -> String {
        match &self.opts.credentials {
            None => self.url(),
            Some(c) => format!(
                "redis://{}:{}@127.0.0.1:{}",
                c.user.as_deref().map(percent_encode).unwrap_or_default(),
                percent_encode(&c.password),
                self.port
            ),
        }
    }

    /// The process id, or `None` while stopped.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process was started and has not been stopped by the kit
    /// (it may still have died on its own).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// The temp dir holding its `redis.conf`, `redis.log`, `stdio.log` and,
    /// for a cluster node, `nodes.conf`. Removed on drop.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Everything the server wrote so far, across restarts: its captured
    /// stdout/stderr (startup errors land there), then its log file.
    pub fn logs(&self) -> String {
        let stdio = util::read_lossy(&self.stdio_path());
        let log = util::read_lossy(&self.log_path());
        if stdio.trim().is_empty() {
            log
        } else {
            format!("--- stdout/stderr ---\n{stdio}--- redis.log ---\n{log}")
        }
    }

    /// An authenticated connection (if the builder set credentials).
    ///
    /// # Errors
    ///
    /// [`TestkitError::NotRunning`] while stopped, [`TestkitError::Io`] if the
    /// connection fails, [`TestkitError::UnexpectedReply`] if `AUTH` fails.
    pub fn connect(&self) -> Result<RespConnection> {
        if self.child.is_none() {
            return Err(TestkitError::NotRunning { port: self.port });
        }
        let mut conn = RespConnection::connect(self.addr())?;
        if let Some(c) = &self.opts.credentials {
            let mut args = vec!["AUTH"];
            args.extend(c.user.as_deref());
            args.push(&c.password);
            let reply = conn.command(&args)?;
            if !reply.is_ok() {
                return Err(self.unexpected("AUTH", &reply));
            }
        }
        Ok(conn)
    }

    /// Sends one command on a fresh (authenticated) connection and returns
    /// its reply; an error reply (`MOVED`, `NOAUTH`…) is
    /// `Ok(RespValue::Error)`.
    ///
    /// # Errors
    ///
    /// As for [`RedisServer::connect`], plus [`TestkitError::Protocol`].
    pub fn command<A: AsRef<[u8]>>(&self, args: &[A]) -> Result<RespValue> {
        self.connect()?.command(args)
    }

    /// Like [`RedisServer::command`], but an error reply becomes
    /// [`TestkitError::UnexpectedReply`].
    pub(crate) fn command_ok<A: AsRef<[u8]>>(&self, args: &[A]) -> Result<RespValue> {
        let reply = self.command(args)?;
        if reply.is_error() {
            let name = args
                .first()
                .map(|a| String::from_utf8_lossy(a.as_ref()).into_owned());
            return Err(self.unexpected(&name.unwrap_or_default(), &reply));
        }
        Ok(reply)
    }

    /// Disconnects every client: `CLIENT KILL TYPE normal`, then
    /// `CLIENT KILL TYPE pubsub` (the kit's own connection is skipped).
    /// Returns how many connections were closed. For recovery tests.
    ///
    /// # Errors
    ///
    /// As for [`RedisServer::command`], and
    /// [`TestkitError::UnexpectedReply`] if a `CLIENT KILL` is refused.
    pub fn kill_clients(&self) -> Result<u64> {
        let mut conn = self.connect()?;
        let mut killed = 0;
        for kind in ["normal", "pubsub"] {
            let reply = conn.command(&["CLIENT", "KILL", "TYPE", kind])?;
            match reply.as_int() {
                Some(n) => killed += u64::try_from(n).unwrap_or(0),
                None => return Err(self.unexpected("CLIENT KILL", &reply)),
            }
        }
        Ok(killed)
    }

    /// Stops the server: SIGTERM, wait up to 5 s, then SIGKILL; the process is
    /// reaped. Does nothing if already stopped. Data is not kept (no
    /// persistence), except a cluster node's `nodes.conf`.
    ///
    /// # Errors
    ///
    /// [`TestkitError::Process`] if the process cannot be reaped.
    pub fn stop(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let pid = child.id();
        let termed = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        let deadline = Instant::now() + if termed { STOP_TIMEOUT } else { Duration::ZERO };
        match util::wait_until(&mut child, deadline) {
            Ok(Some(_)) => Ok(()),
            Ok(None) => {
                let _ = child.kill();
                child
                    .wait()
                    .map(drop)
                    .map_err(|source| TestkitError::Process {
                        pid,
                        action: "wait for",
                        source,
                    })
            }
            Err(source) => {
                util::kill_and_reap(&mut child);
                Err(TestkitError::Process {
                    pid,
                    action: "wait for",
                    source,
                })
            }
        }
    }

    /// Stops the server (see [`RedisServer::stop`]) and starts it again on the
    /// same port and temp dir, waiting until it answers `PING`. For reconnect
    /// tests. Also starts a stopped server.
    ///
    /// # Errors
    ///
    /// As for [`RedisServerBuilder::start`]; if another process holds the
    /// port, the kit retries until the ready timeout, then returns
    /// [`TestkitError::Exited`].
    pub fn restart(&mut self) -> Result<()> {
        self.stop()?;
        self.boot(false)
    }

    /// SIGKILLs and reaps the process now, without waiting for a clean
    /// shutdown (a crash, for failover tests). Does nothing if stopped.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            util::kill_and_reap(&mut child);
        }
    }

    /// The last `lines` lines of [`RedisServer::logs`].
    pub(crate) fn log_tail(&self, lines: usize) -> String {
        util::tail(&self.logs(), lines).to_owned()
    }

    pub(crate) fn unexpected(&self, command: &str, reply: &RespValue) -> TestkitError {
        TestkitError::UnexpectedReply {
            addr: self.addr(),
            command: command.to_owned(),
            reply: format!("{reply:?}"),
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    fn stdio_path(&self) -> PathBuf {
        self.dir.path().join("stdio.log")
    }

    /// Length of the log file now, so that later checks only look at what a
    /// new process writes.
    fn log_len(&self) -> usize {
        std::fs::metadata(self.log_path()).map_or(0, |m| usize::try_from(m.len()).unwrap_or(0))
    }

    fn log_since(&self, offset: usize) -> String {
        let log = util::read_lossy(&self.log_path());
        log.get(offset..).unwrap_or(&log).to_owned()
    }

    /// Spawns the process and waits until it is ready. With `may_change_port`,
    /// losing the race for the port moves to another free port (up to 5
    /// times); without it, the same port is retried until the ready timeout.
    fn boot(&mut self, may_change_port: bool) -> Result<()> {
        let start = Instant::now();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let log_start = self.log_len();
            self.spawn()?;
            let err = match self.wait_ready(log_start) {
                Ok(()) => return Ok(()),
                Err(err) => err,
            };
            self.kill();
            let lost_race = matches!(err, TestkitError::Exited { .. })
                && self.log_since(log_start).contains("Address already in use");
            if !lost_race {
                return Err(err);
            }
            if may_change_port {
                if attempts >= PORT_ATTEMPTS {
                    return Err(TestkitError::NoFreePort { attempts });
                }
                self.port = util::free_port(self.opts.cluster_node_timeout_ms.is_some())?;
            } else {
                if start.elapsed() >= self.opts.ready_timeout {
                    return Err(err);
                }
                thread::sleep(POLL_INTERVAL * 5);
            }
        }
    }

    fn spawn(&mut self) -> Result<()> {
        let dir = self.dir.path();
        // A marker in the log, so that restarts are easy to tell apart.
        let log_path = self.log_path();
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .and_then(|mut f| {
                writeln!(
                    f,
                    "--- sio-redis-testkit: starting redis-server on port {} ---",
                    self.port
                )
            })
            .map_err(|source| TestkitError::TempDir {
                path: log_path,
                source,
            })?;
        let stdio_path = self.stdio_path();
        let stdout = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&stdio_path)
            .map_err(|source| TestkitError::TempDir {
                path: stdio_path.clone(),
                source,
            })?;
        let stderr = stdout.try_clone().map_err(|source| TestkitError::TempDir {
            path: stdio_path.clone(),
            source,
        })?;
        let mut cmd = Command::new(REDIS_SERVER);
        cmd.arg(dir.join("redis.conf"))
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--protected-mode", "no"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(dir)
            .arg("--logfile")
            .arg(self.log_path());
        if let Some(node_timeout) = self.opts.cluster_node_timeout_ms {
            cmd.args(["--cluster-enabled", "yes", "--cluster-config-file"])
                .arg(dir.join("nodes.conf"))
                .args(["--cluster-node-timeout", &node_timeout.to_string()])
                // Replicas sync at once instead of after the 5 s default delay.
                .args(["--repl-diskless-sync-delay", "0"]);
        }
        cmd.args(&self.opts.args)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        let child = cmd
            .spawn()
            .map_err(|e| util::spawn_error(REDIS_SERVER, e))?;
        self.child = Some(child);
        Ok(())
    }

    /// Polls every 20 ms until the server answers, exits, or the ready
    /// timeout passes.
    fn wait_ready(&mut self, log_start: usize) -> Result<()> {
        let start = Instant::now();
        let deadline = start + self.opts.ready_timeout;
        loop {
            let Some(child) = self.child.as_mut() else {
                return Err(TestkitError::NotRunning { port: self.port });
            };
            let pid = child.id();
            match child.try_wait() {
                Ok(None) => {}
                Ok(Some(status)) => {
                    self.child = None;
                    return Err(TestkitError::Exited {
                        port: self.port,
                        status: status.to_string(),
                        log_tail: self.log_tail(ERROR_LOG_LINES),
                    });
                }
                Err(source) => {
                    return Err(TestkitError::Process {
                        pid,
                        action: "wait for",
                        source,
                    });
                }
            }
            if self.answers(pid, log_start) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(TestkitError::NotReady {
                    port: self.port,
                    waited_ms: util::elapsed_ms(start),
                    log_tail: self.log_tail(ERROR_LOG_LINES),
                });
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// Whether *this* process answers `PING` with `PONG` or `NOAUTH`.
    ///
    /// To be sure the answer does not come from another process that holds
    /// the port, the new process must also have logged that it is ready, or
    /// report its own pid in `INFO server`.
    fn answers(&self, pid: u32, log_start: usize) -> bool {
        let Ok(mut conn) = RespConnection::connect_timeout(self.addr(), Duration::from_millis(200))
        else {
            return false;
        };
        if conn.set_timeout(Duration::from_secs(1)).is_err() {
            return false;
        }
        match conn.command(&["PING"]) {
            Ok(RespValue::Simple(s)) if s == "PONG" => {}
            Ok(RespValue::Error(e)) if e.starts_with("NOAUTH") => {}
            _ => return false,
        }
        if self.log_since(log_start).contains(READY_LINE) {
            return true;
        }
        let Ok(info) = self
            .connect()
            .and_then(|mut c| c.command(&["INFO", "server"]))
        else {
            return false;
        };
        let own_pid = format!("process_id:{pid}\r");
        info.as_str().is_some_and(|text| text.contains(&own_pid))
    }

    /// Prints the log tail to stderr, labelled with the port.
    pub(crate) fn print_log_tail(&self) {
        let pid = self
            .pid()
            .map_or_else(|| "stopped".to_owned(), |p| format!("pid {p}"));
        eprintln!(
            "===== redis-server 127.0.0.1:{} ({pid}): last {PANIC_LOG_LINES} log lines =====\n{}",
            self.port,
            self.log_tail(PANIC_LOG_LINES)
        );
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if thread::panicking() {
            self.print_log_tail();
        }
        self.kill();
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding() {
        assert_eq!(percent_encode("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(percent_encode("p@ss:w/rd"), "p%40ss%3Aw%2Frd");
    }

    #[test]
    fn port_6379_is_refused() {
        let err = RedisServer::builder().port(6379).start().unwrap_err();
        assert!(matches!(err, TestkitError::InvalidConfig(_)), "{err}");
    }
}
