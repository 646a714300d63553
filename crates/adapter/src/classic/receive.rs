//! The receive side of the classic adapter: what arrives on the namespace's channels,
//! decoded (PROTOCOL §1.3–1.6) and handed to the engine.

use std::sync::Arc;

use sio_redis_transport::Message;
use sio_redis_wire::classic::{
    ClassicBroadcast, ClassicBroadcastRef, ClassicRequest, ClassicResponse, RequestBody,
};
use socketioxide_core::adapter::SocketEmitter;

use super::codec::ClassicCodec;
use crate::convert;
use crate::engine::{Engine, Reply};

type ClassicEngine<E> = Engine<E, ClassicCodec>;

/// Dispatches one message by the channel it came on: pattern (broadcasts), request
/// channel, or one of the two response channels.
pub(super) fn on_message<E: SocketEmitter>(engine: &Arc<ClassicEngine<E>>, msg: Message) {
    let codec = &engine.codec;
    if msg.pattern.is_some() {
        on_broadcast(engine, &msg);
    } else if msg.channel == codec.channels.request {
        on_request(engine, &msg);
    } else if msg.channel == codec.channels.response || msg.channel == codec.own_response {
        on_response(engine, &msg);
    }
}

fn on_broadcast<E: SocketEmitter>(engine: &ClassicEngine<E>, msg: &Message) {
    let codec = &engine.codec;
    if codec.channels.room_of(&msg.channel).is_none() {
        return engine.drop_message(
            "foreign_channel",
            msg,
            &"not a broadcast channel of this namespace",
        );
    }
    // Our own broadcasts come back through the pattern: drop them before decoding.
    if ClassicBroadcast::peek_uid(&msg.payload) == Some(engine.uid.as_str()) {
        return;
    }
    let limits = &engine.state.inner.engine.limits;
    // Decoded up to the event data, which goes from msgpack straight to what
    // the namespace's parser needs.
    let b = match ClassicBroadcastRef::decode(&msg.payload, limits) {
        Ok(b) => b,
        Err(e) => return engine.decode_failed(msg, &e),
    };
    if b.uid == engine.uid {
        return;
    }
    if b.nsp.unwrap_or("/") != engine.nsp {
        return engine.drop_message("foreign_namespace", msg, &format!("packet for {:?}", b.nsp));
    }
    let parser = engine.local.parser();
    let json = engine.json_parser();
    let value = match convert::broadcast_data_to_sio(parser, json, &b, limits) {
        Ok(v) => v,
        Err(e) => return engine.drop_message("payload", msg, &e),
    };
    engine.apply_broadcast(value, &b.opts);
}

fn on_request<E: SocketEmitter>(engine: &Arc<ClassicEngine<E>>, msg: &Message) {
    let limits = &engine.state.inner.engine.limits;
    let req = match ClassicRequest::decode(&msg.payload, limits) {
        Ok(r) => r,
        Err(e) => return engine.decode_failed(msg, &e),
    };
    let own = req.uid.as_deref() == Some(engine.uid.as_str())
        || req
            .request_id
            .as_deref()
            .is_some_and(|id| engine.is_own_request(id));
    if own {
        return;
    }
    let requester = req.uid.clone();
    let request_id = req.request_id.clone().unwrap_or_default();
    match req.body {
        RequestBody::RemoteJoin { opts, rooms } => engine.apply_join(&opts, rooms),
        RequestBody::RemoteLeave { opts, rooms } => engine.apply_leave(&opts, rooms),
        RequestBody::RemoteDisconnect { opts, .. } => engine.apply_disconnect(&opts),
        // The legacy single-socket changes are applied here, in order; only their
        // answer goes to the pool.
        RequestBody::LegacyRemoteJoin { sid, room } => {
            engine.apply_join_one(&sid, room);
            engine.answer(msg, "join", requester, request_id, |_| Reply::Done);
        }
        RequestBody::LegacyRemoteLeave { sid, room } => {
            engine.apply_leave_one(&sid, room);
            engine.answer(msg, "leave", requester, request_id, |_| Reply::Done);
        }
        RequestBody::LegacyRemoteDisconnect { sid, .. } => {
            engine.apply_disconnect_one(&sid);
            engine.answer(msg, "disconnect", requester, request_id, |_| Reply::Done);
        }
        // What lists or describes every local socket or room runs on the pool.
        RequestBody::Sockets { rooms } => {
            engine.answer(msg, "sockets", requester, request_id, move |e| {
                Reply::SocketIds(e.local_socket_ids(rooms))
            });
        }
        RequestBody::AllRooms => {
            engine.answer(msg, "allRooms", requester, request_id, |e| {
                Reply::Rooms(e.local_rooms())
            });
        }
        RequestBody::RemoteFetch { opts } => {
            engine.answer(msg, "fetchSockets", requester, request_id, move |e| {
                Reply::Sockets(e.describe_local(&opts))
            });
        }
        RequestBody::ServerSideEmit { data } => {
            engine.apply_server_side_emit(requester, req.request_id, data)
        }
        RequestBody::Broadcast { packet, opts } => {
            engine.apply_broadcast_with_ack(requester, request_id, packet, opts, msg)
        }
        _ => engine.drop_message("unknown_type", msg, &"request type not handled"),
    }
}

fn on_response<E: SocketEmitter>(engine: &ClassicEngine<E>, msg: &Message) {
    let limits = &engine.state.inner.engine.limits;
    let response = match ClassicResponse::decode(&msg.payload, limits) {
        Ok(r) => r,
        Err(e) => return engine.decode_failed(msg, &e),
    };
    let (request_id, reply) = match response {
        ClassicResponse::Sockets {
            request_id,
            sockets,
        } => (request_id, Reply::SocketIds(sockets)),
        ClassicResponse::FetchSockets {
            request_id,
            sockets,
        } => (request_id, Reply::Sockets(sockets)),
        ClassicResponse::AllRooms { request_id, rooms } => (request_id, Reply::Rooms(rooms)),
        ClassicResponse::Done { request_id } => (request_id, Reply::Done),
        ClassicResponse::ServerSideEmit { request_id, data } => {
            (request_id, Reply::ServerSideEmit(data.unwrap_or_default()))
        }
        ClassicResponse::BroadcastClientCount {
            request_id,
            client_count,
        } => (request_id, Reply::ClientCount(client_count)),
        ClassicResponse::BroadcastAck { request_id, packet } => (request_id, Reply::Ack(packet)),
        // A response kind of a newer wire crate: no request of this engine waits for it.
        _ => return,
    };
    engine.on_reply(msg, &request_id, reply);
}
