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
    /// ([`TransportConfig::response_timeout`](crate::TransportConfig::response_timeout)).
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
    /// The publish queue or the stream writer's queue (the offline buffers
    /// while the connection is re-established) holds its limit in bytes or in
    /// messages: at once while the connection is down, after the response
    /// timeout while it is up. Nothing was queued. Retryable.
    #[error("offline buffer full ({limit_bytes} bytes)")]
    BufferFull {
        /// The queue's limit, in bytes
        /// ([`TransportConfig::publish_buffer_bytes`](crate::TransportConfig::publish_buffer_bytes)).
        limit_bytes: usize,
    },
    /// Too many fire-and-forget shard publishes wait for their reply:
    /// [`Transport::spublish_queued`](crate::Transport::spublish_queued) on a
    /// Redis Cluster holds each message until its node answered, at most
    /// `limit_messages` of them (16 384) in all; a caller waits for room at most
    /// the response timeout, then gets this error. The limit counts messages,
    /// whatever their size (unlike [`BufferFull`](TransportError::BufferFull)).
    /// Nothing was queued. Retryable once replies come back.
    #[error("{limit_messages} queued shard publishes already wait for a reply")]
    TooManyInFlight {
        /// The limit, in messages.
        limit_messages: usize,
    },
    /// The message waited in the publish queue (the publisher being down)
    /// longer than
    /// [`TransportConfig::publish_buffer_max_age`](crate::TransportConfig::publish_buffer_max_age)
    /// and was dropped unsent. Retryable.
    #[error("message dropped after {max_age_ms} ms in the publish queue")]
    Expired {
        /// The age limit, in ms.
        max_age_ms: u64,
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
    /// [`classify`] finds retryable (I/O errors, `LOADING`, `MASTERDOWN`,
    /// `TRYAGAIN`, `CLUSTERDOWN`, `MOVED`, `ASK`, `READONLY`); false for
    /// [`Closed`], refused configuration, [`GaveUp`], refused credentials or
    /// permissions (`WRONGPASS`, `NOAUTH`, `NOPERM`) and other command errors.
    ///
    /// [`Closed`]: TransportError::Closed
    /// [`GaveUp`]: TransportError::GaveUp
    pub fn is_retryable(&self) -> bool {
        match self {
            TransportError::Closed | TransportError::GaveUp { .. } | TransportError::Config(_) => {
                false
            }
            TransportError::Timeout { .. }
            | TransportError::NotConnected { .. }
            | TransportError::BufferFull { .. }
            | TransportError::TooManyInFlight { .. }
            | TransportError::Expired { .. } => true,
            TransportError::Redis(e) | TransportError::Connect { source: e, .. } => {
                classify(e).is_retryable()
            }
        }
    }
}

impl From<redis::RedisError> for TransportError {
    fn from(e: redis::RedisError) -> Self {
        TransportError::Redis(e)
    }
}

/// What a Redis error says about trying again, from [`classify`]: the one
/// classification used by the transport, the adapters and the emitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorClass {
    /// The connection is unusable (I/O error, reset, closed, timed out, a
    /// reply that is not RESP): reconnect, then try again.
    Connection,
    /// The server is not ready for now: `LOADING` (reading its data set),
    /// `MASTERDOWN` (a replica whose primary link is down), `TRYAGAIN`
    /// (keys of a slot being migrated), `CLUSTERDOWN` (slots not served),
    /// `BUSY` (a script running), or a Sentinel that knows no primary yet:
    /// wait with back-off and try again.
    Busy,
    /// The command belongs to another node: `MOVED` (the slot moved: refresh
    /// the slot map and resend), `ASK` (the slot is being migrated: resend to
    /// the target after `ASKING`), `READONLY` (a write reached a replica,
    /// e.g. a primary demoted by a failover: find the primary and resend).
    Redirect,
    /// Credentials or permissions refused: `WRONGPASS`, `NOAUTH`, `NOPERM`
    /// (e.g. a rotated password, a revoked ACL rule). Trying again does not
    /// help until an operator acts.
    Denied,
    /// Any other error: the command itself was refused (`ERR`, `WRONGTYPE`,
    /// `CROSSSLOT`…) or the client is misconfigured. Not retryable.
    Refused,
}

