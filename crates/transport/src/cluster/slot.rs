//! Redis Cluster key-to-slot mapping (`CLUSTER KEYSLOT`), the one copy in the
//! project: which slot a key, stream or shard channel name lives in decides which
//! node a command goes to, and which node Node's adapters send it to (PROTOCOL
//! §1.6, §2.5, §4.8).

/// Number of hash slots in a Redis Cluster.
pub const SLOT_COUNT: u16 = 16384;

/// The Redis Cluster hash slot (`0..16384`) of `key`, as `CLUSTER KEYSLOT`
/// computes it: CRC16/XMODEM of the key, modulo 16384.
///
/// Hash tags are honoured: if the key contains `{`, followed later by `}`
/// with at least one byte between them, only the bytes between the first `{`
/// and the first `}` after it are hashed, so `{user1}.a` and `{user1}.b` land
/// in the same slot.
pub fn key_slot(key: &[u8]) -> u16 {
    crc16_xmodem(hash_tag(key)) % SLOT_COUNT
}

/// The part of `key` that Redis Cluster hashes (see [`key_slot`]).
fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = key.iter().position(|&b| b == b'{') {
        let after = &key[open + 1..];
        if let Some(close) = after.iter().position(|&b| b == b'}')
            && close > 0
        {
            return &after[..close];
        }
    }
    key
}

/// CRC16/XMODEM (polynomial 0x1021, initial value 0, no reflection): the
/// checksum Redis Cluster uses (`crc16.c` in the Redis sources).
fn crc16_xmodem(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_check_value() {
        // The standard check value of CRC16/XMODEM, also in Redis's crc16.c.
        assert_eq!(crc16_xmodem(b"123456789"), 0x31C3);
    }

    #[test]
    fn known_slots() {
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
        assert_eq!(key_slot(b""), 0);
    }

    #[test]
    fn hash_tags() {
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"{user1000}.followers"), key_slot(b"user1000"));
        // Empty tag: the whole key is hashed.
        assert_eq!(hash_tag(b"foo{}{bar}"), b"foo{}{bar}");
        // Only the first `{` counts, up to the first `}` after it.
        assert_eq!(hash_tag(b"foo{{bar}}zap"), b"{bar");
        assert_eq!(hash_tag(b"foo{bar}{zap}"), b"bar");
        assert_eq!(hash_tag(b"no-close{tag"), b"no-close{tag");
    }
}
