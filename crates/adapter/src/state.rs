//! [`RedisAdapterState`]: what every namespace adapter of one server shares (the Redis
//! transport, the options, the map of foreign socket ids), and the handle the user keeps
//! for what socketioxide's adapter trait lacks: server-side emit, server count, and a
//! fetchSockets that returns ids, rooms and data of every socket of the cluster.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use sio_redis_transport::{SubscriptionId, Transport, TransportConfig};
use sio_redis_wire::{BroadcastOptions, SocketDescription, Value};
use socketioxide_core::{Sid, Uid};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::task::TaskTracker;

use crate::config::{AdapterConfig, ConfigError, EngineConfig};
use crate::error::Error;
use crate::foreign_ids::ForeignIds;
use crate::kind::AdapterKind;
use crate::stats::Counters;

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The acknowledgements of a server-side emit, one per server; on failure the error with
/// the acknowledgements that did arrive (Node's `(err, responses)`).
pub type AckResult = Result<Vec<Value>, (Error, Vec<Value>)>;

/// The operations of one namespace adapter that the user-held handle reaches.
pub(crate) trait NamespaceOps: Send + Sync {
    fn server_count(&self) -> BoxFuture<'_, Result<u16, Error>>;
    fn server_side_emit(&self, data: Vec<Value>) -> BoxFuture<'_, Result<(), Error>>;
    fn server_side_emit_with_ack(&self, data: Vec<Value>) -> BoxFuture<'_, AckResult>;
    fn fetch_sockets(
        &self,
        opts: BroadcastOptions,
    ) -> BoxFuture<'_, Result<Vec<SocketInfo>, Error>>;
    fn disconnect_sockets(
        &self,
        opts: BroadcastOptions,
        close: bool,
    ) -> BoxFuture<'_, Result<(), Error>>;
    fn pending_requests(&self) -> usize;
    fn sync_rooms(&self) -> BoxFuture<'_, Result<(), Error>>;
    fn on_stream_entry(self: Arc<Self>, entry: sio_redis_transport::StreamEntry);
}

/// A server-side event received from another server or an emitter
/// (`serverSideEmit`, PROTOCOL.md §1.5).
#[derive(Debug)]
#[non_exhaustive]
pub struct ServerSideEvent {
    /// The namespace.
    pub nsp: String,
    /// The event name (`data[0]`).
    pub event: String,
    /// The arguments after the event name.
    pub args: Vec<Value>,
    /// Present when the sender waits for an acknowledgement: call it once.
    pub ack: Option<ServerSideAck>,
}

/// Answers a server-side emit with acknowledgement. Node keeps only the first argument
/// of the first call; so does this (it is consumed).
pub struct ServerSideAck {
    pub(crate) send: Box<dyn FnOnce(Value) + Send>,
}

impl std::fmt::Debug for ServerSideAck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerSideAck")
    }
}

impl ServerSideAck {
    /// Sends the acknowledgement (published as a `SERVER_SIDE_EMIT` response, type 6).
    pub fn send(self, value: Value) {
        (self.send)(value)
    }
}

/// Receives the server-side events of a namespace. Called on the Redis subscriber task:
/// keep it quick (spawn for slow work).
pub type ServerSideHandler = Arc<dyn Fn(ServerSideEvent) + Send + Sync>;

/// One socket of the cluster, as fetchSockets describes it (PROTOCOL.md §0.8).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SocketInfo {
    /// The socket id as its server knows it (20 characters from Node, 16 from Rust).
    pub id: String,
    /// Its rooms, its own-id room included.
    pub rooms: Vec<String>,
    /// `socket.data`.
    pub data: Value,
    /// `socket.handshake` (Node's shape).
    pub handshake: Value,
    /// Whether the socket is on this server.
    pub local: bool,
}

impl From<SocketDescription> for SocketInfo {
    fn from(d: SocketDescription) -> Self {
        Self {
            id: d.id,
            rooms: d.rooms,
            data: d.data,
            handshake: d.handshake,
            local: false,
        }
    }
}

/// The data and handshake a local socket shows in fetchSockets answers.
#[derive(Debug, Clone)]
pub(crate) struct SocketMeta {
    pub(crate) data: Value,
    pub(crate) handshake: Value,
}

/// What every namespace adapter of one server shares, and the user's handle on the
/// cluster. Cheap to clone. Pass it to `SocketIo::builder().with_adapter::<…>(state)`
/// and keep a clone.
#[derive(Clone)]
pub struct RedisAdapterState {
    pub(crate) inner: Arc<StateInner>,
}

