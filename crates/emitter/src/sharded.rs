//! The sharded adapter's messages (`@socket.io/redis-adapter` 8.3
//! `createShardedAdapter`, which Node has no emitter for: `@socket.io/redis-emitter`
//! issue #127): ClusterAdapter messages of socket.io-adapter 2.5 (PROTOCOL.md §3) with
//! uid `"emitter"`, encoded as the adapter encodes them (§2.3) and `SPUBLISH`ed on the
//! channel its `computeChannel` chooses (§2.4). The bytes are those a Node server of the
//! sharded adapter publishes for the same call, its uid aside; they are also what
//! `sio-redis`'s `ShardedAdapter` writes.

use sio_redis_wire::channels::{ShardedChannels, SubscriptionMode};
use sio_redis_wire::ids::EMITTER_UID;
use sio_redis_wire::{
    BroadcastFlags, BroadcastOptions, ClusterBody, ClusterMessage, Packet, Value,
};

use crate::kind::PublishCommand;
use crate::selection::{Message, Operation, Selection};

/// The sharded message of `op` on `sel`, for servers in `mode`.
pub(crate) fn message(sel: &Selection, mode: SubscriptionMode, op: Operation) -> Message {
    let channels = ShardedChannels::new(sel.key(), sel.namespace());
    // ClusterAdapter options always carry `flags` (`{}` when none is set); only a
    // broadcast has flags of its own (socketsJoin and the like get `{}`, as the streams
    // emitter sends them).
    let opts = |flags: BroadcastFlags| BroadcastOptions {
        flags: Some(flags),
        ..BroadcastOptions::new(sel.rooms().to_vec(), sel.excepted().to_vec())
    };
    let no_flags = || opts(BroadcastFlags::default());
    let (channel, body) = match op {
        Operation::Broadcast(data) => (
            channels.broadcast(mode, sel.rooms(), false),
            ClusterBody::Broadcast {
                // ClusterAdapter packets carry no `nsp`: the envelope's names it.
                packet: Packet::event(data, None),
                request_id: None,
                opts: opts(sel.flags().clone()),
            },
        ),
        Operation::Join(rooms) => (
            channels.main,
            ClusterBody::SocketsJoin {
                opts: no_flags(),
                rooms,
            },
        ),
        Operation::Leave(rooms) => (
            channels.main,
            ClusterBody::SocketsLeave {
                opts: no_flags(),
                rooms,
            },
        ),
        Operation::Disconnect { close } => (
            channels.main,
            ClusterBody::DisconnectSockets {
                opts: no_flags(),
                close,
            },
        ),
        Operation::ServerSideEmit(data) => (
            channels.main,
            ClusterBody::ServerSideEmit {
                request_id: None,
                packet: Value::Array(data),
            },
        ),
    };
    let msg = ClusterMessage {
        uid: EMITTER_UID.to_owned(),
        nsp: sel.namespace().to_owned(),
        body,
    };
    Message {
        command: PublishCommand::Spublish,
        channel,
        payload: msg.encode_sharded(),
    }
}
