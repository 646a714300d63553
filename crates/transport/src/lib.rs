//! Redis I/O for the sio-redis Socket.IO adapters: the classic Redis pub/sub
//! of `@socket.io/redis-adapter` (`PUBLISH`, `SUBSCRIBE`, `PSUBSCRIBE`,
//! `PUBSUB NUMSUB`) with reconnection that does not lose subscriptions.
//!
//! Both connections are this crate's own (TCP, TLS with rustls, or Unix
//! socket; the `HELLO`/`AUTH`/`SELECT` handshake; its own RESP2/RESP3
//! framing, so that a message's payload is a slice of the read buffer and a
//! `PUBLISH` reply is read without building a value). redis-rs 1.x is used
//! for what is not on the message path: URL parsing, Sentinel, command
//! encoding (`Cmd`) and parsing of other replies (`FromRedisValue`).
//!
//! * A **publisher**: one multiplexed connection (concurrent commands are
//!   pipelined: a writer task coalesces what is queued into one write, a
//!   reader task hands replies back in order), reconnected by a worker task
//!   with exponential back-off and
//!   jitter ([`Backoff`]) that never gives up by default. Every command is
//!   bounded by a response timeout (default 2000 ms); while the connection
//!   is down, commands fail at once with [`TransportError::NotConnected`].
//! * A **subscriber**: a dedicated connection in subscribed mode, owned by a
//!   worker task together with a subscription registry. The worker calls the
//!   [`MessageHandler`]s inline, in arrival order. When the connection drops
//!   it reconnects with the same back-off, re-subscribes *every* registered
//!   channel, pattern and shard channel ([`Subscription`]), and emits [`ConnectionEvent::Resubscribed`] with
//!   the outage length. An idle subscriber connection is probed through Redis
//!   ([`TransportConfig::probe_interval`], 10 s by default), so that a
//!   subscription that is silently gone (connection up, nothing arriving) is
//!   found and re-established.
//! * **Stream readers** ([`Transport::read_stream`]): one dedicated
//!   connection per stream blocked in `XREAD COUNT … BLOCK … STREAMS`, its
//!   wait bounded by the block time plus the response timeout, the entries
//!   ([`StreamEntry`]) handed to a [`StreamHandler`] in order; after any
//!   reconnect (with the same back-off) reading resumes after the last entry
//!   id, so nothing still in the stream is missed or read twice.
//! * Standalone Redis (`redis://`, `rediss://` with rustls, `unix://` sockets), ACL users,
//!   RESP2 (default) and RESP3, Sentinel (`redis+sentinel://`), and an
//!   optional separate subscriber endpoint such as a replica
//!   ([`TransportConfig::subscriber_url`]).
//!
//! Delivery is at-most-once, as with Redis pub/sub itself: what is
//! published while a subscriber is disconnected is lost to it. The losses
//! are kept small: while the publisher reconnects,
//! [`Transport::publish_queued`] messages wait in the publish queue (the
//! offline buffer, bounded by [`TransportConfig::publish_buffer_bytes`] and
//! [`TransportConfig::publish_buffer_max_age`]) and go out in order once it is
//! back; queued messages also wait (at most 1 s) while this transport's own
//! subscriber is re-subscribing, so that a `CLIENT KILL` or restart that hit
//! every node's subscriber does not swallow what is published right after.
//! Reconnect attempts are at most ~50 ms apart with the default [`Backoff`],
//! and what waited out a publisher outage goes out 50 ms after the reconnect
//! (time for the other nodes' subscribers to be back), so delivery resumes
//! within about 100 ms of Redis answering again.
//!
//! Nothing on the message path grows without bound in this crate: the publish
//! queue holds 32 MiB and 16 384 messages at most (the publisher connection's own
//! command channel is fed only by that queue and by awaited commands, one per
//! caller); the
//! subscriber worker reads its socket itself, so a slow handler slows reading
//! and Redis buffers, up to its `client-output-buffer-limit pubsub`, after
//! which Redis drops the connection (it is re-established and re-subscribed;
//! what was published meanwhile is lost). No task is left running:
//! [`Transport::close`] stops and awaits every worker, and the publisher
//! connection's reader and writer tasks end as it is dropped. Handlers are
//! called inline and must be quick.
//!
//! # Layout
//!
//! Dependencies run one way, from the leaves up:
//!
//! * leaf modules: `message` ([`Message`], [`MessageHandler`],
//!   [`SubscriptionId`]), `stream` ([`StreamId`], [`StreamEntry`],
//!   [`StreamHandler`]), `subscription` ([`Subscription`]), `event`,
//!   `error` (with the one classifier of Redis errors, [`classify`]),
//!   `backoff`;
//! * `resp`: RESP2/RESP3 framing;
//! * `config`: [`TransportConfig`] and endpoints;
//! * `conn`: one connection (open, handshake, TLS, the pipelined mux);
//! * `cluster`: Redis Cluster key slots ([`slot`]) and the slot map
//!   ([`ClusterTopology`]);
//! * `worker`: one worker task per connection to one endpoint (publisher,
//!   subscriber with its registry, stream readers) and the ordered publish
//!   queue, owned by a
//!   supervisor (`JoinSet`) that can stop and replace each;
//! * `pubsub`: the standalone composition behind [`Transport`].
//!
//! # Cargo features
//!
//! * `tls-insecure` (off): lets `rediss://…/#insecure` URLs skip
//!   certificate verification. For tests and
//!   development only; prefer [`TransportConfig::tls_root_ca_pem`].
//!
//! TLS uses rustls with its `ring` provider (no cmake needed); if no
//! process-wide rustls provider is installed when a `rediss://` config is
//! built, ring's is installed.
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use bytes::Bytes;
//! use sio_redis_transport::{ConnectionEvent, Subscription, Transport, TransportConfig};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let config = TransportConfig::new("redis://127.0.0.1:7000").build()?;
//! let transport = Transport::connect(config).await?;
//! let mut events = transport.events();
//! let id = transport
//!     .subscribe(
//!         Subscription::new()
//!             .channel("socket.io#/#")
//!             .pattern("socket.io-request#/*"),
//!         Arc::new(|msg| println!("{} bytes on {}", msg.payload.len(), msg.channel)),
//!     )
//!     .await?;
//! let receivers = transport.publish("socket.io#/#", Bytes::from_static(b"hi")).await?;
//! assert!(receivers >= 1);
//! if let Ok(ConnectionEvent::Resubscribed { outage, .. }) = events.try_recv() {
//!     println!("subscriptions restored after {outage:?}");
//! }
//! transport.unsubscribe(id).await?;
//! transport.close().await;
//! # Ok(())
//! # }
//! ```

