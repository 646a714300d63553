//! The streams adapter against a real `redis-server` (started by the test kit on a free
//! port): requests across servers over Pub/Sub, broadcasts through the stream, nothing
//! lost or duplicated when the readers' connections are killed mid-traffic, and session
//! records (persist, restore with missed packets, once, expiry, bounds, hostile records)
//! on a standalone Redis and on a Redis Cluster.

use std::time::{Duration, Instant};

use sio_redis::convert::EventArgs;
use sio_redis::transport::StreamId;
use sio_redis::wire::Value;
use sio_redis::{
    AdapterKind, Error, NotRestored, RedisAdapterState, SessionRecord, StreamsAdapter,
    StreamsConfig,
};
use sio_redis_testkit::{RedisCluster, RedisServer, RespValue};
use socketioxide::SocketIo;
use socketioxide::adapter::Emitter;
use socketioxide::extract::SocketRef;

type Adapter = StreamsAdapter<Emitter>;

struct Server {
    state: RedisAdapterState,
    io: SocketIo<Adapter>,
}

async fn server(url: &str, name: &'static str) -> Server {
    server_with(url, name, StreamsConfig::default()).await
}

async fn server_with(url: &str, name: &'static str, config: StreamsConfig) -> Server {
    let config = config
        .requests_timeout(Duration::from_millis(1500))
        .block_time(Duration::from_millis(500));
    let state = RedisAdapterState::connect(url, config)
        .await
        .expect("connect");
    let (_svc, io) = SocketIo::builder()
        .with_adapter::<Adapter>(state.clone())
        .build_svc();
    io.ns("/", async |_: SocketRef<Adapter>| {})
        .await
        .expect("namespace subscribed");
    io.ns("/other", async |_: SocketRef<Adapter>| {})
        .await
        .expect("namespace subscribed");
    state.on_server_side_emit("/", move |ev| {
        if let Some(ack) = ev.ack {
            ack.send(Value::from(name));
        }
    });
    Server { state, io }
}

/// The sequence numbers of the `tick` events in the Engine.IO packets received so far
/// (read through Debug, e.g. `Message(Str(b"2[\"tick\",17]"))`).
fn ticks<P: std::fmt::Debug>(rx: &mut tokio::sync::mpsc::Receiver<P>, into: &mut Vec<u32>) {
    while let Ok(packet) = rx.try_recv() {
        let text = format!("{packet:?}");
        if let Some(n) = text
            .split(r#"[\"tick\","#)
            .nth(1)
            .and_then(|rest| rest.split(']').next())
            .and_then(|n| n.parse().ok())
        {
            into.push(n);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_and_stream_broadcasts_across_servers() {
    let redis = RedisServer::start().expect("redis");
    let a = server(&redis.url(), "a").await;
    let b = server(&redis.url(), "b").await;
    assert_eq!(a.state.kind(), AdapterKind::Streams);
    assert_eq!(a.state.server_count("/").await.unwrap(), 2);
    let (_to_b, mut from_b) = b.io.new_dummy_sock("/", ()).await;
    let acks = a
        .state
        .server_side_emit_with_ack("/", "ping", vec![])
        .await
        .unwrap();
    assert_eq!(acks, vec![Value::from("b")]);
    assert_eq!(
        a.state
            .fetch_sockets("/", Default::default())
            .await
            .unwrap()
            .len(),
        1
    );
    a.io.emit("tick", &7).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = Vec::new();
    while seen.is_empty() {
        assert!(Instant::now() < deadline, "the broadcast never came");
        tokio::time::sleep(Duration::from_millis(5)).await;
        ticks(&mut from_b, &mut seen);
    }
    assert_eq!(seen, vec![7]);
    // It went through the stream (Node's layout).
    let len = redis.command(&[b"XLEN".as_slice(), b"socket.io"]).unwrap();
    assert_eq!(format!("{len:?}"), "Integer(1)");
}

/// Sequence-numbered broadcasts at 200/s from `a` to a client of `b`; one second in,
/// `CLIENT KILL TYPE normal` drops every normal connection (the stream readers, the
/// command connections): every broadcast whose `XADD` Redis acknowledged arrives, once,
/// in order (the reader resumes after its last entry id).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_acknowledged_is_lost_across_client_kill() {
    const COUNT: u32 = 600;
    let redis = RedisServer::start().expect("redis");
    let a = server(&redis.url(), "a").await;
    let b = server(&redis.url(), "b").await;
    let (_to_b, mut from_b) = b.io.new_dummy_sock("/", ()).await;
    // Read all along (the dummy client's buffer is small).
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let collector = {
        let received = received.clone();
        tokio::spawn(async move {
            while let Some(packet) = from_b.recv().await {
                let (tx, mut rx) = tokio::sync::mpsc::channel(1);
                tx.try_send(packet).unwrap();
                ticks(&mut rx, &mut received.lock().unwrap());
            }
        })
    };
    let sender = {
        let io = a.io.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(5));
            let mut acknowledged = Vec::new();
            for seq in 0..COUNT {
                tick.tick().await;
                if io.emit("tick", &seq).await.is_ok() {
                    acknowledged.push(seq);
                }
            }
            acknowledged
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await; // the fault, 1 s in (not a wait)
    redis
        .command(&[b"CLIENT".as_slice(), b"KILL", b"TYPE", b"normal"])
        .unwrap();
    let acknowledged = sender.await.unwrap();
    let mut seen: Vec<u32>;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        seen = received.lock().unwrap().clone();
        if seen.len() >= acknowledged.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} acknowledged broadcasts arrived",
            seen.len(),
            acknowledged.len()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let failed = COUNT as usize - acknowledged.len();
    println!(
        "streams adapter, CLIENT KILL TYPE normal mid-traffic: {} of {COUNT} XADDs acknowledged \
         ({failed} refused while reconnecting), {} received, duplicated {}",
        acknowledged.len(),
        seen.len(),
        seen.len() - {
            let mut d = seen.clone();
            d.dedup();
            d.len()
        }
    );
    // Exactly what Redis acknowledged, in order (a refused XADD may still have been
    // written: its outcome is unknown, so it may arrive too).
    let mut acked = acknowledged.iter().peekable();
    for s in &seen {
        if acked.peek() == Some(&s) {
            acked.next();
        }
    }
    assert!(
        acked.next().is_none(),
        "an acknowledged broadcast is missing"
    );
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "in order, once each");
    collector.abort();
}

/// The ids and fields of every entry of `stream` (`XRANGE - +`).
fn entries(redis: &RedisServer, stream: &str) -> Vec<(StreamId, Vec<RespValue>)> {
    let reply = redis
        .command(&[b"XRANGE".as_slice(), stream.as_bytes(), b"-", b"+"])
        .expect("XRANGE");
    reply
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            let e = e.as_array().expect("[id, fields]");
            let id = e[0].as_str().expect("id").parse().expect("an entry id");
            (id, e[1].as_array().expect("fields").to_vec())
        })
        .collect()
}

