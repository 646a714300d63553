//! The publisher's connection, shared by every caller: commands are written in
//! order by a writer task (which coalesces whatever is waiting into one write)
//! and the replies are handed back in the same order by a reader task (Redis
//! answers in order). `PUBLISH` pipelines are written straight into one buffer
//! and their integer replies read without building values.
//!
//! It replaces redis-rs's `MultiplexedConnection` on the broadcast path, whose
//! per-command `Cmd`/`Pipeline` copies and combinator-based reply parsing were
//! about a quarter of a sending node's CPU (sio-bench `pipe`, perf). Other
//! commands are still encoded (`Cmd`) and their replies parsed by redis-rs.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use redis::{Cmd, FromRedisValue, RedisError, RedisResult};
use tokio::io::AsyncWriteExt as _;
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;

use super::{Frame, RespConnection, Writer, io_error};
use crate::resp;

/// `PUBLISH` (a channel) or `SPUBLISH` (a shard channel, Redis ≥ 7.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verb {
    Publish,
    SPublish,
}

impl Verb {
    /// The command's name.
    pub(crate) fn command(self) -> &'static [u8] {
        match self {
            Verb::Publish => b"PUBLISH",
            Verb::SPublish => b"SPUBLISH",
        }
    }
}

/// Bytes of queued commands the writer coalesces into one write, at most.
const MAX_WRITE: usize = 1 << 20;

/// What a request gets back: its reply frames, or the connection's failure.
pub(crate) type Replies = RedisResult<Vec<Bytes>>;

/// Commands written and not yet answered, oldest first.
type Waiting = Arc<Mutex<VecDeque<Pending>>>;

/// Told once why the connection ended (not when every handle was dropped).
pub(crate) type OnClose = Arc<dyn Fn(String) + Send + Sync>;

struct Request {
    bytes: Vec<u8>,
    replies: usize,
    tx: oneshot::Sender<Replies>,
}

struct Pending {
    left: usize,
    frames: Vec<Bytes>,
    tx: oneshot::Sender<Replies>,
}

/// A handle to the shared connection; clones share it. The connection closes
/// when the last handle is dropped, or when Redis or the network ends it.
#[derive(Clone)]
pub(crate) struct MuxConnection {
    tx: mpsc::UnboundedSender<Request>,
}

impl std::fmt::Debug for MuxConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MuxConnection")
            .field("open", &!self.tx.is_closed())
            .finish()
    }
}

fn dropped() -> RedisError {
    io_error(std::io::ErrorKind::ConnectionAborted, "connection closed")
}

/// Answers everything written and not answered with `reason`.
fn fail_all(waiting: &Waiting, reason: &RedisError) {
    let all = std::mem::take(&mut *waiting.lock().unwrap_or_else(PoisonError::into_inner));
    for p in all {
        let _ = p.tx.send(Err(io_error(
            std::io::ErrorKind::ConnectionReset,
            &reason.to_string(),
        )));
    }
}

impl MuxConnection {
    /// Starts the reader and writer tasks on `conn`. `on_close` is called once
    /// with the reason when the connection fails (I/O error, end of stream,
    /// a reply nothing asked for, a write that took longer than
    /// `write_timeout`: a peer that stopped reading).
    pub(crate) fn start(
        conn: RespConnection,
        write_timeout: Duration,
        on_close: OnClose,
    ) -> MuxConnection {
        let (mut reader, writer) = conn.into_split();
        let (tx, rx) = mpsc::unbounded_channel();
        let waiting: Waiting = Arc::default();
        let w = waiting.clone();
        let close = on_close.clone();
        // Dropped when the reader ends, which stops the writer.
        let (reader_alive, reader_gone) = oneshot::channel::<()>();
        let read = tokio::spawn(async move {
            let _alive = reader_alive;
            let error = loop {
                let frame = match reader.next_frame().await {
                    Ok(Frame::Whole(frame)) => frame,
                    Ok(Frame::Oversized(_)) => {
                        break io_error(
                            std::io::ErrorKind::InvalidData,
                            "reply over the size limit",
                        );
                    }
                    Err(e) => break e,
                };
                if frame.first() == Some(&b'>') {
                    // A RESP3 push (e.g. client tracking) is not a reply.
                    continue;
                }
                let mut queue = w.lock().unwrap_or_else(PoisonError::into_inner);
                let Some(front) = queue.front_mut() else {
                    break io_error(
                        std::io::ErrorKind::InvalidData,
                        "Redis sent a reply to no command",
                    );
                };
                front.frames.push(frame);
                front.left -= 1;
                if front.left == 0
                    && let Some(done) = queue.pop_front()
                {
                    drop(queue);
                    let _ = done.tx.send(Ok(done.frames));
                }
            };
            fail_all(&w, &error);
            close(error.to_string());
        });
        tokio::spawn(write_loop(
            rx,
            writer,
            write_timeout,
            waiting,
            (read.abort_handle(), reader_gone),
            on_close,
        ));
        MuxConnection { tx }
    }

