//! The streams adapter: socketioxide's `CoreAdapter` over Redis Streams, wire-compatible
//! with `@socket.io/redis-streams-adapter` 0.3 (PROTOCOL.md §4; ClusterAdapter messages of
//! socket.io-adapter 2.5).
//!
//! Broadcasts without acknowledgements and room changes (socketsJoin, socketsLeave,
//! disconnectSockets) are `XADD`ed to the namespace's stream (`streamName`, or
//! `<streamName>-<i>` by Node's hash of the namespace with `streamCount` > 1) and read
//! back by one blocking reader per stream and state (`readers.rs`, the transport's
//! `read_stream`: a dedicated connection that resumes after its last entry id after any
//! reconnect, so a Redis disconnect loses nothing still in the stream). Requests and
//! answers go over Pub/Sub (or sharded Pub/Sub) as msgpack. The server count is
//! `PUBSUB NUMSUB <prefix>#<nsp>#`.
//!
//! Differences from Node, by design: as the sharded adapter's (joins applied locally at
//! once, allRooms as a fetchSockets); a namespace whose stream has a negative index (Node's
//! quirk) is read here, with a warning at start-up that Node nodes never read it. Entries go
//! through the transport's stream writer (`Transport::xadd_queued`): in order, held in
//! a bounded offline buffer while Redis is unreachable, and checked for in the stream
//! before being written again when a reply was lost, so that a `CLIENT KILL` or a
//! restart neither loses nor duplicates one. Trims past what a reader read are counted
//! per stream in [`AdapterStats::stream_gaps`](crate::AdapterStats::stream_gaps), the
//! entries they took unread in
//! [`AdapterStats::stream_trimmed`](crate::AdapterStats::stream_trimmed).
//!
//! Session records (`sessions.rs`, the storage side of connection state recovery):
//! [`RedisAdapterState::persist_session`](crate::RedisAdapterState::persist_session) and
//! [`RedisAdapterState::restore_session`](crate::RedisAdapterState::restore_session),
//! byte-compatible with Node's `persistSession` / `restoreSession`.

mod codec;
pub(crate) mod readers;
mod sessions;

use std::sync::Arc;

pub(crate) use codec::StreamsCodec;
pub use sessions::{MissedPacket, NotRestored, RestoredSession};

use crate::engine::Engine;

/// The streams Redis adapter of one namespace. Created by socketioxide from a
/// [`RedisAdapterState`](crate::RedisAdapterState) made with a
/// [`StreamsConfig`](crate::StreamsConfig):
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use sio_redis::{RedisAdapterState, StreamsAdapter, StreamsConfig};
/// use socketioxide::{SocketIo, extract::SocketRef};
///
/// let state = RedisAdapterState::connect("redis://127.0.0.1:6379", StreamsConfig::default()).await?;
/// let (layer, io) = SocketIo::builder().with_adapter::<StreamsAdapter<_>>(state.clone()).build_layer();
/// io.ns("/", async |socket: SocketRef<StreamsAdapter<_>>| socket.join("room1")).await?;
/// # Ok(()) }
/// ```
///
/// A state made for another adapter kind fails the namespace's initialisation with
/// [`Error::WrongAdapterKind`](crate::Error::WrongAdapterKind). Dropping the adapter
/// removes its subscriptions and, with the last namespace of its stream, stops the
/// stream's reader.
pub struct StreamsAdapter<E> {
    engine: Arc<Engine<E, StreamsCodec>>,
}

crate::engine::core_adapter!(StreamsAdapter, StreamsCodec);
