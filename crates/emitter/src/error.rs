//! The emitter's error type.

use std::error::Error as StdError;

use crate::kind::PublishCommand;

/// Why an emitter operation failed.
///
/// `Display` describes this level only; the cause (a redis-rs error, a serde error) is in
/// [`std::error::Error::source`]. [`Error::is_retryable`] tells whether trying again
/// later can help.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The event name is reserved by Socket.IO and is refused before anything is sent,
    /// as `@socket.io/redis-emitter` 5.1 throws `"<name>" is a reserved event name` for
    /// `connect`, `connect_error`, `disconnect`, `disconnecting`, `newListener` and
    /// `removeListener` (and socket.io 4.8's `Namespace.serverSideEmit` for `connect`,
    /// `connection` and `new_namespace`).
    #[error("\"{event}\" is a reserved event name")]
    ReservedEvent {
        /// The refused name.
        event: String,
    },
    /// The event arguments could not be turned into msgpack values (serde refused them,
    /// a map key is not a string, or they nest deeper than 512 levels).
    #[error("cannot serialize the event arguments")]
    Serialize {
        /// The serde / codec error.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    /// A setting is out of range (e.g. a zero timeout) or a Redis URL cannot be parsed.
    #[error("invalid emitter configuration: {setting}: {reason}")]
    Config {
        /// The setting: `"url"`, `"urls"`, `"response_timeout"`, `"connection_timeout"`,
        /// `"stream_count"`.
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
        /// The redis-rs error, for URLs.
        #[source]
        source: Option<redis::RedisError>,
    },
    /// The first connection to Redis failed (refused, unreachable, authentication
    /// failed, no Redis Cluster at the seed nodes…).
    #[error("cannot connect to Redis at {target}")]
    Connect {
        /// The URL (or comma-separated seed URLs), without any password.
        target: String,
        /// The redis-rs error.
        #[source]
        source: redis::RedisError,
    },
    /// The first connection to Redis did not complete in time.
    #[error("cannot connect to Redis at {target}: no connection within {ms} ms")]
    ConnectTimeout {
        /// The URL (or comma-separated seed URLs), without any password.
        target: String,
        /// The connection timeout, in milliseconds.
        ms: u64,
    },
    /// Redis answered `PUBLISH` (or `SPUBLISH`, `XADD`) with an error, or the connection broke
    /// while sending it. The message may or may not have been delivered.
    #[error("{command} to {channel} failed")]
    Publish {
        /// The command: `PUBLISH`, `SPUBLISH` or `XADD`.
        command: PublishCommand,
        /// The channel (for `XADD`, the stream).
        channel: String,
        /// The redis-rs error.
        #[source]
        source: redis::RedisError,
    },
    /// `PUBLISH` (or `SPUBLISH`, `XADD`) got no reply within the response timeout (Redis
    /// unreachable or being reconnected to). The message may or may not have been
    /// delivered.
    #[error("{command} to {channel} got no reply within {ms} ms")]
    Timeout {
        /// The command: `PUBLISH`, `SPUBLISH` or `XADD`.
        command: PublishCommand,
        /// The channel (for `XADD`, the stream).
        channel: String,
        /// The response timeout, in milliseconds.
        ms: u64,
    },
}

impl Error {
    /// Whether trying the same operation again later may succeed: `true` for timeouts
    /// and for the Redis errors the transport's one classifier
    /// ([`sio_redis_transport::classify`]) finds retryable (connection problems,
    /// `LOADING`, `MASTERDOWN`, `TRYAGAIN`, `CLUSTERDOWN`, `MOVED`, `ASK`, `READONLY`);
    /// `false` for refused input or configuration, refused credentials or permissions
    /// (`WRONGPASS`, `NOAUTH`, `NOPERM`) and other command errors.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::ReservedEvent { .. } | Self::Serialize { .. } | Self::Config { .. } => false,
            Self::ConnectTimeout { .. } | Self::Timeout { .. } => true,
            Self::Connect { source, .. } | Self::Publish { source, .. } => {
                sio_redis_transport::classify(source).is_retryable()
            }
        }
    }

    pub(crate) fn serialize(source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self::Serialize {
            source: source.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publish_error(reply: &str) -> Error {
        let source = redis::parse_redis_value(format!("-{reply}\r\n").as_bytes())
            .unwrap()
            .extract_error()
            .unwrap_err();
        Error::Publish {
            command: PublishCommand::Publish,
            channel: "socket.io#/#".into(),
            source,
        }
    }

    /// The emitter and the transport once disagreed on `LOADING` and `MASTERDOWN`
    /// (the emitter called them final); both now use the transport's classifier.
    #[test]
    fn retryable_errors_agree_with_the_transport() {
        for (reply, retryable) in [
            ("LOADING Redis is loading the dataset in memory", true),
            ("MASTERDOWN Link with MASTER is down", true),
            (
                "TRYAGAIN Multiple keys request during rehashing of slot",
                true,
            ),
            ("MOVED 3999 127.0.0.1:6381", true),
            (
                "NOPERM this user has no permissions to access the channel",
                false,
            ),
            ("WRONGPASS invalid username-password pair", false),
            ("ERR unknown command", false),
        ] {
            assert_eq!(publish_error(reply).is_retryable(), retryable, "{reply}");
        }
    }
}
