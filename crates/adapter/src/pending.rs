//! The table of requests this node waits on, keyed by request id. An entry is registered
//! *before* the request is published (so that no response can arrive unseen) and removed
//! by a guard when the waiter finishes, times out or is dropped, so nothing leaks.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;

use socketioxide_core::Value as SioValue;
use tokio::sync::mpsc;

use sio_redis_wire::classic::ClassicResponse;

/// The most acknowledgements one broadcast-with-ack buffers before its stream is read;
/// more are counted as dropped.
const MAX_BUFFERED_ACKS: usize = 1 << 20;

/// Where responses to one request go.
#[derive(Debug)]
pub(crate) enum Waiter {
    /// allRooms / fetchSockets / serverSideEmit with ack: one response per server. The
    /// channel holds as many as the servers expected (more are duplicates).
    Responses(mpsc::Sender<ClassicResponse>),
    /// Broadcast with acknowledgements: client counts and acks.
    Acks(Arc<AckInbox>),
}

/// The pending requests of one namespace adapter.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    map: Arc<Mutex<HashMap<String, Waiter>>>,
}

impl Pending {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Waiter>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers `waiter` under `request_id`; the entry lives as long as the guard.
    pub(crate) fn register(&self, request_id: String, waiter: Waiter) -> PendingGuard {
        self.lock().insert(request_id.clone(), waiter);
        PendingGuard {
            map: self.map.clone(),
            request_id,
        }
    }

    /// Whether `request_id` is one of ours (Node ignores its own requests this way).
    pub(crate) fn contains(&self, request_id: &str) -> bool {
        self.lock().contains_key(request_id)
    }

    /// Hands a response to its waiter. Returns false when no request waits for it
    /// (answered late, or not ours).
    pub(crate) fn deliver(
        &self,
        response: ClassicResponse,
        convert_ack: impl FnOnce(Option<sio_redis_wire::Value>) -> Option<SioValue>,
    ) -> bool {
        let map = self.lock();
        match map.get(response.request_id()) {
            None => false,
            Some(Waiter::Responses(tx)) => {
                // A full channel means more answers than servers: duplicates, dropped.
                let _ = tx.try_send(response);
                true
            }
            Some(Waiter::Acks(inbox)) => {
                match response {
                    ClassicResponse::BroadcastClientCount { client_count, .. } => {
                        inbox.client_count(client_count);
                    }
                    ClassicResponse::BroadcastAck { packet, .. } => {
                        if let Some(v) = convert_ack(packet) {
                            inbox.ack(v);
                        }
                    }
                    _ => return false,
                }
                true
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
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.request_id);
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
    /// Sum of their client counts: acknowledgements to expect.
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
        s.servers += 1;
        s.expected_acks += n;
        if let Some(w) = s.waker.take() {
            w.wake();
        }
    }

    fn ack(&self, v: SioValue) {
        let mut s = self.lock();
        s.received_acks += 1;
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
