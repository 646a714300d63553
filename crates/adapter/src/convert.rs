//! Conversions between socketioxide's payloads and the wire's [`Value`].
//!
//! A socketioxide payload is already serialised by the namespace's parser: the common
//! parser gives JSON text with `{"_placeholder":true,"num":n}` objects and the binary
//! attachments beside it; the msgpack parser gives msgpack bytes. Both hold the array
//! `[event, ...args]` (acknowledgements: `[...args]`). Going the other way, the namespace's
//! own parser serialises a [`Value`] (through [`SerValue`]), so that a common-parser
//! namespace always gets text and a msgpack one always gets bytes.

use bytes::Bytes;
use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, SerializeTuple};
use sio_redis_wire::classic::ClassicBroadcastRef;
use sio_redis_wire::{Limits, Value, json, msgpack};
use socketioxide_core::parser::{Parse, ParserError};
use socketioxide_core::{Str, Value as SioValue};

use crate::error::Error;

/// Limits for data this process serialised itself (no size or element limit; nesting as
/// deep as serde allows).
const OWN_DATA: Limits = Limits::new()
    .max_bytes(usize::MAX)
    .max_depth(512)
    .max_elements(usize::MAX);

/// Reads a socketioxide payload (`[event, ...args]` or `[...args]`) into a [`Value`].
///
/// # Errors
/// [`Error::Decode`] when the payload is not valid JSON / msgpack (it comes from our own
/// parser, so this means a bug or corrupted memory, not bad network input).
pub(crate) fn from_sio(v: &SioValue) -> Result<Value, Error> {
    let limits = OWN_DATA;
    match v {
        SioValue::Bytes(b) => Ok(msgpack::decode(b, &limits)?),
        SioValue::Str(text, bins) => {
            let mut v = json::decode_str(text, &limits)?;
            if let Some(bins) = bins {
                fill_placeholders(&mut v, &bins.iter().cloned().collect::<Vec<_>>());
            }
            Ok(v)
        }
    }
}

/// Replaces socket.io-parser's `{"_placeholder":true,"num":n}` with the attachment `n`.
fn fill_placeholders(v: &mut Value, bins: &[Bytes]) {
    match v {
        Value::Array(items) => items.iter_mut().for_each(|i| fill_placeholders(i, bins)),
        Value::Map(members) => {
            let is_placeholder = members.len() == 2
                && v.get("_placeholder") == Some(&Value::Bool(true))
                && v.get("num").and_then(Value::as_i64).is_some();
            if is_placeholder {
                let n = v.get("num").and_then(Value::as_i64).unwrap_or(-1);
                if let Some(bin) = usize::try_from(n).ok().and_then(|n| bins.get(n)) {
                    *v = Value::Bin(bin.clone());
                }
            } else if let Value::Map(members) = v {
                members
                    .iter_mut()
                    .for_each(|(_, m)| fill_placeholders(m, bins));
            }
        }
        _ => {}
    }
}

/// Serialises `[event, ...args]` with the namespace's parser.
///
/// # Errors
/// [`Error::Parser`] when the parser refuses the data.
pub(crate) fn event_to_sio(parser: impl Parse, data: &Value) -> Result<SioValue, Error> {
    let items = data.as_array().unwrap_or_default();
    let (event, args) = match items.split_first() {
        Some((Value::Str(event), args)) => (Some(event.as_str()), args),
        _ => (None, items),
    };
    parser
        .encode_value(&Args(args), event)
        .map_err(Error::Parser)
}

/// Whether `parser` is socketioxide's common parser (event data as JSON text) rather
/// than the msgpack one.
pub(crate) fn is_json_parser(parser: impl Parse) -> bool {
    matches!(parser.encode_value(&(), None), Ok(SioValue::Str(..)))
}

/// The event data of a received classic broadcast for the namespace's parser. With
/// the common parser (`json`) and no binary, the JSON text is written straight from the
/// msgpack bytes (what the parser would write, numbers as JavaScript writes them);
/// otherwise through a [`Value`] and the parser.
///
/// # Errors
/// [`Error::Decode`] for malformed data, [`Error::Parser`] when the parser refuses it.
pub(crate) fn broadcast_data_to_sio(
    parser: impl Parse,
    json: bool,
    b: &ClassicBroadcastRef<'_>,
    limits: &Limits,
) -> Result<SioValue, Error> {
    if json && let Some(text) = b.data_json(limits)? {
        return Ok(SioValue::Str(Str::from(text), None));
    }
    event_to_sio(parser, &b.data_value(limits)?)
}

/// Event data received as JSON text (`[event, ...args]`, checked by the decoder that
/// found it) for the namespace's parser: the text itself with the common parser
/// (`json`), else through a [`Value`] and the parser.
///
/// # Errors
/// [`Error::Decode`] past `limits`, [`Error::Parser`] when the parser refuses it.
pub(crate) fn json_data_to_sio(
    parser: impl Parse,
    json: bool,
    text: &str,
    limits: &Limits,
) -> Result<SioValue, Error> {
    if json {
        return Ok(SioValue::Str(Str::from(text.to_owned()), None));
    }
    event_to_sio(parser, &json::decode_str(text, limits)?)
}

