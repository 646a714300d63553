//! Options of the adapters, with the names and defaults of the Node adapters:
//! [`ClassicConfig`] (`@socket.io/redis-adapter` 8.3 `createAdapter(pub, sub, opts)`),
//! [`ShardedConfig`] (`createShardedAdapter(pub, sub, opts)` of the same package),
//! [`StreamsConfig`] (`@socket.io/redis-streams-adapter` 0.3), and the settings they
//! share, [`EngineConfig`].

use std::time::Duration;

use sio_redis_wire::Limits;
use sio_redis_wire::channels::{DEFAULT_PREFIX, SubscriptionMode};

use crate::kind::AdapterKind;

/// The settings every adapter kind shares: how long requests wait, and the bounds on what
/// other servers can make this one do. Set through [`ClassicConfig`] or [`ShardedConfig`]
/// (their setters of the same names).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EngineConfig {
    /// `requestsTimeout`: how long allRooms, fetchSockets and serverSideEmit with
    /// acknowledgements wait for the other servers (default 5000 ms).
    pub requests_timeout: Duration,
    /// Bounds applied to every message received from Redis.
    pub limits: Limits,
    /// How many foreign socket ids (Node's 20-character ids) are mapped to socketioxide
    /// ids at most; the oldest mapping is forgotten first (default 100 000).
    pub max_foreign_ids: usize,
    /// The most clients one other server may report for one broadcast with
    /// acknowledgements (its `BROADCAST_CLIENT_COUNT` response, type 8), default
    /// [`EngineConfig::DEFAULT_MAX_REMOTE_CLIENT_COUNT`] (2^20 = 1 048 576 clients).
    ///
    /// A larger count is far beyond what one Socket.IO node serves in one namespace, and
    /// believing it would make the request expect that many acknowledgements (and, at its
    /// timeout, yield that many timeout errors; a forged count can be 2^63), so it is
    /// treated as malformed: dropped, counted in [`AdapterStats::dropped`] as
    /// `"malformed:client_count"` (logged once), and the request goes on **as if that
    /// server had not answered**: it does not end before its timeout, and what Node's
    /// `emitWithAck` would give at that point (the acknowledgements that arrived) is what
    /// the stream yields. With every count at most this limit, the timeout errors a
    /// stream yields for missing remote acknowledgements are at most this limit × the
    /// servers Redis counted for the request.
    ///
    /// [`AdapterStats::dropped`]: crate::AdapterStats::dropped
    pub max_remote_client_count: u64,
    /// The longest this server waits for its clients' acknowledgements of a broadcast
    /// with acknowledgements that another server asked for, default
    /// [`EngineConfig::DEFAULT_MAX_REMOTE_ACK_TIMEOUT`] (60 s).
    ///
    /// The request's `flags.timeout` (milliseconds, set by the requesting server from its
    /// own `timeout()`) is used when it is shorter; a longer or absurd one (up to 2^64 − 1
    /// ms) is cut to this. Without a `flags.timeout`, socketioxide's `ack_timeout` is used,
    /// also cut to this. Each such request holds one of the
    /// [`max_concurrent_remote_requests`](EngineConfig::max_concurrent_remote_requests)
    /// slots until its acknowledgements are forwarded: at most this timeout plus
    /// `requestsTimeout` (for the last answers to reach Redis).
    /// (Node's adapter waits on the remote side until each client answers or disconnects.)
    pub max_remote_ack_timeout: Duration,
    /// How many requests from other servers (fetchSockets, allRooms, the legacy
    /// `sockets`/join/leave/disconnect answers, server-side emit acknowledgements, and
    /// broadcasts with acknowledgements while their acknowledgements are forwarded) this
    /// server works on at once, over all its namespaces; default
    /// [`EngineConfig::DEFAULT_MAX_CONCURRENT_REMOTE_REQUESTS`] (1024).
    ///
    /// The work runs on background tasks, never on the Redis subscriber task. A request
    /// that arrives while every slot is taken is dropped without an answer (the requester
    /// sees a timeout naming one server fewer), counted in
    /// [`AdapterStats::dropped`](crate::AdapterStats::dropped) as `"overloaded"` and
    /// logged once; the subscriber never waits for a slot. Requests in progress:
    /// [`AdapterStats::remote_requests_in_flight`](crate::AdapterStats::remote_requests_in_flight).
    /// Room changes and disconnections asked by other servers (`socketsJoin`,
    /// `socketsLeave`, `disconnectSockets`) and received broadcasts are applied at once, in
    /// the order Redis delivers them, and take no slot.
    pub max_concurrent_remote_requests: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            requests_timeout: Duration::from_millis(5000),
            limits: Limits::default(),
            max_foreign_ids: 100_000,
            max_remote_client_count: Self::DEFAULT_MAX_REMOTE_CLIENT_COUNT,
            max_remote_ack_timeout: Self::DEFAULT_MAX_REMOTE_ACK_TIMEOUT,
            max_concurrent_remote_requests: Self::DEFAULT_MAX_CONCURRENT_REMOTE_REQUESTS,
        }
    }
}

