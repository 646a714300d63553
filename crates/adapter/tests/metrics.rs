//! The metrics and the health API against a real `redis-server` (test kit, free port):
//! after known operations (N broadcasts, a `CLIENT KILL`, a request timeout) the
//! Prometheus text of a recorder reads exactly what happened; health turns degraded while
//! Redis is down and ready again after.
//!
//! Each test has a Prometheus recorder of its own, installed as the thread's default on a
//! current-thread runtime, so that the handles the transports and adapters take at
//! connect time go to it (and the tests of this file do not see each other's metrics).

use std::time::{Duration, Instant};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use sio_redis::transport::{Transport, TransportConfig};
use sio_redis::{ClassicAdapter, ClassicConfig, Error, RedisAdapterState};
use sio_redis_testkit::{RedisServer, RespConnection};
use socketioxide::SocketIo;
use socketioxide::adapter::Emitter;
use socketioxide::extract::SocketRef;

type Adapter = ClassicAdapter<Emitter>;

fn recorder() -> (PrometheusRecorder, PrometheusHandle) {
    let recorder = PrometheusBuilder::new()
        .set_buckets(&[0.001, 0.01, 0.1, 1.0, 10.0])
        .unwrap()
        .build_recorder();
    let handle = recorder.handle();
    (recorder, handle)
}

/// One server with the classic adapter on `/`, its metrics labelled `node = name`.
async fn server(url: &str, name: &str) -> (RedisAdapterState, SocketIo<Adapter>) {
    let transport = Transport::connect(
        TransportConfig::new(url)
            .metric_label("adapter", "classic")
            .metric_label("node", name),
    )
    .await
    .expect("connect");
    let config = ClassicConfig::default().requests_timeout(Duration::from_millis(500));
    let state = RedisAdapterState::new(transport, config).expect("state");
    let (_svc, io) = SocketIo::builder()
        .with_adapter::<Adapter>(state.clone())
        .build_svc();
    io.ns("/", async |_: SocketRef<Adapter>| {})
        .await
        .expect("namespace subscribed");
    (state, io)
}

