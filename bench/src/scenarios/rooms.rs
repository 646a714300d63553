//! `rooms`: what a node receives from Redis for rooms it has no member of, under the
//! sharded adapter (issue 11 item 9: "1 000 rooms over 2 nodes, every room on one node
//! only: a node receives nothing from Redis for rooms without local members").
//!
//! Two nodes of one implementation; `rooms` rooms `room-<i>`, whose only member is a
//! client on node `i % 2` (one client per node joins all of its node's rooms). Node 0
//! sends `per_room` broadcasts to each room (`bench:emit` with that one room), in two
//! phases: to node 0's rooms, then to node 1's rooms. Counted:
//!
//! * per phase, the messages each node received from Redis: the difference of
//!   `redisReceived` in `bench:stats` before and after the phase (the Rust peer: its
//!   adapter's `stats().received`, every message handed over by the subscription; the
//!   Node peer: calls of each namespace's sharded adapter `onRawMessage`, the handler of
//!   every SSUBSCRIBEd channel). The node without members of the phase's rooms is the
//!   one that must receive nothing (in the `dynamic` modes; in `static` every broadcast
//!   goes on the main channel, which both nodes subscribe);
//! * the subscribers of every room channel (`PUBSUB SHARDNUMSUB` on its slot owner),
//!   after the joins: 1 each in the dynamic modes, 0 in `static`;
//! * the deliveries to each node's client (all of its rooms' broadcasts, none other).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value as Json, json};
use sio_redis_wire::channels::{DEFAULT_PREFIX, ShardedChannels, SubscriptionMode};

use super::broadcast::{CONNECT_TIMEOUT, Controllers, event_name, progress};
use super::{Env, node_names};
use crate::backend::{Adapter, Setup};
use crate::client::{Client, EventHandler};
use crate::peers::{Cluster, Impl};
use crate::report::{Section, Table, int};

/// How long the room channels may take to be subscribed after the joins.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(15);

/// Options of `rooms`.
#[derive(Debug, Clone)]
pub(crate) struct RoomsOpts {
    /// The implementation of both nodes.
    pub(crate) which: Impl,
    pub(crate) rooms: usize,
    /// Broadcasts to each room.
    pub(crate) per_room: u64,
    pub(crate) size: u64,
    /// Hard limit of each phase, seconds.
    pub(crate) timeout_s: u64,
    /// Must be the sharded adapter.
    pub(crate) setup: Setup,
}

/// One phase: broadcasts to the rooms whose members are on one node.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RoomsPhase {
    /// The node whose client is the member of the phase's rooms.
    pub(crate) members_on: usize,
    pub(crate) rooms: usize,
    /// Broadcasts node 0 sent (`bench:emit` → `sent`, all rooms).
    pub(crate) sent: u64,
    /// Broadcasts delivered to each node's client.
    pub(crate) delivered: Vec<u64>,
    /// Messages each node received from Redis during the phase; `None` when its peer
    /// does not count them.
    pub(crate) from_redis: Vec<Option<u64>>,
    /// The phase hit its deadline.
    pub(crate) timed_out: bool,
}

impl RoomsPhase {
    /// Messages from Redis to the node without members of these rooms.
    pub(crate) fn to_non_members(&self) -> Option<u64> {
        self.from_redis.get(1 - self.members_on).copied().flatten()
    }
}

/// What `rooms` measured.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RoomsResult {
    pub(crate) implementation: Impl,
    pub(crate) setup: String,
    pub(crate) nodes: Vec<String>,
    pub(crate) rooms: usize,
    pub(crate) per_room: u64,
    /// Room channels with 0, 1, and 2 subscribers (`PUBSUB SHARDNUMSUB`).
    pub(crate) room_channels_by_subscribers: [usize; 3],
    pub(crate) phases: Vec<RoomsPhase>,
}

impl RoomsResult {
    /// Messages from Redis for rooms without local members, both phases together;
    /// `None` when a node does not count them.
    pub(crate) fn to_non_members(&self) -> Option<u64> {
        self.phases.iter().map(RoomsPhase::to_non_members).sum()
    }

