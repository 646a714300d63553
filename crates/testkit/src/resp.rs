//! A tiny blocking RESP client, just enough to drive and inspect test servers.
//!
//! Commands are sent as RESP2 arrays of bulk strings. Replies are parsed as
//! RESP2, plus the RESP3 types a server sends after `HELLO 3`, so a test may
//! switch protocols on a [`RespConnection`] without breaking it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::error::{Result, TestkitError};

/// Longest bulk string or aggregate the parser accepts (512 MiB, Redis's own
/// `proto-max-bulk-len` default); anything larger is a protocol error.
const MAX_LEN: i64 = 512 * 1024 * 1024;

/// Deepest nesting of aggregates the parser accepts.
const MAX_DEPTH: usize = 32;

/// Default connect timeout of [`RespConnection::connect`] (1 s).
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Default read/write timeout of a [`RespConnection`] (10 s).
pub(crate) const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// One reply from a Redis server.
///
/// Error replies are values, not Rust errors: a test asserting on `NOAUTH` or
/// `MOVED` reads them from [`RespValue::Error`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RespValue {
    /// A simple string (`+OK`, `+PONG`), or a RESP3 big number in decimal.
    Simple(String),
    /// An error reply (`-ERR …`, `-NOAUTH …`, `-MOVED 3999 127.0.0.1:6381`,
    /// or a RESP3 blob error), without the leading `-`.
    Error(String),
    /// An integer reply.
    Integer(i64),
    /// A bulk string (or a RESP3 verbatim string, without its format prefix).
    Bulk(Vec<u8>),
    /// An array, or a RESP3 set or push message.
    Array(Vec<RespValue>),
    /// A RESP3 map, in the order the server sent it.
    Map(Vec<(RespValue, RespValue)>),
    /// A RESP3 boolean.
    Boolean(bool),
    /// A RESP3 double.
    Double(f64),
    /// A null bulk string, a null array, or the RESP3 null.
    Nil,
}

impl RespValue {
    /// The text of a simple string or of a UTF-8 bulk string; `None` for any
    /// other variant (including errors) or invalid UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            RespValue::Simple(s) => Some(s),
            RespValue::Bulk(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }

    /// The integer of an integer reply; `None` otherwise.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            RespValue::Integer(i) => Some(*i),
            _ => None,
        }
    }

    /// The elements of an array reply; `None` otherwise.
    pub fn as_array(&self) -> Option<&[RespValue]> {
        match self {
            RespValue::Array(items) => Some(items),
            _ => None,
        }
    }

    /// The message of an error reply (e.g. `NOAUTH Authentication required.`);
    /// `None` for any other variant.
    pub fn as_error(&self) -> Option<&str> {
        match self {
            RespValue::Error(e) => Some(e),
            _ => None,
        }
    }

    /// Whether this is an error reply.
    pub fn is_error(&self) -> bool {
        matches!(self, RespValue::Error(_))
    }

    /// Whether this is the simple string `OK`.
    pub fn is_ok(&self) -> bool {
        matches!(self, RespValue::Simple(s) if s == "OK")
    }
}

/// A blocking connection to one Redis server, speaking RESP over
/// [`std::net::TcpStream`].
///
/// Replies are read in order, one per command; pushes after `SUBSCRIBE` can be
/// read with [`RespConnection::read_reply`]. Reads and writes time out after
/// 10 s unless changed with [`RespConnection::set_timeout`].
#[derive(Debug)]
pub struct RespConnection {
    addr: SocketAddr,
    reader: BufReader<TcpStream>,
}

impl RespConnection {
    /// Connects to `addr` (connect timeout 1 s).
    ///
    /// # Errors
    ///
    /// [`TestkitError::Io`] if the TCP connection fails or times out.
    pub fn connect(addr: SocketAddr) -> Result<RespConnection> {
        RespConnection::connect_timeout(addr, CONNECT_TIMEOUT)
    }

    /// Connects to `addr`, giving up after `timeout`.
    ///
    /// # Errors
    ///
    /// [`TestkitError::Io`] if the TCP connection fails or times out.
    pub fn connect_timeout(addr: SocketAddr, timeout: Duration) -> Result<RespConnection> {
        let io = |source| TestkitError::Io { addr, source };
        let stream = TcpStream::connect_timeout(&addr, timeout).map_err(io)?;
        stream.set_nodelay(true).map_err(io)?;
        let mut conn = RespConnection {
            addr,
            reader: BufReader::new(stream),
        };
        conn.set_timeout(IO_TIMEOUT)?;
        Ok(conn)
    }

    /// The server address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sets the read and write timeout of later calls.
    ///
    /// # Errors
    ///
    /// [`TestkitError::Io`] if the socket option cannot be set (e.g. a zero
    /// duration).
    pub fn set_timeout(&mut self, timeout: Duration) -> Result<()> {
        let stream = self.reader.get_ref();
        stream
            .set_read_timeout(Some(timeout))
            .and_then(|()| stream.set_write_timeout(Some(timeout)))
            .map_err(|source| TestkitError::Io {
                addr: self.addr,
                source,
            })
    }

    /// Sends one command (each argument a bulk string) and reads its reply.
    ///
    /// An error reply from the server is returned as `Ok(RespValue::Error)`.
    ///
    /// # Errors
    ///
    /// [`TestkitError::Io`] on a socket error or timeout (including the server
    /// closing the connection), [`TestkitError::Protocol`] on a malformed reply.
    pub fn command<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<RespValue> {
        self.send(args)?;
        self.read_reply()
    }

