//! Stream readers (`Transport::read_stream`) against real `redis-server`
//! processes from sio-redis-testkit (free loopback ports): order, the
//! blocked `XREAD` and the response timeout, resumption after `CLIENT KILL`,
//! a restart with AOF and a cluster failover, trim detection; the stream
//! writer (`Transport::xadd`, `xadd_queued`) on a cluster. Every wait has
//! a deadline; nothing sleeps for correctness.

mod common;

use std::sync::Mutex;

use common::*;
use sio_redis_testkit::RedisCluster;
use sio_redis_transport::{StreamEntry, StreamHandler, StreamId, StreamStart};

/// A handler that records every entry's id and `seq` field.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<(StreamId, u64)>>>);

impl Seen {
    fn handler(&self) -> StreamHandler {
        let seen = self.0.clone();
        Arc::new(move |e: StreamEntry| {
            let seq = e
                .field(b"seq")
                .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
                .unwrap_or(0);
            seen.lock().unwrap().push((e.id, seq));
        })
    }

    fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    fn seqs(&self) -> Vec<u64> {
        self.0.lock().unwrap().iter().map(|&(_, s)| s).collect()
    }
}

fn xadd(stream: &str, id: &str, seq: u64) -> redis::Cmd {
    let mut cmd = redis::cmd("XADD");
    cmd.arg(stream)
        .arg("MAXLEN")
        .arg("~")
        .arg(100_000)
        .arg(id)
        .arg("seq")
        .arg(seq)
        .arg("data")
        .arg(format!("{{\"n\":{seq}}}"));
    cmd
}

/// XADDs `seq` with the explicit id `0-<seq>` until Redis has it: a retry after
/// an outcome-unknown failure is refused as "equal or smaller" if the first
/// try was written, so nothing is added twice.
async fn xadd_once(t: &Transport, stream: &str, seq: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let id = format!("0-{seq}");
        match t
            .keyed_query::<String>(stream.as_bytes(), &xadd(stream, &id, seq))
            .await
        {
            Ok(_) => return,
            Err(e) if format!("{:?}", e).contains("equal or smaller") => return,
            Err(e) => {
                assert!(Instant::now() < deadline, "XADD never recovered: {e:?}");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
}

/// Writes `1..=n` at about `per_sec`, each with [`xadd_once`].
fn writer(t: Transport, stream: String, n: u64, per_sec: u64) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / per_sec));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for seq in 1..=n {
            tick.tick().await;
            xadd_once(&t, &stream, seq).await;
        }
    })
}

/// Lost, duplicated and out-of-order sequence numbers in `seqs`, for `1..=n`.
fn tally(seqs: &[u64], n: u64) -> (usize, usize, usize) {
    let mut count = vec![0u32; usize::try_from(n).unwrap() + 1];
    let mut reordered = 0;
    for (i, &s) in seqs.iter().enumerate() {
        count[usize::try_from(s).unwrap()] += 1;
        if i > 0 && s <= seqs[i - 1] {
            reordered += 1;
        }
    }
    let lost = count[1..].iter().filter(|&&c| c == 0).count();
    let duplicated = count[1..]
        .iter()
        .map(|&c| c.saturating_sub(1) as usize)
        .sum();
    (lost, duplicated, reordered)
}

async fn connect_with(url: String, resp3: bool, response_timeout: Duration) -> Transport {
    let config = TransportConfig::new(url)
        .resp3(resp3)
        .response_timeout(response_timeout)
        .build()
        .unwrap();
    Transport::connect(config).await.unwrap()
}