async fn wait_for(what: &str, deadline: Duration, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + deadline;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The value of the series `name{labels}` (labels in registration order, as the
/// exporter renders them), or `None` when absent.
fn value(text: &str, name: &str, labels: &str) -> Option<f64> {
    let series = format!("{name}{{{labels}}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&series))
        .map(|v| v.parse().expect("a number"))
}

#[tokio::test]
async fn broadcasts_client_kill_and_request_timeout_read_exactly_in_the_metrics() {
    let (recorder, prom) = recorder();
    let _local = metrics::set_default_local_recorder(&recorder);
    let redis = RedisServer::start().expect("redis");
    let (a, io_a) = server(&redis.url(), "a").await;
    let (b, _io_b) = server(&redis.url(), "b").await;

    // N broadcasts from a.
    const N: u64 = 50;
    for i in 0..N {
        io_a.broadcast().emit("tick", &i).await.expect("broadcast");
    }
    wait_for(
        "b to receive every broadcast",
        Duration::from_secs(5),
        || b.stats().received == N,
    )
    .await;
    let text = prom.render();
    let a_nsp = r#"adapter="classic",node="a",namespace="/""#;
    let b_nsp = r#"adapter="classic",node="b",namespace="/""#;
    assert_eq!(
        value(
            &text,
            "sio_redis_messages_published_total",
            &format!(r#"{a_nsp},type="broadcast""#)
        ),
        Some(N as f64),
        "{text}"
    );
    assert_eq!(
        value(&text, "sio_redis_messages_received_total", b_nsp),
        Some(N as f64),
        "{text}"
    );
    let a_bytes = value(&text, "sio_redis_published_bytes_total", a_nsp).unwrap();
    let b_bytes = value(&text, "sio_redis_received_bytes_total", b_nsp).unwrap();
    assert_eq!(a_bytes, b_bytes, "b received the bytes a published");
    assert!(a_bytes > 0.0);
    assert_eq!(
        value(
            &text,
            "sio_redis_transport_published_total",
            r#"adapter="classic",node="a""#
        ),
        Some(N as f64),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            "sio_redis_transport_connected",
            r#"adapter="classic",node="b",role="subscriber""#
        ),
        Some(1.0)
    );

    // A CLIENT KILL of every connection: each transport reconnects once per role.
    let killed = redis.kill_clients().expect("CLIENT KILL");
    assert!(killed >= 4, "killed {killed}");
    wait_for(
        "both subscribers to resubscribe",
        Duration::from_secs(10),
        || {
            a.health().is_ready()
                && b.health().is_ready()
                && a.transport().stats().resubscriptions == 1
                && b.transport().stats().resubscriptions == 1
        },
    )
    .await;
    let text = prom.render();
    for node in ["a", "b"] {
        let sub = format!(r#"adapter="classic",node="{node}",role="subscriber""#);
        assert_eq!(
            value(&text, "sio_redis_transport_reconnects_total", &sub),
            Some(1.0),
            "{text}"
        );
        assert_eq!(
            value(&text, "sio_redis_transport_outage_seconds_count", &sub),
            Some(1.0),
            "{text}"
        );
        assert_eq!(
            value(
                &text,
                "sio_redis_transport_resubscriptions_total",
                &format!(r#"adapter="classic",node="{node}""#)
            ),
            Some(1.0)
        );
    }

    // A request timeout: a third subscriber of the request channel never answers.
    let mut silent = RespConnection::connect(redis.addr()).unwrap();
    silent.send(&["SUBSCRIBE", "socket.io-request#/#"]).unwrap();
    silent.read_reply().unwrap();
    match a.fetch_sockets("/", Default::default()).await {
        Err(Error::Timeout {
            received, expected, ..
        }) => assert_eq!((received, expected), (1, 2)),
        other => panic!("expected a timeout, got {other:?}"),
    }
    let text = prom.render();
    let fetch = format!(r#"{a_nsp},type="fetchSockets""#);
    assert_eq!(
        value(&text, "sio_redis_request_timeouts_total", &fetch),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "sio_redis_request_duration_seconds_count", &fetch),
        Some(1.0)
    );
    let took = value(&text, "sio_redis_request_duration_seconds_sum", &fetch).unwrap();
    assert!(
        (0.5..2.0).contains(&took),
        "the 500 ms requestsTimeout: {took} s"
    );
    assert_eq!(value(&text, "sio_redis_servers", a_nsp), Some(3.0));
    assert_eq!(value(&text, "sio_redis_requests_pending", a_nsp), Some(0.0));
    assert_eq!(
        value(
            &text,
            "sio_redis_messages_published_total",
            &format!(r#"{a_nsp},type="fetch_sockets""#)
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            "sio_redis_messages_published_total",
            &format!(r#"{b_nsp},type="response""#)
        ),
        Some(1.0),
        "b answered once"
    );

    // A malformed message: counted by reason.
    redis
        .command(&[b"PUBLISH".as_slice(), b"socket.io-request#/#", b"{not json"])
        .unwrap();
    wait_for("b to drop it", Duration::from_secs(5), || {
        !b.stats().dropped.is_empty()
    })
    .await;
    let text = prom.render();
    let (reason, n) = b.stats().dropped.into_iter().next().unwrap();
    assert_eq!(
        value(
            &text,
            "sio_redis_messages_dropped_total",
            &format!(r#"adapter="classic",node="b",reason="{reason}""#)
        ),
        Some(n as f64),
        "{text}"
    );
}

#[tokio::test]
async fn health_is_degraded_while_redis_is_down_and_ready_again_after() {
    let (recorder, prom) = recorder();
    let _local = metrics::set_default_local_recorder(&recorder);
    let mut redis = RedisServer::start().expect("redis");
    let (a, io) = server(&redis.url(), "a").await;
    let queue = |text: &str| {
        let l = r#"adapter="classic",node="a""#;
        (
            value(text, "sio_redis_transport_publish_queue_messages", l),
            value(text, "sio_redis_transport_publish_queue_bytes", l),
        )
    };
    let h = a.health();
    assert!(h.is_ready(), "{h:?}");
    assert_eq!(h.reason(), "ok");
    assert_eq!(h.namespaces, vec!["/".to_owned()]);
    assert!(h.publisher_connected && h.subscribed);

    redis.stop().unwrap();
    wait_for("health to turn degraded", Duration::from_secs(10), || {
        !a.health().is_ready()
    })
    .await;
    let h = a.health();
    assert!(!h.subscribed, "{h:?}");
    assert!(
        h.degraded.iter().any(|r| r == "subscriber not subscribed"),
        "{h:?}"
    );
    // Broadcasts while the publisher is down wait in the offline buffer: the gauges
    // (refreshed by health()) show them.
    wait_for("the publisher to notice", Duration::from_secs(10), || {
        !a.health().publisher_connected
    })
    .await;
    for i in 0..5 {
        io.broadcast().emit("tick", &i).await.expect("queued");
    }
    let (messages, bytes) = a.transport().publish_queue_depth();
    assert_eq!(messages, 5);
    a.refresh_metrics();
    assert_eq!(queue(&prom.render()), (Some(5.0), Some(bytes as f64)));
    assert!(bytes > 0);

    redis.restart().unwrap();
    wait_for("health to be ready again", Duration::from_secs(15), || {
        a.health().is_ready()
    })
    .await;
    wait_for(
        "the offline buffer to be sent",
        Duration::from_secs(10),
        || a.transport().publish_queue_depth() == (0, 0),
    )
    .await;
    a.refresh_metrics();
    let text = prom.render();
    assert_eq!(queue(&text), (Some(0.0), Some(0.0)));
    assert_eq!(
        value(
            &text,
            "sio_redis_transport_published_total",
            r#"adapter="classic",node="a""#
        ),
        Some(5.0),
        "the 5 buffered broadcasts were published once Redis was back"
    );
    a.close().await;
    let h = a.health();
    assert_eq!(h.degraded, vec!["closed".to_owned()], "{h:?}");
}
