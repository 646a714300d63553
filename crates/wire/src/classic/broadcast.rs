use crate::channels::ClassicChannels;
use crate::codec::{self, Encoding, WriteTo};
use crate::error::{DecodeError, Limits};
use crate::ids::EMITTER_UID;
use crate::msgpack::{self, Flavor};
use crate::packet::{BroadcastFlags, BroadcastOptions, OptionsLayout, Packet};
use crate::sink::Sink;
use crate::value::Value;

/// A broadcast on the classic adapter's broadcast channels: the msgpack array
/// `[uid, packet, opts]` (PROTOCOL.md §1.3), also what the emitter 5.1 sends
/// (uid `"emitter"`, options in the order `rooms, flags, except`).
#[derive(Debug, Clone, PartialEq)]
pub struct ClassicBroadcast {
    /// The sender's uid (6 characters from Node, `"emitter"` from the emitter).
    pub uid: String,
    /// The packet, with `nsp` set.
    pub packet: Packet,
    /// Rooms, except and flags.
    pub opts: BroadcastOptions,
}

impl ClassicBroadcast {
    /// A broadcast as `@socket.io/redis-emitter` 5.1 writes it: uid `"emitter"`, options
    /// in the order `rooms, flags, except`.
    pub fn from_emitter(
        nsp: &str,
        data: Vec<Value>,
        rooms: Vec<String>,
        except: Vec<String>,
        flags: BroadcastFlags,
    ) -> Self {
        Self {
            uid: EMITTER_UID.to_owned(),
            packet: Packet::event(data, Some(nsp.to_owned())),
            opts: BroadcastOptions {
                rooms,
                except,
                flags: Some(flags),
                layout: OptionsLayout::RoomsFlagsExcept,
            },
        }
    }

    /// The channel Node publishes this broadcast on: the room's channel for exactly one
    /// room, else the namespace channel.
    pub fn channel(&self, channels: &ClassicChannels) -> String {
        channels.broadcast_for(&self.opts.rooms)
    }

    /// The notepack.io 3 bytes Node publishes.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self, Encoding::Msgpack, Flavor::Notepack)
    }

    /// The sender's uid of an encoded broadcast, read from its first bytes without
    /// decoding the rest (`None` when the bytes do not start like `[uid: string, …]`).
    /// Lets a node drop its own broadcasts, which its pattern subscription also
    /// receives, at no decoding cost.
    pub fn peek_uid(input: &[u8]) -> Option<&str> {
        let (&marker, rest) = input.split_first()?;
        if marker != 0x93 {
            return None;
        }
        let (&str_marker, rest) = rest.split_first()?;
        let (len, rest) = match str_marker {
            0xa0..=0xbf => (usize::from(str_marker & 0x1f), rest),
            0xd9 => (usize::from(*rest.first()?), rest.get(1..)?),
            _ => return None,
        };
        std::str::from_utf8(rest.get(..len)?).ok()
    }

    /// Decodes a broadcast received on a broadcast channel.
    ///
    /// # Errors
    /// [`DecodeError`] for malformed msgpack, or when the value is not
    /// `[uid: string, packet, opts]`.
    pub fn decode(input: &[u8], limits: &Limits) -> Result<Self, DecodeError> {
        Self::from_value(msgpack::decode(input, limits)?)
    }

    fn from_value(v: Value) -> Result<Self, DecodeError> {
        const WHAT: &str = "classic broadcast";
        let Value::Array(items) = v else {
            return Err(DecodeError::WrongType {
                message: WHAT,
                field: "(message)",
                expected: "an array",
            });
        };
        let [uid, packet, opts]: [Value; 3] =
            items.try_into().map_err(|_| DecodeError::WrongType {
                message: WHAT,
                field: "(message)",
                expected: "an array of 3 elements",
            })?;
        let Value::Str(uid) = uid else {
            return Err(DecodeError::WrongType {
                message: WHAT,
                field: "uid",
                expected: "a string",
            });
        };
        Ok(Self {
            uid,
            packet: Packet::from_value(packet)?,
            opts: BroadcastOptions::from_value(opts)?,
        })
    }
}

impl WriteTo for ClassicBroadcast {
    fn write_to<S: Sink>(&self, s: &mut S) {
        s.begin_array(3);
        s.str(&self.uid);
        self.packet.write(s);
        self.opts.write(s);
        s.end_array();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peek_uid_reads_the_sender_only() {
        let msg = ClassicBroadcast {
            uid: "MPVgyK".into(),
            packet: Packet::event(vec!["e".into()], Some("/".into())),
            opts: BroadcastOptions::new(vec![], vec![]),
        };
        assert_eq!(ClassicBroadcast::peek_uid(&msg.encode()), Some("MPVgyK"));
        let emitter =
            ClassicBroadcast::from_emitter("/", vec![], vec![], vec![], Default::default());
        assert_eq!(
            ClassicBroadcast::peek_uid(&emitter.encode()),
            Some("emitter")
        );
        for bad in [
            &b""[..],
            &[0x93],
            &[0x93, 0xa6, b'x'],
            &[0x92, 0xa1, b'x'],
            b"{}",
        ] {
            assert_eq!(ClassicBroadcast::peek_uid(bad), None);
        }
    }
}
