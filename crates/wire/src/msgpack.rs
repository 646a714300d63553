//! msgpack, byte-compatible with notepack.io 3.0 (classic and sharded adapters, classic
//! emitter) and with @msgpack/msgpack 2.8 (streams adapter), PROTOCOL.md §0.3, §0.4, §6.
//!
//! Both Node encoders write the smallest form of every integer, length and string, and
//! write non-integral numbers as float64; [`encode`] does the same, so a decoded Node
//! message re-encodes to the bytes Node sent. The one difference between the two Node
//! encoders that a [`Value`] can show is chosen by [`Flavor`].

use bytes::Bytes;

use crate::error::{Budget, DecodeError, Limits};
use crate::js::{MAX_SAFE_INTEGER, MAX_SAFE_INTEGER_U64};
use crate::sink::Sink;
use crate::value::{Value, key};

/// Which Node msgpack encoder to match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Flavor {
    /// notepack.io 3.0: every integer as an integer (classic and sharded adapters,
    /// `@socket.io/redis-emitter` 5.1).
    #[default]
    Notepack,
    /// @msgpack/msgpack 2.8: integers beyond ±(2^53 − 1) as float64
    /// (`@socket.io/redis-streams-adapter` 0.3).
    MsgpackJs,
}

/// Encodes one value as msgpack in the given [`Flavor`].
pub fn encode(value: &Value, flavor: Flavor) -> Vec<u8> {
    let mut w = Writer::new(flavor);
    w.value(value);
    w.into_bytes()
}

/// Decodes exactly one msgpack value that fills `input`.
///
/// Accepts every msgpack form (all integer and float widths, str8/16/32, bin, ext and
/// fixext); timestamps and the legacy notepack 2.x extensions are kept as
/// [`Value::Ext`].
///
/// # Errors
/// [`DecodeError::TooLarge`] / [`DecodeError::TooDeep`] /
/// [`DecodeError::TooManyElements`] past `limits`; `Truncated` (also for a container
/// whose declared length cannot fit in the bytes left), `InvalidMarker`, `InvalidUtf8`,
/// `NonStringKey` or `TrailingBytes` for malformed input.
pub fn decode(input: &[u8], limits: &Limits) -> Result<Value, DecodeError> {
    let mut r = Reader::new(input, limits)?;
    let v = r.value(0)?;
    r.finish()?;
    Ok(v)
}

/// The JSON text `JSON.stringify` gives for the msgpack value that fills `input`,
/// written straight from the msgpack bytes (no [`Value`] built); `None` when the
/// value holds binary or an extension, which Socket.IO does not send as JSON
/// (binary goes out as attachments). Numbers are written as JavaScript writes them.
///
/// # Errors
/// As [`decode`].
pub fn to_json(input: &[u8], limits: &Limits) -> Result<Option<String>, DecodeError> {
    let mut r = Reader::new(input, limits)?;
    let mut json = Plain {
        inner: crate::json::Writer::with_capacity(input.len() + input.len() / 4 + 16),
        binary: false,
    };
    r.drive(&mut json, 0)?;
    r.finish()?;
    if json.binary {
        return Ok(None);
    }
    let bytes = json.inner.into_bytes();
    // The JSON writer writes only what it is given as `&str` plus ASCII.
    Ok(Some(
        String::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8 { offset: 0 })?,
    ))
}

/// Whether the msgpack value in `bytes` is an array.
pub(crate) fn is_array(bytes: &[u8]) -> bool {
    matches!(bytes.first(), Some(0x90..=0x9f | 0xdc | 0xdd))
}

/// The JSON writer, noting binary and extensions instead of writing them.
struct Plain {
    inner: crate::json::Writer,
    binary: bool,
}

