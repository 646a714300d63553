//! The sharded adapter: socketioxide's `CoreAdapter` over Redis 7 sharded Pub/Sub,
//! wire-compatible with `@socket.io/redis-adapter` 8.3 `createShardedAdapter`
//! (ClusterAdapter messages of socket.io-adapter 2.5; PROTOCOL.md §2–3).
//!
//! Per namespace it SSUBSCRIBEs `<prefix>#<nsp>#` (requests, broadcasts) and its own
//! `<prefix>#<nsp>#<uid>#` (responses), `uid` being 16 hex characters as Node's; in the
//! dynamic modes also one room channel `<prefix>#<nsp>#<room>#` per room with a local
//! member and per local socket id (`rooms.rs`). The server count is
//! `PUBSUB SHARDNUMSUB <prefix>#<nsp>#`.
//!
//! Differences from Node, by design:
//! * as the classic adapter: socketsJoin / socketsLeave / disconnectSockets are applied
//!   locally at once and this node skips its own echo;
//! * room channels follow the local rooms with a delay of at most
//!   [`ShardedConfig::room_sync_interval`](crate::ShardedConfig::room_sync_interval) plus a
//!   Redis round trip (Node subscribes on the room's creation), or at once with
//!   [`RedisAdapterState::sync_rooms`](crate::RedisAdapterState::sync_rooms);
//! * in `dynamic` mode this node also subscribes its own sockets' id rooms: its ids have 16
//!   characters, so Node servers send `io.to(<id>)` on the id's room channel;
//! * allRooms (which ClusterAdapter messages cannot ask) is the rooms of a fetchSockets of
//!   every socket.
//!
//! A thin layer over the adapter engine (`crate::engine`): `codec.rs` is the sharded
//! [`Codec`](crate::engine::Codec), `receive.rs` decodes what arrives.

mod codec;
mod receive;
mod rooms;

use std::sync::Arc;

pub(crate) use codec::ShardedCodec;

use crate::engine::Engine;

/// The sharded Redis adapter of one namespace. Created by socketioxide from a
/// [`RedisAdapterState`](crate::RedisAdapterState) made with a
/// [`ShardedConfig`](crate::ShardedConfig):
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use sio_redis::{RedisAdapterState, ShardedAdapter, ShardedConfig};
/// use socketioxide::{SocketIo, extract::SocketRef};
///
/// let state = RedisAdapterState::connect("redis://127.0.0.1:6379", ShardedConfig::default()).await?;
/// let (layer, io) = SocketIo::builder().with_adapter::<ShardedAdapter<_>>(state.clone()).build_layer();
/// io.ns("/", async |socket: SocketRef<ShardedAdapter<_>>| socket.join("room1")).await?;
/// # Ok(()) }
/// ```
///
/// A state made for another adapter kind fails the namespace's initialisation with
/// [`Error::WrongAdapterKind`](crate::Error::WrongAdapterKind). Dropping the adapter
/// removes its subscriptions (main, response and room channels) without blocking.
pub struct ShardedAdapter<E> {
    engine: Arc<Engine<E, ShardedCodec>>,
}

crate::engine::core_adapter!(ShardedAdapter, ShardedCodec);
