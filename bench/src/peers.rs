//! Starting and stopping peer nodes (`shared/PEER-NODE.md`) and their private
//! `redis-server`.
//!
//! Every peer runs in its own process group; the group is SIGTERMed (then SIGKILLed) by
//! [`Cluster::stop`], and SIGKILLed when a [`Peer`] is dropped without being stopped: on
//! an error, on Ctrl-C (the scenario future is dropped) and on a panic (unwinding).
//! The Redis (one `redis-server` or a Redis Cluster, [`Backend`]) is the test kit's,
//! which is killed on drop too.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process_group};
use serde::Serialize;
use serde_json::Value as Json;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

use crate::backend::{Adapter, Backend, Setup};

/// Bytes of each peer's stdout and stderr kept for error messages.
const TAIL_BYTES: usize = 8 * 1024;

/// The namespaces every peer node serves.
pub(crate) const NAMESPACES: [&str; 2] = ["/", "/ns2"];

/// A peer-node implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Impl {
    /// This project's `peer-node` (socketioxide + sio-redis), `target/release/peer-node`.
    Rust,
    /// `node e2e/peer-node.js` (socket.io 4.8 + @socket.io/redis-adapter 8.3).
    Node,
    /// `sioxide-redis-peer` of this crate (socketioxide + socketioxide-redis 0.4); not
    /// wire-compatible with the other two.
    SioxideRedis,
}

impl Impl {
    /// The name used on the command line, in READY lines and in reports.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Impl::Rust => "rust",
            Impl::Node => "node",
            Impl::SioxideRedis => "sioxide-redis",
        }
    }
}

impl fmt::Display for Impl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Impl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "rust" => Ok(Impl::Rust),
            "node" => Ok(Impl::Node),
            "sioxide-redis" | "sioxide" => Ok(Impl::SioxideRedis),
            other => Err(format!(
                "unknown implementation `{other}` (expected rust, node or sioxide-redis)"
            )),
        }
    }
}

/// Parses `rust,node,rust`.
pub(crate) fn parse_impls(s: &str) -> Result<Vec<Impl>, String> {
    let v: Vec<Impl> = s
        .split(',')
        .filter(|p| !p.trim().is_empty())
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    if v.is_empty() {
        return Err("empty list of implementations".into());
    }
    Ok(v)
}

/// Where the peer programs are.
#[derive(Debug, Clone)]
pub(crate) struct Programs {
    /// The workspace root (holds `e2e/peer-node.js`).
    pub(crate) root: PathBuf,
    /// The Rust peer node binary.
    pub(crate) rust_peer: PathBuf,
    /// The socketioxide-redis peer binary.
    pub(crate) sioxide_peer: PathBuf,
    /// The `node` program.
    pub(crate) node: String,
}

impl Programs {
    /// Defaults: binaries next to the running `sio-bench` (the same `target/release`),
    /// else under `<root>/target/release`; `root` is the workspace this crate was built in.
    pub(crate) fn locate(root: Option<PathBuf>, rust_peer: Option<PathBuf>) -> Programs {
        let root = root.unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
        });
        let exe_dir = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf));
        let find = |name: &str| {
            exe_dir
                .as_ref()
                .map(|d| d.join(name))
                .filter(|p| p.exists())
                .unwrap_or_else(|| root.join("target").join("release").join(name))
        };
        let rust_peer = rust_peer
            .or_else(|| std::env::var_os("RUST_PEER_NODE").map(PathBuf::from))
            .unwrap_or_else(|| find("peer-node"));
        Programs {
            sioxide_peer: find("sioxide-redis-peer"),
            node: std::env::var("NODE").unwrap_or_else(|_| "node".into()),
            rust_peer,
            root,
        }
    }

    fn command(&self, which: Impl) -> Result<Command, String> {
        let check = |p: &Path, build: &str| {
            if p.exists() {
                Ok(())
            } else {
                Err(format!(
                    "{} not found: build it with `{build}`",
                    p.display()
                ))
            }
        };
        Ok(match which {
            Impl::Rust => {
                check(
                    &self.rust_peer,
                    "cargo build --release -p sio-redis-peer-node",
                )?;
                Command::new(&self.rust_peer)
            }
            Impl::SioxideRedis => {
                check(
                    &self.sioxide_peer,
                    "cargo build --release -p sio-bench --bin sioxide-redis-peer",
                )?;
                Command::new(&self.sioxide_peer)
            }
            Impl::Node => {
                let script = self.root.join("e2e").join("peer-node.js");
                check(&script, "git checkout (e2e/peer-node.js)")?;
                if !self.root.join("e2e").join("node_modules").exists() {
                    return Err("e2e/node_modules is missing: run `npm --prefix e2e ci`".into());
                }
                let mut c = Command::new(&self.node);
                c.arg(script).current_dir(self.root.join("e2e"));
                c
            }
        })
    }
}

