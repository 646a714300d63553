//! Event names Socket.IO reserves, refused before anything is published.

/// Event names `@socket.io/redis-emitter` 5.1 refuses in `emit` (its `RESERVED_EVENTS`;
/// socket.io 4.8 refuses the same names in a socket's `emit`).
pub const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// Event names socket.io 4.8's `Namespace.serverSideEmit` refuses: a receiving server would
/// run its connection handlers for them.
pub const RESERVED_SERVER_SIDE_EVENTS: [&str; 3] = ["connect", "connection", "new_namespace"];
