//! Redis adapters for [socketioxide](https://docs.rs/socketioxide) that speak the wire
//! protocol of the Node.js adapters, so that Rust and Node.js Socket.IO servers form one
//! cluster.
//!
//! * [`ClassicAdapter`]: Redis Pub/Sub, compatible with `@socket.io/redis-adapter` 8.3
//!   `createAdapter` (channels `<key>#<nsp>#…`, `<key>-request#<nsp>#`, …);
//! * [`ShardedAdapter`]: Redis 7 sharded Pub/Sub, compatible with `createShardedAdapter`
//!   of the same package (shard channels `<prefix>#<nsp>#…`, modes [`SubscriptionMode`]);
//! * [`StreamsAdapter`]: Redis Streams, compatible with `@socket.io/redis-streams-adapter`
//!   0.3 (broadcasts in streams, read back from the last entry id after a reconnect).
//!
//! [`RedisAdapterState`] is shared by every namespace of a server; keep a clone of it for
//! what socketioxide's adapter API lacks: [`RedisAdapterState::server_side_emit`] (with
//! and without acknowledgements), [`RedisAdapterState::server_count`] and
//! [`RedisAdapterState::fetch_sockets`] with ids, rooms and data of every socket.
//!
//! Delivery: broadcasts are at-most-once (Redis Pub/Sub); after a Redis reconnect the
//! subscriptions come back by themselves; requests never hang: they end with the
//! responses or with [`Error::Timeout`] saying how many servers answered.
//!
//! Layout: one engine (`engine/`: the operations, requests that collect replies, the
//! pending table, the ack stream, remote operations on local sockets) under every adapter
//! kind, each a thin codec over it (`classic/`, `sharded/`, `streams/`). A state serves one [`AdapterKind`]
//! ([`RedisAdapterState::kind`]).

mod classic;
mod config;
pub mod convert;
mod engine;
mod error;
mod foreign_ids;
mod health;
mod kind;
pub mod metrics;
mod sharded;
mod state;
mod stats;
mod streams;

pub use classic::ClassicAdapter;
pub use config::{
    AdapterConfig, ClassicConfig, ConfigError, EngineConfig, ShardedConfig, StreamsConfig,
};
pub use engine::InitRes;
pub use engine::ack_stream::AckStream;
pub use error::Error;
pub use health::Health;
pub use kind::AdapterKind;
pub use sharded::ShardedAdapter;
pub use sio_redis_wire::SessionRecord;
pub use sio_redis_wire::channels::SubscriptionMode;
pub use state::{
    AckResult, RedisAdapterState, ServerSideAck, ServerSideEvent, ServerSideHandler, SocketInfo,
};
pub use stats::AdapterStats;
pub use streams::{MissedPacket, NotRestored, RestoredSession, StreamsAdapter};

pub use sio_redis_transport as transport;
pub use sio_redis_wire as wire;
