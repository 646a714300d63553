use crate::channels::ClassicChannels;
use crate::codec::{self, Encoding, WriteTo};
use crate::error::{DecodeError, Limits};
use crate::ids::EMITTER_UID;
use crate::msgpack::{self, Flavor};
use crate::packet::{BroadcastFlags, BroadcastOptions, OptionsLayout, Packet};
use crate::sink::Sink;
use crate::types::PacketType;
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

/// How deep the packet data sits in a classic broadcast (`[uid, {data}, opts]`).
const DATA_DEPTH: usize = 2;

/// A classic broadcast decoded up to its packet data, which is left as msgpack (a
/// slice of the message): a receiving node turns it into what its clients need
/// (JSON text with [`ClassicBroadcastRef::data_json`], or a [`Value`] with
/// [`ClassicBroadcastRef::data_value`]) without an intermediate tree.
///
/// Accepts what [`ClassicBroadcast::decode`] accepts; inside `data` only its
/// structure is checked here (its strings and map keys are checked when it is
/// read: [`ClassicBroadcastRef::data_json`] and
/// [`ClassicBroadcastRef::data_value`] fail where `ClassicBroadcast::decode`
/// would have).
#[derive(Debug, Clone, PartialEq)]
pub struct ClassicBroadcastRef<'a> {
    /// The sending server's uid (`"emitter"` for emitters).
    pub uid: &'a str,
    /// The packet type.
    pub kind: PacketType,
    /// The packet's namespace, when present.
    pub nsp: Option<&'a str>,
    /// `[event, ...args]`, msgpack-encoded (always an array).
    pub data: &'a [u8],
    /// The broadcast options.
    pub opts: BroadcastOptions,
}

impl<'a> ClassicBroadcastRef<'a> {
    /// Decodes `[uid, {type, data, nsp?}, opts]` (packet members in any order,
    /// unknown members ignored, `nsp: null` as absent).
    ///
    /// The values of `data`, stepped over, count towards [`Limits::max_elements`] as
    /// they do for [`ClassicBroadcast::decode`].
    ///
    /// # Errors
    /// As [`ClassicBroadcast::decode`]: malformed msgpack, past `limits` (bytes,
    /// depth, values), or a missing or mistyped member.
    pub fn decode(input: &'a [u8], limits: &Limits) -> Result<Self, DecodeError> {
        const WHAT: &str = "classic broadcast";
        let wrong = |message, field, expected| DecodeError::WrongType {
            message,
            field,
            expected,
        };
        let mut r = msgpack::Reader::new(input, limits)?;
        if r.array_header()? != Some(3) {
            return Err(wrong(WHAT, "(message)", "an array of 3 elements"));
        }
        r.container_depth(0)?;
        let uid = r.borrowed_str()?.ok_or(wrong(WHAT, "uid", "a string"))?;
        let members = r
            .map_header()?
            .ok_or(wrong("packet", "(message)", "a map"))?;
        r.container_depth(1)?;
        let (mut kind, mut data, mut nsp) = (None, None, None);
        // Of repeated members the first counts, as for the tree decoder.
        let mut seen = [false; 3];
        for _ in 0..members {
            let at = r.offset();
            let name = r
                .borrowed_str()?
                .ok_or(DecodeError::NonStringKey { offset: at })?;
            let slot = ["type", "data", "nsp"].iter().position(|n| *n == name);
            let first = slot.is_some_and(|i| !std::mem::replace(&mut seen[i], true));
            if !first {
                // Read in full (Node sends no such member): refused where the
                // tree decoder refuses it.
                r.value(DATA_DEPTH)?;
                continue;
            }
            if r.skip_nil() {
                // `null` members are absent, as for the Node adapters.
                continue;
            }
            match name {
                "data" => {
                    let raw = r.raw_value(DATA_DEPTH)?;
                    if !msgpack::is_array(raw) {
                        return Err(wrong("packet", "data", "an array"));
                    }
                    data = Some(raw);
                }
                "nsp" => {
                    nsp = Some(
                        r.borrowed_str()?
                            .ok_or(wrong("packet", "nsp", "a string"))?,
                    );
                }
                "type" => {
                    let v = r.value(DATA_DEPTH)?;
                    let code = v.as_i64().ok_or(wrong("packet", "type", "an integer"))?;
                    kind = Some(PacketType::try_from(code)?);
                }
                _ => {}
            }
        }
        let missing = |field| DecodeError::MissingField {
            message: "packet",
            field,
        };
        let kind = kind.ok_or(missing("type"))?;
        let data = data.ok_or(missing("data"))?;
        let opts = BroadcastOptions::from_value(r.value(1)?)?;
        r.finish()?;
        Ok(Self {
            uid,
            kind,
            nsp,
            data,
            opts,
        })
    }

    /// The packet data as a [`Value`] (`Value::Array`).
    ///
    /// # Errors
    /// [`DecodeError`] for what [`ClassicBroadcast::decode`] would have refused
    /// inside the data (invalid UTF-8, a non-string key, nesting past `limits`).
    pub fn data_value(&self, limits: &Limits) -> Result<Value, DecodeError> {
        msgpack::decode(self.data, &Self::data_limits(limits))
    }

    /// The packet data as the JSON text `JSON.stringify` gives, written straight
    /// from the msgpack bytes ([`msgpack::to_json`]); `None` when it holds binary.
    ///
    /// # Errors
    /// [`DecodeError`] for what [`ClassicBroadcast::decode`] would have refused
    /// inside the data (invalid UTF-8, a non-string key, nesting past `limits`).
    pub fn data_json(&self, limits: &Limits) -> Result<Option<String>, DecodeError> {
        msgpack::to_json(self.data, &Self::data_limits(limits))
    }

    /// `limits` for the data alone: it sits [`DATA_DEPTH`] levels deep. The element
    /// budget is the message's: [`ClassicBroadcastRef::decode`] counted the data's
    /// values with the rest of the message, so the data alone never exceeds it when
    /// read with the same `limits`.
    fn data_limits(limits: &Limits) -> Limits {
        limits.max_depth(limits.max_depth.saturating_sub(DATA_DEPTH))
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
