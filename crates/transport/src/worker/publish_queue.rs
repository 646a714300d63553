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
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::offline_buffer::{BoundedQueue, Queued, take_expired};
use super::publisher::Publisher;
use crate::conn::mux::Verb;
use crate::error::TransportError;
use crate::shared::{Shared, millis};

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
pub(crate) struct Publish {
    pub(crate) verb: Verb,
    pub(crate) channel: String,
    pub(crate) payload: Bytes,
    pub(crate) reply: Option<oneshot::Sender<Result<u64, TransportError>>>,
}

impl Publish {
    /// Its share of the byte budget: channel name and payload.
    pub(crate) fn size(&self) -> usize {
        self.channel.len().saturating_add(self.payload.len())
    }
}

/// The handles' side of the queue.
pub(crate) type PublishQueue = BoundedQueue<Publish>;

/// Drains the queue into pipelines.
pub(crate) struct PublishWorker {
    pub(crate) rx: mpsc::Receiver<Queued<Publish>>,
    pub(crate) publisher: Arc<Publisher>,
    pub(crate) shared: Arc<Shared>,
    /// Messages queued longer than this are dropped instead of sent.
    pub(crate) max_age: Duration,
    /// Whether the transport has a subscriber to wait for after an outage
    /// (not when it only publishes).
    pub(crate) own_subscriber: bool,
    pub(crate) shutdown: CancellationToken,
    /// [`BoundedQueue::in_hand`]: the size of the batch held, stored once per batch.
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
    fn expire(&self, batch: &mut Vec<Queued<Publish>>) {
        let max_age = self.max_age;
        let mut old = take_expired(batch, max_age);
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
        batch: &mut Vec<Queued<Publish>>,
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
            if let Some(tx) = q.item.reply {
                let _ = tx.send(Err(error()));
            }
        }
    }

    /// Sends the batch as one pipeline. Keeps it (to be sent once the connection
    /// is back) when nothing was sent because the connection was down.
    async fn send(&self, batch: &mut Vec<Queued<Publish>>) {
        if batch.is_empty() {
            return;
        }
        let counters = &self.shared.counters;
        let n = batch.len() as u64;
        let items = batch.iter().map(|q| {
            (
                q.item.verb,
                q.item.channel.as_str(),
                q.item.payload.as_ref(),
            )
        });
        match self.publisher.publish(items).await {
            Ok(receivers) => {
                counters.published.add(n);
                for (q, count) in batch.drain(..).zip(receivers) {
                    if let Some(tx) = q.item.reply {
                        let _ = tx.send(Ok(count));
                    }
                }
            }
            // Nothing was written: it waits for the next connection.
            Err(TransportError::NotConnected { .. }) => {}
            Err(e) => {
                counters.publish_errors.add(n);
                if batch.iter().any(|q| q.item.reply.is_none()) {
                    warn!(error = %e, messages = n, "PUBLISH failed; queued messages lost");
                }
                for q in batch.drain(..) {
                    if let Some(tx) = q.item.reply {
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
