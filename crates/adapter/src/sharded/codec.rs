//! The sharded codec: the engine's messages as `@socket.io/redis-adapter` 8.3
//! `createShardedAdapter` writes them (ClusterAdapter messages of socket.io-adapter 2.5,
//! PROTOCOL §2–3, `sio_redis_wire::cluster`), on its shard channels, with `SPUBLISH` and
//! `PUBSUB SHARDNUMSUB`.

use std::sync::Arc;

use bytes::Bytes;
use sio_redis_transport::{Message, Subscription, SubscriptionId, Transport, TransportError};
use sio_redis_wire::channels::{ShardedChannels, SubscriptionMode};
use sio_redis_wire::{BroadcastFlags, BroadcastOptions, ClusterBody, ClusterMessage, Value, ids};
use socketioxide_core::adapter::SocketEmitter;

use super::rooms::RoomChannels;
use crate::config::{AdapterConfig, ShardedConfig};
use crate::engine::{Codec, Engine, Outgoing, Publication, PublishMode, Reply};
use crate::error::Error;
use crate::kind::AdapterKind;
use crate::state::BoxFuture;

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

/// ClusterAdapter options carry `flags` in every message (`{}` when none is set).
fn with_flags(mut opts: BroadcastOptions) -> BroadcastOptions {
    opts.flags.get_or_insert_with(BroadcastFlags::default);
    opts
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

    fn new(config: &AdapterConfig, nsp: &str, uid: &str) -> Self {
        let default;
        let config = match config {
            AdapterConfig::Sharded(c) => c,
            _ => {
                default = ShardedConfig::default();
                &default
            }
        };
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
        let main = || self.channels.main.clone();
        let (channel, body) = match msg {
            Outgoing::Broadcast { mut packet, opts } => {
                packet.nsp = None;
                let channel = self.channels.broadcast(self.mode, &opts.rooms, false);
                let body = ClusterBody::Broadcast {
                    packet,
                    request_id: None,
                    opts: with_flags(opts),
                };
                (channel, body)
            }
            Outgoing::BroadcastWithAck {
                request_id,
                mut packet,
                opts,
            } => {
                packet.nsp = None;
                let body = ClusterBody::Broadcast {
                    packet,
                    request_id: Some(request_id),
                    opts: with_flags(opts),
                };
                (main(), body)
            }
            Outgoing::SocketsJoin { opts, rooms } => (
                main(),
                ClusterBody::SocketsJoin {
                    opts: with_flags(opts),
                    rooms,
                },
            ),
            Outgoing::SocketsLeave { opts, rooms } => (
                main(),
                ClusterBody::SocketsLeave {
                    opts: with_flags(opts),
                    rooms,
                },
            ),
            Outgoing::DisconnectSockets { opts, close } => (
                main(),
                ClusterBody::DisconnectSockets {
                    opts: with_flags(opts),
                    close,
                },
            ),
            Outgoing::FetchSockets { request_id, opts } => (
                main(),
                ClusterBody::FetchSockets {
                    opts: with_flags(opts),
                    request_id,
                },
            ),
            // Not sent (`REMOTE_ALL_ROOMS` is false: allRooms is a fetchSockets); were it,
            // the fetchSockets answers would carry every socket's rooms.
            Outgoing::AllRooms { request_id } => (
                main(),
                ClusterBody::FetchSockets {
                    opts: with_flags(BroadcastOptions::default()),
                    request_id,
                },
            ),
            Outgoing::ServerSideEmit { request_id, data } => (
                main(),
                ClusterBody::ServerSideEmit {
                    request_id,
                    packet: Value::Array(data),
                },
            ),
        };
        Publication {
            channel,
            payload: self.message(uid, body),
        }
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
        let body = match reply {
            Reply::Sockets(sockets) => ClusterBody::FetchSocketsResponse {
                request_id,
                sockets,
            },
            Reply::ServerSideEmit(value) => ClusterBody::ServerSideEmitResponse {
                request_id,
                packet: Some(value),
            },
            Reply::ClientCount(client_count) => ClusterBody::BroadcastClientCount {
                request_id,
                client_count,
            },
            Reply::Ack(packet) => ClusterBody::BroadcastAck { request_id, packet },
            Reply::SocketIds(_) | Reply::Rooms(_) | Reply::Done => return None,
        };
        let channel = match requester {
            Some(uid) => self.channels.own_response(uid),
            None => self.channels.main.clone(),
        };
        Some(Publication {
            channel,
            payload: self.message(&self.uid, body),
        })
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

    fn started<E: SocketEmitter>(engine: &Arc<Engine<E, Self>>) {
        if engine.codec.mode != SubscriptionMode::Static {
            super::rooms::spawn_sync(engine);
        }
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

    fn take_subscriptions(&self) -> Vec<SubscriptionId> {
        self.rooms.close()
    }
}
