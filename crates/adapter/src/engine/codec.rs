//! The seam between the engine and one adapter kind's wire protocol: [`Codec`].
//!
//! The engine decides *what* goes to the other servers and *when* (an [`Outgoing`]
//! message or a [`Reply`]); a codec decides the channel, the bytes and the Redis command.
//! On the way in, a codec decodes what Redis delivers and calls the engine's `apply_*` /
//! `answer` / `on_reply` methods (`engine/apply.rs`) with protocol-independent values.

use std::sync::Arc;

use bytes::Bytes;
use sio_redis_transport::{Message, Subscription, Transport, TransportError};
use socketioxide_core::adapter::SocketEmitter;

use super::Engine;
use super::message::{Outgoing, Reply};
use crate::kind::AdapterKind;
use crate::state::BoxFuture;
use crate::state::RedisAdapterState;

/// How the engine hands a [`Publication`] to the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PublishMode {
    /// Awaited until Redis has taken it (requests, responses, room changes).
    Awaited,
    /// Queued for the next pipeline, not awaited; kept in the offline buffer while the
    /// publisher reconnects (broadcasts).
    Queued,
    /// Queued like [`PublishMode::Queued`], but dropped while the publisher is offline
    /// (volatile broadcasts: worthless later).
    Volatile,
}

/// One message for the other servers, encoded: where it goes and its bytes.
#[derive(Debug)]
pub(crate) struct Publication {
    /// The Redis channel (or shard channel, for a codec that uses SPUBLISH), or the
    /// stream of an [`Publication::entry`].
    pub(crate) channel: String,
    /// The encoded message, as the Node adapter of the same kind writes it (empty for a
    /// stream entry).
    pub(crate) payload: Bytes,
    /// A stream entry's fields, to `XADD` to the stream `channel` (the streams codec).
    pub(crate) entry: Option<sio_redis_wire::StreamFields>,
}

impl Publication {
    /// A pub/sub message: `payload` on `channel`.
    pub(crate) fn message(channel: String, payload: Bytes) -> Self {
        Self {
            channel,
            payload,
            entry: None,
        }
    }

    /// A stream entry: `fields` to `XADD` to `stream`.
    pub(crate) fn entry(stream: String, fields: sio_redis_wire::StreamFields) -> Self {
        Self {
            channel: stream,
            payload: Bytes::new(),
            entry: Some(fields),
        }
    }
}

