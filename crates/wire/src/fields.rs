//! Reading the members of a decoded message, with typed errors that name the member.

use crate::error::DecodeError;
use crate::value::{Key, Value};

/// The members of one decoded map, taken out one by one.
pub(crate) struct Fields {
    members: Vec<(Key, Value)>,
    message: &'static str,
}

impl Fields {
    /// # Errors
    /// [`DecodeError::WrongType`] when `v` is not a map.
    pub(crate) fn new(v: Value, message: &'static str) -> Result<Self, DecodeError> {
        match v {
            Value::Map(members) => Ok(Self { members, message }),
            _ => Err(DecodeError::WrongType {
                message,
                field: "(message)",
                expected: "a map",
            }),
        }
    }

    /// The members of a map read member by member.
    pub(crate) fn from_members(members: Vec<(Key, Value)>, message: &'static str) -> Self {
        Self { members, message }
    }

    pub(crate) fn wrong(&self, field: &'static str, expected: &'static str) -> DecodeError {
        DecodeError::WrongType {
            message: self.message,
            field,
            expected,
        }
    }

    /// The member, or `None` when absent or `null` (JavaScript's `undefined` and `null`
    /// both mean "not set" to the Node adapters).
    pub(crate) fn take(&mut self, key: &str) -> Option<Value> {
        let i = self.members.iter().position(|(k, _)| k == key)?;
        match self.members.remove(i).1 {
            Value::Nil => None,
            v => Some(v),
        }
    }

    /// The member as sent, `null` included; `None` only when absent (`undefined`).
    pub(crate) fn take_raw(&mut self, key: &str) -> Option<Value> {
        let i = self.members.iter().position(|(k, _)| k == key)?;
        Some(self.members.remove(i).1)
    }

    pub(crate) fn req(&mut self, key: &'static str) -> Result<Value, DecodeError> {
        self.take(key).ok_or(DecodeError::MissingField {
            message: self.message,
            field: key,
        })
    }

    pub(crate) fn opt_str(&mut self, key: &'static str) -> Result<Option<String>, DecodeError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Str(s)) => Ok(Some(s)),
            Some(_) => Err(self.wrong(key, "a string")),
        }
    }

    pub(crate) fn req_str(&mut self, key: &'static str) -> Result<String, DecodeError> {
        self.opt_str(key)?.ok_or(DecodeError::MissingField {
            message: self.message,
            field: key,
        })
    }

    pub(crate) fn req_int(&mut self, key: &'static str) -> Result<i64, DecodeError> {
        let v = self.req(key)?;
        v.as_i64().ok_or_else(|| self.wrong(key, "an integer"))
    }

    pub(crate) fn opt_bool(&mut self, key: &'static str) -> Result<Option<bool>, DecodeError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(_) => Err(self.wrong(key, "a boolean")),
        }
    }

    pub(crate) fn req_array(&mut self, key: &'static str) -> Result<Value, DecodeError> {
        match self.req(key)? {
            v @ Value::Array(_) => Ok(v),
            _ => Err(self.wrong(key, "an array")),
        }
    }

    /// A list of room names. JavaScript allows numeric rooms; they are turned into their
    /// decimal string, as the classic adapter does when it builds channel names.
    pub(crate) fn rooms(&mut self, key: &'static str) -> Result<Vec<String>, DecodeError> {
        match self.take(key) {
            None => Ok(Vec::new()),
            Some(v) => rooms(v).ok_or_else(|| self.wrong(key, "an array of rooms")),
        }
    }
}

/// A room list from a decoded value; `None` unless an array of strings or numbers.
pub(crate) fn rooms(v: Value) -> Option<Vec<String>> {
    let Value::Array(items) = v else { return None };
    items.into_iter().map(room).collect()
}

fn room(v: Value) -> Option<String> {
    match v {
        Value::Str(s) => Some(s),
        Value::Int(n) => Some(n.to_string()),
        Value::UInt(n) => Some(n.to_string()),
        _ => None,
    }
}
