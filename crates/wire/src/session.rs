//! Connection-state-recovery session records of `@socket.io/redis-streams-adapter` 0.3
//! (PROTOCOL.md §4.7): `SET <sessionKeyPrefix><pid> base64(@msgpack{sid, pid, rooms,
//! data}) PX <ms>`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::codec::{self, Encoding, WriteTo};
use crate::error::{DecodeError, Limits};
use crate::fields::Fields;
use crate::msgpack::{self, Flavor};
use crate::sink::Sink;
use crate::value::Value;

/// A stored session, restored at most once (GET + DEL).
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    /// The socket id the session had.
    pub sid: String,
    /// The private session id the client presents to recover (20 characters from Node).
    pub pid: String,
    /// The socket's rooms, its own-id room included.
    pub rooms: Vec<String>,
    /// `socket.data`.
    pub data: Value,
}

impl SessionRecord {
    /// The stored string: base64 (standard, padded) of the @msgpack/msgpack 2.8 encoding.
    pub fn encode(&self) -> String {
        BASE64.encode(codec::encode(self, Encoding::Msgpack, Flavor::MsgpackJs))
    }

    /// Reads a stored session string.
    ///
    /// # Errors
    /// [`DecodeError::Base64`], msgpack errors, or missing `sid`/`pid`.
    pub fn decode(stored: &[u8], limits: &Limits) -> Result<Self, DecodeError> {
        limits.check_len(stored.len())?;
        let bytes = BASE64.decode(stored).map_err(|_| DecodeError::Base64)?;
        let mut f = Fields::new(msgpack::decode(&bytes, limits)?, "session record")?;
        Ok(Self {
            sid: f.req_str("sid")?,
            pid: f.req_str("pid")?,
            rooms: f.rooms("rooms")?,
            data: f.take_raw("data").unwrap_or_default(),
        })
    }
}

impl WriteTo for SessionRecord {
    fn write_to<S: Sink>(&self, s: &mut S) {
        s.begin_map(4);
        s.key("sid");
        s.str(&self.sid);
        s.key("pid");
        s.str(&self.pid);
        s.key("rooms");
        s.strs(&self.rooms);
        s.key("data");
        s.value(&self.data);
        s.end_map();
    }
}
