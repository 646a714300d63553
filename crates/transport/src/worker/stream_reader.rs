//! The stream reader worker: one dedicated connection blocked in
//! `XREAD COUNT <count> BLOCK <ms> STREAMS <stream> <last id>` (node-redis's
//! argument order), the entries handed to the handler in order, and after any
//! loss of the connection a reconnect with back-off that resumes from the last
//! entry id.
//!
//! * Its wait is bounded by `block` + the response timeout: a reply that does
//!   not come by then means the connection is dead (Redis answers a `BLOCK`ed
//!   `XREAD` with nil when the block ends), so it is replaced.
//! * A reply is bounded in size by `count` × `max_message_bytes` (+ 64 KiB):
//!   a larger one is not buffered further; the connection is replaced and the
//!   next read asks for one entry; one entry alone over `max_message_bytes`
//!   is skipped after learning its id with a small Lua script (ids only).
//! * After each (re)connection, and before each `XREAD` that follows a full
//!   batch (the reader is behind the writers, so `MAXLEN` may trim what it has
//!   not read yet), `XINFO STREAM` resolves the start `$` to the
//!   stream's `last-generated-id` (first connection only) and compares the
//!   stream's first entry with the last id read: trimming removes the oldest
//!   entries, so a first entry past the last id's successor means the
//!   trimming went past what was read, and unread entries may be gone.
//! * On a Redis Cluster the connection goes to the primary of the stream key's
//!   slot in the router's slot map (the node a `MOVED` named, once); after a
//!   loss the map is refreshed first.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::RedisError;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::retry::{Attempts, Next};
use crate::backoff::Backoff;
use crate::cluster::router::{Router, redirect};
use crate::cluster::topology::NodeAddr;
use crate::config::Endpoint;
use crate::conn::{Dial, RespConnection, io_error};
use crate::error::{ErrorClass, classify};
use crate::event::{ConnectionEvent, Counters, Role};
use crate::shared::{Shared, millis};
use crate::stream::{
    StreamHandler, StreamId, xinfo_count, xinfo_first_id, xinfo_id, xread_entries,
};

/// Room for the reply's framing beyond `count` × `max_message_bytes`.
const FRAME_SLACK: usize = 64 * 1024;

/// The id of the first entry at or after `ARGV[1]` (nil if none): used to step
/// over one entry too large to be read, without reading it.
const NEXT_ID_SCRIPT: &str = "local r = redis.call('XRANGE', KEYS[1], ARGV[1], '+', 'COUNT', 1) \
     if r[1] then return r[1][1] end return false";

/// Where the reader connects.
pub(crate) enum Place {
    /// A standalone server (or the one the Sentinels name).
    Endpoint(Box<Endpoint>),
    /// The primary of `slot` in the router's slot map.
    Cluster {
        /// The cluster transport's router.
        router: Arc<Router>,
        /// The stream key's slot.
        slot: u16,
    },
}

/// Why the reading phase ended.
enum Exit {
    Shutdown,
    /// The connection is unusable: reconnect now.
    Lost(String),
    /// Redis refused the read (`LOADING`, `NOPERM`, `WRONGTYPE`, `UNBLOCKED`…):
    /// reconnect after a back-off delay.
    Refused {
        reason: String,
        denied: bool,
    },
}

/// The worker of one stream reader.
pub(crate) struct StreamReaderWorker {
    pub(crate) stream: Arc<str>,
    pub(crate) place: Place,
    /// The last entry id handed over (or where reading starts); `None`: `$`
    /// not resolved yet.
    pub(crate) last: Option<StreamId>,
    pub(crate) count: usize,
    pub(crate) block: Duration,
    pub(crate) dial: Arc<Dial>,
    pub(crate) backoff: Backoff,
    pub(crate) response_timeout: Duration,
    /// Largest entry read, bytes ([`TransportConfig::max_message_bytes`]).
    pub(crate) max_entry: usize,
    pub(crate) shared: Arc<Shared>,
    pub(crate) handler: StreamHandler,
    /// Where the handle sees the last id.
    pub(crate) last_tx: watch::Sender<Option<StreamId>>,
    /// This reader's count of trim reports (the handle reads it).
    pub(crate) gaps: Arc<std::sync::atomic::AtomicU64>,
    /// This reader's count of entries trimmed before it read them.
    pub(crate) trimmed: Arc<std::sync::atomic::AtomicU64>,
    /// The stream's `entries-added` count up to the last id (Redis ≥ 7.0):
    /// known when reading started at `$` (or on an empty stream), then one
    /// more per entry read; what tells how many entries a trim took unread.
    position: Option<u64>,
    pub(crate) shutdown: CancellationToken,
    /// The node a `MOVED` named, for the next connection.
    moved: Option<NodeAddr>,
    /// The greatest first entry reported in a gap so far.
    reported_gap: StreamId,
    /// Read one entry at a time (after a reply over the size bound).
    shrink: bool,
    /// Step over the next entry, too large to be read (learnt at the next
    /// connection).
    skip_next: bool,
    /// `XINFO STREAM`'s reply was over the size bound once: not asked again.
    no_xinfo: bool,
    attempts: Attempts,
}

