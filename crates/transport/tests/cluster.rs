//! Integration tests against a real Redis Cluster (3 primaries, 3 replicas,
//! from sio-redis-testkit, on free loopback ports). Every wait has a
//! deadline; nothing sleeps for correctness.

mod common;

use common::*;
use sio_redis_testkit::RedisCluster;

// ---------------------------------------------------------------- cluster topology

/// The slot map read from a 3-primary + 3-replica cluster through a seed list
/// whose first seed is down: every slot assigned, each primary with its replica,
/// and each key's owner the node the cluster itself names (RESP2 and RESP3). A
/// standalone server is refused with Redis's own error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_topology_from_a_seed_list() {
    require_redis!();
    let cluster = sio_redis_testkit::RedisCluster::start().unwrap();
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = dead.local_addr().unwrap().port();
    drop(dead);
    let ports: Vec<String> = cluster
        .nodes()
        .iter()
        .map(|n| format!("127.0.0.1:{}", n.port()))
        .collect();
    // A whole URL first, then bare host:port seeds that inherit its scheme.
    let seeds = format!("redis://127.0.0.1:{dead_port},{}", ports.join(","));
    for resp3 in [false, true] {
        let config = TransportConfig::new(seeds.clone()).resp3(resp3);
        let topology = sio_redis_transport::ClusterTopology::fetch(&config)
            .await
            .unwrap();
        assert_eq!(topology.unassigned_slots(), 0, "{topology:?}");
        assert_eq!(topology.shards().len(), 3, "{topology:?}");
        for shard in topology.shards() {
            assert_eq!(shard.replicas.len(), 1, "{topology:?}");
        }
        for key in ["a", "b", "socket.io#/#", "{user1}.x", "stream-7"] {
            let slot = sio_redis_transport::slot::key_slot(key.as_bytes());
            let owner = topology.primary_of(slot).unwrap();
            assert_eq!(
                owner.port,
                cluster.node_for_key(key.as_bytes()).unwrap().port(),
                "{key}"
            );
        }
    }
    let standalone = RedisServer::start().unwrap();
    let err = sio_redis_transport::ClusterTopology::fetch(&TransportConfig::new(standalone.url()))
        .await
        .unwrap_err();
    assert!(matches!(err, TransportError::Redis(_)), "{err:?}");
}

/// Classic pub/sub on a Redis Cluster, as Node's adapter uses it on a cluster
/// client: two transports from a seed list whose first seed is down, each on
/// some node; `PUBLISH` reaches subscribers on every node (the cluster bus),
/// `numsub` adds up the nodes' counts; after every connection of every node is
/// killed both come back (on whichever node) and messages flow again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classic_pubsub_on_a_cluster() {
    require_redis!();
    let cluster = sio_redis_testkit::RedisCluster::start().unwrap();
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = dead.local_addr().unwrap().port();
    drop(dead);
    let ports: Vec<String> = cluster
        .nodes()
        .iter()
        .map(|n| format!("127.0.0.1:{}", n.port()))
        .collect();
    let seeds = format!("redis://127.0.0.1:{dead_port},{}", ports.join(","));
    for resp3 in [false, true] {
        let connect = || {
            Transport::connect(
                TransportConfig::new(seeds.clone())
                    .resp3(resp3)
                    .build()
                    .unwrap(),
            )
        };
        let (a, b) = (connect().await.unwrap(), connect().await.unwrap());
        let mut a_events = a.events();
        let (ha, mut ia) = inbox();
        a.subscribe(sub(&["c"], &["p#*"]), ha).await.unwrap();
        let (hb, mut ib) = inbox();
        b.subscribe(sub(&["c"], &[]), hb).await.unwrap();
        assert_eq!(numsub_eventually(&a, "c").await, 2);
        assert_eq!(numsub_eventually(&b, "c").await, 2);

        b.publish("c", Bytes::from_static(b"one")).await.unwrap();
        assert_eq!(&ia.recv().await.payload[..], b"one");
        assert_eq!(&ib.recv().await.payload[..], b"one");
        b.publish("p#7", Bytes::from_static(b"pat")).await.unwrap();
        let m = ia.recv().await;
        assert_eq!(
            (m.kind, &m.payload[..]),
            (MessageKind::PMessage, &b"pat"[..])
        );

        tokio::task::block_in_place(|| cluster.kill_clients().unwrap());
        wait_event(&mut a_events, "resubscribed", is_resubscribed).await;
        wait_until("b's subscriber back", || b.is_connected()).await;
        assert_eq!(numsub_eventually(&b, "c").await, 2);
        publish_eventually(&b, "c", Bytes::from_static(b"two")).await;
        // A subscriber that moved to another node may get a message published
        // just before the kill a second time: the cluster bus delivers it to the
        // new node late (seen under load, for "one" and "pat"; classic pub/sub on
        // a cluster is at-most-once per node, not across a move). Skipped here;
        // anything else fails.
        for inbox in [&mut ia, &mut ib] {
            let mut m = inbox.recv().await;
            while &m.payload[..] == b"one" || &m.payload[..] == b"pat" {
                eprintln!(
                    "classic_pubsub_on_a_cluster: {:?} received again after CLIENT KILL",
                    m.payload
                );
                m = inbox.recv().await;
            }
            assert_eq!(&m.payload[..], b"two");
        }
        a.close().await;
        b.close().await;
    }
}

