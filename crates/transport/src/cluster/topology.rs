//! The slot map of a Redis Cluster: which primary (and which replicas) serve
//! each of the 16 384 hash slots, from `CLUSTER SHARDS` (Redis ≥ 7.0) or
//! `CLUSTER SLOTS` (older servers).
//!
//! Both replies come from the network and are checked as hostile input: every
//! slot number in `0..16384` with `start ≤ end`, host names of at most
//! [`MAX_HOST_LEN`] bytes, at most one shard per slot; the work is linear in
//! the reply's size.

use std::fmt;

use redis::Value;

use super::slot::SLOT_COUNT;

/// Longest host name accepted from a topology reply, bytes (DNS's limit).
pub const MAX_HOST_LEN: usize = 255;

/// Marks a slot no shard serves in [`ClusterTopology`]'s owner table.
const UNASSIGNED: u16 = u16::MAX;

/// One node of a Redis Cluster, as the topology names it: the endpoint the
/// cluster announces (`cluster-announce-hostname` when it prefers hostnames,
/// else the IP), or the seed's host when it announces none.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeAddr {
    /// Host name or IP address (at most [`MAX_HOST_LEN`] bytes).
    pub host: String,
    /// TCP port (the TLS port when the seed URL is `rediss://` and the
    /// cluster announces one).
    pub port: u16,
}

impl fmt::Display for NodeAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// One shard of a Redis Cluster: a primary, its replicas, and the slot ranges
/// it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Shard {
    /// The primary, which serves reads and writes of the shard's slots.
    pub primary: NodeAddr,
    /// Its replicas, except those `CLUSTER SHARDS` reports `failed` (Redis 7.0
    /// also reports `loading` for a synced replica whose replication offset is
    /// still 0, so that one is kept).
    pub replicas: Vec<NodeAddr>,
    /// Inclusive slot ranges `(start, end)`, each within `0..16384`.
    pub slots: Vec<(u16, u16)>,
}

/// Which shard serves each hash slot of a Redis Cluster (see
/// [`key_slot`](crate::slot::key_slot) for a key's or channel's slot).
///
/// Read with [`ClusterTopology::fetch`](crate::ClusterTopology::fetch), or
/// parsed from a reply with [`ClusterTopology::from_shards_reply`] /
/// [`ClusterTopology::from_slots_reply`].
#[derive(Clone)]
pub struct ClusterTopology {
    shards: Vec<Shard>,
    /// Index in `shards` of each slot's shard; [`UNASSIGNED`] if none.
    owner: Box<[u16]>,
}

impl fmt::Debug for ClusterTopology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterTopology")
            .field("shards", &self.shards)
            .field("unassigned_slots", &self.unassigned_slots())
            .finish()
    }
}

/// Why a topology reply was refused: what was wrong, as text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unexpected cluster topology reply: {0}")]
pub struct TopologyError(pub(crate) String);

fn bad<T>(what: impl Into<String>) -> Result<T, TopologyError> {
    Err(TopologyError(what.into()))
}

impl ClusterTopology {
    /// Parses a `CLUSTER SHARDS` reply (RESP2 flat key/value arrays or RESP3
    /// maps): per shard its `slots` (a flat list of `start, end` pairs) and its
    /// `nodes` (each with `role`, `health`, `endpoint`, `ip`, `hostname`,
    /// `port`, `tls-port`). A node whose endpoint is unknown (`?` or empty) is
    /// reached at `seed_host`; `tls` picks `tls-port` when announced. Shards
    /// without slots are left out.
    ///
    /// # Errors
    ///
    /// [`TopologyError`] for a reply of another shape, a slot outside
    /// `0..16384` or a range with `start > end`, a slot served by two shards,
    /// a port outside `1..=65535`, a host over [`MAX_HOST_LEN`] bytes, or a
    /// shard with slots and no primary.
    pub fn from_shards_reply(
        reply: &Value,
        seed_host: &str,
        tls: bool,
    ) -> Result<ClusterTopology, TopologyError> {
        let Value::Array(shards) = reply else {
            return bad("CLUSTER SHARDS: not an array");
        };
        let mut topology = ClusterTopology::empty();
        for shard in shards {
            let mut slots = Vec::new();
            let mut primary = None;
            let mut replicas = Vec::new();
            for (name, value) in pairs(shard).ok_or(TopologyError("shard: not a map".into()))? {
                match text(name).as_deref() {
                    Some("slots") => {
                        let list = items(value).ok_or(TopologyError("slots: not a list".into()))?;
                        if list.len() % 2 != 0 {
                            return bad("slots: odd number of bounds");
                        }
                        for pair in list.chunks(2) {
                            slots.push(range(&pair[0], &pair[1])?);
                        }
                    }
                    Some("nodes") => {
                        for node in items(value).ok_or(TopologyError("nodes: not a list".into()))? {
                            let (addr, role, health) = shard_node(node, seed_host, tls)?;
                            match role.as_deref() {
                                Some("master") => primary = Some(addr),
                                _ if health.as_deref() != Some("failed") => {
                                    replicas.push(addr);
                                }
                                _ => {}
                            }
                        }
                    }
                    _ => {}
                }
            }
            if slots.is_empty() {
                continue;
            }
            let Some(primary) = primary else {
                return bad("a shard with slots has no primary");
            };
            topology.add(Shard {
                primary,
                replicas,
                slots,
            })?;
        }
        Ok(topology)
    }

