//! Commands routed by slot on a Redis Cluster: one multiplexed connection per
//! primary (dialled on first use, dropped when the node leaves the slot map),
//! the current slot map, and the redirect rules.
//!
//! * `MOVED <slot> <host>:<port>`: the slot map is stale: the command is resent
//!   to the named node at once and a refresh of the map is requested;
//! * `ASK <slot> <host>:<port>`: the slot is being migrated and this key is
//!   already on the target: `ASKING` and the command are sent to the target in
//!   one write (so that nothing else runs between them on the shared
//!   connection), the map stays as it is;
//! * `TRYAGAIN`, `CLUSTERDOWN`, `LOADING`, `MASTERDOWN`, and a connection that
//!   fails or cannot be made: the map is refreshed and the command retried with
//!   back-off (10 ms doubling to 200 ms), all inside the command's deadline
//!   (the response timeout);
//! * at most [`MAX_REDIRECTS`] redirects per command (a cluster that keeps
//!   redirecting in a loop is an error, not a hang).
//!
//! The redirect target comes from a remote party: its host is bounded
//! ([`MAX_HOST_LEN`](super::topology::MAX_HOST_LEN)) and it is dialled with
//! the seeds' credentials and TLS, bounded by the connect timeout.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use redis::{Client, RedisError};
use tokio::sync::{Notify, Semaphore, mpsc, oneshot, watch};
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

use super::slot::key_slot;
use super::topology::{ClusterTopology, MAX_HOST_LEN, NodeAddr};
use crate::config::{ClusterSpec, Endpoint, Rotation};
use crate::conn::mux::{MuxConnection, Replies};
use crate::conn::{Dial, RespConnection};
use crate::error::{ErrorClass, TransportError, classify};
use crate::event::Counters;
use crate::resp;
use crate::shared::{Shared, millis};

/// Redirects (`MOVED`, `ASK`) one command follows at most.
pub(crate) const MAX_REDIRECTS: u32 = 5;
/// Fire-and-forget shard publishes in flight at most, in messages (each holds
/// its message until Redis answered); more wait for room, and fail with
/// [`TransportError::TooManyInFlight`] after the response timeout.
pub(crate) const MAX_IN_FLIGHT: usize = 16 * 1024;
/// How long the slot-map vote waits for more answers after the first one.
const VOTE_WINDOW: Duration = Duration::from_millis(50);
/// Refreshes of the slot map start at most this often (a burst of `MOVED`
/// replies costs one `CLUSTER SHARDS`).
const MIN_REFRESH_GAP: Duration = Duration::from_millis(50);
/// First and longest pause between retries of a command whose node is busy or
/// unreachable.
const RETRY_FIRST: Duration = Duration::from_millis(10);
const RETRY_MAX: Duration = Duration::from_millis(200);

/// How long a node's reply watcher ([`Router::watch`]) waits for more replies before
/// it ends (a new one starts with the next publish).
const WATCHER_IDLE: Duration = Duration::from_secs(1);

/// One node's connection slot: dialled by one caller at a time.
type NodeSlot = Arc<tokio::sync::Mutex<Option<MuxConnection>>>;

/// What a [`Router::refresh_outcome`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refresh {
    /// Nothing read: the last read was less than [`MIN_REFRESH_GAP`] ago.
    Skipped,
    /// No node (and no seed) answered; the old map stays.
    Unanswered,
    /// Read; the same primaries serve the same slots.
    Unchanged,
    /// Read, and the map changed (its version was bumped).
    Changed,
}

/// Why an attempt of a routed command failed.
enum Failed {
    /// Nothing was written (no connection could be made, or it was closed):
    /// safe to retry.
    Unsent(RedisError),
    /// The connection failed after the command was queued for writing: it
    /// may have run.
    Unknown(RedisError),
}

/// A fire-and-forget `SPUBLISH` waiting in a node's backlog.
struct Job {
    slot: u16,
    channel: String,
    payload: Bytes,
    /// The response timeout, counted from the call.
    deadline: tokio::time::Instant,
    /// Its place among [`MAX_IN_FLIGHT`].
    _permit: tokio::sync::OwnedSemaphorePermit,
}

/// A queued `SPUBLISH` written to a node's connection, and its reply to come.
type Written = (Job, oneshot::Receiver<Replies>);

/// Where the next attempt of a command goes.
#[derive(Debug, Clone)]
enum Target {
    /// The slot's primary in the current map.
    Owner,
    /// The node a `MOVED` named.
    Moved(NodeAddr),
    /// The node an `ASK` named (`ASKING` first).
    Ask(NodeAddr),
}

