//! Helpers shared by the integration tests: deadlines, inboxes, waits.

#![allow(dead_code, unused_imports, unused_macros)]

pub(crate) use std::sync::Arc;
pub(crate) use std::time::{Duration, Instant};

pub(crate) use bytes::Bytes;
pub(crate) use sio_redis_testkit::{RedisServer, RespValue, StallProxy, redis_server_available};
pub(crate) use sio_redis_transport::{
    Backoff, ConnectionEvent, Message, MessageHandler, MessageKind, Role, Subscription, Transport,
    TransportConfig, TransportError,
};
pub(crate) use tokio::sync::{broadcast, mpsc};

/// Deadline for anything that should happen "soon".
pub(crate) const DEADLINE: Duration = Duration::from_secs(10);

/// Poll interval of `wait_until` (not a correctness sleep: the condition is
/// re-checked until the deadline).
pub(crate) const POLL: Duration = Duration::from_millis(10);

#[macro_export]
/// Skips the test (with a note) when redis-server is not installed.
macro_rules! require_redis {
    () => {
        if !redis_server_available() {
            eprintln!("redis-server not found on PATH: test skipped");
            return;
        }
    };
}

pub(crate) fn all_bytes() -> Bytes {
    Bytes::from((0..=255u8).collect::<Vec<u8>>())
}

pub(crate) fn sub(channels: &[&str], patterns: &[&str]) -> Subscription {
    Subscription::new()
        .channels(channels.iter().copied())
        .patterns(patterns.iter().copied())
}

/// A handler that forwards messages to a bounded queue the test reads.
pub(crate) struct Inbox {
    pub(crate) rx: mpsc::Receiver<Message>,
}

pub(crate) fn inbox() -> (MessageHandler, Inbox) {
    let (tx, rx) = mpsc::channel(4096);
    let handler: MessageHandler = Arc::new(move |m: Message| {
        tx.try_send(m).expect("test inbox full");
    });
    (handler, Inbox { rx })
}

impl Inbox {
    pub(crate) async fn recv(&mut self) -> Message {
        tokio::time::timeout(DEADLINE, self.rx.recv())
            .await
            .expect("no message before the deadline")
            .expect("handler dropped")
    }

    /// Asserts nothing is queued (after a marker message proved delivery of
    /// everything published before it).
    pub(crate) fn assert_empty(&mut self) {
        if let Ok(m) = self.rx.try_recv() {
            panic!("unexpected message {m:?}");
        }
    }
}

pub(crate) async fn wait_until<F: FnMut() -> bool>(what: &str, mut cond: F) {
    let deadline = Instant::now() + DEADLINE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(POLL).await;
    }
}

/// Waits for the first event matching `pred`, returning it and when it was
/// received.
pub(crate) async fn wait_event(
    events: &mut broadcast::Receiver<ConnectionEvent>,
    what: &str,
    mut pred: impl FnMut(&ConnectionEvent) -> bool,
) -> (ConnectionEvent, Instant) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Err(_) => panic!("no {what} event before the deadline"),
            Ok(Ok(ev)) => {
                if pred(&ev) {
                    return (ev, Instant::now());
                }
            }
            Ok(Err(broadcast::error::RecvError::Lagged(n))) => panic!("lagged by {n} events"),
            Ok(Err(broadcast::error::RecvError::Closed)) => panic!("event channel closed"),
        }
    }
}

pub(crate) fn is_resubscribed(ev: &ConnectionEvent) -> bool {
    matches!(ev, ConnectionEvent::Resubscribed { .. })
}

pub(crate) async fn connect(url: String, resp3: bool) -> Transport {
    let config = TransportConfig::new(url).resp3(resp3).build().unwrap();
    Transport::connect(config).await.unwrap()
}

/// Publishes until it succeeds (the publisher may still be noticing that
/// its connection died), returning the receiver count.
pub(crate) async fn publish_eventually(t: &Transport, channel: &str, payload: Bytes) -> u64 {
    let deadline = Instant::now() + DEADLINE;
    loop {
        match t.publish(channel, payload.clone()).await {
            Ok(n) => return n,
            Err(e) => {
                assert!(e.is_retryable(), "publish failed for good: {e:?}");
                assert!(Instant::now() < deadline, "publish never recovered: {e:?}");
                tokio::time::sleep(POLL).await;
            }
        }
    }
}

/// `numsub` until it succeeds (see `publish_eventually`).
pub(crate) async fn numsub_eventually(t: &Transport, channel: &str) -> u64 {
    let deadline = Instant::now() + DEADLINE;
    loop {
        match t.numsub(channel).await {
            Ok(n) => return n,
            Err(e) => {
                assert!(e.is_retryable(), "numsub failed for good: {e:?}");
                assert!(Instant::now() < deadline, "numsub never recovered: {e:?}");
                tokio::time::sleep(POLL).await;
            }
        }
    }
}

/// Number of clients connected to `server`, besides the kit's own.
pub(crate) fn client_count(server: &RedisServer) -> usize {
    match server.command(&["CLIENT", "LIST"]).unwrap() {
        RespValue::Bulk(b) => String::from_utf8_lossy(&b)
            .lines()
            .count()
            .saturating_sub(1),
        other => panic!("unexpected CLIENT LIST reply {other:?}"),
    }
}

/// Logs to the test's output as `RUST_LOG` says (nothing when unset); once
/// per test binary.
pub(crate) fn init_tracing() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}
