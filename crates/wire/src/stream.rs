//! Stream entries of `@socket.io/redis-streams-adapter` 0.3 (PROTOCOL.md §4.3): the XADD
//! fields `uid, nsp, type, data`, with `data` as JSON text, or as base64 of the
//! @msgpack/msgpack encoding when it holds binary.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::cluster::{ClusterBody, ClusterMessage, Data};
use crate::codec::{self, Encoding};
use crate::error::{DecodeError, Limits};
use crate::msgpack::{self, Flavor};
use crate::types::MessageType;
use crate::{json, value::Value};

/// The field/value pairs of one stream entry, in XADD order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamFields {
    /// `[("uid", ..), ("nsp", ..), ("type", "<decimal>"), ("data", ..)?]`.
    pub fields: Vec<(&'static str, String)>,
}

impl ClusterMessage {
    /// The XADD fields of this message. `only_plaintext` is the adapter's
    /// `onlyPlaintext` option (always JSON).
    pub fn to_stream_fields(&self, only_plaintext: bool) -> StreamFields {
        let mut fields = vec![
            ("uid", self.uid.clone()),
            ("nsp", self.nsp.clone()),
            ("type", self.body.message_type().code().to_string()),
        ];
        if self.body.has_data() {
            let binary = !only_plaintext
                && self.body.message_type().may_carry_binary()
                && self.body.has_binary();
            let data = if binary {
                BASE64.encode(codec::encode(
                    &Data(&self.body),
                    Encoding::Msgpack,
                    Flavor::MsgpackJs,
                ))
            } else {
                // JSON output is always UTF-8.
                String::from_utf8(codec::encode(
                    &Data(&self.body),
                    Encoding::Json,
                    Flavor::Notepack,
                ))
                .unwrap_or_default()
            };
            fields.push(("data", data));
        }
        StreamFields { fields }
    }

    /// Reads a stream entry from its field/value pairs (as XREAD/XRANGE return them).
    /// Unknown fields are ignored; `data` longer than `limits.max_bytes` is refused.
    ///
    /// # Errors
    /// [`DecodeError::MissingField`] without `uid`, `nsp` or `type` (Node skips entries
    /// without `nsp`); [`DecodeError::Base64`], JSON or msgpack errors for a bad `data`.
    pub fn from_stream_fields<K, V>(
        fields: impl IntoIterator<Item = (K, V)>,
        limits: &Limits,
    ) -> Result<Self, DecodeError>
    where
        K: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        const WHAT: &str = "stream entry";
        let (mut uid, mut nsp, mut kind, mut data) = (None, None, None, None);
        for (k, v) in fields {
            let text = || {
                std::str::from_utf8(v.as_ref())
                    .map(str::to_owned)
                    .map_err(|_| DecodeError::InvalidUtf8 { offset: 0 })
            };
            match k.as_ref() {
                b"uid" => uid = Some(text()?),
                b"nsp" => nsp = Some(text()?),
                b"type" => {
                    kind = Some(parse_int(v.as_ref()).ok_or(DecodeError::WrongType {
                        message: WHAT,
                        field: "type",
                        expected: "a decimal integer",
                    })?)
                }
                b"data" => data = Some(decode_data(v.as_ref(), limits)?),
                _ => {}
            }
        }
        let missing = |field| DecodeError::MissingField {
            message: WHAT,
            field,
        };
        let kind = MessageType::try_from(kind.ok_or(missing("type"))?)?;
        Ok(Self {
            uid: uid.ok_or(missing("uid"))?,
            nsp: nsp.ok_or(missing("nsp"))?,
            body: ClusterBody::from_data(kind, data)?,
        })
    }
}

/// `parseInt(s, 10)`: optional sign, then the leading decimal digits.
fn parse_int(s: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(s).ok()?.trim_start();
    let (neg, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let end = digits
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len());
    let n: i64 = digits[..end].parse().ok()?;
    Some(if neg { -n } else { n })
}

/// The streams adapter's `data` rule: text starting with `{` is JSON, anything else
/// base64 of msgpack.
pub(crate) fn decode_data(raw: &[u8], limits: &Limits) -> Result<Value, DecodeError> {
    limits.check_len(raw.len())?;
    if raw.first() == Some(&b'{') {
        json::decode(raw, limits)
    } else {
        let bytes = BASE64.decode(raw).map_err(|_| DecodeError::Base64)?;
        msgpack::decode(&bytes, limits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_int_like_javascript() {
        assert_eq!(parse_int(b"3"), Some(3));
        assert_eq!(parse_int(b"12abc"), Some(12));
        assert_eq!(parse_int(b" -4"), Some(-4));
        assert_eq!(parse_int(b"x"), None);
    }
}