impl std::fmt::Debug for StreamReaderWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamReaderWorker")
            .field("stream", &self.stream)
            .field("last", &self.last)
            .finish_non_exhaustive()
    }
}

/// What a stream reader is made of, before its first connection.
pub(crate) struct ReaderParts {
    pub(crate) stream: Arc<str>,
    pub(crate) place: Place,
    pub(crate) start: Option<StreamId>,
    pub(crate) count: usize,
    pub(crate) block: Duration,
    pub(crate) dial: Arc<Dial>,
    pub(crate) backoff: Backoff,
    pub(crate) response_timeout: Duration,
    pub(crate) max_entry: usize,
    pub(crate) shared: Arc<Shared>,
    pub(crate) handler: StreamHandler,
    pub(crate) last_tx: watch::Sender<Option<StreamId>>,
    /// This reader's count of [`ConnectionEvent::StreamTrimmed`] reports.
    pub(crate) gaps: Arc<std::sync::atomic::AtomicU64>,
    /// This reader's count of entries trimmed unread.
    pub(crate) trimmed: Arc<std::sync::atomic::AtomicU64>,
}

impl StreamReaderWorker {
    /// A worker with nothing read yet.
    pub(crate) fn new(parts: ReaderParts) -> StreamReaderWorker {
        StreamReaderWorker {
            stream: parts.stream,
            place: parts.place,
            last: parts.start,
            count: parts.count,
            block: parts.block,
            dial: parts.dial,
            backoff: parts.backoff,
            response_timeout: parts.response_timeout,
            max_entry: parts.max_entry,
            shared: parts.shared,
            handler: parts.handler,
            last_tx: parts.last_tx,
            gaps: parts.gaps,
            trimmed: parts.trimmed,
            position: None,
            shutdown: CancellationToken::new(),
            moved: None,
            reported_gap: StreamId::default(),
            shrink: false,
            skip_next: false,
            no_xinfo: false,
            attempts: Attempts::new(Role::StreamReader),
        }
    }

    /// The first connection, tried once (as `Transport::connect` does), with
    /// `$` resolved.
    ///
    /// # Errors
    /// Why the connection or its first `XINFO STREAM` failed.
    pub(crate) async fn connect_initial(&mut self) -> Result<RespConnection, RedisError> {
        let mut conn = self.open().await?;
        match self.prepare(&mut conn).await {
            Ok(()) => Ok(conn),
            Err(Exit::Refused { reason, .. } | Exit::Lost(reason)) => Err(io_error(
                std::io::ErrorKind::ConnectionAborted,
                &format!("stream reader: {reason}"),
            )),
            Err(Exit::Shutdown) => Err(io_error(std::io::ErrorKind::Interrupted, "closed")),
        }
    }