impl std::fmt::Debug for RedisAdapterState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisAdapterState")
            .field("kind", &self.inner.kind)
            .field("config", &self.inner.config)
            .finish()
    }
}

pub(crate) struct StateInner {
    /// The adapter kind this state serves (checked at namespace initialisation).
    pub(crate) kind: AdapterKind,
    pub(crate) transport: Transport,
    pub(crate) config: AdapterConfig,
    /// The settings every kind shares (a copy of `config.engine()`).
    pub(crate) engine: EngineConfig,
    pub(crate) namespaces: Mutex<HashMap<String, Weak<dyn NamespaceOps>>>,
    pub(crate) sse_handlers: Mutex<HashMap<String, ServerSideHandler>>,
    pub(crate) socket_meta: Mutex<HashMap<(String, Sid), SocketMeta>>,
    pub(crate) foreign: ForeignIds,
    /// The server id given to remote sockets in socketioxide's `RemoteSocketData`.
    pub(crate) remote_uid: Uid,
    pub(crate) counters: Counters,
    /// Background work (answers to requests); awaited by [`RedisAdapterState::close`].
    pub(crate) tasks: TaskTracker,
    /// One permit per remote request being worked on
    /// (`max_concurrent_remote_requests`).
    pub(crate) request_permits: Arc<Semaphore>,
    /// Subscriptions of adapters dropped where no Tokio runtime was running, removed
    /// at the next namespace initialisation.
    pub(crate) orphaned_subscriptions: Mutex<Vec<SubscriptionId>>,
    /// The streams adapter's stream readers, one per stream, shared by its namespaces.
    pub(crate) stream_readers: crate::streams::readers::Readers,
    /// When the received count last changed, for [`RedisAdapterState::health`].
    pub(crate) last_seen: crate::health::LastSeen,
}

impl StateInner {
    /// A slot for one remote request, or `None` (without waiting) when every slot of
    /// `max_concurrent_remote_requests` is taken; the caller counts the drop.
    pub(crate) fn try_request_permit(&self) -> Option<OwnedSemaphorePermit> {
        self.request_permits.clone().try_acquire_owned().ok()
    }