// Dependencies run one way: the leaf modules (`message`, `stream`, `subscription`,
// `event`, `error`, `backoff`) <- `resp` <- `config` <- `conn` <- `worker` <-
// the compositions (`pubsub`) <- this file.
mod backoff;
mod cluster;
mod config;
mod conn;
mod error;
mod event;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod message;
pub mod metrics;
mod pubsub;
mod resp;
mod shared;
mod stream;
mod subscription;
mod worker;

pub use backoff::Backoff;
pub use cluster::slot;
pub use cluster::topology::{ClusterTopology, MAX_HOST_LEN, NodeAddr, Shard, TopologyError};
pub use config::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_EVENT_CAPACITY, DEFAULT_HEALTH_CHECK_INTERVAL,
    DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_PROBE_INTERVAL, DEFAULT_PUBLISH_BUFFER_BYTES,
    DEFAULT_PUBLISH_BUFFER_MAX_AGE, DEFAULT_RESPONSE_TIMEOUT, PROBE_CHANNEL_PREFIX,
    TransportConfig, redact_url,
};
pub use error::{ConfigError, ErrorClass, TransportError, classify};
pub use event::{ConnectionEvent, Role, TransportStats};
pub use message::{Message, MessageHandler, MessageKind, SubscriptionId};
pub use pubsub::{StreamReader, Transport};
pub use stream::{
    InvalidStreamId, StreamEntry, StreamHandler, StreamId, StreamStart, stream_fields, xadd_cmd,
};
pub use subscription::Subscription;

/// The redis-rs crate this transport is built on (for
/// [`TransportError::Redis`]'s source and error kinds).
pub use redis;
