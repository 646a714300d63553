//! The classic codec: the engine's messages as `@socket.io/redis-adapter` 8.3
//! `createAdapter` writes them (PROTOCOL §1, `sio_redis_wire::classic`), on its channels,
//! with PUBLISH and `PUBSUB NUMSUB`.

use std::sync::Arc;

use bytes::Bytes;
use sio_redis_transport::{Message, Subscription, Transport, TransportError};
use sio_redis_wire::channels::ClassicChannels;
use sio_redis_wire::classic::{ClassicBroadcast, ClassicRequest, ClassicResponse, RequestBody};
use sio_redis_wire::{Value, ids};
use socketioxide_core::adapter::SocketEmitter;

use crate::config::ClassicConfig;
use crate::engine::{Codec, Engine, Outgoing, Publication, PublishMode, Reply};
use crate::kind::AdapterKind;
use crate::state::{BoxFuture, RedisAdapterState};

/// The classic codec of one namespace: its channels and what decoding needs to remember.
#[derive(Debug)]
pub(crate) struct ClassicCodec {
    pub(super) channels: ClassicChannels,
    /// `<key>-response#<nsp>#<uid>#`, this server's own response channel.
    pub(super) own_response: String,
    /// `publishOnSpecificResponseChannel`.
    specific_response_channel: bool,
}

impl ClassicCodec {
    /// Where the answers to `requester` go: its own response channel with
    /// `publishOnSpecificResponseChannel`, else the shared one.
    fn response_channel(&self, requester: Option<&str>) -> String {
        match requester {
            Some(uid) if self.specific_response_channel => self.channels.own_response(uid),
            _ => self.channels.response.clone(),
        }
    }

    fn request(&self, uid: &str, request_id: Option<String>, body: RequestBody) -> Publication {
        let request = ClassicRequest {
            uid: Some(uid.to_owned()),
            request_id,
            body,
        };
        Publication::message(self.channels.request.clone(), Bytes::from(request.encode()))
    }
}

impl Codec for ClassicCodec {
    const KIND: AdapterKind = AdapterKind::Classic;

    fn new_uid() -> String {
        ids::classic_uid()
    }

    fn new_request_id() -> String {
        ids::classic_uid()
    }

    fn new(state: &RedisAdapterState, nsp: &str, uid: &str) -> Self {
        let config = state.inner.config.kind_or_default::<ClassicConfig>();
        let channels = ClassicChannels::new(&config.key, nsp);
        Self {
            own_response: channels.own_response(uid),
            channels,
            specific_response_channel: config.publish_on_specific_response_channel,
        }
    }

    /// PSUBSCRIBE `<key>#<nsp>#*`; SUBSCRIBE `<key>-request#<nsp>#`,
    /// `<key>-response#<nsp>#` and `<key>-response#<nsp>#<uid>#`.
    fn subscription(&self) -> Subscription {
        Subscription::new()
            .channel(self.channels.request.clone())
            .channel(self.channels.response.clone())
            .channel(self.own_response.clone())
            .pattern(self.channels.broadcast_pattern.clone())
    }

    fn encode(&self, uid: &str, msg: Outgoing) -> Publication {
        let (request_id, body) = match msg {
            Outgoing::Broadcast { packet, opts } => {
                let msg = ClassicBroadcast {
                    uid: uid.to_owned(),
                    packet,
                    opts,
                };
                return Publication::message(
                    msg.channel(&self.channels),
                    Bytes::from(msg.encode()),
                );
            }
            Outgoing::BroadcastWithAck {
                request_id,
                packet,
                opts,
            } => (Some(request_id), RequestBody::Broadcast { packet, opts }),
            Outgoing::SocketsJoin { opts, rooms } => {
                (None, RequestBody::RemoteJoin { opts, rooms })
            }
            Outgoing::SocketsLeave { opts, rooms } => {
                (None, RequestBody::RemoteLeave { opts, rooms })
            }
            Outgoing::DisconnectSockets { opts, close } => {
                (None, RequestBody::RemoteDisconnect { opts, close })
            }
            Outgoing::FetchSockets { request_id, opts } => {
                (Some(request_id), RequestBody::RemoteFetch { opts })
            }
            Outgoing::AllRooms { request_id } => (Some(request_id), RequestBody::AllRooms),
            Outgoing::ServerSideEmit { request_id, data } => (
                request_id,
                RequestBody::ServerSideEmit {
                    data: Value::Array(data),
                },
            ),
        };
        self.request(uid, request_id, body)
    }

    fn encode_reply(
        &self,
        requester: Option<&str>,
        request_id: String,
        reply: Reply,
    ) -> Option<Publication> {
        let response = match reply {
            Reply::SocketIds(sockets) => ClassicResponse::Sockets {
                request_id,
                sockets,
            },
            Reply::Sockets(sockets) => ClassicResponse::FetchSockets {
                request_id,
                sockets,
            },
            Reply::Rooms(rooms) => ClassicResponse::AllRooms { request_id, rooms },
            Reply::Done => ClassicResponse::Done { request_id },
            Reply::ServerSideEmit(value) => {
                // Node answers serverSideEmit on the shared channel, whatever the option.
                let response = ClassicResponse::ServerSideEmit {
                    request_id,
                    data: Some(value),
                };
                return Some(Publication::message(
                    self.channels.response.clone(),
                    Bytes::from(response.encode()),
                ));
            }
            Reply::ClientCount(client_count) => ClassicResponse::BroadcastClientCount {
                request_id,
                client_count,
            },
            Reply::Ack(packet) => ClassicResponse::BroadcastAck { request_id, packet },
        };
        Some(Publication::message(
            self.response_channel(requester),
            Bytes::from(response.encode()),
        ))
    }

    fn publish<'a>(
        &'a self,
        transport: &'a Transport,
        p: Publication,
        mode: PublishMode,
    ) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async move {
            match mode {
                PublishMode::Awaited => transport.publish(&p.channel, p.payload).await.map(drop),
                PublishMode::Queued => transport.publish_queued(p.channel, p.payload).await,
                PublishMode::Volatile => transport.publish_volatile(p.channel, p.payload).await,
            }
        })
    }

    fn server_count<'a>(
        &'a self,
        transport: &'a Transport,
    ) -> BoxFuture<'a, Result<u64, TransportError>> {
        Box::pin(transport.numsub(&self.channels.request))
    }

    fn on_message<E: SocketEmitter>(engine: &Arc<Engine<E, Self>>, msg: Message) {
        super::receive::on_message(engine, msg);
    }
}
