//! State shared by the handles and the worker tasks.

use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

use tokio::sync::{Notify, broadcast, watch};

use crate::event::{ConnectionEvent, Counters};

/// What the handles and both workers see. Holds no handle to the workers, so
/// dropping every [`Transport`](crate::Transport) stops them.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Shared with the shard subscribers' own states on a cluster, so that
    /// the transport's counters add up every connection.
    pub(crate) counters: Arc<Counters>,
    events: broadcast::Sender<ConnectionEvent>,
    /// Subscriber connected and every registered name confirmed.
    subscriber_up: watch::Sender<bool>,
    /// Failed attempts in a row when the subscriber gave up; 0 = not given up.
    pub(crate) subscriber_gave_up: AtomicU32,
    /// Woken whenever a role re-established its connection: the other role,
    /// if it is waiting out a back-off delay, tries again at once (Redis is
    /// evidently back).
    pub(crate) reconnected: Notify,
    /// Woken (one permit) when the subscriber lost its connection: the
    /// publisher checks its own at once, as it most likely goes to the same
    /// server.
    pub(crate) lost: Notify,
    /// Whether [`Shared::set_subscriber_up`] sets the subscriber's `connected` gauge
    /// (the transport's own state, not a cluster shard subscriber's).
    subscriber_gauge: bool,
}

impl Shared {
    /// The transport's own state; its metrics carry `labels`.
    pub(crate) fn new(event_capacity: usize, labels: &[metrics::Label]) -> Shared {
        let mut shared = Shared::with_counters(event_capacity, Arc::new(Counters::new(labels)));
        shared.subscriber_gauge = true;
        shared
    }

    /// A state of its own (events, subscriber state) that counts into
    /// `counters`.
    pub(crate) fn with_counters(event_capacity: usize, counters: Arc<Counters>) -> Shared {
        let (events, _) = broadcast::channel(event_capacity);
        Shared {
            counters,
            events,
            subscriber_up: watch::channel(false).0,
            subscriber_gave_up: AtomicU32::new(0),
            reconnected: Notify::new(),
            lost: Notify::new(),
            subscriber_gauge: false,
        }
    }

    /// Sends an event to whoever listens; never waits.
    pub(crate) fn emit(&self, event: ConnectionEvent) {
        // An error only means nobody listens.
        let _ = self.events.send(event);
    }

    pub(crate) fn events(&self) -> broadcast::Receiver<ConnectionEvent> {
        self.events.subscribe()
    }

    pub(crate) fn set_subscriber_up(&self, up: bool) {
        if self.subscriber_gauge {
            self.counters.set_connected(crate::Role::Subscriber, up);
        }
        self.subscriber_up
            .send_if_modified(|was| std::mem::replace(was, up) != up);
    }

    pub(crate) fn subscriber_up(&self) -> bool {
        *self.subscriber_up.borrow()
    }

    /// Waits (at most `limit`) until the subscriber is up; true if it is.
    pub(crate) async fn wait_subscriber_up(&self, limit: Duration) -> bool {
        let mut rx = self.subscriber_up.subscribe();
        matches!(
            tokio::time::timeout(limit, rx.wait_for(|up| *up)).await,
            Ok(Ok(_))
        )
    }
}

/// Milliseconds in a duration, saturating.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