/// The last bytes a process wrote.
#[derive(Debug, Default)]
struct Tail {
    out: String,
    err: String,
}

fn keep(buf: &mut String, line: &str) {
    buf.push_str(line);
    buf.push('\n');
    if buf.len() > TAIL_BYTES {
        let mut cut = buf.len() - TAIL_BYTES;
        while !buf.is_char_boundary(cut) {
            cut += 1;
        }
        buf.drain(..cut);
    }
}

/// One running peer node.
#[derive(Debug)]
pub(crate) struct Peer {
    /// Its implementation.
    pub(crate) which: Impl,
    /// `NODE_ID`.
    pub(crate) id: String,
    /// Its port on 127.0.0.1.
    pub(crate) port: u16,
    /// Its pid (from the READY line; also the process group id).
    pub(crate) pid: u32,
    /// The READY line's JSON.
    pub(crate) ready: Json,
    child: Child,
    tail: Arc<Mutex<Tail>>,
}

impl Peer {
    /// What it wrote last, for error messages.
    pub(crate) fn tail(&self) -> String {
        let t = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        format!(
            "----- {} ({}, pid {}) -----\nstdout tail:\n{}\nstderr tail:\n{}",
            self.id, self.which, self.pid, t.out, t.err
        )
    }

    fn signal_group(&self, sig: Signal) {
        if let Some(pid) = self.child.id().and_then(|p| Pid::from_raw(p as i32)) {
            let _ = kill_process_group(pid, sig);
        }
    }

    /// SIGTERMs its process group, waits up to `grace`, then SIGKILLs the group.
    pub(crate) async fn stop(mut self, grace: Duration) {
        self.signal_group(Signal::TERM);
        let _ = tokio::time::timeout(grace, self.child.wait()).await;
        self.signal_group(Signal::KILL);
        let _ = self.child.wait().await;
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        // Not stopped through `stop` (error, Ctrl-C, panic): kill the whole group now.
        if self.child.id().is_some() {
            self.signal_group(Signal::KILL);
        }
    }
}

/// How to start a cluster.
#[derive(Debug, Clone)]
pub(crate) struct ClusterSpec {
    /// One peer per entry.
    pub(crate) nodes: Vec<Impl>,
    /// The adapter and the kind of Redis.
    pub(crate) setup: Setup,
    /// How long to wait for each READY line.
    pub(crate) ready_timeout: Duration,
}

/// A private Redis and the peer nodes using it.
#[derive(Debug)]
pub(crate) struct Cluster {
    /// How the peers use Redis.
    pub(crate) setup: Setup,
    /// `None` with `ADAPTER=none`.
    pub(crate) redis: Option<Backend>,
    /// The peers, in the order of [`ClusterSpec::nodes`].
    pub(crate) nodes: Vec<Peer>,
}

/// A free TCP port on 127.0.0.1, never 6379.
pub(crate) fn free_port() -> Result<u16, String> {
    for _ in 0..20 {
        let l = std::net::TcpListener::bind(("127.0.0.1", 0))
            .map_err(|e| format!("cannot bind 127.0.0.1:0: {e}"))?;
        let port = l.local_addr().map_err(|e| e.to_string())?.port();
        if port != 6379 {
            return Ok(port);
        }
    }
    Err("no free port".into())
}

