//! Which Redis adapter the servers run, so which messages the emitter makes and with
//! which Redis command it sends them.

pub use sio_redis_wire::channels::SubscriptionMode;

/// Default `maxLen` of the streams kind ([`EmitterKind::streams`]): 10 000 entries, the
/// default of `@socket.io/redis-streams-emitter` 0.1 and of the streams adapter 0.3.
pub const DEFAULT_MAX_LEN: u64 = 10_000;

/// The adapter of the Socket.IO servers an emitter talks to. It decides the message
/// format, the channels and the Redis command ([`PublishCommand`]); the servers of one
/// cluster all run the same one, and the emitter must be set to it (a classic message on
/// a sharded cluster, or the reverse, reaches nobody).
///
/// | kind | servers | Redis | format |
/// |---|---|---|---|
/// | [`Classic`](Self::Classic) (default) | `@socket.io/redis-adapter` 8.3 `createAdapter`, `sio-redis`'s classic adapter | `PUBLISH` | `@socket.io/redis-emitter` 5.1 (PROTOCOL.md §5.1) |
/// | [`Sharded`](Self::Sharded) | `@socket.io/redis-adapter` 8.3 `createShardedAdapter` (Redis ≥ 7.0), `sio-redis`'s sharded adapter | `SPUBLISH` | ClusterAdapter messages of socket.io-adapter 2.5 with uid `"emitter"` (§2–§3) |
/// | [`Streams`](Self::Streams) | `@socket.io/redis-streams-adapter` 0.3, `sio-redis`'s streams adapter | `XADD` | `@socket.io/redis-streams-emitter` 0.1 (§4.3, §5.2), plus `streamCount` |
///
/// Node has no emitter for the sharded adapter (`@socket.io/redis-emitter` issue #127):
/// the sharded kind writes what a Node server of `createShardedAdapter` 8.3 would
/// publish for the same call, byte for byte, with uid `"emitter"` in place of the
/// server's uid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum EmitterKind {
    /// The classic (pub/sub) adapter: `PUBLISH` on `<key>#<nsp>#[<room>#]` (broadcasts,
    /// notepack msgpack) and `<key>-request#<nsp>#` (requests, JSON).
    #[default]
    Classic,
    /// The sharded adapter: `SPUBLISH` of ClusterAdapter messages (JSON, or notepack
    /// msgpack when they carry binary) on `<channelPrefix>#<nsp>#`, or on
    /// `<channelPrefix>#<nsp>#<room>#` for a broadcast to one room when
    /// `subscription_mode` sends it there (Node's `computeChannel`, PROTOCOL.md §2.4).
    Sharded {
        /// The servers' `subscriptionMode` (Node default `dynamic`): it decides only
        /// which channel a broadcast to exactly one room goes on, and must match the
        /// servers' (a room broadcast on the main channel still reaches everyone; on a
        /// room channel nobody subscribed to, it is lost).
        subscription_mode: SubscriptionMode,
    },
    /// The streams adapter: every operation is one stream entry,
    /// `XADD <stream> MAXLEN ~ <max_len> * uid emitter nsp <nsp> type <type> data <data>`
    /// (`data` JSON, or base64 of @msgpack/msgpack when it carries binary), exactly as
    /// `@socket.io/redis-streams-emitter` 0.1 writes it, serverSideEmit included. The
    /// stream name is the selection's key ([`EmitterConfig::stream_name`]).
    ///
    /// [`EmitterConfig::stream_name`]: crate::EmitterConfig::stream_name
    Streams {
        /// The servers' `streamCount` (Node default 1; at least 1): with more than one,
        /// a namespace's entries go to `<streamName>-<i>`, `i` = Node's `hashCode(nsp) %
        /// streamCount`, negative indexes included (PROTOCOL.md §4.2), as the adapter
        /// chooses ([`sio_redis_wire::channels::stream_for`]). Node's streams emitter
        /// has no such option: it always writes to `<streamName>`, which servers with
        /// `streamCount` > 1 do not read.
        stream_count: u32,
        /// `MAXLEN ~` of each `XADD`, in entries (Node option `maxLen`, default
        /// [`DEFAULT_MAX_LEN`], 10 000): Redis trims the stream to about this many.
        max_len: u64,
    },
}

impl EmitterKind {
    /// The sharded adapter in Node's default mode, `dynamic`.
    pub fn sharded() -> Self {
        Self::sharded_with(SubscriptionMode::default())
    }

    /// The sharded adapter in `subscription_mode`.
    pub fn sharded_with(subscription_mode: SubscriptionMode) -> Self {
        Self::Sharded { subscription_mode }
    }

    /// The streams adapter with Node's defaults: one stream, `maxLen` 10 000.
    pub fn streams() -> Self {
        Self::streams_with(1, DEFAULT_MAX_LEN)
    }

    /// The streams adapter with `stream_count` streams (the servers' `streamCount`, at
    /// least 1: checked when the emitter is made) and `MAXLEN ~ max_len` (entries).
    pub fn streams_with(stream_count: u32, max_len: u64) -> Self {
        Self::Streams {
            stream_count,
            max_len,
        }
    }

    /// The Redis command its messages are sent with.
    pub fn command(self) -> PublishCommand {
        match self {
            Self::Classic => PublishCommand::Publish,
            Self::Sharded { .. } => PublishCommand::Spublish,
            Self::Streams { .. } => PublishCommand::Xadd,
        }
    }
}

/// The Redis command a [`Message`](crate::Message) is sent with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum PublishCommand {
    /// `PUBLISH channel payload` (classic adapter); on a Redis Cluster any node
    /// forwards it to the subscribers of every node.
    #[default]
    Publish,
    /// `SPUBLISH channel payload` (sharded adapter, Redis ≥ 7.0); on a Redis Cluster it
    /// must go to the shard owning the channel's slot.
    Spublish,
    /// `XADD stream MAXLEN ~ maxLen * field value …` (streams adapter); on a Redis
    /// Cluster it goes to the primary of the stream's slot.
    Xadd,
}

impl PublishCommand {
    /// The command's name: `"PUBLISH"`, `"SPUBLISH"` or `"XADD"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Publish => "PUBLISH",
            Self::Spublish => "SPUBLISH",
            Self::Xadd => "XADD",
        }
    }
}

impl std::fmt::Display for PublishCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