impl EngineConfig {
    /// Default of [`EngineConfig::max_remote_client_count`]: 2^20 clients.
    pub const DEFAULT_MAX_REMOTE_CLIENT_COUNT: u64 = 1 << 20;
    /// Default of [`EngineConfig::max_remote_ack_timeout`]: 60 s (twelve times
    /// socketioxide's and Node's usual 5 s acknowledgement and request timeouts).
    pub const DEFAULT_MAX_REMOTE_ACK_TIMEOUT: Duration = Duration::from_secs(60);
    /// Default of [`EngineConfig::max_concurrent_remote_requests`]: 1024 requests.
    pub const DEFAULT_MAX_CONCURRENT_REMOTE_REQUESTS: usize = 1024;

    /// Checks the shared settings.
    ///
    /// # Errors
    /// [`ConfigError`] naming the setting: a zero `requestsTimeout`, zero limits, a zero
    /// `max_foreign_ids`, `max_remote_client_count`, `max_remote_ack_timeout` or
    /// `max_concurrent_remote_requests`, or a `max_concurrent_remote_requests` above
    /// [`tokio::sync::Semaphore::MAX_PERMITS`].
    fn validate(&self) -> Result<(), ConfigError> {
        let fail = |setting, reason| Err(ConfigError { setting, reason });
        if self.requests_timeout.is_zero() {
            return fail("requestsTimeout", "must be more than 0 ms");
        }
        if self.limits.max_bytes == 0 || self.limits.max_depth == 0 || self.limits.max_elements == 0
        {
            return fail(
                "limits",
                "max_bytes, max_depth and max_elements must be more than 0",
            );
        }
        if self.max_foreign_ids == 0 {
            return fail("max_foreign_ids", "must be more than 0");
        }
        if self.max_remote_client_count == 0 {
            return fail("max_remote_client_count", "must be more than 0");
        }
        if self.max_remote_ack_timeout.is_zero() {
            return fail("max_remote_ack_timeout", "must be more than 0 ms");
        }
        if self.max_concurrent_remote_requests == 0 {
            return fail("max_concurrent_remote_requests", "must be more than 0");
        }
        if self.max_concurrent_remote_requests > tokio::sync::Semaphore::MAX_PERMITS {
            return fail(
                "max_concurrent_remote_requests",
                "must be at most tokio::sync::Semaphore::MAX_PERMITS",
            );
        }
        Ok(())
    }
}

/// A setting that cannot work, named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid setting `{setting}`: {reason}")]
#[non_exhaustive]
pub struct ConfigError {
    /// The setting's name, as in Node (`"key"`, `"requestsTimeout"`, …).
    pub setting: &'static str,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Options of the classic adapter (PROTOCOL.md §1.1).
///
/// ```
/// let config = sio_redis::ClassicConfig::default()
///     .key("myapp")
///     .requests_timeout(std::time::Duration::from_millis(2000))
///     .validate()?;
/// # Ok::<(), sio_redis::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClassicConfig {
    /// `key`: the channel prefix (default `"socket.io"`).
    pub key: String,
    /// `publishOnSpecificResponseChannel`: answer requests on the requester's own
    /// response channel instead of the shared one (default false). Every node listens on
    /// both, so nodes with different settings interoperate.
    pub publish_on_specific_response_channel: bool,
    /// `requestsTimeout` and the bounds every adapter kind shares.
    pub engine: EngineConfig,
}

