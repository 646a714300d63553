//! `ClusterAdapter` messages of socket.io-adapter 2.5 (PROTOCOL.md §3), the format of the
//! sharded adapter (`@socket.io/redis-adapter` 8.3 `createShardedAdapter`, §2) and of the
//! streams adapter 0.3 (§4): the envelope `{type, data?, uid, nsp}`.

use crate::codec::{self, Encoding, WriteTo};
use crate::error::{DecodeError, Limits};
use crate::fields::Fields;
use crate::json;
use crate::msgpack::Flavor;
use crate::packet::{BroadcastOptions, Packet, SocketDescription};
use crate::sink::Sink;
use crate::types::{MessageType, PacketType};
use crate::value::{Key, Value};

/// One `ClusterAdapter` message.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterMessage {
    /// The sender's uid (16 hex characters, or `"emitter"`).
    pub uid: String,
    /// The namespace.
    pub nsp: String,
    /// The type and its `data`.
    pub body: ClusterBody,
}

/// A message type with its `data` payload (PROTOCOL.md §3.2; member order as Node writes
/// it).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ClusterBody {
    /// `INITIAL_HEARTBEAT` (1), no data.
    InitialHeartbeat,
    /// `HEARTBEAT` (2), no data.
    Heartbeat,
    /// `BROADCAST` (3): `{packet, requestId?, opts}`; a `requestId` asks for
    /// acknowledgements.
    Broadcast {
        /// The packet (no `nsp` from adapters; the streams emitter includes it).
        packet: Packet,
        /// Present for broadcast-with-ack.
        request_id: Option<String>,
        /// Rooms, except, flags.
        opts: BroadcastOptions,
    },
    /// `SOCKETS_JOIN` (4): `{opts, rooms}`.
    SocketsJoin {
        /// Which sockets.
        opts: BroadcastOptions,
        /// Rooms to join.
        rooms: Vec<String>,
    },
    /// `SOCKETS_LEAVE` (5): `{opts, rooms}`.
    SocketsLeave {
        /// Which sockets.
        opts: BroadcastOptions,
        /// Rooms to leave.
        rooms: Vec<String>,
    },
    /// `DISCONNECT_SOCKETS` (6): `{opts, close}`.
    DisconnectSockets {
        /// Which sockets.
        opts: BroadcastOptions,
        /// Whether to close the underlying connection.
        close: bool,
    },
    /// `FETCH_SOCKETS` (7): `{opts, requestId}`.
    FetchSockets {
        /// Which sockets.
        opts: BroadcastOptions,
        /// The request id.
        request_id: String,
    },
    /// `FETCH_SOCKETS_RESPONSE` (8): `{requestId, sockets}`.
    FetchSocketsResponse {
        /// The request id.
        request_id: String,
        /// The responder's matching sockets.
        sockets: Vec<SocketDescription>,
    },
    /// `SERVER_SIDE_EMIT` (9): `{requestId?, packet}`, `packet` = `[event, ...args]`.
    ServerSideEmit {
        /// Present when acknowledgements are wanted.
        request_id: Option<String>,
        /// `[event, ...args]`.
        packet: Value,
    },
    /// `SERVER_SIDE_EMIT_RESPONSE` (10): `{requestId, packet}`, the first acknowledgement
    /// argument.
    ServerSideEmitResponse {
        /// The request id.
        request_id: String,
        /// The first acknowledgement argument; `None` for `undefined`.
        packet: Option<Value>,
    },
    /// `BROADCAST_CLIENT_COUNT` (11): `{requestId, clientCount}` (sent even when 0).
    BroadcastClientCount {
        /// The request id.
        request_id: String,
        /// Number of clients reached on the responder.
        client_count: u64,
    },
    /// `BROADCAST_ACK` (12): `{requestId, packet}`, one client's first acknowledgement
    /// argument.
    BroadcastAck {
        /// The request id.
        request_id: String,
        /// The client's first acknowledgement argument; `None` for `undefined`.
        packet: Option<Value>,
    },
    /// `ADAPTER_CLOSE` (13), no data.
    AdapterClose,
}

