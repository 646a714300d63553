//! JSON exactly as JavaScript's `JSON.stringify` writes it and `JSON.parse` reads it: no
//! spaces, members in insertion order, numbers in `Number.prototype.toString` form,
//! strings escaped as ECMAScript's `QuoteJSONString`.
//!
//! Values JSON cannot hold are written as Node writes them: binary as Node's
//! `Buffer.toJSON()` (`{"type":"Buffer","data":[..]}`), timestamps as `Date.toJSON()`
//! ISO-8601 strings, non-finite numbers as `null`.

use std::borrow::Cow;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use hashbrown::HashTable;

use crate::error::{Budget, DecodeError, Limits};
use crate::sink::Sink;
use crate::value::{Key, TIMESTAMP_EXT, Value, key};

/// Encodes one value as JSON, byte for byte as `JSON.stringify` would.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut w = Writer::default();
    w.value(value);
    w.into_bytes()
}

/// Decodes one JSON text into a [`Value`] as `JSON.parse` reads it: an integer literal
/// that fits `i64` is an integer, any other number a float (an integral float within
/// ±(2^53 − 1) becomes an integer, as it is one in JavaScript); of duplicate member names
/// the last value wins, at the first one's position.
///
/// # Errors
/// [`DecodeError::TooLarge`] / [`DecodeError::TooDeep`] /
/// [`DecodeError::TooManyElements`] past `limits`;
/// [`DecodeError::Json`] (with the byte offset) for anything that is not JSON;
/// [`DecodeError::TrailingBytes`] for anything but white space after the value.
pub fn decode(input: &[u8], limits: &Limits) -> Result<Value, DecodeError> {
    parse(input, None, limits)
}

/// [`decode`] for text already known to be UTF-8 (e.g. what a Socket.IO parser
/// wrote): strings are not validated again.
///
/// # Errors
/// As [`decode`].
pub fn decode_str(input: &str, limits: &Limits) -> Result<Value, DecodeError> {
    parse(input.as_bytes(), Some(input), limits)
}

fn parse(input: &[u8], text: Option<&str>, limits: &Limits) -> Result<Value, DecodeError> {
    limits.check_len(input.len())?;
    let mut p = Parser {
        s: input,
        text,
        pos: 0,
        max_depth: limits.max_depth,
        budget: Budget::new(limits)?,
    };
    let v = p.value(0)?;
    p.skip_ws();
    if p.pos != input.len() {
        return Err(DecodeError::TrailingBytes {
            count: input.len() - p.pos,
        });
    }
    Ok(v)
}

/// The index of the first byte of `s` that ends a plain run inside a JSON string: `"`,
/// `\\` or a control character. memchr finds the first two with SIMD; the control
/// characters before it are checked by a loop the compiler vectorises.
fn special(s: &[u8]) -> Option<usize> {
    let end = memchr::memchr2(b'"', b'\\', s).unwrap_or(s.len());
    let run = &s[..end];
    if run.iter().fold(false, |acc, &b| acc | (b < 0x20)) {
        return run.iter().position(|&b| b < 0x20);
    }
    (end < s.len()).then_some(end)
}

/// A recursive-descent JSON parser (RFC 8259) building [`Value`]s.
struct Parser<'a> {
    s: &'a [u8],
    /// `s` as text, when it is known to be UTF-8.
    text: Option<&'a str>,
    pos: usize,
    max_depth: usize,
    /// [`Limits::max_elements`] left for the text (its top-level value charged).
    budget: Budget,
}