/// Entries written by XADD reach the handler in order, with their fields byte
/// for byte (RESP2 and RESP3); `$` is resolved at the call, so the first entry
/// added right after it returns is read; `StreamStart::After` reads from the
/// given id on; a panicking handler does not stop the reader; closing it
/// closes its connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_reach_the_handler_in_order() {
    require_redis!();
    init_tracing();
    let server = RedisServer::start().unwrap();
    for resp3 in [false, true] {
        let t = connect(server.url(), resp3).await;
        let stream = format!("s-{resp3}");
        let seen = Seen::default();
        let baseline = client_count(&server);
        let reader = t
            .read_stream(
                stream.clone(),
                StreamStart::Latest,
                10,
                Duration::from_millis(500),
                seen.handler(),
            )
            .await
            .unwrap();
        assert_eq!(reader.last_id(), Some(StreamId::new(0, 0)), "no stream yet");
        assert_eq!(client_count(&server), baseline + 1, "its own connection");
        let mut ids = Vec::new();
        for seq in 1..=95u64 {
            let id: String = t
                .keyed_query(stream.as_bytes(), &xadd(&stream, "*", seq))
                .await
                .unwrap();
            ids.push(id.parse::<StreamId>().unwrap());
        }
        wait_until("95 entries", || seen.len() == 95).await;
        assert_eq!(seen.seqs(), (1..=95).collect::<Vec<_>>());
        let got: Vec<StreamId> = seen.0.lock().unwrap().iter().map(|&(id, _)| id).collect();
        assert_eq!(got, ids);
        assert_eq!(reader.last_id(), ids.last().copied());
        assert_eq!(t.stats().stream_entries, 95);
        reader.close().await;
        wait_until("reader connection closed", || {
            client_count(&server) == baseline
        })
        .await;

        // From a given id, with a handler that panics on one entry.
        let after = Seen::default();
        let inner = after.handler();
        let handler: StreamHandler = Arc::new(move |e: StreamEntry| {
            let seq = std::str::from_utf8(e.field(b"seq").unwrap())
                .unwrap()
                .to_owned();
            let data = format!("{{\"n\":{seq}}}");
            assert_eq!(&e.field(b"data").unwrap()[..], data.as_bytes());
            assert!(seq != "50", "boom");
            inner(e);
        });
        let reader = t
            .read_stream(
                stream.clone(),
                StreamStart::After(ids[39]),
                7,
                Duration::from_millis(500),
                handler,
            )
            .await
            .unwrap();
        wait_until("last id reaches the end", || {
            reader.last_id() == ids.last().copied()
        })
        .await;
        let expected: Vec<u64> = (41..=95).filter(|&s| s != 50).collect();
        assert_eq!(after.seqs(), expected);
        drop(reader);
        wait_until("dropped reader's connection closed", || {
            client_count(&server) == baseline
        })
        .await;
        t.close().await;
    }
}

