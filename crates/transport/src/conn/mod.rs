//! Our own Redis connection, used by the subscriber and (through
//! [`mux`]) the publisher: TCP, TLS (rustls) or Unix socket, the
//! `HELLO`/`AUTH`/`SELECT` handshake, and a reader that frames replies itself
//! ([`crate::resp`]) so that a pub/sub message costs no parsing beyond finding
//! its three or four fields, and its payload is a slice of the read buffer (no
//! copy).
//!
//! Why not redis-rs's connections: their combinator-based parser built a
//! `redis::Value` tree for every reply and copied every payload; on the
//! broadcast path that was about a third of a node's CPU (sio-bench `pipe`,
//! perf). Commands are still encoded by redis-rs (`Cmd`), and replies other
//! than messages are parsed by redis-rs when their content matters.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::{Buf as _, Bytes, BytesMut};
use redis::{ConnectionAddr, RedisError, RedisResult, TlsCertificates};
use tokio::io::{
    AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadHalf, WriteHalf,
};
use tokio::net::TcpStream;

pub(crate) mod mux;
mod tls;

use crate::config::Endpoint;
use crate::message::Message;
use crate::resp;
use crate::shared::millis;

/// Bytes asked of the socket per read when the buffer runs low.
const READ_CHUNK: usize = 64 * 1024;

/// A read buffer that grew past this (for a large message) is given back once
/// it is empty, so that one 60 MiB message does not pin 60 MiB per connection.
const KEEP_BUFFER: usize = 4 * READ_CHUNK;

/// TCP keepalive on every connection: probes after this much idle time, then
/// every [`KEEPALIVE_INTERVAL`], so that a half-open connection is found even
/// with health checks off (about 15 + 3 × 5 s on Linux).
const KEEPALIVE_IDLE: Duration = Duration::from_secs(15);
/// See [`KEEPALIVE_IDLE`].
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
/// Unanswered keepalive probes before the kernel drops the connection.
#[cfg(any(target_os = "linux", target_os = "macos", target_os = "freebsd"))]
const KEEPALIVE_RETRIES: u32 = 3;

/// How every connection of a transport is made: shared by its workers, so that
/// the TLS client configuration (and its read of the system certificate store)
/// is built once, not at every attempt.
pub(crate) struct Dial {
    /// Root CA / client certificate for `rediss://` endpoints.
    certs: Option<TlsCertificates>,
    /// The rustls configuration, once built, for `insecure` false / true.
    tls: Mutex<[Option<Arc<rustls::ClientConfig>>; 2]>,
    /// Bound of one whole attempt (Sentinel lookup, TCP, TLS, handshake).
    pub(crate) connect_timeout: Duration,
    /// Largest bulk string (message payload) accepted, bytes.
    pub(crate) max_bulk: usize,
}

impl std::fmt::Debug for Dial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dial")
            .field("certs", &self.certs.is_some())
            .field("connect_timeout", &self.connect_timeout)
            .field("max_bulk", &self.max_bulk)
            .finish_non_exhaustive()
    }
}

impl Dial {
    pub(crate) fn new(
        certs: Option<TlsCertificates>,
        connect_timeout: Duration,
        max_bulk: usize,
    ) -> Dial {
        Dial {
            certs,
            tls: Mutex::new([None, None]),
            connect_timeout,
            max_bulk,
        }
    }

    /// The TLS client configuration, built on first use (off the async
    /// threads: loading the system roots reads files).
    async fn tls_config(&self, insecure: bool) -> RedisResult<Arc<rustls::ClientConfig>> {
        let slot = usize::from(insecure);
        if let Some(config) = &self.tls.lock().unwrap_or_else(PoisonError::into_inner)[slot] {
            return Ok(config.clone());
        }
        let certs = self.certs.clone();
        let config =
            tokio::task::spawn_blocking(move || tls::client_config(insecure, certs.as_ref()))
                .await
                .map_err(|e| io_error(std::io::ErrorKind::Other, &e.to_string()))??;
        self.tls.lock().unwrap_or_else(PoisonError::into_inner)[slot] = Some(config.clone());
        Ok(config)
    }
}

/// Any stream a connection runs on.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The reading half of a connection.
pub(crate) type Reader = FrameReader<ReadHalf<Box<dyn Io>>>;
/// The writing half of a connection.
pub(crate) type Writer = WriteHalf<Box<dyn Io>>;

