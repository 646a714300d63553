//! Errors of the transport. `Display` prints only the error's own level; the
//! cause, if any, is in [`std::error::Error::source`].

use crate::event::Role;

/// A rejected [`TransportConfig`](crate::TransportConfig), from
/// [`TransportConfig::build`](crate::TransportConfig::build). The message
/// names the setting (`"url"`, `"subscriber_url"`, `"backoff"`…) but never
/// prints its value, which may hold a password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A URL setting that does not parse; the parser's error is the source.
    #[error("invalid `{setting}`: not a usable Redis URL")]
    Url {
        /// `"url"` or `"subscriber_url"`.
        setting: &'static str,
        /// Why redis-rs refused it.
        #[source]
        source: redis::RedisError,
    },
    /// A setting outside its allowed range, or settings that do not fit
    /// together.
    #[error("invalid `{setting}`: {reason}")]
    Invalid {
        /// The setting, e.g. `"backoff"`, `"url"`.
        setting: &'static str,
        /// What is wrong (never the value of a URL).
        reason: String,
    },
}

impl ConfigError {
    /// The name of the offending setting, e.g. `"url"`.
    pub fn setting(&self) -> &'static str {
        match self {
            ConfigError::Url { setting, .. } | ConfigError::Invalid { setting, .. } => setting,
        }
    }
}

/// An error from a [`Transport`](crate::Transport) operation.
///
/// Use [`TransportError::is_retryable`] to tell whether trying the same
/// operation again later can succeed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// [`Transport::close`](crate::Transport::close) was called (or every
    /// handle was dropped). Not retryable.
    #[error("transport is closed")]
    Closed,
    /// Redis answered with an error, or the connection failed while the
    /// command was in flight; the redis-rs error is the source.
    #[error("redis command failed")]
    Redis(#[source] redis::RedisError),
    /// Redis did not answer within the response timeout
    /// ([`TransportConfig::response_timeout_ms`](crate::TransportConfig::response_timeout_ms)).
    /// The command may or may not have been executed.
    #[error("no reply from Redis within {ms} ms")]
    Timeout {
        /// The timeout that passed, in ms.
        ms: u64,
    },
    /// The connection of that role is down and being re-established in the
    /// background; nothing was sent. Retry later, or watch
    /// [`Transport::events`](crate::Transport::events) for
    /// [`ConnectionEvent::Connected`](crate::ConnectionEvent::Connected).
    #[error("{role} connection is down, reconnecting")]
    NotConnected {
        /// Which connection.
        role: Role,
    },
    /// The reconnect loop of that role stopped after
    /// [`Backoff::max_retries`](crate::Backoff::max_retries) failed attempts
    /// in a row; the transport must be closed and connected again.
    #[error("{role} connection gave up after {attempts} failed reconnect attempts")]
    GaveUp {
        /// Which connection.
        role: Role,
        /// Failed attempts in a row.
        attempts: u32,
    },
    /// [`Transport::connect`](crate::Transport::connect) could not open the
    /// connection of that role (Redis unreachable, refused credentials, TLS
    /// failure, timeout); the redis-rs error is the source.
    #[error("cannot connect the {role} connection to Redis")]
    Connect {
        /// Which connection.
        role: Role,
        /// Why.
        #[source]
        source: redis::RedisError,
    },
    /// The configuration given to
    /// [`Transport::connect`](crate::Transport::connect) did not validate.
    #[error("invalid transport configuration")]
    Config(#[from] ConfigError),
}

impl TransportError {
    /// Whether the same operation may succeed if tried again later: true for
    /// timeouts, connections being re-established, and Redis errors that
    /// redis-rs classifies as connection or transient failures (I/O errors,
    /// `LOADING`, `TRYAGAIN`, `MASTERDOWN`…); false for [`Closed`], refused
    /// configuration, [`GaveUp`] and command errors such as `NOPERM`.
    ///
    /// [`Closed`]: TransportError::Closed
    /// [`GaveUp`]: TransportError::GaveUp
    pub fn is_retryable(&self) -> bool {
        match self {
            TransportError::Closed | TransportError::GaveUp { .. } | TransportError::Config(_) => {
                false
            }
            TransportError::Timeout { .. } | TransportError::NotConnected { .. } => true,
            TransportError::Redis(e) | TransportError::Connect { source: e, .. } => {
                redis_error_is_retryable(e)
            }
        }
    }
}

impl From<redis::RedisError> for TransportError {
    fn from(e: redis::RedisError) -> Self {
        TransportError::Redis(e)
    }
}

pub(crate) fn redis_error_is_retryable(e: &redis::RedisError) -> bool {
    use redis::RetryMethod;
    if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() {
        return true;
    }
    !matches!(e.retry_method(), RetryMethod::NoRetry)
}

/// Whether the error means the connection it came from is unusable.
pub(crate) fn breaks_connection(e: &redis::RedisError) -> bool {
    e.is_unrecoverable_error() || e.is_io_error() || e.is_connection_dropped()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn display_is_one_level() {
        let cause = redis::RedisError::from(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "refused",
        ));
        let err = TransportError::Connect {
            role: Role::Subscriber,
            source: cause,
        };
        assert_eq!(
            err.to_string(),
            "cannot connect the subscriber connection to Redis"
        );
        assert!(err.source().is_some());
        assert!(err.is_retryable());
        assert!(!TransportError::Closed.is_retryable());
        assert!(TransportError::Timeout { ms: 5 }.is_retryable());
        let cfg = ConfigError::Invalid {
            setting: "url",
            reason: "x".into(),
        };
        assert_eq!(cfg.setting(), "url");
        assert!(!TransportError::from(cfg).is_retryable());
    }
}