impl Default for ClassicConfig {
    fn default() -> Self {
        Self {
            key: DEFAULT_PREFIX.to_owned(),
            publish_on_specific_response_channel: false,
            engine: EngineConfig::default(),
        }
    }
}

impl ClassicConfig {
    /// Sets `key`.
    #[must_use]
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = key.into();
        self
    }

    /// Sets `publishOnSpecificResponseChannel`.
    #[must_use]
    pub fn publish_on_specific_response_channel(mut self, on: bool) -> Self {
        self.publish_on_specific_response_channel = on;
        self
    }

    /// Checks the settings once.
    ///
    /// # Errors
    /// [`ConfigError`] naming the setting: an empty `key`, or a bad shared setting
    /// (see [`EngineConfig`]: a zero `requestsTimeout`, zero limits or bounds).
    pub fn validate(self) -> Result<Self, ConfigError> {
        if self.key.is_empty() {
            return Err(ConfigError {
                setting: "key",
                reason: "must not be empty",
            });
        }
        self.engine.validate()?;
        Ok(self)
    }
}

/// Options of the sharded adapter (PROTOCOL.md §2.1), on Redis 7 sharded Pub/Sub
/// (`SPUBLISH` / `SSUBSCRIBE`), standalone or Redis Cluster.
///
/// ```
/// use sio_redis::{ShardedConfig, SubscriptionMode};
/// let config = ShardedConfig::default()
///     .channel_prefix("myapp")
///     .subscription_mode(SubscriptionMode::Static)
///     .validate()?;
/// # Ok::<(), sio_redis::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ShardedConfig {
    /// `channelPrefix` (default `"socket.io"`).
    pub channel_prefix: String,
    /// `subscriptionMode` (default [`SubscriptionMode::Dynamic`], as Node).
    pub subscription_mode: SubscriptionMode,
    /// In the dynamic modes, how often each namespace compares its local rooms with its
    /// subscribed room channels and subscribes or unsubscribes the difference (default
    /// 100 ms). socketioxide tells the adapter nothing when a socket joins or leaves a
    /// room, so a room joined with a plain `socket.join` gets its channel within this
    /// delay plus one Redis round trip; [`RedisAdapterState::sync_rooms`] does it at once.
    /// Not a Node option (Node subscribes on its `create-room` event).
    ///
    /// [`RedisAdapterState::sync_rooms`]: crate::RedisAdapterState::sync_rooms
    pub room_sync_interval: Duration,
    /// `requestsTimeout` and the bounds every adapter kind shares.
    pub engine: EngineConfig,
}

impl Default for ShardedConfig {
    fn default() -> Self {
        Self {
            channel_prefix: DEFAULT_PREFIX.to_owned(),
            subscription_mode: SubscriptionMode::default(),
            room_sync_interval: Duration::from_millis(100),
            engine: EngineConfig::default(),
        }
    }
}

impl ShardedConfig {
    /// Sets `channelPrefix`.
    #[must_use]
    pub fn channel_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.channel_prefix = prefix.into();
        self
    }

    /// Sets `subscriptionMode`.
    #[must_use]
    pub fn subscription_mode(mut self, mode: SubscriptionMode) -> Self {
        self.subscription_mode = mode;
        self
    }

    /// Sets [`ShardedConfig::room_sync_interval`].
    #[must_use]
    pub fn room_sync_interval(mut self, interval: Duration) -> Self {
        self.room_sync_interval = interval;
        self
    }

    /// Checks the settings once.
    ///
    /// # Errors
    /// [`ConfigError`] naming the setting: an empty `channelPrefix`, a zero
    /// `room_sync_interval`, or a bad shared setting (see [`EngineConfig`]).
    pub fn validate(self) -> Result<Self, ConfigError> {
        let fail = |setting, reason| Err(ConfigError { setting, reason });
        if self.channel_prefix.is_empty() {
            return fail("channelPrefix", "must not be empty");
        }
        if self.room_sync_interval.is_zero() {
            return fail("room_sync_interval", "must be more than 0 ms");
        }
        self.engine.validate()?;
        Ok(self)
    }
}

