//! The stream writer: every `XADD` of the transport goes through one bounded,
//! ordered queue (the offline buffer, `offline_buffer.rs`) drained by one task,
//! so that a stream's entries are written in call order, also across outages.
//!
//! * Standalone Redis: what has queued up goes out as one pipeline on the
//!   publisher connection (one round trip per batch); while that connection is
//!   being re-established the entries wait in the queue (bounded in bytes,
//!   entries and age) and are written, in order, once it is back.
//! * Redis Cluster: one entry after the other, each on the primary of its
//!   stream's slot through the router (redirects and retries as
//!   [`Router::command`]); a failure pauses the queue with back-off.
//! * **Entries in doubt**: when the connection is lost after an `XADD` was
//!   written and before its reply came (a `CLIENT KILL`, a restart, a reply
//!   timeout), Redis may or may not have added it. Resending blindly could add
//!   it twice, not resending could lose it. Before anything else is written,
//!   the writer reads the stream after the last id Redis acknowledged to it
//!   (`XRANGE <stream> <last id + 1> + COUNT 100`, pages until every entry in
//!   doubt is found or the stream ends) and takes an entry whose fields are
//!   equal to the next entry in doubt as that entry: the entries one writer
//!   added after its last acknowledged one are a prefix of its entries in
//!   doubt, in order, since it writes them in order on one connection. Those
//!   found are acknowledged with the id found; the rest are written again.
//!   This needs entries that other writers cannot write identically (the
//!   adapters' entries carry the writer's `uid`); it costs one `XRANGE` round
//!   trip per stream and fault (more pages when other writers added more than
//!   100 entries meanwhile; the whole stream when no `XADD` of that stream was
//!   ever acknowledged to this writer).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use redis::RedisError;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::offline_buffer::{BoundedQueue, Queued, take_expired};
use super::publisher::Publisher;
use crate::cluster::router::Router;
use crate::error::{ErrorClass, TransportError, classify};
use crate::resp;
use crate::shared::{Shared, millis};
use crate::stream::{StreamEntry, StreamId, xrange_entries};

/// Most `XADD`s written in one pipeline.
const MAX_BATCH: usize = 256;
/// Entries read per `XRANGE` page when looking for entries in doubt.
const CHECK_PAGE: usize = 100;
/// Pause before trying again after a failure that left entries queued.
const RETRY_PAUSE: Duration = Duration::from_millis(20);

/// One queued `XADD`; `reply` is there when the caller waits for the id.
pub(crate) struct Xadd {
    pub(crate) stream: Arc<str>,
    /// `MAXLEN ~ <n>` when set.
    pub(crate) max_len: Option<u64>,
    pub(crate) fields: Vec<(Bytes, Bytes)>,
    pub(crate) reply: Option<oneshot::Sender<Result<StreamId, TransportError>>>,
}

impl Xadd {
    /// Its share of the byte budget: stream name, field names and values.
    pub(crate) fn size(&self) -> usize {
        self.fields.iter().fold(self.stream.len(), |n, (k, v)| {
            n.saturating_add(k.len() + v.len())
        })
    }

    /// `XADD <stream> [MAXLEN ~ <n>] * <field> <value> …`, RESP-encoded.
    fn write(&self, out: &mut Vec<u8>) {
        let max = self
            .max_len
            .map(|n| itoa::Buffer::new().format(n).to_owned());
        let mut args: Vec<&[u8]> = Vec::with_capacity(6 + 2 * self.fields.len());
        args.extend([b"XADD".as_slice(), self.stream.as_bytes()]);
        if let Some(max) = &max {
            args.extend([b"MAXLEN".as_slice(), b"~", max.as_bytes()]);
        }
        args.push(b"*");
        for (k, v) in &self.fields {
            args.extend([k.as_ref(), v.as_ref()]);
        }
        resp::write_command(out, &args);
    }

    fn answer(self, result: Result<StreamId, TransportError>) {
        if let Some(tx) = self.reply {
            let _ = tx.send(result);
        }
    }
}

/// The handles' side of the writer's queue.
pub(crate) type StreamWriteQueue = BoundedQueue<Xadd>;

/// Where the `XADD`s go.
pub(crate) enum Target {
    /// The publisher connection of a standalone Redis (or Sentinel's primary).
    Standalone(Arc<Publisher>),
    /// The primary of each stream's slot.
    Cluster(Arc<Router>),
}

