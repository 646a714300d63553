//! The classic adapter against a real `redis-server` (started by the test kit on a free
//! port): requests across servers, request timeouts, malformed messages, and recovery
//! after the Redis connections are killed or the server restarts.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sio_redis::wire::Value;
use sio_redis::{AdapterKind, ClassicAdapter, ClassicConfig, Error, RedisAdapterState};
use sio_redis_testkit::{RedisServer, RespConnection};
use socketioxide::SocketIo;
use socketioxide::adapter::Emitter;
use socketioxide::extract::SocketRef;

type Adapter = ClassicAdapter<Emitter>;

/// The server-side events a server received: `(event, args)`.
type SseLog = Arc<Mutex<Vec<(String, Vec<Value>)>>>;

/// One socketioxide server with the classic adapter, serving `/` (no HTTP listener: the
/// tests drive the adapter through its handle).
struct Server {
    state: RedisAdapterState,
    _io: SocketIo<Adapter>,
    sse: SseLog,
}

async fn server(url: &str, config: ClassicConfig, name: &'static str) -> Server {
    let state = RedisAdapterState::connect(url, config)
        .await
        .expect("connect");
    let (_svc, io) = SocketIo::builder()
        .with_adapter::<Adapter>(state.clone())
        .build_svc();
    io.ns("/", async |_: SocketRef<Adapter>| {})
        .await
        .expect("namespace subscribed");
    let sse = SseLog::default();
    let log = sse.clone();
    state.on_server_side_emit("/", move |ev| {
        log.lock()
            .unwrap()
            .push((ev.event.clone(), ev.args.clone()));
        if let Some(ack) = ev.ack {
            ack.send(Value::from(name));
        }
    });
    Server {
        state,
        _io: io,
        sse,
    }
}