/// Options of the streams adapter (`@socket.io/redis-streams-adapter` 0.3, PROTOCOL.md
/// §4.1), with Node's names and defaults.
///
/// ```
/// let config = sio_redis::StreamsConfig::default()
///     .stream_name("myapp")
///     .stream_count(3)
///     .validate()?;
/// # Ok::<(), sio_redis::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StreamsConfig {
    /// `streamName` (default `"socket.io"`): the stream, or with `streamCount` > 1 the
    /// prefix of `<streamName>-<i>`.
    pub stream_name: String,
    /// `streamCount` (default 1): how many streams the namespaces are spread over (by
    /// Node's hash of the namespace, negative index included, PROTOCOL.md §4.2).
    pub stream_count: u32,
    /// `maxLen` (default 10 000 entries): `XADD … MAXLEN ~ maxLen`.
    pub max_len: u64,
    /// `readCount` (default 100 entries): `XREAD COUNT`.
    pub read_count: usize,
    /// `blockTimeInMs` (default 5000 ms): `XREAD BLOCK`.
    pub block_time: Duration,
    /// `channelPrefix` (default `"socket.io"`): the pub/sub channels of requests and
    /// responses, `<prefix>#<nsp>#` and `<prefix>#<nsp>#<uid>#`.
    pub channel_prefix: String,
    /// `useShardedPubSub` (default false): `SPUBLISH` / `SSUBSCRIBE` / `SHARDNUMSUB` for
    /// those channels.
    pub use_sharded_pubsub: bool,
    /// `onlyPlaintext` (default false): stream entries' `data` always JSON, binary or not.
    pub only_plaintext: bool,
    /// `sessionKeyPrefix` (default `"sio:session:"`): session records are stored under
    /// `<sessionKeyPrefix><pid>` ([`RedisAdapterState::persist_session`]).
    ///
    /// [`RedisAdapterState::persist_session`]: crate::RedisAdapterState::persist_session
    pub session_key_prefix: String,
    /// Entries per `XRANGE … COUNT` page when a session is restored (default 100;
    /// Node's `restoreSession` reads whole ranges, without a count). Bounds one reply
    /// to this many entries.
    pub restore_page_entries: usize,
    /// The most stream entries one restore reads after the client's offset, over every
    /// page and namespace of the stream (default
    /// [`StreamsConfig::DEFAULT_RESTORE_MAX_ENTRIES`], 20 000). When the stream holds
    /// more after the offset, the restore fails with
    /// [`NotRestored::TooManyEntries`](crate::NotRestored::TooManyEntries), as a
    /// trimmed offset would (the client starts a new session; the record is already
    /// deleted, as in Node). At most this many + 1 entries are read.
    pub restore_max_entries: usize,
    /// `requestsTimeout` and the bounds every adapter kind shares.
    pub engine: EngineConfig,
}

impl Default for StreamsConfig {
    fn default() -> Self {
        Self {
            stream_name: DEFAULT_PREFIX.to_owned(),
            stream_count: 1,
            max_len: 10_000,
            read_count: 100,
            block_time: Duration::from_millis(5000),
            channel_prefix: DEFAULT_PREFIX.to_owned(),
            use_sharded_pubsub: false,
            only_plaintext: false,
            session_key_prefix: Self::DEFAULT_SESSION_KEY_PREFIX.to_owned(),
            restore_page_entries: 100,
            restore_max_entries: Self::DEFAULT_RESTORE_MAX_ENTRIES,
            engine: EngineConfig::default(),
        }
    }
}

impl StreamsConfig {
    /// Node's default `sessionKeyPrefix`: `"sio:session:"`.
    pub const DEFAULT_SESSION_KEY_PREFIX: &'static str = "sio:session:";
    /// Default of [`StreamsConfig::restore_max_entries`]: 20 000 entries, twice the
    /// default `maxLen` (a stream trimmed with `MAXLEN ~ 10000` holds a little more than
    /// 10 000 entries, up to one more radix-tree node, 100 entries by default), so that
    /// a restore from the oldest entry of such a stream stays under the bound. Raise it
    /// with `maxLen`.
    pub const DEFAULT_RESTORE_MAX_ENTRIES: usize = 20_000;

