//! The table of requests this node waits on, keyed by request id. An entry is registered
//! *before* the request is published (so that no response can arrive unseen) and removed
//! by a guard when the waiter finishes, times out or is dropped, so nothing leaks.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;

use socketioxide_core::Value as SioValue;
use tokio::sync::mpsc;

use super::message::Reply;

/// The most acknowledgements one broadcast-with-ack buffers before its stream is read;
/// more are counted as dropped.
const MAX_BUFFERED_ACKS: usize = 1 << 20;

/// What [`Pending::deliver`] did with a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// Handed to its waiter (or dropped there as a duplicate).
    Delivered,
    /// No request waits for it (answered late, or not ours).
    NoWaiter,
    /// A `BROADCAST_CLIENT_COUNT` above the limit (`max_remote_client_count`): not
    /// counted, as if that server had not answered.
    ClientCountTooLarge(u64),
}

/// Where responses to one request go.
#[derive(Debug)]
pub(crate) enum Waiter {
    /// allRooms / fetchSockets / serverSideEmit with ack: one response per server. The
    /// channel holds as many as the servers expected (more are duplicates).
    Responses(mpsc::Sender<Reply>),
    /// Broadcast with acknowledgements: client counts and acks.
    Acks(Arc<AckInbox>),
}

/// The pending requests of one namespace adapter.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    map: Arc<Mutex<HashMap<String, Waiter>>>,
    /// The `sio_redis_requests_pending` gauge of the namespace.
    gauge: Option<metrics::Gauge>,
}

impl Pending {
    /// An empty table that keeps `gauge` at its number of entries.
    pub(crate) fn with_gauge(gauge: metrics::Gauge) -> Pending {
        Pending {
            map: Arc::default(),
            gauge: Some(gauge),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Waiter>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers `waiter` under `request_id`; the entry lives as long as the guard.
    pub(crate) fn register(&self, request_id: String, waiter: Waiter) -> PendingGuard {
        self.lock().insert(request_id.clone(), waiter);
        if let Some(g) = &self.gauge {
            g.increment(1.0);
        }
        PendingGuard {
            map: self.map.clone(),
            request_id,
            gauge: self.gauge.clone(),
        }
    }

    /// Whether `request_id` is one of ours (Node ignores its own requests this way).
    pub(crate) fn contains(&self, request_id: &str) -> bool {
        self.lock().contains_key(request_id)
    }

    /// Hands `reply` to the waiter of `request_id`. A client count above
    /// `max_client_count` is refused ([`Delivery::ClientCountTooLarge`]).
    pub(crate) fn deliver(
        &self,
        request_id: &str,
        reply: Reply,
        max_client_count: u64,
        convert_ack: impl FnOnce(Option<sio_redis_wire::Value>) -> Option<SioValue>,
    ) -> Delivery {
        let map = self.lock();
        match map.get(request_id) {
            None => Delivery::NoWaiter,
            Some(Waiter::Responses(tx)) => {
                // A full channel means more answers than servers: duplicates, dropped.
                let _ = tx.try_send(reply);
                Delivery::Delivered
            }
            Some(Waiter::Acks(inbox)) => {
                match reply {
                    Reply::ClientCount(client_count) => {
                        if client_count > max_client_count {
                            return Delivery::ClientCountTooLarge(client_count);
                        }
                        inbox.client_count(client_count);
                    }
                    Reply::Ack(packet) => {
                        if let Some(v) = convert_ack(packet) {
                            inbox.ack(v);
                        }
                    }
                    _ => return Delivery::NoWaiter,
                }
                Delivery::Delivered
            }
        }
    }

    /// Number of requests waiting (for tests: nothing leaks).
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

/// Removes its request from the table when dropped.
#[derive(Debug)]
pub(crate) struct PendingGuard {
    map: Arc<Mutex<HashMap<String, Waiter>>>,
    request_id: String,
    gauge: Option<metrics::Gauge>,
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.request_id);
        if let Some(g) = &self.gauge {
            g.decrement(1.0);
        }
    }
}

/// What the other servers sent for one broadcast with acknowledgements.
#[derive(Debug, Default)]
pub(crate) struct AckInbox {
    state: Mutex<AckState>,
}

#[derive(Debug, Default)]
pub(crate) struct AckState {
    /// `BROADCAST_CLIENT_COUNT` responses received (one per server).
    pub(crate) servers: usize,
    /// Sum of their client counts (each at most `max_remote_client_count`, the sum
    /// saturating): acknowledgements to expect.
    pub(crate) expected_acks: u64,
    /// Acknowledgements received and not yet read.
    pub(crate) acks: VecDeque<SioValue>,
    /// Acknowledgements received in all.
    pub(crate) received_acks: u64,
    /// Acknowledgements dropped because the reader fell too far behind.
    pub(crate) dropped: u64,
    pub(crate) waker: Option<Waker>,
}

impl AckInbox {
    pub(crate) fn lock(&self) -> MutexGuard<'_, AckState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn client_count(&self, n: u64) {
        let mut s = self.lock();
        s.servers = s.servers.saturating_add(1);
        s.expected_acks = s.expected_acks.saturating_add(n);
        if let Some(w) = s.waker.take() {
            w.wake();
        }
    }

    fn ack(&self, v: SioValue) {
        let mut s = self.lock();
        s.received_acks = s.received_acks.saturating_add(1);
        if s.acks.len() < MAX_BUFFERED_ACKS {
            s.acks.push_back(v);
        } else {
            s.dropped += 1;
        }
        if let Some(w) = s.waker.take() {
            w.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(client_count: u64) -> Reply {
        Reply::ClientCount(client_count)
    }

    #[test]
    fn forged_client_counts_above_the_limit_are_refused_and_sums_saturate() {
        let pending = Pending::default();
        let inbox = Arc::new(AckInbox::default());
        let _guard = pending.register("r".into(), Waiter::Acks(inbox.clone()));
        // Three counts of 2^63, as another node can send them: refused, not summed.
        for _ in 0..3 {
            let d = pending.deliver("r", count(1 << 63), 1 << 20, |_| None);
            assert_eq!(d, Delivery::ClientCountTooLarge(1 << 63));
        }
        {
            let s = inbox.lock();
            assert_eq!(
                (s.servers, s.expected_acks),
                (0, 0),
                "as if nobody answered"
            );
        }
        assert_eq!(
            pending.deliver("r", count(1 << 20), 1 << 20, |_| None),
            Delivery::Delivered,
            "the limit itself is accepted"
        );
        // Even with no limit the sum cannot overflow (it panicked in debug builds).
        for _ in 0..3 {
            pending.deliver("r", count(1 << 63), u64::MAX, |_| None);
        }
        let s = inbox.lock();
        assert_eq!((s.servers, s.expected_acks), (4, u64::MAX));
    }
}