impl<'a> Parser<'a> {
    fn error(&self, what: &str) -> DecodeError {
        DecodeError::Json(format!("{what} at byte {}", self.pos))
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.pos) {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Result<u8, DecodeError> {
        self.skip_ws();
        self.s
            .get(self.pos)
            .copied()
            .ok_or(DecodeError::Truncated { offset: self.pos })
    }

    fn literal(&mut self, word: &[u8], v: Value) -> Result<Value, DecodeError> {
        if self.s[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(v)
        } else {
            Err(self.error("invalid literal"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        match self.peek()? {
            b'{' => self.object(depth),
            b'[' => self.array(depth),
            b'"' => self.string().map(Value::Str),
            b't' => self.literal(b"true", Value::Bool(true)),
            b'f' => self.literal(b"false", Value::Bool(false)),
            b'n' => self.literal(b"null", Value::Nil),
            b'-' | b'0'..=b'9' => self.number(),
            _ => Err(self.error("unexpected character")),
        }
    }

    fn enter(&self, depth: usize) -> Result<(), DecodeError> {
        if depth >= self.max_depth {
            return Err(DecodeError::TooDeep {
                max: self.max_depth,
            });
        }
        Ok(())
    }

    fn array(&mut self, depth: usize) -> Result<Value, DecodeError> {
        self.enter(depth)?;
        self.pos += 1; // [
        let mut items = Vec::new();
        if self.peek()? == b']' {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.budget.take(1)?;
            items.push(self.value(depth + 1)?);
            match self.peek()? {
                b',' => self.pos += 1,
                b']' => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.error("expected , or ]")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, DecodeError> {
        self.enter(depth)?;
        self.pos += 1; // {
        let mut members = Members::new();
        if self.peek()? == b'}' {
            self.pos += 1;
            return Ok(Value::Map(members.list));
        }
        loop {
            if self.peek()? != b'"' {
                return Err(self.error("expected a member name"));
            }
            let name = self.name()?;
            if self.peek()? != b':' {
                return Err(self.error("expected :"));
            }
            self.pos += 1;
            self.budget.take(1)?;
            let v = self.value(depth + 1)?;
            members.set(name, v);
            match self.peek()? {
                b',' => self.pos += 1,
                b'}' => {
                    self.pos += 1;
                    return Ok(Value::Map(members.list));
                }
                _ => return Err(self.error("expected , or }")),
            }
        }
    }

    /// A member name: borrowed from the input when it has no escapes.
    fn name(&mut self) -> Result<Cow<'a, str>, DecodeError> {
        let s = self.s;
        let start = self.pos + 1;
        let plain = special(&s[start..]);
        if let Some(len) = plain
            && s[start + len] == b'"'
        {
            let name = std::str::from_utf8(&s[start..start + len])
                .map_err(|_| DecodeError::InvalidUtf8 { offset: start })?;
            self.pos = start + len + 1;
            return Ok(Cow::Borrowed(name));
        }
        self.string().map(Cow::Owned)
    }

    fn string(&mut self) -> Result<String, DecodeError> {
        self.pos += 1; // "
        let start = self.pos;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let rest = &self.s[self.pos..];
            let run = special(rest);
            let run = run.ok_or(DecodeError::Truncated {
                offset: self.s.len(),
            })?;
            let end = self.pos + run;
            match self.s[end] {
                b'"' => {
                    let plain = out.is_empty() && self.pos == start;
                    // Quotes are ASCII, so `start..end` lies on character boundaries.
                    if let (true, Some(text)) = (plain, self.text.and_then(|t| t.get(start..end))) {
                        self.pos = end + 1;
                        return Ok(text.to_owned());
                    }
                    let bytes = if plain {
                        self.s[start..end].to_vec()
                    } else {
                        out.extend_from_slice(&self.s[self.pos..end]);
                        out
                    };
                    self.pos = end + 1;
                    return String::from_utf8(bytes)
                        .map_err(|_| DecodeError::InvalidUtf8 { offset: start });
                }
                b'\\' => {
                    out.extend_from_slice(&self.s[self.pos..end]);
                    self.pos = end;
                    self.escape(&mut out)?;
                }
                _ => {
                    self.pos = end;
                    return Err(self.error("control character in string"));
                }
            }
        }
    }

    /// One escape sequence, `self.pos` on its backslash.
    fn escape(&mut self, out: &mut Vec<u8>) -> Result<(), DecodeError> {
        let c = *self
            .s
            .get(self.pos + 1)
            .ok_or(DecodeError::Truncated { offset: self.pos })?;
        self.pos += 2;
        let simple = match c {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let mut unit = self.hex4()?;
                let ch =
                    if (0xd800..0xdc00).contains(&unit) && self.s[self.pos..].starts_with(b"\\u") {
                        self.pos += 2;
                        let low = self.hex4()?;
                        if !(0xdc00..0xe000).contains(&low) {
                            return Err(self.error("unpaired surrogate"));
                        }
                        unit = 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00);
                        char::from_u32(unit)
                    } else {
                        char::from_u32(unit)
                    };
                // A lone surrogate (JSON.parse keeps it) has no UTF-8 form.
                let ch = ch.ok_or_else(|| self.error("unpaired surrogate"))?;
                out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                return Ok(());
            }
            _ => return Err(self.error("invalid escape")),
        };
        out.push(simple);
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, DecodeError> {
        let digits = self
            .s
            .get(self.pos..self.pos + 4)
            .ok_or(DecodeError::Truncated { offset: self.pos })?;
        let text = std::str::from_utf8(digits).map_err(|_| self.error("invalid \\u escape"))?;
        let unit = u32::from_str_radix(text, 16).map_err(|_| self.error("invalid \\u escape"))?;
        self.pos += 4;
        Ok(unit)
    }

    fn number(&mut self) -> Result<Value, DecodeError> {
        let start = self.pos;
        let digits = |p: &mut Self| {
            let from = p.pos;
            while p.s.get(p.pos).is_some_and(u8::is_ascii_digit) {
                p.pos += 1;
            }
            p.pos - from
        };
        if self.s[self.pos] == b'-' {
            self.pos += 1;
        }
        let int_start = self.pos;
        let int_len = digits(self);
        if int_len == 0 || (int_len > 1 && self.s[int_start] == b'0') {
            return Err(self.error("invalid number"));
        }
        let mut integral = true;
        if self.s.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            integral = false;
            if digits(self) == 0 {
                return Err(self.error("invalid number"));
            }
        }
        if let Some(b'e' | b'E') = self.s.get(self.pos) {
            self.pos += 1;
            integral = false;
            if let Some(b'+' | b'-') = self.s.get(self.pos) {
                self.pos += 1;
            }
            if digits(self) == 0 {
                return Err(self.error("invalid number"));
            }
        }
        // The grammar above admits ASCII only.
        let text = std::str::from_utf8(&self.s[start..self.pos])
            .map_err(|_| self.error("invalid number"))?;
        if integral && let Ok(n) = text.parse::<i64>() {
            return Ok(Value::Int(n));
        }
        text.parse::<f64>()
            .map(Value::from)
            .map_err(|_| self.error("invalid number"))
    }
}

/// Reads a JSON object member by member, for decoders that build only part of a
/// message as a [`Value`] and step over the rest, or keep it as text
/// ([`Reader::raw`]). Depth, element budget and error rules are those of [`decode`]:
/// what a `Reader` accepts, [`decode`] accepts, charged the same.
pub(crate) struct Reader<'a> {
    p: Parser<'a>,
}

impl<'a> Reader<'a> {
    /// A reader of `input`, its top-level value charged to the element budget.
    ///
    /// # Errors
    /// As [`decode`], past `limits`.
    pub(crate) fn new(input: &'a [u8], limits: &Limits) -> Result<Self, DecodeError> {
        limits.check_len(input.len())?;
        Ok(Self {
            p: Parser {
                s: input,
                text: None,
                pos: 0,
                max_depth: limits.max_depth,
                budget: Budget::new(limits)?,
            },
        })
    }

    /// Opens the object at nesting `depth` (0 for the top level).
    ///
    /// # Errors
    /// [`DecodeError::Json`] when the next value is not an object; as [`decode`].
    pub(crate) fn begin_object(&mut self, depth: usize) -> Result<(), DecodeError> {
        if self.p.peek()? != b'{' {
            return Err(self.p.error("expected an object"));
        }
        self.p.enter(depth)?;
        self.p.pos += 1;
        Ok(())
    }

    /// The next member name of the open object, its `:` read and its value charged;
    /// `None` past the closing `}`. `first` is true until the first call returns.
    ///
    /// # Errors
    /// As [`decode`].
    pub(crate) fn next_name(
        &mut self,
        first: &mut bool,
    ) -> Result<Option<Cow<'a, str>>, DecodeError> {
        match (self.p.peek()?, *first) {
            (b'}', _) => {
                self.p.pos += 1;
                return Ok(None);
            }
            (b',', false) => self.p.pos += 1,
            (_, false) => return Err(self.p.error("expected , or }")),
            (_, true) => {}
        }
        *first = false;
        if self.p.peek()? != b'"' {
            return Err(self.p.error("expected a member name"));
        }
        let name = self.p.name()?;
        if self.p.peek()? != b':' {
            return Err(self.p.error("expected :"));
        }
        self.p.pos += 1;
        self.p.budget.take(1)?;
        Ok(Some(name))
    }

    /// The next value, at nesting `depth`, as a [`Value`].
    ///
    /// # Errors
    /// As [`decode`].
    pub(crate) fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        self.p.value(depth)
    }

