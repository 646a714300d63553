//! The types of a stream reader ([`Transport::read_stream`](crate::Transport::read_stream)):
//! entry ids ([`StreamId`]), where reading starts ([`StreamStart`]), one read
//! entry ([`StreamEntry`]) and the callback it is given to
//! ([`StreamHandler`]); and the parsing of `XREAD` / `XINFO STREAM` replies.
//! A leaf module: it uses nothing else of the crate.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use bytes::Bytes;

/// The id of a stream entry, `<ms>-<seq>` as Redis prints it (`XADD`'s reply,
/// the ids in `XREAD`/`XRANGE` replies). Ordered as Redis orders entries:
/// by `ms`, then by `seq`.
///
/// ```
/// use sio_redis_transport::StreamId;
///
/// let id: StreamId = "1795346230238-0".parse().unwrap();
/// assert_eq!(id, StreamId::new(1_795_346_230_238, 0));
/// assert_eq!(id.to_string(), "1795346230238-0");
/// assert_eq!(id.next(), StreamId::new(1_795_346_230_238, 1));
/// assert!("1795346230238".parse::<StreamId>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct StreamId {
    /// The milliseconds part (Unix time in ms for ids made by `XADD … *`).
    pub ms: u64,
    /// The sequence part, within one millisecond.
    pub seq: u64,
}

impl StreamId {
    /// `<ms>-<seq>`.
    pub const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// The smallest id greater than this one: `<ms>-<seq+1>`, or
    /// `<ms+1>-0` when `seq` is `u64::MAX` (saturating at the largest id).
    /// The exclusive start of `XRANGE` that works before Redis 6.2.
    #[must_use]
    pub fn next(self) -> StreamId {
        match self.seq.checked_add(1) {
            Some(seq) => StreamId { ms: self.ms, seq },
            None => match self.ms.checked_add(1) {
                Some(ms) => StreamId { ms, seq: 0 },
                None => self,
            },
        }
    }

    /// Parses `<ms>-<seq>` from bytes (both parts decimal, no sign).
    ///
    /// # Errors
    /// [`InvalidStreamId`] for anything else (also a bare `<ms>`, which
    /// Redis accepts in commands but never returns).
    pub fn parse_bytes(bytes: &[u8]) -> Result<StreamId, InvalidStreamId> {
        let text = std::str::from_utf8(bytes).map_err(|_| InvalidStreamId)?;
        text.parse()
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// A text that is not a stream entry id `<ms>-<seq>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a stream entry id (<ms>-<seq>)")]
pub struct InvalidStreamId;

impl FromStr for StreamId {
    type Err = InvalidStreamId;

    fn from_str(s: &str) -> Result<StreamId, InvalidStreamId> {
        let (ms, seq) = s.split_once('-').ok_or(InvalidStreamId)?;
        let part = |p: &str| {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(InvalidStreamId);
            }
            p.parse::<u64>().map_err(|_| InvalidStreamId)
        };
        Ok(StreamId {
            ms: part(ms)?,
            seq: part(seq)?,
        })
    }
}

/// Where a stream reader starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamStart {
    /// Only entries added from now on (`XREAD … STREAMS <stream> $`). The
    /// reader resolves `$` to the stream's `last-generated-id` (`XINFO STREAM`;
    /// `0-0` when the stream does not exist yet) before
    /// [`Transport::read_stream`](crate::Transport::read_stream) returns, so
    /// that an entry added after that call returned is read even if the
    /// connection drops before the first `XREAD`.
    Latest,
    /// The entries after this id (exclusive), e.g. the last id an earlier
    /// reader handed over.
    After(StreamId),
}

/// One stream entry as read by `XREAD`: its id and its field/value pairs,
/// byte for byte, in `XADD` order (for `@socket.io/redis-streams-adapter`:
/// `uid`, `nsp`, `type`, `data`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamEntry {
    /// The stream (key) it was read from.
    pub stream: Arc<str>,
    /// The entry id.
    pub id: StreamId,
    /// The field/value pairs, in order (slices of one reply buffer: copy them
    /// to keep them for long).
    pub fields: Vec<(Bytes, Bytes)>,
}