/// The slot map and one connection per primary, shared by every handle of a
/// cluster transport and by its shard-subscriber supervisor.
pub(crate) struct Router {
    topology: RwLock<Arc<ClusterTopology>>,
    /// Bumped at every change of the map (which primary serves which slot).
    version: watch::Sender<u64>,
    nodes: Mutex<HashMap<NodeAddr, NodeSlot>>,
    spec: ClusterSpec,
    dial: Arc<Dial>,
    response_timeout: Duration,
    shared: Arc<Shared>,
    /// Held while the map is being read; the time of the last refresh.
    refreshing: tokio::sync::Mutex<Option<Instant>>,
    /// Woken when a reply said the map is stale; the supervisor refreshes.
    pub(crate) stale: Notify,
    in_flight: Arc<Semaphore>,
    tasks: TaskTracker,
    /// The cluster's epoch when the map was last read after it grew.
    epoch: std::sync::atomic::AtomicU64,
    /// Which node the next epoch check asks.
    audit_next: std::sync::atomic::AtomicUsize,
    /// Per node, the fire-and-forget publishes waiting for it, in order.
    backlogs: Mutex<HashMap<NodeAddr, mpsc::UnboundedSender<Job>>>,
    /// Per node, the written fire-and-forget publishes whose replies its watcher
    /// settles, in order ([`Router::watch`]).
    watchers: Mutex<HashMap<NodeAddr, mpsc::UnboundedSender<Written>>>,
    /// The node rotations of the classic connections, kept to the map's nodes.
    rotations: Mutex<Vec<Arc<Mutex<Rotation>>>>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("topology", &*self.topology())
            .finish_non_exhaustive()
    }
}