    /// The next value, at nesting `depth`, stepped over.
    ///
    /// # Errors
    /// As [`decode`].
    pub(crate) fn skip(&mut self, depth: usize) -> Result<(), DecodeError> {
        self.raw(depth).map(drop)
    }

    /// The next value, at nesting `depth`, checked as [`decode`] checks it and returned
    /// as the text it was sent as (no leading white space), without building a tree:
    /// one pass over its bytes, no allocation but for strings with escapes.
    ///
    /// # Errors
    /// As [`decode`].
    pub(crate) fn raw(&mut self, depth: usize) -> Result<&'a str, DecodeError> {
        self.p.skip_ws();
        let start = self.p.pos;
        self.p.skip(depth)?;
        // Outside strings the grammar admits ASCII only: checking the span at once is
        // checking every string in it.
        std::str::from_utf8(&self.p.s[start..self.p.pos]).map_err(|e| DecodeError::InvalidUtf8 {
            offset: start + e.valid_up_to(),
        })
    }

    /// Ends the text: nothing but white space may follow.
    ///
    /// # Errors
    /// [`DecodeError::TrailingBytes`].
    pub(crate) fn finish(mut self) -> Result<(), DecodeError> {
        self.p.skip_ws();
        match self.p.s.len() - self.p.pos {
            0 => Ok(()),
            count => Err(DecodeError::TrailingBytes { count }),
        }
    }
}

