//! The streams adapter against a real `redis-server` (started by the test kit on a free
//! port): requests across servers over Pub/Sub, broadcasts through the stream, the
//! fault tests of issue 12 item 4 (sequence-numbered broadcasts at 200/s between two
//! nodes, counted lost / duplicated / out of order on the receiving client, across
//! `CLIENT KILL` of the readers and of the publisher (also with `XADD`s in flight), a
//! crash and restart with AOF (`appendfsync always`), an outage written after the
//! reconnect, an offline buffer overflow, and a trimmed gap), and session records
//! (persist, restore with missed packets, once, expiry, bounds, hostile records) on a
//! standalone Redis and on a Redis Cluster.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sio_redis::convert::EventArgs;
use sio_redis::transport::StreamId;
use sio_redis::wire::Value;
use sio_redis::{
    AdapterKind, Error, NotRestored, RedisAdapterState, SessionRecord, StreamsAdapter,
    StreamsConfig,
};
use sio_redis_testkit::{RedisCluster, RedisServer, RespValue, StallProxy};
use sio_redis_transport::{Transport, TransportConfig, TransportStats};
use socketioxide::SocketIo;
use socketioxide::adapter::Emitter;
use socketioxide::extract::SocketRef;

type Adapter = StreamsAdapter<Emitter>;

struct Server {
    state: RedisAdapterState,
    io: SocketIo<Adapter>,
}

async fn server(url: &str, name: &'static str) -> Server {
    server_with(TransportConfig::new(url), StreamsConfig::default(), name).await
}