    /// Runs until shutdown (or until the back-off gives up), starting with
    /// the connection made by [`StreamReaderWorker::connect_initial`].
    pub(crate) async fn run(mut self, mut conn: RespConnection) {
        loop {
            let exit = self.serve(&mut conn).await;
            drop(conn);
            let since = Instant::now();
            let (reason, delay) = match exit {
                Exit::Shutdown => return,
                Exit::Lost(reason) => (reason, None),
                Exit::Refused { reason, denied } => {
                    match self.attempts.failed(&reason, denied, &self.backoff) {
                        Next::Retry(delay) => (reason, Some(delay)),
                        Next::GiveUp(attempts) => return self.give_up(attempts, reason),
                    }
                }
            };
            warn!(stream = %self.stream, error = %reason, "redis stream reader connection lost, reconnecting");
            self.shared.emit(ConnectionEvent::Disconnected {
                role: Role::StreamReader,
                error: reason,
            });
            conn = match self.reconnect(delay).await {
                Some(conn) => conn,
                None => return,
            };
            let outage = since.elapsed();
            (self.shared.counters).reconnected(Role::StreamReader, Some(outage));
            let after = self.last.unwrap_or_default();
            info!(stream = %self.stream, %after, outage_ms = millis(outage), "redis stream reader reconnected, resuming");
            self.shared.emit(ConnectionEvent::Connected {
                role: Role::StreamReader,
            });
            self.shared.emit(ConnectionEvent::StreamResumed {
                stream: self.stream.to_string(),
                after,
                outage,
            });
        }
    }

    fn give_up(&self, attempts: u32, error: String) {
        self.shared.emit(ConnectionEvent::GaveUp {
            role: Role::StreamReader,
            attempts,
            error,
        });
    }

    /// Connects again, first waiting `delay` if given; `None` on shutdown or
    /// when the back-off gave up.
    async fn reconnect(&mut self, mut delay: Option<Duration>) -> Option<RespConnection> {
        loop {
            if let Some(delay) = delay.take() {
                tokio::select! {
                    biased;
                    () = self.shutdown.cancelled() => return None,
                    () = tokio::time::sleep(delay) => {}
                }
            }
            if self.shutdown.is_cancelled() {
                return None;
            }
            if let Place::Cluster { router, .. } = &self.place
                && self.moved.is_none()
            {
                // The owner may have changed (a failover): read the map again
                // (at most every 50 ms, whoever asks).
                let _ = tokio::time::timeout(self.response_timeout, router.refresh()).await;
            }
            let (reason, denied) = match self.open().await {
                Ok(mut conn) => match self.prepare(&mut conn).await {
                    Ok(()) => return Some(conn),
                    Err(Exit::Shutdown) => return None,
                    Err(Exit::Lost(reason)) => (reason, false),
                    Err(Exit::Refused { reason, denied }) => (reason, denied),
                },
                Err(e) => (e.to_string(), classify(&e) == ErrorClass::Denied),
            };
            match self.attempts.failed(&reason, denied, &self.backoff) {
                Next::Retry(d) => delay = Some(d),
                Next::GiveUp(attempts) => {
                    self.give_up(attempts, reason);
                    return None;
                }
            }
        }
    }

    /// A connection to where the stream lives now.
    async fn open(&mut self) -> Result<RespConnection, RedisError> {
        match &self.place {
            Place::Endpoint(endpoint) => RespConnection::open(endpoint, &self.dial).await,
            Place::Cluster { router, slot } => {
                let addr = self
                    .moved
                    .take()
                    .or_else(|| router.topology().primary_of(*slot).cloned());
                let Some(addr) = addr else {
                    return Err(io_error(
                        std::io::ErrorKind::NotConnected,
                        "no node serves the stream's slot",
                    ));
                };
                let endpoint = Endpoint::Direct(router.client(&addr)?);
                RespConnection::open(&endpoint, &self.dial).await
            }
        }
    }

