//! Every PUBLISH (and, on a standalone Redis, SPUBLISH) goes through one bounded queue, in order; a worker sends what has
//! queued up as one pipeline, so a burst of broadcasts costs one round trip per batch
//! instead of one per message (as node-redis does for the Node adapters, whose
//! `publish` calls are not awaited one by one).
//!
//! The queue is also the offline buffer: while the publisher connection is being
//! re-established, fire-and-forget messages stay queued (bounded in bytes and in age)
//! and are sent, in order, once it is back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use redis::RedisError;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::publisher::Publisher;
use crate::conn::mux::Verb;
use crate::error::TransportError;
use crate::shared::{Shared, millis};

/// Messages the queue holds at most, whatever their size.
pub(crate) const QUEUE_CAPACITY: usize = 16 * 1024;
/// Most PUBLISH commands sent in one pipeline.
const MAX_BATCH: usize = 512;
/// How long messages that waited out a publisher outage wait once it is back,
/// before they are sent: every node's subscriber noticed the same outage and
/// retries at most ~48 ms apart (the default [`Backoff`](crate::Backoff)), so
/// this gives the other nodes' subscribers time to re-subscribe before the
/// backlog goes out (else it reaches only those that were quicker).
pub(crate) const RESUME_SETTLE: Duration = Duration::from_millis(50);
/// How long queued messages wait for the transport's own subscriber when it is
/// re-subscribing (e.g. after a `CLIENT KILL` or a restart that also hit the
/// publisher), so that what this node publishes right after an outage is not lost
/// to subscribers that are a few ms from being back. Bounded: a subscriber that
/// stays down delays publishing by this much once per outage of the subscriber.
pub(crate) const SUBSCRIBER_GRACE: Duration = Duration::from_millis(1000);

/// One queued PUBLISH; `reply` is there when the caller waits for the result.
pub(crate) struct Queued {
    verb: Verb,
    channel: String,
    payload: Bytes,
    reply: Option<oneshot::Sender<Result<u64, TransportError>>>,
    queued_at: Instant,
    /// Its share of the byte budget, given back when it is sent or dropped.
    _bytes: OwnedSemaphorePermit,
}

/// The handles' side of the queue.
#[derive(Debug)]
pub(crate) struct PublishQueue {
    tx: mpsc::Sender<Queued>,
    /// One permit per byte of channel name and payload queued.
    bytes: Arc<Semaphore>,
    limit_bytes: u32,
    /// Messages the worker took from the channel and has not sent or dropped yet (set
    /// once per batch).
    in_hand: Arc<AtomicUsize>,
}

/// Whether a message may wait in the queue while the connection is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The publisher is up: wait (at most `wait`) for room.
    Online { wait: Duration },
    /// The publisher is down: queue if there is room now, else fail.
    Offline,
}

impl PublishQueue {
    /// A queue holding at most `limit_bytes` bytes of channel names and payloads
    /// (≤ `u32::MAX`, checked by the config) and [`QUEUE_CAPACITY`] messages.
    pub(crate) fn new(limit_bytes: u32) -> (PublishQueue, mpsc::Receiver<Queued>) {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let queue = PublishQueue {
            tx,
            bytes: Arc::new(Semaphore::new(limit_bytes as usize)),
            limit_bytes,
            in_hand: Arc::default(),
        };
        (queue, rx)
    }

    /// The count the worker keeps of the messages it holds (for [`PublishWorker`]).
    pub(crate) fn in_hand(&self) -> Arc<AtomicUsize> {
        self.in_hand.clone()
    }

    /// Messages and bytes (channel names and payloads) queued and not yet sent, read
    /// now (nothing is counted per message).
    pub(crate) fn depth(&self) -> (usize, usize) {
        let messages =
            self.tx.max_capacity() - self.tx.capacity() + self.in_hand.load(Ordering::Relaxed);
        let bytes = (self.limit_bytes as usize).saturating_sub(self.bytes.available_permits());
        (messages, bytes)
    }

    /// Queues one message. A message larger than the whole budget waits for an
    /// empty queue and then takes all of it.
    ///
    /// # Errors
    /// [`TransportError::BufferFull`] when there is no room (at once offline,
    /// after `wait` online); [`TransportError::Closed`] once the worker is gone.
    pub(crate) async fn push(
        &self,
        verb: Verb,
        channel: String,
        payload: Bytes,
        reply: Option<oneshot::Sender<Result<u64, TransportError>>>,
        mode: Mode,
    ) -> Result<(), TransportError> {
        let size = channel.len().saturating_add(payload.len());
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
            verb,
            channel,
            payload,
            reply,
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

/// Drains the queue into pipelines.
pub(crate) struct PublishWorker {
    pub(crate) rx: mpsc::Receiver<Queued>,
    pub(crate) publisher: Arc<Publisher>,
    pub(crate) shared: Arc<Shared>,
    /// Messages queued longer than this are dropped instead of sent.
    pub(crate) max_age: Duration,
    /// Whether the transport has a subscriber to wait for after an outage
    /// (not when it only publishes).
    pub(crate) own_subscriber: bool,
    pub(crate) shutdown: CancellationToken,
    /// [`PublishQueue::in_hand`].
    pub(crate) in_hand: Arc<AtomicUsize>,
}

impl std::fmt::Debug for PublishWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublishWorker").finish_non_exhaustive()
    }
}

