//! The pieces every adapter message is made of: the Socket.IO packet, the broadcast
//! options with their flags, and the socket description of fetchSockets
//! (PROTOCOL.md §0.6–0.8).

use crate::error::DecodeError;
use crate::fields::Fields;
use crate::sink::Sink;
use crate::types::PacketType;
use crate::value::Value;

/// A Socket.IO packet as adapters carry it between servers: a plain object
/// `{type, data, nsp?}`, never an encoded string.
///
/// `data` is the array `[event, ...args]`; binary arguments stay inside it as
/// [`Value::Bin`]. `nsp` is present in classic adapter and emitter messages and absent in
/// `ClusterAdapter` messages (sharded, streams), where the envelope carries it.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    /// Always [`PacketType::Event`] in Node 8.3 / 2.5 traffic.
    pub kind: PacketType,
    /// `[event, ...args]`.
    pub data: Value,
    /// The namespace, when the format carries it in the packet.
    pub nsp: Option<String>,
}

impl Packet {
    /// An `EVENT` packet with `data` = `[event, ...args]`.
    pub fn event(data: Vec<Value>, nsp: Option<String>) -> Self {
        Self {
            kind: PacketType::Event,
            data: Value::Array(data),
            nsp,
        }
    }

    /// The event name (`data[0]`), if it is a string.
    pub fn event_name(&self) -> Option<&str> {
        self.data.as_array()?.first()?.as_str()
    }

    /// Writes `{type, data, nsp?}` in Node's member order.
    pub(crate) fn write<S: Sink>(&self, s: &mut S) {
        Self::write_parts(s, self.kind, |s| s.value(&self.data), self.nsp.as_deref());
    }

    /// Writes `{type, data, nsp?}` with `data` written by `data`.
    pub(crate) fn write_parts<S: Sink>(
        s: &mut S,
        kind: PacketType,
        data: impl FnOnce(&mut S),
        nsp: Option<&str>,
    ) {
        s.begin_map(2 + usize::from(nsp.is_some()));
        s.key("type");
        s.uint(u64::from(kind.code()));
        s.key("data");
        data(s);
        if let Some(nsp) = nsp {
            s.key("nsp");
            s.str(nsp);
        }
        s.end_map();
    }

    /// # Errors
    /// [`DecodeError`] when `v` is not a packet object with an array `data`.
    pub(crate) fn from_value(v: Value) -> Result<Self, DecodeError> {
        let mut f = Fields::new(v, "packet")?;
        let kind = PacketType::try_from(f.req_int("type")?)?;
        let data = f.req_array("data")?;
        let nsp = f.opt_str("nsp")?;
        Ok(Self { kind, data, nsp })
    }
}

/// In which order the members of [`BroadcastOptions`] are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OptionsLayout {
    /// `{rooms, except, flags}`: adapters (classic broadcasts, `ClusterAdapter`).
    #[default]
    RoomsExceptFlags,
    /// `{rooms, flags, except}`: `@socket.io/redis-emitter` 5.1 broadcasts.
    RoomsFlagsExcept,
}

/// Which sockets an operation addresses (PROTOCOL.md §0.7): those in any of `rooms`
/// (all sockets of the namespace when empty) and in none of `except`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BroadcastOptions {
    /// Rooms to reach; empty means the whole namespace.
    pub rooms: Vec<String>,
    /// Rooms whose sockets are left out (a socket id works: every socket is in its own
    /// room).
    pub except: Vec<String>,
    /// The flags; `None` where Node sends no `flags` member (classic adapter requests).
    pub flags: Option<BroadcastFlags>,
    /// Member order on the wire.
    pub layout: OptionsLayout,
}

impl BroadcastOptions {
    /// Options with empty flags (`{}`), as adapters send them.
    pub fn new(rooms: Vec<String>, except: Vec<String>) -> Self {
        Self {
            rooms,
            except,
            flags: Some(BroadcastFlags::default()),
            layout: OptionsLayout::default(),
        }
    }

    /// The flags, or the empty flags when none were sent.
    pub fn flags(&self) -> BroadcastFlags {
        self.flags.clone().unwrap_or_default()
    }

    pub(crate) fn write<S: Sink>(&self, s: &mut S) {
        s.begin_map(2 + usize::from(self.flags.is_some()));
        s.key("rooms");
        s.strs(&self.rooms);
        if self.layout == OptionsLayout::RoomsFlagsExcept {
            self.write_flags(s);
        }
        s.key("except");
        s.strs(&self.except);
        if self.layout == OptionsLayout::RoomsExceptFlags {
            self.write_flags(s);
        }
        s.end_map();
    }

    fn write_flags<S: Sink>(&self, s: &mut S) {
        if let Some(flags) = &self.flags {
            s.key("flags");
            flags.write(s);
        }
    }

    /// # Errors
    /// [`DecodeError`] when `v` is not an options object.
    pub(crate) fn from_value(v: Value) -> Result<Self, DecodeError> {
        let layout = match &v {
            Value::Map(m) => {
                let pos = |key: &str| m.iter().position(|(k, _)| k == key);
                match (pos("flags"), pos("except")) {
                    (Some(f), Some(e)) if f < e => OptionsLayout::RoomsFlagsExcept,
                    _ => OptionsLayout::RoomsExceptFlags,
                }
            }
            _ => OptionsLayout::default(),
        };
        let mut f = Fields::new(v, "broadcast options")?;
        let rooms = f.rooms("rooms")?;
        let except = f.rooms("except")?;
        let flags = match f.take("flags") {
            None => None,
            Some(v) => Some(BroadcastFlags::from_value(v)?),
        };
        Ok(Self {
            rooms,
            except,
            flags,
            layout,
        })
    }
}