/// What arrived on the connection.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// A `message`, `pmessage` or `smessage`.
    Message(Message),
    /// A message whose payload was over the bulk limit, skipped without being
    /// buffered.
    Oversized {
        /// The whole frame's length, bytes.
        len: usize,
    },
    /// Any other reply: confirmations, `PONG`, `OK`, errors.
    Reply(Reply),
}

/// A reply other than a message, as received (one whole RESP frame).
#[derive(Debug)]
pub(crate) struct Reply(Bytes);

impl Reply {
    /// See [`resp::reply_name`]: `subscribe`, `pong`, `PONG`, `OK`…
    pub(crate) fn name(&self) -> Option<&[u8]> {
        resp::reply_name(&self.0)
    }

    /// The reply as a redis-rs value (for replies off the message path).
    pub(crate) fn value(&self) -> RedisResult<redis::Value> {
        redis::parse_redis_value(&self.0)
    }

    /// The error Redis answered, if it is one (parsed by redis-rs, so that
    /// its kind and retry advice are redis-rs's).
    pub(crate) fn error(&self) -> Option<RedisError> {
        if !resp::is_error(&self.0) {
            return None;
        }
        Some(match redis::parse_redis_value(&self.0) {
            Ok(v) => v
                .extract_error()
                .err()
                .unwrap_or_else(|| io_error(std::io::ErrorKind::InvalidData, "bad error reply")),
            Err(e) => e,
        })
    }
}

/// One connection, handshake done. Not split: the subscriber reads and
/// writes from one task; [`RespConnection::into_split`] splits it for the
/// publisher's reader and writer tasks.
pub(crate) struct RespConnection {
    conn: FrameReader<Box<dyn Io>>,
}

impl std::fmt::Debug for RespConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RespConnection")
            .field("buffered", &self.conn.buf.len())
            .finish_non_exhaustive()
    }
}

/// Reads whole RESP frames from a stream.
pub(crate) struct FrameReader<R> {
    io: R,
    buf: BytesMut,
    /// Largest bulk string accepted, bytes.
    max_bulk: usize,
    /// Bytes of an oversized frame still to be read and dropped.
    skip_left: usize,
}

/// One frame from [`FrameReader::next_frame`].
#[derive(Debug)]
pub(crate) enum Frame {
    /// A whole frame, as received.
    Whole(Bytes),
    /// A frame over the bulk limit, skipped; its length in bytes.
    Oversized(usize),
}

impl<R> std::fmt::Debug for FrameReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameReader")
            .field("buffered", &self.buf.len())
            .finish_non_exhaustive()
    }
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// The next whole frame, as received. Cancel-safe: bytes read stay buffered
    /// until a whole frame is there.
    ///
    /// # Errors
    /// I/O errors, the end of the connection, and bytes that are not RESP (all
    /// as I/O errors: the connection is unusable).
    pub(crate) async fn next_frame(&mut self) -> RedisResult<Frame> {
        loop {
            if let Some(frame) = self.buffered_frame()? {
                return Ok(frame);
            }
            self.fill().await?;
        }
    }

    /// The frame at the start of the buffer, if a whole one is there, or an
    /// oversized one, whose bytes are then dropped as they arrive (never
    /// buffered whole). `None`: read more.
    fn buffered_frame(&mut self) -> RedisResult<Option<Frame>> {
        if !self.discard() {
            return Ok(None);
        }
        let measured = resp::measure(&self.buf, self.max_bulk)
            .map_err(|e| io_error(std::io::ErrorKind::InvalidData, &e.to_string()))?;
        Ok(match measured {
            resp::Measure::Partial => None,
            resp::Measure::Whole(len) => Some(Frame::Whole(self.buf.split_to(len).freeze())),
            resp::Measure::Oversized(len) => {
                self.skip_left = len;
                self.discard();
                Some(Frame::Oversized(len))
            }
        })
    }

    /// Drops what is buffered of an oversized frame; true once none of it is
    /// left to read.
    fn discard(&mut self) -> bool {
        // The message path calls this for every frame: nothing to drop is the
        // common case, and `split_to(0)` is not free (it shares the buffer).
        if self.skip_left == 0 {
            return true;
        }
        let n = self.skip_left.min(self.buf.len());
        self.buf.advance(n);
        self.skip_left -= n;
        self.skip_left == 0
    }

    /// Reads more bytes (cancel-safe).
    async fn fill(&mut self) -> RedisResult<()> {
        if self.buf.is_empty() && self.buf.capacity() > KEEP_BUFFER {
            self.buf = BytesMut::with_capacity(READ_CHUNK);
        }
        if self.buf.capacity() - self.buf.len() < READ_CHUNK / 4 {
            self.buf.reserve(READ_CHUNK);
        }
        if self.io.read_buf(&mut self.buf).await? == 0 {
            return Err(io_error(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed by Redis",
            ));
        }
        Ok(())
    }
}