impl Router {
    pub(crate) fn new(
        topology: ClusterTopology,
        spec: ClusterSpec,
        dial: Arc<Dial>,
        response_timeout: Duration,
        shared: Arc<Shared>,
    ) -> Router {
        Router {
            topology: RwLock::new(Arc::new(topology)),
            version: watch::channel(0).0,
            nodes: Mutex::new(HashMap::new()),
            spec,
            dial,
            response_timeout,
            shared,
            refreshing: tokio::sync::Mutex::new(None),
            stale: Notify::new(),
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
            tasks: TaskTracker::new(),
            rotations: Mutex::new(Vec::new()),
            backlogs: Mutex::new(HashMap::new()),
            watchers: Mutex::new(HashMap::new()),
            epoch: std::sync::atomic::AtomicU64::new(0),
            audit_next: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Keeps `rotation` (of a classic connection's endpoint) to the nodes of
    /// the slot map, from the next change on.
    pub(crate) fn follow(&self, rotation: Option<Arc<Mutex<Rotation>>>) {
        if let Some(r) = rotation {
            self.rotations
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(r);
        }
    }

    /// The current slot map.
    pub(crate) fn topology(&self) -> Arc<ClusterTopology> {
        self.topology
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A receiver of the map's version, changed at every change of the map.
    pub(crate) fn versions(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// A client for `addr` with the seeds' credentials, protocol and TLS.
    pub(crate) fn client(&self, addr: &NodeAddr) -> redis::RedisResult<Client> {
        self.spec.node(&addr.host, addr.port)
    }

    /// Reads the slot map again: asks every node of the current map at once
    /// (`CLUSTER SHARDS`, or `CLUSTER SLOTS` where that is unknown) over its
    /// connection, and takes the map that most of the nodes that answered
    /// within [`VOTE_WINDOW`] of the first answer agree on (a node that has
    /// not heard of a failover yet is outvoted); only when none answers within
    /// the response timeout are the seeds asked, on connections of their own.
    /// Keeps the old map when nothing answers. Concurrent calls share one
    /// read, and a read within [`MIN_REFRESH_GAP`] of the last one is skipped.
    /// Connections to nodes no longer in the map are dropped. Returns whether
    /// the map changed.
    pub(crate) async fn refresh(&self) -> bool {
        self.refresh_outcome().await == Refresh::Changed
    }

    /// [`Router::refresh`], telling a read that was skipped or unanswered
    /// from one that found the map unchanged.
    pub(crate) async fn refresh_outcome(&self) -> Refresh {
        let mut last = self.refreshing.lock().await;
        if last.is_some_and(|t| t.elapsed() < MIN_REFRESH_GAP) {
            return Refresh::Skipped;
        }
        let current = self.topology();
        let fresh = match self.vote(&current).await {
            Some(fresh) => Some(fresh),
            None => self.ask_seeds().await,
        };
        *last = Some(Instant::now());
        let Some(fresh) = fresh else {
            debug!("cluster slot map: no node answered");
            return Refresh::Unanswered;
        };
        if fresh.same_primaries(&current) {
            return Refresh::Unchanged;
        }
        debug!(topology = ?fresh, "cluster slot map changed");
        *self
            .topology
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(fresh);
        let topology = self.topology();
        self.nodes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|addr, _| {
                topology
                    .shards()
                    .iter()
                    .any(|s| &s.primary == addr || s.replicas.contains(addr))
            });
        let clients: Vec<Client> = topology
            .shards()
            .iter()
            .flat_map(|s| std::iter::once(&s.primary).chain(&s.replicas))
            .filter_map(|a| self.client(a).ok())
            .collect();
        for rotation in self
            .rotations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            rotation
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .set_nodes(clients.clone());
        }
        self.version.send_modify(|v| *v += 1);
        Refresh::Changed
    }

    /// When a refresh skipped for [`MIN_REFRESH_GAP`] may read the map: `None`
    /// when it may now, or while a read is under way (its outcome changes the
    /// map's version if anything changed).
    pub(crate) fn refresh_allowed_at(&self) -> Option<tokio::time::Instant> {
        let last = self.refreshing.try_lock().ok()?;
        let at = (*last)? + MIN_REFRESH_GAP;
        (at > Instant::now()).then(|| tokio::time::Instant::from_std(at))
    }

    /// The map's version (see [`Router::versions`]).
    pub(crate) fn version(&self) -> u64 {
        *self.version.borrow()
    }

    /// Asks the next node of the map (in turn) for `cluster_current_epoch`
    /// (`CLUSTER INFO`, one reply of ~700 bytes) and reads the map when the
    /// epoch grew since the last time (every failover bumps it, and so does a
    /// slot migration's `SETSLOT NODE` unless the target already holds the
    /// greatest config epoch: of many slots moved to one node in a row, as a
    /// resharding does, only the first bumps it (Redis 7.0, measured); the
    /// later ones are found by their `MOVED` replies, their channels'
    /// `sunsubscribe`, or the periodic read). Returns whether the map changed.
    /// A node that does not answer within the response timeout is skipped.
    pub(crate) async fn audit(&self) -> bool {
        let topology = self.topology();
        let nodes: Vec<&NodeAddr> = topology
            .shards()
            .iter()
            .flat_map(|s| std::iter::once(&s.primary).chain(&s.replicas))
            .collect();
        if nodes.is_empty() {
            return self.refresh().await;
        }
        let node = nodes[self.audit_next.fetch_add(1, Ordering::Relaxed) % nodes.len()].clone();
        let ask = async {
            let conn = self.conn(&node).await?;
            let mut bytes = Vec::new();
            resp::write_command(&mut bytes, &[b"CLUSTER", b"INFO"]);
            let frame = conn.request(bytes, 1).await?.pop().unwrap_or_default();
            let info: String = redis::from_redis_value(redis::parse_redis_value(&frame)?)?;
            Ok::<_, RedisError>(current_epoch(&info))
        };
        let Ok(Ok(Some(epoch))) = tokio::time::timeout(self.response_timeout, ask).await else {
            return false;
        };
        if epoch <= self.epoch.load(Ordering::Acquire) {
            return false;
        }
        // The epoch counts as seen only once a map was read after it: a read
        // skipped for the refresh gap (or that no node answered) is tried
        // again at the next check instead of waiting for the next bump.
        match self.refresh_outcome().await {
            Refresh::Skipped | Refresh::Unanswered => false,
            outcome => {
                self.epoch.fetch_max(epoch, Ordering::AcqRel);
                outcome == Refresh::Changed
            }
        }
    }

    /// The map most nodes of `current` agree on (see [`Router::refresh`]).
    async fn vote(&self, current: &ClusterTopology) -> Option<ClusterTopology> {
        use futures_util::StreamExt as _;
        let mut asks: futures_util::stream::FuturesUnordered<_> = current
            .shards()
            .iter()
            .flat_map(|s| std::iter::once(&s.primary).chain(&s.replicas))
            .map(|addr| self.map_from(addr))
            .collect();
        let deadline = tokio::time::Instant::now() + self.response_timeout;
        let mut until = deadline;
        let mut answers: Vec<(ClusterTopology, usize)> = Vec::new();
        while let Ok(Some(answer)) = tokio::time::timeout_at(until, asks.next()).await {
            let Ok(map) = answer else { continue };
            if answers.is_empty() {
                until = deadline.min(tokio::time::Instant::now() + VOTE_WINDOW);
            }
            match answers.iter_mut().find(|(m, _)| m.same_primaries(&map)) {
                Some((_, votes)) => *votes += 1,
                None => answers.push((map, 1)),
            }
        }
        // The first of the most voted (max_by_key keeps the last of equals).
        let best = answers.iter().map(|(_, v)| *v).max()?;
        answers
            .into_iter()
            .find(|(_, v)| *v == best)
            .map(|(m, _)| m)
    }

    /// One node's map, over its pooled connection.
    async fn map_from(&self, addr: &NodeAddr) -> Result<ClusterTopology, TransportError> {
        let conn = self.conn(addr).await?;
        let ask = |sub: &'static [u8]| {
            let conn = conn.clone();
            async move {
                let mut bytes = Vec::new();
                resp::write_command(&mut bytes, &[b"CLUSTER", sub]);
                let frame = conn.request(bytes, 1).await?.pop().unwrap_or_default();
                match reply_error(&frame) {
                    None => Ok(redis::parse_redis_value(&frame)?),
                    Some(e) => Err(TransportError::Redis(e)),
                }
            }
        };
        let malformed = super::malformed;
        match ask(b"SHARDS").await {
            Ok(reply) => ClusterTopology::from_shards_reply(&reply, &addr.host, self.spec.is_tls())
                .map_err(malformed),
            Err(TransportError::Redis(e)) if classify(&e) == ErrorClass::Refused => {
                let reply = ask(b"SLOTS").await?;
                ClusterTopology::from_slots_reply(&reply, &addr.host).map_err(malformed)
            }
            Err(e) => Err(e),
        }
    }

    /// The map of the first seed that answers, all asked at once on
    /// connections of their own, bounded by the response timeout.
    async fn ask_seeds(&self) -> Option<ClusterTopology> {
        let timeout = self.response_timeout;
        let asks = self.spec.seeds.iter().map(|c| {
            Box::pin(super::fetch_from(c, &self.dial, timeout))
                as std::pin::Pin<
                    Box<dyn Future<Output = Result<ClusterTopology, TransportError>> + Send + '_>,
                >
        });
        match tokio::time::timeout(timeout, futures_util::future::select_ok(asks)).await {
            Ok(Ok((fresh, _))) => Some(fresh),
            _ => None,
        }
    }

    /// The connection to `addr`, dialled if there is none (bounded by the
    /// connect timeout).
    async fn conn(&self, addr: &NodeAddr) -> Result<MuxConnection, RedisError> {
        let slot = self
            .nodes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(addr.clone())
            .or_default()
            .clone();
        let mut slot = slot.lock().await;
        if let Some(conn) = slot.as_ref().filter(|c| !c.is_closed()) {
            return Ok(conn.clone());
        }
        let endpoint = Endpoint::Direct(self.client(addr)?);
        let conn = RespConnection::open(&endpoint, &self.dial).await?;
        let conn = MuxConnection::start(conn, self.response_timeout, Arc::new(|_reason| {}));
        *slot = Some(conn.clone());
        Ok(conn)
    }

    /// Drops the pooled connection to `addr` (one that left a command
    /// unanswered for the response timeout: a frozen node, or a network that
    /// stopped delivering), so that the next command dials again. Replies come
    /// in order, so every later command on it would wait just as long.
    fn forget(&self, addr: &NodeAddr) {
        let slot = self
            .nodes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(addr)
            .cloned();
        if let Some(slot) = slot
            && let Ok(mut slot) = slot.try_lock()
        {
            debug!(node = %addr, "cluster node connection dropped: no reply in time");
            *slot = None;
        }
    }

    /// The connection to `addr` if one is up now (no dialling, no waiting).
    fn conn_now(&self, addr: &NodeAddr) -> Option<MuxConnection> {
        let slot = self
            .nodes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(addr)?
            .clone();
        let slot = slot.try_lock().ok()?;
        slot.as_ref().filter(|c| !c.is_closed()).cloned()
    }

    /// Runs one command (`command`: its RESP encoding) on the primary of `slot`,
    /// following the redirect and retry rules of this module, bounded by the
    /// response timeout; the reply frame (never an error reply).
    ///
    /// # Errors
    /// [`TransportError::Timeout`] when the deadline passed (the command may
    /// have run); [`TransportError::Redis`] for an error reply that is not
    /// retried (e.g. `NOPERM`, `WRONGTYPE`), the last one after too many
    /// redirects, or a redirect to an unusable address.
    pub(crate) async fn command(&self, slot: u16, command: &[u8]) -> Result<Bytes, TransportError> {
        let deadline = tokio::time::Instant::now() + self.response_timeout;
        let mut frames = self.commands_until(slot, command, 1, deadline).await?;
        Ok(frames.pop().expect("one reply per command"))
    }

    /// As [`Router::command`] for `commands`, the RESP encoding of `replies`
    /// commands on keys of `slot` written together (a `MULTI … EXEC` block):
    /// their reply frames in order. The first error reply among them decides
    /// as a single command's would (a `MOVED` or `ASK` on a queued command
    /// redirects the whole block, which Redis then aborted: `EXECABORT`).
    pub(crate) async fn commands(
        &self,
        slot: u16,
        commands: &[u8],
        replies: usize,
    ) -> Result<Vec<Bytes>, TransportError> {
        let deadline = tokio::time::Instant::now() + self.response_timeout;
        self.commands_until(slot, commands, replies, deadline).await
    }

    /// [`Router::commands`] with its own `deadline`.
    async fn commands_until(
        &self,
        slot: u16,
        command: &[u8],
        replies: usize,
        deadline: tokio::time::Instant,
    ) -> Result<Vec<Bytes>, TransportError> {
        let timeout = || TransportError::Timeout {
            ms: millis(self.response_timeout),
        };
        let mut target = Target::Owner;
        let (mut redirects, mut pause) = (0, RETRY_FIRST);
        loop {
            let (addr, asking) = match &target {
                Target::Owner => (self.topology().primary_of(slot).cloned(), false),
                Target::Moved(a) => (Some(a.clone()), false),
                Target::Ask(a) => (Some(a.clone()), true),
            };
            let attempt = async {
                // `None`: the map has no owner for the slot (CLUSTERDOWN-like).
                let Some(addr) = &addr else {
                    return Err(None);
                };
                let conn = self.conn(addr).await.map_err(|e| Some(Failed::Unsent(e)))?;
                let mut bytes = Vec::with_capacity(command.len() + 20);
                if asking {
                    resp::write_command(&mut bytes, &[b"ASKING"]);
                }
                bytes.extend_from_slice(command);
                let reply = conn
                    .enqueue(bytes, replies + usize::from(asking))
                    .map_err(|e| Some(Failed::Unsent(e)))?;
                // Written (or about to be): a lost connection from here on
                // leaves the outcome unknown, and a resend could run the
                // command twice (a message delivered twice, an entry added
                // twice), so it is not retried.
                match reply.await {
                    Ok(Ok(mut frames)) => {
                        if asking {
                            frames.remove(0);
                        }
                        Ok(frames)
                    }
                    Ok(Err(e)) => Err(Some(Failed::Unknown(e))),
                    Err(_) => Err(Some(Failed::Unknown(crate::conn::io_error(
                        std::io::ErrorKind::ConnectionAborted,
                        "connection closed",
                    )))),
                }
            };
            let error: Option<RedisError> = match tokio::time::timeout_at(deadline, attempt).await {
                Err(_) => {
                    if let Some(addr) = &addr {
                        self.forget(addr);
                    }
                    return Err(timeout());
                }
                Ok(Ok(frames)) => match frames.iter().find_map(|f| reply_error(f)) {
                    None => return Ok(frames),
                    Some(e) => Some(e),
                },
                Ok(Err(Some(Failed::Unknown(e)))) => {
                    self.stale.notify_one();
                    return Err(TransportError::Redis(e));
                }
                Ok(Err(Some(Failed::Unsent(e)))) => Some(e),
                Ok(Err(None)) => None,
            };
            let class = error.as_ref().map_or(ErrorClass::Busy, classify);
            let redirect = error
                .as_ref()
                .zip(addr.as_ref())
                .and_then(|(e, from)| redirect(e, from));
            match (class, redirect) {
                (ErrorClass::Redirect, Some((kind, addr))) => {
                    redirects += 1;
                    Counters::incr(&self.shared.counters.redirects);
                    if redirects > MAX_REDIRECTS {
                        return Err(TransportError::Redis(error.expect("a redirect")));
                    }
                    if kind == "MOVED" {
                        self.stale.notify_one();
                        target = Target::Moved(addr);
                    } else {
                        target = Target::Ask(addr);
                    }
                }
                (ErrorClass::Redirect | ErrorClass::Busy | ErrorClass::Connection, _) => {
                    if let Some(e) = &error {
                        debug!(slot, error = %e, "cluster command: retrying");
                    }
                    target = Target::Owner;
                    if tokio::time::timeout_at(deadline, self.refresh())
                        .await
                        .is_err()
                    {
                        return Err(timeout());
                    }
                    if tokio::time::Instant::now() + pause >= deadline {
                        return Err(error.map_or_else(timeout, TransportError::Redis));
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(RETRY_MAX);
                }
                _ => return Err(TransportError::Redis(error.expect("a reply error"))),
            }
        }
    }

    /// Runs one command (`command`: its RESP encoding) on every node of the
    /// slot map, primaries and replicas, at once, over each node's connection
    /// (dialled if needed), each bounded by the response timeout; the replies
    /// in no particular order (error replies as [`TransportError::Redis`]).
    /// No redirects, no retries: for `PUBSUB NUMSUB`, which every node answers
    /// for its own clients.
    pub(crate) async fn on_every_node(&self, command: &[u8]) -> Vec<Result<Bytes, TransportError>> {
        let topology = self.topology();
        let nodes: Vec<NodeAddr> = topology
            .shards()
            .iter()
            .flat_map(|s| std::iter::once(&s.primary).chain(&s.replicas))
            .cloned()
            .collect();
        self.on_nodes(nodes, command).await
    }

    /// As [`Router::on_every_node`], on the nodes (primary and replicas) of
    /// the shard serving `slot`: for `PUBSUB SHARDNUMSUB`, since a shard
    /// channel's subscribers may be on any node of its shard. Empty when no
    /// shard serves the slot.
    pub(crate) async fn on_shard(
        &self,
        slot: u16,
        command: &[u8],
    ) -> Vec<Result<Bytes, TransportError>> {
        let topology = self.topology();
        let nodes: Vec<NodeAddr> = topology
            .shard_of(slot)
            .map(|s| {
                std::iter::once(&s.primary)
                    .chain(&s.replicas)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        self.on_nodes(nodes, command).await
    }

    /// Runs `command` on each of `nodes` at once.
    async fn on_nodes(
        &self,
        nodes: Vec<NodeAddr>,
        command: &[u8],
    ) -> Vec<Result<Bytes, TransportError>> {
        let timeout = self.response_timeout;
        let ask = |addr: NodeAddr| async move {
            let work = async {
                let conn = self.conn(&addr).await?;
                let mut frames = conn.request(command.to_vec(), 1).await?;
                let frame = frames.pop().unwrap_or_default();
                match reply_error(&frame) {
                    None => Ok(frame),
                    Some(e) => Err(TransportError::Redis(e)),
                }
            };
            tokio::time::timeout(timeout, work)
                .await
                .unwrap_or(Err(TransportError::Timeout {
                    ms: millis(timeout),
                }))
        };
        futures_util::future::join_all(nodes.into_iter().map(ask)).await
    }

    /// `SPUBLISH channel payload` on the channel's slot owner; the number of
    /// clients that received it (on that shard).
    ///
    /// # Errors
    /// As [`Router::command`].
    pub(crate) async fn spublish(
        &self,
        channel: &str,
        payload: &[u8],
    ) -> Result<u64, TransportError> {
        let slot = key_slot(channel.as_bytes());
        let frame = self
            .command(slot, &spublish_command(channel, payload))
            .await?;
        integer_reply(&frame)
    }

    /// `SPUBLISH` without waiting for the reply, in call order per node. When
    /// the slot owner's connection is up and nothing waits for that node, the
    /// message is written at once behind the ones sent before it. Otherwise
    /// (first use of a node, an outage) it joins the node's backlog, which one
    /// task sends in order, each message with the redirect and retry rules of
    /// [`Router::command`] inside the response timeout counted from this call
    /// (so a long outage drops what waited too long instead of holding the
    /// backlog); later messages for that node queue behind it until the
    /// backlog is empty. A message answered with a redirect or a busy error
    /// (`MOVED`, `TRYAGAIN`…) is resent on its own and may overtake later ones;
    /// one whose connection was lost after it was written is not resent (it may
    /// have been delivered: a resend could deliver it twice). Failures are
    /// counted in `publish_errors` and logged.
    ///
    /// When [`MAX_IN_FLIGHT`] messages wait for their reply, the caller waits (in
    /// call order) for one of them to be answered, at most the response timeout,
    /// as the standalone publish queue makes a caller wait for room: a sender
    /// faster than Redis is slowed down instead of losing broadcasts.
    ///
    /// # Errors
    /// [`TransportError::TooManyInFlight`] when [`MAX_IN_FLIGHT`] messages still
    /// wait for their reply after the response timeout.
    pub(crate) async fn spublish_queued(
        self: &Arc<Self>,
        channel: String,
        payload: Bytes,
    ) -> Result<(), TransportError> {
        // The broadcast path takes no timer unless the limit is reached.
        let permit = match self.in_flight.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let acquire = self.in_flight.clone().acquire_owned();
                match tokio::time::timeout(self.response_timeout, acquire).await {
                    Ok(Ok(permit)) => permit,
                    Ok(Err(_)) => return Err(TransportError::Closed),
                    Err(_) => {
                        return Err(TransportError::TooManyInFlight {
                            limit_messages: MAX_IN_FLIGHT,
                        });
                    }
                }
            }
        };
        let slot = key_slot(channel.as_bytes());
        let job = Job {
            slot,
            channel,
            payload,
            deadline: tokio::time::Instant::now() + self.response_timeout,
            _permit: permit,
        };
        let Some(owner) = self.topology().primary_of(slot).cloned() else {
            // No owner known: the backlog of "nobody" waits for one.
            self.to_backlog(
                NodeAddr {
                    host: String::new(),
                    port: 0,
                },
                job,
            );
            return Ok(());
        };
        let mut backlogs = self.backlogs.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(tx) = backlogs.get(&owner) {
            if let Err(mpsc::error::SendError(job)) = tx.send(job) {
                backlogs.remove(&owner);
                drop(backlogs);
                self.to_backlog(owner, job);
            }
            return Ok(());
        }
        drop(backlogs);
        let Some(conn) = self.conn_now(&owner) else {
            self.to_backlog(owner, job);
            return Ok(());
        };
        let Ok(reply) = conn.enqueue(spublish_command(&job.channel, &job.payload), 1) else {
            self.to_backlog(owner, job);
            return Ok(());
        };
        self.watch(owner, job, reply);
        Ok(())
    }

    /// Hands a written `SPUBLISH`'s reply to `owner`'s reply watcher, starting it when
    /// none runs: one task per node settles the replies in the order they were written
    /// (one connection answers in order), instead of one task and one timer per
    /// message (measured: the cluster sender's CPU per broadcast was 2.5× the
    /// standalone one's).
    fn watch(self: &Arc<Self>, owner: NodeAddr, job: Job, reply: oneshot::Receiver<Replies>) {
        let mut watchers = self.watchers.lock().unwrap_or_else(PoisonError::into_inner);
        // Sent under the lock: the watcher removes its entry under it too, once it
        // found its queue empty, so nothing is left behind.
        let item = match watchers.get(&owner) {
            Some(tx) => match tx.send((job, reply)) {
                Ok(()) => return,
                Err(mpsc::error::SendError(item)) => item,
            },
            None => (job, reply),
        };
        let (tx, mut rx) = mpsc::unbounded_channel::<Written>();
        let router = self.clone();
        let key = owner.clone();
        self.tasks.spawn(async move {
            loop {
                let (job, reply) = match rx.try_recv() {
                    Ok(item) => item,
                    Err(_) => match tokio::time::timeout(WATCHER_IDLE, rx.recv()).await {
                        Ok(Some(item)) => item,
                        _ => {
                            let mut watchers = router
                                .watchers
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner);
                            // Nothing came in meanwhile: this watcher is done.
                            match rx.try_recv() {
                                Ok(item) => item,
                                Err(_) => {
                                    watchers.remove(&key);
                                    return;
                                }
                            }
                        }
                    },
                };
                router.settle(&key, job, reply).await;
            }
        });
        // A fresh channel always takes the item.
        let _ = tx.send(item);
        watchers.insert(owner, tx);
    }

    /// Waits for the reply of one written `SPUBLISH` (until its deadline) and counts
    /// the outcome; a retryable error reply (MOVED, TRYAGAIN…) sends it again.
    async fn settle(&self, owner: &NodeAddr, job: Job, reply: oneshot::Receiver<Replies>) {
        let failed = match tokio::time::timeout_at(job.deadline, reply).await {
            Ok(Ok(Ok(mut frames))) => match reply_error(&frames.pop().unwrap_or_default()) {
                None => {
                    Counters::incr(&self.shared.counters.published);
                    return;
                }
                Some(e) => Some(e),
            },
            // The connection failed after the write: it may have been
            // published; resending could deliver it twice.
            Ok(_) => {
                self.stale.notify_one();
                self.count_error(&TransportError::Redis(crate::conn::io_error(
                    std::io::ErrorKind::ConnectionAborted,
                    "connection lost with the SPUBLISH unanswered",
                )));
                return;
            }
            Err(_) => {
                self.forget(owner);
                self.count_error(&TransportError::Timeout {
                    ms: millis(self.response_timeout),
                });
                return;
            }
        };
        match failed {
            // Not retryable (e.g. NOPERM): resending would not help.
            Some(e) if !classify(&e).is_retryable() => {
                self.count_error(&TransportError::Redis(e));
            }
            _ => self.send_job(job).await,
        }
    }

    /// Appends `job` to `owner`'s backlog, starting the task that drains it.
    fn to_backlog(self: &Arc<Self>, owner: NodeAddr, job: Job) {
        let mut backlogs = self.backlogs.lock().unwrap_or_else(PoisonError::into_inner);
        // Sent under the lock: the draining task removes its entry under it
        // too, once it found its queue empty, so nothing is left behind.
        let job = match backlogs.get(&owner) {
            Some(tx) => match tx.send(job) {
                Ok(()) => return,
                Err(mpsc::error::SendError(job)) => job,
            },
            None => job,
        };
        let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
        let router = self.clone();
        let key = owner.clone();
        self.tasks.spawn(async move {
            loop {
                let job = {
                    match rx.try_recv() {
                        Ok(job) => job,
                        Err(_) => {
                            let mut backlogs = router
                                .backlogs
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner);
                            // Nothing came in meanwhile: the backlog is done.
                            match rx.try_recv() {
                                Ok(job) => job,
                                Err(_) => {
                                    backlogs.remove(&key);
                                    return;
                                }
                            }
                        }
                    }
                };
                router.send_job(job).await;
            }
        });
        // A fresh channel always takes the job.
        let _ = tx.send(job);
        backlogs.insert(owner, tx);
    }

    /// Sends one queued `SPUBLISH` as [`Router::command`], bounded by its
    /// deadline; the outcome is counted.
    async fn send_job(&self, job: Job) {
        if tokio::time::Instant::now() >= job.deadline {
            self.count_error(&TransportError::Timeout {
                ms: millis(self.response_timeout),
            });
            return;
        }
        let command = spublish_command(&job.channel, &job.payload);
        match self
            .commands_until(job.slot, &command, 1, job.deadline)
            .await
        {
            Ok(_) => Counters::incr(&self.shared.counters.published),
            Err(e) => self.count_error(&e),
        }
    }

    fn count_error(&self, e: &TransportError) {
        let errors = self.shared.counters.publish_errors.add(1);
        if errors == 0 {
            warn!(error = %e, "SPUBLISH failed; message lost (logged once; counted in TransportStats::publish_errors)");
        } else {
            debug!(error = %e, "SPUBLISH failed; message lost");
        }
    }

    /// Stops taking fire-and-forget publishes and waits for those in flight
    /// (each bounded by the response timeout and its retries); drops every
    /// connection.
    pub(crate) async fn close(&self) {
        self.in_flight.close();
        self.tasks.close();
        self.tasks.wait().await;
        self.nodes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// `SPUBLISH channel payload`, RESP-encoded.
fn spublish_command(channel: &str, payload: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(channel.len() + payload.len() + 48);
    resp::write_command(&mut bytes, &[b"SPUBLISH", channel.as_bytes(), payload]);
    bytes
}

/// `cluster_current_epoch` of a `CLUSTER INFO` reply (`key:value` lines).
fn current_epoch(info: &str) -> Option<u64> {
    info.lines()
        .find_map(|l| l.strip_prefix("cluster_current_epoch:"))
        .and_then(|v| v.trim().parse().ok())
}

/// The error of an error reply frame (`-…`), `None` for any other reply.
fn reply_error(frame: &[u8]) -> Option<RedisError> {
    if frame.first() != Some(&b'-') && frame.first() != Some(&b'!') {
        return None;
    }
    redis::parse_redis_value(frame)
        .and_then(redis::Value::extract_error)
        .err()
}

/// The integer of a reply frame.
pub(crate) fn integer_reply(frame: &[u8]) -> Result<u64, TransportError> {
    resp::integer(frame)
        .map(|n| u64::try_from(n).unwrap_or(0))
        .ok_or_else(|| {
            TransportError::Redis(RedisError::from((
                redis::ErrorKind::UnexpectedReturnType,
                "expected an integer reply",
            )))
        })
}

/// `("MOVED" | "ASK", node)` of a redirect error with a usable address
/// (`MOVED <slot> <host>:<port>`, IPv6 hosts in brackets); an empty host means
/// the host of `from`, the node that answered.
pub(crate) fn redirect(e: &RedisError, from: &NodeAddr) -> Option<(&'static str, NodeAddr)> {
    let kind = match e.code()? {
        "MOVED" => "MOVED",
        "ASK" => "ASK",
        _ => return None,
    };
    let (addr, _slot) = e.redirect_node()?;
    let (host, port) = addr.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port: u16 = port.parse().ok().filter(|p| *p != 0)?;
    if host.len() > MAX_HOST_LEN {
        return None;
    }
    let host = if host.is_empty() { &from.host } else { host };
    Some((
        kind,
        NodeAddr {
            host: host.to_owned(),
            port,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_are_parsed_and_bounded() {
        let from = NodeAddr {
            host: "10.0.0.9".into(),
            port: 7000,
        };
        let redirect = |e: &RedisError| redirect(e, &from);
        let e = reply_error(b"-MOVED 3999 127.0.0.1:6381\r\n").unwrap();
        let (kind, addr) = redirect(&e).unwrap();
        assert_eq!(
            (kind, addr.host.as_str(), addr.port),
            ("MOVED", "127.0.0.1", 6381)
        );
        let e = reply_error(b"-ASK 3999 10.0.0.2:7002\r\n").unwrap();
        assert_eq!(redirect(&e).unwrap().0, "ASK");
        let long = format!("-MOVED 1 {}:7000\r\n", "h".repeat(MAX_HOST_LEN + 1));
        assert!(redirect(&reply_error(long.as_bytes()).unwrap()).is_none());
        assert!(redirect(&reply_error(b"-ERR nope\r\n").unwrap()).is_none());
        assert!(redirect(&reply_error(b"-MOVED 1 127.0.0.1:0\r\n").unwrap()).is_none());
        assert!(redirect(&reply_error(b"-MOVED 1 127.0.0.1\r\n").unwrap()).is_none());
        let (_, addr) = redirect(&reply_error(b"-MOVED 1 :7001\r\n").unwrap()).unwrap();
        assert_eq!((addr.host.as_str(), addr.port), ("10.0.0.9", 7001));
        let (_, addr) = redirect(&reply_error(b"-ASK 1 [::1]:7002\r\n").unwrap()).unwrap();
        assert_eq!((addr.host.as_str(), addr.port), ("::1", 7002));
        assert!(reply_error(b":1\r\n").is_none());
        assert_eq!(integer_reply(b":7\r\n").unwrap(), 7);
        let info = "cluster_state:ok\r\ncluster_current_epoch:17\r\ncluster_my_epoch:2\r\n";
        assert_eq!(current_epoch(info), Some(17));
        assert_eq!(current_epoch("cluster_current_epoch:x\r\n"), None);
        assert!(integer_reply(b"+OK\r\n").is_err());
    }
}