    /// Parses a `CLUSTER SLOTS` reply: per slot range `start, end`, then the
    /// primary and the replicas, each `[endpoint, port, id, …]`. An unknown
    /// endpoint (`?`, empty or null) is reached at `seed_host`. Ranges of one
    /// primary make one shard.
    ///
    /// # Errors
    ///
    /// As [`ClusterTopology::from_shards_reply`].
    pub fn from_slots_reply(
        reply: &Value,
        seed_host: &str,
    ) -> Result<ClusterTopology, TopologyError> {
        let Value::Array(ranges) = reply else {
            return bad("CLUSTER SLOTS: not an array");
        };
        let mut topology = ClusterTopology::empty();
        for entry in ranges {
            let Value::Array(parts) = entry else {
                return bad("CLUSTER SLOTS: an entry is not an array");
            };
            if parts.len() < 3 {
                return bad("CLUSTER SLOTS: an entry has no primary");
            }
            let slots = range(&parts[0], &parts[1])?;
            let primary = slots_node(&parts[2], seed_host)?;
            let replicas = parts[3..]
                .iter()
                .map(|n| slots_node(n, seed_host))
                .collect::<Result<Vec<_>, _>>()?;
            match topology.shards.iter().position(|s| s.primary == primary) {
                Some(i) => {
                    topology.shards[i].slots.push(slots);
                    topology.assign(i, slots)?;
                }
                None => topology.add(Shard {
                    primary,
                    replicas,
                    slots: vec![slots],
                })?,
            }
        }
        Ok(topology)
    }

    fn empty() -> ClusterTopology {
        ClusterTopology {
            shards: Vec::new(),
            owner: vec![UNASSIGNED; usize::from(SLOT_COUNT)].into_boxed_slice(),
        }
    }

    fn add(&mut self, shard: Shard) -> Result<(), TopologyError> {
        let index = self.shards.len();
        if index >= usize::from(SLOT_COUNT) {
            return bad("more shards than slots");
        }
        for &range in &shard.slots {
            self.assign(index, range)?;
        }
        self.shards.push(shard);
        Ok(())
    }

    fn assign(&mut self, index: usize, (start, end): (u16, u16)) -> Result<(), TopologyError> {
        let index = u16::try_from(index).unwrap_or(UNASSIGNED);
        for owner in &mut self.owner[usize::from(start)..=usize::from(end)] {
            if *owner != UNASSIGNED && *owner != index {
                return bad(format!("slots {start}-{end} served by two shards"));
            }
            *owner = index;
        }
        Ok(())
    }

    /// The shards, in reply order.
    pub fn shards(&self) -> &[Shard] {
        &self.shards
    }

    /// The shard serving `slot`, if any (`None` also for `slot ≥ 16384`).
    pub fn shard_of(&self, slot: u16) -> Option<&Shard> {
        let index = *self.owner.get(usize::from(slot))?;
        self.shards.get(usize::from(index))
    }

    /// The primary serving `slot`, if any.
    pub fn primary_of(&self, slot: u16) -> Option<&NodeAddr> {
        self.shard_of(slot).map(|s| &s.primary)
    }

    /// Whether `node` is a primary or a replica of some shard of the map.
    pub fn serves(&self, node: &NodeAddr) -> bool {
        self.shards
            .iter()
            .any(|s| s.primary == *node || s.replicas.contains(node))
    }

    /// Whether both maps name the same primary for every slot (replicas and
    /// shard order aside).
    pub fn same_primaries(&self, other: &ClusterTopology) -> bool {
        fn owners(t: &ClusterTopology) -> Vec<(&NodeAddr, Vec<(u16, u16)>)> {
            let mut v: Vec<_> = t
                .shards
                .iter()
                .filter(|s| !s.slots.is_empty())
                .map(|s| {
                    let mut slots = s.slots.clone();
                    slots.sort_unstable();
                    (&s.primary, slots)
                })
                .collect();
            v.sort_unstable();
            v
        }
        owners(self) == owners(other)
    }