impl Cluster {
    /// Starts the Redis (unless the adapter is `none`) and every peer; waits for every
    /// READY line, then until the subscribers of every namespace's presence channel
    /// (`PUBSUB NUMSUB socket.io-request#<nsp>#`, or `PUBSUB SHARDNUMSUB socket.io#<nsp>#`
    /// for the sharded adapter, `PUBSUB NUMSUB socket.io#<nsp>#` for the streams adapter)
    /// equal the number of peers (every adapter subscribed), and with the streams adapter
    /// until at least one connection per peer blocks in `XREAD`.
    ///
    /// # Errors
    ///
    /// A message with the output tails of the peers when one fails to start in time.
    pub(crate) async fn start(spec: &ClusterSpec, programs: &Programs) -> Result<Cluster, String> {
        let mixed_sioxide = spec.nodes.contains(&Impl::SioxideRedis)
            && spec.nodes.iter().any(|n| *n != Impl::SioxideRedis);
        if mixed_sioxide {
            return Err(
                "sioxide-redis peers cannot share a cluster with rust or node peers \
                 (socketioxide-redis is not wire-compatible with @socket.io/redis-adapter)"
                    .into(),
            );
        }
        if spec.nodes.contains(&Impl::SioxideRedis) && spec.setup != Setup::PUBSUB {
            return Err(format!(
                "sioxide-redis peers run the classic adapter on one redis-server only, not {}",
                spec.setup
            ));
        }
        let adapter = spec.setup.adapter;
        if adapter == Adapter::None && spec.nodes.len() > 1 {
            return Err("ADAPTER=none means a single node".into());
        }
        let redis = if adapter == Adapter::None {
            None
        } else {
            Some(Backend::start(spec.setup.cluster).await?)
        };
        let redis_url = redis.as_ref().map(Backend::peer_url).unwrap_or_default();
        let mut cluster = Cluster {
            setup: spec.setup,
            redis,
            nodes: Vec::new(),
        };
        let mut starting = Vec::new();
        for (i, which) in spec.nodes.iter().enumerate() {
            starting.push(spawn_peer(*which, i, spec.setup, &redis_url, programs)?);
        }
        let mut failure = None;
        for (peer, ready_rx) in starting {
            match wait_ready(peer, ready_rx, spec.ready_timeout).await {
                Ok(p) => cluster.nodes.push(p),
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
        if let Some(r) = &cluster.redis {
            wait_subscribed(r, spec.setup, cluster.nodes.len(), Duration::from_secs(15))
                .await
                .map_err(|e| format!("{e}\n{}", cluster.tails()))?;
        }
        Ok(cluster)
    }

    /// The output tails of every peer.
    pub(crate) fn tails(&self) -> String {
        self.nodes
            .iter()
            .map(Peer::tail)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The CPU time of the private Redis (every server of a cluster together), µs.
    pub(crate) fn redis_cpu_us(&self) -> Option<u64> {
        self.redis.as_ref().and_then(Backend::cpu_us)
    }

    /// The pid of the redis-server (0 for a cluster: several processes).
    pub(crate) fn redis_pid(&self) -> u32 {
        match self.redis.as_ref().map(Backend::pids).as_deref() {
            Some([pid]) => *pid,
            _ => 0,
        }
    }

    /// Stops every peer (SIGTERM, then SIGKILL after 3 s) and the redis-server.
    pub(crate) async fn stop(mut self) {
        let nodes = std::mem::take(&mut self.nodes);
        futures_util::future::join_all(nodes.into_iter().map(|p| p.stop(Duration::from_secs(3))))
            .await;
        if let Some(r) = self.redis.take() {
            r.stop().await;
        }
    }
}

fn spawn_peer(
    which: Impl,
    index: usize,
    setup: Setup,
    redis_url: &str,
    programs: &Programs,
) -> Result<(Peer, oneshot::Receiver<Json>), String> {
    let port = free_port()?;
    let id = format!("{which}{index}");
    let mut cmd = programs.command(which)?;
    cmd.envs(setup.peer_env())
        .env("PORT", port.to_string())
        .env("NODE_ID", &id)
        .env("REDIS_URL", redis_url)
        .env("KEY", "socket.io")
        .env("PARSER", "common")
        .env("QUIET", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start the {which} peer: {e}"))?;
    let tail = Arc::new(Mutex::new(Tail::default()));
    let (ready_tx, ready_rx) = oneshot::channel();
    if let Some(out) = child.stdout.take() {
        tokio::spawn(drain(out, tail.clone(), true, Some(ready_tx)));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(drain(err, tail.clone(), false, None));
    }
    let pid = child.id().unwrap_or(0);
    Ok((
        Peer {
            which,
            id,
            port,
            pid,
            ready: Json::Null,
            child,
            tail,
        },
        ready_rx,
    ))
}

/// Reads a peer's output line by line until it ends (the task ends with the process),
/// keeping the tail and reporting the READY line.
async fn drain(
    stream: impl AsyncRead + Unpin,
    tail: Arc<Mutex<Tail>>,
    stdout: bool,
    mut ready: Option<oneshot::Sender<Json>>,
) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(json) = line.strip_prefix("READY ")
            && let Some(tx) = ready.take()
        {
            let _ = tx.send(serde_json::from_str(json).unwrap_or(Json::Null));
        }
        let mut t = tail.lock().unwrap_or_else(|e| e.into_inner());
        keep(if stdout { &mut t.out } else { &mut t.err }, &line);
    }
}

async fn wait_ready(
    mut peer: Peer,
    ready: oneshot::Receiver<Json>,
    timeout: Duration,
) -> Result<Peer, String> {
    let fail =
        |peer: &Peer, why: String| format!("{} ({}): {why}\n{}", peer.id, peer.which, peer.tail());
    let ready = match tokio::time::timeout(timeout, ready).await {
        Ok(Ok(v)) => v,
        Ok(Err(_)) => {
            // stdout closed without READY: give stderr a moment to be read
            let status = tokio::time::timeout(Duration::from_secs(2), peer.child.wait()).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            return Err(fail(&peer, format!("exited before READY ({status:?})")));
        }
        Err(_) => return Err(fail(&peer, format!("no READY line within {timeout:?}"))),
    };
    for k in ["node", "port", "adapter", "runtime", "pid"] {
        if ready.get(k).is_none() {
            return Err(fail(&peer, format!("READY line lacks `{k}`: {ready}")));
        }
    }
    if ready["runtime"].as_str() != Some(peer.which.name()) {
        return Err(fail(
            &peer,
            format!(
                "READY says runtime {}, expected {}",
                ready["runtime"], peer.which
            ),
        ));
    }
    if let Some(pid) = ready["pid"].as_u64() {
        peer.pid = pid as u32;
    }
    peer.ready = ready;
    Ok(peer)
}

/// Waits until every namespace's presence channel has `n` subscribers.
async fn wait_subscribed(
    redis: &Backend,
    setup: Setup,
    n: usize,
    timeout: Duration,
) -> Result<(), String> {
    let channels: Vec<String> = NAMESPACES
        .iter()
        .filter_map(|nsp| setup.presence_channel(nsp))
        .collect();
    let verb = if setup.sharded() {
        "SHARDNUMSUB"
    } else {
        "NUMSUB"
    };
    let deadline = Instant::now() + timeout;
    loop {
        let counts = redis.subscribers(setup.sharded(), &channels).await?;
        // The streams adapter's readers start at "$": an entry added before a reader's
        // first XREAD is not read. Each node has one reader for the one stream.
        let readers = if setup.streams() {
            redis.xread_clients().await?
        } else {
            n
        };
        if counts.iter().all(|c| *c == n as i64) && readers >= n {
            return Ok(());
        }
        if Instant::now() > deadline {
            let seen: Vec<String> = channels
                .iter()
                .zip(&counts)
                .map(|(c, k)| format!("{c}={k}"))
                .collect();
            return Err(format!(
                "the peers did not all subscribe within {timeout:?}: PUBSUB {verb} {} \
                 (expected {n}), {readers} connections in XREAD",
                seen.join(", ")
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