impl StreamEntry {
    /// An entry as `XREAD` would return it (for tests and in-memory buses).
    pub fn new(stream: impl Into<Arc<str>>, id: StreamId, fields: Vec<(Bytes, Bytes)>) -> Self {
        StreamEntry {
            stream: stream.into(),
            id,
            fields,
        }
    }

    /// The value of the first field named `name`, if any.
    pub fn field(&self, name: &[u8]) -> Option<&Bytes> {
        self.fields
            .iter()
            .find_map(|(k, v)| (k.as_ref() == name).then_some(v))
    }
}

/// A callback for the entries of one stream reader.
///
/// Called inline on the reader's task, once per entry, in stream order: it
/// must be quick and must not block (hand heavy work to another task through
/// a bounded channel). The reader moves past an entry whatever the handler
/// does with it; a panic is caught and logged, and the entry is skipped.
pub type StreamHandler = Arc<dyn Fn(StreamEntry) + Send + Sync>;

/// `XADD <stream> MAXLEN ~ <max_len> * <field> <value> …`: appends one entry
/// with a new id (`*`), trimming the stream to about `max_len` entries (`~`:
/// Redis trims whole macro nodes, so a few more may stay). This is the command
/// of `@socket.io/redis-streams-adapter` 0.3 and
/// `@socket.io/redis-streams-emitter` 0.1 (their `XADD` helper, node-redis's
/// `xAdd(stream, "*", fields, {TRIM: {strategy: "MAXLEN", strategyModifier:
/// "~", threshold}})`), fields in the order given. Run it with
/// a connection of one's own (the reply is the new entry's id, `<ms>-<seq>`);
/// [`Transport::xadd`](crate::Transport::xadd) writes the same command through
/// the transport's stream writer.
pub fn xadd_cmd<F, V>(stream: &str, max_len: u64, fields: &[(F, V)]) -> redis::Cmd
where
    F: redis::ToRedisArgs,
    V: redis::ToRedisArgs,
{
    let mut cmd = redis::cmd("XADD");
    cmd.arg(stream).arg("MAXLEN").arg("~").arg(max_len).arg("*");
    for (field, value) in fields {
        cmd.arg(field).arg(value);
    }
    cmd
}

