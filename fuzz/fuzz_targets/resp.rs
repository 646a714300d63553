//! RESP2/RESP3 framing of the subscriber connection (sio-redis-transport, feature
//! `fuzzing`): never panics. Measuring is prefix-monotone: a prefix of the input
//! measures as incomplete or as the input does, so every strict prefix of a whole frame
//! is incomplete and bytes after it do not change its length. A whole frame is
//! within the input, not empty, ends with CRLF and measures the same alone. A bulk
//! limit below its largest bulk string makes it oversized (with the same length)
//! when that string is its last value, and an error otherwise; at or above it, whole.
//! A pub/sub message found is that whole frame, its fields are in order, inside it and
//! between CRLFs, and they re-encode to the same message. Reply names are sub-slices.
//! The input split at NUL bytes, encoded as a command, measures as one whole frame
//! named by its first argument, and as a message when it has the shape of one.
#![no_main]
use std::ops::Range;

use libfuzzer_sys::fuzz_target;
use sio_redis_transport::MessageKind;
use sio_redis_transport::fuzzing::{self, Framed, MAX_BULK, MessageFields};

fuzz_target!(|data: &[u8]| {
    let full = fuzzing::frame(data, MAX_BULK);
    // A bulk string over Redis's own ceiling is an error, never oversized.
    assert!(!matches!(full, Ok(Framed::Oversized(_))), "{full:?}");
    // A few prefixes (not all: the target stays linear in the input).
    for cut in cuts(data) {
        let part = fuzzing::frame(&data[..cut], MAX_BULK);
        assert!(
            part == Ok(Framed::Partial) || part == full,
            "cut at {cut}: {part:?}, whole input: {full:?}"
        );
    }
    if let Some(m) = fuzzing::message(data) {
        assert_eq!(
            full,
            Ok(Framed::Whole(m.len)),
            "a message is a whole frame: {m:?}"
        );
    }
    match full {
        Ok(Framed::Whole(n)) => whole_frame(data, n),
        Ok(Framed::Partial) => {
            // An oversized last bulk string is known from its header; its bytes are
            // not all there yet.
            for limit in [0, data.len() / 2] {
                if let Ok(Framed::Oversized(len)) = fuzzing::frame(data, limit) {
                    assert!(len > data.len(), "limit {limit}: oversized {len}");
                }
            }
        }
        _ => {}
    }
    let args: Vec<&[u8]> = data.split(|&b| b == 0).take(16).collect();
    command(&args);
});

/// Checks the whole frame of `n` bytes at the start of `data`.
fn whole_frame(data: &[u8], n: usize) {
    assert!(n > 0 && n <= data.len(), "whole {n} of {}", data.len());
    let frame = &data[..n];
    assert!(
        frame.ends_with(b"\r\n"),
        "a RESP value ends with CRLF: {:?}",
        String::from_utf8_lossy(frame)
    );
    assert_eq!(fuzzing::frame(frame, MAX_BULK), Ok(Framed::Whole(n)));
    for cut in cuts(frame).filter(|&c| c < n) {
        assert_eq!(
            fuzzing::frame(&frame[..cut], MAX_BULK),
            Ok(Framed::Partial),
            "cut at {cut} of {n}"
        );
    }
    let mut longer = frame.to_vec();
    longer.extend_from_slice(b"?\xff");
    assert_eq!(
        fuzzing::frame(&longer, MAX_BULK),
        Ok(Framed::Whole(n)),
        "trailing bytes"
    );
    bulk_limit(frame, None);

    let m = fuzzing::message(frame);
    assert_eq!(
        m,
        fuzzing::message(data),
        "the bytes after a frame do not change its message"
    );
    if let Some(m) = m {
        message_fields(frame, &m);
    }
    if let Some(name) = fuzzing::reply_name(frame) {
        assert!(within(frame, name), "reply name outside the frame");
    }
    if let Some(i) = fuzzing::integer(frame) {
        assert_eq!(frame[0], b':', "integer {i}");
    }
    assert_eq!(fuzzing::is_error(frame), matches!(frame[0], b'-' | b'!'));
}

/// The smallest bulk limit at which the whole `frame` measures whole (found by
/// bisection; `known` when the caller knows it), and what a limit one below gives:
/// oversized with the same length, or an error.
fn bulk_limit(frame: &[u8], known: Option<(usize, bool)>) {
    let n = frame.len();
    let whole = |limit| fuzzing::frame(frame, limit) == Ok(Framed::Whole(n));
    // Every bulk string is inside the frame.
    assert!(whole(n), "whole at a limit of its own length");
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if whole(mid) { hi = mid } else { lo = mid + 1 }
    }
    let smallest = lo;
    if let Some((largest, _)) = known {
        assert_eq!(
            smallest, largest,
            "the smallest limit is the largest bulk string's length"
        );
    }
    // Monotone in the limit: a limit derived from the input falls on the right side.
    let probe = frame.iter().map(|&b| usize::from(b)).sum::<usize>() % (n + 1);
    assert_eq!(
        whole(probe),
        probe >= smallest,
        "limit {probe}, smallest {smallest}"
    );
    if smallest > 0 {
        let below = fuzzing::frame(frame, smallest - 1);
        match below {
            Ok(Framed::Oversized(len)) => assert_eq!(len, n, "oversized length"),
            Err(_) => {}
            other => panic!(
                "limit {} below a bulk string of {smallest}: {other:?}",
                smallest - 1
            ),
        }
        if let Some((_, last_alone)) = known {
            assert_eq!(
                matches!(below, Ok(Framed::Oversized(_))),
                last_alone,
                "{below:?}"
            );
        }
    }
}