/// Drains the queue.
pub(crate) struct StreamWriterWorker {
    pub(crate) rx: mpsc::Receiver<Queued<Xadd>>,
    pub(crate) target: Target,
    pub(crate) shared: Arc<Shared>,
    /// Entries queued longer than this are dropped instead of written.
    pub(crate) max_age: Duration,
    pub(crate) shutdown: CancellationToken,
}

impl std::fmt::Debug for StreamWriterWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamWriterWorker").finish_non_exhaustive()
    }
}

/// What one attempt to write a batch left behind.
#[derive(Default)]
struct Writer {
    /// To be written, in order.
    batch: Vec<Queued<Xadd>>,
    /// Written, reply lost: to be looked for before anything else is written.
    doubt: Vec<Queued<Xadd>>,
    /// The last id Redis acknowledged to this writer, per stream.
    last: HashMap<Arc<str>, StreamId>,
}

/// Whether the target can take commands now.
enum Ready {
    Yes,
    /// Given up or closed: every entry fails with this.
    No(TransportError),
}

impl StreamWriterWorker {
    pub(crate) async fn run(mut self) {
        let mut w = Writer::default();
        'run: loop {
            if w.batch.is_empty() && w.doubt.is_empty() {
                tokio::select! {
                    n = self.rx.recv_many(&mut w.batch, MAX_BATCH) => {
                        if n == 0 {
                            break;
                        }
                    }
                    () = self.shutdown.cancelled() => break,
                }
            }
            let ready = tokio::select! {
                r = self.ready() => r,
                () = self.shutdown.cancelled() => break 'run,
            };
            if let Ready::No(e) = ready {
                let closed = matches!(e, TransportError::Closed);
                self.fail_all(&mut w, &e);
                if closed {
                    break;
                }
                continue;
            }
            if !w.doubt.is_empty()
                && let Err(e) = self.resolve(&mut w).await
            {
                debug!(error = %e, "XADD check of entries in doubt failed; retrying");
                self.expire(&mut w.doubt, "in doubt (maybe written) longer than");
                tokio::select! {
                    () = tokio::time::sleep(RETRY_PAUSE) => {}
                    () = self.shutdown.cancelled() => break 'run,
                }
                continue;
            }
            self.expire(&mut w.batch, "queued longer than");
            let before = w.batch.len();
            match &self.target {
                Target::Standalone(p) => self.send_pipeline(p, &mut w).await,
                Target::Cluster(r) => self.send_one_by_one(r, &mut w).await,
            }
            // Nothing settled (a cluster node unreachable, `LOADING` after a restart):
            // a pause before the next try rather than a busy loop.
            let stuck = !w.batch.is_empty() && w.batch.len() == before && w.doubt.is_empty();
            if stuck {
                tokio::select! {
                    () = tokio::time::sleep(RETRY_PAUSE) => {}
                    () = self.shutdown.cancelled() => break 'run,
                }
            }
        }
        // What was queued before the shutdown is answered and counted.
        self.rx.close();
        let mut w = w;
        while let Ok(q) = self.rx.try_recv() {
            w.batch.push(q);
        }
        self.fail_all(&mut w, &TransportError::Closed);
    }

    /// Waits until the target can take commands (standalone: the publisher
    /// connection is not being re-established; a cluster: at once).
    async fn ready(&self) -> Ready {
        let Target::Standalone(publisher) = &self.target else {
            return Ready::Yes;
        };
        loop {
            publisher.wait_settled().await;
            match publisher.current() {
                Ok(_) => return Ready::Yes,
                Err(TransportError::NotConnected { .. }) => {}
                Err(e) => return Ready::No(e),
            }
        }
    }

    /// Answers and counts everything held as failed with `e`.
    fn fail_all(&self, w: &mut Writer, e: &TransportError) {
        let all: Vec<_> = w.doubt.drain(..).chain(w.batch.drain(..)).collect();
        if all.is_empty() {
            return;
        }
        let counters = &self.shared.counters;
        counters.stream_add_dropped.add(all.len() as u64);
        warn!(entries = all.len(), error = %e, "queued XADDs dropped");
        for q in all {
            q.item.answer(Err(copy_error(e)));
        }
    }

    /// Drops (answers and counts) the entries of `list` older than the age limit.
    fn expire(&self, list: &mut Vec<Queued<Xadd>>, why: &'static str) {
        let old = take_expired(list, self.max_age);
        if old.is_empty() {
            return;
        }
        self.shared
            .counters
            .stream_add_dropped
            .add(old.len() as u64);
        let ms = millis(self.max_age);
        warn!(
            entries = old.len(),
            "XADDs dropped: {why} the offline buffer's age limit ({ms} ms)"
        );
        for q in old {
            q.item
                .answer(Err(TransportError::Expired { max_age_ms: ms }));
        }
    }

    /// Standalone: the whole batch as one pipeline.
    async fn send_pipeline(&self, publisher: &Publisher, w: &mut Writer) {
        let mut bytes = Vec::new();
        for q in &w.batch {
            q.item.write(&mut bytes);
        }
        match publisher.request(bytes, w.batch.len()).await {
            Ok(frames) => {
                let mut retry = Vec::new();
                for (q, frame) in w.batch.drain(..).zip(frames) {
                    if let Some(q) = self.settle(q, &frame, &mut w.last) {
                        retry.push(q);
                    }
                }
                w.batch = retry;
            }
            // Nothing was written: it waits for the next connection.
            Err(TransportError::NotConnected { .. }) => {}
            Err(e @ (TransportError::Closed | TransportError::GaveUp { .. })) => {
                let mut all = Writer {
                    batch: std::mem::take(&mut w.batch),
                    ..Writer::default()
                };
                self.fail_all(&mut all, &e);
            }
            // Written, or partly: each entry's outcome is unknown.
            Err(e) => self.in_doubt(w, w.batch.len(), &e),
        }
    }

    /// A cluster: each entry on its slot's owner, in order, stopping at the
    /// first that is not settled.
    async fn send_one_by_one(&self, router: &Router, w: &mut Writer) {
        while let Some(q) = w.batch.first() {
            let mut bytes = Vec::new();
            q.item.write(&mut bytes);
            let slot = crate::slot::key_slot(q.item.stream.as_bytes());
            match router.command(slot, &bytes).await {
                Ok(frame) => {
                    let q = w.batch.remove(0);
                    if let Some(q) = self.settle(q, &frame, &mut w.last) {
                        w.batch.insert(0, q);
                        return;
                    }
                }
                Err(TransportError::Redis(e)) if classify(&e) != ErrorClass::Connection => {
                    match classify(&e) {
                        // Not run (the router gave up retrying it): later.
                        ErrorClass::Busy | ErrorClass::Redirect => return,
                        _ => self.refused(w.batch.remove(0), e),
                    }
                }
                Err(e @ TransportError::Closed) => {
                    let mut all = Writer {
                        batch: std::mem::take(&mut w.batch),
                        ..Writer::default()
                    };
                    return self.fail_all(&mut all, &e);
                }
                Err(e) => return self.in_doubt(w, 1, &e),
            }
        }
    }

    /// Moves the first `n` entries of the batch to the entries in doubt.
    fn in_doubt(&self, w: &mut Writer, n: usize, e: &TransportError) {
        self.shared.counters.stream_in_doubt.add(n as u64);
        warn!(entries = n, error = %e, "XADD reply lost: checking the stream for these entries before writing them again");
        w.doubt.extend(w.batch.drain(..n));
    }

    /// Handles one `XADD` reply; the entry back when it should be written
    /// again (Redis was not ready: `LOADING`, `BUSY`, a redirect).
    fn settle(
        &self,
        q: Queued<Xadd>,
        frame: &[u8],
        last: &mut HashMap<Arc<str>, StreamId>,
    ) -> Option<Queued<Xadd>> {
        let value = redis::parse_redis_value(frame).and_then(redis::Value::extract_error);
        match value {
            Ok(value) => match redis::from_redis_value::<String>(value)
                .ok()
                .and_then(|t| t.parse::<StreamId>().ok())
            {
                Some(id) => {
                    last.insert(q.item.stream.clone(), id);
                    self.shared.counters.stream_added.add(1);
                    q.item.answer(Ok(id));
                }
                None => self.refused(
                    q,
                    RedisError::from((
                        redis::ErrorKind::UnexpectedReturnType,
                        "XADD reply is not an entry id",
                    )),
                ),
            },
            Err(e) if matches!(classify(&e), ErrorClass::Busy | ErrorClass::Redirect) => {
                debug!(error = %e, "XADD refused for now; written again");
                return Some(q);
            }
            Err(e) => self.refused(q, e),
        }
        None
    }

    /// An `XADD` Redis refused (`WRONGTYPE`, `NOPERM`, `OOM`…): answered and
    /// counted, not written again.
    fn refused(&self, q: Queued<Xadd>, e: RedisError) {
        self.shared.counters.stream_add_errors.add(1);
        warn!(stream = %q.item.stream, error = %e, "XADD refused");
        q.item.answer(Err(TransportError::Redis(e)));
    }

    /// Looks for the entries in doubt in their streams: those found are
    /// acknowledged, the rest go back to the front of the batch, in order.
    async fn resolve(&self, w: &mut Writer) -> Result<(), TransportError> {
        let mut found: HashMap<Arc<str>, Vec<StreamId>> = HashMap::new();
        for q in &w.doubt {
            let stream = &q.item.stream;
            if found.contains_key(stream) {
                continue;
            }
            let mine: Vec<&[(Bytes, Bytes)]> = w
                .doubt
                .iter()
                .filter(|d| d.item.stream == *stream)
                .map(|d| d.item.fields.as_slice())
                .collect();
            let ids = self
                .look_for(stream, w.last.get(stream).copied(), &mine)
                .await?;
            found.insert(stream.clone(), ids);
        }
        let counters = &self.shared.counters;
        let mut again = Vec::new();
        let mut seen: HashMap<Arc<str>, usize> = HashMap::new();
        for q in w.doubt.drain(..) {
            let i = seen.entry(q.item.stream.clone()).or_insert(0);
            let ids = &found[&q.item.stream];
            if let Some(&id) = ids.get(*i) {
                counters.stream_found.add(1);
                w.last.insert(q.item.stream.clone(), id);
                counters.stream_added.add(1);
                q.item.answer(Ok(id));
            } else {
                again.push(q);
            }
            *i += 1;
        }
        if !again.is_empty() || !found.is_empty() {
            debug!(
                found = found.values().map(Vec::len).sum::<usize>(),
                written_again = again.len(),
                "XADDs in doubt checked"
            );
        }
        counters.stream_rewritten.add(again.len() as u64);
        again.append(&mut w.batch);
        w.batch = again;
        Ok(())
    }

    /// The ids of the entries of `stream` after `after` (the whole stream when
    /// `None`) equal to `mine[0]`, `mine[1]`, … in turn: as many as were
    /// written.
    async fn look_for(
        &self,
        stream: &Arc<str>,
        after: Option<StreamId>,
        mine: &[&[(Bytes, Bytes)]],
    ) -> Result<Vec<StreamId>, TransportError> {
        let mut ids = Vec::new();
        let mut from = after.map(StreamId::next);
        loop {
            let start = from.map_or_else(|| "-".to_owned(), |id| id.to_string());
            let mut bytes = Vec::new();
            let count = itoa::Buffer::new().format(CHECK_PAGE).to_owned();
            resp::write_command(
                &mut bytes,
                &[
                    b"XRANGE",
                    stream.as_bytes(),
                    start.as_bytes(),
                    b"+",
                    b"COUNT",
                    count.as_bytes(),
                ],
            );
            let frame = match &self.target {
                Target::Standalone(p) => p.request(bytes, 1).await?.pop().unwrap_or_default(),
                Target::Cluster(r) => {
                    r.command(crate::slot::key_slot(stream.as_bytes()), &bytes)
                        .await?
                }
            };
            let value = redis::parse_redis_value(&frame)?.extract_error()?;
            let entries: Vec<StreamEntry> = xrange_entries(stream, value).map_err(|e| {
                TransportError::Redis(RedisError::from((
                    redis::ErrorKind::UnexpectedReturnType,
                    "XRANGE reply",
                    e.to_string(),
                )))
            })?;
            let n = entries.len();
            for e in &entries {
                if ids.len() < mine.len() && e.fields.as_slice() == mine[ids.len()] {
                    ids.push(e.id);
                }
            }
            match entries.last() {
                Some(e) if n == CHECK_PAGE && ids.len() < mine.len() => from = Some(e.id.next()),
                _ => return Ok(ids),
            }
        }
    }
}

/// `e` once more, for each waiting caller.
fn copy_error(e: &TransportError) -> TransportError {
    match e {
        TransportError::GaveUp { role, attempts } => TransportError::GaveUp {
            role: *role,
            attempts: *attempts,
        },
        TransportError::NotConnected { role } => TransportError::NotConnected { role: *role },
        TransportError::Expired { max_age_ms } => TransportError::Expired {
            max_age_ms: *max_age_ms,
        },
        _ => TransportError::Closed,
    }
}