async fn server_with(
    transport: TransportConfig,
    config: StreamsConfig,
    name: &'static str,
) -> Server {
    let config = config
        .requests_timeout(Duration::from_millis(1500))
        .block_time(Duration::from_millis(500));
    let transport = Transport::connect(transport.build().expect("config"))
        .await
        .expect("connect");
    let state = RedisAdapterState::new(transport, config).expect("state");
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

/// 200 broadcasts/s: one every 5 ms.
const PERIOD: Duration = Duration::from_millis(5);

/// Sequence-numbered broadcasts from `a` to a dummy client of `b`, running.
struct Traffic {
    /// The sequence numbers `io.emit` accepted (queued or written), the others refused.
    sender: tokio::task::JoinHandle<(Vec<u32>, Vec<String>)>,
    /// What `b`'s client received, when.
    received: Arc<Mutex<Vec<(u32, Instant)>>>,
    collector: tokio::task::JoinHandle<()>,
}

/// What one run measured.
#[derive(Debug)]
struct Figures {
    accepted: usize,
    refused: usize,
    received: usize,
    lost: usize,
    duplicated: usize,
    out_of_order: usize,
    /// The longest time between two deliveries (5 ms without a fault).
    longest_gap: Duration,
}

impl Traffic {
    async fn start(a: &Server, b: &Server, count: u32) -> Traffic {
        let (_to_b, mut from_b) = b.io.new_dummy_sock("/", ()).await;
        let received = Arc::new(Mutex::new(Vec::new()));
        // Read all along (the dummy client's buffer is small).
        let collector = {
            let received = received.clone();
            tokio::spawn(async move {
                let _keep = _to_b;
                while let Some(packet) = from_b.recv().await {
                    let (tx, mut rx) = tokio::sync::mpsc::channel(1);
                    tx.try_send(packet).unwrap();
                    let mut seqs = Vec::new();
                    ticks(&mut rx, &mut seqs);
                    let now = Instant::now();
                    received
                        .lock()
                        .unwrap()
                        .extend(seqs.into_iter().map(|s| (s, now)));
                }
            })
        };
        let io = a.io.clone();
        let sender = tokio::spawn(async move {
            let mut tick = tokio::time::interval(PERIOD);
            let (mut accepted, mut refused) = (Vec::new(), Vec::new());
            for seq in 0..count {
                tick.tick().await;
                match io.emit("tick", &seq).await {
                    Ok(()) => accepted.push(seq),
                    Err(e) => refused.push(format!("{e:?}")),
                }
            }
            (accepted, refused)
        });
        Traffic {
            sender,
            received,
            collector,
        }
    }

    /// Waits for the sender, then (until `deadline` from then) for every accepted
    /// broadcast to arrive; counts.
    async fn finish(self, deadline: Duration) -> (Figures, Vec<String>) {
        let (accepted, refused) = self.sender.await.unwrap();
        let until = Instant::now() + deadline;
        loop {
            let got: std::collections::HashSet<u32> =
                self.received.lock().unwrap().iter().map(|r| r.0).collect();
            if accepted.iter().all(|s| got.contains(s)) || Instant::now() > until {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Duplicates show up late: a little more time for them.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let received = self.received.lock().unwrap().clone();
        self.collector.abort();
        let seqs: Vec<u32> = received.iter().map(|r| r.0).collect();
        let unique: std::collections::HashSet<u32> = seqs.iter().copied().collect();
        let figures = Figures {
            accepted: accepted.len(),
            refused: refused.len(),
            received: seqs.len(),
            lost: accepted.iter().filter(|s| !unique.contains(s)).count(),
            duplicated: seqs.len() - unique.len(),
            out_of_order: seqs.windows(2).filter(|w| w[1] < w[0]).count(),
            longest_gap: received
                .windows(2)
                .map(|w| w[1].1 - w[0].1)
                .max()
                .unwrap_or_default(),
        };
        (figures, refused)
    }
}

fn print(fault: &str, f: &Figures, stats: &TransportStats) {
    println!(
        "streams fault [{fault}]: accepted {} refused {} received {} lost {} duplicated {} \
         out-of-order {} longest gap {} ms | writer: added {} in doubt {} found {} \
         rewritten {} dropped {} errors {}",
        f.accepted,
        f.refused,
        f.received,
        f.lost,
        f.duplicated,
        f.out_of_order,
        f.longest_gap.as_millis(),
        stats.stream_added,
        stats.stream_in_doubt,
        stats.stream_found,
        stats.stream_rewritten,
        stats.stream_add_dropped,
        stats.stream_add_errors,
    );
}

fn assert_exact(f: &Figures) {
    assert_eq!(f.refused, 0, "{f:?}");
    assert_eq!(f.lost, 0, "{f:?}");
    assert_eq!(f.duplicated, 0, "{f:?}");
    assert_eq!(f.out_of_order, 0, "{f:?}");
}

/// `CLIENT KILL ID` of every client whose `CLIENT LIST` line contains `what`
/// (e.g. `cmd=xread`); how many.
fn kill_clients_where(redis: &RedisServer, what: &str) -> usize {
    let list = redis.command(&[b"CLIENT".as_slice(), b"LIST"]).unwrap();
    let list = match list.as_str() {
        Some(s) => s.to_owned(),
        None => format!("{list:?}"),
    };
    let ids: Vec<String> = list
        .lines()
        .filter(|l| l.contains(what))
        .filter_map(|l| l.split(' ').find_map(|kv| kv.strip_prefix("id=")))
        .map(str::to_owned)
        .collect();
    for id in &ids {
        redis
            .command(&[b"CLIENT".as_slice(), b"KILL", b"ID", id.as_bytes()])
            .unwrap();
    }
    ids.len()
}

/// 600 broadcasts at 200/s, `CLIENT KILL` of every stream reader connection
/// (`cmd=xread`) one second in: nothing lost, nothing twice, in order (the readers
/// resume after their last entry id).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_kill_of_the_readers_loses_nothing() {
    let redis = RedisServer::start().expect("redis");
    let a = server(&redis.url(), "a").await;
    let b = server(&redis.url(), "b").await;
    let traffic = Traffic::start(&a, &b, 600).await;
    tokio::time::sleep(Duration::from_secs(1)).await; // the fault, 1 s in (not a wait)
    assert!(kill_clients_where(&redis, "cmd=xread") >= 2, "both readers");
    let (f, _) = traffic.finish(Duration::from_secs(10)).await;
    print("CLIENT KILL readers", &f, &a.state.transport().stats());
    assert_exact(&f);
    assert!(b.state.transport().stats().reconnects >= 1);
}

/// The same, `CLIENT KILL TYPE normal` (readers and the publisher connections of both
/// nodes) one second in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_kill_of_every_connection_loses_nothing() {
    let redis = RedisServer::start().expect("redis");
    let a = server(&redis.url(), "a").await;
    let b = server(&redis.url(), "b").await;
    let traffic = Traffic::start(&a, &b, 600).await;
    tokio::time::sleep(Duration::from_secs(1)).await; // the fault (not a wait)
    redis
        .command(&[b"CLIENT".as_slice(), b"KILL", b"TYPE", b"normal"])
        .unwrap();
    let (f, _) = traffic.finish(Duration::from_secs(10)).await;
    print("CLIENT KILL TYPE normal", &f, &a.state.transport().stats());
    assert_exact(&f);
}

/// `CLIENT KILL` of the sending node's publisher connection while `XADD`s are in
/// flight: `DEBUG SLEEP 0.1` holds Redis while the node keeps writing, and the kill
/// is sent during the sleep, so that it runs in the same event-loop round as the
/// held `XADD`s: Redis runs them (or not) and their replies are never sent. The
/// writer looks for them in the stream before writing them again: nothing lost,
/// nothing twice, in order. Six kills, 400 ms apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_kill_of_the_publisher_with_xadds_in_flight_loses_and_duplicates_nothing() {
    let redis = RedisServer::builder()
        .config("enable-debug-command yes")
        .start()
        .expect("redis");
    let a = server(&redis.url(), "a").await;
    let b = server(&redis.url(), "b").await;
    let traffic = Traffic::start(&a, &b, 800).await;
    tokio::time::sleep(Duration::from_millis(500)).await; // faults from 0.5 s (not a wait)
    let mut killed = 0;
    for round in 0..6 {
        // The publisher is the client whose last command was an XADD.
        let list = redis.command(&[b"CLIENT".as_slice(), b"LIST"]).unwrap();
        let list = list.as_str().map(str::to_owned).unwrap_or_default();
        let Some(id) = list
            .lines()
            .filter(|l| l.contains("cmd=xadd"))
            .find_map(|l| l.split(' ').find_map(|kv| kv.strip_prefix("id=")))
            .map(str::to_owned)
        else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        killed += tokio::task::block_in_place(|| {
            // Even rounds: connected before the sleep, so that its command is read in
            // the same event-loop round as the XADDs held by the sleep, after them
            // (they run, their replies are lost). Odd rounds: connected during the
            // sleep (accepted, then read in a later round; the XADDs held may not
            // have run).
            let mut early = (round % 2 == 0).then(|| redis.connect().unwrap());
            let addr = redis.addr();
            let sleeper = std::thread::spawn(move || {
                let mut c = sio_redis_testkit::RespConnection::connect(addr).unwrap();
                c.command(&["DEBUG", "SLEEP", "0.1"]).unwrap();
            });
            std::thread::sleep(Duration::from_millis(40)); // inside the sleep (not a wait)
            let mut c = early.take().unwrap_or_else(|| redis.connect().unwrap());
            c.send(&["CLIENT", "KILL", "ID", id.as_str()]).unwrap();
            sleeper.join().unwrap();
            c.read_reply().unwrap().as_int().unwrap_or(0)
        });
        tokio::time::sleep(Duration::from_millis(400)).await; // the next fault (not a wait)
    }
    assert!(killed >= 3, "the publisher was killed {killed} times");
    let (f, _) = traffic.finish(Duration::from_secs(10)).await;
    let stats = a.state.transport().stats();
    print("CLIENT KILL publisher, XADDs in flight", &f, &stats);
    assert_exact(&f);
    assert!(stats.stream_found >= 1, "{stats:?}");
    assert_eq!(
        stats.stream_in_doubt,
        stats.stream_found + stats.stream_rewritten,
        "every entry in doubt settled"
    );
}