impl Parser<'_> {
    /// Steps over one value with the checks and charges of [`Parser::value`].
    fn skip(&mut self, depth: usize) -> Result<(), DecodeError> {
        let (close, object) = match self.peek()? {
            b'{' => (b'}', true),
            b'[' => (b']', false),
            b'"' => return self.skip_string(),
            b't' => return self.literal(b"true", Value::Nil).map(drop),
            b'f' => return self.literal(b"false", Value::Nil).map(drop),
            b'n' => return self.literal(b"null", Value::Nil).map(drop),
            b'-' | b'0'..=b'9' => return self.number().map(drop),
            _ => return Err(self.error("unexpected character")),
        };
        self.enter(depth)?;
        self.pos += 1;
        if self.peek()? == close {
            self.pos += 1;
            return Ok(());
        }
        loop {
            if object {
                if self.peek()? != b'"' {
                    return Err(self.error("expected a member name"));
                }
                self.skip_string()?;
                if self.peek()? != b':' {
                    return Err(self.error("expected :"));
                }
                self.pos += 1;
            }
            self.budget.take(1)?;
            self.skip(depth + 1)?;
            match self.peek()? {
                b',' => self.pos += 1,
                c if c == close => {
                    self.pos += 1;
                    return Ok(());
                }
                _ if object => return Err(self.error("expected , or }")),
                _ => return Err(self.error("expected , or ]")),
            }
        }
    }

    /// Steps over a string, `self.pos` on its opening quote: escapes checked as
    /// [`Parser::string`] checks them; UTF-8 is left to the caller.
    fn skip_string(&mut self) -> Result<(), DecodeError> {
        self.pos += 1; // "
        let mut scratch = Vec::new();
        loop {
            let run = special(&self.s[self.pos..]).ok_or(DecodeError::Truncated {
                offset: self.s.len(),
            })?;
            self.pos += run;
            match self.s[self.pos] {
                b'"' => {
                    self.pos += 1;
                    return Ok(());
                }
                b'\\' => {
                    scratch.clear();
                    self.escape(&mut scratch)?;
                }
                _ => return Err(self.error("control character in string")),
            }
        }
    }
}