// ---------------------------------------------------------------- shard channels

/// `n` shard channel names whose slots are spread over every primary (the
/// first three on three different primaries).
fn spread_channels(cluster: &RedisCluster, n: usize) -> Vec<String> {
    let primaries = cluster.primaries().unwrap().len();
    let mut by_owner: std::collections::BTreeMap<u16, Vec<String>> = Default::default();
    let mut i = 0;
    while by_owner.values().map(Vec::len).sum::<usize>() < n || by_owner.len() < primaries {
        let name = format!("sc#{i}");
        let owner = cluster.node_for_key(name.as_bytes()).unwrap().port();
        let list = by_owner.entry(owner).or_default();
        if list.len() < n.div_ceil(primaries) {
            list.push(name);
        }
        i += 1;
    }
    // Round robin over the owners.
    let mut lists: Vec<_> = by_owner.into_values().collect();
    let mut out = Vec::new();
    while out.len() < n {
        for list in &mut lists {
            if let Some(name) = list.pop() {
                out.push(name);
            }
        }
    }
    out.truncate(n);
    out
}

async fn connect_cluster(cluster: &RedisCluster, resp3: bool) -> Transport {
    connect_seeds(&cluster.urls().join(","), resp3).await
}

async fn connect_seeds(seeds: &str, resp3: bool) -> Transport {
    let config = TransportConfig::new(seeds).resp3(resp3).build().unwrap();
    Transport::connect(config).await.unwrap()
}

/// Client connections of `node` whose `CLIENT LIST` line has a field
/// `name=value` for which `pred(value)` holds.
fn clients_where(node: &RedisServer, name: &str, pred: impl Fn(&str) -> bool) -> usize {
    match node.command(&["CLIENT", "LIST"]).unwrap() {
        RespValue::Bulk(b) => String::from_utf8_lossy(&b)
            .lines()
            .filter(|l| {
                l.split_ascii_whitespace().any(|kv| {
                    kv.split_once('=')
                        .is_some_and(|(k, v)| k == name && pred(v))
                })
            })
            .count(),
        other => panic!("unexpected CLIENT LIST reply {other:?}"),
    }
}

/// Client connections of `node` with shard-channel subscriptions (`ssub>0`).
fn shard_subscribers(node: &RedisServer) -> usize {
    clients_where(node, "ssub", |n| n != "0")
}

/// SPUBLISH until it succeeds; the receiver count.
async fn spublish_eventually(t: &Transport, channel: &str, payload: Bytes) -> u64 {
    let deadline = Instant::now() + DEADLINE;
    loop {
        match t.spublish(channel, payload.clone()).await {
            Ok(n) => return n,
            Err(e) => {
                assert!(Instant::now() < deadline, "spublish never recovered: {e:?}");
                tokio::time::sleep(POLL).await;
            }
        }
    }
}