/// The id of the newest entry of `stream`.
fn last_id(redis: &RedisServer, stream: &str) -> StreamId {
    entries(redis, stream).last().expect("an entry").0
}

fn record(pid: &str, rooms: &[&str]) -> SessionRecord {
    SessionRecord {
        sid: format!("sid-of-{pid}"),
        pid: pid.to_owned(),
        rooms: rooms.iter().map(|r| r.to_string()).collect(),
        data: Value::Map(vec![("user".into(), Value::from("bob"))]),
    }
}

fn not_restored(r: Result<sio_redis::RestoredSession, Error>) -> NotRestored {
    match r {
        Err(Error::SessionNotRestored(why)) => why,
        other => panic!("expected a refused restore, got {other:?}"),
    }
}

/// Waits until `cond` holds, for at most 5 s.
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A persisted session is restored once, with exactly the namespace's broadcasts after
/// the offset that reach its rooms (rooms / except / other namespace / room changes
/// filtered as Node's `shouldIncludePacket`), each with its entry id appended; the
/// record is Node's `SET … PX`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_restored_once_with_the_missed_packets_that_pass_the_filter() {
    let redis = RedisServer::start().expect("redis");
    let a = server(&redis.url(), "a").await;
    let session = record("pid-1", &["sid-of-pid-1", "r1"]);
    a.io.emit("before", &0).await.unwrap();
    let offset = last_id(&redis, "socket.io");
    a.state
        .persist_session(&session, Duration::from_secs(60))
        .await
        .unwrap();
    // Node's record: the base64 of @msgpack{sid, pid, rooms, data}, with a PX.
    let stored = redis
        .command(&[b"GET".as_slice(), b"sio:session:pid-1"])
        .unwrap();
    assert_eq!(stored.as_str(), Some(session.encode().as_str()));
    let ttl = redis
        .command(&[b"PTTL".as_slice(), b"sio:session:pid-1"])
        .unwrap()
        .as_int()
        .unwrap();
    assert!((1..=60_000).contains(&ttl), "PTTL {ttl}");

    let root = || a.io.of("/").unwrap();
    root().emit("all", &1).await.unwrap(); // kept
    root().to("r1").emit("to-r1", &2).await.unwrap(); // kept
    root().to("r2").emit("to-r2", &3).await.unwrap(); // not in r2
    root().except("r1").emit("except-r1", &4).await.unwrap(); // excluded
    root()
        .except("sid-of-pid-1")
        .emit("except-me", &5)
        .await
        .unwrap(); // excluded
    root().to(["r2", "r1"]).emit("to-r2-r1", &6).await.unwrap(); // kept
    a.io.of("/other")
        .unwrap()
        .emit("other-nsp", &7)
        .await
        .unwrap(); // other namespace
    root().join("r3").await.unwrap(); // a room change (type 4), not a broadcast
    let bin = Value::Bin(bytes::Bytes::from_static(&[1, 2, 3]));
    root()
        .to("r1")
        .except("r2")
        .emit("binary", &EventArgs(vec![bin.clone()]))
        .await
        .unwrap(); // kept, as base64 msgpack

    let ids: Vec<StreamId> = entries(&redis, "socket.io")
        .into_iter()
        .map(|(id, _)| id)
        .filter(|id| *id > offset)
        .collect();
    assert_eq!(ids.len(), 9);
    let restored = a
        .state
        .restore_session("/", "pid-1", &offset.to_string())
        .await
        .unwrap();
    assert_eq!(restored.session, session);
    let got: Vec<(Option<&str>, &[Value])> = restored
        .missed_packets
        .iter()
        .map(|p| (p.event(), p.args()))
        .collect();
    let id = |i: usize| Value::from(ids[i].to_string());
    assert_eq!(
        got,
        vec![
            (Some("all"), &[Value::Int(1), id(0)][..]),
            (Some("to-r1"), &[Value::Int(2), id(1)][..]),
            (Some("to-r2-r1"), &[Value::Int(6), id(5)][..]),
            (Some("binary"), &[bin.clone(), id(8)][..]),
        ]
    );
    let packet_ids: Vec<StreamId> = restored.missed_packets.iter().map(|p| p.id).collect();
    assert_eq!(packet_ids, vec![ids[0], ids[1], ids[5], ids[8]]);
    // Restored once: the record is gone.
    let again = a
        .state
        .restore_session("/", "pid-1", &offset.to_string())
        .await;
    assert!(matches!(not_restored(again), NotRestored::NoSession));
    assert_eq!(
        redis
            .command(&[b"EXISTS".as_slice(), b"sio:session:pid-1"])
            .unwrap()
            .as_int(),
        Some(0)
    );
}