/// The field/value pairs [`Transport::xadd`](crate::Transport::xadd) and
/// [`Transport::xadd_queued`](crate::Transport::xadd_queued) take, from fixed
/// field names and owned values, in order (the layout of `sio-redis-wire`'s
/// `ClusterMessage::to_stream_fields`: `uid`, `nsp`, `type`, `data`). No copy of
/// the values.
pub fn stream_fields(
    fields: impl IntoIterator<Item = (&'static str, String)>,
) -> Vec<(Bytes, Bytes)> {
    fields
        .into_iter()
        .map(|(k, v)| (Bytes::from_static(k.as_bytes()), Bytes::from(v)))
        .collect()
}

/// Why an `XREAD` or `XRANGE` reply could not be read as entries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unexpected XREAD or XRANGE reply: {0}")]
pub(crate) struct BadReply(pub(crate) &'static str);

/// The entries of an `XREAD … STREAMS <one stream> <id>` reply: nil (the
/// block timed out), or `[[stream, [[id, [f, v, …]], …]]]` under RESP2, or
/// `{stream: [[id, [f, v, …]], …]}` under RESP3.
pub(crate) fn xread_entries(
    stream: &Arc<str>,
    reply: redis::Value,
) -> Result<Vec<StreamEntry>, BadReply> {
    use redis::Value;
    let entries = match reply {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(mut streams) => match streams.pop() {
            None => return Ok(Vec::new()),
            Some(Value::Array(mut pair)) if pair.len() == 2 => pair.pop().expect("two"),
            Some(_) => return Err(BadReply("stream element is not [name, entries]")),
        },
        Value::Map(mut streams) => match streams.pop() {
            None => return Ok(Vec::new()),
            Some((_, entries)) => entries,
        },
        _ => return Err(BadReply("neither nil, array nor map")),
    };
    xrange_entries(stream, entries)
}

/// The entries of an `XRANGE` reply, `[[id, [f, v, …]], …]` (RESP2 and RESP3;
/// also the entries part of an `XREAD` reply).
pub(crate) fn xrange_entries(
    stream: &Arc<str>,
    reply: redis::Value,
) -> Result<Vec<StreamEntry>, BadReply> {
    use redis::Value;
    let Value::Array(entries) = reply else {
        return Err(BadReply("entries are not an array"));
    };
    entries
        .into_iter()
        .map(|entry| {
            let Value::Array(mut pair) = entry else {
                return Err(BadReply("entry is not [id, fields]"));
            };
            if pair.len() != 2 {
                return Err(BadReply("entry is not [id, fields]"));
            }
            let fields = pair.pop().expect("two");
            let id = bytes_of(pair.pop().expect("two")).ok_or(BadReply("entry id"))?;
            let id = StreamId::parse_bytes(&id).map_err(|_| BadReply("entry id"))?;
            let flat = match fields {
                Value::Array(flat) => flat,
                // An entry deleted while pending in a group; not with XREAD, but harmless.
                Value::Nil => Vec::new(),
                Value::Map(pairs) => pairs.into_iter().flat_map(|(k, v)| [k, v]).collect(),
                _ => return Err(BadReply("entry fields")),
            };
            if flat.len() % 2 != 0 {
                return Err(BadReply("odd number of field/value items"));
            }
            let mut fields = Vec::with_capacity(flat.len() / 2);
            let mut items = flat.into_iter();
            while let (Some(k), Some(v)) = (items.next(), items.next()) {
                let k = bytes_of(k).ok_or(BadReply("field name"))?;
                let v = bytes_of(v).ok_or(BadReply("field value"))?;
                fields.push((k, v));
            }
            Ok(StreamEntry {
                stream: stream.clone(),
                id,
                fields,
            })
        })
        .collect()
}

/// A bulk or simple string's bytes.
fn bytes_of(value: redis::Value) -> Option<Bytes> {
    match value {
        redis::Value::BulkString(b) => Some(Bytes::from(b)),
        redis::Value::SimpleString(s) => Some(Bytes::from(s)),
        redis::Value::VerbatimString { text, .. } => Some(Bytes::from(text)),
        _ => None,
    }
}

/// The id under `name` in an `XINFO STREAM` reply (a flat array of
/// name/value pairs under RESP2, a map under RESP3): `last-generated-id`,
/// `max-deleted-entry-id` (Redis ≥ 7.0)… `None` when absent or not an id.
pub(crate) fn xinfo_id(reply: &redis::Value, name: &str) -> Option<StreamId> {
    let bytes = bytes_of(xinfo_value(reply, name)?.clone())?;
    StreamId::parse_bytes(&bytes).ok()
}

/// The integer under `name` in an `XINFO STREAM` reply: `length`,
/// `entries-added` (Redis ≥ 7.0)… `None` when absent or not an integer.
pub(crate) fn xinfo_count(reply: &redis::Value, name: &str) -> Option<u64> {
    match xinfo_value(reply, name)? {
        redis::Value::Int(n) => u64::try_from(*n).ok(),
        _ => None,
    }
}

/// The value under `name` in an `XINFO STREAM` reply (a flat array of
/// name/value pairs under RESP2, a map under RESP3).
fn xinfo_value<'a>(reply: &'a redis::Value, name: &str) -> Option<&'a redis::Value> {
    use redis::Value;
    match reply {
        Value::Array(items) => items
            .chunks_exact(2)
            .find(|kv| value_is(&kv[0], name))
            .map(|kv| &kv[1]),
        Value::Map(pairs) => pairs
            .iter()
            .find(|(k, _)| value_is(k, name))
            .map(|(_, v)| v),
        _ => None,
    }
}

/// The id of the stream's first entry in an `XINFO STREAM` reply:
/// `recorded-first-entry-id` (Redis ≥ 7.0; `0-0` for an empty stream), else
/// the id of `first-entry`. `None` for an empty stream.
pub(crate) fn xinfo_first_id(reply: &redis::Value) -> Option<StreamId> {
    use redis::Value;
    let value = match reply {
        Value::Array(items) => items
            .chunks_exact(2)
            .find(|kv| value_is(&kv[0], "first-entry"))
            .map(|kv| &kv[1]),
        Value::Map(pairs) => pairs
            .iter()
            .find(|(k, _)| value_is(k, "first-entry"))
            .map(|(_, v)| v),
        _ => None,
    };
    let from_entry = match value {
        Some(Value::Array(entry)) => entry
            .first()
            .and_then(|id| bytes_of(id.clone()))
            .and_then(|b| StreamId::parse_bytes(&b).ok()),
        _ => None,
    };
    from_entry.or_else(|| {
        xinfo_id(reply, "recorded-first-entry-id").filter(|id| *id != StreamId::default())
    })
}