impl ClusterBody {
    /// The numeric message type.
    pub fn message_type(&self) -> MessageType {
        match self {
            Self::InitialHeartbeat => MessageType::InitialHeartbeat,
            Self::Heartbeat => MessageType::Heartbeat,
            Self::Broadcast { .. } => MessageType::Broadcast,
            Self::SocketsJoin { .. } => MessageType::SocketsJoin,
            Self::SocketsLeave { .. } => MessageType::SocketsLeave,
            Self::DisconnectSockets { .. } => MessageType::DisconnectSockets,
            Self::FetchSockets { .. } => MessageType::FetchSockets,
            Self::FetchSocketsResponse { .. } => MessageType::FetchSocketsResponse,
            Self::ServerSideEmit { .. } => MessageType::ServerSideEmit,
            Self::ServerSideEmitResponse { .. } => MessageType::ServerSideEmitResponse,
            Self::BroadcastClientCount { .. } => MessageType::BroadcastClientCount,
            Self::BroadcastAck { .. } => MessageType::BroadcastAck,
            Self::AdapterClose => MessageType::AdapterClose,
        }
    }

    /// The request id, for requests that wait for responses and for responses.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Self::Broadcast { request_id, .. } | Self::ServerSideEmit { request_id, .. } => {
                request_id.as_deref()
            }
            Self::FetchSockets { request_id, .. }
            | Self::FetchSocketsResponse { request_id, .. }
            | Self::ServerSideEmitResponse { request_id, .. }
            | Self::BroadcastClientCount { request_id, .. }
            | Self::BroadcastAck { request_id, .. } => Some(request_id),
            _ => None,
        }
    }

    /// Whether the message has a `data` member.
    pub fn has_data(&self) -> bool {
        !matches!(
            self,
            Self::InitialHeartbeat | Self::Heartbeat | Self::AdapterClose
        )
    }

    /// `hasBinary(data)`.
    pub fn has_binary(&self) -> bool {
        let opt = |v: &Option<Value>| v.as_ref().is_some_and(Value::has_binary);
        match self {
            Self::Broadcast { packet, .. } => packet.data.has_binary(),
            Self::FetchSocketsResponse { sockets, .. } => {
                sockets.iter().any(SocketDescription::has_binary)
            }
            Self::ServerSideEmit { packet, .. } => packet.has_binary(),
            Self::ServerSideEmitResponse { packet, .. } | Self::BroadcastAck { packet, .. } => {
                opt(packet)
            }
            _ => false,
        }
    }

    /// Writes the `data` object (nothing for types without data).
    pub(crate) fn write_data<S: Sink>(&self, s: &mut S) {
        let rid = |s: &mut S, id: &str| {
            s.key("requestId");
            s.str(id);
        };
        let opts = |s: &mut S, o: &BroadcastOptions| {
            s.key("opts");
            o.write(s);
        };
        let ack = |s: &mut S, id: &str, packet: &Option<Value>| {
            s.begin_map(1 + usize::from(packet.is_some()));
            rid(s, id);
            if let Some(p) = packet {
                s.key("packet");
                s.value(p);
            }
            s.end_map();
        };
        match self {
            Self::InitialHeartbeat | Self::Heartbeat | Self::AdapterClose => return,
            Self::Broadcast {
                packet,
                request_id,
                opts: o,
            } => return write_broadcast(s, |s| packet.write(s), request_id.as_deref(), o),
            Self::SocketsJoin { opts: o, rooms } | Self::SocketsLeave { opts: o, rooms } => {
                s.begin_map(2);
                opts(s, o);
                s.key("rooms");
                s.strs(rooms);
            }
            Self::DisconnectSockets { opts: o, close } => {
                s.begin_map(2);
                opts(s, o);
                s.key("close");
                s.bool(*close);
            }
            Self::FetchSockets {
                opts: o,
                request_id,
            } => {
                s.begin_map(2);
                opts(s, o);
                rid(s, request_id);
            }
            Self::FetchSocketsResponse {
                request_id,
                sockets,
            } => {
                s.begin_map(2);
                rid(s, request_id);
                s.key("sockets");
                SocketDescription::write_list(sockets, s);
            }
            Self::ServerSideEmit { request_id, packet } => {
                s.begin_map(1 + usize::from(request_id.is_some()));
                if let Some(id) = request_id {
                    rid(s, id);
                }
                s.key("packet");
                s.value(packet);
            }
            Self::ServerSideEmitResponse { request_id, packet }
            | Self::BroadcastAck { request_id, packet } => {
                return ack(s, request_id, packet);
            }
            Self::BroadcastClientCount {
                request_id,
                client_count,
            } => {
                s.begin_map(2);
                rid(s, request_id);
                s.key("clientCount");
                s.uint(*client_count);
            }
        }
        s.end_map();
    }

    /// Reads the body of message type `kind` from its `data` (`None` when absent).
    ///
    /// # Errors
    /// [`DecodeError`] when `data` is missing or malformed for that type.
    pub fn from_data(kind: MessageType, data: Option<Value>) -> Result<Self, DecodeError> {
        let mut f = match (kind, data) {
            (MessageType::InitialHeartbeat, _) => return Ok(Self::InitialHeartbeat),
            (MessageType::Heartbeat, _) => return Ok(Self::Heartbeat),
            (MessageType::AdapterClose, _) => return Ok(Self::AdapterClose),
            (_, Some(data)) => Fields::new(data, "cluster message data")?,
            (_, None) => {
                return Err(DecodeError::MissingField {
                    message: "cluster message",
                    field: "data",
                });
            }
        };
        let opts = |f: &mut Fields| BroadcastOptions::from_value(f.req("opts")?);
        Ok(match kind {
            MessageType::InitialHeartbeat => Self::InitialHeartbeat,
            MessageType::Heartbeat => Self::Heartbeat,
            MessageType::AdapterClose => Self::AdapterClose,
            MessageType::Broadcast => Self::Broadcast {
                packet: Packet::from_value(f.req("packet")?)?,
                request_id: f.opt_str("requestId")?,
                opts: opts(&mut f)?,
            },
            MessageType::SocketsJoin => Self::SocketsJoin {
                opts: opts(&mut f)?,
                rooms: f.rooms("rooms")?,
            },
            MessageType::SocketsLeave => Self::SocketsLeave {
                opts: opts(&mut f)?,
                rooms: f.rooms("rooms")?,
            },
            MessageType::DisconnectSockets => Self::DisconnectSockets {
                opts: opts(&mut f)?,
                close: f.opt_bool("close")?.unwrap_or(false),
            },
            MessageType::FetchSockets => Self::FetchSockets {
                opts: opts(&mut f)?,
                request_id: f.req_str("requestId")?,
            },
            MessageType::FetchSocketsResponse => Self::FetchSocketsResponse {
                request_id: f.req_str("requestId")?,
                sockets: match f.take("sockets") {
                    Some(list) => SocketDescription::list(list, "cluster message data")?,
                    None => Vec::new(),
                },
            },
            MessageType::ServerSideEmit => Self::ServerSideEmit {
                request_id: f.opt_str("requestId")?,
                packet: f.req_array("packet")?,
            },
            MessageType::ServerSideEmitResponse => Self::ServerSideEmitResponse {
                request_id: f.req_str("requestId")?,
                packet: f.take_raw("packet"),
            },
            MessageType::BroadcastClientCount => {
                let request_id = f.req_str("requestId")?;
                let n = f.req_int("clientCount")?;
                let client_count =
                    u64::try_from(n).map_err(|_| f.wrong("clientCount", "a count"))?;
                Self::BroadcastClientCount {
                    request_id,
                    client_count,
                }
            }
            MessageType::BroadcastAck => Self::BroadcastAck {
                request_id: f.req_str("requestId")?,
                packet: f.take_raw("packet"),
            },
        })
    }
}