    /// Deliveries that did not arrive, or arrived at the wrong client.
    pub(crate) fn misdelivered(&self) -> u64 {
        self.phases
            .iter()
            .map(|p| {
                let expected = p.rooms as u64 * self.per_room;
                let own = p.delivered[p.members_on];
                expected.abs_diff(own) + p.delivered[1 - p.members_on]
            })
            .sum()
    }
}

/// Runs `rooms`.
pub(crate) async fn rooms(env: &Env, opts: &RoomsOpts) -> Result<RoomsResult, String> {
    if !opts.setup.sharded() {
        return Err("rooms: for the sharded adapter only (--adapter sharded)".into());
    }
    if opts.rooms < 2 || opts.per_room == 0 {
        return Err("rooms: at least 2 rooms and 1 broadcast per room".into());
    }
    let cluster = env.cluster(&[opts.which, opts.which], opts.setup).await?;
    let result = body(&cluster, opts).await;
    let result = result.map_err(|e| format!("{e}\n{}", cluster.tails()));
    cluster.stop().await;
    result
}

async fn body(cluster: &Cluster, opts: &RoomsOpts) -> Result<RoomsResult, String> {
    let ctl = Controllers::connect(cluster).await?;
    let event = event_name("rooms");
    let prefix = format!("[{},", Json::String(event.clone()));
    let counts: Vec<Arc<AtomicU64>> = (0..2).map(|_| Arc::default()).collect();
    let mut clients = Vec::new();
    for (node, count) in cluster.nodes.iter().zip(&counts) {
        let (count, prefix) = (count.clone(), prefix.clone());
        let handler: EventHandler = Arc::new(move |inc| {
            if inc.data.starts_with(&prefix) {
                count.fetch_add(1, Ordering::Relaxed);
            }
        });
        let c = Client::connect(node.port, "/", None, Some(handler), CONNECT_TIMEOUT)
            .await
            .map_err(|e| format!("receiver on {}: {e}", node.id))?;
        clients.push(c);
    }
    let names: Vec<String> = (0..opts.rooms).map(|i| format!("room-{i}")).collect();
    let of_node = |n: usize| -> Vec<String> {
        names
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 2 == n)
            .map(|(_, r)| r.clone())
            .collect()
    };
    for (n, c) in clients.iter().enumerate() {
        c.call_retry("join", &json!(of_node(n)), Duration::from_secs(10), 3)
            .await
            .map_err(|e| format!("join on {}: {e}", cluster.nodes[n].id))?;
    }
    let room_channels = wait_room_channels(cluster, opts, &names).await?;
    let mut phases = Vec::new();
    for members_on in 0..2 {
        phases.push(
            phase(
                &ctl,
                &counts,
                opts,
                &event,
                members_on,
                &of_node(members_on),
            )
            .await?,
        );
    }
    Ok(RoomsResult {
        implementation: opts.which,
        setup: opts.setup.to_string(),
        nodes: node_names(cluster),
        rooms: opts.rooms,
        per_room: opts.per_room,
        room_channels_by_subscribers: room_channels,
        phases,
    })
}

