//! [`Value`]: any JavaScript value a Node server can put in an adapter message.

use std::borrow::Cow;

use bytes::Bytes;

use crate::js::MAX_SAFE_INTEGER_F64;

/// A JavaScript value as carried by the adapters' msgpack and JSON encodings.
///
/// It keeps what the wire distinguishes, so that a decoded Node message re-encodes to the
/// same bytes: integers apart from floats (notepack.io 3 writes integral numbers as
/// integers and everything else as float64), object members in insertion order, binary
/// (`Buffer`) apart from strings, and msgpack extensions such as timestamps (`Date`,
/// extension type −1) as raw bytes.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    /// `null` (also what `undefined` becomes inside arrays).
    #[default]
    Nil,
    /// `true` / `false`.
    Bool(bool),
    /// An integral number that fits in `i64`.
    Int(i64),
    /// An integral number above `i64::MAX` (only from msgpack `uint 64`).
    UInt(u64),
    /// A msgpack float32 (Node never writes one, but accepts it).
    F32(f32),
    /// A non-integral or non-finite number, written as float64.
    F64(f64),
    /// A string.
    Str(String),
    /// Binary data (a Node `Buffer`, msgpack `bin`).
    Bin(Bytes),
    /// An array.
    Array(Vec<Value>),
    /// An object, members in insertion order.
    Map(Vec<(Key, Value)>),
    /// A msgpack extension: type and payload. Type −1 is a timestamp (`Date`).
    Ext(i8, Bytes),
}

/// A member name of a [`Value::Map`]. The decoders borrow the names the adapters use
/// (`"type"`, `"data"`, `"rooms"`, …) from static strings instead of allocating them.
pub type Key = Cow<'static, str>;

macro_rules! known_keys {
    ($($name:literal)*) => {
        /// `s` as a [`Key`], borrowed when it is one of the member names of adapter
        /// messages.
        pub(crate) fn key(s: &str) -> Key {
            match s {
                $($name => Cow::Borrowed($name),)*
                _ => Cow::Owned(s.to_owned()),
            }
        }
    };
}

known_keys!(
    "type" "data" "nsp" "uid" "requestId" "packet" "opts" "rooms" "except" "flags" "close"
    "sockets" "clientCount" "id" "handshake" "volatile" "compress" "local" "broadcast" "binary"
    "timeout" "expectSingleResponse" "sid" "pid" "room" "headers" "time" "address" "xdomain"
    "secure" "issued" "url" "query" "auth"
);

/// msgpack extension type of timestamps (JavaScript `Date`).
pub const TIMESTAMP_EXT: i8 = -1;

impl Value {
    /// The member `key` of a map, or `None` (also for non-maps).
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The number as `i64` if it is integral and fits (floats with an integral value
    /// count, as they do in JavaScript).
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::Int(n) => Some(n),
            Value::UInt(n) => i64::try_from(n).ok(),
            Value::F64(f) if f.fract() == 0.0 && f.abs() < 9.3e18 => Some(f as i64),
            Value::F32(f) if f.fract() == 0.0 && f.abs() < 9.3e18 => Some(f as i64),
            _ => None,
        }
    }

    /// The array elements, if this is an array.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    /// Whether this is `null`.
    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }

    /// `hasBinary()` of socket.io-adapter 2.5 / the streams adapter 0.3: true when binary
    /// data appears anywhere inside (PROTOCOL.md §0.5).
    pub fn has_binary(&self) -> bool {
        match self {
            Value::Bin(_) => true,
            Value::Array(items) => items.iter().any(Value::has_binary),
            Value::Map(members) => members.iter().any(|(_, v)| v.has_binary()),
            _ => false,
        }
    }

    /// A timestamp value (msgpack extension −1, a JavaScript `Date`) for `ms` milliseconds
    /// since the Unix epoch, in the smallest form notepack.io 3 writes: timestamp 32 when
    /// there are no milliseconds and the seconds fit in 32 bits, timestamp 64 when the
    /// seconds fit in 34 bits, else timestamp 96.
    pub fn timestamp_from_millis(ms: i64) -> Value {
        let secs = ms.div_euclid(1000);
        let nanos = (ms.rem_euclid(1000) * 1_000_000) as u32;
        let payload: Vec<u8> = if (0..1 << 34).contains(&secs) {
            if nanos == 0 && secs < 1 << 32 {
                (secs as u32).to_be_bytes().to_vec()
            } else {
                (u64::from(nanos) << 34 | secs as u64)
                    .to_be_bytes()
                    .to_vec()
            }
        } else {
            let mut p = nanos.to_be_bytes().to_vec();
            p.extend_from_slice(&secs.to_be_bytes());
            p
        };
        Value::Ext(TIMESTAMP_EXT, Bytes::from(payload))
    }

    /// Milliseconds since the Unix epoch of a timestamp extension (−1) of 4, 8 or 12
    /// bytes, as JavaScript's `Date` would hold it; `None` for anything else.
    pub fn timestamp_millis(&self) -> Option<i64> {
        let Value::Ext(TIMESTAMP_EXT, p) = self else {
            return None;
        };
        let (secs, nanos) = match p.len() {
            4 => (i64::from(u32::from_be_bytes(p[..4].try_into().ok()?)), 0u32),
            8 => {
                let v = u64::from_be_bytes(p[..8].try_into().ok()?);
                ((v & ((1 << 34) - 1)) as i64, (v >> 34) as u32)
            }
            12 => (
                i64::from_be_bytes(p[4..12].try_into().ok()?),
                u32::from_be_bytes(p[..4].try_into().ok()?),
            ),
            _ => return None,
        };
        secs.checked_mul(1000)?
            .checked_add(i64::from(nanos / 1_000_000))
    }

    /// Depth of nesting: 0 for a scalar, 1 for a flat array or map, and so on.
    pub fn depth(&self) -> usize {
        match self {
            Value::Array(items) => 1 + items.iter().map(Value::depth).max().unwrap_or(0),
            Value::Map(members) => 1 + members.iter().map(|(_, v)| v.depth()).max().unwrap_or(0),
            _ => 0,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Value::Int(n)
    }
}

impl From<u64> for Value {
    fn from(n: u64) -> Self {
        i64::try_from(n).map_or(Value::UInt(n), Value::Int)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<f64> for Value {
    /// JavaScript semantics: an integral `f64` within ±(2^53 − 1) becomes [`Value::Int`]
    /// (so `-0.0` becomes `0`, as notepack.io writes it).
    fn from(f: f64) -> Self {
        if f.fract() == 0.0 && f.abs() <= MAX_SAFE_INTEGER_F64 {
            Value::Int(f as i64)
        } else {
            Value::F64(f)
        }
    }
}

impl From<Bytes> for Value {
    fn from(b: Bytes) -> Self {
        Value::Bin(b)
    }
}

impl From<Vec<Value>> for Value {
    fn from(items: Vec<Value>) -> Self {
        Value::Array(items)
    }
}