/// A crash (SIGKILL) of a Redis with `appendonly yes` and `appendfsync always` one
/// second in, restarted at once: every entry Redis acknowledged is still in the stream
/// after the restart (fsynced before the reply), those in doubt are checked, those
/// written during the outage wait in the offline buffer: nothing lost, nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_and_restart_with_aof_loses_nothing_acknowledged() {
    let mut redis = RedisServer::builder()
        .arg("--appendonly")
        .arg("yes")
        .arg("--appendfsync")
        .arg("always")
        .start()
        .expect("redis");
    let a = server(&redis.url(), "a").await;
    let b = server(&redis.url(), "b").await;
    let traffic = Traffic::start(&a, &b, 600).await;
    tokio::time::sleep(Duration::from_secs(1)).await; // the fault (not a wait)
    let added_before = a.state.transport().stats().stream_added;
    let down = Instant::now();
    tokio::task::block_in_place(|| {
        redis.kill();
        redis.restart().expect("restart");
    });
    let outage = down.elapsed();
    let (f, _) = traffic.finish(Duration::from_secs(15)).await;
    print(
        &format!(
            "SIGKILL + restart, AOF always, outage {} ms",
            outage.as_millis()
        ),
        &f,
        &a.state.transport().stats(),
    );
    // Every entry acknowledged before the crash is in the stream after it.
    let len = redis.command(&[b"XLEN".as_slice(), b"socket.io"]).unwrap();
    assert!(
        len.as_int().unwrap() as u64 >= added_before,
        "{len:?} < {added_before}"
    );
    assert_exact(&f);
}