/// Shard channels on a cluster: each subscribed on its slot's primary, one
/// subscriber connection per primary whatever the number of channels,
/// `SPUBLISH` routed by slot (awaited and queued), `SHARDNUMSUB` asked of the
/// owner; unsubscribing drops them everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shard_channels_on_a_cluster() {
    require_redis!();
    let cluster = RedisCluster::start().unwrap();
    let channels = spread_channels(&cluster, 30);
    for resp3 in [false, true] {
        let sub_t = connect_cluster(&cluster, resp3).await;
        let pub_t = connect_cluster(&cluster, resp3).await;
        let (h, mut inbox) = inbox();
        let id = sub_t
            .subscribe(
                Subscription::new()
                    .channel("plain")
                    .shard_channels(channels.clone()),
                h,
            )
            .await
            .unwrap();
        for node in cluster.primaries().unwrap() {
            assert_eq!(shard_subscribers(node), 1, "{}", node.addr());
        }
        for c in &channels {
            assert_eq!(pub_t.shardnumsub(c).await.unwrap(), 1, "{c}");
            assert_eq!(pub_t.spublish(c, Bytes::from(c.clone())).await.unwrap(), 1);
            let m = inbox.recv().await;
            assert_eq!(
                (m.kind, &m.channel, &m.payload[..]),
                (MessageKind::SMessage, c, c.as_bytes())
            );
        }
        for (i, c) in channels.iter().enumerate() {
            pub_t
                .spublish_queued(c.clone(), Bytes::from(i.to_string()))
                .await
                .unwrap();
        }
        let mut got: Vec<usize> = Vec::new();
        for _ in &channels {
            got.push(
                std::str::from_utf8(&inbox.recv().await.payload)
                    .unwrap()
                    .parse()
                    .unwrap(),
            );
        }
        got.sort_unstable();
        assert_eq!(got, (0..channels.len()).collect::<Vec<_>>());
        // The connection budget: on each primary one subscriber connection
        // of `sub_t` and one command connection of `pub_t`, for 30 channels.
        for node in cluster.primaries().unwrap() {
            assert_eq!(shard_subscribers(node), 1, "{}", node.addr());
            assert_eq!(
                clients_where(node, "cmd", |c| c == "spublish"),
                1,
                "{}",
                node.addr()
            );
        }
        // Classic channels still work beside them.
        assert_eq!(
            pub_t
                .publish("plain", Bytes::from_static(b"p"))
                .await
                .unwrap(),
            1
        );
        assert_eq!(inbox.recv().await.channel, "plain");

        sub_t.unsubscribe(id).await.unwrap();
        for c in &channels[..3] {
            assert_eq!(pub_t.shardnumsub(c).await.unwrap(), 0, "{c}");
        }
        let stats = pub_t.stats();
        assert_eq!(stats.publish_errors, 0, "{stats:?}");
        sub_t.close().await;
        pub_t.close().await;
        inbox.assert_empty();
    }
}

/// What [`shard_traffic`] counted.
#[derive(Debug)]
struct Counted {
    lost: usize,
    duplicated: usize,
    reordered: usize,
    /// From the end of the fault until every channel delivered again.
    resumed_ms: u128,
}

