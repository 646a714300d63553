use crate::codec::{self, Encoding, WriteTo};
use crate::error::{DecodeError, Limits};
use crate::fields::Fields;
use crate::msgpack::Flavor;
use crate::packet::SocketDescription;
use crate::sink::Sink;
use crate::types::RequestType;
use crate::value::Value;

/// A response on `<key>-response#<nsp>#` or `<key>-response#<nsp>#<uid>#`
/// (PROTOCOL.md §1.4). Most responses carry no `type`: the requester reads them by the
/// type of the request it stored under `requestId`; this enum tells them apart by their
/// members instead.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ClassicResponse {
    /// Answer to `SOCKETS` (0): `{requestId, sockets: [id, ...]}`.
    Sockets {
        /// The request id.
        request_id: String,
        /// Socket ids.
        sockets: Vec<String>,
    },
    /// Answer to `REMOTE_FETCH` (5): `{requestId, sockets: [{id, handshake, rooms, data}]}`.
    /// An empty `sockets` array decodes as this variant.
    FetchSockets {
        /// The request id.
        request_id: String,
        /// The matching sockets of the responding node.
        sockets: Vec<SocketDescription>,
    },
    /// Answer to `ALL_ROOMS` (1): `{requestId, rooms}`.
    AllRooms {
        /// The request id.
        request_id: String,
        /// The responding node's rooms.
        rooms: Vec<String>,
    },
    /// Answer to a legacy join/leave/disconnect: `{requestId}`.
    Done {
        /// The request id.
        request_id: String,
    },
    /// `{type: 6, requestId, data}`: one node's acknowledgement of a server-side emit,
    /// `data` being the first acknowledgement argument.
    ServerSideEmit {
        /// The request id.
        request_id: String,
        /// The first acknowledgement argument; `None` when the acknowledgement had no
        /// argument (`undefined`, left out of the JSON).
        data: Option<Value>,
    },
    /// `{type: 8, requestId, clientCount}`: how many clients of the responding node the
    /// broadcast-with-ack reached (sent even when 0).
    BroadcastClientCount {
        /// The request id.
        request_id: String,
        /// Number of clients.
        client_count: u64,
    },
    /// `{type: 9, requestId, packet}` (msgpack): one client's acknowledgement, `packet`
    /// being its first argument.
    BroadcastAck {
        /// The request id.
        request_id: String,
        /// The client's first acknowledgement argument; `None` for `undefined`.
        packet: Option<Value>,
    },
}

impl ClassicResponse {
    /// The request id this answers.
    pub fn request_id(&self) -> &str {
        match self {
            Self::Sockets { request_id, .. }
            | Self::FetchSockets { request_id, .. }
            | Self::AllRooms { request_id, .. }
            | Self::Done { request_id }
            | Self::ServerSideEmit { request_id, .. }
            | Self::BroadcastClientCount { request_id, .. }
            | Self::BroadcastAck { request_id, .. } => request_id,
        }
    }

    /// The encoding Node uses: msgpack for `BROADCAST_ACK` (9), JSON for the others.
    pub fn encoding(&self) -> Encoding {
        match self {
            Self::BroadcastAck { .. } => Encoding::Msgpack,
            _ => Encoding::Json,
        }
    }

    /// The bytes Node publishes for this response.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self, self.encoding(), Flavor::Notepack)
    }

    /// Decodes a response, JSON or msgpack by its first byte.
    ///
    /// # Errors
    /// [`DecodeError`] for malformed input, an unknown `type` or missing members.
    pub fn decode(input: &[u8], limits: &Limits) -> Result<Self, DecodeError> {
        let mut f = Fields::new(codec::decode_any(input, limits)?, "classic response")?;
        let kind = match f.take("type") {
            None => None,
            Some(t) => Some(RequestType::try_from(
                t.as_i64().ok_or_else(|| f.wrong("type", "an integer"))?,
            )?),
        };
        let request_id = f.req_str("requestId")?;
        Ok(match kind {
            Some(RequestType::ServerSideEmit) => Self::ServerSideEmit {
                request_id,
                data: f.take_raw("data"),
            },
            Some(RequestType::BroadcastClientCount) => {
                let n = f.req_int("clientCount")?;
                let client_count =
                    u64::try_from(n).map_err(|_| f.wrong("clientCount", "a count"))?;
                Self::BroadcastClientCount {
                    request_id,
                    client_count,
                }
            }
            Some(RequestType::BroadcastAck) => Self::BroadcastAck {
                request_id,
                packet: f.take_raw("packet"),
            },
            Some(t) => {
                return Err(DecodeError::UnknownType {
                    what: "classic response",
                    value: i64::from(t.code()),
                });
            }
            None => match (f.take("sockets"), f.take("rooms")) {
                (Some(Value::Array(items)), _)
                    if !items.is_empty() && items.iter().all(|v| v.as_str().is_some()) =>
                {
                    let sockets = items.into_iter().filter_map(|v| match v {
                        Value::Str(s) => Some(s),
                        _ => None,
                    });
                    Self::Sockets {
                        request_id,
                        sockets: sockets.collect(),
                    }
                }
                (Some(list), _) => Self::FetchSockets {
                    request_id,
                    sockets: SocketDescription::list(list, "classic response")?,
                },
                (None, Some(rooms)) => Self::AllRooms {
                    request_id,
                    rooms: crate::fields::rooms(rooms)
                        .ok_or_else(|| f.wrong("rooms", "an array of rooms"))?,
                },
                (None, None) => Self::Done { request_id },
            },
        })
    }
}

impl WriteTo for ClassicResponse {
    fn write_to<S: Sink>(&self, s: &mut S) {
        let typed = |s: &mut S, t: RequestType, request_id: &str, key: &str, v: Option<&Value>| {
            s.begin_map(2 + usize::from(v.is_some()));
            s.key("type");
            s.uint(u64::from(t.code()));
            s.key("requestId");
            s.str(request_id);
            if let Some(v) = v {
                s.key(key);
                s.value(v);
            }
        };
        match self {
            Self::Sockets {
                request_id,
                sockets,
            } => {
                s.begin_map(2);
                s.key("requestId");
                s.str(request_id);
                s.key("sockets");
                s.strs(sockets);
            }
            Self::FetchSockets {
                request_id,
                sockets,
            } => {
                s.begin_map(2);
                s.key("requestId");
                s.str(request_id);
                s.key("sockets");
                SocketDescription::write_list(sockets, s);
            }
            Self::AllRooms { request_id, rooms } => {
                s.begin_map(2);
                s.key("requestId");
                s.str(request_id);
                s.key("rooms");
                s.strs(rooms);
            }
            Self::Done { request_id } => {
                s.begin_map(1);
                s.key("requestId");
                s.str(request_id);
            }
            Self::ServerSideEmit { request_id, data } => {
                typed(
                    s,
                    RequestType::ServerSideEmit,
                    request_id,
                    "data",
                    data.as_ref(),
                );
            }
            Self::BroadcastClientCount {
                request_id,
                client_count,
            } => {
                let count = Value::from(*client_count);
                typed(
                    s,
                    RequestType::BroadcastClientCount,
                    request_id,
                    "clientCount",
                    Some(&count),
                );
            }
            Self::BroadcastAck { request_id, packet } => {
                typed(
                    s,
                    RequestType::BroadcastAck,
                    request_id,
                    "packet",
                    packet.as_ref(),
                );
            }
        }
        s.end_map();
    }
}
