//! The classic adapter: socketioxide's `CoreAdapter` over Redis Pub/Sub, wire-compatible
//! with `@socket.io/redis-adapter` 8.3 `createAdapter` (PROTOCOL.md §1).
//!
//! Per namespace it PSUBSCRIBEs `<key>#<nsp>#*` and SUBSCRIBEs `<key>-request#<nsp>#`,
//! `<key>-response#<nsp>#` and its own `<key>-response#<nsp>#<uid>#`, where `uid` is a
//! fresh 6-character id as Node makes one.
//!
//! What other servers can ask of this one is bounded (see
//! [`ClassicConfig`](crate::ClassicConfig)): answers that list or describe the local
//! sockets or rooms, and the forwarding of acknowledgements, run on background tasks (never
//! on the Redis subscriber task), at most `max_concurrent_remote_requests` at once, more
//! being dropped and counted; a remote `flags.timeout` is cut to `max_remote_ack_timeout`;
//! a client count above `max_remote_client_count` is dropped as malformed. Dropping the
//! adapter removes its subscription.
//!
//! Differences from Node, by design:
//! * socketsJoin / socketsLeave / disconnectSockets are applied locally at once and this
//!   node skips its own echo (Node applies its own echo instead); the wire is the same.
//! * `disconnectSockets(close = true)` from Node disconnects the sockets from the
//!   namespace; socketioxide's adapter API cannot close the underlying connection.

use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use sio_redis_transport::{Message, MessageHandler, Subscription, SubscriptionId};
use sio_redis_wire::channels::ClassicChannels;
use sio_redis_wire::classic::{
    ClassicBroadcast, ClassicBroadcastRef, ClassicRequest, ClassicResponse, RequestBody,
};
use sio_redis_wire::{
    BroadcastFlags, BroadcastOptions, Packet, PacketType, SocketDescription, Value, ids,
};
use socketioxide_core::adapter::errors::BroadcastError;
use socketioxide_core::adapter::{
    BroadcastFlags as SioFlags, BroadcastOptions as SioOpts, CoreAdapter, CoreLocalAdapter,
    DefinedAdapter, RemoteSocketData, Room, RoomParam, SocketEmitter, Spawnable,
};
use socketioxide_core::packet::{Packet as SioPacket, PacketData};
use socketioxide_core::{Sid, Str, Value as SioValue};
use tokio::sync::mpsc;

use crate::ack_stream::AckStream;
use crate::convert;
use crate::error::Error;
use crate::pending::{AckInbox, Delivery, Pending, Waiter};
use crate::state::{
    AckResult, BoxFuture, NamespaceOps, RedisAdapterState, ServerSideAck, ServerSideEvent,
    SocketInfo, lock,
};

/// The classic Redis adapter of one namespace. Created by socketioxide from the shared
/// [`RedisAdapterState`]:
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use sio_redis::{ClassicAdapter, ClassicConfig, RedisAdapterState};
/// use socketioxide::{SocketIo, extract::SocketRef};
///
/// let state = RedisAdapterState::connect("redis://127.0.0.1:6379", ClassicConfig::default()).await?;
/// let (layer, io) = SocketIo::builder().with_adapter::<ClassicAdapter<_>>(state.clone()).build_layer();
/// io.ns("/", async |socket: SocketRef<ClassicAdapter<_>>| socket.join(socket.id.to_string())).await?;
/// # Ok(()) }
/// ```
pub struct ClassicAdapter<E> {
    local: CoreLocalAdapter<E>,
    state: RedisAdapterState,
    uid: String,
    nsp: String,
    channels: ClassicChannels,
    own_response: String,
    pending: Pending,
    subscription: Mutex<Option<SubscriptionId>>,
    /// Whether the namespace's parser is the common (JSON text) one; found on first use.
    json_parser: std::sync::OnceLock<bool>,
}

impl<E> std::fmt::Debug for ClassicAdapter<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClassicAdapter")
            .field("uid", &self.uid)
            .field("nsp", &self.nsp)
            .finish()
    }
}

/// The initialisation of a namespace adapter: SUBSCRIBE and PSUBSCRIBE its channels.
/// Await it (`io.ns(...).await`), or let socketioxide spawn it (dynamic namespaces).
#[must_use = "the namespace is not subscribed until this future is awaited"]
pub struct InitRes(BoxFuture<'static, Result<(), Error>>);

impl std::fmt::Debug for InitRes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InitRes")
    }
}

impl Future for InitRes {
    type Output = Result<(), Error>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx)
    }
}

impl Spawnable for InitRes {
    fn spawn(self) {
        tokio::spawn(async move {
            if let Err(e) = self.0.await {
                tracing::error!(error = %e, "redis adapter initialisation failed");
            }
        });
    }
}

impl<E> DefinedAdapter for ClassicAdapter<E> {}

/// Dropping the adapter (socketioxide drops it with its namespace or its server) removes
/// its Redis subscription without blocking: the `UNSUBSCRIBE`/`PUNSUBSCRIBE` goes out on a
/// task of the current Tokio runtime, or, when none is running, at the next namespace
/// initialisation on the same [`RedisAdapterState`] (closing the state closes the
/// subscriber connection, which drops every subscription anyway).
impl<E> Drop for ClassicAdapter<E> {
    fn drop(&mut self) {
        let id = self
            .subscription
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let inner = &self.state.inner;
        {
            let mut namespaces = lock(&inner.namespaces);
            // Ours (dead now) unless another adapter of the namespace replaced it.
            if namespaces
                .get(&self.nsp)
                .is_some_and(|w| w.strong_count() == 0)
            {
                namespaces.remove(&self.nsp);
            }
        }
        if let Some(id) = id {
            inner.unsubscribe_later(id);
        }
    }
}