/// Sequence-numbered traffic at 200 messages/s for 5 s, spread over `channels`
/// (round robin), from one transport to another; `fault` runs 1 s in. Waits
/// until a marker on every channel is back, then counts.
async fn shard_traffic(
    seeds: &str,
    channels: &[String],
    resp3: bool,
    on_replicas: bool,
    what: &str,
    fault: impl FnOnce(),
) -> Counted {
    const COUNT: u32 = 1000;
    init_tracing();
    let sender = connect_seeds(seeds, resp3).await;
    let config = TransportConfig::new(seeds)
        .resp3(resp3)
        .read_from_replicas(on_replicas)
        .build()
        .unwrap();
    let receiver = Transport::connect(config).await.unwrap();
    let (tx, mut arrivals) = mpsc::channel::<(Instant, String, Bytes)>(8192);
    let h: MessageHandler = Arc::new(move |m: Message| {
        tx.try_send((Instant::now(), m.channel, m.payload))
            .expect("test inbox full");
    });
    receiver
        .subscribe(
            Subscription::new().shard_channels(channels.iter().cloned()),
            h,
        )
        .await
        .unwrap();
    let producer = {
        let sender = sender.clone();
        let channels = channels.to_vec();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(5));
            let mut refused = 0;
            for i in 0..COUNT {
                tick.tick().await;
                let channel = channels[i as usize % channels.len()].clone();
                if sender
                    .spublish_queued(channel, Bytes::from(i.to_string()))
                    .await
                    .is_err()
                {
                    refused += 1;
                }
            }
            refused
        })
    };
    // The fault, one second into the traffic (fault injection, not a wait).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let started = Instant::now();
    tokio::task::block_in_place(fault);
    let done = Instant::now();
    let refused = producer.await.unwrap();
    let mut seen = std::collections::BTreeMap::<u32, usize>::new();
    let mut last: std::collections::HashMap<String, u32> = Default::default();
    // Per channel, the first message received after the fault ended.
    let mut resumed: std::collections::HashMap<String, Instant> = Default::default();
    let (mut reordered, mut ends) = (0, 0);
    let mut pending_ends: std::collections::HashSet<String> = channels.iter().cloned().collect();
    let deadline = Instant::now() + DEADLINE * 2;
    while ends < channels.len() {
        // The markers: resent until each channel's is back.
        for c in &pending_ends {
            spublish_eventually(&sender, c, Bytes::from_static(b"end")).await;
        }
        let until = tokio::time::Instant::now() + Duration::from_millis(500);
        while let Ok(Some((at, channel, payload))) =
            tokio::time::timeout_at(until, arrivals.recv()).await
        {
            if payload == "end" {
                if pending_ends.remove(&channel) {
                    ends += 1;
                }
                continue;
            }
            let seq: u32 = std::str::from_utf8(&payload).unwrap().parse().unwrap();
            *seen.entry(seq).or_default() += 1;
            if at > done {
                resumed.entry(channel.clone()).or_insert(at);
            }
            if last.insert(channel, seq).is_some_and(|prev| prev > seq) {
                reordered += 1;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{what}: markers missing on {pending_ends:?}"
        );
    }
    let lost = COUNT as usize - seen.len();
    let missing: Vec<u32> = (0..COUNT).filter(|i| !seen.contains_key(i)).collect();
    let twice: Vec<u32> = seen
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(s, _)| *s)
        .collect();
    let counted = Counted {
        lost,
        duplicated: seen.values().map(|n| n - 1).sum(),
        reordered,
        resumed_ms: resumed
            .values()
            .map(|at| at.saturating_duration_since(done).as_millis())
            .max()
            .unwrap_or(0),
    };
    eprintln!(
        "shard traffic {what} ({}): fault took {:?}; {counted:?} (refused {refused}); twice {twice:?}; missing {:?}; sender {:?}; receiver {:?}",
        if resp3 { "RESP3" } else { "RESP2" },
        done - started,
        &missing[..missing.len().min(40)],
        sender.stats(),
        receiver.stats(),
    );
    sender.close().await;
    receiver.close().await;
    counted
}

/// Shard-channel traffic through `CLIENT KILL` of every connection of every
/// node: everything comes back; nothing duplicated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shard_channels_survive_client_kill() {
    require_redis!();
    let cluster = RedisCluster::start().unwrap();
    let channels = spread_channels(&cluster, 12);
    for resp3 in [false, true] {
        let c = shard_traffic(
            &cluster.urls().join(","),
            &channels,
            resp3,
            false,
            "CLIENT KILL",
            || {
                cluster.kill_clients().unwrap();
            },
        )
        .await;
        assert_eq!((c.duplicated, c.reordered), (0, 0), "{c:?}");
        assert!(c.lost <= 10 && c.resumed_ms < 1000, "{c:?}");
    }
}

/// Shard-channel traffic through a failover (`CLUSTER FAILOVER` on a
/// replica): the channels of the old primary's slots follow to the new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shard_channels_follow_a_failover() {
    require_redis!();
    let cluster = RedisCluster::start().unwrap();
    let channels = spread_channels(&cluster, 12);
    for (i, resp3) in [false, true].into_iter().enumerate() {
        let c = shard_traffic(
            &cluster.urls().join(","),
            &channels,
            resp3,
            false,
            "failover",
            || {
                cluster.failover(i).unwrap();
            },
        )
        .await;
        // Seen in about 1 run of 10: one message delivered twice around a
        // graceful failover (not understood yet; see the issue 9 note).
        assert!(c.duplicated <= 2, "{c:?}");
        assert!(c.lost <= 200 && c.resumed_ms < 2000, "{c:?}");
    }
}