/// A blocked `XREAD` (BLOCK 5 s) is not cut by the response timeout (2 s): the
/// reader stays on its connection through a whole block that ends with nil
/// (two XREADs seen by Redis, no reconnect, no event) and then reads at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_read_outlives_the_response_timeout() {
    require_redis!();
    init_tracing();
    let server = RedisServer::start().unwrap();
    let t = connect_with(server.url(), false, Duration::from_secs(2)).await;
    let mut events = t.events();
    let seen = Seen::default();
    let started = Instant::now();
    let reader = t
        .read_stream(
            "blocky",
            StreamStart::Latest,
            100,
            Duration::from_secs(5),
            seen.handler(),
        )
        .await
        .unwrap();
    let xreads = || -> i64 {
        let RespValue::Bulk(info) = server.command(&["INFO", "commandstats"]).unwrap() else {
            panic!("INFO reply");
        };
        let info = String::from_utf8(info).unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix("cmdstat_xread:calls="))
            .and_then(|rest| rest.split(',').next()?.parse().ok())
            .unwrap_or(0)
    };
    // The reader's connection as Redis knows it (`id=` of its CLIENT LIST line).
    let xread_clients = || -> Vec<String> {
        let RespValue::Bulk(list) = server.command(&["CLIENT", "LIST"]).unwrap() else {
            panic!("CLIENT LIST reply");
        };
        String::from_utf8_lossy(&list)
            .lines()
            .filter(|l| l.contains("cmd=xread"))
            .filter_map(|l| l.split(' ').next()?.strip_prefix("id=").map(str::to_owned))
            .collect()
    };
    wait_until("the reader blocked in XREAD", || xread_clients().len() == 1).await;
    let reader_id = xread_clients();
    let deadline = Instant::now() + Duration::from_secs(12);
    while xreads() < 2 {
        assert!(Instant::now() < deadline, "the first XREAD never ended");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let waited = started.elapsed();
    println!("first XREAD ended after {waited:?} (BLOCK 5 s, response timeout 2 s)");
    assert_eq!(
        xread_clients(),
        reader_id,
        "the same connection, nobody else"
    );
    let event = events.try_recv();
    assert!(event.is_err(), "no connection event: {event:?}");
    assert_eq!(t.stats().reconnects, 0, "{:?}", t.stats());
    assert!(waited >= Duration::from_millis(4900), "{waited:?}");
    let id: String = t
        .keyed_query(b"blocky", &xadd("blocky", "*", 1))
        .await
        .unwrap();
    let sent = Instant::now();
    wait_until("the entry", || seen.len() == 1).await;
    println!("entry read {:?} after XADD", sent.elapsed());
    assert_eq!(reader.last_id(), Some(id.parse().unwrap()));
    reader.close().await;
    t.close().await;
}

/// Sequence-numbered XADDs at ~200/s through a `CLIENT KILL TYPE normal` (the
/// reader's connection among others) and a restart of Redis with AOF
/// (`appendonly yes`, `appendfsync always`): the reader resumes from its last
/// id each time; 0 lost, 0 duplicated, order kept (RESP2 and RESP3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumes_after_client_kill_and_restart() {
    require_redis!();
    init_tracing();
    let mut server = RedisServer::builder()
        .arg("--appendonly")
        .arg("yes")
        .arg("--appendfsync")
        .arg("always")
        .start()
        .unwrap();
    for resp3 in [false, true] {
        let stream = format!("seq-{resp3}");
        let n = 1200u64;
        let reader_t = connect(server.url(), resp3).await;
        let writer_t = connect(server.url(), resp3).await;
        let mut events = reader_t.events();
        let seen = Seen::default();
        let reader = reader_t
            .read_stream(
                stream.clone(),
                StreamStart::Latest,
                100,
                Duration::from_millis(5000),
                seen.handler(),
            )
            .await
            .unwrap();
        let writing = writer(writer_t.clone(), stream.clone(), n, 200);
        wait_until("300 entries", || seen.len() >= 300).await;
        let killed = server.kill_clients().unwrap();
        let (ev, _) = wait_event(&mut events, "resumed after CLIENT KILL", |e| {
            matches!(e, ConnectionEvent::StreamResumed { .. })
        })
        .await;
        let ConnectionEvent::StreamResumed { outage, after, .. } = ev else {
            unreachable!()
        };
        println!(
            "resp3={resp3}: CLIENT KILL ({killed} connections): resumed after {after} in {outage:?}"
        );
        let at = seen.len();
        wait_until("300 more entries", || seen.len() >= at + 300).await;
        let before_restart = seen.len();
        tokio::task::block_in_place(|| server.restart().unwrap());
        let restarted = Instant::now();
        let (ev, _) = wait_event(&mut events, "resumed after the restart", |e| {
            matches!(e, ConnectionEvent::StreamResumed { .. })
        })
        .await;
        let ConnectionEvent::StreamResumed { outage, after, .. } = ev else {
            unreachable!()
        };
        let after_restart = restarted.elapsed();
        tokio::time::timeout(Duration::from_secs(30), writing)
            .await
            .expect("writer finished")
            .unwrap();
        wait_until("every entry", || seen.len() >= usize::try_from(n).unwrap()).await;
        // Anything read twice would arrive right behind: a marker proves it.
        xadd_once(&writer_t, &stream, n + 1).await;
        wait_until("marker", || seen.seqs().last() == Some(&(n + 1))).await;
        let seqs = seen.seqs();
        let (lost, duplicated, reordered) = tally(&seqs[..seqs.len() - 1], n);
        println!(
            "resp3={resp3}: restart: {before_restart} read before it; resumed after {after} \
             {after_restart:?} after the restart returned (outage {outage:?}); \
             {n} written, {} read, lost {lost}, duplicated {duplicated}, reordered {reordered}; stats {:?}",
            seqs.len() - 1,
            reader_t.stats()
        );
        assert_eq!((lost, duplicated, reordered), (0, 0, 0));
        assert!(reader_t.stats().reconnects >= 2);
        assert_eq!(reader_t.stats().stream_gaps, 0);
        reader.close().await;
        reader_t.close().await;
        writer_t.close().await;
    }
}

