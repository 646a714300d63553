//! Identifiers: server uids and request ids as the Node adapters make them
//! (PROTOCOL.md §0.2). Ids received from other nodes are kept as plain strings, since
//! Node socket ids (20 characters), socketioxide ids (16) and the emitter's `"emitter"`
//! all share one field.

use rand::Rng;

/// The uid2 1.0 alphabet: `A–Z a–z 0–9 - _`, in that order.
const UID2_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The uid of `@socket.io/redis-emitter` 5.1 messages.
pub const EMITTER_UID: &str = "emitter";

/// Length of a classic adapter server uid and request id (`uid2(6)`), in characters.
pub const CLASSIC_UID_LEN: usize = 6;

/// Length of a Node socket id and of a connection-state-recovery private id, in
/// characters (socket.io 4 with protocol v4 clients).
pub const NODE_SOCKET_ID_LEN: usize = 20;

/// A classic adapter uid or request id: 6 characters of `uid2(6)` from
/// `@socket.io/redis-adapter` 8.3 (each character `ALPHABET[random byte % 64]`).
pub fn classic_uid() -> String {
    let mut rng = rand::rng();
    (0..CLASSIC_UID_LEN)
        .map(|_| char::from(UID2_ALPHABET[usize::from(rng.random::<u8>() % 64)]))
        .collect()
}

/// A `ClusterAdapter` uid or request id (socket.io-adapter 2.5 `randomId()`): 8 random
/// bytes as 16 lowercase hex characters. Used by the sharded and streams adapters.
pub fn cluster_uid() -> String {
    let bytes: [u8; 8] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let c = classic_uid();
        assert_eq!(c.len(), 6);
        assert!(c.bytes().all(|b| UID2_ALPHABET.contains(&b)));
        let u = cluster_uid();
        assert_eq!(u.len(), 16);
        assert!(
            u.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_ne!(cluster_uid(), cluster_uid());
    }
}