/// Shard-channel traffic through the migration of a subscribed channel's slot
/// to another primary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shard_channels_follow_a_slot_migration() {
    require_redis!();
    let cluster = RedisCluster::start().unwrap();
    let channels = spread_channels(&cluster, 12);
    for resp3 in [false, true] {
        let slot = sio_redis_transport::slot::key_slot(channels[0].as_bytes());
        let from = cluster.node_for_slot(slot).unwrap().port();
        let c = shard_traffic(
            &cluster.urls().join(","),
            &channels,
            resp3,
            false,
            "slot migration",
            || {
                let primaries = cluster.primaries().unwrap();
                let target = primaries.iter().find(|p| p.port() != from).unwrap();
                cluster.migrate_slot(slot, target).unwrap();
            },
        )
        .await;
        assert_eq!(c.duplicated, 0, "{c:?}");
        assert!(c.lost <= 200 && c.resumed_ms < 2000, "{c:?}");
    }
}

/// `SSUBSCRIBE` commands the nodes of `cluster` have seen, run or refused
/// (`MOVED`): `calls` + `rejected_calls` of `INFO commandstats`, summed.
fn ssubscribes(cluster: &RedisCluster) -> u64 {
    let mut total = 0;
    for node in cluster.nodes().iter().filter(|n| n.is_running()) {
        let text = match node.command(&["INFO", "commandstats"]).unwrap() {
            RespValue::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
            other => panic!("unexpected INFO reply {other:?}"),
        };
        let Some(line) = text
            .lines()
            .find_map(|l| l.strip_prefix("cmdstat_ssubscribe:"))
        else {
            continue;
        };
        for kv in line.split(',') {
            if let Some(("calls" | "rejected_calls", n)) = kv.split_once('=') {
                total += n.trim().parse::<u64>().unwrap();
            }
        }
    }
    total
}

/// Shard-channel traffic through a resharding: 200 contiguous slots, among
/// them the slots of four subscribed channels, moved from one primary to
/// another slot by slot the way `redis-cli --cluster reshard` does
/// (`IMPORTING`, `MIGRATING`, keys, `SETSLOT NODE` everywhere, then the next
/// slot); the fault ends when every node names the new owner of all 200. The
/// moved channels follow, the others are not disturbed. RESP2 moves the
/// window to one primary, RESP3 on to the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shard_channels_follow_a_resharding() {
    use sio_redis_transport::slot::key_slot;
    const WIDTH: u16 = 200;
    require_redis!();
    let cluster = RedisCluster::start().unwrap();
    let mut channels = spread_channels(&cluster, 12);
    // A window of WIDTH slots inside the range of channels[0]'s primary,
    // starting or ending at that channel's slot.
    let first = key_slot(channels[0].as_bytes());
    let owner = cluster.node_for_slot(first).unwrap().port();
    let serves = |slot: u16| cluster.node_for_slot(slot).unwrap().port() == owner;
    let lo = [first, first.saturating_sub(WIDTH - 1)]
        .into_iter()
        .find(|lo| lo + WIDTH - 1 < 16384 && serves(*lo) && serves(lo + WIDTH - 1))
        .expect("a primary serves at least 2 * WIDTH slots");
    let window = lo..=lo + WIDTH - 1;
    // Three more channels in the window, on slots of their own.
    let mut moved = vec![first];
    for i in 0.. {
        let name = format!("rs#{i}");
        let slot = key_slot(name.as_bytes());
        if window.contains(&slot) && !moved.contains(&slot) {
            moved.push(slot);
            channels.push(name);
        }
        if moved.len() == 4 {
            break;
        }
    }
    for resp3 in [false, true] {
        let source = cluster.node_for_slot(lo).unwrap();
        let primaries = cluster.primaries().unwrap();
        // Neither the current owner nor the first one: the second run moves
        // the window on to the third primary.
        let target = *primaries
            .iter()
            .find(|p| p.port() != source.port() && p.port() != owner)
            .unwrap();
        let before = ssubscribes(&cluster);
        let c = shard_traffic(
            &cluster.urls().join(","),
            &channels,
            resp3,
            false,
            "resharding",
            || {
                cluster
                    .migrate_slots(window.clone(), source, target)
                    .unwrap();
            },
        )
        .await;
        // One SSUBSCRIBE per channel at the start, one per moved channel on
        // its new owner, and a few refused by a node the transport's map
        // still named; not a burst of retries against the old owner.
        let sent = ssubscribes(&cluster) - before;
        eprintln!(
            "resharding: {sent} SSUBSCRIBE for {} channels",
            channels.len()
        );
        assert!(
            sent <= (channels.len() + 3 * moved.len()) as u64,
            "{sent} SSUBSCRIBE"
        );
        for slot in &moved {
            assert_eq!(
                cluster.node_for_slot(*slot).unwrap().port(),
                target.port(),
                "slot {slot}"
            );
        }
        assert_eq!((c.duplicated, c.reordered), (0, 0), "{c:?}");
        // Only the four moved channels lose anything: Redis drops each on the
        // source at its `SETSLOT NODE` and messages published on the new
        // owner before the channel is subscribed there are gone (0 to 2 in
        // all measured; a channel gets one message every 75 ms here, so 40 is
        // some 750 ms of gap on each).
        assert!(c.lost <= 40 && c.resumed_ms < 2000, "{c:?}");
    }
}

