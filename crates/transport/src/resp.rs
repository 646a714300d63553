//! RESP2/RESP3 framing for the subscriber connection: finds where one reply
//! ends (any type, any nesting, without building it) and picks the fields of
//! pub/sub messages (`message`, `pmessage`, `smessage`) out of a frame
//! without copying. Everything else is handed to redis-rs's parser
//! ([`redis::parse_redis_value`]), which is rare on this connection.
//!
//! Follows the RESP3 specification (redis.io/docs/latest/develop/reference/protocol-spec):
//! line types `+ - : _ # , (`, length-prefixed `$ ! =`, aggregates `* > ~ %`
//! and attributes `|` (which precede the value they describe).

use std::ops::Range;

use crate::message::MessageKind;

/// A frame that is not RESP, or one larger than Redis could send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed RESP reply from Redis: {0}")]
pub(crate) struct ProtocolError(&'static str);

/// Largest bulk string Redis can send, bytes: its own `proto-max-bulk-len`
/// ceiling (512 MiB). The limit a connection applies is lower
/// ([`TransportConfig::max_message_bytes`](crate::TransportConfig::max_message_bytes)).
pub(crate) const MAX_BULK: usize = 512 * 1024 * 1024;

/// What [`measure`] found at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Measure {
    /// More bytes are needed to tell.
    Partial,
    /// A whole frame of this many bytes is there.
    Whole(usize),
    /// A frame of this many bytes whose last value is a bulk string over the
    /// limit: it can be skipped without buffering it.
    Oversized(usize),
}

/// Largest element count of one aggregate accepted.
const MAX_ELEMENTS: u64 = 1 << 32;

/// The length in bytes of the complete frame at the start of `buf`;
/// `Ok(None)` when more bytes are needed (no bulk limit but Redis's own).
#[cfg(test)]
pub(crate) fn frame_len(buf: &[u8]) -> Result<Option<usize>, ProtocolError> {
    match measure(buf, MAX_BULK)? {
        Measure::Partial => Ok(None),
        Measure::Whole(n) => Ok(Some(n)),
        Measure::Oversized(_) => Err(ProtocolError("bulk string over 512 MiB")),
    }
}

/// Measures the frame at the start of `buf`, bulk strings being at most
/// `max_bulk` bytes. A bulk string over it that is the frame's last value
/// (the payload of a pub/sub message) makes the frame [`Measure::Oversized`],
/// known as soon as its header is there; anywhere else it is an error.
///
/// # Errors
/// [`ProtocolError`] when the bytes are not RESP (unknown type byte, bad
/// number, missing CRLF after a bulk string, oversized length).
pub(crate) fn measure(buf: &[u8], max_bulk: usize) -> Result<Measure, ProtocolError> {
    let mut pos = 0;
    // Values still to read; aggregates add their children.
    let mut pending: u64 = 1;
    while pending > 0 {
        pending -= 1;
        let Some(&kind) = buf.get(pos) else {
            return Ok(Measure::Partial);
        };
        let Some(found) = line(buf, pos + 1) else {
            return Ok(Measure::Partial);
        };
        let (line, next) = found?;
        pos = next;
        match kind {
            b':' => {
                number(line)?;
            }
            b'+' | b'-' | b'_' | b'#' | b',' | b'(' => {}
            b'$' | b'!' | b'=' => {
                let n = number(line)?;
                if n < 0 {
                    // `$-1`: RESP2 null bulk string.
                    if kind != b'$' || n != -1 {
                        return Err(ProtocolError("negative length"));
                    }
                    continue;
                }
                let n = usize::try_from(n).map_err(|_| ProtocolError("length"))?;
                if n > max_bulk.min(MAX_BULK) {
                    if pending == 0 && n <= MAX_BULK {
                        return Ok(Measure::Oversized(pos + n + 2));
                    }
                    return Err(ProtocolError("bulk string over the limit"));
                }
                let end = pos + n;
                if buf.len() < end + 2 {
                    return Ok(Measure::Partial);
                }
                if &buf[end..end + 2] != b"\r\n" {
                    return Err(ProtocolError("bulk string not followed by CRLF"));
                }
                pos = end + 2;
            }
            b'*' | b'>' | b'~' | b'%' | b'|' => {
                let n = number(line)?;
                if n < 0 {
                    // `*-1`: RESP2 null array.
                    if kind != b'*' || n != -1 {
                        return Err(ProtocolError("negative length"));
                    }
                    continue;
                }
                let n = n.unsigned_abs();
                if n > MAX_ELEMENTS {
                    return Err(ProtocolError("aggregate too large"));
                }
                pending += match kind {
                    b'%' => 2 * n,
                    // The attribute's pairs, then the value it describes.
                    b'|' => 2 * n + 1,
                    _ => n,
                };
            }
            _ => return Err(ProtocolError("unknown type byte")),
        }
    }
    Ok(Measure::Whole(pos))
}

