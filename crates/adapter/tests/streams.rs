//! The streams adapter against a real `redis-server` (started by the test kit on a free
//! port): requests across servers over Pub/Sub, broadcasts through the stream, and the
//! fault tests of issue 12 item 4: sequence-numbered broadcasts at 200/s between two
//! nodes, counted lost / duplicated / out of order on the receiving client, across
//! `CLIENT KILL` of the readers and of the publisher (also with `XADD`s in flight), a
//! crash and restart with AOF (`appendfsync always`), an outage written after the
//! reconnect, an offline buffer overflow, and a trimmed gap.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sio_redis::wire::Value;
use sio_redis::{AdapterKind, RedisAdapterState, StreamsAdapter, StreamsConfig};
use sio_redis_testkit::{RedisServer, StallProxy};
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
