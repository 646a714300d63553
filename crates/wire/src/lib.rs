//! The wire protocol of the Node.js Socket.IO Redis adapters, byte-compatible and with no
//! I/O: ids, channel and key names, message types with Node's numeric values, and the
//! codecs (notepack.io 3 / @msgpack/msgpack 2.8 msgpack, `JSON.stringify` JSON).
//!
//! | Node package | messages here |
//! |---|---|
//! | `@socket.io/redis-adapter` 8.3 `createAdapter` | [`classic`] |
//! | `@socket.io/redis-emitter` 5.1 | [`classic`] (uid [`ids::EMITTER_UID`]) |
//! | `@socket.io/redis-adapter` 8.3 `createShardedAdapter` | [`ClusterMessage::encode_sharded`] |
//! | `@socket.io/redis-streams-adapter` 0.3 | [`ClusterMessage::to_stream_fields`], [`ClusterMessage::encode_streams_pubsub`], [`SessionRecord`] |
//! | socket.io-adapter 2.5 `ClusterAdapter` | [`ClusterMessage`], [`MessageType`] |
//!
//! Every decoder takes untrusted bytes and a [`Limits`]; it returns a [`DecodeError`] for
//! anything it cannot accept and never panics. Encoders write what Node writes: a
//! message decoded from Node's bytes re-encodes to the same bytes (checked against
//! golden vectors recorded from the Node packages, `tests/golden/vectors.json`).
//!
//! ```
//! use sio_redis_wire::{classic::ClassicBroadcast, BroadcastOptions, Limits, Packet, Value};
//!
//! let msg = ClassicBroadcast {
//!     uid: "MPVgyK".into(),
//!     packet: Packet::event(vec!["greet".into(), Value::Int(1)], Some("/".into())),
//!     opts: BroadcastOptions::new(vec!["room1".into()], vec![]),
//! };
//! let bytes = msg.encode();
//! assert_eq!(ClassicBroadcast::decode(&bytes, &Limits::default())?, msg);
//! # Ok::<(), sio_redis_wire::DecodeError>(())
//! ```

pub mod channels;
pub mod classic;
mod cluster;
mod codec;
mod error;
pub mod events;
mod fields;
pub mod ids;
mod js;
pub mod json;
pub mod msgpack;
mod packet;
mod session;
mod sink;
mod stream;
mod types;
mod value;

pub use cluster::{ClusterBody, ClusterBroadcastRef, ClusterMessage};
pub use codec::{Encoding, decode_any};
pub use error::{DecodeError, Limits};
pub use packet::{BroadcastFlags, BroadcastOptions, OptionsLayout, Packet, SocketDescription};
pub use session::SessionRecord;
pub use stream::StreamFields;
pub use types::{MessageType, PacketType, RequestType};
pub use value::{Key, TIMESTAMP_EXT, Value};
