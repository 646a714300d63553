//! The offline buffer: a bounded, ordered queue in front of a connection that
//! may be down, shared by the publish queue (`PUBLISH`, `publish_queue.rs`)
//! and the stream writer (`XADD`, `stream_writer.rs`). Bounded in bytes (a
//! semaphore of one permit per byte, given back when an item is sent or
//! dropped), in items ([`QUEUE_CAPACITY`]) and, by the worker that drains it,
//! in age (each item keeps the instant it was queued).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::error::TransportError;

/// Items a queue holds at most, whatever their size.
pub(crate) const QUEUE_CAPACITY: usize = 16 * 1024;

/// One queued item with its share of the byte budget.
pub(crate) struct Queued<T> {
    pub(crate) item: T,
    pub(crate) queued_at: Instant,
    /// Its share of the byte budget, given back when it is sent or dropped.
    _bytes: OwnedSemaphorePermit,
}

/// The producers' side of a queue.
#[derive(Debug)]
pub(crate) struct BoundedQueue<T> {
    tx: mpsc::Sender<Queued<T>>,
    /// One permit per byte queued.
    bytes: Arc<Semaphore>,
    limit_bytes: u32,
    /// Items the worker took from the channel and has not sent or dropped yet (it
    /// stores its batch's size once per batch), for [`BoundedQueue::depth`].
    in_hand: Arc<AtomicUsize>,
}

/// Whether an item may wait in the queue while the connection is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The connection is up: wait (at most `wait`) for room.
    Online { wait: Duration },
    /// The connection is down: queue if there is room now, else fail.
    Offline,
}

impl<T> BoundedQueue<T> {
    /// A queue holding at most `limit_bytes` bytes (≤ `u32::MAX`, checked by
    /// the config) and [`QUEUE_CAPACITY`] items; the receiver is the worker's.
    pub(crate) fn new(limit_bytes: u32) -> (BoundedQueue<T>, mpsc::Receiver<Queued<T>>) {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let queue = BoundedQueue {
            tx,
            bytes: Arc::new(Semaphore::new(limit_bytes as usize)),
            limit_bytes,
            in_hand: Arc::default(),
        };
        (queue, rx)
    }

    /// The count of the items the worker holds, for it to store its batch size in.
    pub(crate) fn in_hand(&self) -> Arc<AtomicUsize> {
        self.in_hand.clone()
    }

    /// Items and bytes queued and not yet sent or dropped, read now (nothing is
    /// counted per item).
    pub(crate) fn depth(&self) -> (usize, usize) {
        let items =
            self.tx.max_capacity() - self.tx.capacity() + self.in_hand.load(Ordering::Relaxed);
        let bytes = (self.limit_bytes as usize).saturating_sub(self.bytes.available_permits());
        (items, bytes)
    }

    /// Queues one item of `size` bytes. An item larger than the whole budget
    /// waits for an empty queue and then takes all of it.
    ///
    /// # Errors
    /// [`TransportError::BufferFull`] when there is no room (at once offline,
    /// after `wait` online); [`TransportError::Closed`] once the worker is gone.
    pub(crate) async fn push(
        &self,
        item: T,
        size: usize,
        mode: Mode,
    ) -> Result<(), TransportError> {
        let want = u32::try_from(size)
            .unwrap_or(u32::MAX)
            .clamp(1, self.limit_bytes);
        let full = || TransportError::BufferFull {
            limit_bytes: self.limit_bytes as usize,
        };
        // The broadcast path takes no timer unless the queue is full.
        let permit = match (self.bytes.clone().try_acquire_many_owned(want), mode) {
            (Ok(permit), _) => permit,
            (Err(_), Mode::Offline) => return Err(full()),
            (Err(_), Mode::Online { wait }) => {
                match tokio::time::timeout(wait, self.bytes.clone().acquire_many_owned(want)).await
                {
                    Ok(Ok(permit)) => permit,
                    Ok(Err(_)) => return Err(TransportError::Closed),
                    Err(_) => return Err(full()),
                }
            }
        };
        let queued = Queued {
            item,
            queued_at: Instant::now(),
            _bytes: permit,
        };
        match (self.tx.try_send(queued), mode) {
            (Ok(()), _) => Ok(()),
            (Err(mpsc::error::TrySendError::Closed(_)), _) => Err(TransportError::Closed),
            (Err(mpsc::error::TrySendError::Full(_)), Mode::Offline) => Err(full()),
            (Err(mpsc::error::TrySendError::Full(queued)), Mode::Online { wait }) => self
                .tx
                .send_timeout(queued, wait)
                .await
                .map_err(|e| match e {
                    mpsc::error::SendTimeoutError::Timeout(_) => full(),
                    mpsc::error::SendTimeoutError::Closed(_) => TransportError::Closed,
                }),
        }
    }
}

/// Takes the items at the front of `batch` queued longer than `max_age` (the
/// batch is in queue order, so they are a prefix).
pub(crate) fn take_expired<T>(batch: &mut Vec<Queued<T>>, max_age: Duration) -> Vec<Queued<T>> {
    if batch
        .first()
        .is_none_or(|q| q.queued_at.elapsed() <= max_age)
    {
        return Vec::new();
    }
    match batch.iter().position(|q| q.queued_at.elapsed() <= max_age) {
        Some(i) => batch.drain(..i).collect(),
        None => std::mem::take(batch),
    }
}
