//! Every PUBLISH goes through one bounded queue, in order; a worker sends what has
//! queued up as one pipeline, so a burst of broadcasts costs one round trip per batch
//! instead of one per message (as node-redis does for the Node adapters, whose
//! `publish` calls are not awaited one by one).

use std::sync::Arc;

use bytes::Bytes;
use redis::RedisError;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::publisher::Publisher;
use crate::error::TransportError;
use crate::shared::Shared;

/// Messages the queue holds before a publisher waits for room (backpressure).
pub(crate) const QUEUE_CAPACITY: usize = 4096;
/// Most PUBLISH commands sent in one pipeline.
const MAX_BATCH: usize = 512;

/// One queued PUBLISH; `reply` is there when the caller waits for the result.
pub(crate) struct Queued {
    pub(crate) channel: String,
    pub(crate) payload: Bytes,
    pub(crate) reply: Option<oneshot::Sender<Result<u64, TransportError>>>,
}

/// Drains the queue into pipelines.
pub(crate) struct PublishWorker {
    pub(crate) rx: mpsc::Receiver<Queued>,
    pub(crate) publisher: Arc<Publisher>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) shutdown: CancellationToken,
}

impl std::fmt::Debug for PublishWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublishWorker").finish_non_exhaustive()
    }
}

impl PublishWorker {
    pub(crate) async fn run(mut self) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        loop {
            tokio::select! {
                n = self.rx.recv_many(&mut batch, MAX_BATCH) => {
                    if n == 0 {
                        break;
                    }
                    self.send(&mut batch).await;
                }
                () = self.shutdown.cancelled() => break,
            }
        }
        // What was queued before the shutdown is answered, not silently dropped.
        self.rx.close();
        while self.rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
            for q in batch.drain(..) {
                if let Some(tx) = q.reply {
                    let _ = tx.send(Err(TransportError::Closed));
                }
            }
        }
    }

    async fn send(&self, batch: &mut Vec<Queued>) {
        let counters = &self.shared.counters;
        let n = batch.len() as u64;
        let items = batch
            .iter()
            .map(|q| (q.channel.as_str(), q.payload.as_ref()));
        match self.publisher.publish(items).await {
            Ok(receivers) => {
                counters
                    .published
                    .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                for (q, count) in batch.drain(..).zip(receivers) {
                    if let Some(tx) = q.reply {
                        let _ = tx.send(Ok(count));
                    }
                }
            }
            Err(e) => {
                counters
                    .publish_errors
                    .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
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