impl<E: SocketEmitter> CoreAdapter<E> for ClassicAdapter<E> {
    type Error = Error;
    type State = RedisAdapterState;
    type AckStream = AckStream<E>;
    type InitRes = InitRes;

    fn new(state: &Self::State, local: CoreLocalAdapter<E>) -> Self {
        let nsp = local.path().to_string();
        let channels = ClassicChannels::new(&state.inner.config.key, &nsp);
        let uid = ids::classic_uid();
        Self {
            own_response: channels.own_response(&uid),
            local,
            state: state.clone(),
            uid,
            nsp,
            channels,
            pending: Pending::default(),
            subscription: Mutex::new(None),
            json_parser: std::sync::OnceLock::new(),
        }
    }

    fn init(self: Arc<Self>, on_success: impl FnOnce() + Send + 'static) -> Self::InitRes {
        InitRes(Box::pin(async move {
            self.state.inner.unsubscribe_orphans().await;
            let weak = Arc::downgrade(&self);
            let handler: MessageHandler = Arc::new(move |msg| {
                if let Some(adapter) = weak.upgrade() {
                    adapter.on_message(msg);
                }
            });
            let subscription = Subscription::new()
                .channel(self.channels.request.clone())
                .channel(self.channels.response.clone())
                .channel(self.own_response.clone())
                .pattern(self.channels.broadcast_pattern.clone());
            let id = self
                .state
                .inner
                .transport
                .subscribe(subscription, handler)
                .await?;
            *lock(&self.subscription) = Some(id);
            let ops: Arc<dyn NamespaceOps> = self.clone();
            lock(&self.state.inner.namespaces).insert(self.nsp.clone(), Arc::downgrade(&ops));
            on_success();
            Ok(())
        }))
    }

    async fn close(&self) -> Result<(), Error> {
        lock(&self.state.inner.namespaces).remove(&self.nsp);
        let id = lock(&self.subscription).take();
        if let Some(id) = id {
            self.state.inner.transport.unsubscribe(id).await?;
        }
        Ok(())
    }

    async fn server_count(&self) -> Result<u16, Error> {
        let n = self
            .state
            .inner
            .transport
            .numsub(&self.channels.request)
            .await?;
        Ok(u16::try_from(n).unwrap_or(u16::MAX))
    }

    async fn broadcast(&self, packet: SioPacket, opts: SioOpts) -> Result<(), BroadcastError> {
        if opts.is_local(self.local.server_id()) {
            return self
                .local
                .broadcast(packet, opts)
                .map_err(BroadcastError::from);
        }
        let Some(data) = event_data(&packet) else {
            return self
                .local
                .broadcast(packet, opts)
                .map_err(BroadcastError::from);
        };
        let (wire_opts, single_remote) = self.wire_opts(&opts, true);
        let data = convert::from_sio(data).map_err(adapter_err)?;
        let msg = ClassicBroadcast {
            uid: self.uid.clone(),
            packet: self.wire_packet(data),
            opts: wire_opts,
        };
        let channel = msg.channel(&self.channels);
        let volatile = opts.has_flag(SioFlags::Volatile);
        let local = if single_remote {
            Ok(())
        } else {
            self.ensure_own_rooms(&opts);
            self.local.broadcast(packet, opts)
        };
        // Queued, not awaited: Node does not wait for its PUBLISH either, and queued
        // broadcasts go out in pipelines (one Redis round trip per batch). While the
        // publisher reconnects they wait in the transport's offline buffer, except
        // volatile ones, which are worthless later.
        let payload = Bytes::from(msg.encode());
        let transport = &self.state.inner.transport;
        let queued = if volatile {
            transport.publish_volatile(channel, payload).await
        } else {
            transport.publish_queued(channel, payload).await
        };
        queued.map_err(|e| adapter_err(e.into()))?;
        self.state
            .inner
            .counters
            .published
            .fetch_add(1, Ordering::Relaxed);
        local.map_err(BroadcastError::from)
    }