/// socket.io-adapter 2.5 `BroadcastFlags` plus socket.io's `expectSingleResponse`, each
/// written only when set (PROTOCOL.md §0.7, §6: `volatile` must be absent, not `false`,
/// unless true).
///
/// Known flags are written in this order: `volatile, compress, local, broadcast, binary,
/// timeout, expectSingleResponse`, then any other member as received.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BroadcastFlags {
    /// `volatile: true`: the packet may be dropped when the client is not ready.
    pub volatile: bool,
    /// `compress`: per-message compression wish.
    pub compress: Option<bool>,
    /// `local: true`: stays on this server (never published by Node).
    pub local: bool,
    /// `broadcast: true`.
    pub broadcast: bool,
    /// `binary`: legacy hint.
    pub binary: Option<bool>,
    /// `timeout`: acknowledgement timeout, in milliseconds.
    pub timeout: Option<u64>,
    /// `expectSingleResponse: true` (`RemoteSocket.emitWithAck`).
    pub expect_single_response: bool,
    /// Members this version does not know, in wire order.
    pub other: Vec<(String, Value)>,
}

impl BroadcastFlags {
    fn len(&self) -> usize {
        usize::from(self.volatile)
            + usize::from(self.compress.is_some())
            + usize::from(self.local)
            + usize::from(self.broadcast)
            + usize::from(self.binary.is_some())
            + usize::from(self.timeout.is_some())
            + usize::from(self.expect_single_response)
            + self.other.len()
    }

    pub(crate) fn write<S: Sink>(&self, s: &mut S) {
        s.begin_map(self.len());
        let set = |s: &mut S, key: &str, on: bool| {
            if on {
                s.key(key);
                s.bool(true);
            }
        };
        set(s, "volatile", self.volatile);
        if let Some(c) = self.compress {
            s.key("compress");
            s.bool(c);
        }
        set(s, "local", self.local);
        set(s, "broadcast", self.broadcast);
        if let Some(b) = self.binary {
            s.key("binary");
            s.bool(b);
        }
        if let Some(t) = self.timeout {
            s.key("timeout");
            s.uint(t);
        }
        set(s, "expectSingleResponse", self.expect_single_response);
        for (k, v) in &self.other {
            s.key(k);
            s.value(v);
        }
        s.end_map();
    }

    /// Reads the known flags; a known flag of an unexpected type (e.g. Go's
    /// `volatile: false`, PROTOCOL.md §9) is read by JavaScript truthiness rules where
    /// they apply, or kept in `other`.
    pub(crate) fn from_value(v: Value) -> Result<Self, DecodeError> {
        let Value::Map(members) = v else {
            return Err(DecodeError::WrongType {
                message: "broadcast options",
                field: "flags",
                expected: "a map",
            });
        };
        let mut flags = Self::default();
        for (k, v) in members {
            match (k.as_ref(), v) {
                ("volatile", Value::Bool(b)) => flags.volatile = b,
                ("compress", Value::Bool(b)) => flags.compress = Some(b),
                ("local", Value::Bool(b)) => flags.local = b,
                ("broadcast", Value::Bool(b)) => flags.broadcast = b,
                ("binary", Value::Bool(b)) => flags.binary = Some(b),
                ("expectSingleResponse", Value::Bool(b)) => flags.expect_single_response = b,
                ("timeout", v) if v.as_i64().is_some_and(|t| t >= 0) => {
                    flags.timeout = v.as_i64().map(|t| t as u64);
                }
                (_, v) => flags.other.push((k.into_owned(), v)),
            }
        }
        Ok(flags)
    }
}

/// One socket in a fetchSockets answer: `{id, handshake, rooms, data}` (PROTOCOL.md §0.8).
#[derive(Debug, Clone, PartialEq)]
pub struct SocketDescription {
    /// The socket id (20 characters from Node, 16 from socketioxide).
    pub id: String,
    /// `socket.handshake`: `{headers, time, address, xdomain, secure, issued, url, query,
    /// auth}` from Node.
    pub handshake: Value,
    /// The socket's rooms, its own-id room included.
    pub rooms: Vec<String>,
    /// `socket.data`.
    pub data: Value,
}

impl SocketDescription {
    pub(crate) fn write<S: Sink>(&self, s: &mut S) {
        s.begin_map(4);
        s.key("id");
        s.str(&self.id);
        s.key("handshake");
        s.value(&self.handshake);
        s.key("rooms");
        s.strs(&self.rooms);
        s.key("data");
        s.value(&self.data);
        s.end_map();
    }

    pub(crate) fn has_binary(&self) -> bool {
        self.handshake.has_binary() || self.data.has_binary()
    }

    pub(crate) fn from_value(v: Value) -> Result<Self, DecodeError> {
        let mut f = Fields::new(v, "socket description")?;
        Ok(Self {
            id: f.req_str("id")?,
            handshake: f.take("handshake").unwrap_or_default(),
            rooms: f.rooms("rooms")?,
            data: f.take("data").unwrap_or_default(),
        })
    }

    /// Reads a list of socket descriptions.
    pub(crate) fn list(v: Value, message: &'static str) -> Result<Vec<Self>, DecodeError> {
        let Value::Array(items) = v else {
            return Err(DecodeError::WrongType {
                message,
                field: "sockets",
                expected: "an array",
            });
        };
        items.into_iter().map(Self::from_value).collect()
    }

    pub(crate) fn write_list<S: Sink>(list: &[Self], s: &mut S) {
        s.begin_array(list.len());
        for socket in list {
            socket.write(s);
        }
        s.end_array();
    }
}
