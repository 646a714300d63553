//! The adapter engine: everything a namespace adapter does that does not depend on its
//! wire protocol, shared by every adapter kind through the [`Codec`] seam.
//!
//! * [`ops`]: the cluster operations (broadcast with and without acknowledgements,
//!   fetchSockets, socketsJoin / socketsLeave, disconnectSockets, serverSideEmit with and
//!   without acknowledgements, serverCount, allRooms);
//! * [`request`]: requests that collect one reply per server until the expected count or
//!   the deadline;
//! * [`apply`]: what another server's message does here: local operations, answers on a
//!   bounded pool, acknowledgements forwarded; [`cluster`]: the same for a ClusterAdapter
//!   message (sharded and streams adapters);
//! * [`opts`]: socketioxide options to wire options and back;
//! * [`pending`]: the table of requests waiting for replies; [`ack_stream`]: the merged
//!   acknowledgements of a broadcast;
//! * [`message`]: the protocol-independent messages a codec encodes and decodes.
//!
//! An adapter kind is a thin layer over [`Engine<E, C>`]: its `CoreAdapter` impl forwards
//! to the engine, and its [`Codec`] says which channels, which bytes, which commands.

pub(crate) mod ack_stream;
mod apply;
mod cluster;
mod codec;
mod core_adapter;
pub(crate) mod message;
mod ops;
mod opts;
pub(crate) mod pending;
mod request;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use sio_redis_transport::{Message, MessageHandler, SubscriptionId};
use socketioxide_core::adapter::{CoreLocalAdapter, SocketEmitter, Spawnable};

pub(crate) use codec::{Codec, Publication, PublishMode};
pub(crate) use core_adapter::core_adapter;
pub(crate) use message::{Outgoing, Reply};

use crate::error::Error;
use crate::metrics::MessageType;
use crate::state::{BoxFuture, NamespaceOps, RedisAdapterState, lock};
use pending::Pending;

/// One namespace adapter of kind `C`: the local sockets of the namespace, the shared
/// state, this server's uid, the pending requests and the codec.
pub(crate) struct Engine<E, C: Codec> {
    pub(crate) local: CoreLocalAdapter<E>,
    pub(crate) state: RedisAdapterState,
    /// This server's uid in the namespace ([`Codec::new_uid`]).
    pub(crate) uid: String,
    /// The namespace path.
    pub(crate) nsp: String,
    pub(crate) codec: C,
    pending: Pending,
    subscription: Mutex<Option<SubscriptionId>>,
    /// The handler of the namespace's subscriptions (set at initialisation), for the
    /// ones a codec adds later (the sharded codec's room channels).
    pub(crate) handler: std::sync::OnceLock<MessageHandler>,
    /// The namespace's metric handles.
    pub(crate) metrics: crate::metrics::NamespaceMetrics,
    /// Whether the namespace's parser is the common (JSON text) one; found on first use.
    json_parser: std::sync::OnceLock<bool>,
}

impl<E, C: Codec> std::fmt::Debug for Engine<E, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("kind", &self.state.inner.kind)
            .field("uid", &self.uid)
            .field("nsp", &self.nsp)
            .finish()
    }
}

/// The initialisation of a namespace adapter: subscribe its channels (the classic
/// adapter: SUBSCRIBE and PSUBSCRIBE). Fails with [`Error::WrongAdapterKind`] when the
/// [`RedisAdapterState`] was made for another adapter kind. Await it (`io.ns(...).await`), or let socketioxide spawn it (dynamic namespaces).
#[must_use = "the namespace is not subscribed until this future is awaited"]
pub struct InitRes(BoxFuture<'static, Result<(), Error>>);

impl std::fmt::Debug for InitRes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InitRes")
    }
}

impl Future for InitRes {
    type Output = Result<(), Error>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx)
    }
}

impl Spawnable for InitRes {
    fn spawn(self) {
        tokio::spawn(async move {
            if let Err(e) = self.0.await {
                tracing::error!(error = %e, "redis adapter initialisation failed");
            }
        });
    }
}

/// Dropping the engine (socketioxide drops its adapter with its namespace or its server)
/// removes its Redis subscription without blocking: the unsubscription goes out on a task
/// of the current Tokio runtime, or, when none is running, at the next namespace
/// initialisation on the same [`RedisAdapterState`] (closing the state closes the
/// subscriber connection, which drops every subscription anyway).
impl<E, C: Codec> Drop for Engine<E, C> {
    fn drop(&mut self) {
        let id = self
            .subscription
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let inner = &self.state.inner;
        {
            let mut namespaces = lock(&inner.namespaces);
            // Ours (dead now) unless another adapter of the namespace replaced it.
            if namespaces
                .get(&self.nsp)
                .is_some_and(|w| w.strong_count() == 0)
            {
                namespaces.remove(&self.nsp);
            }
        }
        for id in id.into_iter().chain(self.codec.release()) {
            inner.unsubscribe_later(id);
        }
    }
}