/// Redis down for one second (stopped, then started again on its AOF): the broadcasts
/// of that second are accepted into the offline buffer and written, in order, after
/// the reconnect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_is_buffered_and_written_after_the_reconnect() {
    let mut redis = RedisServer::builder()
        .arg("--appendonly")
        .arg("yes")
        .arg("--appendfsync")
        .arg("always")
        .start()
        .expect("redis");
    let a = server(&redis.url(), "a").await;
    let b = server(&redis.url(), "b").await;
    let traffic = Traffic::start(&a, &b, 800).await;
    tokio::time::sleep(Duration::from_secs(1)).await; // the fault (not a wait)
    tokio::task::block_in_place(|| redis.stop().expect("stop"));
    tokio::time::sleep(Duration::from_secs(1)).await; // the outage (not a wait)
    let written_during = a.state.transport().stats().stream_added;
    tokio::task::block_in_place(|| redis.restart().expect("restart"));
    let (f, _) = traffic.finish(Duration::from_secs(15)).await;
    let stats = a.state.transport().stats();
    print("Redis down 1 s", &f, &stats);
    assert_exact(&f);
    assert!(
        stats.stream_added >= written_during + 150,
        "the outage's broadcasts were written after it: {stats:?}"
    );
}

/// An offline buffer of 4 KiB (each entry ~110 bytes) while Redis is down: what fits
/// is written after the reconnect; the rest is refused at once with `BufferFull`,
/// returned by `emit` and counted; nothing accepted is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffer_overflow_is_counted_and_returned_as_an_error() {
    let mut redis = RedisServer::builder()
        .arg("--appendonly")
        .arg("yes")
        .start()
        .expect("redis");
    let small = TransportConfig::new(redis.url()).publish_buffer_bytes(4096);
    let a = server_with(small, StreamsConfig::default(), "a").await;
    let b = server(&redis.url(), "b").await;
    let traffic = Traffic::start(&a, &b, 600).await;
    tokio::time::sleep(Duration::from_secs(1)).await; // the fault (not a wait)
    tokio::task::block_in_place(|| redis.stop().expect("stop"));
    tokio::time::sleep(Duration::from_secs(1)).await; // the outage (not a wait)
    tokio::task::block_in_place(|| redis.restart().expect("restart"));
    let (f, refused) = traffic.finish(Duration::from_secs(15)).await;
    let stats = a.state.transport().stats();
    print("Redis down 1 s, 4 KiB buffer", &f, &stats);
    assert!(f.refused >= 100, "{f:?}");
    assert!(
        refused.iter().all(|e| e.contains("BufferFull")),
        "BufferFull: {:?}",
        refused.first()
    );
    assert_eq!(
        stats.stream_add_errors, f.refused as u64,
        "each refusal counted"
    );
    assert_eq!(f.lost, 0, "{f:?}");
    assert_eq!(f.duplicated, 0, "{f:?}");
    assert_eq!(f.out_of_order, 0, "{f:?}");
}

/// `b` reaches Redis through a proxy that stalls (a network that drops everything)
/// while `a` writes 300 broadcasts with `maxLen` 50: once `b`'s reader is back the
/// stream has been trimmed past the last entry it read. The gap is detected, counted
/// per stream in `AdapterStats::stream_gaps`, and the entries it took unread in
/// `AdapterStats::stream_trimmed`: exactly the broadcasts the client never got.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trimmed_gap_is_detected_and_counted() {
    let redis = RedisServer::start().expect("redis");
    let proxy = StallProxy::start(redis.addr()).expect("proxy");
    let config = StreamsConfig::default().max_len(50);
    let a = server_with(TransportConfig::new(redis.url()), config.clone(), "a").await;
    let b = server_with(
        TransportConfig::new(proxy.url()).response_timeout(Duration::from_millis(300)),
        config,
        "b",
    )
    .await;
    let traffic = Traffic::start(&a, &b, 400).await;
    tokio::time::sleep(Duration::from_millis(300)).await; // the fault (not a wait)
    proxy.stall();
    tokio::time::sleep(Duration::from_millis(1500)).await; // ~300 entries (not a wait)
    proxy.resume();
    let (f, _) = traffic.finish(Duration::from_secs(3)).await;
    print(
        "reader stalled, maxLen 50",
        &f,
        &b.state.transport().stats(),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.state.stats().stream_gaps.is_empty() {
        assert!(Instant::now() < deadline, "no gap reported");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stats = b.state.stats();
    println!(
        "streams fault [reader stalled, maxLen 50]: gaps {:?}, trimmed unread {:?}",
        stats.stream_gaps, stats.stream_trimmed
    );
    let gaps = stats.stream_gaps;
    assert_eq!(
        gaps.keys().collect::<Vec<_>>(),
        vec!["socket.io"],
        "{gaps:?}"
    );
    assert!(f.lost > 0, "entries were trimmed unread: {f:?}");
    // Exactly the broadcasts the client never got (XINFO's entries-added − length).
    assert_eq!(
        stats.stream_trimmed.get("socket.io"),
        Some(&(f.lost as u64))
    );
    assert_eq!(f.duplicated, 0, "{f:?}");
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
        TransportConfig::new(redis.url()),
        StreamsConfig::default().session_key_prefix("app:s:"),
        "a",
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
    let a = server_with(TransportConfig::new(redis.url()), config, "a").await;
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