    async fn broadcast_with_ack(
        &self,
        packet: SioPacket,
        opts: SioOpts,
        timeout: Option<Duration>,
    ) -> Result<Self::AckStream, Error> {
        let timeout = timeout.unwrap_or_else(|| self.local.ack_timeout());
        let data = event_data(&packet).map(convert::from_sio).transpose()?;
        let (Some(data), false) = (data, opts.is_local(self.local.server_id())) else {
            let (local, _) = self.local.broadcast_with_ack(packet, opts, Some(timeout));
            return Ok(AckStream::new(local, Arc::default(), 0, 0, timeout, None));
        };
        let request_id = ids::classic_uid();
        let inbox = Arc::new(AckInbox::default());
        let guard = self
            .pending
            .register(request_id.clone(), Waiter::Acks(inbox.clone()));
        let (mut wire_opts, single_remote) = self.wire_opts(&opts, true);
        if let Some(flags) = wire_opts.flags.as_mut() {
            flags.timeout = Some(timeout.as_millis() as u64);
        }
        let request = ClassicRequest {
            uid: Some(self.uid.clone()),
            request_id: Some(request_id),
            body: RequestBody::Broadcast {
                packet: self.wire_packet(data),
                opts: wire_opts,
            },
        };
        let transport = &self.state.inner.transport;
        let (published, numsub) = tokio::join!(
            self.publish(&self.channels.request, request.encode()),
            transport.numsub(&self.channels.request)
        );
        published?;
        let expected = usize::try_from(numsub?)
            .unwrap_or(usize::MAX)
            .saturating_sub(1);
        let local = if single_remote {
            self.local
                .broadcast_with_ack(packet, SioOpts::default(), Some(timeout))
                .0
        } else {
            self.ensure_own_rooms(&opts);
            self.local.broadcast_with_ack(packet, opts, Some(timeout)).0
        };
        let max_count = self.state.inner.config.max_remote_client_count;
        Ok(AckStream::new(
            local,
            inbox,
            expected,
            max_count,
            timeout,
            Some(guard),
        ))
    }

    async fn add_sockets(&self, opts: SioOpts, rooms: impl RoomParam) -> Result<(), Error> {
        let rooms: Vec<Room> = rooms.into_room_iter().collect();
        self.room_request(opts, rooms, true).await
    }

    async fn del_sockets(&self, opts: SioOpts, rooms: impl RoomParam) -> Result<(), Error> {
        let rooms: Vec<Room> = rooms.into_room_iter().collect();
        self.room_request(opts, rooms, false).await
    }

    async fn disconnect_socket(&self, opts: SioOpts) -> Result<(), BroadcastError> {
        if opts.is_local(self.local.server_id()) {
            return self
                .local
                .disconnect_socket(opts)
                .map_err(BroadcastError::from);
        }
        let (wire_opts, single_remote) = self.wire_opts(&opts, false);
        let request = ClassicRequest {
            uid: Some(self.uid.clone()),
            request_id: None,
            body: RequestBody::RemoteDisconnect {
                opts: wire_opts,
                close: false,
            },
        };
        self.publish(&self.channels.request, request.encode())
            .await
            .map_err(adapter_err)?;
        if single_remote {
            return Ok(());
        }
        self.ensure_own_rooms(&opts);
        self.local
            .disconnect_socket(opts)
            .map_err(BroadcastError::from)
    }

    async fn rooms(&self, opts: SioOpts) -> Result<Vec<Room>, Error> {
        let mut rooms: std::collections::HashSet<String> = std::collections::HashSet::new();
        if opts.rooms.is_empty() && opts.except.is_empty() && opts.sid.is_none() {
            if opts.has_flag(SioFlags::Local) {
                rooms.extend(self.local_rooms());
            } else {
                for r in self.all_rooms().await? {
                    rooms.insert(r);
                }
            }
        } else {
            let (wire_opts, _) = self.wire_opts(&opts, true);
            for socket in self.fetch_infos(wire_opts).await? {
                rooms.extend(socket.rooms);
            }
        }
        Ok(rooms.into_iter().map(Room::Owned).collect())
    }

    async fn fetch_sockets(&self, opts: SioOpts) -> Result<Vec<RemoteSocketData>, Error> {
        if opts.is_local(self.local.server_id()) {
            return Ok(self.local.fetch_sockets(opts));
        }
        let (wire_opts, _) = self.wire_opts(&opts, true);
        let ns: Str = self.nsp.clone().into();
        let foreign = &self.state.inner.foreign;
        Ok(self
            .fetch_infos(wire_opts)
            .await?
            .into_iter()
            .map(|s| {
                let (id, server_id) = if s.local {
                    (
                        Sid::from_str(&s.id).unwrap_or_default(),
                        self.local.server_id(),
                    )
                } else {
                    (foreign.sid_for(&s.id), self.state.inner.remote_uid)
                };
                RemoteSocketData {
                    id,
                    server_id,
                    ns: ns.clone(),
                }
            })
            .collect())
    }

    fn get_local(&self) -> &CoreLocalAdapter<E> {
        &self.local
    }
}

/// The `[event, ...args]` payload of an event packet; `None` for other packet types.
fn event_data(packet: &SioPacket) -> Option<&SioValue> {
    match &packet.inner {
        PacketData::Event(v, _) | PacketData::BinaryEvent(v, _) => Some(v),
        _ => None,
    }
}

fn adapter_err(e: Error) -> BroadcastError {
    BroadcastError::Adapter(e.into())
}

/// How long this server waits for its clients' acknowledgements of another server's
/// broadcast with acknowledgements: the request's `flags.timeout` (ms), else the
/// namespace's `ack_timeout`, at most `max` (`max_remote_ack_timeout`).
fn remote_ack_timeout(
    flags_timeout_ms: Option<u64>,
    ack_timeout: Duration,
    max: Duration,
) -> Duration {
    flags_timeout_ms
        .map(Duration::from_millis)
        .unwrap_or(ack_timeout)
        .min(max)
}

