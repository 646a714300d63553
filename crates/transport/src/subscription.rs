//! [`Subscription`]: what one subscription listens to. A leaf module.

/// What a subscription listens to: exact channels (`SUBSCRIBE`), glob-style
/// patterns (`PSUBSCRIBE`) and shard channels (`SSUBSCRIBE`, Redis ≥ 7.0),
/// each list in the order given, duplicates removed when registered.
///
/// ```
/// use sio_redis_transport::Subscription;
///
/// let sub = Subscription::new()
///     .channel("socket.io#/#")
///     .pattern("socket.io-request#/*")
///     .shard_channels(["socket.io#/chat#"]);
/// assert_eq!(sub.channel_names(), ["socket.io#/#"]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subscription {
    pub(crate) channels: Vec<String>,
    pub(crate) patterns: Vec<String>,
    pub(crate) shard_channels: Vec<String>,
}

impl Subscription {
    /// An empty subscription (listens to nothing).
    #[must_use]
    pub fn new() -> Subscription {
        Subscription::default()
    }

    /// Adds one exact channel (`SUBSCRIBE`).
    #[must_use]
    pub fn channel(mut self, channel: impl Into<String>) -> Subscription {
        self.channels.push(channel.into());
        self
    }

    /// Adds exact channels (`SUBSCRIBE`).
    #[must_use]
    pub fn channels<S: Into<String>>(mut self, channels: impl IntoIterator<Item = S>) -> Self {
        self.channels.extend(channels.into_iter().map(Into::into));
        self
    }

    /// Adds one glob-style pattern (`PSUBSCRIBE`).
    #[must_use]
    pub fn pattern(mut self, pattern: impl Into<String>) -> Subscription {
        self.patterns.push(pattern.into());
        self
    }

    /// Adds glob-style patterns (`PSUBSCRIBE`).
    #[must_use]
    pub fn patterns<S: Into<String>>(mut self, patterns: impl IntoIterator<Item = S>) -> Self {
        self.patterns.extend(patterns.into_iter().map(Into::into));
        self
    }

    /// Adds one shard channel (`SSUBSCRIBE`; messages sent with `SPUBLISH`).
    #[must_use]
    pub fn shard_channel(mut self, channel: impl Into<String>) -> Subscription {
        self.shard_channels.push(channel.into());
        self
    }

    /// Adds shard channels (`SSUBSCRIBE`; messages sent with `SPUBLISH`).
    #[must_use]
    pub fn shard_channels<S: Into<String>>(
        mut self,
        channels: impl IntoIterator<Item = S>,
    ) -> Self {
        self.shard_channels
            .extend(channels.into_iter().map(Into::into));
        self
    }

    /// The exact channels.
    pub fn channel_names(&self) -> &[String] {
        &self.channels
    }

    /// The patterns.
    pub fn pattern_names(&self) -> &[String] {
        &self.patterns
    }

    /// The shard channels.
    pub fn shard_channel_names(&self) -> &[String] {
        &self.shard_channels
    }

    /// Whether it lists nothing at all.
    pub fn is_empty(&self) -> bool {
        self.channels.is_empty() && self.patterns.is_empty() && self.shard_channels.is_empty()
    }

    /// How many names it lists (channels, patterns and shard channels).
    pub fn len(&self) -> usize {
        self.channels.len() + self.patterns.len() + self.shard_channels.len()
    }
}