    /// On a new connection, and while reading behind the writers: steps over an
    /// entry too large to read, resolves `$`, and checks for entries trimmed past
    /// the last id.
    async fn prepare(&mut self, conn: &mut RespConnection) -> Result<(), Exit> {
        if self.skip_next {
            self.step_over(conn).await?;
        }
        if self.no_xinfo {
            return Ok(());
        }
        let mut cmd = redis::cmd("XINFO");
        cmd.arg("STREAM").arg(&*self.stream);
        let reply = self
            .round_trip(conn, &cmd, self.max_entry.saturating_mul(2))
            .await?;
        let Some(reply) = reply else {
            // First and last entries over the bound: no more XINFO.
            self.no_xinfo = true;
            return Err(Exit::Lost("XINFO STREAM reply over the size bound".into()));
        };
        let info = match reply {
            Ok(info) => info,
            // No stream yet: nothing to resolve (`0-0` reads what comes) or to miss.
            Err(e) if e.to_string().contains("no such key") => {
                if self.last.is_none() {
                    self.last = Some(StreamId::default());
                    self.last_tx.send_replace(self.last);
                    self.position = Some(0);
                }
                return Ok(());
            }
            Err(e) => return Err(self.refused(e)),
        };
        match self.last {
            None => {
                let last = xinfo_id(&info, "last-generated-id");
                if last.is_none() {
                    debug!(stream = %self.stream, "XINFO STREAM without last-generated-id: reading from $");
                }
                self.last = last;
                self.last_tx.send_replace(last);
                self.position = xinfo_count(&info, "entries-added");
            }
            Some(last) => {
                // Trimming removes the oldest entries: if the stream's first
                // entry is past the successor of our last id, our last entry
                // is gone and unread ones after it may be too.
                if let Some(first) = xinfo_first_id(&info)
                    && first > last.next()
                    && first > self.reported_gap
                {
                    self.reported_gap = first;
                    Counters::incr(&self.shared.counters.stream_gaps);
                    self.gaps.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    // Entries before the first one still there: added minus
                    // length (XDEL'd ones count too); those past our position
                    // were never read.
                    let gone = xinfo_count(&info, "entries-added")
                        .zip(xinfo_count(&info, "length"))
                        .map(|(added, length)| added.saturating_sub(length));
                    let lost = gone
                        .zip(self.position)
                        .map(|(gone, at)| gone.saturating_sub(at));
                    self.position = gone;
                    if let Some(lost) = lost {
                        self.shared.counters.stream_trimmed.add(lost);
                        self.trimmed
                            .fetch_add(lost, std::sync::atomic::Ordering::Relaxed);
                        warn!(stream = %self.stream, %last, %first, lost, "stream trimmed past the last entry read: entries lost unread");
                    } else {
                        warn!(stream = %self.stream, %last, %first, "stream trimmed past the last entry read: entries may have been lost");
                    }
                    self.shared.emit(ConnectionEvent::StreamTrimmed {
                        stream: self.stream.to_string(),
                        after: last,
                        first,
                        lost,
                    });
                }
            }
        }
        Ok(())
    }

    /// Learns the id of the entry after the last one (too large to be read)
    /// and moves past it.
    async fn step_over(&mut self, conn: &mut RespConnection) -> Result<(), Exit> {
        let from = self.last.map_or(StreamId::default(), StreamId::next);
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(NEXT_ID_SCRIPT)
            .arg(1)
            .arg(&*self.stream)
            .arg(from.to_string());
        let reply = self.round_trip(conn, &cmd, FRAME_SLACK).await?;
        let value = match reply {
            Some(Ok(value)) => value,
            Some(Err(e)) => {
                error!(stream = %self.stream, error = %e, "cannot step over an oversized stream entry (EVAL refused)");
                return Err(self.refused(e));
            }
            None => return Err(Exit::Lost("EVAL reply over the size bound".into())),
        };
        if let Ok(text) = redis::from_redis_value::<String>(value)
            && let Ok(id) = text.parse::<StreamId>()
        {
            warn!(stream = %self.stream, %id, max = self.max_entry, "stream entry over max_message_bytes skipped (counted in TransportStats::stream_oversized)");
            Counters::incr(&self.shared.counters.stream_oversized);
            self.advance(id);
        }
        self.skip_next = false;
        self.shrink = false;
        Ok(())
    }

    /// One command and its reply within the response timeout: `None` when
    /// the reply is over `max_frame` bytes (the connection is then unusable),
    /// `Some(Err)` for an error reply.
    async fn round_trip(
        &self,
        conn: &mut RespConnection,
        cmd: &redis::Cmd,
        max_frame: usize,
    ) -> Result<Option<Result<redis::Value, RedisError>>, Exit> {
        let exchange = conn.command_within(cmd, max_frame.saturating_add(FRAME_SLACK));
        let reply = tokio::select! {
            biased;
            () = self.shutdown.cancelled() => return Err(Exit::Shutdown),
            r = tokio::time::timeout(self.response_timeout, exchange) => r,
        };
        match reply {
            Err(_) => Err(Exit::Lost(format!(
                "no reply within {} ms",
                millis(self.response_timeout)
            ))),
            Ok(Err(e)) => Err(Exit::Lost(e.to_string())),
            Ok(Ok(Err(_))) => Ok(None),
            Ok(Ok(Ok(reply))) => Ok(Some(match reply.error() {
                Some(e) => Err(e),
                None => reply.value(),
            })),
        }
    }