/// The line starting at `from` (without its CRLF) and where the next one
/// starts; `None` when its LF has not arrived yet. A line ended by a bare LF
/// is not RESP: an error.
fn line(buf: &[u8], from: usize) -> Option<Result<(&[u8], usize), ProtocolError>> {
    let rest = buf.get(from..)?;
    let nl = memchr::memchr(b'\n', rest)?;
    Some(match rest[..nl].strip_suffix(b"\r") {
        Some(body) => Ok((body, from + nl + 1)),
        None => Err(ProtocolError("line not ended by CRLF")),
    })
}

/// The complete CRLF-ended line starting at `from` and where the next one
/// starts, if there is one.
fn crlf_line(buf: &[u8], from: usize) -> Option<(&[u8], usize)> {
    line(buf, from)?.ok()
}

fn number(line: &[u8]) -> Result<i64, ProtocolError> {
    let (negative, digits) = match line.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, line),
    };
    // Up to 18 digits cannot overflow; longer ones take the careful way.
    if digits.is_empty() || digits.len() > 18 {
        return std::str::from_utf8(line)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or(ProtocolError("bad number"));
    }
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return Err(ProtocolError("bad number"));
        }
        n = n * 10 + i64::from(d - b'0');
    }
    Ok(if negative { -n } else { n })
}

/// Where the fields of one pub/sub message are inside its frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MessageFrame {
    pub(crate) kind: MessageKind,
    pub(crate) pattern: Option<Range<usize>>,
    pub(crate) channel: Range<usize>,
    pub(crate) payload: Range<usize>,
    /// The length of the whole frame, bytes.
    pub(crate) len: usize,
}

/// The bulk string whose header starts at `pos`, and where the next value
/// starts.
fn bulk_at(frame: &[u8], pos: usize) -> Option<(Range<usize>, usize)> {
    if frame.get(pos) != Some(&b'$') {
        return None;
    }
    let (len, start) = crlf_line(frame, pos + 1)?;
    let len = usize::try_from(number(len).ok()?).ok()?;
    let end = start.checked_add(len)?;
    (frame.get(end..end + 2)? == b"\r\n").then_some((start..end, end + 2))
}

/// The fields of the pub/sub message at the start of `frame`, if there is a
/// complete one there: an array (RESP2) or push (RESP3) of bulk strings
/// `message channel payload`, `pmessage pattern channel payload` or
/// `smessage channel payload`. `None` for any other reply and for an
/// incomplete frame (which [`frame_len`] then measures). One pass: the
/// subscriber's hot path.
pub(crate) fn message(frame: &[u8]) -> Option<MessageFrame> {
    let (&kind, _) = frame.split_first()?;
    if kind != b'*' && kind != b'>' {
        return None;
    }
    let (count, mut pos) = crlf_line(frame, 1)?;
    let count = match count {
        b"3" => 3,
        b"4" => 4,
        _ => return None,
    };
    let mut fields: [Range<usize>; 4] = [0..0, 0..0, 0..0, 0..0];
    for field in fields.iter_mut().take(count) {
        (*field, pos) = bulk_at(frame, pos)?;
    }
    let [name, a, b, c] = fields;
    let kind = match (&frame[name], count) {
        (b"message", 3) => MessageKind::Message,
        (b"smessage", 3) => MessageKind::SMessage,
        (b"pmessage", 4) => MessageKind::PMessage,
        _ => return None,
    };
    Some(match kind {
        MessageKind::PMessage => MessageFrame {
            kind,
            pattern: Some(a),
            channel: b,
            payload: c,
            len: pos,
        },
        _ => MessageFrame {
            kind,
            pattern: None,
            channel: a,
            payload: b,
            len: pos,
        },
    })
}

/// What a reply is called: the text of a simple string (`+PONG` → `PONG`,
/// `+OK`), or the first bulk string of an array or push (`subscribe`,
/// `pong` — what Redis answers to `PING` in RESP2 subscribed mode).
pub(crate) fn reply_name(frame: &[u8]) -> Option<&[u8]> {
    let (&kind, _) = frame.split_first()?;
    let (first, pos) = crlf_line(frame, 1)?;
    match kind {
        b'+' => Some(first),
        b'*' | b'>' => bulk_at(frame, pos).map(|(name, _)| &frame[name]),
        _ => None,
    }
}