    /// Writes `bytes` (`replies` commands) and returns their replies, in order,
    /// as received (error replies included).
    ///
    /// # Errors
    /// The connection failed or was closed before all replies arrived.
    pub(crate) async fn request(&self, bytes: Vec<u8>, replies: usize) -> Replies {
        if replies == 0 {
            return Ok(Vec::new());
        }
        self.enqueue(bytes, replies)?.await.map_err(|_| dropped())?
    }

    /// Queues `bytes` (`replies` ≥ 1 commands) for writing now, without
    /// awaiting: requests enqueued one after the other are written in that
    /// order (what keeps fire-and-forget publishes in order). The receiver
    /// gets the replies, as [`MuxConnection::request`].
    ///
    /// # Errors
    /// The connection is closed.
    pub(crate) fn enqueue(
        &self,
        bytes: Vec<u8>,
        replies: usize,
    ) -> RedisResult<oneshot::Receiver<Replies>> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Request { bytes, replies, tx })
            .map_err(|_| dropped())?;
        Ok(rx)
    }

    /// Whether the connection has ended (its writer is gone).
    pub(crate) fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// One command, its reply parsed by redis-rs.
    ///
    /// # Errors
    /// Redis's error reply, a reply that does not fit `T`, or a failed
    /// connection.
    pub(crate) async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> RedisResult<T> {
        let frames = self.request(cmd.get_packed_command(), 1).await?;
        let value = redis::parse_redis_value(&frames[0])?.extract_error()?;
        Ok(T::from_redis_value(value)?)
    }

    /// `PUBLISH channel payload` (or `SPUBLISH`, per item) for each item, in
    /// one write; the number of clients that received each.
    ///
    /// # Errors
    /// The first error reply (e.g. `NOPERM`), or a failed connection.
    pub(crate) async fn publish<'a>(
        &self,
        items: impl ExactSizeIterator<Item = (Verb, &'a str, &'a [u8])> + Clone,
    ) -> RedisResult<Vec<u64>> {
        let n = items.len();
        let size: usize = items.clone().map(|(_, c, p)| c.len() + p.len() + 48).sum();
        let mut bytes = Vec::with_capacity(size);
        for (verb, channel, payload) in items {
            resp::write_command(&mut bytes, &[verb.command(), channel.as_bytes(), payload]);
        }
        let frames = self.request(bytes, n).await?;
        frames
            .iter()
            .map(|f| match resp::integer(f) {
                Some(n) => Ok(u64::try_from(n).unwrap_or(0)),
                None => Err(match redis::parse_redis_value(f)?.extract_error() {
                    Err(e) => e,
                    Ok(_) => io_error(std::io::ErrorKind::InvalidData, "PUBLISH reply"),
                }),
            })
            .collect()
    }
}

/// Writes requests in order, each registered as waiting before its bytes go
/// out; ends when every handle is dropped (closing the connection), when a
/// write fails, or when the reader ended (requests still queued then fail at
/// once instead of waiting for their timeout).
async fn write_loop(
    mut rx: mpsc::UnboundedReceiver<Request>,
    mut writer: Writer,
    write_timeout: Duration,
    waiting: Waiting,
    (read, mut reader_gone): (AbortHandle, oneshot::Receiver<()>),
    on_close: OnClose,
) {
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let first = tokio::select! {
            req = rx.recv() => match req {
                Some(req) => req,
                None => break,
            },
            _ = &mut reader_gone => {
                // The reader failed every waiting command; nothing more is answered.
                fail_all(&waiting, &dropped());
                return;
            }
        };
        let mut next = Some(first);
        {
            let mut queue = waiting.lock().unwrap_or_else(PoisonError::into_inner);
            while let Some(req) = next.take() {
                buf.extend_from_slice(&req.bytes);
                queue.push_back(Pending {
                    left: req.replies,
                    frames: Vec::with_capacity(req.replies),
                    tx: req.tx,
                });
                if buf.len() < MAX_WRITE {
                    next = rx.try_recv().ok();
                }
            }
        }
        let written = match tokio::time::timeout(write_timeout, writer.write_all(&buf)).await {
            Ok(written) => written,
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "write to Redis timed out",
            )),
        };
        if let Err(e) = written {
            read.abort();
            let e = RedisError::from(e);
            fail_all(&waiting, &e);
            on_close(e.to_string());
            return;
        }
        buf.clear();
        if buf.capacity() > MAX_WRITE {
            buf = Vec::new();
        }
    }
    read.abort();
    let _ = writer.shutdown().await;
}
