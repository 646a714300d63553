//! The subscriber connection's RESP framing, for the fuzz targets in `fuzz/`
//! (cargo feature `fuzzing`, off by default; not part of the supported API and
//! hidden from the docs).
//!
//! Thin wrappers over the crate's own framing, returning plain types. The
//! framing follows the RESP2/RESP3 specification
//! (redis.io/docs/latest/develop/reference/protocol-spec): line types
//! `+ - : _ # , (`, length-prefixed `$ ! =`, aggregates `* > ~ %` and
//! attributes `|`, which precede the value they describe. Every length is in
//! bytes and every position is a byte offset from the start of the buffer
//! given.
#![doc(hidden)]

use std::ops::Range;

use crate::MessageKind;
use crate::resp;

/// Largest bulk string Redis can send, bytes (its `proto-max-bulk-len`
/// ceiling, 512 MiB): the largest `max_bulk` [`frame`] honours.
pub const MAX_BULK: usize = resp::MAX_BULK;

/// What [`frame`] found at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framed {
    /// More bytes are needed to tell.
    Partial,
    /// A whole RESP2/RESP3 value (with the attributes before it) of this many
    /// bytes, CRLFs included, starts the buffer.
    Whole(usize),
    /// A value of this many bytes whose last part is a bulk string longer than
    /// `max_bulk`, known from that string's header: the reader skips it without
    /// buffering it. The length may be larger than the buffer.
    Oversized(usize),
}

/// Measures the RESP2/RESP3 value at the start of `buf` without building it,
/// bulk strings (`$`, `!`, `=`) being at most `max_bulk` bytes (capped at
/// [`MAX_BULK`]). A longer one that is the value's last part makes it
/// [`Framed::Oversized`]; anywhere else it is an error.
///
/// # Errors
/// The reason, as text, when the bytes are not RESP (unknown type byte, bad
/// number, bulk string not followed by CRLF, negative or oversized length).
pub fn frame(buf: &[u8], max_bulk: usize) -> Result<Framed, String> {
    match resp::measure(buf, max_bulk) {
        Ok(resp::Measure::Partial) => Ok(Framed::Partial),
        Ok(resp::Measure::Whole(n)) => Ok(Framed::Whole(n)),
        Ok(resp::Measure::Oversized(n)) => Ok(Framed::Oversized(n)),
        Err(e) => Err(e.to_string()),
    }
}

/// Where the fields of a pub/sub message are in the buffer it was found in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageFields {
    /// `message`, `pmessage` or `smessage`.
    pub kind: MessageKind,
    /// The pattern's bytes (`pmessage` only).
    pub pattern: Option<Range<usize>>,
    /// The channel's bytes.
    pub channel: Range<usize>,
    /// The payload's bytes.
    pub payload: Range<usize>,
    /// The length of the whole message frame, bytes.
    pub len: usize,
}

/// The fields of the pub/sub message at the start of `buf` when a complete one
/// is there: a RESP2 array (`*`) or RESP3 push (`>`) of bulk strings `message
/// channel payload`, `pmessage pattern channel payload` or `smessage channel
/// payload`. `None` for any other reply and for an incomplete one. Bulk
/// strings are not checked against a size limit here.
pub fn message(buf: &[u8]) -> Option<MessageFields> {
    resp::message(buf).map(|m| MessageFields {
        kind: m.kind,
        pattern: m.pattern,
        channel: m.channel,
        payload: m.payload,
        len: m.len,
    })
}

/// What a reply is called: the text of a RESP simple string (`+PONG\r\n` →
/// `PONG`), or the first bulk string of a RESP2 array or RESP3 push
/// (`subscribe`, `pong`); `None` otherwise. A sub-slice of `frame`.
pub fn reply_name(frame: &[u8]) -> Option<&[u8]> {
    resp::reply_name(frame)
}

/// The value of a RESP integer reply (`:42\r\n` → 42); `None` for any other
/// frame.
pub fn integer(frame: &[u8]) -> Option<i64> {
    resp::integer(frame)
}

/// Whether the frame is a RESP error reply: simple error (`-`) or RESP3 blob
/// error (`!`).
pub fn is_error(frame: &[u8]) -> bool {
    resp::is_error(frame)
}

/// One command as Redis reads it: a RESP array of bulk strings, one per
/// argument, in order.
pub fn command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    resp::write_command(&mut out, args);
    out
}
