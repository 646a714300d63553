//! The types every layer of the crate shares: a received [`Message`], the
//! [`MessageHandler`] it is given to, and the [`SubscriptionId`] that names a
//! subscription. A leaf module: it uses nothing else of the crate.

use std::sync::Arc;

use bytes::Bytes;

/// A callback for the messages of one subscription.
///
/// Called inline on the subscriber task, in the order Redis delivered the
/// messages: it must be quick and must not block (hand heavy work to another
/// task through a bounded channel, or `tokio::spawn` it). A panic is caught
/// and logged; the message is skipped for that handler only.
pub type MessageHandler = Arc<dyn Fn(Message) + Send + Sync>;

/// Which pub/sub push a [`Message`] came in, named as Redis names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MessageKind {
    /// `message`: published with `PUBLISH` to a `SUBSCRIBE`d channel.
    Message,
    /// `pmessage`: published with `PUBLISH` to a channel matching a
    /// `PSUBSCRIBE`d pattern.
    PMessage,
    /// `smessage`: published with `SPUBLISH` to an `SSUBSCRIBE`d shard
    /// channel (Redis ≥ 7.0).
    SMessage,
}

/// One pub/sub message, as delivered by Redis (`message`, `pmessage` or
/// `smessage` reply under RESP2, push frame under RESP3).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Message {
    /// Which push it was.
    pub kind: MessageKind,
    /// The channel (or shard channel) it was published to (non-UTF-8 bytes
    /// replaced by U+FFFD).
    pub channel: String,
    /// For `PSUBSCRIBE` subscriptions, the pattern that matched; `None`
    /// otherwise.
    pub pattern: Option<String>,
    /// The payload, byte for byte as published: a slice of the subscriber's read
    /// buffer (no copy), so holding it keeps that buffer (64 KiB or more) alive;
    /// copy it (`Bytes::copy_from_slice`) to keep it for long.
    pub payload: Bytes,
}

impl Message {
    /// A message as Redis would deliver it (for tests and in-memory buses).
    pub fn new(
        kind: MessageKind,
        channel: impl Into<String>,
        pattern: Option<String>,
        payload: Bytes,
    ) -> Message {
        Message {
            kind,
            channel: channel.into(),
            pattern,
            payload,
        }
    }
}

/// Identifies a subscription made with
/// [`Transport::subscribe`](crate::Transport::subscribe), to pass to
/// [`Transport::unsubscribe`](crate::Transport::unsubscribe). Unique within
/// one transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriptionId(pub(crate) u64);