// ---------------------------------------------------------------- keyed commands

/// Keyed commands go to the key's primary and follow the cluster through a
/// slot migration: `ASK` while the slot is being migrated (keys already
/// moved, and a new key), `MOVED` after it (the transport's slot map is stale
/// then), and the map is read again after the `MOVED`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_commands_follow_ask_and_moved() {
    require_redis!();
    let cluster = RedisCluster::start().unwrap();
    for resp3 in [false, true] {
        let t = connect_cluster(&cluster, resp3).await;
        let tag = if resp3 { "{three}" } else { "{two}" };
        let (k1, k2) = (format!("{tag}1"), format!("{tag}2"));
        let set = |k: &str, v: &str| {
            let mut cmd = redis::cmd("SET");
            cmd.arg(k).arg(v);
            cmd
        };
        let get = |k: &str| {
            let mut cmd = redis::cmd("GET");
            cmd.arg(k);
            cmd
        };
        let () = t
            .keyed_query(k1.as_bytes(), &set(&k1, "one"))
            .await
            .unwrap();
        let slot = sio_redis_transport::slot::key_slot(k1.as_bytes());
        let source_port = cluster.node_for_slot(slot).unwrap().port();
        let primaries = cluster.primaries().unwrap();
        let target = *primaries.iter().find(|p| p.port() != source_port).unwrap();
        let source = cluster.begin_migration(slot, target).unwrap();
        // k1 is on the target now: the source answers ASK.
        let v: String = t.keyed_query(k1.as_bytes(), &get(&k1)).await.unwrap();
        assert_eq!(v, "one");
        assert_eq!(t.stats().redirects, 1, "ASK followed");
        // A new key of a migrating slot is created on the target (ASK).
        let () = t
            .keyed_query(k2.as_bytes(), &set(&k2, "two"))
            .await
            .unwrap();
        let on_target = target.command(&["DBSIZE"]).unwrap().as_int().unwrap();
        assert_eq!(on_target, 2);
        cluster.finish_migration(slot, source, target).unwrap();
        // The transport's map still names the source: MOVED, then followed.
        let v: String = t.keyed_query(k2.as_bytes(), &get(&k2)).await.unwrap();
        assert_eq!(v, "two");
        assert_eq!(t.stats().redirects, 3, "ASK, ASK, MOVED followed");
        let deadline = Instant::now() + DEADLINE;
        // The MOVED made the transport read the map again: the same command
        // keeps working (no redirect limit reached), and a shard channel of
        // that slot is subscribed on the target.
        let (h, mut inbox) = inbox();
        let channel = format!("{tag}chan");
        t.subscribe(Subscription::new().shard_channel(channel.clone()), h)
            .await
            .unwrap();
        while shard_subscribers(target) == 0 {
            assert!(Instant::now() < deadline, "not subscribed on the new owner");
            tokio::time::sleep(POLL).await;
        }
        assert_eq!(
            t.spublish(&channel, Bytes::from_static(b"x"))
                .await
                .unwrap(),
            1
        );
        assert_eq!(&inbox.recv().await.payload[..], b"x");
        t.close().await;
    }
}

