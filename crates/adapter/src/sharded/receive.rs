//! The receive side of the sharded adapter: ClusterAdapter messages (PROTOCOL §3.3) from
//! the main, own-response and room channels, decoded and handed to the engine.

use std::sync::Arc;

use sio_redis_transport::Message;
use sio_redis_wire::{ClusterBody, ClusterMessage};
use socketioxide_core::adapter::SocketEmitter;

use super::codec::ShardedCodec;
use crate::convert;
use crate::engine::{Engine, Reply};

type ShardedEngine<E> = Engine<E, ShardedCodec>;

/// Handles one message as socket.io-adapter 2.5's `onMessage`: its own echo and other
/// namespaces' messages dropped, requests applied, responses (whichever channel they came
/// on) handed to the waiting request. Heartbeat-class types (1, 2, 13), which the sharded
/// adapter never sends, are ignored.
pub(super) fn on_message<E: SocketEmitter>(engine: &Arc<ShardedEngine<E>>, msg: Message) {
    let limits = &engine.state.inner.engine.limits;
    let m = match ClusterMessage::decode(&msg.payload, limits) {
        Ok(m) => m,
        Err(e) => return engine.decode_failed(&msg, &e),
    };
    if m.uid == engine.uid {
        return;
    }
    if m.nsp != engine.nsp {
        return engine.drop_message(
            "foreign_namespace",
            &msg,
            &format_args!("message for {:?}", m.nsp),
        );
    }
    let requester = Some(m.uid);
    match m.body {
        ClusterBody::Broadcast {
            packet,
            request_id: None,
            opts,
        } => {
            let value = match convert::event_to_sio(engine.local.parser(), &packet.data) {
                Ok(v) => v,
                Err(e) => return engine.drop_message("payload", &msg, &e),
            };
            engine.apply_broadcast(value, &opts);
        }
        ClusterBody::Broadcast {
            packet,
            request_id: Some(request_id),
            opts,
        } => engine.apply_broadcast_with_ack(requester, request_id, packet, opts, &msg),
        ClusterBody::SocketsJoin { opts, rooms } => engine.apply_join(&opts, rooms),
        ClusterBody::SocketsLeave { opts, rooms } => engine.apply_leave(&opts, rooms),
        ClusterBody::DisconnectSockets { opts, .. } => engine.apply_disconnect(&opts),
        ClusterBody::FetchSockets { opts, request_id } => {
            engine.answer(&msg, "fetchSockets", requester, request_id, move |e| {
                Reply::Sockets(e.describe_local(&opts))
            });
        }
        ClusterBody::ServerSideEmit { request_id, packet } => {
            engine.apply_server_side_emit(requester, request_id, packet)
        }
        ClusterBody::FetchSocketsResponse {
            request_id,
            sockets,
        } => engine.on_reply(&msg, &request_id, Reply::Sockets(sockets)),
        ClusterBody::ServerSideEmitResponse { request_id, packet } => engine.on_reply(
            &msg,
            &request_id,
            Reply::ServerSideEmit(packet.unwrap_or_default()),
        ),
        ClusterBody::BroadcastClientCount {
            request_id,
            client_count,
        } => engine.on_reply(&msg, &request_id, Reply::ClientCount(client_count)),
        ClusterBody::BroadcastAck { request_id, packet } => {
            engine.on_reply(&msg, &request_id, Reply::Ack(packet))
        }
        _ => {}
    }
}
