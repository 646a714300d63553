//! The one interface both encoders (msgpack and JSON) implement, so that every message
//! is written straight to bytes, in Node's member order, without building a [`Value`]
//! first.

use crate::value::Value;

/// A streaming writer of JavaScript values.
///
/// Containers are announced with their length (msgpack needs it up front) and closed
/// with the matching `end_*` call (JSON needs it). Inside a map, every value is preceded
/// by [`Sink::key`].
pub(crate) trait Sink {
    fn nil(&mut self);
    fn bool(&mut self, b: bool);
    fn int(&mut self, n: i64);
    fn uint(&mut self, n: u64);
    fn f32(&mut self, f: f32);
    fn f64(&mut self, f: f64);
    fn str(&mut self, s: &str);
    fn bin(&mut self, b: &[u8]);
    fn ext(&mut self, kind: i8, payload: &[u8]);
    fn begin_array(&mut self, len: usize);
    fn end_array(&mut self);
    fn begin_map(&mut self, len: usize);
    fn key(&mut self, k: &str);
    fn end_map(&mut self);

    /// Writes a whole [`Value`].
    fn value(&mut self, v: &Value) {
        match v {
            Value::Nil => self.nil(),
            Value::Bool(b) => self.bool(*b),
            Value::Int(n) => self.int(*n),
            Value::UInt(n) => self.uint(*n),
            Value::F32(f) => self.f32(*f),
            Value::F64(f) => self.f64(*f),
            Value::Str(s) => self.str(s),
            Value::Bin(b) => self.bin(b),
            Value::Ext(kind, payload) => self.ext(*kind, payload),
            Value::Array(items) => {
                self.begin_array(items.len());
                for item in items {
                    self.value(item);
                }
                self.end_array();
            }
            Value::Map(members) => {
                self.begin_map(members.len());
                for (k, v) in members {
                    self.key(k);
                    self.value(v);
                }
                self.end_map();
            }
        }
    }

    /// Writes an array of strings.
    fn strs(&mut self, items: &[String]) {
        self.begin_array(items.len());
        for s in items {
            self.str(s);
        }
        self.end_array();
    }
}