    /// Sets `sessionKeyPrefix`.
    #[must_use]
    pub fn session_key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.session_key_prefix = prefix.into();
        self
    }

    /// Sets [`StreamsConfig::restore_page_entries`] (entries per `XRANGE` page).
    #[must_use]
    pub fn restore_page_entries(mut self, entries: usize) -> Self {
        self.restore_page_entries = entries;
        self
    }

    /// Sets [`StreamsConfig::restore_max_entries`] (entries one restore reads at most).
    #[must_use]
    pub fn restore_max_entries(mut self, entries: usize) -> Self {
        self.restore_max_entries = entries;
        self
    }

    /// Sets `streamName`.
    #[must_use]
    pub fn stream_name(mut self, name: impl Into<String>) -> Self {
        self.stream_name = name.into();
        self
    }

    /// Sets `streamCount`.
    #[must_use]
    pub fn stream_count(mut self, count: u32) -> Self {
        self.stream_count = count;
        self
    }

    /// Sets `maxLen`.
    #[must_use]
    pub fn max_len(mut self, max_len: u64) -> Self {
        self.max_len = max_len;
        self
    }

    /// Sets `readCount`.
    #[must_use]
    pub fn read_count(mut self, count: usize) -> Self {
        self.read_count = count;
        self
    }

    /// Sets `blockTimeInMs`.
    #[must_use]
    pub fn block_time(mut self, block: Duration) -> Self {
        self.block_time = block;
        self
    }

    /// Sets `channelPrefix`.
    #[must_use]
    pub fn channel_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.channel_prefix = prefix.into();
        self
    }

    /// Sets `useShardedPubSub`.
    #[must_use]
    pub fn use_sharded_pubsub(mut self, on: bool) -> Self {
        self.use_sharded_pubsub = on;
        self
    }

    /// Sets `onlyPlaintext`.
    #[must_use]
    pub fn only_plaintext(mut self, on: bool) -> Self {
        self.only_plaintext = on;
        self
    }

    /// Checks the settings once.
    ///
    /// # Errors
    /// [`ConfigError`] naming the setting: an empty `streamName` or `channelPrefix`, a
    /// zero `streamCount`, `maxLen`, `readCount`, `restore_page_entries` or
    /// `restore_max_entries`, a `blockTimeInMs` under 1 ms (Redis
    /// reads `BLOCK 0` as forever), or a bad shared setting (see [`EngineConfig`]).
    pub fn validate(self) -> Result<Self, ConfigError> {
        let fail = |setting, reason| Err(ConfigError { setting, reason });
        if self.stream_name.is_empty() {
            return fail("streamName", "must not be empty");
        }
        if self.channel_prefix.is_empty() {
            return fail("channelPrefix", "must not be empty");
        }
        if self.stream_count == 0 {
            return fail("streamCount", "must be at least 1");
        }
        if self.max_len == 0 {
            return fail("maxLen", "must be at least 1");
        }
        if self.read_count == 0 {
            return fail("readCount", "must be at least 1");
        }
        if self.restore_page_entries == 0 {
            return fail("restore_page_entries", "must be at least 1");
        }
        if self.restore_max_entries == 0 {
            return fail("restore_max_entries", "must be at least 1");
        }
        if self.block_time < Duration::from_millis(1) {
            return fail(
                "blockTimeInMs",
                "must be at least 1 ms (BLOCK 0 waits forever)",
            );
        }
        self.engine.validate()?;
        Ok(self)
    }
}