pub(crate) fn io_error(kind: std::io::ErrorKind, what: &str) -> RedisError {
    RedisError::from(std::io::Error::new(kind, what.to_owned()))
}

impl RespConnection {
    /// Connects to the endpoint's server (asking the Sentinels which one,
    /// for Sentinel endpoints), authenticates, selects the protocol and
    /// checks the connection with `PING`; all bounded by the connect timeout.
    ///
    /// # Errors
    /// The redis-rs error of the failed step: I/O (refused, reset), TLS,
    /// `WRONGPASS`/`NOPERM` from `AUTH`/`HELLO`, timeout.
    pub(crate) async fn open(endpoint: &Endpoint, dial: &Dial) -> RedisResult<RespConnection> {
        let timeout = dial.connect_timeout;
        let attempt = async {
            let client = endpoint.client().await?;
            let info = client.get_connection_info();
            let io: Box<dyn Io> = match info.addr() {
                ConnectionAddr::Tcp(host, port) => Box::new(tcp(host, *port).await?),
                ConnectionAddr::TcpTls {
                    host,
                    port,
                    insecure,
                    ..
                } => {
                    let config = dial.tls_config(*insecure).await?;
                    let name = rustls::pki_types::ServerName::try_from(host.as_str())
                        .map_err(|e| {
                            RedisError::from((
                                redis::ErrorKind::InvalidClientConfig,
                                "bad TLS server name",
                                e.to_string(),
                            ))
                        })?
                        .to_owned();
                    let stream = tcp(host, *port).await?;
                    Box::new(
                        tokio_rustls::TlsConnector::from(config)
                            .connect(name, stream)
                            .await?,
                    )
                }
                #[cfg(unix)]
                ConnectionAddr::Unix(path) => {
                    Box::new(tokio::net::UnixStream::connect(path).await?)
                }
                _ => {
                    return Err(RedisError::from((
                        redis::ErrorKind::InvalidClientConfig,
                        "unsupported address type",
                    )));
                }
            };
            let mut conn = RespConnection {
                conn: FrameReader {
                    io,
                    buf: BytesMut::with_capacity(READ_CHUNK),
                    max_bulk: dial.max_bulk,
                    skip_left: 0,
                },
            };
            conn.handshake(info.redis_settings()).await?;
            Ok(conn)
        };
        tokio::time::timeout(timeout, attempt)
            .await
            .unwrap_or_else(|_| Err(connect_timeout_error(timeout)))
    }

    /// `HELLO 3 [AUTH]` or `AUTH`, `SELECT` when the URL names a database,
    /// then `PING`, as redis-rs does on its own connections.
    async fn handshake(&mut self, settings: &redis::RedisConnectionInfo) -> RedisResult<()> {
        if settings.protocol().supports_resp3() {
            let mut hello = redis::cmd("HELLO");
            hello.arg(3);
            if let Some(password) = settings.password() {
                hello
                    .arg("AUTH")
                    .arg(settings.username().unwrap_or("default"))
                    .arg(password);
            }
            self.call(&hello).await?;
        } else if let Some(password) = settings.password() {
            let mut auth = redis::cmd("AUTH");
            if let Some(user) = settings.username() {
                auth.arg(user);
            }
            self.call(auth.arg(password)).await?;
        }
        if settings.db() != 0 {
            self.call(redis::cmd("SELECT").arg(settings.db())).await?;
        }
        self.call(&redis::cmd("PING")).await?;
        Ok(())
    }

    /// Sends `cmd` and waits for its reply, an error reply being an `Err`
    /// (before any subscription only: no message can arrive meanwhile).
    async fn call(&mut self, cmd: &redis::Cmd) -> RedisResult<()> {
        let reply = self.command(cmd).await?;
        reply.error().map_or(Ok(()), Err)
    }

    /// Sends `cmd` and returns its reply, error replies included (before any
    /// subscription only: no message can arrive meanwhile). Not bounded in
    /// time: the caller puts a deadline on it.
    ///
    /// # Errors
    /// I/O errors: the connection is unusable.
    pub(crate) async fn command(&mut self, cmd: &redis::Cmd) -> RedisResult<Reply> {
        self.send(cmd).await?;
        loop {
            if let Incoming::Reply(reply) = self.next().await? {
                return Ok(reply);
            }
        }
    }

