//! What the engine sends to the other servers ([`Outgoing`]) and the answers to its
//! requests ([`Reply`]), independent of any wire format: a [`Codec`](super::Codec)
//! encodes them and decodes its wire messages into them.

use sio_redis_wire::{BroadcastOptions, Packet, SocketDescription, Value};

/// A message of this server for the other servers of the namespace.
///
/// `opts` are wire options: rooms and except as the other servers name them (own-id
/// rooms for single sockets), `flags` present for broadcasts only. Request ids come from
/// [`Codec::new_request_id`](super::Codec::new_request_id).
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// A broadcast without acknowledgements (`packet.nsp` set).
    Broadcast {
        /// The event packet, `data` = `[event, ...args]`.
        packet: Packet,
        /// Target rooms, excepted rooms, flags.
        opts: BroadcastOptions,
    },
    /// A broadcast whose clients' acknowledgements come back as
    /// [`Reply::ClientCount`] then [`Reply::Ack`]s; `opts.flags.timeout` is the ack
    /// timeout in ms.
    BroadcastWithAck {
        /// The id the replies carry.
        request_id: String,
        /// The event packet.
        packet: Packet,
        /// Target rooms, excepted rooms, flags.
        opts: BroadcastOptions,
    },
    /// socketsJoin: the matching sockets join `rooms`. No reply.
    SocketsJoin {
        /// Which sockets (no flags).
        opts: BroadcastOptions,
        /// Rooms to join.
        rooms: Vec<String>,
    },
    /// socketsLeave: the matching sockets leave `rooms`. No reply.
    SocketsLeave {
        /// Which sockets (no flags).
        opts: BroadcastOptions,
        /// Rooms to leave.
        rooms: Vec<String>,
    },
    /// disconnectSockets. No reply.
    DisconnectSockets {
        /// Which sockets (no flags).
        opts: BroadcastOptions,
        /// Whether Node servers also close the underlying connections.
        close: bool,
    },
    /// fetchSockets: one [`Reply::Sockets`] per server.
    FetchSockets {
        /// The id the replies carry.
        request_id: String,
        /// Which sockets (no flags).
        opts: BroadcastOptions,
    },
    /// allRooms: one [`Reply::Rooms`] per server.
    AllRooms {
        /// The id the replies carry.
        request_id: String,
    },
    /// serverSideEmit; with a request id, one [`Reply::ServerSideEmit`] per server.
    ServerSideEmit {
        /// Present when acknowledgements are wanted.
        request_id: Option<String>,
        /// `[event, ...args]`.
        data: Vec<Value>,
    },
}

/// One server's answer to a request (its request id travels beside it).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Reply {
    /// To the legacy classic `SOCKETS` request: the ids of the matching sockets.
    SocketIds(Vec<String>),
    /// To fetchSockets: the matching sockets, described as Node describes them.
    Sockets(Vec<SocketDescription>),
    /// To allRooms: every local room.
    Rooms(Vec<String>),
    /// To a legacy single-socket join / leave / disconnect: done.
    Done,
    /// To serverSideEmit with ack: the first argument of the handler's acknowledgement.
    ServerSideEmit(Value),
    /// To a broadcast with acknowledgements, once per server, first: how many local
    /// clients were reached (sent even when 0).
    ClientCount(u64),
    /// To a broadcast with acknowledgements, once per acknowledging client: the first
    /// argument of its acknowledgement.
    Ack(Option<Value>),
}