/// socketioxide options for a remote operation: rooms, except and volatile from the wire;
/// the broadcast flag makes an empty room list mean "every socket".
fn sio_opts(opts: &BroadcastOptions) -> SioOpts {
    let mut o = SioOpts::default();
    o.add_flag(SioFlags::Broadcast);
    if opts.flags.as_ref().is_some_and(|f| f.volatile) {
        o.add_flag(SioFlags::Volatile);
    }
    o.rooms = opts.rooms.iter().cloned().map(Room::Owned).collect();
    o.except = opts.except.iter().cloned().map(Room::Owned).collect();
    o
}

impl<E: SocketEmitter> ClassicAdapter<E> {
    async fn publish(&self, channel: &str, payload: Vec<u8>) -> Result<(), Error> {
        self.state
            .inner
            .transport
            .publish(channel, Bytes::from(payload))
            .await?;
        self.state
            .inner
            .counters
            .published
            .fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// An event packet of this namespace, as the classic adapter carries it (`nsp` set).
    fn wire_packet(&self, data: Value) -> Packet {
        Packet {
            kind: PacketType::Event,
            data,
            nsp: Some(self.nsp.clone()),
        }
    }

    /// The wire form of socketioxide's options. `with_flags`: broadcasts carry `flags`,
    /// room requests do not. Also says whether the target is one remote socket
    /// (`RemoteSocket` API), which nothing local matches.
    fn wire_opts(&self, opts: &SioOpts, with_flags: bool) -> (BroadcastOptions, bool) {
        let foreign = &self.state.inner.foreign;
        let mut rooms: Vec<String> = opts.rooms.iter().map(|r| foreign.wire_room(r)).collect();
        let mut except: Vec<String> = opts.except.iter().map(|r| foreign.wire_room(r)).collect();
        let broadcast = opts.has_flag(SioFlags::Broadcast);
        let mut single_remote = false;
        if let Some(sid) = opts.sid {
            if broadcast {
                except.push(sid.to_string());
            } else if rooms.is_empty() {
                rooms.push(foreign.id_for(sid));
                single_remote = opts
                    .server_id
                    .is_some_and(|id| id != self.local.server_id());
            }
        }
        let flags = with_flags.then(|| BroadcastFlags {
            volatile: opts.has_flag(SioFlags::Volatile),
            ..BroadcastFlags::default()
        });
        (
            BroadcastOptions {
                rooms,
                except,
                flags,
                layout: Default::default(),
            },
            single_remote,
        )
    }

    /// Puts every local socket named in the rooms or except list of `opts` into its
    /// own-id room, which Node servers address single sockets by (socketioxide does not
    /// join it by itself).
    fn ensure_own_rooms(&self, opts: &SioOpts) {
        for room in opts.rooms.iter().chain(&opts.except) {
            let Ok(sid) = Sid::from_str(room) else {
                continue;
            };
            if self.local.socket_rooms(sid).contains(room) {
                continue;
            }
            if !self.local.fetch_sockets(SioOpts::new(sid)).is_empty() {
                self.local.add_all(sid, room.to_string());
            }
        }
    }

    /// socketioxide options for wire options received from another server, after the
    /// own-id rooms they name are ensured.
    fn local_opts(&self, opts: &BroadcastOptions) -> SioOpts {
        let sio = sio_opts(opts);
        self.ensure_own_rooms(&sio);
        sio
    }

    async fn room_request(&self, opts: SioOpts, rooms: Vec<Room>, join: bool) -> Result<(), Error> {
        if opts.is_local(self.local.server_id()) {
            if join {
                self.local.add_sockets(opts, rooms);
            } else {
                self.local.del_sockets(opts, rooms);
            }
            return Ok(());
        }
        let (wire_opts, single_remote) = self.wire_opts(&opts, false);
        let wire_rooms: Vec<String> = rooms.iter().map(|r| r.to_string()).collect();
        let body = if join {
            RequestBody::RemoteJoin {
                opts: wire_opts,
                rooms: wire_rooms,
            }
        } else {
            RequestBody::RemoteLeave {
                opts: wire_opts,
                rooms: wire_rooms,
            }
        };
        let request = ClassicRequest {
            uid: Some(self.uid.clone()),
            request_id: None,
            body,
        };
        self.publish(&self.channels.request, request.encode())
            .await?;
        if !single_remote {
            self.ensure_own_rooms(&opts);
            if join {
                self.local.add_sockets(opts, rooms);
            } else {
                self.local.del_sockets(opts, rooms);
            }
        }
        Ok(())
    }

    /// Every local room, own-id rooms included (Node's `allRooms()` lists them).
    fn local_rooms(&self) -> Vec<String> {
        let mut all = SioOpts::default();
        all.add_flag(SioFlags::Broadcast);
        let mut rooms: std::collections::HashSet<String> = self
            .local
            .rooms(all.clone())
            .into_iter()
            .map(|r| r.to_string())
            .collect();
        rooms.extend(
            self.local
                .sockets(all)
                .into_iter()
                .map(|sid| sid.to_string()),
        );
        rooms.into_iter().collect()
    }

    /// The local sockets that match `opts`, described as Node describes them.
    fn describe_local(&self, opts: &BroadcastOptions) -> Vec<SocketDescription> {
        let sio = self.local_opts(opts);
        let meta = lock(&self.state.inner.socket_meta);
        self.local
            .sockets(sio)
            .into_iter()
            .map(|sid| {
                let own = sid.to_string();
                let mut rooms: Vec<String> = self
                    .local
                    .socket_rooms(sid)
                    .into_iter()
                    .map(|r| r.to_string())
                    .collect();
                if !rooms.contains(&own) {
                    rooms.insert(0, own.clone());
                }
                let m = meta.get(&(self.nsp.clone(), sid));
                SocketDescription {
                    id: own,
                    handshake: m.map(|m| m.handshake.clone()).unwrap_or_default(),
                    rooms,
                    data: m.map(|m| m.data.clone()).unwrap_or_default(),
                }
            })
            .collect()
    }

    /// Publishes `request` and waits for one response from each other server (the
    /// subscribers of the request channel, less this one), up to `requestsTimeout`.
    async fn request(
        &self,
        name: &'static str,
        body: RequestBody,
    ) -> Result<Vec<ClassicResponse>, (Error, Vec<ClassicResponse>)> {
        let numsub = self
            .state
            .inner
            .transport
            .numsub(&self.channels.request)
            .await
            .map_err(|e| (e.into(), Vec::new()))?;
        let expected = usize::try_from(numsub)
            .unwrap_or(usize::MAX)
            .saturating_sub(1);
        if expected == 0 {
            return Ok(Vec::new());
        }
        let request_id = ids::classic_uid();
        let (tx, mut rx) = mpsc::channel(expected.min(1 << 16));
        let _guard = self
            .pending
            .register(request_id.clone(), Waiter::Responses(tx));
        let request = ClassicRequest {
            uid: Some(self.uid.clone()),
            request_id: Some(request_id),
            body,
        };
        self.publish(&self.channels.request, request.encode())
            .await
            .map_err(|e| (e, Vec::new()))?;
        let deadline = tokio::time::Instant::now() + self.state.inner.config.requests_timeout;
        // `expected` comes from Redis (NUMSUB): room grows with the answers, not
        // with what the reply claims.
        let mut responses = Vec::with_capacity(expected.min(64));
        while responses.len() < expected {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(r)) => responses.push(r),
                Ok(None) | Err(_) => {
                    let err = Error::Timeout {
                        request: name,
                        received: responses.len(),
                        expected,
                    };
                    return Err((err, responses));
                }
            }
        }
        Ok(responses)
    }

    async fn all_rooms(&self) -> Result<Vec<String>, Error> {
        let mut rooms: std::collections::HashSet<String> = self.local_rooms().into_iter().collect();
        for r in self
            .request("allRooms", RequestBody::AllRooms)
            .await
            .map_err(|(e, _)| e)?
        {
            if let ClassicResponse::AllRooms { rooms: remote, .. } = r {
                rooms.extend(remote);
            }
        }
        Ok(rooms.into_iter().collect())
    }

    async fn fetch_infos(&self, opts: BroadcastOptions) -> Result<Vec<SocketInfo>, Error> {
        let mut out: Vec<SocketInfo> = self
            .describe_local(&opts)
            .into_iter()
            .map(|d| SocketInfo {
                local: true,
                ..SocketInfo::from(d)
            })
            .collect();
        if opts.flags.as_ref().is_some_and(|f| f.local) {
            return Ok(out);
        }
        let remote_opts = BroadcastOptions {
            flags: None,
            ..opts
        };
        let responses = self
            .request(
                "fetchSockets",
                RequestBody::RemoteFetch { opts: remote_opts },
            )
            .await
            .map_err(|(e, _)| e)?;
        for r in responses {
            match r {
                ClassicResponse::FetchSockets { sockets, .. } => {
                    out.extend(sockets.into_iter().map(SocketInfo::from))
                }
                ClassicResponse::Sockets { sockets, .. } => {
                    out.extend(sockets.into_iter().map(|id| SocketInfo {
                        id,
                        rooms: Vec::new(),
                        data: Value::Nil,
                        handshake: Value::Nil,
                        local: false,
                    }))
                }
                _ => {}
            }
        }
        Ok(out)
    }

    // ---- receiving ------------------------------------------------------------------

    fn on_message(self: &Arc<Self>, msg: Message) {
        self.state
            .inner
            .counters
            .received
            .fetch_add(1, Ordering::Relaxed);
        if msg.pattern.is_some() {
            self.on_broadcast(&msg);
        } else if msg.channel == self.channels.request {
            self.on_request(&msg);
        } else if msg.channel == self.channels.response || msg.channel == self.own_response {
            self.on_response(&msg);
        }
    }

    fn drop_message(&self, kind: &str, msg: &Message, detail: &dyn std::fmt::Display) {
        self.state
            .inner
            .counters
            .drop_message(kind, &msg.channel, detail);
    }

    fn decode_failed(&self, msg: &Message, e: &sio_redis_wire::DecodeError) {
        self.drop_message(&format!("decode:{}", e.kind()), msg, e);
    }

    fn on_broadcast(&self, msg: &Message) {
        if self.channels.room_of(&msg.channel).is_none() {
            return self.drop_message(
                "foreign_channel",
                msg,
                &"not a broadcast channel of this namespace",
            );
        }
        // Our own broadcasts come back through the pattern: drop them before decoding.
        if ClassicBroadcast::peek_uid(&msg.payload) == Some(self.uid.as_str()) {
            return;
        }
        let limits = &self.state.inner.config.limits;
        // Decoded up to the event data, which goes from msgpack straight to what
        // the namespace's parser needs.
        let b = match ClassicBroadcastRef::decode(&msg.payload, limits) {
            Ok(b) => b,
            Err(e) => return self.decode_failed(msg, &e),
        };
        if b.uid == self.uid {
            return;
        }
        if b.nsp.unwrap_or("/") != self.nsp {
            return self.drop_message("foreign_namespace", msg, &format!("packet for {:?}", b.nsp));
        }
        let json = *self
            .json_parser
            .get_or_init(|| convert::is_json_parser(self.local.parser()));
        let value = match convert::broadcast_data_to_sio(self.local.parser(), json, &b, limits) {
            Ok(v) => v,
            Err(e) => return self.drop_message("payload", msg, &e),
        };
        let opts = self.local_opts(&b.opts);
        if let Err(e) = self
            .local
            .broadcast(SioPacket::event(self.nsp.clone(), value), opts)
        {
            tracing::debug!(errors = ?e, "some local sockets missed a remote broadcast");
        }
    }

    fn on_request(self: &Arc<Self>, msg: &Message) {
        let limits = &self.state.inner.config.limits;
        let req = match ClassicRequest::decode(&msg.payload, limits) {
            Ok(r) => r,
            Err(e) => return self.decode_failed(msg, &e),
        };
        let own = req.uid.as_deref() == Some(self.uid.as_str())
            || req
                .request_id
                .as_deref()
                .is_some_and(|id| self.pending.contains(id));
        if own {
            return;
        }
        let requester = req.uid.clone();
        let request_id = req.request_id.clone().unwrap_or_default();
        match req.body {
            RequestBody::RemoteJoin { opts, rooms } => {
                let sio = self.local_opts(&opts);
                self.local.add_sockets(sio, rooms);
            }
            RequestBody::RemoteLeave { opts, rooms } => {
                let sio = self.local_opts(&opts);
                self.local.del_sockets(sio, rooms);
            }
            RequestBody::RemoteDisconnect { opts, .. } => {
                let sio = self.local_opts(&opts);
                let _ = self.local.disconnect_socket(sio);
            }
            // The legacy single-socket changes are applied here, in order; only their
            // answer goes to the pool.
            RequestBody::LegacyRemoteJoin { sid, room } => {
                if let Ok(sid) = Sid::from_str(&sid) {
                    self.local.add_all(sid, room);
                }
                self.respond(msg, "join", requester, |_| ClassicResponse::Done {
                    request_id,
                });
            }
            RequestBody::LegacyRemoteLeave { sid, room } => {
                if let Ok(sid) = Sid::from_str(&sid) {
                    self.local.del(sid, room);
                }
                self.respond(msg, "leave", requester, |_| ClassicResponse::Done {
                    request_id,
                });
            }
            RequestBody::LegacyRemoteDisconnect { sid, .. } => {
                if let Ok(sid) = Sid::from_str(&sid) {
                    let _ = self.local.disconnect_socket(SioOpts::new(sid));
                }
                self.respond(msg, "disconnect", requester, |_| ClassicResponse::Done {
                    request_id,
                });
            }
            // What lists or describes every local socket or room runs on the pool.
            RequestBody::Sockets { rooms } => {
                self.respond(msg, "sockets", requester, move |this| {
                    let opts = BroadcastOptions {
                        rooms,
                        ..BroadcastOptions::default()
                    };
                    let sockets = this
                        .local
                        .sockets(sio_opts(&opts))
                        .into_iter()
                        .map(|s| s.to_string())
                        .collect();
                    ClassicResponse::Sockets {
                        request_id,
                        sockets,
                    }
                });
            }
            RequestBody::AllRooms => {
                self.respond(msg, "allRooms", requester, |this| {
                    ClassicResponse::AllRooms {
                        request_id,
                        rooms: this.local_rooms(),
                    }
                });
            }
            RequestBody::RemoteFetch { opts } => {
                self.respond(msg, "fetchSockets", requester, move |this| {
                    ClassicResponse::FetchSockets {
                        request_id,
                        sockets: this.describe_local(&opts),
                    }
                });
            }
            RequestBody::ServerSideEmit { data } => self.on_server_side_emit(req.request_id, data),
            RequestBody::Broadcast { packet, opts } => {
                self.on_broadcast_with_ack(requester, request_id, packet, opts, msg)
            }
            _ => self.drop_message("unknown_type", msg, &"request type not handled"),
        }
    }

    fn on_server_side_emit(self: &Arc<Self>, request_id: Option<String>, data: Value) {
        let Value::Array(mut items) = data else {
            return;
        };
        if items.is_empty() {
            return;
        }
        let event = match items.remove(0) {
            Value::Str(e) => e,
            _ => return,
        };
        let handler = lock(&self.state.inner.sse_handlers).get(&self.nsp).cloned();
        let Some(handler) = handler else { return };
        let ack = request_id.map(|request_id| {
            let this = self.clone();
            ServerSideAck {
                send: Box::new(move |value| {
                    // Node answers serverSideEmit on the shared channel, whatever the option.
                    let response = ClassicResponse::ServerSideEmit { request_id, data: Some(value) };
                    let adapter = this.clone();
                    let channel = &this.channels.response;
                    this.spawn_request(channel, "serverSideEmit acknowledgement", async move {
                        let channel = &adapter.channels.response;
                        if let Err(e) = adapter.publish(channel, response.encode()).await {
                            tracing::warn!(error = %e, "cannot publish a serverSideEmit acknowledgement");
                        }
                    });
                }),
            }
        });
        handler(ServerSideEvent {
            nsp: self.nsp.clone(),
            event,
            args: items,
            ack,
        });
    }

    fn on_broadcast_with_ack(
        self: &Arc<Self>,
        requester: Option<String>,
        request_id: String,
        packet: Packet,
        opts: BroadcastOptions,
        msg: &Message,
    ) {
        // The slot is taken first: beyond the limit the broadcast is not emitted either
        // (its acknowledgements would have nowhere to go).
        let Some(permit) = self.state.inner.try_request_permit() else {
            return self.drop_overloaded(&msg.channel, "broadcast with acknowledgements");
        };
        let value = match convert::event_to_sio(self.local.parser(), &packet.data) {
            Ok(v) => v,
            Err(e) => return self.drop_message("payload", msg, &e),
        };
        let config = &self.state.inner.config;
        let timeout = remote_ack_timeout(
            opts.flags.as_ref().and_then(|f| f.timeout),
            self.local.ack_timeout(),
            config.max_remote_ack_timeout,
        );
        // However slowly Redis takes the answers, the task ends by then.
        let hard_deadline = timeout.saturating_add(config.requests_timeout);
        let sio = self.local_opts(&opts);
        // Emitted here, in the order of the other broadcasts; the answers go to the pool.
        let (acks, count) = self.local.broadcast_with_ack(
            SioPacket::event(self.nsp.clone(), value),
            sio,
            Some(timeout),
        );
        let this = self.clone();
        let forward = async move {
            let channel = this.response_channel(requester.as_deref());
            let count = ClassicResponse::BroadcastClientCount {
                request_id: request_id.clone(),
                client_count: u64::from(count),
            };
            if let Err(e) = this.publish(&channel, count.encode()).await {
                return tracing::warn!(error = %e, "cannot publish a broadcast client count");
            }
            let mut acks = Box::pin(acks);
            while let Some((_, ack)) = acks.next().await {
                let Ok(v) = ack else { continue };
                let packet = match convert::first_ack_arg(&v) {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::debug!(error = %e, "unreadable client acknowledgement");
                        continue;
                    }
                };
                let response = ClassicResponse::BroadcastAck {
                    request_id: request_id.clone(),
                    packet,
                };
                if let Err(e) = this.publish(&channel, response.encode()).await {
                    tracing::warn!(error = %e, "cannot publish a broadcast acknowledgement");
                }
            }
        };
        self.state.inner.tasks.spawn(async move {
            let _permit = permit;
            if tokio::time::timeout(hard_deadline, forward).await.is_err() {
                tracing::debug!(
                    "broadcast with ack: stopped forwarding acknowledgements at the deadline"
                );
            }
        });
    }

    fn response_channel(&self, requester: Option<&str>) -> String {
        match requester {
            Some(uid) if self.state.inner.config.publish_on_specific_response_channel => {
                self.channels.own_response(uid)
            }
            _ => self.channels.response.clone(),
        }
    }

    /// Runs `work` for a request of another server on a background task that holds one
    /// of the `max_concurrent_remote_requests` slots. When every slot is taken the
    /// request is dropped (counted as `"overloaded"`, logged once); never waits, so the
    /// subscriber task is never held up.
    fn spawn_request(
        &self,
        channel: &str,
        what: &str,
        work: impl Future<Output = ()> + Send + 'static,
    ) {
        let Some(permit) = self.state.inner.try_request_permit() else {
            return self.drop_overloaded(channel, what);
        };
        self.state.inner.tasks.spawn(async move {
            let _permit = permit;
            work.await;
        });
    }

    fn drop_overloaded(&self, channel: &str, what: &str) {
        let max = self.state.inner.config.max_concurrent_remote_requests;
        self.state.inner.counters.drop_message(
            "overloaded",
            channel,
            &format_args!(
                "{what}: all {max} slots for remote requests (max_concurrent_remote_requests) are taken"
            ),
        );
    }

    /// Answers the request `msg` of `requester`: `make` builds the response on the
    /// bounded pool ([`ClassicAdapter::spawn_request`]), which then publishes it.
    fn respond(
        self: &Arc<Self>,
        msg: &Message,
        what: &str,
        requester: Option<String>,
        make: impl FnOnce(&Self) -> ClassicResponse + Send + 'static,
    ) {
        let this = self.clone();
        self.spawn_request(&msg.channel, what, async move {
            let response = make(&this);
            let channel = this.response_channel(requester.as_deref());
            if let Err(e) = this.publish(&channel, response.encode()).await {
                tracing::warn!(error = %e, "cannot publish a response");
            }
        });
    }

    fn on_response(&self, msg: &Message) {
        let limits = &self.state.inner.config.limits;
        let response = match ClassicResponse::decode(&msg.payload, limits) {
            Ok(r) => r,
            Err(e) => return self.decode_failed(msg, &e),
        };
        let parser = self.local.parser();
        let max = self.state.inner.config.max_remote_client_count;
        let delivery = self.pending.deliver(response, max, |packet| {
            let args: Vec<Value> = packet.into_iter().collect();
            convert::ack_to_sio(parser, &args).ok()
        });
        if let Delivery::ClientCountTooLarge(n) = delivery {
            self.drop_message(
                "malformed:client_count",
                msg,
                &format_args!(
                    "a client count of {n} is above max_remote_client_count ({max}); \
                     counted as no answer from that server"
                ),
            );
        }
    }
}