impl<E: SocketEmitter, C: Codec> Engine<E, C> {
    /// The engine of the namespace of `local`, with a fresh uid.
    pub(crate) fn new(state: &RedisAdapterState, local: CoreLocalAdapter<E>) -> Self {
        let nsp = local.path().to_string();
        let uid = C::new_uid();
        let metrics = crate::metrics::NamespaceMetrics::new(
            state.inner.kind,
            &nsp,
            state.inner.transport.metric_labels(),
        );
        Self {
            codec: C::new(state, &nsp, &uid),
            local,
            state: state.clone(),
            uid,
            nsp,
            pending: Pending::with_gauge(metrics.pending.clone()),
            subscription: Mutex::new(None),
            handler: std::sync::OnceLock::new(),
            metrics,
            json_parser: std::sync::OnceLock::new(),
        }
    }

    /// Subscribes the codec's channels (handler registered before the subscription is
    /// confirmed), then makes the namespace reachable from the user's handle.
    ///
    /// # Errors
    /// [`Error::WrongAdapterKind`] when the state was made for another adapter kind;
    /// [`Error::Transport`] when Redis refuses the subscription.
    pub(crate) fn init(self: Arc<Self>, on_success: impl FnOnce() + Send + 'static) -> InitRes {
        InitRes(Box::pin(async move {
            let kind = self.state.inner.kind;
            if kind != C::KIND {
                return Err(Error::WrongAdapterKind {
                    state: kind,
                    adapter: C::KIND,
                });
            }
            self.state.inner.unsubscribe_orphans().await;
            let weak = Arc::downgrade(&self);
            let handler: MessageHandler = Arc::new(move |msg| {
                if let Some(engine) = weak.upgrade() {
                    engine.count_received(msg.payload.len());
                    C::on_message(&engine, msg);
                }
            });
            let _ = self.handler.set(handler.clone());
            let id = self
                .state
                .inner
                .transport
                .subscribe(self.codec.subscription(), handler)
                .await?;
            *lock(&self.subscription) = Some(id);
            let ops: Arc<dyn NamespaceOps> = self.clone();
            lock(&self.state.inner.namespaces).insert(self.nsp.clone(), Arc::downgrade(&ops));
            if let Err(e) = C::started(&self).await {
                lock(&self.state.inner.namespaces).remove(&self.nsp);
                return Err(e);
            }
            on_success();
            Ok(())
        }))
    }

    /// Leaves the cluster: unreachable from the handle, subscription removed.
    ///
    /// # Errors
    /// [`Error::Transport`] when the unsubscription fails.
    pub(crate) async fn close(&self) -> Result<(), Error> {
        lock(&self.state.inner.namespaces).remove(&self.nsp);
        let id = lock(&self.subscription).take();
        for id in id.into_iter().chain(self.codec.release()) {
            self.state.inner.transport.unsubscribe(id).await?;
        }
        Ok(())
    }

    /// Sends `p`, a message of type `t`, through the codec and counts it.
    pub(crate) async fn send(
        &self,
        p: Publication,
        mode: PublishMode,
        t: MessageType,
    ) -> Result<(), Error> {
        let bytes = p.payload.len()
            + p.entry
                .as_ref()
                .map_or(0, |e| e.fields.iter().map(|(k, v)| k.len() + v.len()).sum());
        self.codec
            .publish(&self.state.inner.transport, p, mode)
            .await?;
        self.state
            .inner
            .counters
            .published
            .fetch_add(1, Ordering::Relaxed);
        self.metrics.published(t, bytes);
        Ok(())
    }

    /// Encodes `msg` of this server and sends it, awaited.
    pub(crate) async fn publish(&self, msg: Outgoing) -> Result<(), Error> {
        let t = MessageType::of_outgoing(&msg);
        let p = self.codec.encode(&self.uid, msg);
        self.send(p, PublishMode::Awaited, t).await
    }

    /// Counts a received message of `bytes` bytes.
    pub(crate) fn count_received(&self, bytes: usize) {
        self.metrics.received(bytes);
        self.state
            .inner
            .counters
            .received
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a message dropped for reason `kind` (logged once per kind).
    pub(crate) fn drop_message(&self, kind: &str, msg: &Message, detail: &dyn std::fmt::Display) {
        self.state
            .inner
            .counters
            .drop_message(kind, &msg.channel, detail);
    }

    /// Counts a message that failed to decode (`decode:<kind>`).
    /// Whether the namespace's parser is socketioxide's common parser (event data as
    /// JSON text), found on first use.
    pub(crate) fn json_parser(&self) -> bool {
        *self
            .json_parser
            .get_or_init(|| crate::convert::is_json_parser(self.local.parser()))
    }

    pub(crate) fn decode_failed(&self, msg: &Message, e: &sio_redis_wire::DecodeError) {
        self.drop_message(&format!("decode:{}", e.kind()), msg, e);
    }
}
