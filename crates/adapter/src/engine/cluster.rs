//! What a ClusterAdapter message of another server does here (socket.io-adapter 2.5's
//! `onMessage`, PROTOCOL §3.3), for every adapter kind that speaks them (sharded,
//! streams): its own echo and other namespaces' messages dropped, requests applied,
//! responses handed to the waiting request.

use std::sync::Arc;

use sio_redis_transport::Message;
use sio_redis_wire::{
    BroadcastFlags, BroadcastOptions, ClusterBody, ClusterBroadcastRef, ClusterMessage, Value,
};
use socketioxide_core::adapter::SocketEmitter;

use super::{Codec, Engine, Outgoing, Reply};
use crate::convert;

/// ClusterAdapter options carry `flags` in every message (`{}` when none is set).
fn with_flags(mut opts: BroadcastOptions) -> BroadcastOptions {
    opts.flags.get_or_insert_with(BroadcastFlags::default);
    opts
}

impl Outgoing {
    /// The ClusterAdapter message for this one (PROTOCOL §3.2): packets without `nsp`
    /// (the envelope names the namespace), `opts.flags` always present. allRooms, which
    /// ClusterAdapter messages cannot ask (codecs say `REMOTE_ALL_ROOMS = false`, so it
    /// is not sent), maps to a fetchSockets of every socket, whose answers carry the
    /// rooms.
    pub(crate) fn into_cluster_body(self) -> ClusterBody {
        match self {
            Outgoing::Broadcast { mut packet, opts } => {
                packet.nsp = None;
                ClusterBody::Broadcast {
                    packet,
                    request_id: None,
                    opts: with_flags(opts),
                }
            }
            Outgoing::BroadcastWithAck {
                request_id,
                mut packet,
                opts,
            } => {
                packet.nsp = None;
                ClusterBody::Broadcast {
                    packet,
                    request_id: Some(request_id),
                    opts: with_flags(opts),
                }
            }
            Outgoing::SocketsJoin { opts, rooms } => ClusterBody::SocketsJoin {
                opts: with_flags(opts),
                rooms,
            },
            Outgoing::SocketsLeave { opts, rooms } => ClusterBody::SocketsLeave {
                opts: with_flags(opts),
                rooms,
            },
            Outgoing::DisconnectSockets { opts, close } => ClusterBody::DisconnectSockets {
                opts: with_flags(opts),
                close,
            },
            Outgoing::FetchSockets { request_id, opts } => ClusterBody::FetchSockets {
                opts: with_flags(opts),
                request_id,
            },
            Outgoing::AllRooms { request_id } => ClusterBody::FetchSockets {
                opts: with_flags(BroadcastOptions::default()),
                request_id,
            },
            Outgoing::ServerSideEmit { request_id, data } => ClusterBody::ServerSideEmit {
                request_id,
                packet: Value::Array(data),
            },
        }
    }
}

impl Reply {
    /// The ClusterAdapter response for this answer to `request_id`; `None` for the
    /// classic adapter's legacy answers, which have none.
    pub(crate) fn into_cluster_body(self, request_id: String) -> Option<ClusterBody> {
        Some(match self {
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
        })
    }
}

impl<E: SocketEmitter, C: Codec> Engine<E, C> {
    /// Applies `m`, decoded from `msg` (which names where it came from in logs and
    /// counters). Heartbeat-class types (1, 2, 13), which neither the sharded adapter nor
    /// the streams adapter 0.3 sends, are ignored.
    pub(crate) fn apply_cluster_message(self: &Arc<Self>, m: ClusterMessage, msg: &Message) {
        if !self.is_for_here(&m.uid, &m.nsp, msg) {
            return;
        }
        let requester = Some(m.uid);
        let Some(body) = self.apply_durable(m.body, msg) else {
            return;
        };
        match body {
            ClusterBody::Broadcast {
                packet,
                request_id: Some(request_id),
                opts,
            } => self.apply_broadcast_with_ack(requester, request_id, packet, opts, msg),
            ClusterBody::FetchSockets { opts, request_id } => {
                self.answer(msg, "fetchSockets", requester, request_id, move |e| {
                    Reply::Sockets(e.describe_local(&opts))
                });
            }
            ClusterBody::ServerSideEmit { request_id, packet } => {
                self.apply_server_side_emit(requester, request_id, packet)
            }
            ClusterBody::FetchSocketsResponse {
                request_id,
                sockets,
            } => self.on_reply(msg, &request_id, Reply::Sockets(sockets)),
            ClusterBody::ServerSideEmitResponse { request_id, packet } => self.on_reply(
                msg,
                &request_id,
                Reply::ServerSideEmit(packet.unwrap_or_default()),
            ),
            ClusterBody::BroadcastClientCount {
                request_id,
                client_count,
            } => self.on_reply(msg, &request_id, Reply::ClientCount(client_count)),
            ClusterBody::BroadcastAck { request_id, packet } => {
                self.on_reply(msg, &request_id, Reply::Ack(packet))
            }
            _ => {}
        }
    }

