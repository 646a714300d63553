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
