//! Event arguments: from any `serde::Serialize` value to the wire's [`Value`]s.
//!
//! Values go through msgpack (rmp-serde, structs as maps), so binary stays binary:
//! `bytes::Bytes`, `serde_bytes::ByteBuf` and `#[serde(with = "serde_bytes")] Vec<u8>`
//! become msgpack `bin`, which a Node server receives as a `Buffer` and sends to its
//! clients as a binary attachment.

use bytes::Bytes;
use serde::Serialize;
use serde::ser::{self, Impossible};
use sio_redis_wire::{Limits, Value, msgpack};

use crate::error::Error;

/// Deepest nesting accepted in event arguments.
const MAX_DEPTH: usize = 512;

/// The arguments of one event: what follows the event name in `[event, ...args]`.
///
/// Built from any `serde::Serialize` value with [`Args::from_serialize`] (a tuple
/// spreads into several arguments), from wire [`Value`]s with [`Args::from_values`], or
/// one by one with [`Args::push`], [`Args::push_serialize`] and [`Args::push_binary`].
///
/// ```
/// use sio_redis_emitter::{Args, Value};
///
/// let args = Args::from_serialize(&("hello", 1, [true, false]))?;
/// assert_eq!(args.values().len(), 3);
/// let one = Args::from_serialize(&vec![1, 2, 3])?; // a Vec is one argument (an array)
/// assert_eq!(one.values().len(), 1);
/// let mut mixed = Args::from_values(vec![Value::Str("report".into())]);
/// mixed.push_binary(vec![0u8, 1, 2]);
/// assert_eq!(mixed.values()[1], Value::Bin(vec![0u8, 1, 2].into()));
/// # Ok::<(), sio_redis_emitter::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Args(Vec<Value>);

impl Args {
    /// No arguments: the event is sent as `[event]`.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// The arguments `args` stands for, as socketioxide's `emit` reads them:
    /// * a tuple, a tuple struct or an array `[T; N]` spreads into one argument per
    ///   element: `&("a", 1)` sends `[event, "a", 1]`; a newtype struct is looked through;
    /// * anything else is one argument: `&vec![1, 2]` sends `[event, [1, 2]]`, `&()` sends
    ///   `[event, null]` (use [`NoArgs`] or [`Args::new`] for no argument at all).
    ///
    /// Structs become maps with their fields in declaration order (a field skipped by
    /// `#[serde(skip_serializing_if = "Option::is_none")]` is left out, like a JavaScript
    /// `undefined` member); `None` and `()` become `null`; integers keep their smallest
    /// msgpack form; `f32` and `f64` become float64 (Node never writes float32); binary
    /// (`Bytes`, `serde_bytes`) becomes `bin`. A plain `Vec<u8>` is an array of numbers,
    /// as in serde_json. A msgpack extension written with rmp-serde's `_ExtStruct`
    /// convention is kept as it is (type −1 is a timestamp, which a Node server reads as
    /// a `Date`).
    ///
    /// # Errors
    /// [`Error::Serialize`] when serde refuses the value (e.g. `u128` beyond 64 bits),
    /// when a map has a key that is not a string, or when it nests deeper than 512
    /// levels.
    pub fn from_serialize<T: Serialize + ?Sized>(args: &T) -> Result<Self, Error> {
        let spread = is_tuple(args);
        let value = to_value(args)?;
        Ok(match value {
            Value::Array(items) if spread => Self(items),
            other => Self(vec![other]),
        })
    }

    /// These wire values, one argument each.
    pub fn from_values(values: Vec<Value>) -> Self {
        Self(values)
    }

    /// Appends one wire value as an argument.
    pub fn push(&mut self, value: Value) -> &mut Self {
        self.0.push(value);
        self
    }

    /// Appends `value` as one argument (a tuple is NOT spread here: it becomes an array).
    ///
    /// # Errors
    /// As [`Args::from_serialize`].
    pub fn push_serialize<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<&mut Self, Error> {
        self.0.push(to_value(value)?);
        Ok(self)
    }

