//! The streams adapter against a real `redis-server` (started by the test kit on a free
//! port): requests across servers over Pub/Sub, broadcasts through the stream, and
//! nothing lost or duplicated when the readers' connections are killed mid-traffic.

use std::time::{Duration, Instant};

use sio_redis::wire::Value;
use sio_redis::{AdapterKind, RedisAdapterState, StreamsAdapter, StreamsConfig};
use sio_redis_testkit::RedisServer;
use socketioxide::SocketIo;
use socketioxide::adapter::Emitter;
use socketioxide::extract::SocketRef;

type Adapter = StreamsAdapter<Emitter>;

struct Server {
    state: RedisAdapterState,
    io: SocketIo<Adapter>,
}

async fn server(url: &str, name: &'static str) -> Server {
    let config = StreamsConfig::default()
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
