//! The adapter's error type.

use socketioxide_core::adapter::errors::AdapterError;
use socketioxide_core::parser::ParserError;

/// Why an adapter operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Redis could not be reached or refused a command.
    #[error("redis transport error")]
    Transport(#[from] sio_redis_transport::TransportError),
    /// A cluster request got fewer responses than the servers Redis counted before its
    /// deadline (`requestsTimeout`, Node default 5000 ms).
    #[error(
        "timeout reached while waiting for {request} responses: {received} of {expected} servers answered"
    )]
    Timeout {
        /// The request, as Node names it: `"fetchSockets"`, `"allRooms"`, `"serverSideEmit"`.
        request: &'static str,
        /// Servers that answered.
        received: usize,
        /// Servers expected (subscribers of the request channel, less this one).
        expected: usize,
    },
    /// A setting of the adapter cannot work (names the setting).
    #[error(transparent)]
    Config(#[from] crate::ConfigError),
    /// A message could not be decoded.
    #[error("cannot decode message")]
    Decode(#[from] sio_redis_wire::DecodeError),
    /// A payload could not be serialised or deserialised (serde).
    #[error("cannot (de)serialize payload: {0}")]
    Serialize(String),
    /// The namespace's parser refused a payload.
    #[error("parser error")]
    Parser(#[source] ParserError),
    /// No adapter runs for this namespace (not created yet, or closed).
    #[error("no adapter for namespace {0}")]
    UnknownNamespace(String),
    /// A remote socket handle refers to a foreign id that is no longer known (the map of
    /// foreign ids is bounded).
    #[error("unknown remote socket {0}")]
    UnknownRemoteSocket(String),
    /// A namespace adapter was given a [`RedisAdapterState`](crate::RedisAdapterState)
    /// made for another adapter kind.
    #[error(
        "a {state} adapter state cannot serve a {adapter} adapter: make the state for the {adapter} adapter"
    )]
    WrongAdapterKind {
        /// The kind the state was made for.
        state: crate::AdapterKind,
        /// The kind of the adapter that was given the state.
        adapter: crate::AdapterKind,
    },
    /// A session of the streams adapter was not restored (why: [`NotRestored`]); the
    /// client is to get a new session.
    ///
    /// [`NotRestored`]: crate::NotRestored
    #[error("session not restored")]
    SessionNotRestored(#[from] crate::NotRestored),
    /// The event name is reserved by Socket.IO.
    #[error("\"{0}\" is a reserved event name")]
    ReservedEvent(String),
}

impl From<Error> for AdapterError {
    fn from(e: Error) -> Self {
        AdapterError(Box::new(e))
    }
}
