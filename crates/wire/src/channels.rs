//! Every Redis channel, pattern, stream and key name the adapters use, built here and
//! nowhere else (PROTOCOL.md §1.2, §2.2, §4.2, §4.4, §4.7, §5.1).
//!
//! `key`/`prefix` is the configured prefix (Node default `"socket.io"`), `nsp` the
//! namespace with its leading slash (`"/"`, `"/chat"`).

/// The Node default channel prefix of every adapter and of the emitter.
pub const DEFAULT_PREFIX: &str = "socket.io";
/// The streams adapter's default stream name (`streamName`).
pub const DEFAULT_STREAM_NAME: &str = "socket.io";
/// The streams adapter's default session key prefix (`sessionKeyPrefix`).
pub const DEFAULT_SESSION_KEY_PREFIX: &str = "sio:session:";

/// The channels of one namespace under the classic adapter
/// (`@socket.io/redis-adapter` 8.3 `createAdapter`) and the emitter 5.1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassicChannels {
    /// Broadcast to the whole namespace: `<key>#<nsp>#`. Room channels extend it.
    pub broadcast: String,
    /// The pattern every node PSUBSCRIBEs: `<key>#<nsp>#*`.
    pub broadcast_pattern: String,
    /// Requests: `<key>-request#<nsp>#`.
    pub request: String,
    /// Shared responses: `<key>-response#<nsp>#`.
    pub response: String,
}

impl ClassicChannels {
    /// The channels of namespace `nsp` under prefix `key`.
    pub fn new(key: &str, nsp: &str) -> Self {
        let broadcast = format!("{key}#{nsp}#");
        Self {
            broadcast_pattern: format!("{broadcast}*"),
            broadcast,
            request: format!("{key}-request#{nsp}#"),
            response: format!("{key}-response#{nsp}#"),
        }
    }

    /// The broadcast channel of one room: `<key>#<nsp>#<room>#`.
    pub fn room(&self, room: &str) -> String {
        format!("{}{room}#", self.broadcast)
    }

    /// Where a broadcast to `rooms` is published: the room's channel when there is
    /// exactly one room, else the namespace channel (as Node 8.3 and the emitter do).
    pub fn broadcast_for(&self, rooms: &[String]) -> String {
        match rooms {
            [room] => self.room(room),
            _ => self.broadcast.clone(),
        }
    }

    /// The room a broadcast channel addresses: `Some("")` for the namespace channel,
    /// `Some(room)` for a room channel, `None` for a channel of another namespace.
    pub fn room_of<'c>(&self, channel: &'c str) -> Option<&'c str> {
        let rest = channel.strip_prefix(self.broadcast.as_str())?;
        if rest.is_empty() {
            return Some("");
        }
        rest.strip_suffix('#')
    }

    /// A node's own response channel: `<key>-response#<nsp>#<uid>#`.
    pub fn own_response(&self, uid: &str) -> String {
        format!("{}{uid}#", self.response)
    }
}

/// The channels of one namespace under the sharded adapter
/// (`@socket.io/redis-adapter` 8.3 `createShardedAdapter`), and the pub/sub channels of
/// the streams adapter 0.3 (whose public and private channels have the same shape).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardedChannels {
    /// The main (public) channel: `<prefix>#<nsp>#`.
    pub main: String,
}

impl ShardedChannels {
    /// The channels of namespace `nsp` under prefix `prefix`.
    pub fn new(prefix: &str, nsp: &str) -> Self {
        Self {
            main: format!("{prefix}#{nsp}#"),
        }
    }

    /// A node's own response (private) channel: `<prefix>#<nsp>#<uid>#`.
    pub fn own_response(&self, uid: &str) -> String {
        format!("{}{uid}#", self.main)
    }

    /// A room's channel (dynamic modes): `<prefix>#<nsp>#<room>#`.
    pub fn room(&self, room: &str) -> String {
        format!("{}{room}#", self.main)
    }

    /// The channel a `BROADCAST` (type 3) goes on, as 8.3's `computeChannel`
    /// (PROTOCOL.md §2.4): the room's own channel when the broadcast asks for no
    /// acknowledgement (`with_ack` false), targets exactly one room, and the mode is
    /// `dynamic-private`, or `dynamic` with a room that does not look like a socket id
    /// (20 UTF-16 code units, JavaScript's `length === 20`); the main channel otherwise.
    /// Every other message type goes on the main channel.
    pub fn broadcast(&self, mode: SubscriptionMode, rooms: &[String], with_ack: bool) -> String {
        match (mode, rooms) {
            (SubscriptionMode::DynamicPrivate, [room]) if !with_ack => self.room(room),
            (SubscriptionMode::Dynamic, [room]) if !with_ack && !looks_like_socket_id(room) => {
                self.room(room)
            }
            _ => self.main.clone(),
        }
    }
}

/// Whether the sharded adapter 8.3 takes `room` for a socket id: 20 UTF-16 code units
/// (JavaScript's `room.length === 20`), whatever the characters.
pub fn looks_like_socket_id(room: &str) -> bool {
    room.encode_utf16().count() == 20
}

/// `subscriptionMode` of the sharded adapter (`@socket.io/redis-adapter` 8.3, PROTOCOL.md
/// §2.4): which shard channels a server subscribes and where a broadcast to one room goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum SubscriptionMode {
    /// `"static"`: the main channel and the own response channel only; every broadcast
    /// on the main channel.
    Static,
    /// `"dynamic"` (Node's default): a broadcast to exactly one room (not one that looks
    /// like a socket id, no acknowledgements) goes on that room's channel, which only
    /// servers with a member of the room subscribe.
    #[default]
    Dynamic,
    /// `"dynamic-private"`: as `dynamic`, socket-id rooms included.
    DynamicPrivate,
}