/// A stream trimmed (`MAXLEN`) past the reader's last id is detected when it
/// connects (`XINFO STREAM`'s first entry past the last id's successor):
/// reported as `StreamTrimmed` and counted in `stream_gaps`; what is left is
/// read. A reader whose successor is the first entry sees no gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trimmed_entries_are_detected() {
    require_redis!();
    init_tracing();
    let server = RedisServer::start().unwrap();
    let t = connect(server.url(), false).await;
    for seq in 1..=100u64 {
        let mut cmd = redis::cmd("XADD");
        cmd.arg("trimmed")
            .arg("MAXLEN")
            .arg(10)
            .arg(format!("0-{seq}"))
            .arg("seq")
            .arg(seq);
        let _: String = t.keyed_query(b"trimmed", &cmd).await.unwrap();
    }
    let mut events = t.events();
    let seen = Seen::default();
    let reader = t
        .read_stream(
            "trimmed",
            StreamStart::After(StreamId::new(0, 5)),
            100,
            Duration::from_millis(200),
            seen.handler(),
        )
        .await
        .unwrap();
    let (ev, _) = wait_event(&mut events, "trimmed", |e| {
        matches!(e, ConnectionEvent::StreamTrimmed { .. })
    })
    .await;
    let ConnectionEvent::StreamTrimmed { after, first, .. } = ev else {
        unreachable!()
    };
    assert_eq!((after, first), (StreamId::new(0, 5), StreamId::new(0, 91)));
    wait_until("the 10 left", || seen.len() == 10).await;
    assert_eq!(seen.seqs(), (91..=100).collect::<Vec<_>>());
    assert_eq!(t.stats().stream_gaps, 1);
    // A reader right before the first entry, or past it, sees no gap.
    let reader2 = t
        .read_stream(
            "trimmed",
            StreamStart::After(StreamId::new(0, 90)),
            100,
            Duration::from_millis(200),
            Seen::default().handler(),
        )
        .await
        .unwrap();
    assert_eq!(t.stats().stream_gaps, 1);
    reader2.close().await;
    reader.close().await;
    t.close().await;
}

