//! The sharded codec: the engine's messages as `@socket.io/redis-adapter` 8.3
//! `createShardedAdapter` writes them (ClusterAdapter messages of socket.io-adapter 2.5,
//! PROTOCOL §2–3, `sio_redis_wire::cluster`), on its shard channels, with `SPUBLISH` and
//! `PUBSUB SHARDNUMSUB`.

use std::sync::Arc;

use bytes::Bytes;
use sio_redis_transport::{Message, Subscription, SubscriptionId, Transport, TransportError};
use sio_redis_wire::channels::{ShardedChannels, SubscriptionMode};
use sio_redis_wire::{BroadcastOptions, ClusterBody, ClusterMessage, ids};
use socketioxide_core::adapter::SocketEmitter;

use super::rooms::RoomChannels;
use crate::config::ShardedConfig;
use crate::engine::{Codec, Engine, Outgoing, Publication, PublishMode, Reply};
use crate::error::Error;
use crate::kind::AdapterKind;
use crate::state::{BoxFuture, RedisAdapterState};

/// The sharded codec of one namespace: its channels, its mode, its room channels.
#[derive(Debug)]
pub(crate) struct ShardedCodec {
    pub(super) channels: ShardedChannels,
    /// `<prefix>#<nsp>#<uid>#`, this server's own response channel.
    pub(super) own_response: String,
    nsp: String,
    /// This server's uid in the namespace (the envelope's `uid` of its answers).
    uid: String,
    pub(super) mode: SubscriptionMode,
    /// The room channels subscribed in the dynamic modes.
    pub(super) rooms: RoomChannels,
}

impl ShardedCodec {
    fn message(&self, uid: &str, body: ClusterBody) -> Bytes {
        let msg = ClusterMessage {
            uid: uid.to_owned(),
            nsp: self.nsp.clone(),
            body,
        };
        Bytes::from(msg.encode_sharded())
    }
}

impl Codec for ShardedCodec {
    const KIND: AdapterKind = AdapterKind::Sharded;
    const REMOTE_ALL_ROOMS: bool = false;

    fn new_uid() -> String {
        ids::cluster_uid()
    }

    fn new_request_id() -> String {
        ids::cluster_uid()
    }

    fn new(state: &RedisAdapterState, nsp: &str, uid: &str) -> Self {
        let config = state.inner.config.kind_or_default::<ShardedConfig>();
        let channels = ShardedChannels::new(&config.channel_prefix, nsp);
        Self {
            own_response: channels.own_response(uid),
            channels,
            nsp: nsp.to_owned(),
            uid: uid.to_owned(),
            mode: config.subscription_mode,
            rooms: RoomChannels::new(config.room_sync_interval),
        }
    }

    /// SSUBSCRIBE `<prefix>#<nsp>#` and `<prefix>#<nsp>#<uid>#` (room channels come later,
    /// in the dynamic modes).
    fn subscription(&self) -> Subscription {
        Subscription::new()
            .shard_channel(self.channels.main.clone())
            .shard_channel(self.own_response.clone())
    }

    fn encode(&self, uid: &str, msg: Outgoing) -> Publication {
        let channel = match &msg {
            Outgoing::Broadcast { opts, .. } => {
                self.channels.broadcast(self.mode, &opts.rooms, false)
            }
            _ => self.channels.main.clone(),
        };
        Publication::message(channel, self.message(uid, msg.into_cluster_body()))
    }

    /// `{"type":3,"data":{"packet":{"type":2,"data":<data_json>},"opts":…},…}`
    /// (`ClusterMessage::encode_sharded_broadcast_json`), on the channel `encode` would
    /// choose. `opts.flags` is set (`wire_opts(.., true)`), as ClusterAdapter messages
    /// always carry it.
    fn encode_json_broadcast(
        &self,
        uid: &str,
        data_json: &str,
        opts: &BroadcastOptions,
    ) -> Option<Publication> {
        debug_assert!(opts.flags.is_some());
        let channel = self.channels.broadcast(self.mode, &opts.rooms, false);
        let payload =
            ClusterMessage::encode_sharded_broadcast_json(uid, &self.nsp, data_json, opts);
        Some(Publication::message(channel, Bytes::from(payload)))
    }

    /// Answers go to the requester's own response channel (Node's
    /// `doPublishResponse(requesterUid, …)`); the classic adapter's legacy answers have
    /// no ClusterAdapter message.
    fn encode_reply(
        &self,
        requester: Option<&str>,
        request_id: String,
        reply: Reply,
    ) -> Option<Publication> {
        let body = reply.into_cluster_body(request_id)?;
        let channel = match requester {
            Some(uid) => self.channels.own_response(uid),
            None => self.channels.main.clone(),
        };
        Some(Publication::message(channel, self.message(&self.uid, body)))
    }

    fn publish<'a>(
        &'a self,
        transport: &'a Transport,
        p: Publication,
        mode: PublishMode,
    ) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async move {
            match mode {
                PublishMode::Awaited => transport.spublish(&p.channel, p.payload).await.map(drop),
                PublishMode::Queued | PublishMode::Volatile => {
                    transport.spublish_queued(p.channel, p.payload).await
                }
            }
        })
    }

    /// `PUBSUB SHARDNUMSUB <prefix>#<nsp>#` (asked of the channel's slot owner on a
    /// cluster, PROTOCOL §2.5).
    fn server_count<'a>(
        &'a self,
        transport: &'a Transport,
    ) -> BoxFuture<'a, Result<u64, TransportError>> {
        Box::pin(transport.shardnumsub(&self.channels.main))
    }

    fn on_message<E: SocketEmitter>(engine: &Arc<Engine<E, Self>>, msg: Message) {
        super::receive::on_message(engine, msg);
    }

    fn started<E: SocketEmitter>(
        engine: &Arc<Engine<E, Self>>,
    ) -> BoxFuture<'static, Result<(), Error>> {
        if engine.codec.mode != SubscriptionMode::Static {
            super::rooms::spawn_sync(engine);
        }
        Box::pin(async { Ok(()) })
    }

    fn sync_rooms<'a, E: SocketEmitter>(
        &'a self,
        engine: &'a Engine<E, Self>,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(super::rooms::sync(engine))
    }

    fn rooms_joined(&self) {
        self.rooms.changed.notify_one();
    }

    fn release(&self) -> Vec<SubscriptionId> {
        self.rooms.close()
    }
}