/// The `data` object alone, for stream entries.
pub(crate) struct Data<'a>(pub(crate) &'a ClusterBody);

impl WriteTo for Data<'_> {
    fn write_to<S: Sink>(&self, s: &mut S) {
        self.0.write_data(s);
    }
}

impl ClusterMessage {
    /// The encoding the sharded adapter 8.3 uses for this message: msgpack (notepack) when
    /// the type may carry binary (3, 8, 9, 10, 12) and `data` holds binary, else JSON
    /// (PROTOCOL.md §2.3).
    pub fn sharded_encoding(&self) -> Encoding {
        if self.body.message_type().may_carry_binary() && self.body.has_binary() {
            Encoding::Msgpack
        } else {
            Encoding::Json
        }
    }

    /// The bytes the sharded adapter SPUBLISHes.
    pub fn encode_sharded(&self) -> Vec<u8> {
        codec::encode(self, self.sharded_encoding(), Flavor::Notepack)
    }

    /// The bytes the streams adapter 0.3 PUBLISHes for requests and responses: always
    /// msgpack, in @msgpack/msgpack's flavor (PROTOCOL.md §4.4).
    pub fn encode_streams_pubsub(&self) -> Vec<u8> {
        codec::encode(self, Encoding::Msgpack, Flavor::MsgpackJs)
    }