    /// Removes a subscription without waiting: on a task of the current Tokio runtime,
    /// or, with no runtime, at the next namespace initialisation
    /// ([`StateInner::unsubscribe_orphans`]). Called from `Drop`.
    pub(crate) fn unsubscribe_later(&self, id: SubscriptionId) {
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let transport = self.transport.clone();
                runtime.spawn(self.tasks.track_future(async move {
                    // Closed transport: nothing stays subscribed anyway.
                    if let Err(e) = transport.unsubscribe(id).await {
                        tracing::debug!(error = %e, "cannot unsubscribe a dropped adapter");
                    }
                }));
            }
            Err(_) => lock(&self.orphaned_subscriptions).push(id),
        }
    }

    /// Removes the subscriptions [`StateInner::unsubscribe_later`] could not remove.
    pub(crate) async fn unsubscribe_orphans(&self) {
        let orphans = std::mem::take(&mut *lock(&self.orphaned_subscriptions));
        for id in orphans {
            if let Err(e) = self.transport.unsubscribe(id).await {
                tracing::debug!(error = %e, "cannot unsubscribe a dropped adapter");
            }
        }
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl RedisAdapterState {
    /// Connects to Redis at `url` (`redis://`, `rediss://`, with `user:password@`; a
    /// comma-separated seed list for a Redis Cluster) and returns the state for the
    /// adapter kind of `config`: a [`ClassicConfig`](crate::ClassicConfig) for
    /// [`ClassicAdapter`](crate::ClassicAdapter), a [`ShardedConfig`](crate::ShardedConfig)
    /// for [`ShardedAdapter`](crate::ShardedAdapter) (Redis 7 or later).
    ///
    /// # Errors
    /// [`Error::Config`] for a bad option; [`Error::Transport`] for a bad URL (naming the
    /// setting) or when Redis does not answer.
    pub async fn connect(url: &str, config: impl Into<AdapterConfig>) -> Result<Self, Error> {
        let config = config.into().validate()?;
        let transport_config = TransportConfig::new(url)
            .metric_label("adapter", config.kind().to_string())
            .build()
            .map_err(sio_redis_transport::TransportError::Config)?;
        let transport = Transport::connect(transport_config).await?;
        Ok(Self::new(transport, config)?)
    }

    /// The state for the adapter kind of `config` over an existing transport (for the
    /// sharded adapter, one that can `SPUBLISH`: Redis 7 or later).
    ///
    /// # Errors
    /// [`ConfigError`] naming a bad setting.
    pub fn new(
        transport: Transport,
        config: impl Into<AdapterConfig>,
    ) -> Result<Self, ConfigError> {
        let config = config.into().validate()?;
        let engine = config.engine().clone();
        let request_permits = Arc::new(Semaphore::new(engine.max_concurrent_remote_requests));
        let kind = config.kind();
        let counters = Counters::new(kind, transport.metric_labels());
        Ok(Self {
            inner: Arc::new(StateInner {
                kind,
                transport,
                foreign: ForeignIds::new(engine.max_foreign_ids),
                config,
                engine,
                namespaces: Mutex::default(),
                sse_handlers: Mutex::default(),
                socket_meta: Mutex::default(),
                remote_uid: Uid::new(),
                counters,
                tasks: TaskTracker::new(),
                request_permits,
                orphaned_subscriptions: Mutex::default(),
                stream_readers: Default::default(),
                last_seen: Default::default(),
            }),
        })
    }

    /// The Redis transport (for its connection events and counters).
    pub fn transport(&self) -> &Transport {
        &self.inner.transport
    }

    /// The adapter kind this state serves (that of the options it was made with).
    pub fn kind(&self) -> AdapterKind {
        self.inner.kind
    }

    /// The options.
    pub fn config(&self) -> &AdapterConfig {
        &self.inner.config
    }

    /// Counters of this server's adapters: messages received, dropped by kind, remote
    /// requests in progress, …
    pub fn stats(&self) -> crate::stats::AdapterStats {
        let inner = &self.inner;
        let free = inner.request_permits.available_permits();
        let in_flight = inner
            .engine
            .max_concurrent_remote_requests
            .saturating_sub(free);
        inner.counters.snapshot(
            u64::try_from(in_flight).unwrap_or(u64::MAX),
            inner.stream_readers.gaps(),
        )
    }

    fn ns(&self, nsp: &str) -> Result<Arc<dyn NamespaceOps>, Error> {
        lock(&self.inner.namespaces)
            .get(nsp)
            .and_then(Weak::upgrade)
            .ok_or_else(|| Error::UnknownNamespace(nsp.to_owned()))
    }

    /// Number of servers of the namespace's cluster, this one included
    /// (`PUBSUB NUMSUB <key>-request#<nsp>#`, as Node's `serverCount()`).
    ///
    /// # Errors
    /// [`Error::UnknownNamespace`] before the namespace's adapter is initialised;
    /// [`Error::Transport`].
    pub async fn server_count(&self, nsp: &str) -> Result<u16, Error> {
        self.ns(nsp)?.server_count().await
    }

    /// Emits `[event, ...args]` to the other servers of the namespace
    /// (`serverSideEmit`, request type 6, PROTOCOL.md §1.4).
    ///
    /// # Errors
    /// [`Error::ReservedEvent`], [`Error::UnknownNamespace`], [`Error::Transport`].
    pub async fn server_side_emit(
        &self,
        nsp: &str,
        event: &str,
        args: Vec<Value>,
    ) -> Result<(), Error> {
        self.ns(nsp)?
            .server_side_emit(event_data(event, args)?)
            .await
    }

    /// Emits `[event, ...args]` to the other servers and waits up to `requestsTimeout`
    /// for each one's acknowledgement (the first argument of its callback).
    ///
    /// # Errors
    /// On timeout, [`Error::Timeout`] with the acknowledgements that did arrive, like
    /// Node's `(err, responses)`; [`Error::ReservedEvent`], [`Error::UnknownNamespace`],
    /// [`Error::Transport`] with no responses.
    pub async fn server_side_emit_with_ack(
        &self,
        nsp: &str,
        event: &str,
        args: Vec<Value>,
    ) -> AckResult {
        let data = event_data(event, args).map_err(|e| (e, Vec::new()))?;
        self.ns(nsp)
            .map_err(|e| (e, Vec::new()))?
            .server_side_emit_with_ack(data)
            .await
    }

    /// The sockets of the whole cluster that match `opts` (rooms / except), with their
    /// ids, rooms, data and handshake (`fetchSockets`, request type 5).
    ///
    /// # Errors
    /// [`Error::Timeout`] when not every server answered within `requestsTimeout`;
    /// [`Error::UnknownNamespace`]; [`Error::Transport`].
    pub async fn fetch_sockets(
        &self,
        nsp: &str,
        opts: BroadcastOptions,
    ) -> Result<Vec<SocketInfo>, Error> {
        self.ns(nsp)?.fetch_sockets(opts).await
    }

    /// Disconnects the sockets of the whole cluster that match `opts`
    /// (`disconnectSockets(close)`, request type 4). With `close`, Node servers also close
    /// the sockets' underlying connections; this server (socketioxide 0.18 has no API for
    /// it) disconnects its sockets from the namespace only.
    ///
    /// # Errors
    /// [`Error::UnknownNamespace`]; [`Error::Transport`].
    pub async fn disconnect_sockets(
        &self,
        nsp: &str,
        opts: BroadcastOptions,
        close: bool,
    ) -> Result<(), Error> {
        self.ns(nsp)?.disconnect_sockets(opts, close).await
    }

    /// Handles the server-side events of namespace `nsp` (replaces an earlier handler).
    pub fn on_server_side_emit(
        &self,
        nsp: &str,
        handler: impl Fn(ServerSideEvent) + Send + Sync + 'static,
    ) {
        lock(&self.inner.sse_handlers).insert(nsp.to_owned(), Arc::new(handler));
    }

    /// Sets what a local socket shows in fetchSockets answers: its `data`, and its
    /// `handshake` (Node's shape: `{headers, time, address, xdomain, secure, issued, url,
    /// query, auth}`; a minimal one is made when `None`). Call
    /// [`RedisAdapterState::remove_socket_data`] when the socket disconnects.
    pub fn set_socket_data(&self, nsp: &str, sid: Sid, data: Value, handshake: Option<Value>) {
        let handshake = handshake.unwrap_or_else(default_handshake);
        lock(&self.inner.socket_meta).insert((nsp.to_owned(), sid), SocketMeta { data, handshake });
    }

    /// Forgets what [`RedisAdapterState::set_socket_data`] stored.
    pub fn remove_socket_data(&self, nsp: &str, sid: Sid) {
        lock(&self.inner.socket_meta).remove(&(nsp.to_owned(), sid));
    }

    /// The socketioxide [`Sid`] that stands for socket id `id` of any server of the
    /// cluster: the id itself for a socketioxide id, else (a Node id) the stable synthetic
    /// `Sid` that socketioxide's `RemoteSocket`s returned by `fetch_sockets` carry.
    pub fn sid_for_socket_id(&self, id: &str) -> Sid {
        self.inner.foreign.sid_for(id)
    }

    /// Whether the adapter of namespace `nsp` is subscribed and serving.
    pub fn is_ready(&self, nsp: &str) -> bool {
        self.ns(nsp).is_ok()
    }

    /// Requests of namespace `nsp` still waiting for responses (0 when idle: nothing
    /// leaks).
    pub fn pending_requests(&self, nsp: &str) -> usize {
        self.ns(nsp).map(|n| n.pending_requests()).unwrap_or(0)
    }

    /// Subscribes at once, in the dynamic modes of the sharded adapter, the room channels
    /// of every room of namespace `nsp` that has a local member, and unsubscribes those
    /// of rooms without one; returns once Redis confirmed. Call it after `socket.join`
    /// when the first broadcast to the room must not be missed (otherwise the namespace
    /// does it every [`ShardedConfig::room_sync_interval`](crate::ShardedConfig::room_sync_interval)).
    /// Does nothing for the other adapter kinds and the `static` mode.
    ///
    /// # Errors
    /// [`Error::UnknownNamespace`]; [`Error::Transport`] when Redis refuses a channel.
    pub async fn sync_rooms(&self, nsp: &str) -> Result<(), Error> {
        self.ns(nsp)?.sync_rooms().await
    }

    /// Waits for the background answers in flight, then closes the Redis transport.
    pub async fn close(&self) {
        self.inner.tasks.close();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.inner.tasks.wait()).await;
        self.inner.transport.close().await;
    }
}

fn event_data(event: &str, args: Vec<Value>) -> Result<Vec<Value>, Error> {
    // As socket.io 4.8's `Namespace.serverSideEmit`.
    if sio_redis_wire::events::RESERVED_SERVER_SIDE_EVENTS.contains(&event) {
        return Err(Error::ReservedEvent(event.to_owned()));
    }
    let mut data = Vec::with_capacity(args.len() + 1);
    data.push(Value::from(event));
    data.extend(args);
    Ok(data)
}

/// The handshake of a socket whose server recorded none: Node's member set, empty.
fn default_handshake() -> Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let empty = || Value::Map(Vec::new());
    Value::Map(vec![
        ("headers".into(), empty()),
        ("time".into(), Value::from(now.to_string())),
        ("address".into(), Value::from("")),
        ("xdomain".into(), Value::Bool(false)),
        ("secure".into(), Value::Bool(false)),
        ("issued".into(), Value::Int(now)),
        ("url".into(), Value::from("")),
        ("query".into(), empty()),
        ("auth".into(), empty()),
    ])
}