/// A live reader behind the writers (full batches) checks for trims before each
/// next `XREAD`, so entries `MAXLEN` removed before it read them are counted
/// without a reconnection: a slow handler (2 ms per entry) against 1 000 entries
/// written at once into a stream trimmed to 50.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_behind_the_writers_counts_what_was_trimmed() {
    require_redis!();
    init_tracing();
    let server = RedisServer::start().unwrap();
    let t = connect(server.url(), false).await;
    let seen = Seen::default();
    let slow = seen.handler();
    let handler: StreamHandler = Arc::new(move |e: StreamEntry| {
        std::thread::sleep(Duration::from_millis(2));
        slow(e);
    });
    let reader = t
        .read_stream(
            "behind",
            StreamStart::Latest,
            10,
            Duration::from_millis(200),
            handler,
        )
        .await
        .unwrap();
    for seq in 1..=1000u64 {
        let mut cmd = redis::cmd("XADD");
        cmd.arg("behind")
            .arg("MAXLEN")
            .arg(50)
            .arg("*")
            .arg("seq")
            .arg(seq);
        let _: String = t.keyed_query(b"behind", &cmd).await.unwrap();
    }
    wait_until("the reader at the last entry", || {
        seen.seqs().last() == Some(&1000)
    })
    .await;
    let (read, stats) = (seen.len() as u64, t.stats());
    println!(
        "read {read}, gaps {}, trimmed {}",
        stats.stream_gaps, stats.stream_trimmed
    );
    assert!(read < 1000, "the handler was meant to fall behind");
    assert!(stats.stream_gaps >= 1);
    assert!(stats.stream_trimmed > 0);
    assert!(read + stats.stream_trimmed <= 1000);
    let seqs = seen.seqs();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "order kept");
    reader.close().await;
    t.close().await;
}

/// The port of the primary `replica` replicates from (`ROLE`).
fn master_port(replica: &RedisServer) -> u16 {
    let role = replica.command(&["ROLE"]).unwrap();
    let items = role.as_array().unwrap();
    u16::try_from(items[2].as_int().unwrap()).unwrap()
}

/// On a Redis Cluster the reader reads from the stream key's primary and
/// follows a failover of it (`CLUSTER FAILOVER` on its replica) in the middle
/// of sequence-numbered XADDs at ~200/s: 0 lost, 0 duplicated, order kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_reader_follows_a_failover() {
    require_redis!();
    init_tracing();
    let cluster = RedisCluster::start().unwrap();
    let replicas = cluster.replicas().unwrap();
    let replica = replicas[0];
    let primary_port = master_port(replica);
    let stream = (0..)
        .map(|i| format!("stream-{i}"))
        .find(|k| cluster.node_for_key(k.as_bytes()).unwrap().port() == primary_port)
        .unwrap();
    let config = TransportConfig::new(cluster.urls().join(","))
        .build()
        .unwrap();
    let reader_t = Transport::connect(config.clone()).await.unwrap();
    let writer_t = Transport::connect(config).await.unwrap();
    let mut events = reader_t.events();
    let seen = Seen::default();
    let reader = reader_t
        .read_stream(
            stream.clone(),
            StreamStart::Latest,
            100,
            Duration::from_millis(5000),
            seen.handler(),
        )
        .await
        .unwrap();
    let n = 1000u64;
    let writing = writer(writer_t.clone(), stream.clone(), n, 200);
    wait_until("300 entries", || seen.len() >= 300).await;
    let before = seen.len();
    let t0 = Instant::now();
    tokio::task::block_in_place(|| cluster.failover(0).unwrap());
    let (ev, _) = wait_event(&mut events, "resumed after the failover", |e| {
        matches!(e, ConnectionEvent::StreamResumed { .. })
    })
    .await;
    let ConnectionEvent::StreamResumed { outage, after, .. } = ev else {
        unreachable!()
    };
    println!(
        "failover: {before} read before; resumed after {after} {:?} after the failover began (outage {outage:?})",
        t0.elapsed()
    );
    tokio::time::timeout(Duration::from_secs(30), writing)
        .await
        .expect("writer finished")
        .unwrap();
    xadd_once(&writer_t, &stream, n + 1).await;
    wait_until("marker", || seen.seqs().last() == Some(&(n + 1))).await;
    let seqs = seen.seqs();
    let (lost, duplicated, reordered) = tally(&seqs[..seqs.len() - 1], n);
    println!(
        "failover: {n} written, {} read, lost {lost}, duplicated {duplicated}, reordered {reordered}; stats {:?}",
        seqs.len() - 1,
        reader_t.stats()
    );
    assert_eq!((lost, duplicated, reordered), (0, 0, 0));
    // The new primary is the one the reader reads from.
    let xreaders = |node: &RedisServer| {
        let RespValue::Bulk(list) = node.command(&["CLIENT", "LIST"]).unwrap() else {
            panic!("CLIENT LIST");
        };
        String::from_utf8_lossy(&list)
            .lines()
            .filter(|l| l.contains("cmd=xread"))
            .count()
    };
    wait_until("reader on the promoted replica", || xreaders(replica) == 1).await;
    reader.close().await;
    reader_t.close().await;
    writer_t.close().await;
}