/// Objects with up to this many members find a repeated name by comparing it with every
/// member (no hashing, no index to build); past it, by a hash map of the names.
const SCANNED_MEMBERS: usize = 16;

/// The members of an object being parsed, with `JSON.parse`'s rule for repeated names
/// (the last value wins, at the first one's position), in time linear in the member
/// count.
struct Members {
    /// The members, in order of first occurrence.
    list: Vec<(Key, Value)>,
    /// Once `list` has more than [`SCANNED_MEMBERS`] members: a hash table of indices
    /// into `list`, hashed by name with std's per-map random SipHash keys (so that a
    /// sender cannot choose names that collide). It holds 4-byte indices, not the
    /// names: a 100 000-member object costs 0.5 MiB of table instead of 4 MiB
    /// (measured on a 2-core machine: 56-61 ms -> 42 ms,
    /// `cargo bench -p sio-redis-wire -- "decode 100 000"`).
    index: Option<(HashTable<u32>, RandomState)>,
}

impl Members {
    fn new() -> Self {
        Self {
            // No allocation for `{}`: a message of empty objects costs what its
            // budget of values says. The first member reserves room for 4.
            list: Vec::new(),
            index: None,
        }
    }

    /// Adds the member `name: v`, or replaces the value of the member named `name`.
    fn set(&mut self, name: Cow<'_, str>, v: Value) {
        let Members { list, index } = self;
        if index.is_none() {
            if let Some(slot) = list.iter_mut().find(|(k, _)| *k == *name) {
                slot.1 = v;
                return;
            }
            if list.len() == SCANNED_MEMBERS {
                let state = RandomState::new();
                let mut table = HashTable::with_capacity(4 * SCANNED_MEMBERS);
                for (i, (k, _)) in list.iter().enumerate() {
                    table.insert_unique(state.hash_one(&**k), i as u32, |&j| {
                        state.hash_one(&*list[j as usize].0)
                    });
                }
                *index = Some((table, state));
            }
        }
        if let Some((table, state)) = index {
            let hash = state.hash_one(&*name);
            if let Some(&at) = table.find(hash, |&j| list[j as usize].0 == *name) {
                list[at as usize].1 = v;
                return;
            }
            // At most the element budget (2^20 by default, a u32 by type) members.
            let at = u32::try_from(list.len()).unwrap_or(u32::MAX);
            table.insert_unique(hash, at, |&j| state.hash_one(&*list[j as usize].0));
        }
        let k = match name {
            Cow::Borrowed(name) => key(name),
            Cow::Owned(name) => Key::Owned(name),
        };
        list.push((k, v));
    }
}

/// For each byte: 0 when written as is, else the letter after the backslash of its
/// escape (`u` for `\u00XX`), as ECMAScript's `QuoteJSONString` escapes.
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

/// The JSON [`Sink`].
#[derive(Debug)]
pub(crate) struct Writer {
    buf: Vec<u8>,
    /// One entry per open container: whether it has no element yet.
    first: Vec<bool>,
    /// A key was just written: the next value needs no comma.
    after_key: bool,
}