    /// What an error reply means: `MOVED` → reconnect to its node now;
    /// anything else → reconnect after a back-off delay.
    fn refused(&mut self, e: RedisError) -> Exit {
        let class = classify(&e);
        if class == ErrorClass::Connection {
            return Exit::Lost(e.to_string());
        }
        if let Place::Cluster { router, slot } = &self.place
            && class == ErrorClass::Redirect
        {
            Counters::incr(&self.shared.counters.redirects);
            let from = router.topology().primary_of(*slot).cloned();
            let target = from.as_ref().and_then(|from| redirect(&e, from));
            if let Some(("MOVED", addr)) = target {
                router.stale.notify_one();
                self.moved = Some(addr);
                return Exit::Lost(format!("redirected: {e}"));
            }
        }
        Exit::Refused {
            reason: e.to_string(),
            denied: class == ErrorClass::Denied,
        }
    }

    /// Moves the last id to `id` and tells the handle.
    fn advance(&mut self, id: StreamId) {
        if let Some(at) = &mut self.position {
            *at += 1;
        }
        self.last = Some(id);
        self.last_tx.send_replace(Some(id));
    }

    /// The reading phase: `XREAD` after `XREAD`, entries to the handler.
    async fn serve(&mut self, conn: &mut RespConnection) -> Exit {
        let wait = self.block + self.response_timeout;
        // Whether the last XREAD returned a full batch: the reader is behind the
        // writers, so `MAXLEN` may trim entries before it gets to them; the next XREAD
        // would step over them silently, so the trim check of a new connection
        // (`XINFO STREAM`, one round trip per full batch) runs first.
        let mut behind = false;
        loop {
            if behind && let Err(exit) = self.prepare(conn).await {
                return exit;
            }
            let count = if self.shrink { 1 } else { self.count };
            let start = self
                .last
                .map_or_else(|| "$".to_owned(), |id| id.to_string());
            let mut cmd = redis::cmd("XREAD");
            cmd.arg("COUNT")
                .arg(count)
                .arg("BLOCK")
                .arg(millis(self.block))
                .arg("STREAMS")
                .arg(&*self.stream)
                .arg(&start);
            let max_frame = count
                .saturating_mul(self.max_entry)
                .saturating_add(FRAME_SLACK);
            let reply = tokio::select! {
                biased;
                () = self.shutdown.cancelled() => return Exit::Shutdown,
                r = tokio::time::timeout(wait, conn.command_within(&cmd, max_frame)) => r,
            };
            let reply = match reply {
                Err(_) => {
                    return Exit::Lost(format!(
                        "no XREAD reply within {} ms (block {} ms + response timeout {} ms)",
                        millis(wait),
                        millis(self.block),
                        millis(self.response_timeout)
                    ));
                }
                Ok(Err(e)) => return Exit::Lost(e.to_string()),
                Ok(Ok(Err(len))) => {
                    if count == 1 {
                        self.skip_next = true;
                    } else {
                        self.shrink = true;
                    }
                    return Exit::Lost(format!(
                        "XREAD reply over {max_frame} bytes ({len} read), reading one entry at a time"
                    ));
                }
                Ok(Ok(Ok(reply))) => reply,
            };
            if let Some(e) = reply.error() {
                return self.refused(e);
            }
            let entries = match reply
                .value()
                .map_err(|e| e.to_string())
                .and_then(|v| xread_entries(&self.stream, v).map_err(|e| e.to_string()))
            {
                Ok(entries) => entries,
                Err(reason) => return Exit::Lost(reason),
            };
            // A good reply ends any outage's count of failures.
            self.attempts = Attempts::new(Role::StreamReader);
            if entries.is_empty() {
                continue;
            }
            self.shrink = false;
            behind = count > 1 && entries.len() >= count;
            for entry in entries {
                let id = entry.id;
                Counters::incr(&self.shared.counters.stream_entries);
                let handler = &self.handler;
                if catch_unwind(AssertUnwindSafe(|| handler(entry))).is_err() {
                    error!(stream = %self.stream, %id, "stream handler panicked; entry skipped");
                }
                self.advance(id);
            }
        }
    }
}