/// A `MULTI … EXEC` block (`keyed_transaction`, GET-and-delete as the streams
/// adapter restores a session) goes to the key's primary and follows `ASK` during a
/// slot migration and `MOVED` after it: the block Redis aborted (`EXECABORT`) is sent
/// again, whole, to the new owner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_transactions_follow_ask_and_moved() {
    require_redis!();
    let cluster = RedisCluster::start().unwrap();
    let t = connect_cluster(&cluster, false).await;
    let get_del = |k: &str| {
        let (mut get, mut del) = (redis::cmd("GET"), redis::cmd("DEL"));
        get.arg(k);
        del.arg(k);
        [get, del]
    };
    let set = |k: &str| {
        let mut cmd = redis::cmd("SET");
        cmd.arg(k).arg("v");
        cmd
    };
    let (k1, k2) = ("{tx}1", "{tx}2");
    let () = t.keyed_query(k1.as_bytes(), &set(k1)).await.unwrap();
    let () = t.keyed_query(k2.as_bytes(), &set(k2)).await.unwrap();
    let taken = t
        .keyed_transaction(k1.as_bytes(), &get_del(k1))
        .await
        .unwrap();
    assert_eq!(
        taken,
        [
            redis::Value::BulkString(b"v".to_vec()),
            redis::Value::Int(1)
        ]
    );
    let gone = t
        .keyed_transaction(k1.as_bytes(), &get_del(k1))
        .await
        .unwrap();
    assert_eq!(gone, [redis::Value::Nil, redis::Value::Int(0)]);
    let slot = sio_redis_transport::slot::key_slot(k1.as_bytes());
    let source_port = cluster.node_for_slot(slot).unwrap().port();
    let primaries = cluster.primaries().unwrap();
    let target = *primaries.iter().find(|p| p.port() != source_port).unwrap();
    let source = cluster.begin_migration(slot, target).unwrap();
    // k2 is on the target now: the source's block is aborted with ASK.
    let before = t.stats().redirects;
    let taken = t
        .keyed_transaction(k2.as_bytes(), &get_del(k2))
        .await
        .unwrap();
    assert_eq!(taken[0], redis::Value::BulkString(b"v".to_vec()));
    assert_eq!(t.stats().redirects, before + 1, "ASK followed");
    let () = t.keyed_query(k1.as_bytes(), &set(k1)).await.unwrap();
    cluster.finish_migration(slot, source, target).unwrap();
    let taken = t
        .keyed_transaction(k1.as_bytes(), &get_del(k1))
        .await
        .unwrap();
    assert_eq!(taken[0], redis::Value::BulkString(b"v".to_vec()));
    assert!(
        t.stats().redirects >= before + 3,
        "ASK, then MOVED followed"
    );
    t.close().await;
}