/// Node's refusals: a malformed offset (the record stays), an offset that is not in the
/// stream (the record is deleted, as Node's parallel GET-and-delete does), an unknown
/// pid; a record that expired (`PX`); the `sessionKeyPrefix` option.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_refusals_expiry_and_key_prefix() {
    let redis = RedisServer::start().expect("redis");
    let a = server_with(
        &redis.url(),
        "a",
        StreamsConfig::default().session_key_prefix("app:s:"),
    )
    .await;
    a.io.emit("anchor", &0).await.unwrap();
    let offset = last_id(&redis, "socket.io").to_string();
    let session = record("pid-2", &["sid-of-pid-2"]);
    a.state
        .persist_session(&session, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        redis
            .command(&[b"EXISTS".as_slice(), b"app:s:pid-2"])
            .unwrap()
            .as_int(),
        Some(1),
        "stored under sessionKeyPrefix"
    );
    for bad in ["", "abc", "1-", "-1", "1-2-3", "1"] {
        let r = a.state.restore_session("/", "pid-2", bad).await;
        assert!(
            matches!(not_restored(r), NotRestored::InvalidOffset),
            "{bad}"
        );
    }
    let r = a.state.restore_session("/", "unknown", &offset).await;
    assert!(matches!(not_restored(r), NotRestored::NoSession));
    let r = a.state.restore_session("/", "pid-2", "1-0").await;
    assert!(matches!(not_restored(r), NotRestored::OffsetNotFound));
    let r = a.state.restore_session("/", "pid-2", &offset).await;
    assert!(
        matches!(not_restored(r), NotRestored::NoSession),
        "deleted by the refused restore, as in Node"
    );

    // Expiry: PX 50.
    a.state
        .persist_session(&session, Duration::from_millis(50))
        .await
        .unwrap();
    until("the record to expire", || {
        redis
            .command(&[b"EXISTS".as_slice(), b"app:s:pid-2"])
            .unwrap()
            .as_int()
            == Some(0)
    })
    .await;
    let r = a.state.restore_session("/", "pid-2", &offset).await;
    assert!(matches!(not_restored(r), NotRestored::NoSession));
    assert!(matches!(
        a.state.persist_session(&session, Duration::ZERO).await,
        Err(Error::Config(_))
    ));
}