impl Sink for Plain {
    fn nil(&mut self) {
        self.inner.nil();
    }
    fn bool(&mut self, b: bool) {
        self.inner.bool(b);
    }
    fn int(&mut self, n: i64) {
        self.inner.int(n);
    }
    fn uint(&mut self, n: u64) {
        self.inner.uint(n);
    }
    fn f32(&mut self, f: f32) {
        self.inner.f32(f);
    }
    fn f64(&mut self, f: f64) {
        self.inner.f64(f);
    }
    fn str(&mut self, s: &str) {
        self.inner.str(s);
    }
    fn bin(&mut self, _: &[u8]) {
        self.binary = true;
    }
    fn ext(&mut self, _: i8, _: &[u8]) {
        self.binary = true;
    }
    fn begin_array(&mut self, len: usize) {
        self.inner.begin_array(len);
    }
    fn end_array(&mut self) {
        self.inner.end_array();
    }
    fn begin_map(&mut self, len: usize) {
        self.inner.begin_map(len);
    }
    fn key(&mut self, k: &str) {
        self.inner.key(k);
    }
    fn end_map(&mut self) {
        self.inner.end_map();
    }
}

/// The msgpack [`Sink`].
#[derive(Debug)]
pub(crate) struct Writer {
    buf: Vec<u8>,
    flavor: Flavor,
}

impl Writer {
    pub(crate) fn new(flavor: Flavor) -> Self {
        Self {
            // Room for a typical broadcast (envelope and a small payload).
            buf: Vec::with_capacity(256),
            flavor,
        }
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    fn header(&mut self, len: usize, fix: u8, fix_max: usize, m8: Option<u8>, m16: u8, m32: u8) {
        if len < fix_max {
            self.buf.push(fix | len as u8);
        } else if let (Some(m8), true) = (m8, len < 0x100) {
            self.buf.extend_from_slice(&[m8, len as u8]);
        } else if len < 0x1_0000 {
            self.buf.push(m16);
            self.buf.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            self.buf.push(m32);
            self.buf.extend_from_slice(&(len as u32).to_be_bytes());
        }
    }
}

impl Sink for Writer {
    fn nil(&mut self) {
        self.buf.push(0xc0);
    }
    fn bool(&mut self, b: bool) {
        self.buf.push(if b { 0xc3 } else { 0xc2 });
    }
    fn int(&mut self, n: i64) {
        if self.flavor == Flavor::MsgpackJs && !(-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&n)
        {
            return self.f64(n as f64);
        }
        match n {
            0.. => self.uint(n as u64),
            -32..=-1 => self.buf.push(n as u8),
            -0x80..=-33 => self.buf.extend_from_slice(&[0xd0, n as u8]),
            -0x8000..=-0x81 => {
                self.buf.push(0xd1);
                self.buf.extend_from_slice(&(n as i16).to_be_bytes());
            }
            -0x8000_0000..=-0x8001 => {
                self.buf.push(0xd2);
                self.buf.extend_from_slice(&(n as i32).to_be_bytes());
            }
            _ => {
                self.buf.push(0xd3);
                self.buf.extend_from_slice(&n.to_be_bytes());
            }
        }
    }
    fn uint(&mut self, n: u64) {
        if self.flavor == Flavor::MsgpackJs && n > MAX_SAFE_INTEGER_U64 {
            return self.f64(n as f64);
        }
        match n {
            0..=0x7f => self.buf.push(n as u8),
            0x80..=0xff => self.buf.extend_from_slice(&[0xcc, n as u8]),
            0x100..=0xffff => {
                self.buf.push(0xcd);
                self.buf.extend_from_slice(&(n as u16).to_be_bytes());
            }
            0x1_0000..=0xffff_ffff => {
                self.buf.push(0xce);
                self.buf.extend_from_slice(&(n as u32).to_be_bytes());
            }
            _ => {
                self.buf.push(0xcf);
                self.buf.extend_from_slice(&n.to_be_bytes());
            }
        }
    }
    fn f32(&mut self, f: f32) {
        self.buf.push(0xca);
        self.buf.extend_from_slice(&f.to_be_bytes());
    }
    fn f64(&mut self, f: f64) {
        self.buf.push(0xcb);
        self.buf.extend_from_slice(&f.to_be_bytes());
    }
    fn str(&mut self, s: &str) {
        self.header(s.len(), 0xa0, 32, Some(0xd9), 0xda, 0xdb);
        self.buf.extend_from_slice(s.as_bytes());
    }
    fn bin(&mut self, b: &[u8]) {
        // bin has no "fix" form: a fix_max of 0 never matches.
        self.header(b.len(), 0, 0, Some(0xc4), 0xc5, 0xc6);
        self.buf.extend_from_slice(b);
    }
    fn ext(&mut self, kind: i8, payload: &[u8]) {
        match payload.len() {
            1 => self.buf.push(0xd4),
            2 => self.buf.push(0xd5),
            4 => self.buf.push(0xd6),
            8 => self.buf.push(0xd7),
            16 => self.buf.push(0xd8),
            len => self.header(len, 0, 0, Some(0xc7), 0xc8, 0xc9),
        }
        self.buf.push(kind as u8);
        self.buf.extend_from_slice(payload);
    }
    fn begin_array(&mut self, len: usize) {
        self.header(len, 0x90, 16, None, 0xdc, 0xdd);
    }
    fn end_array(&mut self) {}
    fn begin_map(&mut self, len: usize) {
        self.header(len, 0x80, 16, None, 0xde, 0xdf);
    }
    fn key(&mut self, k: &str) {
        self.str(k);
    }
    fn end_map(&mut self) {}
}

/// Reads msgpack values one after the other from a buffer.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    max_depth: usize,
    /// [`Limits::max_elements`] left for the message.
    budget: Budget,
}

