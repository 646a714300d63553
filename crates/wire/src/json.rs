//! JSON exactly as JavaScript's `JSON.stringify` writes it and `JSON.parse` reads it: no
//! spaces, members in insertion order, numbers in `Number.prototype.toString` form,
//! strings escaped as ECMAScript's `QuoteJSONString`.
//!
//! Values JSON cannot hold are written as Node writes them: binary as Node's
//! `Buffer.toJSON()` (`{"type":"Buffer","data":[..]}`), timestamps as `Date.toJSON()`
//! ISO-8601 strings, non-finite numbers as `null`.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::error::{DecodeError, Limits};
use crate::sink::Sink;
use crate::value::{TIMESTAMP_EXT, Value};

/// `Number.MAX_SAFE_INTEGER` (2^53 − 1) as `f64`.
pub(crate) const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// Encodes one value as JSON, byte for byte as `JSON.stringify` would.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut w = Writer::default();
    w.value(value);
    w.into_bytes()
}

/// Decodes one JSON text into a [`Value`], with JavaScript's number semantics: an
/// integral number within ±(2^53 − 1) (also when written `1.0` or `1e3`) is an integer,
/// any other number a float.
///
/// # Errors
/// [`DecodeError::TooLarge`] / [`DecodeError::TooDeep`] past `limits`;
/// [`DecodeError::Json`] for malformed JSON (serde_json's message and position).
pub fn decode(input: &[u8], limits: &Limits) -> Result<Value, DecodeError> {
    limits.check_len(input.len())?;
    let v: Value = serde_json::from_slice(input).map_err(|e| {
        if e.to_string().starts_with("recursion limit") {
            DecodeError::TooDeep {
                max: limits.max_depth,
            }
        } else {
            DecodeError::Json(e.to_string())
        }
    })?;
    if v.depth() > limits.max_depth {
        return Err(DecodeError::TooDeep {
            max: limits.max_depth,
        });
    }
    Ok(v)
}

/// The JSON [`Sink`].
#[derive(Debug, Default)]
pub(crate) struct Writer {
    buf: Vec<u8>,
    /// One entry per open container: whether it has no element yet.
    first: Vec<bool>,
    /// A key was just written: the next value needs no comma.
    after_key: bool,
}

impl Writer {
    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// Writes the comma that separates this element from the previous one, if any.
    fn sep(&mut self) {
        if self.after_key {
            self.after_key = false;
            return;
        }
        if let Some(first) = self.first.last_mut() {
            if *first {
                *first = false;
            } else {
                self.buf.push(b',');
            }
        }
    }

    fn quoted(&mut self, s: &str) {
        self.buf.push(b'"');
        let bytes = s.as_bytes();
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let esc: &[u8] = match b {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                0x08 => b"\\b",
                0x0c => b"\\f",
                0x00..=0x1f => b"",
                _ => continue,
            };
            self.buf.extend_from_slice(&bytes[start..i]);
            if esc.is_empty() {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                self.buf.extend_from_slice(b"\\u00");
                self.buf.push(HEX[usize::from(b >> 4)]);
                self.buf.push(HEX[usize::from(b & 0xf)]);
            } else {
                self.buf.extend_from_slice(esc);
            }
            start = i + 1;
        }
        self.buf.extend_from_slice(&bytes[start..]);
        self.buf.push(b'"');
    }

    fn raw_number(&mut self, f: f64) {
        if f.is_finite() {
            js_number(f, &mut self.buf);
        } else {
            self.buf.extend_from_slice(b"null");
        }
    }
}

impl Sink for Writer {
    fn nil(&mut self) {
        self.sep();
        self.buf.extend_from_slice(b"null");
    }
    fn bool(&mut self, b: bool) {
        self.sep();
        self.buf
            .extend_from_slice(if b { b"true" } else { b"false" });
    }
    fn int(&mut self, n: i64) {
        self.sep();
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    }
    fn uint(&mut self, n: u64) {
        self.sep();
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    }
    fn f32(&mut self, f: f32) {
        self.sep();
        self.raw_number(f64::from(f));
    }
    fn f64(&mut self, f: f64) {
        self.sep();
        self.raw_number(f);
    }
    fn str(&mut self, s: &str) {
        self.sep();
        self.quoted(s);
    }
    fn bin(&mut self, b: &[u8]) {
        // Buffer.prototype.toJSON
        self.begin_map(2);
        self.key("type");
        self.str("Buffer");
        self.key("data");
        self.begin_array(b.len());
        for &byte in b {
            self.int(i64::from(byte));
        }
        self.end_array();
        self.end_map();
    }
    fn ext(&mut self, kind: i8, payload: &[u8]) {
        if kind == TIMESTAMP_EXT {
            let ts = Value::Ext(kind, bytes::Bytes::copy_from_slice(payload));
            match ts.timestamp_millis().and_then(iso_8601) {
                Some(iso) => self.str(&iso),
                None => self.nil(), // an invalid Date's toJSON() is null
            }
        } else {
            // notepack decodes an unknown extension to [type, Buffer]
            self.begin_array(2);
            self.int(i64::from(kind));
            self.bin(payload);
            self.end_array();
        }
    }
    fn begin_array(&mut self, _len: usize) {
        self.sep();
        self.buf.push(b'[');
        self.first.push(true);
    }
    fn end_array(&mut self) {
        self.first.pop();
        self.buf.push(b']');
    }
    fn begin_map(&mut self, _len: usize) {
        self.sep();
        self.buf.push(b'{');
        self.first.push(true);
    }
    fn key(&mut self, k: &str) {
        self.sep();
        self.quoted(k);
        self.buf.push(b':');
        self.after_key = true;
    }
    fn end_map(&mut self) {
        self.first.pop();
        self.buf.push(b'}');
    }
}

