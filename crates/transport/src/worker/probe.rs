//! The liveness probe of the subscriber connection: finds a subscription that
//! is silently gone (the connection up and answering `PING`, nothing arriving),
//! which no health check sees, e.g. behind a proxy that stopped forwarding, or
//! a server that forgot the subscriptions of a live connection.
//!
//! The subscriber connection also holds a channel of its own,
//! [`PROBE_CHANNEL_PREFIX`]`<16 hex digits>`. When no message arrived for one
//! probe interval, the worker `PUBLISH`es a numbered probe there on the
//! publisher connection and waits for it on the subscriber connection: a reply
//! of 0 receivers, or no probe back within twice the response timeout, means
//! the subscription is gone, and the subscriber connection is replaced (which
//! re-subscribes everything). Probes and failures are counted in
//! [`TransportStats`](crate::TransportStats).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::publisher::Publisher;
use crate::config::PROBE_CHANNEL_PREFIX;
use crate::error::TransportError;

/// A probe `PUBLISH` in flight: its receiver count.
pub(crate) type ProbePublish = Pin<Box<dyn Future<Output = Result<u64, TransportError>> + Send>>;

/// The probe state of one subscriber worker.
pub(crate) struct Probe {
    /// This transport's probe channel.
    channel: String,
    /// Idle time after which a probe is sent.
    pub(crate) interval: Duration,
    publisher: Arc<Publisher>,
    /// Number of the last probe sent.
    sent: u64,
    /// Number of the probe sent and not yet back; 0: none. (Atomic because
    /// it is cleared where messages are dispatched, which has only `&self`.)
    awaiting: AtomicU64,
    /// Whether the probe channel is subscribed on the current connection.
    pub(crate) subscribed: bool,
    /// Whether a refused probe channel (ACL) was logged already.
    pub(crate) told_refused: bool,
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probe")
            .field("channel", &self.channel)
            .field("interval", &self.interval)
            .field("awaiting", &self.awaiting)
            .finish_non_exhaustive()
    }
}

impl Probe {
    /// A probe every `interval` of silence, published through `publisher`, on a
    /// channel named at random.
    pub(crate) fn new(interval: Duration, publisher: Arc<Publisher>) -> Probe {
        Probe {
            channel: format!("{PROBE_CHANNEL_PREFIX}{:016x}", rand::random::<u64>()),
            interval,
            publisher,
            sent: 0,
            awaiting: AtomicU64::new(0),
            subscribed: false,
            told_refused: false,
        }
    }

    /// The probe channel.
    pub(crate) fn channel(&self) -> &str {
        &self.channel
    }

    /// Whether a message on `channel` is a probe (it is never given to a
    /// handler, also when a pattern matches it).
    pub(crate) fn is_probe(&self, channel: &str) -> bool {
        channel == self.channel
    }

    /// A probe came back with `payload`.
    pub(crate) fn received(&self, payload: &[u8]) {
        let n = self.awaiting.load(Ordering::Relaxed);
        if n != 0 && itoa::Buffer::new().format(n).as_bytes() == payload {
            self.awaiting.store(0, Ordering::Relaxed);
        }
    }

    /// Whether a probe is out and not back.
    pub(crate) fn is_awaiting(&self) -> bool {
        self.awaiting.load(Ordering::Relaxed) != 0
    }

    /// The probe's `PUBLISH` could not be made (the publisher is down): not a
    /// fault of the subscription, so nothing is awaited.
    pub(crate) fn not_sent(&self) {
        self.awaiting.store(0, Ordering::Relaxed);
    }

    /// Sends the next probe: the `PUBLISH`, to be polled by the caller.
    pub(crate) fn send(&mut self) -> ProbePublish {
        self.sent += 1;
        self.awaiting.store(self.sent, Ordering::Relaxed);
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(&self.channel).arg(self.sent);
        let publisher = self.publisher.clone();
        Box::pin(async move { publisher.query::<u64>(&cmd).await })
    }
}
