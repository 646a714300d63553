use crate::codec::{self, Encoding, WriteTo};
use crate::error::{DecodeError, Limits};
use crate::fields::Fields;
use crate::msgpack::Flavor;
use crate::packet::{BroadcastOptions, Packet};
use crate::sink::Sink;
use crate::types::RequestType;
use crate::value::Value;

/// A request on `<key>-request#<nsp>#` (PROTOCOL.md §1.4): `{uid, requestId, type, ...}`,
/// JSON except for [`RequestBody::Broadcast`], which is msgpack.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassicRequest {
    /// The sender's uid; absent in the emitter's join/leave/disconnect requests.
    pub uid: Option<String>,
    /// Present when the sender waits for responses (6 characters from Node).
    pub request_id: Option<String>,
    /// What is asked.
    pub body: RequestBody,
}

/// The members after `type`, by request type.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RequestBody {
    /// `SOCKETS` (0, legacy): `{rooms}`.
    Sockets {
        /// Rooms to list the sockets of.
        rooms: Vec<String>,
    },
    /// `ALL_ROOMS` (1): no members.
    AllRooms,
    /// `REMOTE_JOIN` (2): `{opts, rooms}`; the selected sockets join `rooms`.
    RemoteJoin {
        /// Which sockets.
        opts: BroadcastOptions,
        /// Rooms to join.
        rooms: Vec<String>,
    },
    /// `REMOTE_LEAVE` (3): `{opts, rooms}`.
    RemoteLeave {
        /// Which sockets.
        opts: BroadcastOptions,
        /// Rooms to leave.
        rooms: Vec<String>,
    },
    /// `REMOTE_DISCONNECT` (4): `{opts, close}`.
    RemoteDisconnect {
        /// Which sockets.
        opts: BroadcastOptions,
        /// Whether to close the underlying connection too.
        close: bool,
    },
    /// Legacy `REMOTE_JOIN` (2) of one socket: `{sid, room}`.
    LegacyRemoteJoin {
        /// The socket id.
        sid: String,
        /// The room.
        room: String,
    },
    /// Legacy `REMOTE_LEAVE` (3) of one socket: `{sid, room}`.
    LegacyRemoteLeave {
        /// The socket id.
        sid: String,
        /// The room.
        room: String,
    },
    /// Legacy `REMOTE_DISCONNECT` (4) of one socket: `{sid, close}`.
    LegacyRemoteDisconnect {
        /// The socket id.
        sid: String,
        /// Whether to close the underlying connection.
        close: bool,
    },
    /// `REMOTE_FETCH` (5): `{opts}`.
    RemoteFetch {
        /// Which sockets.
        opts: BroadcastOptions,
    },
    /// `SERVER_SIDE_EMIT` (6): `{data}`, `data` = `[event, ...args]`.
    ServerSideEmit {
        /// `[event, ...args]`.
        data: Value,
    },
    /// `BROADCAST` (7), broadcast with acknowledgements: `{packet, opts}`, msgpack;
    /// `opts.flags.timeout` is the acknowledgement timeout in ms.
    Broadcast {
        /// The packet, `nsp` set.
        packet: Packet,
        /// Rooms, except, flags.
        opts: BroadcastOptions,
    },
}

impl RequestBody {
    /// The numeric request type.
    pub fn request_type(&self) -> RequestType {
        match self {
            Self::Sockets { .. } => RequestType::Sockets,
            Self::AllRooms => RequestType::AllRooms,
            Self::RemoteJoin { .. } | Self::LegacyRemoteJoin { .. } => RequestType::RemoteJoin,
            Self::RemoteLeave { .. } | Self::LegacyRemoteLeave { .. } => RequestType::RemoteLeave,
            Self::RemoteDisconnect { .. } | Self::LegacyRemoteDisconnect { .. } => {
                RequestType::RemoteDisconnect
            }
            Self::RemoteFetch { .. } => RequestType::RemoteFetch,
            Self::ServerSideEmit { .. } => RequestType::ServerSideEmit,
            Self::Broadcast { .. } => RequestType::Broadcast,
        }
    }

    fn len(&self) -> usize {
        match self {
            Self::AllRooms => 0,
            Self::Sockets { .. } | Self::RemoteFetch { .. } | Self::ServerSideEmit { .. } => 1,
            _ => 2,
        }
    }

