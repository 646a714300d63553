//! Emitter settings, with their defaults.

use std::time::Duration;

use sio_redis_wire::channels::DEFAULT_PREFIX;

use crate::error::Error;
use crate::kind::EmitterKind;

/// Default of [`EmitterConfig::response_timeout`]: 5000 ms.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_millis(5000);
/// Default of [`EmitterConfig::connection_timeout`]: 5000 ms.
pub const DEFAULT_CONNECTION_TIMEOUT: Duration = Duration::from_millis(5000);

/// Settings of an [`Emitter`](crate::Emitter). Setters never fail; the values are
/// checked once, when the emitter is made (`Emitter::connect_with`, `Emitter::from_*`).
///
/// | setting | default | meaning |
/// |---|---|---|
/// | [`kind`](Self::kind) | [`EmitterKind::Classic`] | the servers' adapter: classic (`PUBLISH`), sharded with its `subscriptionMode` (`SPUBLISH`) or streams with its `streamCount` and `maxLen` (`XADD`) |
/// | [`key`](Self::key) (aliases [`channel_prefix`](Self::channel_prefix), [`stream_name`](Self::stream_name)) | `"socket.io"` | channel prefix: the `key` option of `@socket.io/redis-emitter` 5.1 and of the classic adapter, the `channelPrefix` option of the sharded adapter; for the streams kind the stream name, `streamName` of the streams adapter and emitter (must match the servers') |
/// | [`response_timeout`](Self::response_timeout) | 5000 ms | how long one `PUBLISH` may wait for Redis's reply, reconnection included |
/// | [`connection_timeout`](Self::connection_timeout) | 5000 ms | how long the first connection (and each reconnection attempt) may take |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmitterConfig {
    kind: EmitterKind,
    key: String,
    response_timeout: Duration,
    connection_timeout: Duration,
}

impl Default for EmitterConfig {
    fn default() -> Self {
        Self {
            kind: EmitterKind::Classic,
            key: DEFAULT_PREFIX.to_owned(),
            response_timeout: DEFAULT_RESPONSE_TIMEOUT,
            connection_timeout: DEFAULT_CONNECTION_TIMEOUT,
        }
    }
}

impl EmitterConfig {
    /// The defaults (see the table above).
    pub fn new() -> Self {
        Self::default()
    }

    /// The adapter the servers run (default [`EmitterKind::Classic`]); e.g.
    /// `EmitterKind::sharded()` for `createShardedAdapter` in its default `dynamic`
    /// mode, `EmitterKind::sharded_with(SubscriptionMode::Static)` for another mode (Node
    /// option `subscriptionMode`, which must match the servers').
    #[must_use]
    pub fn kind(mut self, kind: EmitterKind) -> Self {
        self.kind = kind;
        self
    }

    /// The channel prefix (Node option `key` of the classic emitter and adapter, default
    /// `"socket.io"`): channels are `<key>#<nsp>#…` and, classic, `<key>-request#<nsp>#`.
    #[must_use]
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = key.into();
        self
    }

    /// The same setting as [`key`](Self::key), under the sharded adapter's name for it
    /// (Node option `channelPrefix`, default `"socket.io"`).
    #[must_use]
    pub fn channel_prefix(self, prefix: impl Into<String>) -> Self {
        self.key(prefix)
    }

    /// The same setting as [`key`](Self::key), under the streams adapter's name for it
    /// (Node option `streamName`, default `"socket.io"`): with
    /// [`EmitterKind::Streams`] entries go to this stream, or to `<name>-<i>` with
    /// several streams. The streams kind uses no channel, so no `channelPrefix`.
    #[must_use]
    pub fn stream_name(self, name: impl Into<String>) -> Self {
        self.key(name)
    }

    /// How long one `PUBLISH` may wait for Redis's reply, including waiting for a
    /// reconnection; past it the operation fails with [`Error::Timeout`]. Must not be
    /// zero.
    #[must_use]
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// How long the first connection may take (past it, [`Error::ConnectTimeout`]), and
    /// each later reconnection attempt. Must not be zero.
    #[must_use]
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// The servers' adapter.
    pub fn get_kind(&self) -> EmitterKind {
        self.kind
    }

    /// The channel prefix.
    pub fn get_key(&self) -> &str {
        &self.key
    }

    /// The response timeout.
    pub fn get_response_timeout(&self) -> Duration {
        self.response_timeout
    }

    /// The connection timeout.
    pub fn get_connection_timeout(&self) -> Duration {
        self.connection_timeout
    }

    /// Checks every setting.
    ///
    /// # Errors
    /// [`Error::Config`] naming the first bad setting.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        let zero = |setting, d: Duration| {
            if d.is_zero() {
                Err(Error::Config {
                    setting,
                    reason: "must be more than 0 ms".into(),
                    source: None,
                })
            } else {
                Ok(())
            }
        };
        zero("response_timeout", self.response_timeout)?;
        zero("connection_timeout", self.connection_timeout)?;
        if let EmitterKind::Streams {
            stream_count: 0, ..
        } = self.kind
        {
            return Err(Error::Config {
                setting: "stream_count",
                reason: "must be at least 1".into(),
                source: None,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_validation() {
        let c = EmitterConfig::new();
        assert_eq!(c.get_key(), "socket.io");
        assert_eq!(c.get_kind(), EmitterKind::Classic);
        let sharded = c.clone().kind(EmitterKind::sharded()).channel_prefix("p");
        assert_eq!(sharded.get_key(), "p");
        assert_eq!(
            sharded.get_kind(),
            EmitterKind::Sharded {
                subscription_mode: crate::SubscriptionMode::Dynamic
            }
        );
        assert_eq!(c.get_response_timeout(), Duration::from_secs(5));
        assert!(c.validate().is_ok());
        let err = c
            .clone()
            .response_timeout(Duration::ZERO)
            .validate()
            .expect_err("zero timeout");
        assert_eq!(
            err.to_string(),
            "invalid emitter configuration: response_timeout: must be more than 0 ms"
        );
        assert!(
            c.clone()
                .connection_timeout(Duration::ZERO)
                .validate()
                .is_err(),
            "zero connection timeout"
        );
        let streams = c.clone().kind(EmitterKind::streams()).stream_name("s");
        assert_eq!(streams.get_key(), "s");
        assert!(streams.validate().is_ok());
        let err = c
            .kind(EmitterKind::streams_with(0, 10))
            .validate()
            .expect_err("no stream");
        assert_eq!(
            err.to_string(),
            "invalid emitter configuration: stream_count: must be at least 1"
        );
    }
}
