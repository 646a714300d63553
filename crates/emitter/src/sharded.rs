//! The sharded adapter's messages (`@socket.io/redis-adapter` 8.3
//! `createShardedAdapter`, which Node has no emitter for: `@socket.io/redis-emitter`
//! issue #127): ClusterAdapter messages of socket.io-adapter 2.5 (PROTOCOL.md §3) with
//! uid `"emitter"`, encoded as the adapter encodes them (§2.3) and `SPUBLISH`ed on the
//! channel its `computeChannel` chooses (§2.4). The bytes are those a Node server of the
//! sharded adapter publishes for the same call, its uid aside; they are also what
//! `sio-redis`'s `ShardedAdapter` writes.

use sio_redis_wire::channels::{ShardedChannels, SubscriptionMode};

use crate::cluster::{self, Writer};
use crate::kind::PublishCommand;
use crate::selection::{Message, Operation, Selection};

/// The sharded message of `op` on `sel`, for servers in `mode`.
pub(crate) fn message(sel: &Selection, mode: SubscriptionMode, op: Operation) -> Message {
    let channels = ShardedChannels::new(sel.key(), sel.namespace());
    // Only a broadcast may go on a room's channel; everything else on the main one.
    let channel = match &op {
        Operation::Broadcast(_) => channels.broadcast(mode, sel.rooms(), false),
        _ => channels.main,
    };
    Message {
        command: PublishCommand::Spublish,
        channel,
        payload: cluster::message(sel, op, Writer::ShardedServer).encode_sharded(),
        xadd: None,
    }
}