/// Memory bound: with `max_message_bytes` 1 KiB, a reply over `count` × 1 KiB
/// (+ 64 KiB) is not buffered whole; the reader reads again one entry at a
/// time, steps over the one entry too large (200 KiB, its id learnt by a Lua
/// script) and reads every other entry in order; the skip is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_entry_is_stepped_over() {
    require_redis!();
    init_tracing();
    let server = RedisServer::start().unwrap();
    let config = TransportConfig::new(server.url())
        .max_message_bytes(1024)
        .build()
        .unwrap();
    let t = Transport::connect(config).await.unwrap();
    let mut events = t.events();
    let seen = Seen::default();
    let reader = t
        .read_stream(
            "big",
            StreamStart::Latest,
            10,
            Duration::from_millis(200),
            seen.handler(),
        )
        .await
        .unwrap();
    for seq in 1..=30u64 {
        let data = if seq == 15 {
            "x".repeat(200 * 1024)
        } else {
            "y".repeat(100)
        };
        let mut cmd = redis::cmd("XADD");
        cmd.arg("big")
            .arg(format!("0-{seq}"))
            .arg("seq")
            .arg(seq)
            .arg("data")
            .arg(data);
        let _: String = t.keyed_query(b"big", &cmd).await.unwrap();
    }
    wait_until("the last entry", || seen.seqs().last() == Some(&30)).await;
    let expected: Vec<u64> = (1..=30).filter(|&s| s != 15).collect();
    assert_eq!(seen.seqs(), expected);
    assert_eq!(t.stats().stream_oversized, 1);
    assert_eq!(reader.last_id(), Some(StreamId::new(0, 30)));
    // Each over-the-bound reply cost the connection, said as a loss.
    let (ev, _) = wait_event(&mut events, "a disconnect", |e| {
        matches!(
            e,
            ConnectionEvent::Disconnected {
                role: Role::StreamReader,
                ..
            }
        )
    })
    .await;
    println!("oversized: {ev:?}; stats {:?}", t.stats());
    reader.close().await;
    t.close().await;
}

/// A reader whose connection goes silent (a stalled proxy: no FIN, no reset)
/// gives it up once `block` + the response timeout passed without a reply,
/// reconnects when the network is back, and reads what was added meanwhile:
/// nothing lost, nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_replaced_after_block_plus_response_timeout() {
    require_redis!();
    init_tracing();
    let server = RedisServer::start().unwrap();
    let proxy = StallProxy::start(server.addr()).unwrap();
    let config = TransportConfig::new(proxy.url())
        .response_timeout(Duration::from_millis(300))
        .connect_timeout(Duration::from_millis(300))
        .health_check_interval(Duration::ZERO)
        .build()
        .unwrap();
    let t = Transport::connect(config).await.unwrap();
    let mut events = t.events();
    let seen = Seen::default();
    let reader = t
        .read_stream(
            "silent",
            StreamStart::Latest,
            100,
            Duration::from_millis(500),
            seen.handler(),
        )
        .await
        .unwrap();
    let add = |seq: u64| {
        let reply = server
            .command(&[
                "XADD",
                "silent",
                &format!("0-{seq}"),
                "seq",
                &seq.to_string(),
            ])
            .unwrap();
        assert!(!reply.is_error(), "{reply:?}");
    };
    add(1);
    wait_until("entry 1", || seen.len() == 1).await;
    proxy.stall();
    let stalled = Instant::now();
    for seq in 2..=20 {
        add(seq);
    }
    let (ev, at) = wait_event(&mut events, "the reader's loss", |e| {
        matches!(
            e,
            ConnectionEvent::Disconnected {
                role: Role::StreamReader,
                ..
            }
        )
    })
    .await;
    let noticed = at - stalled;
    println!("silent connection: {ev:?} {noticed:?} after the stall");
    assert!(noticed <= Duration::from_millis(1500), "{noticed:?}");
    proxy.resume();
    let resumed = Instant::now();
    wait_event(&mut events, "resumed", |e| {
        matches!(e, ConnectionEvent::StreamResumed { .. })
    })
    .await;
    wait_until("every entry", || seen.len() >= 20).await;
    println!(
        "silent connection: all read {:?} after the resume",
        resumed.elapsed()
    );
    add(21);
    wait_until("marker", || seen.seqs().last() == Some(&21)).await;
    assert_eq!(seen.seqs(), (1..=21).collect::<Vec<_>>());
    reader.close().await;
    t.close().await;
}