    /// Sends one command without reading its reply (for pipelining, or before
    /// reading pushes with [`RespConnection::read_reply`]).
    ///
    /// # Errors
    ///
    /// [`TestkitError::Io`] on a socket error or timeout.
    pub fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<()> {
        let mut buf = Vec::with_capacity(16 + args.len() * 16);
        buf.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for arg in args {
            let arg = arg.as_ref();
            buf.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            buf.extend_from_slice(arg);
            buf.extend_from_slice(b"\r\n");
        }
        let stream = self.reader.get_mut();
        stream
            .write_all(&buf)
            .and_then(|()| stream.flush())
            .map_err(|source| TestkitError::Io {
                addr: self.addr,
                source,
            })
    }

    /// Reads the next reply (or push message) from the server.
    ///
    /// # Errors
    ///
    /// As for [`RespConnection::command`].
    pub fn read_reply(&mut self) -> Result<RespValue> {
        self.read_value(0)
    }

    fn protocol(&self, detail: impl Into<String>) -> TestkitError {
        TestkitError::Protocol {
            addr: self.addr,
            detail: detail.into(),
        }
    }

    fn read_line(&mut self) -> Result<String> {
        let mut line = Vec::new();
        let n = self
            .reader
            .read_until(b'\n', &mut line)
            .map_err(|source| TestkitError::Io {
                addr: self.addr,
                source,
            })?;
        if n == 0 {
            return Err(TestkitError::Io {
                addr: self.addr,
                source: std::io::ErrorKind::UnexpectedEof.into(),
            });
        }
        if !line.ends_with(b"\r\n") {
            return Err(self.protocol("line not terminated by CRLF"));
        }
        line.truncate(line.len() - 2);
        String::from_utf8(line).map_err(|_| self.protocol("line is not UTF-8"))
    }

    fn read_len(&mut self, text: &str) -> Result<i64> {
        let len: i64 = text
            .parse()
            .map_err(|_| self.protocol(format!("bad length {text:?}")))?;
        if len > MAX_LEN {
            return Err(self.protocol(format!("length {len} over limit")));
        }
        Ok(len)
    }

    fn read_blob(&mut self, len: i64) -> Result<Vec<u8>> {
        let len = usize::try_from(len).map_err(|_| self.protocol("negative blob length"))?;
        let mut buf = vec![0; len + 2];
        self.reader
            .read_exact(&mut buf)
            .map_err(|source| TestkitError::Io {
                addr: self.addr,
                source,
            })?;
        if !buf.ends_with(b"\r\n") {
            return Err(self.protocol("blob not terminated by CRLF"));
        }
        buf.truncate(len);
        Ok(buf)
    }

    fn read_items(&mut self, count: i64, depth: usize) -> Result<Vec<RespValue>> {
        let count = usize::try_from(count).map_err(|_| self.protocol("negative count"))?;
        let mut items = Vec::with_capacity(count.min(1024));
        for _ in 0..count {
            items.push(self.read_value(depth + 1)?);
        }
        Ok(items)
    }

    fn read_value(&mut self, depth: usize) -> Result<RespValue> {
        if depth > MAX_DEPTH {
            return Err(self.protocol("reply nested too deeply"));
        }
        let line = self.read_line()?;
        let Some(kind) = line.chars().next() else {
            return Err(self.protocol("empty line"));
        };
        let rest = &line[kind.len_utf8()..];
        match kind {
            '+' => Ok(RespValue::Simple(rest.to_owned())),
            '-' => Ok(RespValue::Error(rest.to_owned())),
            ':' => rest
                .parse()
                .map(RespValue::Integer)
                .map_err(|_| self.protocol(format!("bad integer {rest:?}"))),
            '(' => Ok(RespValue::Simple(rest.to_owned())),
            '_' => Ok(RespValue::Nil),
            '#' => match rest {
                "t" => Ok(RespValue::Boolean(true)),
                "f" => Ok(RespValue::Boolean(false)),
                _ => Err(self.protocol(format!("bad boolean {rest:?}"))),
            },
            ',' => rest
                .parse()
                .map(RespValue::Double)
                .map_err(|_| self.protocol(format!("bad double {rest:?}"))),
            '$' | '=' | '!' => {
                let len = self.read_len(rest)?;
                if len < 0 {
                    return Ok(RespValue::Nil);
                }
                let mut blob = self.read_blob(len)?;
                match kind {
                    '$' => Ok(RespValue::Bulk(blob)),
                    // Verbatim string: "txt:" format prefix, then the text.
                    '=' => Ok(RespValue::Bulk(blob.split_off(4.min(blob.len())))),
                    _ => Ok(RespValue::Error(
                        String::from_utf8_lossy(&blob).into_owned(),
                    )),
                }
            }
            '*' | '~' | '>' => {
                let len = self.read_len(rest)?;
                if len < 0 {
                    return Ok(RespValue::Nil);
                }
                self.read_items(len, depth).map(RespValue::Array)
            }
            '%' | '|' => {
                let len = self.read_len(rest)?;
                let flat = self.read_items(len.saturating_mul(2), depth)?;
                let mut pairs = Vec::with_capacity(flat.len() / 2);
                let mut it = flat.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    pairs.push((k, v));
                }
                if kind == '|' {
                    // An attribute precedes the real reply; drop it.
                    return self.read_value(depth);
                }
                Ok(RespValue::Map(pairs))
            }
            other => Err(self.protocol(format!("unknown type byte {other:?}"))),
        }
    }
}