impl ErrorClass {
    /// Whether trying again later can succeed: [`Connection`], [`Busy`] and
    /// [`Redirect`].
    ///
    /// [`Connection`]: ErrorClass::Connection
    /// [`Busy`]: ErrorClass::Busy
    /// [`Redirect`]: ErrorClass::Redirect
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorClass::Connection | ErrorClass::Busy | ErrorClass::Redirect
        )
    }
}

/// Classifies a redis-rs error by its error code (the first word of Redis's
/// error reply) and kind. Follows Redis's error replies as of 7.x and, for
/// errors raised by redis-rs itself, redis-rs 1.8's kinds.
pub fn classify(e: &redis::RedisError) -> ErrorClass {
    use redis::ErrorKind;
    if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() {
        return ErrorClass::Connection;
    }
    if let Some(code) = e.code() {
        return match code {
            "LOADING" | "MASTERDOWN" | "TRYAGAIN" | "CLUSTERDOWN" | "BUSY" => ErrorClass::Busy,
            "MOVED" | "ASK" | "READONLY" => ErrorClass::Redirect,
            "WRONGPASS" | "NOAUTH" | "NOPERM" => ErrorClass::Denied,
            _ => ErrorClass::Refused,
        };
    }
    match e.kind() {
        ErrorKind::Parse | ErrorKind::ClusterConnectionNotFound => ErrorClass::Connection,
        ErrorKind::AuthenticationFailed => ErrorClass::Denied,
        ErrorKind::MasterNameNotFoundBySentinel | ErrorKind::NoValidReplicasFoundBySentinel => {
            ErrorClass::Busy
        }
        _ => ErrorClass::Refused,
    }
}

/// Whether the error means the connection it came from is unusable.
pub(crate) fn breaks_connection(e: &redis::RedisError) -> bool {
    classify(e) == ErrorClass::Connection
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
        let full = TransportError::TooManyInFlight {
            limit_messages: 16384,
        };
        assert_eq!(
            full.to_string(),
            "16384 queued shard publishes already wait for a reply"
        );
        assert!(full.is_retryable());
        let cfg = ConfigError::Invalid {
            setting: "url",
            reason: "x".into(),
        };
        assert_eq!(cfg.setting(), "url");
        assert!(!TransportError::from(cfg).is_retryable());
    }

    fn reply(text: &str) -> redis::RedisError {
        redis::parse_redis_value(format!("-{text}\r\n").as_bytes())
            .unwrap()
            .extract_error()
            .unwrap_err()
    }

    #[test]
    fn classifies_redis_error_replies() {
        for (text, class) in [
            (
                "LOADING Redis is loading the dataset in memory",
                ErrorClass::Busy,
            ),
            ("MASTERDOWN Link with MASTER is down", ErrorClass::Busy),
            (
                "TRYAGAIN Multiple keys request during rehashing",
                ErrorClass::Busy,
            ),
            ("CLUSTERDOWN The cluster is down", ErrorClass::Busy),
            ("BUSY Redis is busy running a script", ErrorClass::Busy),
            ("MOVED 3999 127.0.0.1:6381", ErrorClass::Redirect),
            ("ASK 3999 127.0.0.1:6381", ErrorClass::Redirect),
            (
                "READONLY You can't write against a read only replica.",
                ErrorClass::Redirect,
            ),
            (
                "WRONGPASS invalid username-password pair",
                ErrorClass::Denied,
            ),
            ("NOAUTH Authentication required.", ErrorClass::Denied),
            (
                "NOPERM User alice has no permissions to access the 'x' channel",
                ErrorClass::Denied,
            ),
            ("ERR unknown command 'FOO'", ErrorClass::Refused),
            (
                "CROSSSLOT Keys in request don't hash to the same slot",
                ErrorClass::Refused,
            ),
            (
                "WRONGTYPE Operation against a key holding the wrong kind",
                ErrorClass::Refused,
            ),
        ] {
            let e = reply(text);
            assert_eq!(classify(&e), class, "{text}");
            assert_eq!(
                TransportError::Redis(e).is_retryable(),
                class.is_retryable(),
                "{text}"
            );
        }
        let io = redis::RedisError::from(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "reset",
        ));
        assert_eq!(classify(&io), ErrorClass::Connection);
        assert!(breaks_connection(&io));
        assert!(!breaks_connection(&reply("NOPERM no")));
    }
}