fn value_is(value: &redis::Value, name: &str) -> bool {
    match value {
        redis::Value::BulkString(b) => b == name.as_bytes(),
        redis::Value::SimpleString(s) => s == name,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis::Value;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn ids_parse_order_and_succeed() {
        assert_eq!("0-0".parse(), Ok(StreamId::new(0, 0)));
        for bad in [
            "",
            "-",
            "1-",
            "-1",
            "1-2-3",
            "+1-2",
            "a-1",
            "1",
            "99999999999999999999-0",
        ] {
            assert_eq!(bad.parse::<StreamId>(), Err(InvalidStreamId), "{bad}");
        }
        assert!(StreamId::new(1, 5) < StreamId::new(2, 0));
        assert_eq!(StreamId::new(1, u64::MAX).next(), StreamId::new(2, 0));
        let max = StreamId::new(u64::MAX, u64::MAX);
        assert_eq!(max.next(), max);
    }

    #[test]
    fn xread_replies_resp2_and_resp3() {
        let stream: Arc<str> = "s".into();
        assert_eq!(xread_entries(&stream, Value::Nil), Ok(Vec::new()));
        let entries = Value::Array(vec![
            Value::Array(vec![
                bulk("1-0"),
                Value::Array(vec![bulk("uid"), bulk("a"), bulk("type"), bulk("3")]),
            ]),
            Value::Array(vec![
                bulk("1-1"),
                Value::Array(vec![bulk("nsp"), bulk("/")]),
            ]),
        ]);
        let resp2 = Value::Array(vec![Value::Array(vec![bulk("s"), entries.clone()])]);
        let resp3 = Value::Map(vec![(bulk("s"), entries)]);
        for reply in [resp2, resp3] {
            let got = xread_entries(&stream, reply).unwrap();
            assert_eq!(got.len(), 2);
            assert_eq!(got[0].id, StreamId::new(1, 0));
            assert_eq!(got[0].field(b"type").map(|v| &v[..]), Some(&b"3"[..]));
            assert_eq!(got[0].fields[0].0, Bytes::from_static(b"uid"));
            assert_eq!(got[1].id, StreamId::new(1, 1));
        }
        let odd = Value::Array(vec![Value::Array(vec![
            bulk("s"),
            Value::Array(vec![Value::Array(vec![
                bulk("1-0"),
                Value::Array(vec![bulk("f")]),
            ])]),
        ])]);
        assert!(xread_entries(&stream, odd).is_err());
        assert!(xread_entries(&stream, Value::Int(1)).is_err());
    }

    #[test]
    fn xinfo_fields() {
        let resp2 = Value::Array(vec![
            bulk("length"),
            Value::Int(3),
            bulk("last-generated-id"),
            bulk("7-1"),
            bulk("max-deleted-entry-id"),
            bulk("5-0"),
        ]);
        assert_eq!(
            xinfo_id(&resp2, "last-generated-id"),
            Some(StreamId::new(7, 1))
        );
        assert_eq!(
            xinfo_id(&resp2, "max-deleted-entry-id"),
            Some(StreamId::new(5, 0))
        );
        assert_eq!(xinfo_first_id(&resp2), None);
        let with_first = Value::Array(vec![
            bulk("recorded-first-entry-id"),
            bulk("3-0"),
            bulk("first-entry"),
            Value::Array(vec![bulk("4-0"), Value::Array(vec![bulk("a"), bulk("b")])]),
        ]);
        assert_eq!(xinfo_first_id(&with_first), Some(StreamId::new(4, 0)));
        let resp3 = Value::Map(vec![(bulk("last-generated-id"), bulk("9-0"))]);
        assert_eq!(
            xinfo_id(&resp3, "last-generated-id"),
            Some(StreamId::new(9, 0))
        );
        assert_eq!(xinfo_id(&resp3, "max-deleted-entry-id"), None);
    }
}