impl SubscriptionMode {
    /// Node's name of the mode: `"static"`, `"dynamic"` or `"dynamic-private"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Static => "static",
            Self::Dynamic => "dynamic",
            Self::DynamicPrivate => "dynamic-private",
        }
    }

    /// The mode of Node's name `name`; `None` for any other text.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "static" => Some(Self::Static),
            "dynamic" => Some(Self::Dynamic),
            "dynamic-private" => Some(Self::DynamicPrivate),
            _ => None,
        }
    }
}

/// The stream a namespace's entries go to (`@socket.io/redis-streams-adapter` 0.3):
/// `stream_name` when `stream_count` is 1, else `<stream_name>-<i>` with
/// `i = hashCode(nsp) % stream_count` computed exactly as Node does, including Node's
/// negative indexes for namespaces with a negative hash (PROTOCOL.md §4.2).
pub fn stream_for(stream_name: &str, stream_count: u32, nsp: &str) -> String {
    if stream_count <= 1 {
        return stream_name.to_owned();
    }
    // JavaScript's % on an int32 hash: the remainder takes the dividend's sign.
    let index = i64::from(java_hash_code(nsp)) % i64::from(stream_count);
    format!("{stream_name}-{index}")
}

/// The streams all readers poll: `<stream_name>` or `<stream_name>-0 … -<count−1>`.
pub fn streams_to_read(stream_name: &str, stream_count: u32) -> Vec<String> {
    if stream_count <= 1 {
        return vec![stream_name.to_owned()];
    }
    (0..stream_count)
        .map(|i| format!("{stream_name}-{i}"))
        .collect()
}

/// Java's `String.hashCode` over UTF-16 code units, wrapping to a signed 32-bit integer
/// at each step, as the streams adapter 0.3 computes it.
pub fn java_hash_code(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// The key of a connection-state-recovery session record: `<prefix><pid>`
/// (default prefix `sio:session:`).
pub fn session_key(prefix: &str, pid: &str) -> String {
    format!("{prefix}{pid}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sharded_broadcast_channel_follows_compute_channel() {
        use SubscriptionMode::*;
        let c = ShardedChannels::new("socket.io", "/");
        let one = |r: &str| vec![r.to_owned()];
        let node_sid = "abcdefghij0123456789"; // 20 characters: Node's socket id
        let rust_sid = "abcdefgh01234567"; // 16: socketioxide's
        assert_eq!(
            c.broadcast(Dynamic, &one("room1"), false),
            "socket.io#/#room1#"
        );
        assert_eq!(c.broadcast(Dynamic, &one(node_sid), false), "socket.io#/#");
        // The trap of issue 11: a Rust socket id is a room channel for Node.
        assert_eq!(
            c.broadcast(Dynamic, &one(rust_sid), false),
            format!("socket.io#/#{rust_sid}#")
        );
        assert_eq!(
            c.broadcast(DynamicPrivate, &one(node_sid), false),
            format!("socket.io#/#{node_sid}#")
        );
        assert_eq!(c.broadcast(Dynamic, &one("room1"), true), "socket.io#/#");
        assert_eq!(c.broadcast(Static, &one("room1"), false), "socket.io#/#");
        assert_eq!(c.broadcast(Dynamic, &[], false), "socket.io#/#");
        assert_eq!(
            c.broadcast(Dynamic, &["a".into(), "b".into()], false),
            "socket.io#/#"
        );
        // JavaScript counts UTF-16 code units: 10 "é" (2 UTF-8 bytes each) are 10.
        assert!(!looks_like_socket_id(&"é".repeat(10)));
        assert!(looks_like_socket_id(&"é".repeat(20)));
        // An astral character is two code units.
        assert!(looks_like_socket_id(&"😀".repeat(10)));
        assert_eq!(
            SubscriptionMode::from_name("dynamic-private"),
            Some(DynamicPrivate)
        );
        assert_eq!(SubscriptionMode::from_name("Dynamic"), None);
    }

    #[test]
    fn classic_names() {
        let c = ClassicChannels::new("socket.io", "/");
        assert_eq!(c.broadcast, "socket.io#/#");
        assert_eq!(c.broadcast_pattern, "socket.io#/#*");
        assert_eq!(c.request, "socket.io-request#/#");
        assert_eq!(c.response, "socket.io-response#/#");
        assert_eq!(c.own_response("MPVgyK"), "socket.io-response#/#MPVgyK#");
        assert_eq!(c.broadcast_for(&["room1".into()]), "socket.io#/#room1#");
        assert_eq!(c.broadcast_for(&["a".into(), "b".into()]), "socket.io#/#");
        assert_eq!(c.room_of("socket.io#/#room1#"), Some("room1"));
        assert_eq!(c.room_of("socket.io#/#"), Some(""));
        assert_eq!(c.room_of("socket.io#/chat#"), None);
    }

    #[test]
    fn stream_index_matches_node_including_negative_hashes() {
        assert_eq!(java_hash_code("/notifications"), -1_014_064_871);
        assert_eq!(stream_for("socket.io", 3, "/notifications"), "socket.io--2");
        assert_eq!(stream_for("socket.io", 3, "/orders"), "socket.io-2");
        assert_eq!(stream_for("socket.io", 1, "/orders"), "socket.io");
        assert_eq!(
            session_key(DEFAULT_SESSION_KEY_PREFIX, "abc"),
            "sio:session:abc"
        );
    }
}
