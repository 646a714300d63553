//! [`AdapterKind`]: which adapter a [`RedisAdapterState`](crate::RedisAdapterState) was
//! made for.

/// The kind of adapter a [`RedisAdapterState`](crate::RedisAdapterState) serves. Each
/// adapter kind speaks its own wire protocol on its own channels, so a state made for one
/// kind cannot serve another: the namespace's initialisation fails with
/// [`Error::WrongAdapterKind`](crate::Error::WrongAdapterKind).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AdapterKind {
    /// [`ClassicAdapter`](crate::ClassicAdapter): Redis Pub/Sub, `createAdapter` of
    /// `@socket.io/redis-adapter` 8.3.
    Classic,
    /// [`ShardedAdapter`](crate::ShardedAdapter): Redis 7 sharded Pub/Sub,
    /// `createShardedAdapter` of `@socket.io/redis-adapter` 8.3.
    Sharded,
    /// [`StreamsAdapter`](crate::StreamsAdapter): Redis Streams for broadcasts and room
    /// changes, Pub/Sub for requests, `@socket.io/redis-streams-adapter` 0.3.
    Streams,
}

impl std::fmt::Display for AdapterKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Classic => "classic",
            Self::Sharded => "sharded",
            Self::Streams => "streams",
        })
    }
}