/// The value of an integer reply (`:42\r\n`); `None` for any other frame.
pub(crate) fn integer(frame: &[u8]) -> Option<i64> {
    let (&kind, _) = frame.split_first()?;
    let (digits, _) = crlf_line(frame, 1)?;
    (kind == b':').then(|| number(digits).ok()).flatten()
}

/// Appends one command as a RESP array of bulk strings (what `Cmd` packs,
/// without building a `Cmd`).
pub(crate) fn write_command(out: &mut Vec<u8>, args: &[&[u8]]) {
    let mut n = itoa::Buffer::new();
    out.push(b'*');
    out.extend_from_slice(n.format(args.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for arg in args {
        out.push(b'$');
        out.extend_from_slice(n.format(arg.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// Whether the reply is an error (`-` simple error, `!` blob error).
pub(crate) fn is_error(frame: &[u8]) -> bool {
    matches!(frame.first(), Some(b'-' | b'!'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_payload_is_measured_from_its_header() {
        // A message whose 1 000 000-byte payload is over a 1000-byte limit: its
        // length is known before the payload arrives, so it can be skipped.
        let head = b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1000000\r\n";
        assert_eq!(
            measure(head, 1000),
            Ok(Measure::Oversized(head.len() + 1_000_000 + 2))
        );
        assert_eq!(measure(head, 1_000_000), Ok(Measure::Partial));
        // Over the limit but not the last value: not skippable.
        let inner = b"*2\r\n$1000000\r\n";
        assert!(measure(inner, 1000).is_err());
        // Redis's own ceiling is never exceeded.
        assert!(measure(b"$536870913\r\n", MAX_BULK).is_err());
    }

    fn all_prefixes_incomplete(frame: &[u8]) {
        for cut in 0..frame.len() {
            assert_eq!(frame_len(&frame[..cut]), Ok(None), "cut at {cut}");
        }
    }

    #[test]
    fn lengths_of_every_type() {
        let frames: &[&[u8]] = &[
            b"+OK\r\n",
            b"-NOPERM no\r\n",
            b":42\r\n",
            b"_\r\n",
            b"#t\r\n",
            b",1.5\r\n",
            b"(12345678901234567890\r\n",
            b"$5\r\nhe\r\no\r\n",
            b"$0\r\n\r\n",
            b"$-1\r\n",
            b"*-1\r\n",
            b"!3\r\nerr\r\n",
            b"=7\r\ntxt:abc\r\n",
            b"*0\r\n",
            b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n",
            b">4\r\n$8\r\npmessage\r\n$1\r\n*\r\n$1\r\nc\r\n$2\r\n\x00\xff\r\n",
            b"%2\r\n+a\r\n:1\r\n+b\r\n*2\r\n:1\r\n:2\r\n",
            b"~2\r\n+a\r\n+b\r\n",
            b"|1\r\n+key\r\n+val\r\n:7\r\n",
            b"*2\r\n*2\r\n:1\r\n*1\r\n$-1\r\n_\r\n",
        ];
        for f in frames {
            assert_eq!(
                frame_len(f),
                Ok(Some(f.len())),
                "{:?}",
                String::from_utf8_lossy(f)
            );
            all_prefixes_incomplete(f);
            let mut two = f.to_vec();
            two.extend_from_slice(b"+OK\r\n");
            assert_eq!(frame_len(&two), Ok(Some(f.len())));
        }
    }

    #[test]
    fn refuses_what_is_not_resp() {
        for bad in [
            &b"?x\r\n"[..],
            b"$abc\r\n",
            b"$3\r\nabcd\r\n",
            b"*-2\r\n",
            b"$-2\r\n",
            b">-1\r\n",
            b"$9999999999999\r\n",
            b"*1\r\n:1\rx\r\n",
        ] {
            assert!(
                frame_len(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn bare_lf_does_not_end_a_line() {
        // Found by the `resp` fuzz target: `#\0\n` measured as a whole frame of
        // 3 bytes. RESP ends every line with CRLF; a bare LF is an error, not a
        // line end (nor the start of one more byte to wait for).
        for bad in [
            &b"#\0\n"[..],
            b"+OK\n",
            b":42\n",
            b"$1\nx\r\n",
            b"*1\n:1\r\n",
            b"*1\r\n:1\n",
            b"|1\r\n+k\n+v\r\n:1\r\n",
        ] {
            assert!(
                frame_len(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        // The fast paths agree: no message, name or integer in such bytes.
        assert_eq!(
            message(b"*3\n$7\r\nmessage\r\n$1\r\na\r\n$1\r\nb\r\n"),
            None
        );
        assert_eq!(
            message(b"*3\r\n$7\nmessage\r\n$1\r\na\r\n$1\r\nb\r\n"),
            None
        );
        assert_eq!(reply_name(b"+PONG\n"), None);
        assert_eq!(reply_name(b"*1\r\n$4\npong\r\n"), None);
        assert_eq!(integer(b":1\n"), None);
        // A CR inside a line is the line's (a simple string's text here).
        assert_eq!(frame_len(b"+a\rb\r\n"), Ok(Some(6)));
    }

    #[test]
    fn picks_message_fields() {
        let f = b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$3\r\nabc\r\n";
        let m = message(f).unwrap();
        assert_eq!(m.kind, MessageKind::Message);
        assert_eq!(m.len, f.len());
        for cut in 0..f.len() {
            assert_eq!(message(&f[..cut]), None);
        }
        let mut two = f.to_vec();
        two.extend_from_slice(f);
        assert_eq!(message(&two).map(|m| m.len), Some(f.len()));
        assert_eq!(
            (&f[m.channel], &f[m.payload], m.pattern),
            (&b"ch"[..], &b"abc"[..], None)
        );

        let f = b">4\r\n$8\r\npmessage\r\n$3\r\np#*\r\n$3\r\np#x\r\n$0\r\n\r\n";
        let m = message(f).unwrap();
        assert_eq!(m.kind, MessageKind::PMessage);
        assert_eq!(&f[m.pattern.clone().unwrap()], b"p#*");
        assert_eq!((&f[m.channel], &f[m.payload]), (&b"p#x"[..], &b""[..]));

        let f = b">3\r\n$8\r\nsmessage\r\n$1\r\ns\r\n$1\r\n\r\r\n";
        let m = message(f).unwrap();
        assert_eq!(m.kind, MessageKind::SMessage);
        assert_eq!(&f[m.payload], b"\r");

        for other in [
            &b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n"[..],
            b"*2\r\n$4\r\npong\r\n$0\r\n\r\n",
            b"+PONG\r\n",
            b"*3\r\n$7\r\nMESSAGE\r\n$1\r\na\r\n$1\r\nb\r\n",
            b"*4\r\n$7\r\nmessage\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n",
        ] {
            assert_eq!(message(other), None, "{:?}", String::from_utf8_lossy(other));
        }
    }

    #[test]
    fn writes_commands_as_redis_rs_packs_them() {
        let mut out = Vec::new();
        write_command(&mut out, &[b"PUBLISH", b"ch", b"\x00\r\n"]);
        let packed = redis::cmd("PUBLISH")
            .arg("ch")
            .arg(&b"\x00\r\n"[..])
            .get_packed_command();
        assert_eq!(out, packed);
        assert_eq!(integer(b":42\r\n"), Some(42));
        assert_eq!(integer(b":-1\r\n"), Some(-1));
        assert_eq!(integer(b"+42\r\n"), None);
        assert_eq!(integer(b"-ERR x\r\n"), None);
    }

    #[test]
    fn names_replies() {
        assert_eq!(reply_name(b"+PONG\r\n"), Some(&b"PONG"[..]));
        assert_eq!(
            reply_name(b"*2\r\n$4\r\npong\r\n$0\r\n\r\n"),
            Some(&b"pong"[..])
        );
        assert_eq!(
            reply_name(b">3\r\n$10\r\npsubscribe\r\n$1\r\n*\r\n:1\r\n"),
            Some(&b"psubscribe"[..])
        );
        assert_eq!(reply_name(b":1\r\n"), None);
        assert_eq!(reply_name(b"*1\r\n:1\r\n"), None);
        assert!(is_error(b"-NOPERM x\r\n") && is_error(b"!1\r\nx\r\n"));
        assert!(!is_error(b"+OK\r\n"));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes: Vec<u8>) {
            if let Some(m) = message(&bytes) {
                proptest::prop_assert_eq!(frame_len(&bytes), Ok(Some(m.len)));
            }
            if let Ok(Some(n)) = frame_len(&bytes) {
                proptest::prop_assert!(n <= bytes.len());
                let _ = message(&bytes[..n]);
                let _ = reply_name(&bytes[..n]);
            }
        }
    }
}