    /// Sends `cmd` and returns its reply (error replies included), or
    /// `Ok(Err(len))` as soon as more than `max_frame` bytes of it are
    /// buffered without the reply being whole: the rest is unread, so the
    /// connection must be dropped. For replies whose size the server decides
    /// (an `XREAD` batch). Not bounded in time: the caller puts a
    /// deadline on it.
    ///
    /// # Errors
    /// I/O errors: the connection is unusable.
    pub(crate) async fn command_within(
        &mut self,
        cmd: &redis::Cmd,
        max_frame: usize,
    ) -> RedisResult<Result<Reply, usize>> {
        self.send(cmd).await?;
        let conn = &mut self.conn;
        loop {
            // Measured against the hard limit only: the frame's total is
            // what is bounded here, whatever its bulk strings.
            let measured = if conn.discard() {
                resp::measure(&conn.buf, resp::MAX_BULK)
                    .map_err(|e| io_error(std::io::ErrorKind::InvalidData, &e.to_string()))?
            } else {
                resp::Measure::Partial
            };
            match measured {
                resp::Measure::Whole(len) if len <= max_frame => {
                    return Ok(Ok(Reply(conn.buf.split_to(len).freeze())));
                }
                resp::Measure::Whole(len) | resp::Measure::Oversized(len) => return Ok(Err(len)),
                resp::Measure::Partial if conn.buf.len() > max_frame => {
                    return Ok(Err(conn.buf.len()));
                }
                resp::Measure::Partial => conn.fill().await?,
            }
        }
    }

    /// Writes one command (encoded by redis-rs).
    ///
    /// # Errors
    /// I/O errors: the connection is unusable.
    pub(crate) async fn send(&mut self, cmd: &redis::Cmd) -> RedisResult<()> {
        self.conn.io.write_all(&cmd.get_packed_command()).await?;
        self.conn.io.flush().await?;
        Ok(())
    }

    /// The next message or reply. Cancel-safe, as [`FrameReader::next_frame`].
    ///
    /// # Errors
    /// As [`FrameReader::next_frame`].
    pub(crate) async fn next(&mut self) -> RedisResult<Incoming> {
        let conn = &mut self.conn;
        loop {
            if !conn.discard() {
                conn.fill().await?;
                continue;
            }
            // Messages are measured and picked apart in one pass.
            if let Some(m) = resp::message(&conn.buf) {
                if m.payload.len() > conn.max_bulk {
                    let _ = conn.buf.split_to(m.len);
                    return Ok(Incoming::Oversized { len: m.len });
                }
                let frame = conn.buf.split_to(m.len).freeze();
                return Ok(Incoming::Message(Message {
                    kind: m.kind,
                    channel: lossy(&frame[m.channel]),
                    pattern: m.pattern.map(|p| lossy(&frame[p])),
                    payload: frame.slice(m.payload),
                }));
            }
            match conn.buffered_frame()? {
                Some(Frame::Whole(frame)) => return Ok(Incoming::Reply(Reply(frame))),
                Some(Frame::Oversized(len)) => return Ok(Incoming::Oversized { len }),
                None => {}
            }
            conn.fill().await?;
        }
    }

    /// The two halves, for a reader task and a writer task.
    pub(crate) fn into_split(self) -> (Reader, Writer) {
        let (read, writer) = tokio::io::split(self.conn.io);
        let reader = FrameReader {
            io: read,
            buf: self.conn.buf,
            max_bulk: self.conn.max_bulk,
            skip_left: self.conn.skip_left,
        };
        (reader, writer)
    }
}

async fn tcp(host: &str, port: u16) -> RedisResult<TcpStream> {
    let stream = TcpStream::connect((host, port)).await?;
    stream.set_nodelay(true)?;
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(KEEPALIVE_IDLE)
        .with_interval(KEEPALIVE_INTERVAL);
    #[cfg(any(target_os = "linux", target_os = "macos", target_os = "freebsd"))]
    let keepalive = keepalive.with_retries(KEEPALIVE_RETRIES);
    socket2::SockRef::from(&stream).set_tcp_keepalive(&keepalive)?;
    Ok(stream)
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A redis-rs error for a timed-out connection attempt.
fn connect_timeout_error(timeout: Duration) -> RedisError {
    RedisError::from(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("connection attempt timed out after {} ms", millis(timeout)),
    ))
}
