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

use std::time::Duration;

use bytes::{Bytes, BytesMut};
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
    pub(crate) async fn next_frame(&mut self) -> RedisResult<Bytes> {
        loop {
            if let Some(frame) = self.buffered_frame()? {
                return Ok(frame);
            }
            self.fill().await?;
        }
    }

    /// The whole frame at the start of the buffer, if there is one.
    fn buffered_frame(&mut self) -> RedisResult<Option<Bytes>> {
        let len = resp::frame_len(&self.buf)
            .map_err(|e| io_error(std::io::ErrorKind::InvalidData, &e.to_string()))?;
        Ok(len.map(|len| self.buf.split_to(len).freeze()))
    }

    /// Reads more bytes (cancel-safe).
    async fn fill(&mut self) -> RedisResult<()> {
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
    /// checks the connection with `PING`; all bounded by `timeout`.
    ///
    /// # Errors
    /// The redis-rs error of the failed step: I/O (refused, reset), TLS,
    /// `WRONGPASS`/`NOPERM` from `AUTH`/`HELLO`, timeout.
    pub(crate) async fn open(
        endpoint: &Endpoint,
        tls: Option<&TlsCertificates>,
        timeout: Duration,
    ) -> RedisResult<RespConnection> {
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
                    let config = tls::client_config(*insecure, tls)?;
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
        self.send(cmd).await?;
        loop {
            if let Incoming::Reply(reply) = self.next().await? {
                return reply.error().map_or(Ok(()), Err);
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
            // Messages are measured and picked apart in one pass.
            if let Some(m) = resp::message(&conn.buf) {
                let frame = conn.buf.split_to(m.len).freeze();
                return Ok(Incoming::Message(Message {
                    kind: m.kind,
                    channel: lossy(&frame[m.channel]),
                    pattern: m.pattern.map(|p| lossy(&frame[p])),
                    payload: frame.slice(m.payload),
                }));
            }
            if let Some(frame) = conn.buffered_frame()? {
                return Ok(Incoming::Reply(Reply(frame)));
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
        };
        (reader, writer)
    }
}

async fn tcp(host: &str, port: u16) -> RedisResult<TcpStream> {
    let stream = TcpStream::connect((host, port)).await?;
    stream.set_nodelay(true)?;
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