/// Waits until every room channel has the subscribers the mode gives it (1 in the
/// dynamic modes, 0 in `static`); returns how many have 0, 1 and 2 or more.
async fn wait_room_channels(
    cluster: &Cluster,
    opts: &RoomsOpts,
    names: &[String],
) -> Result<[usize; 3], String> {
    let Some(redis) = &cluster.redis else {
        return Err("rooms: no Redis".into());
    };
    let channels = ShardedChannels::new(DEFAULT_PREFIX, "/");
    let channels: Vec<String> = names.iter().map(|r| channels.room(r)).collect();
    let want = match opts.setup.adapter {
        Adapter::Sharded(SubscriptionMode::Static) => 0,
        _ => 1,
    };
    let deadline = Instant::now() + SUBSCRIBE_TIMEOUT;
    loop {
        let counts = redis.subscribers(true, &channels).await?;
        let mut by = [0; 3];
        for c in &counts {
            by[(*c).clamp(0, 2) as usize] += 1;
        }
        if counts.iter().all(|c| *c == want) || Instant::now() > deadline {
            return Ok(by);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn phase(
    ctl: &Controllers,
    counts: &[Arc<AtomicU64>],
    opts: &RoomsOpts,
    event: &str,
    members_on: usize,
    rooms: &[String],
) -> Result<RoomsPhase, String> {
    for c in counts {
        c.store(0, Ordering::Relaxed);
    }
    let before = ctl.stats().await?;
    let expected = rooms.len() as u64 * opts.per_room;
    let deadline = Instant::now() + Duration::from_secs(opts.timeout_s);
    let bar = progress(rooms.len() as u64, &format!("rooms → {members_on}"));
    let mut sent = 0;
    for room in rooms {
        let request = json!({
            "nsp": "/", "count": opts.per_room, "size": opts.size, "rate": 0,
            "event": event, "rooms": [room],
        });
        let reply = ctl
            .on(0)
            .call("bench:emit", &request, Duration::from_secs(opts.timeout_s))
            .await
            .map_err(|e| format!("bench:emit to {room}: {e}"))?;
        if let Some(e) = reply.get("error") {
            return Err(format!("bench:emit to {room}: {e}"));
        }
        sent += reply["sent"].as_u64().unwrap_or(0);
        bar.inc(1);
    }
    bar.finish_and_clear();
    // wait for the deliveries, then a moment for anything that should not come
    let mut last = (0, Instant::now());
    let mut timed_out = false;
    loop {
        let got = counts[members_on].load(Ordering::Relaxed);
        if got >= expected {
            break;
        }
        if got != last.0 {
            last = (got, Instant::now());
        }
        if last.1.elapsed() > Duration::from_secs(3) {
            break;
        }
        if Instant::now() > deadline {
            timed_out = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = ctl.stats().await?;
    let from_redis = before
        .iter()
        .zip(&after)
        .map(|(b, a)| Some(a.redis_received? - b.redis_received?))
        .collect();
    Ok(RoomsPhase {
        members_on,
        rooms: rooms.len(),
        sent,
        delivered: counts.iter().map(|c| c.load(Ordering::Relaxed)).collect(),
        from_redis,
        timed_out,
    })
}

impl RoomsResult {
    /// The final table.
    pub(crate) fn section(&self) -> Section {
        let mut t = Table::new(
            format!(
                "rooms: {} rooms over 2 {} nodes, each room on one node only ({})",
                int(self.rooms as f64),
                self.implementation,
                self.setup
            ),
            &[
                "broadcasts to the rooms of",
                "sent",
                format!("from Redis to {}", self.nodes[0]).as_str(),
                format!("from Redis to {}", self.nodes[1]).as_str(),
                format!("delivered on {}", self.nodes[0]).as_str(),
                format!("delivered on {}", self.nodes[1]).as_str(),
            ],
        );
        let count = |v: Option<u64>| v.map_or_else(|| "n/a".into(), |x| int(x as f64));
        for p in &self.phases {
            t.row(vec![
                format!("{} ({} rooms)", self.nodes[p.members_on], p.rooms),
                int(p.sent as f64),
                count(p.from_redis[0]),
                count(p.from_redis[1]),
                int(p.delivered[0] as f64),
                int(p.delivered[1] as f64),
            ]);
            if p.timed_out {
                t.note(format!(
                    "the phase for {} hit its deadline",
                    self.nodes[p.members_on]
                ));
            }
        }
        let [zero, one, more] = self.room_channels_by_subscribers;
        t.note(format!(
            "messages from Redis for rooms without local members (both phases): {}",
            count(self.to_non_members())
        ));
        t.note(format!(
            "room channels by subscribers (PUBSUB SHARDNUMSUB after the joins): {zero} with 0, {one} with 1, {more} with 2"
        ));
        t.note(format!(
            "{} broadcasts per room from {}; from Redis = Δ bench:stats redisReceived (every message the node's adapter got from its subscriptions)",
            self.per_room, self.nodes[0]
        ));
        Section {
            tables: vec![t],
            json: json!({ "scenario": "rooms", "result": self }),
            series: Vec::new(),
        }
    }
}