    /// How many of the 16 384 slots no shard serves (0 in a healthy cluster).
    pub fn unassigned_slots(&self) -> usize {
        self.owner.iter().filter(|&&o| o == UNASSIGNED).count()
    }
}

/// The key/value pairs of a RESP3 map or of a RESP2 flat `[k, v, k, v…]` array.
fn pairs(v: &Value) -> Option<Vec<(&Value, &Value)>> {
    match v {
        Value::Map(pairs) => Some(pairs.iter().map(|(k, v)| (k, v)).collect()),
        Value::Array(flat) if flat.len() % 2 == 0 => {
            Some(flat.chunks(2).map(|kv| (&kv[0], &kv[1])).collect())
        }
        _ => None,
    }
}

fn items(v: &Value) -> Option<&[Value]> {
    match v {
        Value::Array(items) | Value::Set(items) => Some(items),
        _ => None,
    }
}

/// A string-like value as text (bulk, simple or verbatim string).
fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        _ => None,
    }
}

fn integer(v: &Value) -> Option<i64> {
    match v {
        Value::Int(n) => Some(*n),
        other => text(other)?.parse().ok(),
    }
}

fn slot(v: &Value) -> Result<u16, TopologyError> {
    match integer(v).and_then(|n| u16::try_from(n).ok()) {
        Some(n) if n < SLOT_COUNT => Ok(n),
        _ => bad("a slot outside 0..16384"),
    }
}

fn range(start: &Value, end: &Value) -> Result<(u16, u16), TopologyError> {
    let (start, end) = (slot(start)?, slot(end)?);
    if start > end {
        return bad(format!("slot range {start}-{end}"));
    }
    Ok((start, end))
}

fn port(v: &Value) -> Result<u16, TopologyError> {
    match integer(v).and_then(|n| u16::try_from(n).ok()) {
        Some(p) if p > 0 => Ok(p),
        _ => bad("a port outside 1..=65535"),
    }
}

/// The host to dial: the announced endpoint, or the seed's when unknown.
fn host(endpoint: Option<String>, seed_host: &str) -> Result<String, TopologyError> {
    let host = match endpoint {
        Some(e) if !e.is_empty() && e != "?" => e,
        _ => seed_host.to_owned(),
    };
    if host.len() > MAX_HOST_LEN {
        return bad("a host name over 255 bytes");
    }
    Ok(host)
}

/// One node of a `CLUSTER SHARDS` shard: its address, role and health.
fn shard_node(
    node: &Value,
    seed_host: &str,
    tls: bool,
) -> Result<(NodeAddr, Option<String>, Option<String>), TopologyError> {
    let (mut endpoint, mut ip, mut plain, mut secure, mut role, mut health) =
        (None, None, None, None, None, None);
    for (k, v) in pairs(node).ok_or(TopologyError("node: not a map".into()))? {
        match text(k).as_deref() {
            Some("endpoint") => endpoint = text(v),
            Some("ip") => ip = text(v),
            Some("port") => plain = Some(port(v)?),
            Some("tls-port") => secure = Some(port(v)?),
            Some("role") => role = text(v),
            Some("health") => health = text(v),
            _ => {}
        }
    }
    let port = match (tls, secure, plain) {
        (true, Some(p), _) | (_, _, Some(p)) | (false, Some(p), None) => p,
        _ => return bad("a node without a port"),
    };
    let endpoint = endpoint.filter(|e| !e.is_empty() && e != "?").or(ip);
    Ok((
        NodeAddr {
            host: host(endpoint, seed_host)?,
            port,
        },
        role,
        health,
    ))
}

