//! The classic adapter: socketioxide's `CoreAdapter` over Redis Pub/Sub, wire-compatible
//! with `@socket.io/redis-adapter` 8.3 `createAdapter` (PROTOCOL.md §1).
//!
//! Per namespace it PSUBSCRIBEs `<key>#<nsp>#*` and SUBSCRIBEs `<key>-request#<nsp>#`,
//! `<key>-response#<nsp>#` and its own `<key>-response#<nsp>#<uid>#`, where `uid` is a
//! fresh 6-character id as Node makes one.
//!
//! What other servers can ask of this one is bounded (see
//! [`ClassicConfig`](crate::ClassicConfig)): answers that list or describe the local
//! sockets or rooms, and the forwarding of acknowledgements, run on background tasks (never
//! on the Redis subscriber task), at most `max_concurrent_remote_requests` at once, more
//! being dropped and counted; a remote `flags.timeout` is cut to `max_remote_ack_timeout`;
//! a client count above `max_remote_client_count` is dropped as malformed. Dropping the
//! adapter removes its subscription.
//!
//! Differences from Node, by design:
//! * socketsJoin / socketsLeave / disconnectSockets are applied locally at once and this
//!   node skips its own echo (Node applies its own echo instead); the wire is the same.
//! * `disconnectSockets(close = true)` from Node disconnects the sockets from the
//!   namespace; socketioxide's adapter API cannot close the underlying connection.
//!
//! A thin layer over the adapter engine (`crate::engine`), which holds every operation:
//! `codec.rs` is the classic [`Codec`](crate::engine::Codec) (channels, encoding, PUBLISH
//! and `PUBSUB NUMSUB`); `receive.rs` decodes what arrives and hands it to the engine.

mod codec;
mod receive;

use std::sync::Arc;

pub(crate) use codec::ClassicCodec;

use crate::engine::Engine;

/// The classic Redis adapter of one namespace. Created by socketioxide from the shared
/// [`RedisAdapterState`](crate::RedisAdapterState):
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use sio_redis::{ClassicAdapter, ClassicConfig, RedisAdapterState};
/// use socketioxide::{SocketIo, extract::SocketRef};
///
/// let state = RedisAdapterState::connect("redis://127.0.0.1:6379", ClassicConfig::default()).await?;
/// let (layer, io) = SocketIo::builder().with_adapter::<ClassicAdapter<_>>(state.clone()).build_layer();
/// io.ns("/", async |socket: SocketRef<ClassicAdapter<_>>| socket.join(socket.id.to_string())).await?;
/// # Ok(()) }
/// ```
///
/// Dropping the adapter (socketioxide drops it with its namespace or its server) removes
/// its Redis subscription without blocking: the `UNSUBSCRIBE`/`PUNSUBSCRIBE` goes out on a
/// task of the current Tokio runtime, or, when none is running, at the next namespace
/// initialisation on the same [`RedisAdapterState`](crate::RedisAdapterState) (closing the state closes the
/// subscriber connection, which drops every subscription anyway).
pub struct ClassicAdapter<E> {
    engine: Arc<Engine<E, ClassicCodec>>,
}

crate::engine::core_adapter!(ClassicAdapter, ClassicCodec);

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::sync::mpsc;

    use super::*;
    use crate::RedisAdapterState;

    /// The transport calls message handlers inline on its reader task: a fetchSockets
    /// request must not describe the local sockets there. Proven by holding the lock the
    /// description needs: the request waits for it, later messages do not.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[allow(clippy::await_holding_lock)] // on purpose: the lock is the test's switch
    async fn fetch_sockets_request_is_described_off_the_subscriber_task() {
        use socketioxide::SocketIo;
        use socketioxide::adapter::Emitter;

        let redis = sio_redis_testkit::RedisServer::start().expect("redis");
        let config = || crate::ClassicConfig::default().requests_timeout(Duration::from_secs(5));
        let mut servers = Vec::new();
        for _ in 0..2 {
            let state = RedisAdapterState::connect(&redis.url(), config())
                .await
                .unwrap();
            let (_svc, io) = SocketIo::builder()
                .with_adapter::<ClassicAdapter<Emitter>>(state.clone())
                .build_svc();
            io.ns("/", async || {}).await.unwrap();
            servers.push((state, io));
        }
        let (a, b) = (servers[0].0.clone(), servers[1].0.clone());
        let (seen_tx, mut seen) = mpsc::unbounded_channel();
        b.on_server_side_emit("/", move |ev| {
            let _ = seen_tx.send(ev.event);
        });

        let received = b.stats().received;
        let meta = b.inner.socket_meta.lock().unwrap();
        let fetch = tokio::spawn({
            let a = a.clone();
            async move { a.fetch_sockets("/", Default::default()).await }
        });
        // The request reaches b (its answer cannot be built while `meta` is held).
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while b.stats().received == received {
            assert!(std::time::Instant::now() < deadline, "b got no request");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        a.server_side_emit("/", "after", vec![]).await.unwrap();
        // Before the fix b's subscriber task was stuck on the lock, describing sockets.
        let event = tokio::time::timeout(Duration::from_secs(3), seen.recv()).await;
        drop(meta);
        assert_eq!(
            event.expect("b's subscriber goes on while the answer waits"),
            Some("after".to_owned())
        );
        let sockets = fetch
            .await
            .unwrap()
            .expect("b answers once the lock is free");
        assert!(sockets.is_empty());
    }
}