impl<E: SocketEmitter> NamespaceOps for ClassicAdapter<E> {
    fn server_count(&self) -> BoxFuture<'_, Result<u16, Error>> {
        Box::pin(CoreAdapter::server_count(self))
    }

    fn server_side_emit(&self, data: Vec<Value>) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async move {
            let request = ClassicRequest {
                uid: Some(self.uid.clone()),
                request_id: None,
                body: RequestBody::ServerSideEmit {
                    data: Value::Array(data),
                },
            };
            self.publish(&self.channels.request, request.encode()).await
        })
    }

    fn server_side_emit_with_ack(&self, data: Vec<Value>) -> BoxFuture<'_, AckResult> {
        Box::pin(async move {
            let acks = |responses: Vec<ClassicResponse>| -> Vec<Value> {
                responses
                    .into_iter()
                    .filter_map(|r| match r {
                        ClassicResponse::ServerSideEmit { data, .. } => {
                            Some(data.unwrap_or_default())
                        }
                        _ => None,
                    })
                    .collect()
            };
            match self
                .request(
                    "serverSideEmit",
                    RequestBody::ServerSideEmit {
                        data: Value::Array(data),
                    },
                )
                .await
            {
                Ok(r) => Ok(acks(r)),
                Err((e, r)) => Err((e, acks(r))),
            }
        })
    }

    fn fetch_sockets(
        &self,
        opts: BroadcastOptions,
    ) -> BoxFuture<'_, Result<Vec<SocketInfo>, Error>> {
        Box::pin(self.fetch_infos(opts))
    }

    fn disconnect_sockets(
        &self,
        opts: BroadcastOptions,
        close: bool,
    ) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async move {
            let request = ClassicRequest {
                uid: Some(self.uid.clone()),
                request_id: None,
                body: RequestBody::RemoteDisconnect {
                    opts: BroadcastOptions {
                        flags: None,
                        ..opts.clone()
                    },
                    close,
                },
            };
            self.publish(&self.channels.request, request.encode())
                .await?;
            let sio = self.local_opts(&opts);
            let _ = self.local.disconnect_socket(sio);
            Ok(())
        })
    }

    fn pending_requests(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_flags_timeout_is_capped() {
        let (ack, max) = (Duration::from_secs(5), Duration::from_secs(60));
        assert_eq!(remote_ack_timeout(Some(u64::MAX), ack, max), max);
        assert_eq!(remote_ack_timeout(Some(60_001), ack, max), max);
        assert_eq!(
            remote_ack_timeout(Some(250), ack, max),
            Duration::from_millis(250)
        );
        assert_eq!(remote_ack_timeout(None, ack, max), ack);
        assert_eq!(
            remote_ack_timeout(None, Duration::from_secs(600), max),
            max,
            "socketioxide's ack_timeout is capped too"
        );
    }

    /// The transport calls message handlers inline on its reader task: a fetchSockets
    /// request must not describe the local sockets there. Proven by holding the lock the
    /// description needs: the request waits for it, later messages do not.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[allow(clippy::await_holding_lock)] // on purpose: the lock is the test's switch
    async fn fetch_sockets_request_is_described_off_the_subscriber_task() {
        use socketioxide::SocketIo;
        use socketioxide::adapter::Emitter;

        let redis = sio_redis_testkit::RedisServer::start().expect("redis");
        let config = || crate::ClassicConfig::default().requests_timeout(Duration::from_secs(5));
        let mut servers = Vec::new();
        for _ in 0..2 {
            let state = RedisAdapterState::connect(&redis.url(), config())
                .await
                .unwrap();
            let (_svc, io) = SocketIo::builder()
                .with_adapter::<ClassicAdapter<Emitter>>(state.clone())
                .build_svc();
            io.ns("/", async || {}).await.unwrap();
            servers.push((state, io));
        }
        let (a, b) = (servers[0].0.clone(), servers[1].0.clone());
        let (seen_tx, mut seen) = mpsc::unbounded_channel();
        b.on_server_side_emit("/", move |ev| {
            let _ = seen_tx.send(ev.event);
        });

        let received = b.stats().received;
        let meta = b.inner.socket_meta.lock().unwrap();
        let fetch = tokio::spawn({
            let a = a.clone();
            async move { a.fetch_sockets("/", Default::default()).await }
        });
        // The request reaches b (its answer cannot be built while `meta` is held).
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while b.stats().received == received {
            assert!(std::time::Instant::now() < deadline, "b got no request");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        a.server_side_emit("/", "after", vec![]).await.unwrap();
        // Before the fix b's subscriber task was stuck on the lock, describing sockets.
        let event = tokio::time::timeout(Duration::from_secs(3), seen.recv()).await;
        drop(meta);
        assert_eq!(
            event.expect("b's subscriber goes on while the answer waits"),
            Some("after".to_owned())
        );
        let sockets = fetch
            .await
            .unwrap()
            .expect("b answers once the lock is free");
        assert!(sockets.is_empty());
    }
}
