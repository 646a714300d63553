//! The ClusterAdapter body (socket.io-adapter 2.5, PROTOCOL.md §3.2) of each emitter
//! operation, shared by the sharded kind and the streams kind. Node's two writers differ
//! in two details only, which [`Writer`] names.

use sio_redis_wire::ids::EMITTER_UID;
use sio_redis_wire::{
    BroadcastFlags, BroadcastOptions, ClusterBody, ClusterMessage, OptionsLayout, Packet, Value,
};

use crate::selection::{Operation, Selection};

/// Whose bytes an emitter message copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Writer {
    /// A Node server of `createShardedAdapter` (`@socket.io/redis-adapter` 8.3): a
    /// broadcast's packet is `{type, data}` (the envelope names the namespace), its
    /// options `{rooms, except, flags}`.
    ShardedServer,
    /// `@socket.io/redis-streams-emitter` 0.1: a broadcast's packet is `{type, data,
    /// nsp}`, its options `{rooms, flags, except}` (PROTOCOL.md §5.2).
    StreamsEmitter,
}

/// The message of `op` on `sel` with uid `"emitter"`, as `writer` makes it. socketsJoin,
/// socketsLeave and disconnectSockets carry `flags: {}` whatever the selection's flags
/// (both Node writers do so).
pub(crate) fn message(sel: &Selection, op: Operation, writer: Writer) -> ClusterMessage {
    let opts = |flags: BroadcastFlags, layout: OptionsLayout| BroadcastOptions {
        flags: Some(flags),
        layout,
        ..BroadcastOptions::new(sel.rooms().to_vec(), sel.excepted().to_vec())
    };
    let no_flags = || opts(BroadcastFlags::default(), OptionsLayout::RoomsExceptFlags);
    let body = match op {
        Operation::Broadcast(data) => {
            let (nsp, layout) = match writer {
                Writer::ShardedServer => (None, OptionsLayout::RoomsExceptFlags),
                Writer::StreamsEmitter => (
                    Some(sel.namespace().to_owned()),
                    OptionsLayout::RoomsFlagsExcept,
                ),
            };
            ClusterBody::Broadcast {
                packet: Packet::event(data, nsp),
                request_id: None,
                opts: opts(sel.flags().clone(), layout),
            }
        }
        Operation::Join(rooms) => ClusterBody::SocketsJoin {
            opts: no_flags(),
            rooms,
        },
        Operation::Leave(rooms) => ClusterBody::SocketsLeave {
            opts: no_flags(),
            rooms,
        },
        Operation::Disconnect { close } => ClusterBody::DisconnectSockets {
            opts: no_flags(),
            close,
        },
        Operation::ServerSideEmit(data) => ClusterBody::ServerSideEmit {
            request_id: None,
            packet: Value::Array(data),
        },
    };
    ClusterMessage {
        uid: EMITTER_UID.to_owned(),
        nsp: sel.namespace().to_owned(),
        body,
    }
}