impl PublishWorker {
    pub(crate) async fn run(mut self) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        // When the subscriber was first seen down in its current outage.
        let mut subscriber_down_since: Option<Instant> = None;
        'run: loop {
            tokio::select! {
                n = self.rx.recv_many(&mut batch, MAX_BATCH) => {
                    if n == 0 {
                        break;
                    }
                    self.in_hand.store(n, Ordering::Relaxed);
                }
                () = self.shutdown.cancelled() => break,
            }
            // While the connection is being re-established the batch waits (and
            // the queue behind it fills up to its limits).
            while !batch.is_empty() {
                let was_down = matches!(
                    self.publisher.current(),
                    Err(TransportError::NotConnected { .. })
                );
                tokio::select! {
                    () = self.publisher.wait_settled() => {}
                    () = self.shutdown.cancelled() => break 'run,
                }
                if was_down {
                    tokio::select! {
                        () = tokio::time::sleep(RESUME_SETTLE) => {}
                        () = self.shutdown.cancelled() => break 'run,
                    }
                }
                if !self.own_subscriber || self.shared.subscriber_up() {
                    subscriber_down_since = None;
                } else {
                    let since = *subscriber_down_since.get_or_insert_with(Instant::now);
                    let left = SUBSCRIBER_GRACE.saturating_sub(since.elapsed());
                    tokio::select! {
                        _ = self.shared.wait_subscriber_up(left) => {}
                        () = self.shutdown.cancelled() => break 'run,
                    }
                }
                self.expire(&mut batch);
                self.send(&mut batch).await;
                self.in_hand.store(batch.len(), Ordering::Relaxed);
            }
        }
        // What was queued before the shutdown is answered or counted, not silently
        // dropped.
        self.rx.close();
        loop {
            self.drop_all(
                &mut batch,
                || TransportError::Closed,
                "the transport closed",
            );
            if self.rx.recv_many(&mut batch, MAX_BATCH).await == 0 {
                break;
            }
        }
    }

    /// Drops the messages queued for longer than `max_age`.
    fn expire(&self, batch: &mut Vec<Queued>) {
        let max_age = self.max_age;
        if batch
            .first()
            .is_none_or(|q| q.queued_at.elapsed() <= max_age)
        {
            return;
        }
        let keep = batch.iter().position(|q| q.queued_at.elapsed() <= max_age);
        let mut old: Vec<Queued> = match keep {
            Some(i) => batch.drain(..i).collect(),
            None => std::mem::take(batch),
        };
        self.drop_all(
            &mut old,
            || TransportError::Expired {
                max_age_ms: millis(max_age),
            },
            "queued longer than the offline buffer's age limit",
        );
    }

    /// Answers or counts every message of `batch` as dropped.
    fn drop_all(
        &self,
        batch: &mut Vec<Queued>,
        error: impl Fn() -> TransportError,
        why: &'static str,
    ) {
        if batch.is_empty() {
            return;
        }
        let n = batch.len();
        self.shared.counters.publish_dropped.add(n as u64);
        warn!(messages = n, "queued PUBLISH dropped: {why}");
        for q in batch.drain(..) {
            if let Some(tx) = q.reply {
                let _ = tx.send(Err(error()));
            }
        }
    }

    /// Sends the batch as one pipeline. Keeps it (to be sent once the connection
    /// is back) when nothing was sent because the connection was down.
    async fn send(&self, batch: &mut Vec<Queued>) {
        if batch.is_empty() {
            return;
        }
        let counters = &self.shared.counters;
        let n = batch.len() as u64;
        let items = batch
            .iter()
            .map(|q| (q.verb, q.channel.as_str(), q.payload.as_ref()));
        match self.publisher.publish(items).await {
            Ok(receivers) => {
                counters.published.add(n);
                for (q, count) in batch.drain(..).zip(receivers) {
                    if let Some(tx) = q.reply {
                        let _ = tx.send(Ok(count));
                    }
                }
            }
            // Nothing was written: it waits for the next connection.
            Err(TransportError::NotConnected { .. }) => {}
            Err(e) => {
                counters.publish_errors.add(n);
                if batch.iter().any(|q| q.reply.is_none()) {
                    warn!(error = %e, messages = n, "PUBLISH failed; queued messages lost");
                }
                for q in batch.drain(..) {
                    if let Some(tx) = q.reply {
                        let _ = tx.send(Err(same_error(&e)));
                    }
                }
            }
        }
    }
}

/// The error of a failed pipeline, once for each waiting caller.
fn same_error(e: &TransportError) -> TransportError {
    match e {
        TransportError::Redis(re) => TransportError::Redis(RedisError::from((
            re.kind(),
            "pipelined PUBLISH failed",
            re.to_string(),
        ))),
        TransportError::Timeout { ms } => TransportError::Timeout { ms: *ms },
        TransportError::NotConnected { role } => TransportError::NotConnected { role: *role },
        TransportError::GaveUp { role, attempts } => TransportError::GaveUp {
            role: *role,
            attempts: *attempts,
        },
        _ => TransportError::Closed,
    }
}