impl<'a> Reader<'a> {
    /// A reader over `input`, one message holding one top-level value (charged to
    /// the element budget here), refused when it is over `limits`.
    pub(crate) fn new(input: &'a [u8], limits: &Limits) -> Result<Self, DecodeError> {
        limits.check_len(input.len())?;
        Ok(Reader {
            buf: input,
            pos: 0,
            max_depth: limits.max_depth,
            budget: Budget::new(limits)?,
        })
    }

    /// `Err(TrailingBytes)` unless everything was read.
    pub(crate) fn finish(&self) -> Result<(), DecodeError> {
        if self.pos != self.buf.len() {
            return Err(DecodeError::TrailingBytes {
                count: self.buf.len() - self.pos,
            });
        }
        Ok(())
    }

    /// Where the cursor is, bytes from the start.
    pub(crate) fn offset(&self) -> usize {
        self.pos
    }

    /// Steps over a `nil` at the cursor; `false` (nothing read) for any other value.
    pub(crate) fn skip_nil(&mut self) -> bool {
        let nil = self.buf.get(self.pos) == Some(&0xc0);
        self.pos += usize::from(nil);
        nil
    }

    /// The element count of the array at the cursor, charged to the element budget;
    /// `None` (nothing read) when the next value is not an array.
    pub(crate) fn array_header(&mut self) -> Result<Option<usize>, DecodeError> {
        self.container_header(false)
    }

    /// The member count of the map at the cursor, charged to the element budget;
    /// `None` (nothing read) when the next value is not a map.
    pub(crate) fn map_header(&mut self) -> Result<Option<usize>, DecodeError> {
        self.container_header(true)
    }

    fn container_header(&mut self, map: bool) -> Result<Option<usize>, DecodeError> {
        let (fix, m16, m32, bytes_per_element) = if map {
            (0x80, 0xde, 0xdf, 2)
        } else {
            (0x90, 0xdc, 0xdd, 1)
        };
        let Some(&marker) = self.buf.get(self.pos) else {
            return Err(DecodeError::Truncated { offset: self.pos });
        };
        let len = if marker & 0xf0 == fix {
            self.pos += 1;
            usize::from(marker & 0x0f)
        } else if marker == m16 {
            self.pos += 1;
            self.len16()?
        } else if marker == m32 {
            self.pos += 1;
            self.len32()?
        } else {
            return Ok(None);
        };
        self.admit(len, bytes_per_element)?;
        Ok(Some(len))
    }