    /// Appends a binary argument (msgpack `bin`; a Node `Buffer` on the receiving side,
    /// a binary attachment for the clients).
    pub fn push_binary(&mut self, bytes: impl Into<Bytes>) -> &mut Self {
        self.0.push(Value::Bin(bytes.into()));
        self
    }

    /// The arguments.
    pub fn values(&self) -> &[Value] {
        &self.0
    }

    /// The arguments, by value.
    pub fn into_values(self) -> Vec<Value> {
        self.0
    }

    /// How many arguments.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is no argument.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<Value>> for Args {
    fn from(values: Vec<Value>) -> Self {
        Self(values)
    }
}

/// No event arguments, for the `serde` entry points: `emit("ping", &NoArgs)` sends
/// `["ping"]`. (It serializes as an empty tuple; `&()` would send `["ping", null]`, as
/// in socketioxide.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NoArgs;

impl Serialize for NoArgs {
    fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use ser::SerializeTuple;
        s.serialize_tuple(0)?.end()
    }
}

/// Any `T` as one wire [`Value`], through msgpack so that binary stays binary.
fn to_value<T: Serialize + ?Sized>(data: &T) -> Result<Value, Error> {
    let bytes = rmp_serde::to_vec_named(data).map_err(Error::serialize)?;
    let limits = Limits::new()
        .max_bytes(usize::MAX)
        .max_depth(MAX_DEPTH)
        .max_elements(usize::MAX);
    let mut value = msgpack::decode(&bytes, &limits).map_err(Error::serialize)?;
    widen_floats(&mut value);
    Ok(value)
}

/// float32 → float64 everywhere (a JavaScript number is a double; notepack.io never
/// writes float32).
fn widen_floats(v: &mut Value) {
    match v {
        Value::F32(f) => *v = Value::F64(f64::from(*f)),
        Value::Array(items) => items.iter_mut().for_each(widen_floats),
        Value::Map(members) => members.iter_mut().for_each(|(_, m)| widen_floats(m)),
        _ => {}
    }
}

/// Whether `value` serializes as a tuple (tuple, tuple struct, `[T; N]`), looking through
/// newtype structs: such values spread into several arguments.
fn is_tuple<T: Serialize + ?Sized>(value: &T) -> bool {
    match value.serialize(IsTuple) {
        Ok(v) | Err(Found(v)) => v,
    }
}

/// A serializer that only answers "is the root a tuple?".
struct IsTuple;

/// The answer, carried as an error to stop the serializer at the root.
#[derive(Debug)]
struct Found(bool);

impl std::fmt::Display for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "is tuple: {}", self.0)
    }
}

impl std::error::Error for Found {}

impl ser::Error for Found {
    fn custom<T: std::fmt::Display>(_msg: T) -> Self {
        Found(false)
    }
}

macro_rules! not_tuple {
    ($($method:ident($($arg:ty),*);)*) => {
        $(fn $method(self, $(_: $arg),*) -> Result<bool, Found> {
            Ok(false)
        })*
    };
}

impl ser::Serializer for IsTuple {
    type Ok = bool;
    type Error = Found;
    type SerializeSeq = Impossible<bool, Found>;
    type SerializeTuple = Impossible<bool, Found>;
    type SerializeTupleStruct = Impossible<bool, Found>;
    type SerializeTupleVariant = Impossible<bool, Found>;
    type SerializeMap = Impossible<bool, Found>;
    type SerializeStruct = Impossible<bool, Found>;
    type SerializeStructVariant = Impossible<bool, Found>;