/// Checks a message found in a whole `frame`.
fn message_fields(frame: &[u8], m: &MessageFields) {
    assert_eq!(m.len, frame.len());
    assert_eq!(
        m.pattern.is_some(),
        m.kind == MessageKind::PMessage,
        "{m:?}"
    );
    let fields: Vec<&Range<usize>> = m.pattern.iter().chain([&m.channel, &m.payload]).collect();
    let mut at = 0;
    for f in &fields {
        assert!(
            at <= f.start && f.start <= f.end && f.end + 2 <= frame.len(),
            "{m:?}"
        );
        assert_eq!(&frame[f.start - 2..f.start], b"\r\n", "{m:?}");
        assert_eq!(&frame[f.end..f.end + 2], b"\r\n", "{m:?}");
        at = f.end + 2;
    }
    assert_eq!(at, frame.len(), "the payload ends the frame");
    let name: &[u8] = match m.kind {
        MessageKind::Message => b"message",
        MessageKind::PMessage => b"pmessage",
        MessageKind::SMessage => b"smessage",
        _ => unreachable!(),
    };
    let lens: Vec<usize> = fields.iter().map(|f| f.len()).collect();
    let largest = lens.iter().copied().chain([name.len()]).max().unwrap_or(0);
    let last_alone = lens
        .split_last()
        .is_some_and(|(&last, rest)| last > name.len() && rest.iter().all(|&l| l < last));
    bulk_limit(frame, Some((largest, last_alone)));
    let mut args = vec![name];
    args.extend(fields.iter().map(|f| &frame[(*f).clone()]));
    let again = fuzzing::command(&args);
    let m2 = fuzzing::message(&again).expect("a re-encoded message is a message");
    assert_eq!(m2.kind, m.kind);
    assert_eq!(
        m2.pattern.map(|p| &again[p]),
        m.pattern.clone().map(|p| &frame[p])
    );
    assert_eq!(
        (&again[m2.channel], &again[m2.payload]),
        (&frame[m.channel.clone()], &frame[m.payload.clone()])
    );
}

/// Checks a command encoded from `args`.
fn command(args: &[&[u8]]) {
    let cmd = fuzzing::command(args);
    assert_eq!(fuzzing::frame(&cmd, MAX_BULK), Ok(Framed::Whole(cmd.len())));
    assert_eq!(fuzzing::reply_name(&cmd), args.first().copied());
    let largest = args.iter().map(|a| a.len()).max().unwrap_or(0);
    let last_alone = args
        .split_last()
        .is_some_and(|(last, rest)| rest.iter().all(|a| a.len() < last.len()));
    bulk_limit(&cmd, Some((largest, last_alone)));
    let kind = match (args.first().copied(), args.len()) {
        (Some(b"message"), 3) => Some(MessageKind::Message),
        (Some(b"smessage"), 3) => Some(MessageKind::SMessage),
        (Some(b"pmessage"), 4) => Some(MessageKind::PMessage),
        _ => None,
    };
    let m = fuzzing::message(&cmd);
    assert_eq!(m.as_ref().map(|m| m.kind), kind, "{args:?}");
    if let Some(m) = m {
        assert_eq!(m.len, cmd.len());
        assert_eq!(&cmd[m.payload], *args.last().unwrap());
        assert_eq!(&cmd[m.channel], args[args.len() - 2]);
        assert_eq!(
            m.pattern.map(|p| &cmd[p]),
            (args.len() == 4).then(|| args[1])
        );
    }
}

/// A few cut positions in `0..=buf.len()`: both ends, the middle, one short, and
/// one derived from the bytes.
fn cuts(buf: &[u8]) -> impl Iterator<Item = usize> {
    let n = buf.len();
    let h = buf.iter().fold(0usize, |h, &b| {
        h.wrapping_mul(31).wrapping_add(usize::from(b))
    });
    [0, 1.min(n), n / 2, n.saturating_sub(1), h % (n + 1)].into_iter()
}

/// Whether `part` is a sub-slice of `whole`.
fn within(whole: &[u8], part: &[u8]) -> bool {
    let w = whole.as_ptr_range();
    let p = part.as_ptr_range();
    w.start <= p.start && p.end <= w.end
}