async fn wait_for(what: &str, deadline: Duration, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + deadline;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn fast() -> ClassicConfig {
    ClassicConfig::default().requests_timeout(Duration::from_millis(1500))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_emit_and_server_count_across_servers() {
    let redis = RedisServer::start().expect("redis");
    let a = server(&redis.url(), fast(), "a").await;
    let b = server(&redis.url(), fast(), "b").await;
    assert_eq!(a.state.kind(), AdapterKind::Classic);
    assert_eq!(a.state.server_count("/").await.unwrap(), 2);

    a.state
        .server_side_emit("/", "hello", vec![Value::Int(1), Value::from("x")])
        .await
        .unwrap();
    wait_for(
        "b to receive the server-side emit",
        Duration::from_secs(5),
        || !b.sse.lock().unwrap().is_empty(),
    )
    .await;
    assert_eq!(
        b.sse.lock().unwrap()[0],
        ("hello".into(), vec![Value::Int(1), Value::from("x")])
    );
    assert!(
        a.sse.lock().unwrap().is_empty(),
        "a server does not receive its own server-side emit"
    );

    let acks = a
        .state
        .server_side_emit_with_ack("/", "ping", vec![])
        .await
        .unwrap();
    assert_eq!(acks, vec![Value::from("b")]);
    assert_eq!(a.state.pending_requests("/"), 0, "no request handler leaks");

    assert!(matches!(
        a.state.server_side_emit("/", "connect", vec![]).await,
        Err(Error::ReservedEvent(_))
    ));
    let sockets = a
        .state
        .fetch_sockets("/", Default::default())
        .await
        .unwrap();
    assert!(sockets.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_never_hang_and_say_how_many_answered() {
    let redis = RedisServer::start().expect("redis");
    let a = server(&redis.url(), fast(), "a").await;
    let _b = server(&redis.url(), fast(), "b").await;
    // A third subscriber of the request channel that never answers (a dead or foreign node).
    let mut silent = RespConnection::connect(redis.addr()).unwrap();
    silent.send(&["SUBSCRIBE", "socket.io-request#/#"]).unwrap();
    silent.read_reply().unwrap();
    assert_eq!(a.state.server_count("/").await.unwrap(), 3);

    let started = Instant::now();
    let err = a
        .state
        .fetch_sockets("/", Default::default())
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(4));
    match err {
        Error::Timeout {
            request,
            received,
            expected,
        } => {
            assert_eq!((request, received, expected), ("fetchSockets", 1, 2));
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    let (err, partial) = a
        .state
        .server_side_emit_with_ack("/", "ping", vec![])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("1 of 2 servers answered"), "{err}");
    assert_eq!(partial, vec![Value::from("b")]);
    assert_eq!(
        a.state.pending_requests("/"),
        0,
        "no request handler leaks after timeouts"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_are_counted_dropped_and_the_node_keeps_serving() {
    let redis = RedisServer::start().expect("redis");
    let a = server(&redis.url(), fast(), "a").await;
    let b = server(&redis.url(), fast(), "b").await;
    let garbage: [(&str, &[u8]); 6] = [
        ("socket.io-request#/#", b"{not json"),
        ("socket.io-request#/#", b"{\"uid\":\"x\",\"type\":99}"),
        ("socket.io-request#/#", &[0xc1]),
        ("socket.io#/#", &[0x93, 0xa1, b'x', 0x01, 0x02]),
        ("socket.io#/#room#", &[0xdd, 0xff, 0xff, 0xff, 0xff]),
        ("socket.io-response#/#", b"{\"requestId\":5}"),
    ];
    for (channel, payload) in garbage {
        redis
            .command(&[b"PUBLISH".as_slice(), channel.as_bytes(), payload])
            .unwrap();
    }
    // A namespace-less broadcast for another namespace is dropped too.
    wait_for(
        "every bad message to be counted",
        Duration::from_secs(5),
        || b.state.stats().dropped.values().sum::<u64>() >= 6,
    )
    .await;
    let kinds: Vec<String> = b.state.stats().dropped.keys().cloned().collect();
    assert!(kinds.iter().any(|k| k.starts_with("decode:")), "{kinds:?}");
    // Still serving.
    let acks = a
        .state
        .server_side_emit_with_ack("/", "ping", vec![])
        .await
        .unwrap();
    assert_eq!(acks, vec![Value::from("b")]);
}

/// Waits until a server-side emit from `a` reaches `b` again; returns how long it took.
async fn until_flowing(a: &Server, b: &Server) -> Duration {
    let started = Instant::now();
    loop {
        let before = b.sse.lock().unwrap().len();
        let _ = a.state.server_side_emit("/", "probe", vec![]).await;
        let sent = Instant::now();
        while Instant::now() - sent < Duration::from_millis(100) {
            if b.sse.lock().unwrap().len() > before {
                return started.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "messages did not flow again within 10 s"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovers_after_client_kill() {
    let redis = RedisServer::start().expect("redis");
    let a = server(&redis.url(), fast(), "a").await;
    let b = server(&redis.url(), fast(), "b").await;
    until_flowing(&a, &b).await;
    let killed = redis.kill_clients().unwrap();
    assert!(killed >= 4, "killed {killed} connections");
    let took = until_flowing(&a, &b).await;
    eprintln!("recovery after CLIENT KILL: broadcasts flow again after {took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    let acks = a
        .state
        .server_side_emit_with_ack("/", "ping", vec![])
        .await
        .unwrap();
    assert_eq!(acks, vec![Value::from("b")], "requests work again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovers_after_redis_restart() {
    let mut redis = RedisServer::start().expect("redis");
    let a = server(&redis.url(), fast(), "a").await;
    let b = server(&redis.url(), fast(), "b").await;
    until_flowing(&a, &b).await;
    redis.restart().expect("restart");
    let answered = Instant::now();
    let took = until_flowing(&a, &b).await;
    eprintln!(
        "recovery after redis-server restart: broadcasts flow again {took:?} after Redis answered"
    );
    assert!(answered.elapsed() < Duration::from_secs(5));
    let acks = a
        .state
        .server_side_emit_with_ack("/", "ping", vec![])
        .await
        .unwrap();
    assert_eq!(acks, vec![Value::from("b")], "requests work again");
}

// ---- bounds on what other servers can make this one do --------------------------------

/// `PUBSUB NUMSUB channel` and `PUBSUB NUMPAT` of `redis`.
fn subscribers(redis: &RedisServer, channel: &str) -> (i64, i64) {
    let numsub = redis
        .command(&["PUBSUB", "NUMSUB", channel])
        .unwrap()
        .as_array()
        .and_then(|a| a.get(1).and_then(|n| n.as_int()))
        .expect("NUMSUB reply");
    let numpat = redis
        .command(&["PUBSUB", "NUMPAT"])
        .unwrap()
        .as_int()
        .expect("NUMPAT reply");
    (numsub, numpat)
}

/// A broadcast-with-ack request (type 7) from a server that does not exist, for event
/// `ev` to every socket of `/`, with `flags.timeout` = `timeout_ms`.
fn forged_broadcast_with_ack(request_id: &str, timeout_ms: u64) -> Vec<u8> {
    use sio_redis::wire::classic::{ClassicRequest, RequestBody};
    use sio_redis::wire::{BroadcastFlags, BroadcastOptions, Packet};
    let mut opts = BroadcastOptions::new(Vec::new(), Vec::new());
    opts.flags = Some(BroadcastFlags {
        timeout: Some(timeout_ms),
        ..BroadcastFlags::default()
    });
    ClassicRequest {
        uid: Some("forger".into()),
        request_id: Some(request_id.into()),
        body: RequestBody::Broadcast {
            packet: Packet::event(vec![Value::from("ev")], Some("/".into())),
            opts,
        },
    }
    .encode()
}

fn publish(redis: &RedisServer, channel: &str, payload: &[u8]) {
    redis
        .command(&[b"PUBLISH".as_slice(), channel.as_bytes(), payload])
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_broadcast_client_count_is_dropped_not_yielded_as_timeouts() {
    use futures_util::StreamExt;
    use sio_redis::wire::classic::{ClassicRequest, ClassicResponse, RequestBody};
    let redis = RedisServer::start().expect("redis");
    let a = server(&redis.url(), fast(), "a").await;
    // A "server" on the request channel (so Redis counts it) that answers every
    // broadcast with ack with three client counts of 2^63 (their sum overflows u64).
    let mut forger = RespConnection::connect(redis.addr()).unwrap();
    forger.set_timeout(Duration::from_secs(10)).unwrap();
    forger.send(&["SUBSCRIBE", "socket.io-request#/#"]).unwrap();
    forger.read_reply().unwrap();
    let addr = redis.addr();
    let forging = tokio::task::spawn_blocking(move || {
        let limits = sio_redis::wire::Limits::default();
        loop {
            let push = forger.read_reply().expect("a request");
            let Some(sio_redis_testkit::RespValue::Bulk(payload)) =
                push.as_array().and_then(|a| a.get(2)).cloned()
            else {
                continue;
            };
            let Ok(req) = ClassicRequest::decode(&payload, &limits) else {
                continue;
            };
            let RequestBody::Broadcast { .. } = req.body else {
                continue;
            };
            let mut publisher = RespConnection::connect(addr).unwrap();
            for _ in 0..3 {
                let count = ClassicResponse::BroadcastClientCount {
                    request_id: req.request_id.clone().unwrap(),
                    client_count: 1 << 63,
                };
                publisher
                    .command(&[
                        b"PUBLISH".as_slice(),
                        b"socket.io-response#/#",
                        &count.encode(),
                    ])
                    .unwrap();
            }
            return;
        }
    });
    let started = Instant::now();
    let stream = a
        ._io
        .timeout(Duration::from_millis(500))
        .emit_with_ack::<_, serde_json::Value>("ev", &())
        .await
        .expect("broadcast with ack");
    forging.await.unwrap();
    // Before the fix: 2^63 timeout items (or a panic on the overflowing sum).
    let items = tokio::time::timeout(Duration::from_secs(5), stream.take(3).collect::<Vec<_>>())
        .await
        .expect("the stream ends at its timeout");
    assert!(items.is_empty(), "no client exists: {} items", items.len());
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(
        a.state.stats().dropped.get("malformed:client_count"),
        Some(&3),
        "{:?}",
        a.state.stats()
    );
    assert_eq!(a.state.pending_requests("/"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_ack_timeout_of_u64_max_is_capped_and_the_responder_task_ends() {
    let redis = RedisServer::start().expect("redis");
    let config = fast().max_remote_ack_timeout(Duration::from_millis(300));
    let b = server(&redis.url(), config, "b").await;
    // A client that never acknowledges.
    let (_to_server, mut from_server) = b._io.new_dummy_sock("/", ()).await;
    let mut responses = RespConnection::connect(redis.addr()).unwrap();
    responses.set_timeout(Duration::from_secs(5)).unwrap();
    responses
        .send(&["SUBSCRIBE", "socket.io-response#/#"])
        .unwrap();
    responses.read_reply().unwrap();

    publish(
        &redis,
        "socket.io-request#/#",
        &forged_broadcast_with_ack("ackreq", u64::MAX),
    );
    // The client gets the event, and b reports one client.
    let packet = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            // Engine.IO packets, read through Debug (`Message(Str(b"21[\"ev\"]"))`).
            let packet = format!("{:?}", from_server.recv().await.expect("socket open"));
            if packet.contains("ev") {
                return packet;
            }
        }
    })
    .await
    .expect("the event reaches the client");
    assert!(
        packet.contains(r#""21[\"ev\"]""#),
        "an event with an ack id: {packet}"
    );
    let count = responses.read_reply().unwrap();
    let payload = count.as_array().unwrap()[2].as_str().unwrap().to_owned();
    assert!(payload.contains("\"clientCount\":1"), "{payload}");
    // Before the fix the forwarding task waited ~584 million years for the ack.
    wait_for(
        "the responder task to end at the capped timeout",
        Duration::from_secs(5),
        || b.state.stats().remote_requests_in_flight == 0,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_requests_beyond_the_limit_are_dropped_counted_and_never_stall_delivery() {
    let redis = RedisServer::start().expect("redis");
    let a = server(&redis.url(), fast(), "a").await;
    let b = server(&redis.url(), fast().max_concurrent_remote_requests(1), "b").await;
    let (_to_server, _from_server) = b._io.new_dummy_sock("/", ()).await;
    // b's only slot is taken for 2.5 s: a broadcast with ack its client never answers.
    publish(
        &redis,
        "socket.io-request#/#",
        &forged_broadcast_with_ack("busy01", 2500),
    );
    wait_for("b to work on the request", Duration::from_secs(5), || {
        b.state.stats().remote_requests_in_flight == 1
    })
    .await;
    // Before the fix b answered (no limit).
    match a.state.fetch_sockets("/", Default::default()).await {
        Err(Error::Timeout {
            received, expected, ..
        }) => assert_eq!((received, expected), (0, 1)),
        other => panic!("expected b to drop the request, got {other:?}"),
    }
    assert_eq!(b.state.stats().dropped.get("overloaded"), Some(&1));
    assert_eq!(b.state.stats().remote_requests_in_flight, 1, "still busy");
    // The subscriber is not held up meanwhile: server-side events flow.
    a.state
        .server_side_emit("/", "while-busy", vec![])
        .await
        .unwrap();
    wait_for("b to get the event", Duration::from_secs(1), || {
        b.sse.lock().unwrap().iter().any(|(e, _)| e == "while-busy")
    })
    .await;
    assert_eq!(b.state.stats().remote_requests_in_flight, 1, "still busy");
    // Once the slot is free, b answers again.
    wait_for("b's slot to be free", Duration::from_secs(5), || {
        b.state.stats().remote_requests_in_flight == 0
    })
    .await;
    let sockets = a
        .state
        .fetch_sockets("/", Default::default())
        .await
        .unwrap();
    assert_eq!(sockets.len(), 1, "b's client");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_adapter_unsubscribes_its_channels() {
    let redis = RedisServer::start().expect("redis");
    let Server { state, _io: io, .. } = server(&redis.url(), fast(), "a").await;
    assert_eq!(subscribers(&redis, "socket.io-request#/#"), (1, 1));
    assert!(state.is_ready("/"));
    drop(io); // socketioxide drops the namespace and its adapter
    // Before the fix the channels stayed subscribed as long as the transport lived.
    wait_for(
        "the adapter's channels to be unsubscribed",
        Duration::from_secs(5),
        || subscribers(&redis, "socket.io-request#/#") == (0, 0),
    )
    .await;
    assert!(!state.is_ready("/"));
    assert!(
        state.transport().is_connected(),
        "the state itself still works"
    );
}

/// The least a Redis ACL user needs for the classic adapter (documented in README):
/// its channels only (`&socket.io*`, and the broadcast pattern of each namespace
/// literally, `&socket.io#/#*`, as Redis checks `PSUBSCRIBE` patterns literally; no
/// keys; `&sio-redis-probe#*` for the transport's liveness probe) and the pub/sub commands. Two servers on such a user talk to each other; a user without
/// `PSUBSCRIBE` is refused when the namespace starts, with an error that names the
/// refused permission.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minimal_acl_user_is_enough_and_a_missing_permission_is_named() {
    let rules = "resetchannels &socket.io* &socket.io#/#* &sio-redis-probe#* resetkeys -@all +publish +subscribe +psubscribe \
                 +unsubscribe +punsubscribe +pubsub|numsub +ping";
    let redis = RedisServer::builder()
        .config(format!("user sio on >pw {rules}"))
        .config(format!(
            "user nopattern on >pw {}",
            rules.replace(" +psubscribe", "")
        ))
        .config("user default off")
        .credentials("sio", "pw")
        .start()
        .expect("redis");
    let url = format!("redis://sio:pw@127.0.0.1:{}", redis.port());
    let a = server(&url, fast(), "a").await;
    let b = server(&url, fast(), "b").await;
    assert_eq!(a.state.server_count("/").await.unwrap(), 2);
    let acks = a
        .state
        .server_side_emit_with_ack("/", "ping", vec![])
        .await
        .unwrap();
    assert_eq!(acks, vec![Value::from("b")]);
    drop(b);

    let url = format!("redis://nopattern:pw@127.0.0.1:{}", redis.port());
    let state = RedisAdapterState::connect(&url, fast())
        .await
        .expect("connect");
    let (_svc, io) = SocketIo::builder()
        .with_adapter::<Adapter>(state.clone())
        .build_svc();
    let err = io
        .ns("/", async |_: SocketRef<Adapter>| {})
        .await
        .expect_err("PSUBSCRIBE is refused");
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    assert!(
        text.to_ascii_lowercase().contains("psubscribe"),
        "the error names the refused command: {text}"
    );
}

/// A hostile node message of 1 MB (a JSON object of 100 000 members, no request type)
/// on the request channel is decoded in linear time, counted as malformed and dropped;
/// a fetchSockets sent right after it is answered by every server (it once waited
/// 22-26 s behind the quadratic decoder). The decode itself is timed by
/// `cargo bench -p sio-redis-wire -- "decode 100 000"` (42 ms on a 2-core machine).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_object_on_the_request_channel_does_not_stall_requests() {
    let redis = RedisServer::start().expect("redis");
    let a = server(&redis.url(), fast(), "a").await;
    let b = server(&redis.url(), fast(), "b").await;
    let mut huge = String::from("{");
    for i in 0..100_000 {
        if i > 0 {
            huge.push(',');
        }
        huge.push_str(&format!("\"m{i}\":{i}"));
    }
    huge.push('}');
    assert!(huge.len() > 1_000_000);
    publish(&redis, "socket.io-request#/#", huge.as_bytes());
    let sent = Instant::now();
    let sockets = a.state.fetch_sockets("/", Default::default()).await;
    let took = sent.elapsed();
    eprintln!("fetchSockets right after a 100 000-member message answered in {took:?}");
    assert!(sockets.is_ok(), "{sockets:?}");
    wait_for("the huge message counted", Duration::from_secs(5), || {
        b.state
            .stats()
            .dropped
            .keys()
            .any(|k| k.starts_with("decode:"))
    })
    .await;
}