    /// Decodes a message, JSON or msgpack by its first byte (both the sharded and the
    /// streams adapters' pub/sub messages).
    ///
    /// # Errors
    /// [`DecodeError`] for malformed input, an unknown `type` or missing members.
    pub fn decode(input: &[u8], limits: &Limits) -> Result<Self, DecodeError> {
        let mut f = Fields::new(codec::decode_any(input, limits)?, "cluster message")?;
        let kind = MessageType::try_from(f.req_int("type")?)?;
        let data = f.take("data");
        let uid = f.req_str("uid")?;
        let nsp = f.req_str("nsp")?;
        Ok(Self {
            uid,
            nsp,
            body: ClusterBody::from_data(kind, data)?,
        })
    }
}

impl WriteTo for ClusterMessage {
    fn write_to<S: Sink>(&self, s: &mut S) {
        let data = self
            .body
            .has_data()
            .then_some(|s: &mut S| self.body.write_data(s));
        write_envelope(s, self.body.message_type(), data, &self.uid, &self.nsp);
    }
}

/// Writes the envelope `{type, data?, uid, nsp}`, `data` written by `data`.
fn write_envelope<S: Sink>(
    s: &mut S,
    kind: MessageType,
    data: Option<impl FnOnce(&mut S)>,
    uid: &str,
    nsp: &str,
) {
    s.begin_map(3 + usize::from(data.is_some()));
    s.key("type");
    s.uint(u64::from(kind.code()));
    if let Some(data) = data {
        s.key("data");
        data(s);
    }
    s.key("uid");
    s.str(uid);
    s.key("nsp");
    s.str(nsp);
    s.end_map();
}

/// Writes a BROADCAST's `data`, `{packet, requestId?, opts}`, the packet written by
/// `packet`.
fn write_broadcast<S: Sink>(
    s: &mut S,
    packet: impl FnOnce(&mut S),
    request_id: Option<&str>,
    opts: &BroadcastOptions,
) {
    s.begin_map(2 + usize::from(request_id.is_some()));
    s.key("packet");
    packet(s);
    if let Some(id) = request_id {
        s.key("requestId");
        s.str(id);
    }
    s.key("opts");
    opts.write(s);
    s.end_map();
}

impl ClusterMessage {
    /// The bytes the sharded adapter SPUBLISHes for a BROADCAST (3) without
    /// acknowledgements whose `packet.data` is `data_json`: the JSON text
    /// `[event, ...args]` of a Socket.IO parser, without binary, written into the
    /// envelope as is instead of through a [`Value`]. `opts` as they go out (the
    /// sharded adapter always sends `flags`). Node reads it with `JSON.parse`, so the
    /// text need not be byte-identical to `JSON.stringify`'s, only valid JSON (it is not
    /// checked here: it must come from this process's own serialiser).
    ///
    /// Same bytes as [`ClusterMessage::encode_sharded`] of the broadcast whose
    /// `packet.data` [`json::encode`](crate::json::encode)s to `data_json`.
    pub fn encode_sharded_broadcast_json(
        uid: &str,
        nsp: &str,
        data_json: &str,
        opts: &BroadcastOptions,
    ) -> Vec<u8> {
        let mut w = json::Writer::with_capacity(data_json.len() + 96);
        let packet = |s: &mut json::Writer| {
            Packet::write_parts(s, PacketType::Event, |s| s.raw_json(data_json), None);
        };
        let data = |s: &mut json::Writer| write_broadcast(s, packet, None, opts);
        write_envelope(&mut w, MessageType::Broadcast, Some(data), uid, nsp);
        w.into_bytes()
    }
}

/// A sharded BROADCAST (3) without acknowledgements, in JSON, read up to its
/// `packet.data`, which is left as the text it came as (a slice of the message): a
/// receiving node hands that text to a common-parser namespace as is, instead of
/// building a [`Value`] tree and serialising it again.
///
/// [`ClusterBroadcastRef::decode`] reads the message in one pass with a scanner that
/// checks `packet.data` as [`ClusterMessage::decode`] does (JSON grammar, UTF-8,
/// escapes, [`Limits`]) without building it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterBroadcastRef<'a> {
    /// The sender's uid.
    pub uid: String,
    /// The namespace.
    pub nsp: String,
    /// `packet.data`: the JSON text of the array `[event, ...args]`, as sent.
    pub data: &'a str,
    /// Rooms, except, flags.
    pub opts: BroadcastOptions,
}