/// One adapter kind's wire protocol under the [`Engine`]: channels, encoding, the Redis
/// commands, and the decoding of what arrives. Implemented by
/// [`ClassicCodec`](crate::classic::ClassicCodec) (PROTOCOL §1); the sharded adapter
/// (ClusterAdapter messages 1–13, SPUBLISH / SSUBSCRIBE, PROTOCOL §2–3) and the streams
/// adapter (XADD / XREAD plus Pub/Sub for responses, PROTOCOL §4) plug in as further
/// implementations.
///
/// One value per namespace adapter, made by [`Codec::new`] and owned by its engine.
/// Every method but [`Codec::on_message`] is pure or only talks to Redis: the engine
/// owns the local sockets, the pending requests and the counters.
pub(crate) trait Codec: Send + Sync + Sized + 'static {
    /// The adapter kind; the engine refuses a [`RedisAdapterState`](crate::RedisAdapterState)
    /// made for another kind (at namespace initialisation).
    const KIND: AdapterKind;

    /// A fresh server uid for one namespace adapter (classic: 6 characters of Node's
    /// uid2 alphabet; ClusterAdapter: 16 hex characters).
    fn new_uid() -> String;

    /// A fresh request id (same shapes as [`Codec::new_uid`]).
    fn new_request_id() -> String;

    /// The codec of namespace `nsp` (its path, e.g. `"/"`) for the server uid `uid`,
    /// with the options of `state` (those of another kind give the kind's defaults: the
    /// engine refuses such a state at initialisation anyway).
    fn new(state: &RedisAdapterState, nsp: &str, uid: &str) -> Self;

    /// Whether the other servers answer an allRooms request (classic: yes). Without it,
    /// allRooms is a fetchSockets of every socket, its rooms put together.
    const REMOTE_ALL_ROOMS: bool = true;

    /// Called once the namespace is subscribed and reachable, before its initialisation
    /// returns (the sharded codec starts its room-channel reconciliation here, the streams
    /// codec its stream reader).
    ///
    /// # Errors
    /// The namespace's initialisation fails with this error.
    fn started<E: SocketEmitter>(
        _engine: &Arc<Engine<E, Self>>,
    ) -> BoxFuture<'static, Result<(), crate::error::Error>> {
        Box::pin(async { Ok(()) })
    }

    /// Handles one entry of a stream the codec reads (the streams codec), on the stream
    /// reader's task; nothing by default.
    fn on_stream_entry<E: SocketEmitter>(
        _engine: &Arc<Engine<E, Self>>,
        _entry: sio_redis_transport::StreamEntry,
    ) {
    }

    /// Called after this adapter made local sockets join rooms (socketsJoin from here or
    /// from another server): the sharded codec subscribes new room channels soon, without
    /// waiting for its next periodic reconciliation.
    fn rooms_joined(&self) {}

    /// Brings the subscribed room channels in line with the local rooms now (the sharded
    /// codec's dynamic modes); returns once Redis confirmed. Nothing to do by default.
    fn sync_rooms<'a, E: SocketEmitter>(
        &'a self,
        _engine: &'a Engine<E, Self>,
    ) -> BoxFuture<'a, Result<(), crate::error::Error>> {
        Box::pin(async { Ok(()) })
    }

    /// What to subscribe when the namespace starts (channels, patterns, shard channels);
    /// every message of it goes to [`Codec::on_message`].
    fn subscription(&self) -> Subscription;

    /// Encodes a message of server `uid` for the other servers.
    fn encode(&self, uid: &str, msg: Outgoing) -> Publication;

    /// Encodes a broadcast without acknowledgements of server `uid` whose data is
    /// `data_json`, the JSON text `[event, ...args]` of socketioxide's common parser
    /// (no binary), written into the message as is; `opts` as [`Outgoing::Broadcast`]
    /// carries them. `None` (the default) when this kind has no such path: the caller
    /// sends an [`Outgoing::Broadcast`] instead.
    fn encode_json_broadcast(
        &self,
        _uid: &str,
        _data_json: &str,
        _opts: &sio_redis_wire::BroadcastOptions,
    ) -> Option<Publication> {
        None
    }

    /// Encodes this server's answer `reply` to request `request_id` of server
    /// `requester` (`None`: an emitter or an old node that sent no uid); `None` for a
    /// reply this kind's protocol has no message for (nothing is sent).
    fn encode_reply(
        &self,
        requester: Option<&str>,
        request_id: String,
        reply: Reply,
    ) -> Option<Publication>;

    /// Called once when the namespace closes or is dropped: releases what the codec
    /// holds (the streams codec's share of its stream reader) and hands over, for
    /// removal, the subscriptions it made besides [`Codec::subscription`] (the sharded
    /// codec's room channels); none are made after this was called.
    fn release(&self) -> Vec<sio_redis_transport::SubscriptionId> {
        Vec::new()
    }

    /// Sends `p` with the command of this kind (PUBLISH, SPUBLISH, XADD), awaited or
    /// queued as `mode` says (the engine chooses: broadcasts are queued, the rest
    /// awaited).
    ///
    /// # Cancel safety
    /// As the transport's publish: a queued message may go out after cancellation.
    fn publish<'a>(
        &'a self,
        transport: &'a Transport,
        p: Publication,
        mode: PublishMode,
    ) -> BoxFuture<'a, Result<(), TransportError>>;

    /// Number of servers of the namespace, this one included, as the Node adapter of this
    /// kind counts them (classic: `PUBSUB NUMSUB <key>-request#<nsp>#`).
    fn server_count<'a>(
        &'a self,
        transport: &'a Transport,
    ) -> BoxFuture<'a, Result<u64, TransportError>>;

    /// Handles one message of [`Codec::subscription`], on the transport's reader task
    /// (keep it short: slow work goes through the engine's bounded pool). Decodes it,
    /// drops what is not for this server (counted through the engine) and hands the rest
    /// to the engine.
    fn on_message<E: SocketEmitter>(engine: &Arc<Engine<E, Self>>, msg: Message);
}