    fn write<S: Sink>(&self, s: &mut S) {
        match self {
            Self::AllRooms => {}
            Self::Sockets { rooms } => {
                s.key("rooms");
                s.strs(rooms);
            }
            Self::RemoteJoin { opts, rooms } | Self::RemoteLeave { opts, rooms } => {
                s.key("opts");
                opts.write(s);
                s.key("rooms");
                s.strs(rooms);
            }
            Self::RemoteDisconnect { opts, close } => {
                s.key("opts");
                opts.write(s);
                s.key("close");
                s.bool(*close);
            }
            Self::LegacyRemoteJoin { sid, room } | Self::LegacyRemoteLeave { sid, room } => {
                s.key("sid");
                s.str(sid);
                s.key("room");
                s.str(room);
            }
            Self::LegacyRemoteDisconnect { sid, close } => {
                s.key("sid");
                s.str(sid);
                s.key("close");
                s.bool(*close);
            }
            Self::RemoteFetch { opts } => {
                s.key("opts");
                opts.write(s);
            }
            Self::ServerSideEmit { data } => {
                s.key("data");
                s.value(data);
            }
            Self::Broadcast { packet, opts } => {
                s.key("packet");
                packet.write(s);
                s.key("opts");
                opts.write(s);
            }
        }
    }
}

impl ClassicRequest {
    /// The encoding Node uses for this request: msgpack for `BROADCAST` (7), JSON for the
    /// others.
    pub fn encoding(&self) -> Encoding {
        match self.body {
            RequestBody::Broadcast { .. } => Encoding::Msgpack,
            _ => Encoding::Json,
        }
    }

    /// The bytes Node publishes for this request.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self, self.encoding(), Flavor::Notepack)
    }

    /// Decodes a request, JSON or msgpack by its first byte.
    ///
    /// # Errors
    /// [`DecodeError`] for malformed input, an unknown `type`, or missing members.
    pub fn decode(input: &[u8], limits: &Limits) -> Result<Self, DecodeError> {
        Self::from_value(codec::decode_any(input, limits)?)
    }

    fn from_value(v: Value) -> Result<Self, DecodeError> {
        let mut f = Fields::new(v, "classic request")?;
        let uid = f.opt_str("uid")?;
        let request_id = f.opt_str("requestId")?;
        let opts = |f: &mut Fields| BroadcastOptions::from_value(f.req("opts")?);
        let body = match RequestType::try_from(f.req_int("type")?)? {
            RequestType::Sockets => RequestBody::Sockets {
                rooms: f.rooms("rooms")?,
            },
            RequestType::AllRooms => RequestBody::AllRooms,
            t @ (RequestType::RemoteJoin | RequestType::RemoteLeave) => {
                let join = t == RequestType::RemoteJoin;
                match f.take("opts") {
                    Some(o) => {
                        let (opts, rooms) = (BroadcastOptions::from_value(o)?, f.rooms("rooms")?);
                        if join {
                            RequestBody::RemoteJoin { opts, rooms }
                        } else {
                            RequestBody::RemoteLeave { opts, rooms }
                        }
                    }
                    None => {
                        let (sid, room) = (f.req_str("sid")?, f.req_str("room")?);
                        if join {
                            RequestBody::LegacyRemoteJoin { sid, room }
                        } else {
                            RequestBody::LegacyRemoteLeave { sid, room }
                        }
                    }
                }
            }
            RequestType::RemoteDisconnect => {
                let close = f.opt_bool("close")?.unwrap_or(false);
                match f.take("opts") {
                    Some(o) => RequestBody::RemoteDisconnect {
                        opts: BroadcastOptions::from_value(o)?,
                        close,
                    },
                    None => RequestBody::LegacyRemoteDisconnect {
                        sid: f.req_str("sid")?,
                        close,
                    },
                }
            }
            RequestType::RemoteFetch => RequestBody::RemoteFetch {
                opts: opts(&mut f)?,
            },
            RequestType::ServerSideEmit => RequestBody::ServerSideEmit {
                data: f.req_array("data")?,
            },
            RequestType::Broadcast => {
                let packet = Packet::from_value(f.req("packet")?)?;
                RequestBody::Broadcast {
                    packet,
                    opts: opts(&mut f)?,
                }
            }
            t @ (RequestType::BroadcastClientCount | RequestType::BroadcastAck) => {
                return Err(DecodeError::UnknownType {
                    what: "classic request",
                    value: i64::from(t.code()),
                });
            }
        };
        Ok(Self {
            uid,
            request_id,
            body,
        })
    }
}

impl WriteTo for ClassicRequest {
    fn write_to<S: Sink>(&self, s: &mut S) {
        let head = usize::from(self.uid.is_some()) + usize::from(self.request_id.is_some()) + 1;
        s.begin_map(head + self.body.len());
        if let Some(uid) = &self.uid {
            s.key("uid");
            s.str(uid);
        }
        if let Some(id) = &self.request_id {
            s.key("requestId");
            s.str(id);
        }
        s.key("type");
        s.uint(u64::from(self.body.request_type().code()));
        self.body.write(s);
        s.end_map();
    }
}