/// Appends a finite number as ECMAScript `Number::toString` writes it: the shortest
/// digits that read back to the same `f64` (from ryu), in plain notation when the
/// decimal exponent lies in [−6, 21), else as `d.ddde±x`.
pub(crate) fn js_number(f: f64, out: &mut Vec<u8>) {
    if f == 0.0 {
        out.push(b'0');
        return;
    }
    if f < 0.0 {
        out.push(b'-');
    }
    let mut ryu_buf = ryu::Buffer::new();
    let text = ryu_buf.format_finite(f.abs());
    let (mantissa, exp) = match text.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (text, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    // value = 0.DIGITS × 10^n
    let all: Vec<u8> = int_part.bytes().chain(frac_part.bytes()).collect();
    let leading = all.iter().take_while(|&&b| b == b'0').count();
    let mut digits = all[leading..].to_vec();
    while digits.last() == Some(&b'0') {
        digits.pop();
    }
    let n = int_part.len() as i32 + exp - leading as i32;
    let k = digits.len() as i32;
    if k <= n && n <= 21 {
        out.extend_from_slice(&digits);
        out.extend(std::iter::repeat_n(b'0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        out.extend_from_slice(&digits[..n as usize]);
        out.push(b'.');
        out.extend_from_slice(&digits[n as usize..]);
    } else if -6 < n && n <= 0 {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', (-n) as usize));
        out.extend_from_slice(&digits);
    } else {
        out.push(digits[0]);
        if k > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'e');
        out.push(if n - 1 >= 0 { b'+' } else { b'-' });
        out.extend_from_slice(itoa::Buffer::new().format((n - 1).abs()).as_bytes());
    }
}

/// `Date.prototype.toISOString` (`YYYY-MM-DDTHH:mm:ss.sssZ`, or `±YYYYYY-…` outside
/// years 0–9999); `None` outside JavaScript's date range (±8.64e15 ms).
pub(crate) fn iso_8601(ms: i64) -> Option<String> {
    if ms.abs() > 8_640_000_000_000_000 {
        return None;
    }
    let days = ms.div_euclid(86_400_000);
    let ms_of_day = ms.rem_euclid(86_400_000);
    // Howard Hinnant's civil_from_days
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s, milli) = (
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1000 % 60,
        ms_of_day % 1000,
    );
    let year = if (0..=9999).contains(&year) {
        format!("{year:04}")
    } else {
        format!("{}{:06}", if year < 0 { '-' } else { '+' }, year.abs())
    };
    Some(format!(
        "{year}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z"
    ))
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Nil)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Nil)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Int(n))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::from(n))
    }
    fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
        Ok(Value::from(f))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::Str(s.to_owned()))
    }
    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::Str(s))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members: Vec<(String, Value)> = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, Value>()? {
            // JSON.parse keeps the last of duplicate keys, at the first one's position.
            match members.iter_mut().find(|(key, _)| *key == k) {
                Some(slot) => slot.1 = v,
                None => members.push((k, v)),
            }
        }
        Ok(Value::Map(members))
    }
}

impl de::Error for DecodeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DecodeError::Json(msg.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(f: f64) -> String {
        let mut out = Vec::new();
        js_number(f, &mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn numbers_like_javascript() {
        let cases = [
            (2.5, "2.5"),
            (-0.1, "-0.1"),
            (1e-7, "1e-7"),
            (1e-6, "0.000001"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (123456.789, "123456.789"),
            (1.2345678901234568e20, "123456789012345680000"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (0.30000000000000004, "0.30000000000000004"),
            (100.0, "100"),
            (1.5e300, "1.5e+300"),
        ];
        for (f, want) in cases {
            assert_eq!(num(f), want, "{f:e}");
        }
    }

    #[test]
    fn strings_like_json_stringify() {
        let v = Value::Str("a\"b\\c\n\u{1}\u{7f}é😀/".into());
        assert_eq!(encode(&v), "\"a\\\"b\\\\c\\n\\u0001\u{7f}é😀/\"".as_bytes());
    }

    #[test]
    fn dates_like_to_iso_string() {
        assert_eq!(iso_8601(0).as_deref(), Some("1970-01-01T00:00:00.000Z"));
        assert_eq!(
            iso_8601(1_795_346_201_351).as_deref(),
            Some("2026-11-22T11:16:41.351Z")
        );
        assert_eq!(iso_8601(-1).as_deref(), Some("1969-12-31T23:59:59.999Z"));
        assert_eq!(
            iso_8601(-62_198_755_200_000).as_deref(),
            Some("-000001-01-01T00:00:00.000Z")
        );
    }

    #[test]
    fn binary_as_buffer_to_json() {
        let v = Value::Bin(bytes::Bytes::from_static(&[1, 2]));
        assert_eq!(encode(&v), br#"{"type":"Buffer","data":[1,2]}"#);
    }

    #[test]
    fn parse_keeps_order_and_js_numbers() {
        let v = decode(br#"{"b":1.0,"a":[2.5,1e3],"c":null}"#, &Limits::default()).unwrap();
        assert_eq!(encode(&v), br#"{"b":1,"a":[2.5,1000],"c":null}"#);
    }
}