/// Serialises an acknowledgement (`[...args]`) with the namespace's parser.
pub(crate) fn ack_to_sio(parser: impl Parse, args: &[Value]) -> Result<SioValue, ParserError> {
    parser.encode_value(&Args(args), None)
}

/// The first element of an acknowledgement payload `[...args]`: what Node forwards
/// between servers (PROTOCOL.md §1.4, §3.2). `None` for an acknowledgement without
/// arguments (`undefined`).
pub(crate) fn first_ack_arg(v: &SioValue) -> Result<Option<Value>, Error> {
    Ok(match from_sio(v)? {
        Value::Array(items) => items.into_iter().next(),
        other => Some(other),
    })
}

/// Serialises any `T` into a [`Value`] (through msgpack, so that binary stays binary).
///
/// # Errors
/// [`Error::Serialize`] when `T` cannot be serialised.
pub fn to_value<T: Serialize + ?Sized>(data: &T) -> Result<Value, Error> {
    let bytes = rmp_serde::to_vec_named(data).map_err(|e| Error::Serialize(e.to_string()))?;
    Ok(msgpack::decode(&bytes, &OWN_DATA)?)
}

/// Deserialises a [`Value`] into any `T`.
///
/// # Errors
/// [`Error::Serialize`] when the value does not fit `T`.
pub fn from_value<T: serde::de::DeserializeOwned>(v: &Value) -> Result<T, Error> {
    let bytes = msgpack::encode(v, msgpack::Flavor::Notepack);
    rmp_serde::from_slice(&bytes).map_err(|e| Error::Serialize(e.to_string()))
}

/// A [`Value`] as a `serde_json::Value` (binary as an array of byte values, timestamps as
/// ISO-8601 strings).
pub fn to_json(v: &Value) -> serde_json::Value {
    serde_json::to_value(SerValue(v)).unwrap_or(serde_json::Value::Null)
}

/// Arguments serialised as a tuple, so that socketioxide's parsers spread them after the
/// event name (`[event, ...args]`).
struct Args<'a>(&'a [Value]);

/// Any number of event arguments for socketioxide's `emit`: serialised as a tuple, so the
/// parser spreads them (`emit("ev", &EventArgs(vec![a, b]))` sends `["ev", a, b]`);
/// [`Value::Bin`] arguments go out as binary attachments.
#[derive(Debug, Clone, Default)]
pub struct EventArgs(pub Vec<Value>);

impl Serialize for EventArgs {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Args(&self.0).serialize(s)
    }
}

impl Serialize for Args<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(self.0.len())?;
        for v in self.0 {
            t.serialize_element(&SerValue(v))?;
        }
        t.end()
    }
}

/// Serialises a [`Value`]: binary as bytes (socketioxide's common parser turns them into
/// attachments), timestamps as the ISO-8601 string `Date.toJSON()` gives.
pub struct SerValue<'a>(pub &'a Value);

impl std::fmt::Debug for SerValue<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for SerValue<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Nil => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(n) => s.serialize_i64(*n),
            Value::UInt(n) => s.serialize_u64(*n),
            Value::F32(f) => s.serialize_f32(*f),
            Value::F64(f) => s.serialize_f64(*f),
            Value::Str(text) => s.serialize_str(text),
            Value::Bin(b) => s.serialize_bytes(b),
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for v in items {
                    seq.serialize_element(&SerValue(v))?;
                }
                seq.end()
            }
            Value::Map(members) => {
                let mut map = s.serialize_map(Some(members.len()))?;
                for (k, v) in members {
                    map.serialize_entry(k.as_ref(), &SerValue(v))?;
                }
                map.end()
            }
            ext @ Value::Ext(..) => {
                // What Node's JSON.stringify writes for a Date or an unknown extension.
                let text = json::encode(ext);
                match json::decode(&text, &Limits::default()) {
                    Ok(Value::Str(iso)) => s.serialize_str(&iso),
                    Ok(other) => SerValue(&other).serialize(s),
                    Err(_) => s.serialize_unit(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    #[test]
    fn placeholders_become_binary() {
        let text = r#"["ev",{"_placeholder":true,"num":0},{"a":{"_placeholder":true,"num":1}}]"#;
        let bins: VecDeque<Bytes> = [Bytes::from_static(b"x"), Bytes::from_static(b"yz")].into();
        let v = from_sio(&SioValue::Str(text.into(), Some(bins))).unwrap();
        assert_eq!(
            v.as_array().unwrap()[1],
            Value::Bin(Bytes::from_static(b"x"))
        );
        assert_eq!(
            v.as_array().unwrap()[2].get("a"),
            Some(&Value::Bin(Bytes::from_static(b"yz")))
        );
    }

    #[test]
    fn serde_round_trip() {
        #[derive(Serialize, serde::Deserialize, PartialEq, Debug)]
        struct S {
            a: i32,
            b: String,
        }
        let v = to_value(&S {
            a: 1,
            b: "x".into(),
        })
        .unwrap();
        assert_eq!(v.get("a"), Some(&Value::Int(1)));
        assert_eq!(
            from_value::<S>(&v).unwrap(),
            S {
                a: 1,
                b: "x".into()
            }
        );
        assert_eq!(to_json(&v), serde_json::json!({"a": 1, "b": "x"}));
    }
}