/// Polls (every 20 ms, up to the deadline) until the nodes other than `gone`
/// count `primaries` nodes of `ROLE` master and report `cluster_state:ok`.
fn wait_promoted(cluster: &RedisCluster, gone: u16, primaries: usize) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let others = cluster.nodes().iter().filter(|n| n.port() != gone);
        let mut masters = 0;
        let mut ok = true;
        for node in others {
            let role = node.command(&["ROLE"]).ok();
            let first = role
                .as_ref()
                .and_then(|r| r.as_array())
                .and_then(|a| a.first())
                .and_then(|r| r.as_str());
            masters += usize::from(first == Some("master"));
            let info = node.command(&["CLUSTER", "INFO"]).ok();
            let text = match info {
                Some(RespValue::Bulk(b)) => String::from_utf8_lossy(&b).into_owned(),
                _ => String::new(),
            };
            ok &= text.contains("cluster_state:ok");
        }
        if ok && masters == primaries {
            return;
        }
        assert!(Instant::now() < deadline, "no replica promoted in time");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(node: &RedisServer, sig: &str) {
    let pid = node.pid().expect("running").to_string();
    let status = std::process::Command::new("kill")
        .args([sig, &pid])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Shard-channel traffic while the primary of some channels crashes (SIGKILL,
/// no goodbye): its replica is promoted after the node timeout (1 s here) and
/// the channels follow; lost messages only inside the outage. The fault ends
/// when the promotion is seen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shard_channels_follow_a_crashed_primary() {
    require_redis!();
    let mut cluster = RedisCluster::builder()
        .node_timeout(Duration::from_millis(1000))
        .start()
        .unwrap();
    let channels = spread_channels(&cluster, 12);
    let port = cluster.node_for_key(channels[0].as_bytes()).unwrap().port();
    let index = cluster
        .nodes()
        .iter()
        .position(|n| n.port() == port)
        .unwrap();
    let seeds = cluster.urls().join(",");
    let c = shard_traffic(&seeds, &channels, false, false, "primary crashed", || {
        cluster.nodes_mut()[index].kill();
        wait_promoted(&cluster, port, 3);
    })
    .await;
    assert_eq!(c.duplicated, 0, "{c:?}");
    assert!(c.lost <= 400 && c.resumed_ms < 2000, "{c:?}");
}

/// Shard-channel traffic while the primary of some channels is frozen
/// (SIGSTOP: connections stay open, nothing answers, no FIN) until its replica
/// is promoted; then it is resumed (and rejoins as a replica).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shard_channels_follow_a_frozen_primary() {
    require_redis!();
    let cluster = RedisCluster::builder()
        .node_timeout(Duration::from_millis(1000))
        .start()
        .unwrap();
    let channels = spread_channels(&cluster, 12);
    let frozen = cluster.node_for_key(channels[0].as_bytes()).unwrap();
    let port = frozen.port();
    let c = shard_traffic(
        &cluster.urls().join(","),
        &channels,
        true,
        false,
        "primary frozen",
        || {
            signal(frozen, "-STOP");
            wait_promoted(&cluster, port, 3);
            signal(frozen, "-CONT");
        },
    )
    .await;
    assert_eq!(c.duplicated, 0, "{c:?}");
    assert!(c.lost <= 400 && c.resumed_ms < 2000, "{c:?}");
}

/// With `read_from_replicas`, shard channels are subscribed on the replicas
/// (one subscriber connection per replica, none on the primaries), messages
/// published on the primaries reach them, and `shardnumsub` counts them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shard_channels_on_replicas() {
    require_redis!();
    let cluster = RedisCluster::start().unwrap();
    let channels = spread_channels(&cluster, 12);
    let config = TransportConfig::new(cluster.urls().join(","))
        .read_from_replicas(true)
        .build()
        .unwrap();
    let sub_t = Transport::connect(config).await.unwrap();
    let pub_t = connect_cluster(&cluster, true).await;
    let (h, mut inbox) = inbox();
    sub_t
        .subscribe(Subscription::new().shard_channels(channels.clone()), h)
        .await
        .unwrap();
    for node in cluster.primaries().unwrap() {
        assert_eq!(shard_subscribers(node), 0, "{}", node.addr());
    }
    for node in cluster.replicas().unwrap() {
        assert_eq!(shard_subscribers(node), 1, "{}", node.addr());
    }
    for c in &channels {
        assert_eq!(pub_t.shardnumsub(c).await.unwrap(), 1, "{c}");
        // SPUBLISH counts the primary's own subscribers only.
        assert_eq!(pub_t.spublish(c, Bytes::from(c.clone())).await.unwrap(), 0);
        assert_eq!(inbox.recv().await.payload, c.as_bytes());
    }
    sub_t.close().await;
    pub_t.close().await;
}

/// Shard-channel traffic received on replicas (`read_from_replicas`) through a
/// failover: the promoted replica's channels move to the shard's new replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shard_channels_on_replicas_follow_a_failover() {
    require_redis!();
    let cluster = RedisCluster::start().unwrap();
    let channels = spread_channels(&cluster, 12);
    let seeds = cluster.urls().join(",");
    let c = shard_traffic(&seeds, &channels, false, true, "failover, replicas", || {
        cluster.failover(0).unwrap();
    })
    .await;
    assert_eq!(c.duplicated, 0, "{c:?}");
    assert!(c.lost <= 200 && c.resumed_ms < 2000, "{c:?}");
}