impl<'a> ClusterBroadcastRef<'a> {
    /// Reads a JSON ClusterAdapter message that is a BROADCAST without `requestId`
    /// (members in any order, unknown members stepped over, `null` as absent).
    ///
    /// `None` when the message is anything else or anything but plain: msgpack,
    /// another type, a `requestId`, a repeated member name among those read, or
    /// input [`ClusterMessage::decode`] refuses (decode such messages with it: it
    /// says why). When it returns `Some`, [`ClusterMessage::decode`] accepts the
    /// message and reads the same uid, namespace and options, and a `packet.data`
    /// that [`json::decode`](crate::json::decode) reads from `data`. Cost: linear in
    /// the message, bounded by `limits` as `ClusterMessage::decode` is.
    pub fn decode(input: &'a [u8], limits: &Limits) -> Option<Self> {
        Self::read(input, limits).ok().flatten()
    }

    fn read(input: &'a [u8], limits: &Limits) -> Result<Option<Self>, DecodeError> {
        if Encoding::sniff(input) != Encoding::Json {
            return Ok(None);
        }
        let mut r = json::Reader::new(input, limits)?;
        let mut top = Known::new(&["type", "uid", "nsp"]);
        let (mut data, mut members) = (None, Known::new(&["requestId", "opts"]));
        let mut packet = Known::new(&["type", "nsp"]);
        r.begin_object(0)?;
        let mut first = true;
        while let Some(name) = r.next_name(&mut first)? {
            if name != "data" {
                if !top.read(&name, &mut r, 1)? {
                    return Ok(None);
                }
                continue;
            }
            if data.is_some() {
                return Ok(None);
            }
            r.begin_object(1)?;
            let mut first = true;
            let mut seen_packet = false;
            while let Some(name) = r.next_name(&mut first)? {
                if name != "packet" {
                    if !members.read(&name, &mut r, 2)? {
                        return Ok(None);
                    }
                    continue;
                }
                if std::mem::replace(&mut seen_packet, true) {
                    return Ok(None);
                }
                r.begin_object(2)?;
                let mut first = true;
                while let Some(name) = r.next_name(&mut first)? {
                    if name != "data" {
                        if !packet.read(&name, &mut r, 3)? {
                            return Ok(None);
                        }
                        continue;
                    }
                    if data.is_some() {
                        return Ok(None);
                    }
                    let text = r.raw(3)?;
                    if !text.starts_with('[') {
                        return Ok(None);
                    }
                    data = Some(text);
                }
            }
            if !seen_packet || data.is_none() {
                return Ok(None);
            }
        }
        r.finish()?;
        let Some(data) = data else { return Ok(None) };
        let mut top = top.into_fields("cluster message");
        let mut members = members.into_fields("cluster message data");
        let mut packet = packet.into_fields("packet");
        let broadcast = MessageType::try_from(top.req_int("type")?)? == MessageType::Broadcast;
        // Checked as the tree decoder checks them; not needed for delivery.
        PacketType::try_from(packet.req_int("type")?)?;
        packet.opt_str("nsp")?;
        if !broadcast || members.opt_str("requestId")?.is_some() {
            return Ok(None);
        }
        Ok(Some(Self {
            uid: top.req_str("uid")?,
            nsp: top.req_str("nsp")?,
            data,
            opts: BroadcastOptions::from_value(members.req("opts")?)?,
        }))
    }
}

/// The members a borrowed decoder reads as [`Value`]s, each at most once.
struct Known {
    names: &'static [&'static str],
    members: Vec<(Key, Value)>,
}

impl Known {
    fn new(names: &'static [&'static str]) -> Self {
        Self {
            names,
            members: Vec::new(),
        }
    }

    /// Reads the value of member `name` at `depth`: kept when it is one of the names,
    /// stepped over otherwise. `false` for a name read before.
    fn read(
        &mut self,
        name: &str,
        r: &mut json::Reader<'_>,
        depth: usize,
    ) -> Result<bool, DecodeError> {
        let Some(&known) = self.names.iter().find(|n| **n == name) else {
            r.skip(depth)?;
            return Ok(true);
        };
        if self.members.iter().any(|(k, _)| k == known) {
            return Ok(false);
        }
        let v = r.value(depth)?;
        self.members.push((Key::Borrowed(known), v));
        Ok(true)
    }

    fn into_fields(self, message: &'static str) -> Fields {
        Fields::from_members(self.members, message)
    }
}
