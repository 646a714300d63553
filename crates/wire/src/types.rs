//! The numeric enumerations of the wire, with Node's values.

use crate::error::DecodeError;

macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident, $what:literal, { $($(#[$vdoc:meta])* $variant:ident = $value:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum $name {
            $($(#[$vdoc])* $variant = $value,)*
        }

        impl $name {
            /// The numeric value on the wire.
            pub const fn code(self) -> u8 {
                self as u8
            }
        }

        impl TryFrom<i64> for $name {
            type Error = DecodeError;

            /// # Errors
            /// [`DecodeError::UnknownType`] for a value Node does not define.
            fn try_from(value: i64) -> Result<Self, DecodeError> {
                match value {
                    $($value => Ok(Self::$variant),)*
                    _ => Err(DecodeError::UnknownType { what: $what, value }),
                }
            }
        }
    };
}

wire_enum!(
    /// socket.io-parser 4.2 packet types (protocol 5). Adapters only carry `Event`.
    PacketType, "packet", {
        /// `CONNECT`
        Connect = 0,
        /// `DISCONNECT`
        Disconnect = 1,
        /// `EVENT`: the only type adapters carry.
        Event = 2,
        /// `ACK`
        Ack = 3,
        /// `CONNECT_ERROR`
        ConnectError = 4,
        /// `BINARY_EVENT`
        BinaryEvent = 5,
        /// `BINARY_ACK`
        BinaryAck = 6,
    }
);

wire_enum!(
    /// `RequestType` of the classic adapter, `@socket.io/redis-adapter` 8.3 (PROTOCOL.md §1.4).
    RequestType, "classic request", {
        /// Legacy `SOCKETS` (handled, never sent by 8.3).
        Sockets = 0,
        /// `ALL_ROOMS` (`allRooms()`).
        AllRooms = 1,
        /// `REMOTE_JOIN` (`socketsJoin`).
        RemoteJoin = 2,
        /// `REMOTE_LEAVE` (`socketsLeave`).
        RemoteLeave = 3,
        /// `REMOTE_DISCONNECT` (`disconnectSockets`).
        RemoteDisconnect = 4,
        /// `REMOTE_FETCH` (`fetchSockets`).
        RemoteFetch = 5,
        /// `SERVER_SIDE_EMIT`, request and its acknowledgement response.
        ServerSideEmit = 6,
        /// `BROADCAST`: broadcast with acknowledgements.
        Broadcast = 7,
        /// `BROADCAST_CLIENT_COUNT` (response only).
        BroadcastClientCount = 8,
        /// `BROADCAST_ACK` (response only).
        BroadcastAck = 9,
    }
);

wire_enum!(
    /// `MessageType` of socket.io-adapter 2.5 `ClusterAdapter`, used by the sharded and
    /// streams adapters (PROTOCOL.md §3.1).
    MessageType, "cluster message", {
        /// `INITIAL_HEARTBEAT` (heartbeat variant only).
        InitialHeartbeat = 1,
        /// `HEARTBEAT` (heartbeat variant only).
        Heartbeat = 2,
        /// `BROADCAST`, with or without acknowledgements.
        Broadcast = 3,
        /// `SOCKETS_JOIN`
        SocketsJoin = 4,
        /// `SOCKETS_LEAVE`
        SocketsLeave = 5,
        /// `DISCONNECT_SOCKETS`
        DisconnectSockets = 6,
        /// `FETCH_SOCKETS`
        FetchSockets = 7,
        /// `FETCH_SOCKETS_RESPONSE`
        FetchSocketsResponse = 8,
        /// `SERVER_SIDE_EMIT`
        ServerSideEmit = 9,
        /// `SERVER_SIDE_EMIT_RESPONSE`
        ServerSideEmitResponse = 10,
        /// `BROADCAST_CLIENT_COUNT`
        BroadcastClientCount = 11,
        /// `BROADCAST_ACK`
        BroadcastAck = 12,
        /// `ADAPTER_CLOSE` (heartbeat variant only).
        AdapterClose = 13,
    }
);

impl MessageType {
    /// Whether the type is a response, handled by the requester only (8, 10, 11, 12).
    pub const fn is_response(self) -> bool {
        matches!(
            self,
            Self::FetchSocketsResponse
                | Self::ServerSideEmitResponse
                | Self::BroadcastClientCount
                | Self::BroadcastAck
        )
    }

    /// Whether Node switches the message to msgpack when its data holds binary
    /// (3, 8, 9, 10, 12; PROTOCOL.md §2.3, §4.3).
    pub const fn may_carry_binary(self) -> bool {
        matches!(
            self,
            Self::Broadcast
                | Self::FetchSocketsResponse
                | Self::ServerSideEmit
                | Self::ServerSideEmitResponse
                | Self::BroadcastAck
        )
    }
}