impl Default for Writer {
    fn default() -> Self {
        Self {
            buf: Vec::with_capacity(256),
            first: Vec::with_capacity(8),
            after_key: false,
        }
    }
}

impl Writer {
    /// A writer whose buffer starts with room for `bytes`.
    pub(crate) fn with_capacity(bytes: usize) -> Self {
        Self {
            buf: Vec::with_capacity(bytes),
            first: Vec::with_capacity(8),
            after_key: false,
        }
    }

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
        // Most strings need no escape: check with a loop the compiler vectorises.
        let plain = !bytes.iter().fold(false, |acc, &b| {
            acc | (b < 0x20) | (b == b'"') | (b == b'\\')
        });
        if plain {
            self.buf.extend_from_slice(bytes);
            self.buf.push(b'"');
            return;
        }
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let esc = ESCAPE[usize::from(b)];
            if esc == 0 {
                continue;
            }
            self.buf.extend_from_slice(&bytes[start..i]);
            if esc == b'u' {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                self.buf.extend_from_slice(b"\\u00");
                self.buf.push(HEX[usize::from(b >> 4)]);
                self.buf.push(HEX[usize::from(b & 0xf)]);
            } else {
                self.buf.extend_from_slice(&[b'\\', esc]);
            }
            start = i + 1;
        }
        self.buf.extend_from_slice(&bytes[start..]);
        self.buf.push(b'"');
    }

    /// Writes `json`, a JSON text this process produced (not checked), as the next
    /// value.
    pub(crate) fn raw_json(&mut self, json: &str) {
        self.sep();
        self.buf.extend_from_slice(json.as_bytes());
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
        out.push(if n > 0 { b'+' } else { b'-' });
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

    /// What `JSON.parse` builds from `members` (name, value) in order: the obvious
    /// quadratic algorithm, as an oracle.
    fn parsed(members: &[(String, i64)]) -> Value {
        let mut out: Vec<(Key, Value)> = Vec::new();
        for (name, v) in members {
            match out.iter_mut().find(|(k, _)| k == name) {
                Some(slot) => slot.1 = Value::Int(*v),
                None => out.push((name.clone().into(), Value::Int(*v))),
            }
        }
        Value::Map(out)
    }

    /// `{"name":v,…}`, names written with the escape `\u006d` for `m` when `escaped`.
    fn object_text(members: &[(String, i64)], escaped: impl Fn(usize) -> bool) -> String {
        let mut text = String::from("{");
        for (i, (name, v)) in members.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            let name = if escaped(i) {
                name.replacen('m', "\\u006d", 1)
            } else {
                name.clone()
            };
            text.push_str(&format!("\"{name}\":{v}"));
        }
        text.push('}');
        text
    }

    /// Member names were once compared with every earlier one: an object of 100 000
    /// members took over 20 s. Repeated names (some written with escapes) must still
    /// keep `JSON.parse`'s rule: the last value wins, at the first one's position.
    #[test]
    fn object_with_many_members_decodes_in_linear_time() {
        const N: i64 = 100_000;
        let mut members: Vec<(String, i64)> = (0..N).map(|i| (format!("m{i}"), i)).collect();
        // Every 7th name again, later, in reverse order, with a new value.
        members.extend((0..N).rev().step_by(7).map(|i| (format!("m{i}"), -i)));
        // Known member names (borrowed keys) among them, repeated too.
        members.extend([("type".into(), 1), ("data".into(), 2), ("type".into(), 3)]);
        let text = object_text(&members, |i| i % 11 == 0);
        let v = decode(text.as_bytes(), &Limits::default()).unwrap();
        let Value::Map(got) = &v else {
            panic!("not a map")
        };
        assert_eq!(got.len(), N as usize + 2);
        assert_eq!(got[0], ("m0".into(), Value::Int(0)));
        assert_eq!(got[1], ("m1".into(), Value::Int(1)));
        let last = N as usize - 1;
        assert_eq!(got[last], (format!("m{last}").into(), Value::Int(1 - N)));
        assert_eq!(got[last - 1].1, Value::Int(N - 2));
        assert_eq!(got[last - 7].1, Value::Int(8 - N));
        assert_eq!(got[N as usize], ("type".into(), Value::Int(3)));
        let repeated = |i: i64| (N - 1 - i) % 7 == 0;
        let want = (0..N)
            .map(|i| {
                (
                    format!("m{i}").into(),
                    Value::Int(if repeated(i) { -i } else { i }),
                )
            })
            .chain([
                ("type".into(), Value::Int(3)),
                ("data".into(), Value::Int(2)),
            ]);
        assert_eq!(v, Value::Map(want.collect()));
        assert_eq!(decode_str(&text, &Limits::default()).unwrap(), v);
    }

    /// Around the member count where repeated names stop being found by a scan and
    /// start being found by the hash map, with repeats of the first, middle and last
    /// names, before and after it.
    #[test]
    fn repeated_member_names_across_the_index_threshold() {
        for n in [
            1,
            2,
            SCANNED_MEMBERS - 1,
            SCANNED_MEMBERS,
            SCANNED_MEMBERS + 1,
            40,
        ] {
            let names: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
            for repeat in [0, n / 2, n - 1] {
                for at in 0..=n {
                    let mut members: Vec<(String, i64)> = names.iter().cloned().zip(0..).collect();
                    members.insert(at, (names[repeat].clone(), -1));
                    members.push((names[repeat].clone(), -2));
                    for escaped in [false, true] {
                        let text = object_text(&members, |i| escaped && i % 2 == 0);
                        let got = decode(text.as_bytes(), &Limits::default()).unwrap();
                        assert_eq!(got, parsed(&members), "{text}");
                    }
                }
            }
        }
    }

    #[test]
    fn element_budget_counts_every_value() {
        let max = Limits::DEFAULT_MAX_ELEMENTS;
        let zeros = |n: usize| format!("[{}0]", "0,".repeat(n - 1));
        // The array and its elements: max values, then one more.
        assert!(decode(zeros(max - 1).as_bytes(), &Limits::default()).is_ok());
        assert_eq!(
            decode(zeros(max).as_bytes(), &Limits::default()),
            Err(DecodeError::TooManyElements { max })
        );
        assert_eq!(
            decode_str(&zeros(max), &Limits::default()),
            Err(DecodeError::TooManyElements { max })
        );
        let text = br#"[1,{"a":[2],"b":{}}]"#;
        let six = Limits::default().max_elements(6);
        assert!(decode(text, &six).is_ok());
        assert_eq!(
            decode(text, &six.max_elements(5)),
            Err(DecodeError::TooManyElements { max: 5 })
        );
        // A repeated member name counts each time.
        let repeated = br#"{"a":1,"a":2}"#;
        assert!(decode(repeated, &Limits::default().max_elements(3)).is_ok());
        assert_eq!(
            decode(repeated, &Limits::default().max_elements(2)),
            Err(DecodeError::TooManyElements { max: 2 })
        );
        assert_eq!(
            decode(b"null", &Limits::default().max_elements(0)),
            Err(DecodeError::TooManyElements { max: 0 })
        );
    }

    #[test]
    fn parse_keeps_order_and_js_numbers() {
        let l = Limits::default();
        let v = decode(br#" {"b":1.0,"a":[2.5,1e3],"c":null,"b":2} "#, &l).unwrap();
        assert_eq!(encode(&v), br#"{"b":2,"a":[2.5,1000],"c":null}"#);
        let v = decode(br#"["\u00e9\ud83d\ude00\n\/",-0,18446744073709551616]"#, &l).unwrap();
        assert_eq!(
            encode(&v),
            "[\"é😀\\n/\",0,18446744073709552000]".as_bytes()
        );
        for bad in [
            &b"[1,]"[..],
            b"{\"a\" 1}",
            b"01",
            b"\"\\ud800\"",
            b"[",
            b"\"\x01\"",
            b"1 2",
            b"-",
            b"1.",
        ] {
            assert!(decode(bad, &l).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