    not_tuple! {
        serialize_bool(bool);
        serialize_i8(i8);
        serialize_i16(i16);
        serialize_i32(i32);
        serialize_i64(i64);
        serialize_i128(i128);
        serialize_u8(u8);
        serialize_u16(u16);
        serialize_u32(u32);
        serialize_u64(u64);
        serialize_u128(u128);
        serialize_f32(f32);
        serialize_f64(f64);
        serialize_char(char);
        serialize_str(&str);
        serialize_bytes(&[u8]);
        serialize_none();
        serialize_unit();
        serialize_unit_struct(&'static str);
        serialize_unit_variant(&'static str, u32, &'static str);
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<bool, Found> {
        Ok(false)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<bool, Found> {
        if name == rmp_serde::MSGPACK_EXT_STRUCT_NAME {
            // rmp-serde's msgpack extension (e.g. a timestamp): one value.
            return Ok(false);
        }
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<bool, Found> {
        Ok(false)
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, Found> {
        Err(Found(false))
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, Found> {
        Err(Found(true))
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, Found> {
        Err(Found(true))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, Found> {
        Err(Found(false))
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, Found> {
        Err(Found(false))
    }

    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, Found> {
        Err(Found(false))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, Found> {
        Err(Found(false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Serialize)]
    struct Pair(&'static str, i32);
    #[derive(Serialize)]
    struct Wrapper((i32, i32));
    #[derive(Serialize)]
    struct Id(u32);

    fn args<T: Serialize + ?Sized>(v: &T) -> Vec<Value> {
        Args::from_serialize(v).expect("serializes").into_values()
    }

    #[test]
    fn tuples_spread_everything_else_is_one_argument() {
        assert_eq!(args(&("a", 1)), vec![Value::Str("a".into()), Value::Int(1)]);
        assert_eq!(
            args(&Pair("a", 1)),
            vec![Value::Str("a".into()), Value::Int(1)]
        );
        assert_eq!(args(&[1, 2]), vec![Value::Int(1), Value::Int(2)]);
        assert_eq!(args(&Wrapper((1, 2))), vec![Value::Int(1), Value::Int(2)]);
        assert_eq!(args(&Id(7)), vec![Value::Int(7)]);
        assert_eq!(
            args(&vec![1, 2]),
            vec![Value::Array(vec![Value::Int(1), Value::Int(2)])]
        );
        assert_eq!(args(&"x"), vec![Value::Str("x".into())]);
        assert_eq!(args(&()), vec![Value::Nil]);
        assert_eq!(args(&NoArgs), Vec::<Value>::new());
        assert_eq!(args(&(("a", 1),)).len(), 1, "a 1-tuple holding a tuple");
    }

    #[test]
    fn binary_stays_binary_and_floats_widen() {
        let v = args(&(
            Bytes::from_static(b"\x00\x01"),
            serde_bytes::ByteBuf::from(vec![2u8]),
            vec![3u8],
            1.5f32,
        ));
        assert_eq!(v[0], Value::Bin(Bytes::from_static(b"\x00\x01")));
        assert_eq!(v[1], Value::Bin(Bytes::from_static(b"\x02")));
        assert_eq!(v[2], Value::Array(vec![Value::Int(3)]));
        assert_eq!(v[3], Value::F64(1.5));
    }

    #[test]
    fn maps_need_string_keys() {
        let mut ok = BTreeMap::new();
        ok.insert("k", 1);
        assert!(Args::from_serialize(&ok).is_ok());
        let mut bad = BTreeMap::new();
        bad.insert(1, 1);
        let err = Args::from_serialize(&bad).expect_err("integer keys are refused");
        assert!(matches!(err, Error::Serialize { .. }), "{err:?}");
        assert!(std::error::Error::source(&err).is_some());
    }

    #[test]
    fn enums_are_externally_tagged() {
        #[derive(Serialize)]
        enum E {
            Unit,
            New(i32),
        }
        assert_eq!(args(&E::Unit), vec![Value::Str("Unit".into())]);
        assert_eq!(
            args(&E::New(1)),
            vec![Value::Map(vec![("New".into(), Value::Int(1))])]
        );
    }
}