/// One node of a `CLUSTER SLOTS` entry: `[endpoint, port, id, …]`.
fn slots_node(node: &Value, seed_host: &str) -> Result<NodeAddr, TopologyError> {
    let Value::Array(parts) = node else {
        return bad("CLUSTER SLOTS: a node is not an array");
    };
    if parts.len() < 2 {
        return bad("CLUSTER SLOTS: a node without a port");
    }
    Ok(NodeAddr {
        host: host(text(&parts[0]), seed_host)?,
        port: port(&parts[1])?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Value {
        Value::BulkString(x.as_bytes().to_vec())
    }

    fn node(endpoint: &str, port: i64, role: &str, health: &str, resp3: bool) -> Value {
        let kv = vec![
            (s("id"), s("abc")),
            (s("port"), Value::Int(port)),
            (s("ip"), s("10.0.0.1")),
            (s("endpoint"), s(endpoint)),
            (s("role"), s(role)),
            (s("replication-offset"), Value::Int(7)),
            (s("health"), s(health)),
        ];
        if resp3 {
            Value::Map(kv)
        } else {
            Value::Array(kv.into_iter().flat_map(|(k, v)| [k, v]).collect())
        }
    }

    fn shard(slots: &[i64], nodes: Vec<Value>, resp3: bool) -> Value {
        let kv = vec![
            (
                s("slots"),
                Value::Array(slots.iter().map(|&n| Value::Int(n)).collect()),
            ),
            (s("nodes"), Value::Array(nodes)),
        ];
        if resp3 {
            Value::Map(kv)
        } else {
            Value::Array(kv.into_iter().flat_map(|(k, v)| [k, v]).collect())
        }
    }

    #[test]
    fn shards_reply_resp2_and_resp3() {
        for resp3 in [false, true] {
            let reply = Value::Array(vec![
                shard(
                    &[0, 5460, 10923, 10923],
                    vec![
                        node("a.example", 7000, "master", "online", resp3),
                        node("b.example", 7003, "replica", "online", resp3),
                        node("c.example", 7004, "replica", "failed", resp3),
                    ],
                    resp3,
                ),
                shard(
                    &[5461, 10922, 10924, 16383],
                    vec![node("?", 7001, "master", "online", resp3)],
                    resp3,
                ),
                // A shard without slots (a node just added) is left out.
                shard(&[], vec![node("d", 7009, "master", "online", resp3)], resp3),
            ]);
            let t = ClusterTopology::from_shards_reply(&reply, "seed", false).unwrap();
            assert_eq!(t.shards().len(), 2);
            assert_eq!(t.unassigned_slots(), 0);
            let a = NodeAddr {
                host: "a.example".into(),
                port: 7000,
            };
            assert_eq!(t.primary_of(0), Some(&a));
            assert_eq!(t.primary_of(10923), Some(&a));
            assert_eq!(t.primary_of(16384), None);
            // An unknown endpoint falls back to the IP.
            assert_eq!(t.primary_of(10924).unwrap().to_string(), "10.0.0.1:7001");
            assert_eq!(
                t.shard_of(1).unwrap().replicas.len(),
                1,
                "the failed replica is left out"
            );
        }
    }

    #[test]
    fn slots_reply() {
        let n = |h: &str, p: i64| Value::Array(vec![s(h), Value::Int(p), s("id")]);
        let reply = Value::Array(vec![
            Value::Array(vec![
                Value::Int(0),
                Value::Int(8000),
                n("", 7000),
                n("r", 7003),
            ]),
            Value::Array(vec![Value::Int(8001), Value::Int(16383), n("x", 7001)]),
            Value::Array(vec![Value::Int(8000), Value::Int(8000), n("", 7000)]),
        ]);
        let t = ClusterTopology::from_slots_reply(&reply, "seed").unwrap();
        assert_eq!(t.shards().len(), 2);
        assert_eq!(t.primary_of(0).unwrap().to_string(), "seed:7000");
        assert_eq!(t.shard_of(0).unwrap().replicas[0].to_string(), "r:7003");
        // The same primary's second range (overlapping itself is fine) joins its shard.
        assert_eq!(t.shards()[0].slots, vec![(0, 8000), (8000, 8000)]);
    }

    #[test]
    fn hostile_replies_are_refused() {
        let n = |p: i64| Value::Array(vec![s("h"), Value::Int(p)]);
        let one = |a: i64, b: i64, p: i64| {
            Value::Array(vec![Value::Array(vec![Value::Int(a), Value::Int(b), n(p)])])
        };
        for reply in [
            one(0, 16384, 7000),
            one(5, 4, 7000),
            one(-1, 4, 7000),
            one(0, 1, 0),
            one(0, 1, 70000),
            Value::Array(vec![
                Value::Array(vec![Value::Int(0), Value::Int(10), n(7000)]),
                Value::Array(vec![Value::Int(10), Value::Int(20), n(7001)]),
            ]),
            Value::Array(vec![Value::Array(vec![
                Value::Int(0),
                Value::Int(1),
                Value::Array(vec![s(&"h".repeat(256)), Value::Int(7000)]),
            ])]),
            Value::Int(3),
        ] {
            assert!(
                ClusterTopology::from_slots_reply(&reply, "seed").is_err(),
                "{reply:?}"
            );
        }
        let no_primary = Value::Array(vec![shard(
            &[0, 16383],
            vec![node("a", 7000, "replica", "online", true)],
            true,
        )]);
        assert!(ClusterTopology::from_shards_reply(&no_primary, "seed", false).is_err());
    }
}