    /// The string at the cursor, borrowed; `None` (nothing read) when the next
    /// value is not a string.
    pub(crate) fn borrowed_str(&mut self) -> Result<Option<&'a str>, DecodeError> {
        let at = self.pos;
        let Some(&marker) = self.buf.get(at) else {
            return Err(DecodeError::Truncated { offset: at });
        };
        let len = match marker {
            0xa0..=0xbf => {
                self.pos += 1;
                usize::from(marker & 0x1f)
            }
            0xd9..=0xdb => {
                self.pos += 1;
                match marker {
                    0xd9 => self.len8()?,
                    0xda => self.len16()?,
                    _ => self.len32()?,
                }
            }
            _ => return Ok(None),
        };
        let raw = self.take(len)?;
        std::str::from_utf8(raw)
            .map(Some)
            .map_err(|_| DecodeError::InvalidUtf8 { offset: at })
    }

    /// The bytes of the next value, stepped over by their lengths (structure, depth
    /// and element budget checked; strings and map keys are checked when the bytes are
    /// read).
    /// `depth`: how deep the value sits in the message (for the depth limit).
    pub(crate) fn raw_value(&mut self, depth: usize) -> Result<&'a [u8], DecodeError> {
        let start = self.pos;
        self.skip(depth)?;
        Ok(&self.buf[start..self.pos])
    }

    fn skip(&mut self, depth: usize) -> Result<(), DecodeError> {
        let at = self.pos;
        let marker = self.byte()?;
        let (items, bytes) = match marker {
            0x00..=0x7f | 0xc0 | 0xc2 | 0xc3 | 0xe0..=0xff => (0, 0),
            0x80..=0x8f => (2 * usize::from(marker & 0x0f), 0),
            0x90..=0x9f => (usize::from(marker & 0x0f), 0),
            0xa0..=0xbf => (0, usize::from(marker & 0x1f)),
            0xc4 | 0xd9 => (0, self.len8()?),
            0xc5 | 0xda => (0, self.len16()?),
            0xc6 | 0xdb => (0, self.len32()?),
            0xc7 => (0, self.len8()? + 1),
            0xc8 => (0, self.len16()? + 1),
            0xc9 => (0, self.len32()? + 1),
            0xcc | 0xd0 => (0, 1),
            0xcd | 0xd1 | 0xd4 => (0, 2),
            0xd5 => (0, 3),
            0xca | 0xce | 0xd2 => (0, 4),
            0xd6 => (0, 5),
            0xcb | 0xcf | 0xd3 => (0, 8),
            0xd7 => (0, 9),
            0xd8 => (0, 17),
            0xdc => (self.len16()?, 0),
            0xdd => (self.len32()?, 0),
            0xde => (2 * self.len16()?, 0),
            0xdf => (2 * self.len32()?, 0),
            0xc1 => return Err(DecodeError::InvalidMarker { marker, offset: at }),
        };
        self.take(bytes)?;
        if items > 0 || matches!(marker, 0x80..=0x9f | 0xdc..=0xdf) {
            self.container_depth(depth)?;
            // A map's items are its members' names and values: charged as members.
            if matches!(marker, 0x80..=0x8f | 0xde | 0xdf) {
                self.admit(items / 2, 2)?;
            } else {
                self.admit(items, 1)?;
            }
            for _ in 0..items {
                self.skip(depth + 1)?;
            }
        }
        Ok(())
    }

    /// Reads the next value into `s`, without building it.
    fn drive<S: Sink>(&mut self, s: &mut S, depth: usize) -> Result<(), DecodeError> {
        if let Some(len) = self.array_header()? {
            self.container_depth(depth)?;
            s.begin_array(len);
            for _ in 0..len {
                self.drive(s, depth + 1)?;
            }
            s.end_array();
            return Ok(());
        }
        if let Some(len) = self.map_header()? {
            self.container_depth(depth)?;
            s.begin_map(len);
            for _ in 0..len {
                let at = self.pos;
                let name = self.borrowed_str()?;
                s.key(name.ok_or(DecodeError::NonStringKey { offset: at })?);
                self.drive(s, depth + 1)?;
            }
            s.end_map();
            return Ok(());
        }
        if let Some(text) = self.borrowed_str()? {
            s.str(text);
            return Ok(());
        }
        // Scalars, binary and extensions: rare in event data, decoded as a value.
        match self.value(depth)? {
            Value::Bin(b) => s.bin(&b),
            Value::Ext(kind, payload) => s.ext(kind, &payload),
            v => s.value(&v),
        }
        Ok(())
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).filter(|&end| end <= self.buf.len());
        let end = end.ok_or(DecodeError::Truncated {
            offset: self.buf.len(),
        })?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn be<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn len8(&mut self) -> Result<usize, DecodeError> {
        Ok(usize::from(self.byte()?))
    }
    fn len16(&mut self) -> Result<usize, DecodeError> {
        Ok(usize::from(u16::from_be_bytes(self.be()?)))
    }
    fn len32(&mut self) -> Result<usize, DecodeError> {
        Ok(u32::from_be_bytes(self.be()?) as usize)
    }

    /// Admits a container of `count` elements (members, for a map), each taking at
    /// least `bytes_per_element` bytes, before anything is allocated for it: refused
    /// when they cannot fit in the bytes left (`Truncated`) or in the element budget
    /// (`TooManyElements`), else charged to the budget. So the capacity reserved from
    /// length prefixes over a whole message is bounded by both.
    fn admit(&mut self, count: usize, bytes_per_element: usize) -> Result<(), DecodeError> {
        if count.saturating_mul(bytes_per_element) > self.buf.len() - self.pos {
            return Err(DecodeError::Truncated {
                offset: self.buf.len(),
            });
        }
        self.budget.take(count)
    }

    fn str(&mut self, len: usize, at: usize) -> Result<String, DecodeError> {
        let raw = self.take(len)?;
        std::str::from_utf8(raw)
            .map(str::to_owned)
            .map_err(|_| DecodeError::InvalidUtf8 { offset: at })
    }

    fn array(&mut self, len: usize, depth: usize) -> Result<Value, DecodeError> {
        self.admit(len, 1)?;
        let mut items = Vec::with_capacity(len);
        for _ in 0..len {
            items.push(self.value(depth + 1)?);
        }
        Ok(Value::Array(items))
    }

    fn map(&mut self, len: usize, depth: usize) -> Result<Value, DecodeError> {
        self.admit(len, 2)?;
        let mut members = Vec::with_capacity(len);
        for _ in 0..len {
            let at = self.pos;
            let name = self
                .borrowed_str()?
                .ok_or(DecodeError::NonStringKey { offset: at })?;
            members.push((key(name), self.value(depth + 1)?));
        }
        Ok(Value::Map(members))
    }

    /// `Err(TooDeep)` for a container `depth` levels deep past the limit.
    pub(crate) fn container_depth(&self, depth: usize) -> Result<(), DecodeError> {
        if depth >= self.max_depth {
            return Err(DecodeError::TooDeep {
                max: self.max_depth,
            });
        }
        Ok(())
    }

    fn ext(&mut self, len: usize) -> Result<Value, DecodeError> {
        let kind = self.byte()? as i8;
        Ok(Value::Ext(kind, Bytes::copy_from_slice(self.take(len)?)))
    }

    /// The next value, as a tree, sitting `depth` levels deep in the message.
    pub(crate) fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        let at = self.pos;
        let marker = self.byte()?;
        Ok(match marker {
            0x00..=0x7f => Value::Int(i64::from(marker)),
            0x80..=0x8f => {
                self.container_depth(depth)?;
                self.map(usize::from(marker & 0x0f), depth)?
            }
            0x90..=0x9f => {
                self.container_depth(depth)?;
                self.array(usize::from(marker & 0x0f), depth)?
            }
            0xa0..=0xbf => Value::Str(self.str(usize::from(marker & 0x1f), at)?),
            0xc0 => Value::Nil,
            0xc1 => return Err(DecodeError::InvalidMarker { marker, offset: at }),
            0xc2 => Value::Bool(false),
            0xc3 => Value::Bool(true),
            0xc4..=0xc6 => {
                let len = match marker {
                    0xc4 => self.len8()?,
                    0xc5 => self.len16()?,
                    _ => self.len32()?,
                };
                Value::Bin(Bytes::copy_from_slice(self.take(len)?))
            }
            0xc7 => {
                let len = self.len8()?;
                self.ext(len)?
            }
            0xc8 => {
                let len = self.len16()?;
                self.ext(len)?
            }
            0xc9 => {
                let len = self.len32()?;
                self.ext(len)?
            }
            0xca => Value::F32(f32::from_be_bytes(self.be()?)),
            0xcb => Value::F64(f64::from_be_bytes(self.be()?)),
            0xcc => Value::Int(i64::from(self.byte()?)),
            0xcd => Value::Int(i64::from(u16::from_be_bytes(self.be()?))),
            0xce => Value::Int(i64::from(u32::from_be_bytes(self.be()?))),
            0xcf => Value::from(u64::from_be_bytes(self.be()?)),
            0xd0 => Value::Int(i64::from(self.byte()? as i8)),
            0xd1 => Value::Int(i64::from(i16::from_be_bytes(self.be()?))),
            0xd2 => Value::Int(i64::from(i32::from_be_bytes(self.be()?))),
            0xd3 => Value::Int(i64::from_be_bytes(self.be()?)),
            0xd4 => self.ext(1)?,
            0xd5 => self.ext(2)?,
            0xd6 => self.ext(4)?,
            0xd7 => self.ext(8)?,
            0xd8 => self.ext(16)?,
            0xd9 => {
                let len = self.len8()?;
                Value::Str(self.str(len, at)?)
            }
            0xda => {
                let len = self.len16()?;
                Value::Str(self.str(len, at)?)
            }
            0xdb => {
                let len = self.len32()?;
                Value::Str(self.str(len, at)?)
            }
            0xdc | 0xdd => {
                self.container_depth(depth)?;
                let len = if marker == 0xdc {
                    self.len16()?
                } else {
                    self.len32()?
                };
                self.array(len, depth)?
            }
            0xde | 0xdf => {
                self.container_depth(depth)?;
                let len = if marker == 0xde {
                    self.len16()?
                } else {
                    self.len32()?
                };
                self.map(len, depth)?
            }
            0xe0..=0xff => Value::Int(i64::from(marker as i8)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(v: &Value) -> String {
        encode(v, Flavor::Notepack)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn smallest_forms_like_notepack() {
        assert_eq!(hex(&Value::Int(127)), "7f");
        assert_eq!(hex(&Value::Int(128)), "cc80");
        assert_eq!(hex(&Value::Int(-32)), "e0");
        assert_eq!(hex(&Value::Int(-33)), "d0df");
        assert_eq!(hex(&Value::Int(1 << 32)), "cf0000000100000000");
        assert_eq!(hex(&Value::F64(2.5)), "cb4004000000000000");
        assert_eq!(hex(&Value::Str("x".repeat(31))).len(), 2 + 62);
        assert!(hex(&Value::Str("x".repeat(32))).starts_with("d920"));
        assert_eq!(
            hex(&Value::Bin(Bytes::from_static(&[1, 2, 3]))),
            "c403010203"
        );
        assert_eq!(hex(&Value::timestamp_from_millis(1000)), "d6ff00000001");
    }

    #[test]
    fn msgpack_js_flavor_writes_unsafe_integers_as_float64() {
        let v = Value::Int(1 << 60);
        assert_eq!(encode(&v, Flavor::MsgpackJs)[0], 0xcb);
        assert_eq!(encode(&v, Flavor::Notepack)[0], 0xcf);
    }

    #[test]
    fn hostile_lengths_fail_without_allocating() {
        let l = Limits::default();
        // Headers claiming 2^32 − 1 elements, with nothing after them: were room
        // reserved for them (160 GiB of values), the test would abort.
        for header in [
            [0xdd, 0xff, 0xff, 0xff, 0xff],
            [0xdf, 0xff, 0xff, 0xff, 0xff],
        ] {
            assert_eq!(
                decode(&header, &l),
                Err(DecodeError::Truncated { offset: 5 })
            );
            assert_eq!(
                to_json(&header, &l),
                Err(DecodeError::Truncated { offset: 5 })
            );
            // Inside an array that is stepped over by lengths.
            let wrapped = [&[0x91][..], &header].concat();
            let mut r = Reader::new(&wrapped, &l).unwrap();
            assert_eq!(r.raw_value(0), Err(DecodeError::Truncated { offset: 6 }));
        }
        assert!(matches!(
            decode(&[0xdb, 0xff, 0xff, 0xff, 0xff], &l),
            Err(DecodeError::Truncated { .. })
        ));
        let deep = vec![0x91; 100];
        assert!(matches!(
            decode(&deep, &l),
            Err(DecodeError::TooDeep { .. })
        ));
        assert!(matches!(
            decode(&[0xc1], &l),
            Err(DecodeError::InvalidMarker { .. })
        ));
        assert!(matches!(
            decode(&[0x01, 0x02], &l),
            Err(DecodeError::TrailingBytes { count: 1 })
        ));
        assert!(matches!(
            decode(&[0x81, 0x01, 0x01], &l),
            Err(DecodeError::NonStringKey { .. })
        ));
    }

    /// An array of `n` nils.
    fn nils(n: usize) -> Vec<u8> {
        let mut bytes = Vec::new();
        let mut w = Writer::new(Flavor::Notepack);
        w.begin_array(n);
        bytes.append(&mut w.into_bytes());
        bytes.resize(bytes.len() + n, 0xc0);
        bytes
    }

    #[test]
    fn element_budget_counts_every_value() {
        let max = Limits::DEFAULT_MAX_ELEMENTS;
        let l = Limits::default();
        // The array and its elements: max values, then one more.
        assert!(decode(&nils(max - 1), &l).is_ok());
        assert_eq!(
            decode(&nils(max), &l),
            Err(DecodeError::TooManyElements { max })
        );
        assert_eq!(
            to_json(&nils(max), &l),
            Err(DecodeError::TooManyElements { max })
        );
        assert_eq!(
            to_json(&nils(max - 1), &l).map(|json| json.map(|j| j.len())),
            Ok(Some(5 * (max - 1) + 1))
        );
        let over = nils(max);
        let mut r = Reader::new(&over, &l).unwrap();
        assert_eq!(r.raw_value(0), Err(DecodeError::TooManyElements { max }));
        // [1, {"a": [2]}] holds 5 values.
        let v = Value::Array(vec![
            Value::Int(1),
            Value::Map(vec![("a".into(), Value::Array(vec![Value::Int(2)]))]),
        ]);
        let bytes = encode(&v, Flavor::Notepack);
        let five = Limits::default().max_elements(5);
        assert_eq!(decode(&bytes, &five), Ok(v));
        assert_eq!(to_json(&bytes, &five), Ok(Some(r#"[1,{"a":[2]}]"#.into())));
        assert!(Reader::new(&bytes, &five).unwrap().raw_value(0).is_ok());
        let four = Limits::default().max_elements(4);
        assert_eq!(
            decode(&bytes, &four),
            Err(DecodeError::TooManyElements { max: 4 })
        );
        assert_eq!(
            to_json(&bytes, &four),
            Err(DecodeError::TooManyElements { max: 4 })
        );
        let mut r = Reader::new(&bytes, &four).unwrap();
        assert_eq!(r.raw_value(0), Err(DecodeError::TooManyElements { max: 4 }));
        // A scalar is one value.
        let none = Limits::default().max_elements(0);
        assert_eq!(
            decode(&[0xc0], &none),
            Err(DecodeError::TooManyElements { max: 0 })
        );
        assert_eq!(decode(&[0xc0], &none.max_elements(1)), Ok(Value::Nil));
    }

    /// Room is reserved for a container's declared length only once that length is
    /// charged to the budget: nested headers cannot each claim the whole budget.
    #[test]
    fn declared_lengths_are_charged_before_elements_are_read() {
        let l = Limits::default().max_elements(100);
        // [[50 elements…], 49 more…]: 1 + 50 + 50 values claimed by two headers, with
        // bytes enough for them all.
        let mut bytes = vec![0xdc, 0x00, 0x32, 0xdc, 0x00, 0x32];
        bytes.resize(200, 0xc0);
        assert_eq!(
            decode(&bytes, &l),
            Err(DecodeError::TooManyElements { max: 100 })
        );
        assert_eq!(
            to_json(&bytes, &l),
            Err(DecodeError::TooManyElements { max: 100 })
        );
    }

    #[test]
    fn timestamps_round_trip() {
        for ms in [0i64, 1000, 1_700_000_000_123, -1, -86_400_000, 1 << 40] {
            let v = Value::timestamp_from_millis(ms);
            assert_eq!(v.timestamp_millis(), Some(ms), "{ms}");
        }
    }
}