/// The shared settings' setters, on each adapter kind's options.
macro_rules! engine_setters {
    ($($config:ty),*) => {$(
        impl $config {
            /// Sets `requestsTimeout` ([`EngineConfig::requests_timeout`]).
            #[must_use]
            pub fn requests_timeout(mut self, timeout: Duration) -> Self {
                self.engine.requests_timeout = timeout;
                self
            }

            /// Sets the decoding limits ([`EngineConfig::limits`]).
            #[must_use]
            pub fn limits(mut self, limits: Limits) -> Self {
                self.engine.limits = limits;
                self
            }

            /// Sets [`EngineConfig::max_foreign_ids`].
            #[must_use]
            pub fn max_foreign_ids(mut self, max: usize) -> Self {
                self.engine.max_foreign_ids = max;
                self
            }

            /// Sets [`EngineConfig::max_remote_client_count`].
            #[must_use]
            pub fn max_remote_client_count(mut self, max: u64) -> Self {
                self.engine.max_remote_client_count = max;
                self
            }

            /// Sets [`EngineConfig::max_remote_ack_timeout`].
            #[must_use]
            pub fn max_remote_ack_timeout(mut self, max: Duration) -> Self {
                self.engine.max_remote_ack_timeout = max;
                self
            }

            /// Sets [`EngineConfig::max_concurrent_remote_requests`].
            #[must_use]
            pub fn max_concurrent_remote_requests(mut self, max: usize) -> Self {
                self.engine.max_concurrent_remote_requests = max;
                self
            }
        }
    )*};
}

engine_setters!(ClassicConfig, ShardedConfig, StreamsConfig);

/// The options of one adapter kind, as a [`RedisAdapterState`](crate::RedisAdapterState)
/// holds them; made from [`ClassicConfig`] or [`ShardedConfig`] with `into()`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AdapterConfig {
    /// For [`ClassicAdapter`](crate::ClassicAdapter).
    Classic(ClassicConfig),
    /// For [`ShardedAdapter`](crate::ShardedAdapter).
    Sharded(ShardedConfig),
    /// For [`StreamsAdapter`](crate::StreamsAdapter).
    Streams(StreamsConfig),
}

impl AdapterConfig {
    /// The adapter kind these options are for.
    pub fn kind(&self) -> AdapterKind {
        match self {
            Self::Classic(_) => AdapterKind::Classic,
            Self::Sharded(_) => AdapterKind::Sharded,
            Self::Streams(_) => AdapterKind::Streams,
        }
    }

    /// The settings every kind shares.
    pub fn engine(&self) -> &EngineConfig {
        match self {
            Self::Classic(c) => &c.engine,
            Self::Sharded(c) => &c.engine,
            Self::Streams(c) => &c.engine,
        }
    }

    /// Checks the settings once.
    ///
    /// # Errors
    /// [`ConfigError`] naming the setting (see each kind's `validate`).
    pub fn validate(self) -> Result<Self, ConfigError> {
        Ok(match self {
            Self::Classic(c) => Self::Classic(c.validate()?),
            Self::Sharded(c) => Self::Sharded(c.validate()?),
            Self::Streams(c) => Self::Streams(c.validate()?),
        })
    }
}

impl From<ClassicConfig> for AdapterConfig {
    fn from(c: ClassicConfig) -> Self {
        Self::Classic(c)
    }
}

/// The options of one adapter kind, as an [`AdapterConfig`] variant.
pub(crate) trait KindConfig: Default + Clone {
    /// These options, when `config` is of this kind.
    fn of(config: &AdapterConfig) -> Option<&Self>;
}

impl AdapterConfig {
    /// The options of kind `T`, or `T`'s defaults when these are of another kind (a
    /// codec made for a state of another kind: the engine refuses that state at the
    /// namespace's initialisation anyway).
    pub(crate) fn kind_or_default<T: KindConfig>(&self) -> std::borrow::Cow<'_, T> {
        T::of(self).map_or_else(
            || std::borrow::Cow::Owned(T::default()),
            std::borrow::Cow::Borrowed,
        )
    }
}

macro_rules! kind_config {
    ($($config:ty => $variant:ident),*) => {$(
        impl KindConfig for $config {
            fn of(config: &AdapterConfig) -> Option<&Self> {
                match config {
                    AdapterConfig::$variant(c) => Some(c),
                    _ => None,
                }
            }
        }
    )*};
}

kind_config!(
    ClassicConfig => Classic,
    ShardedConfig => Sharded,
    StreamsConfig => Streams
);

impl From<StreamsConfig> for AdapterConfig {
    fn from(c: StreamsConfig) -> Self {
        Self::Streams(c)
    }
}

impl From<ShardedConfig> for AdapterConfig {
    fn from(c: ShardedConfig) -> Self {
        Self::Sharded(c)
    }
}
