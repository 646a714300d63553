//! Choosing between the two encodings of the wire.

use crate::error::{DecodeError, Limits};
use crate::sink::Sink;
use crate::value::Value;
use crate::{json, msgpack};

/// The encoding of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Encoding {
    /// JSON text (`JSON.stringify`).
    Json,
    /// msgpack (notepack.io 3 or @msgpack/msgpack 2.8).
    Msgpack,
}

impl Encoding {
    /// The receive rule of every Node adapter: a message whose first byte is `{` is
    /// JSON, anything else msgpack.
    pub fn sniff(input: &[u8]) -> Self {
        if input.first() == Some(&b'{') {
            Encoding::Json
        } else {
            Encoding::Msgpack
        }
    }
}

/// Decodes a message in whichever encoding [`Encoding::sniff`] finds.
///
/// # Errors
/// As [`json::decode`] or [`msgpack::decode`].
pub fn decode_any(input: &[u8], limits: &Limits) -> Result<Value, DecodeError> {
    match Encoding::sniff(input) {
        Encoding::Json => json::decode(input, limits),
        Encoding::Msgpack => msgpack::decode(input, limits),
    }
}

/// A message that writes itself to any [`Sink`].
pub(crate) trait WriteTo {
    fn write_to<S: Sink>(&self, s: &mut S);
}

/// Encodes `msg` as JSON, or as msgpack in `flavor`.
pub(crate) fn encode<T: WriteTo + ?Sized>(
    msg: &T,
    encoding: Encoding,
    flavor: msgpack::Flavor,
) -> Vec<u8> {
    match encoding {
        Encoding::Json => {
            let mut w = json::Writer::default();
            msg.write_to(&mut w);
            w.into_bytes()
        }
        Encoding::Msgpack => {
            let mut w = msgpack::Writer::new(flavor);
            msg.write_to(&mut w);
            w.into_bytes()
        }
    }
}