/// The stream writer on a Redis Cluster: 600 entries over 6 streams (spread over
/// the primaries), queued at 200/s with `xadd_queued`, `CLIENT KILL` of every
/// connection of every node 1 s in: each stream holds its entries once each, in
/// order (each on its slot's primary; an entry whose reply was lost looked for
/// before it is written again), and an awaited `xadd` returns the id Redis gave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_writer_on_a_cluster_keeps_order_across_client_kill() {
    require_redis!();
    init_tracing();
    let cluster = RedisCluster::start().unwrap();
    let config = TransportConfig::new(cluster.urls().join(","))
        .build()
        .unwrap();
    let t = Transport::connect(config).await.unwrap();
    let streams: Vec<String> = (0..6).map(|i| format!("writer-{i}")).collect();
    let fields = |seq: u64| {
        vec![
            (Bytes::from_static(b"seq"), Bytes::from(seq.to_string())),
            (Bytes::from_static(b"uid"), Bytes::from_static(b"w1")),
        ]
    };
    let n = 600u64;
    let sending = {
        let (t, streams) = (t.clone(), streams.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(5));
            for seq in 0..n {
                tick.tick().await;
                let s = &streams[(seq % 6) as usize];
                t.xadd_queued(s, Some(10_000), fields(seq), true)
                    .await
                    .unwrap();
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await; // the fault, 1 s in (not a wait)
    tokio::task::block_in_place(|| cluster.kill_clients().unwrap());
    sending.await.unwrap();
    let id = t
        .xadd(&streams[0], None, fields(n))
        .await
        .expect("awaited XADD");
    wait_until("every entry written", || t.stats().stream_added > n).await;
    let mut total = 0;
    for (i, s) in streams.iter().enumerate() {
        let mut cmd = redis::cmd("XRANGE");
        cmd.arg(s).arg("-").arg("+");
        let entries: Vec<(String, Vec<(String, String)>)> =
            t.keyed_query(s.as_bytes(), &cmd).await.unwrap();
        let seqs: Vec<u64> = entries
            .iter()
            .map(|(_, f)| f[0].1.parse().unwrap())
            .collect();
        let mut want: Vec<u64> = (0..n).filter(|q| q % 6 == i as u64).collect();
        if i == 0 {
            want.push(n);
            assert_eq!(entries.last().unwrap().0, id.to_string());
        }
        assert_eq!(seqs, want, "stream {s}: once each, in order");
        total += seqs.len();
    }
    let stats = t.stats();
    println!(
        "cluster stream writer, CLIENT KILL of every node: {total} entries in 6 streams, \
         in doubt {} found {} rewritten {}",
        stats.stream_in_doubt, stats.stream_found, stats.stream_rewritten
    );
    assert_eq!(stats.stream_add_dropped + stats.stream_add_errors, 0);
}