/// A restore reads at most `restore_max_entries` entries after the offset (in pages of
/// `restore_page_entries`): exactly the bound passes, one more fails the restore as a
/// trimmed offset would. Hostile input: an undecodable record and an undecodable
/// broadcast entry are counted, not panicked on; the entry is skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_restore_is_bounded_and_hostile_input_is_counted() {
    let redis = RedisServer::start().expect("redis");
    let config = StreamsConfig::default()
        .restore_page_entries(4)
        .restore_max_entries(10);
    let a = server_with(&redis.url(), "a", config).await;
    a.io.emit("anchor", &0).await.unwrap();
    let offset = last_id(&redis, "socket.io").to_string();
    for i in 1..=9 {
        a.io.emit("n", &i).await.unwrap();
    }
    // A hostile broadcast entry of "/" (type 3, data neither JSON nor base64 msgpack).
    redis
        .command(&[
            b"XADD".as_slice(),
            b"socket.io",
            b"*",
            b"uid",
            b"evil",
            b"nsp",
            b"/",
            b"type",
            b"3",
            b"data",
            b"!!not base64!!",
        ])
        .unwrap();
    // The live reader drops it too (counted once per reading).
    until("the reader to count the hostile entry", || {
        a.state.stats().dropped.get("decode:base64") == Some(&1)
    })
    .await;
    // 10 entries follow the offset: exactly the bound.
    let session = record("pid-3", &["sid-of-pid-3"]);
    a.state
        .persist_session(&session, Duration::from_secs(60))
        .await
        .unwrap();
    let restored = a
        .state
        .restore_session("/", "pid-3", &offset)
        .await
        .unwrap();
    let seq: Vec<&Value> = restored
        .missed_packets
        .iter()
        .map(|p| &p.args()[0])
        .collect();
    assert_eq!(
        seq,
        (1..=9)
            .map(Value::Int)
            .collect::<Vec<_>>()
            .iter()
            .collect::<Vec<_>>()
    );
    assert_eq!(a.state.stats().dropped.get("decode:base64"), Some(&2));
    // One more: over the bound.
    a.io.emit("n", &10).await.unwrap();
    a.state
        .persist_session(&session, Duration::from_secs(60))
        .await
        .unwrap();
    let r = a.state.restore_session("/", "pid-3", &offset).await;
    assert!(matches!(
        not_restored(r),
        NotRestored::TooManyEntries { max: 10 }
    ));
    // A record that is not base64(msgpack{…}).
    redis
        .command(&[b"SET".as_slice(), b"sio:session:pid-4", b"\x00garbage"])
        .unwrap();
    let r = a.state.restore_session("/", "pid-4", &offset).await;
    assert!(matches!(not_restored(r), NotRestored::Malformed(_)));
    assert_eq!(
        a.state.stats().dropped.get("decode:session:base64"),
        Some(&1)
    );
    // The offset a Rust application can hand its clients: the reader's position.
    until("the reader to reach the last entry", || {
        a.state.stream_offset("/") == Some(last_id(&redis, "socket.io"))
    })
    .await;
    assert_eq!(
        a.state.stream_offset("/nowhere"),
        a.state.stream_offset("/")
    );
}

/// On a Redis Cluster the record and the stream live on their keys' slot owners (the
/// `MULTI … EXEC` block goes to the session key's owner).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_restored_on_a_cluster() {
    let cluster = RedisCluster::start().expect("cluster");
    let url = cluster.urls().join(",");
    let a = server(&url, "a").await;
    a.io.emit("anchor", &0).await.unwrap();
    let stream_owner = cluster.node_for_key(b"socket.io").unwrap();
    let offset = last_id(stream_owner, "socket.io");
    // Keys on several slots (and so, with 3 primaries, on other nodes than the stream).
    for pid in ["p-a", "p-b", "p-c", "p-d"] {
        let session = record(pid, &[&format!("sid-of-{pid}")]);
        a.state
            .persist_session(&session, Duration::from_secs(60))
            .await
            .unwrap();
    }
    a.io.emit("missed", &1).await.unwrap();
    for pid in ["p-a", "p-b", "p-c", "p-d"] {
        let restored = a
            .state
            .restore_session("/", pid, &offset.to_string())
            .await
            .unwrap();
        assert_eq!(restored.session.pid, pid);
        assert_eq!(restored.missed_packets.len(), 1);
        assert_eq!(restored.missed_packets[0].event(), Some("missed"));
        let r = a.state.restore_session("/", pid, &offset.to_string()).await;
        assert!(matches!(not_restored(r), NotRestored::NoSession));
    }
}