    /// Applies `m`, read from a stream entry (`msg` names the stream): broadcasts and
    /// room changes, the types the streams adapter 0.3 writes to streams, and
    /// serverSideEmit without acknowledgement, which `@socket.io/redis-streams-emitter`
    /// 0.1 writes there (Node 0.3 nodes apply whatever type they read, PROTOCOL §5.2).
    /// What 0.1/0.2 nodes also wrote there (requests, responses, heartbeats) is ignored:
    /// 0.3 nodes cannot answer them either (PROTOCOL §4.5).
    pub(crate) fn apply_stream_message(self: &Arc<Self>, m: ClusterMessage, msg: &Message) {
        if !self.is_for_here(&m.uid, &m.nsp, msg) {
            return;
        }
        if let Some(ClusterBody::ServerSideEmit {
            request_id: None,
            packet,
        }) = self.apply_durable(m.body, msg)
        {
            self.apply_server_side_emit(Some(m.uid), None, packet);
        }
    }

    /// Applies a broadcast without acknowledgements read with its data as JSON text
    /// (`b.data`): the text itself for a common-parser namespace, else through a
    /// [`Value`] and the namespace's parser, as [`Engine::apply_cluster_message`] does.
    pub(crate) fn apply_cluster_broadcast_json(&self, b: &ClusterBroadcastRef<'_>, msg: &Message) {
        if !self.is_for_here(&b.uid, &b.nsp, msg) {
            return;
        }
        let limits = &self.state.inner.engine.limits;
        match convert::json_data_to_sio(self.local.parser(), self.json_parser(), b.data, limits) {
            Ok(value) => self.apply_broadcast(value, &b.opts),
            Err(e) => self.drop_message("payload", msg, &e),
        }
    }

    /// Whether a message of server `uid` for namespace `nsp` is another server's
    /// message for this namespace: its own echo is dropped, another namespace's
    /// counted as dropped.
    fn is_for_here(&self, uid: &str, nsp: &str, msg: &Message) -> bool {
        if uid == self.uid {
            return false;
        }
        if nsp != self.nsp {
            self.drop_message(
                "foreign_namespace",
                msg,
                &format_args!("message for {nsp:?}"),
            );
            return false;
        }
        true
    }

    /// Applies the types that need no answer and that the streams adapter also writes
    /// to streams (broadcast without acknowledgements, socketsJoin, socketsLeave,
    /// disconnectSockets); hands any other `body` back.
    fn apply_durable(&self, body: ClusterBody, msg: &Message) -> Option<ClusterBody> {
        match body {
            ClusterBody::Broadcast {
                packet,
                request_id: None,
                opts,
            } => match convert::event_to_sio(self.local.parser(), &packet.data) {
                Ok(value) => self.apply_broadcast(value, &opts),
                Err(e) => self.drop_message("payload", msg, &e),
            },
            ClusterBody::SocketsJoin { opts, rooms } => self.apply_join(&opts, rooms),
            ClusterBody::SocketsLeave { opts, rooms } => self.apply_leave(&opts, rooms),
            ClusterBody::DisconnectSockets { opts, .. } => self.apply_disconnect(&opts),
            other => return Some(other),
        }
        None
    }
}
