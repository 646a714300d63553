//! Emit Socket.IO events from any Rust process — a worker, a cron job, a CLI — to the
//! clients of a Socket.IO cluster, through Redis, without running a Socket.IO server.
//! It follows `@socket.io/redis-emitter` 5.1 (Node.js) byte for byte (PROTOCOL.md §5.1;
//! checked against the golden vectors recorded from the Node package), so the servers may
//! be Node.js (`@socket.io/redis-adapter` 8.3 `createAdapter`) or Rust (socketioxide
//! with `sio-redis`'s classic adapter), mixed.
//!
//! | Node (`@socket.io/redis-emitter` 5.1) | here | Redis |
//! |---|---|---|
//! | `new Emitter(redisClient, {key})` | [`Emitter::connect`], [`Emitter::connect_with`] + [`EmitterConfig::key`], [`Emitter::connect_cluster`], `Emitter::from_*` | |
//! | (none: sharded adapter, `{channelPrefix, subscriptionMode}`) | [`EmitterConfig::kind`] + [`EmitterKind::Sharded`], [`EmitterConfig::channel_prefix`] | `SPUBLISH <prefix>#<nsp>#[<room>#]` JSON / msgpack |
//! | `@socket.io/redis-streams-emitter` 0.1 `new Emitter(redisClient, {streamName, maxLen})` (+ `streamCount`, which it lacks) | [`EmitterConfig::kind`] + [`EmitterKind::Streams`], [`EmitterConfig::stream_name`] | `XADD <stream> MAXLEN ~ <maxLen> * uid emitter nsp … type … data …` |
//! | `.of("/chat")` | [`Emitter::of`] | |
//! | `.to(r)` / `.in(r)` / `.except(r)` / `.volatile` / `.compress(b)` | [`Emitter::to`], [`Emitter::in_`], [`Emitter::except`], [`Emitter::volatile`], [`Emitter::compress`] → [`BroadcastOperator`] | |
//! | `.emit(ev, ...args)` | [`BroadcastOperator::emit`], [`Emitter::emit`] (`serde`), `emit_args` ([`Args`]) | `PUBLISH <key>#<nsp>#[<room>#]` msgpack |
//! | `.socketsJoin(rooms)` / `.socketsLeave(rooms)` | [`BroadcastOperator::sockets_join`], [`BroadcastOperator::sockets_leave`] | `PUBLISH <key>-request#<nsp>#` JSON |
//! | `.disconnectSockets(close)` | [`BroadcastOperator::disconnect_sockets`] | `PUBLISH <key>-request#<nsp>#` JSON |
//! | `.serverSideEmit(ev, ...args)` | [`Emitter::server_side_emit`] | `PUBLISH <key>-request#<nsp>#` JSON |
//!
//! The broadcast goes to `<key>#<nsp>#<room>#` when exactly one room is targeted, else to
//! `<key>#<nsp>#`; requests go to `<key>-request#<nsp>#`. Like the Node emitter, it
//! publishes only: there are no acknowledgements and no answers.
//!
//! # Sharded adapter
//! Node has no emitter for the sharded adapter (`@socket.io/redis-adapter` 8.3
//! `createShardedAdapter`; `@socket.io/redis-emitter` issue #127). With
//! [`EmitterConfig::kind`]`(`[`EmitterKind::sharded()`]`)` (or
//! [`EmitterKind::sharded_with`] for another `subscriptionMode`) the same API sends what a
//! Node server of that adapter would publish for the same call, byte for byte, with uid
//! `"emitter"`: ClusterAdapter messages (PROTOCOL.md §3; types 3 `BROADCAST`, 4
//! `SOCKETS_JOIN`, 5 `SOCKETS_LEAVE`, 6 `DISCONNECT_SOCKETS`, 9 `SERVER_SIDE_EMIT`), JSON
//! or notepack msgpack when they carry binary, `SPUBLISH`ed (Redis ≥ 7.0) on
//! `<channelPrefix>#<nsp>#`, or on `<channelPrefix>#<nsp>#<room>#` for a broadcast to one
//! room when the mode puts it there (Node's `computeChannel`, §2.4). The mode must be the
//! servers'. The Rust servers (`sio-redis`'s `ShardedAdapter`) read the same messages.
//!
//! # Streams adapter
//! With [`EmitterConfig::kind`]`(`[`EmitterKind::streams_with`]`(stream_count, max_len))`
//! and [`EmitterConfig::stream_name`], every operation (serverSideEmit included) is one
//! stream entry written as `@socket.io/redis-streams-emitter` 0.1 writes it (PROTOCOL.md
//! §5.2; its source, in the socket.io monorepo, is not on npm): `XADD <stream> MAXLEN ~
//! <maxLen> * uid emitter nsp <nsp> type <type> data <data>`, `data` JSON, or base64 of
//! @msgpack/msgpack when a broadcast or serverSideEmit carries binary ([`Message::xadd`]
//! holds the fields). Beyond Node's emitter, `stream_count` picks a namespace's stream as
//! the streams adapter does (`<name>-<hashCode(nsp) % count>`, negative index included).
//!
//! ```
//! use sio_redis_emitter::{Args, PublishCommand, Selection};
//!
//! let msg = Selection::streams("socket.io", "/")
//!     .to("room1")
//!     .emit_message("greet", &Args::from_serialize(&"hi")?)?;
//! assert_eq!(msg.command, PublishCommand::Xadd);
//! assert_eq!(msg.channel, "socket.io"); // the stream
//! let fields = &msg.xadd.as_ref().expect("an entry").fields;
//! assert_eq!(fields[0], ("uid", "emitter".to_owned()));
//! assert_eq!(
//!     fields[3].1,
//!     r#"{"packet":{"type":2,"data":["greet","hi"],"nsp":"/"},"opts":{"rooms":["room1"],"flags":{},"except":[]}}"#
//! );
//! # Ok::<(), sio_redis_emitter::Error>(())
//! ```
//!
//! ```
//! use sio_redis_emitter::{Args, PublishCommand, Selection, SubscriptionMode};
//!
//! let msg = Selection::sharded("socket.io", "/", SubscriptionMode::Dynamic)
//!     .to("room1")
//!     .emit_message("greet", &Args::from_serialize(&"hi")?)?;
//! assert_eq!(msg.command, PublishCommand::Spublish);
//! assert_eq!(msg.channel, "socket.io#/#room1#");
//! assert_eq!(
//!     msg.payload,
//!     br#"{"type":3,"data":{"packet":{"type":2,"data":["greet","hi"]},"opts":{"rooms":["room1"],"except":[],"flags":{}}},"uid":"emitter","nsp":"/"}"#
//! );
//! # Ok::<(), sio_redis_emitter::Error>(())
//! ```
//!
//! # Arguments
//! `emit(event, &args)` takes any `serde::Serialize` value. **A tuple spreads into
//! several arguments**, as in socketioxide: `&("hello", 1)` sends `[event, "hello", 1]`;
//! anything else is one argument (`&vec![1, 2]` sends `[event, [1, 2]]`); [`NoArgs`]
//! sends none. Binary — `bytes::Bytes`, `serde_bytes::ByteBuf`, or a `Vec<u8>` field
//! with `#[serde(with = "serde_bytes")]` — is sent as msgpack `bin` and reaches the
//! clients as binary attachments. [`Args`] holds ready-made arguments (wire
//! [`Value`]s). Reserved event names are refused with [`Error::ReservedEvent`], as Node
//! throws.
//!
//! # Example
//! ```no_run
//! use bytes::Bytes;
//! use sio_redis_emitter::{Emitter, EmitterConfig, NoArgs};
//!
//! # async fn run() -> Result<(), sio_redis_emitter::Error> {
//! let emitter =
//!     Emitter::connect_with("redis://127.0.0.1:6380", EmitterConfig::new().key("socket.io"))
//!         .await?;
//! // ["greet", "hello", 1] to every client of "/"
//! emitter.emit("greet", &("hello", 1)).await?;
//! // to the room "lobby" of "/chat", leaving out the room "muted", volatile
//! let chat = emitter.of("chat");
//! chat.to("lobby").except("muted").volatile().emit("news", &"breaking").await?;
//! // a binary argument
//! chat.emit("file", &("report.bin", Bytes::from_static(b"\x00\x01\x02"))).await?;
//! chat.emit("ping", &NoArgs).await?;
//! // room membership and disconnection, on every server
//! chat.to("lobby").sockets_join(["vip", "beta"]).await?;
//! chat.to("beta").disconnect_sockets(false).await?;
//! // an event for the servers themselves
//! chat.server_side_emit("reload", &("config",)).await?;
//!
//! // Redis Cluster: any seed node will do
//! let cluster = Emitter::connect_cluster(&["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"]).await?;
//! cluster.emit("greet", &"hello").await?;
//! # Ok(())
//! # }
//! ```
//!
//! The messages can be built without a connection, to inspect them or send them through
//! a connection or pipeline of your own:
//! ```
//! use sio_redis_emitter::{Args, Selection};
//!
//! let msg = Selection::new("socket.io", "/")
//!     .to("room1")
//!     .volatile()
//!     .emit_message("greet", &Args::from_serialize(&"from-emitter")?)?;
//! assert_eq!(msg.channel, "socket.io#/#room1#");
//! assert_eq!(&msg.payload[..9], b"\x93\xa7emitter"); // ["emitter", packet, opts]
//! # Ok::<(), sio_redis_emitter::Error>(())
//! ```
//!
//! # Connections
//! [`Emitter::connect`] and [`Emitter::connect_cluster`] publish through a publish-only
//! [`sio_redis_transport::Transport`] (`TransportConfig::publish_only`): one multiplexed
//! connection, the adapters' own, that reconnects by itself forever (exponential back-off
//! with jitter), and on a Redis Cluster follows the slot map (`PUBLISH` on one node, moved
//! to another when it fails; `SPUBLISH` to the primary of the channel's slot). Each operation waits at most the response timeout (default
//! 5 s) for Redis, then fails with [`Error::Timeout`]; while the connection is being
//! re-established it fails at once with [`Error::Publish`] (retryable).
//! [`Error::is_retryable`] uses the transport's classifier. Existing redis-rs connections
//! can be used with `Emitter::from_*` (those publish on the caller's connection).
//!
//! # Command line
//! The `sio-emit` binary (feature `cli`, on by default) does all of the above from a
//! shell: `sio-emit --redis redis://127.0.0.1:6380 --to lobby greet '"hello"' 1`, and
//! `sio-emit --sharded [--mode static|dynamic|dynamic-private] …` for the sharded
//! adapter, `sio-emit --streams [--stream-name N] [--stream-count K] [--max-len L] …` for
//! the streams adapter; see `sio-emit --help`.

mod args;
mod classic;
mod cluster;
mod config;
mod conn;
mod emitter;
mod error;
mod kind;
mod selection;
mod sharded;
mod streams;

pub use args::{Args, NoArgs};
pub use config::{DEFAULT_CONNECTION_TIMEOUT, DEFAULT_RESPONSE_TIMEOUT, EmitterConfig};
pub use emitter::{BroadcastOperator, Emitter};
pub use error::Error;
pub use kind::{DEFAULT_MAX_LEN, EmitterKind, PublishCommand, SubscriptionMode};
pub use selection::{
    IntoRooms, Message, RESERVED_EVENTS, RESERVED_SERVER_SIDE_EVENTS, Selection, Xadd,
};
pub use sio_redis_wire::{BroadcastFlags, Value};
