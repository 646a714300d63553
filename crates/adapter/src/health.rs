//! [`Health`]: what an operator or a probe asks of a [`RedisAdapterState`]
//! ([`RedisAdapterState::health`]): is it connected, subscribed, still receiving, and
//! if not, why.
//!
//! Readiness (e.g. a Kubernetes `readinessProbe` on the peer node's `GET /healthz`):
//! [`Health::is_ready`] is true while the publisher connection is up, the subscriber is
//! up with every registered channel, pattern and shard channel confirmed by Redis, every
//! stream reader runs, and the state is not closed. While it is false, broadcasts from
//! other servers are being lost (pub/sub is at-most-once) or this server's are queued;
//! take the node out of the load balancer, do not restart it: the transport reconnects
//! by itself and readiness comes back with the resubscription. A liveness probe should
//! not use it.

use std::time::{Duration, Instant};

use crate::kind::AdapterKind;
use crate::state::{RedisAdapterState, lock};

/// A snapshot of an adapter state's health, from [`RedisAdapterState::health`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Health {
    /// The adapter kind.
    pub adapter: AdapterKind,
    /// The publisher connection is up (as far as the transport knows: a loss is seen by
    /// a failing command, the health-check `PING`, or at once under RESP3).
    pub publisher_connected: bool,
    /// The subscriber connection is up and Redis confirmed every registered channel,
    /// pattern and shard channel (false from the moment a loss is noticed until the
    /// resubscription completes).
    pub subscribed: bool,
    /// The namespaces whose adapter is initialised and serving, sorted.
    pub namespaces: Vec<String>,
    /// Time since the last message (or stream entry) from Redis was received, or
    /// `None` when none was received yet. Measured between calls of
    /// [`RedisAdapterState::health`]: accurate to the interval between two calls (no
    /// clock is read per message). A quiet cluster has old messages too: this is
    /// information, not a reason for being degraded.
    pub last_message_age: Option<Duration>,
    /// Why the state is not ready, in short words (`"closed"`, `"publisher
    /// disconnected"`, `"subscriber not subscribed"`, `"stream reader stopped:
    /// <stream>"`); empty when ready.
    pub degraded: Vec<String>,
}

impl Health {
    /// Whether the adapter is connected and subscribed ([`Health::degraded`] is empty);
    /// see the module documentation for what readiness means.
    pub fn is_ready(&self) -> bool {
        self.degraded.is_empty()
    }

    /// The reasons of [`Health::degraded`] joined by `"; "`, or `"ok"`.
    pub fn reason(&self) -> String {
        if self.degraded.is_empty() {
            "ok".to_owned()
        } else {
            self.degraded.join("; ")
        }
    }
}

/// When the received count last changed, as seen by `health()` calls.
#[derive(Debug, Default)]
pub(crate) struct LastSeen(std::sync::Mutex<Option<(u64, Instant)>>);

impl LastSeen {
    /// The age of the last message, given the received count now.
    fn age(&self, received: u64) -> Option<Duration> {
        let mut seen = lock(&self.0);
        let now = Instant::now();
        match *seen {
            Some((count, at)) if count == received => Some(now - at),
            _ if received == 0 => None,
            _ => {
                *seen = Some((received, now));
                Some(Duration::ZERO)
            }
        }
    }
}

impl RedisAdapterState {
    /// Sets the gauges that are read rather than counted (the transport's publish queue
    /// depth, see [`Transport::refresh_metrics`](sio_redis_transport::Transport::refresh_metrics))
    /// to their values now; call it before rendering the metrics (the peer node and the
    /// demo do on each `GET /metrics`; [`RedisAdapterState::health`] does too).
    pub fn refresh_metrics(&self) {
        self.inner.transport.refresh_metrics();
    }

    /// The health of this state: connections, subscriptions, the age of the last
    /// message, and the reasons for not being ready (see [`Health`] and the module
    /// documentation of readiness). Cheap (no Redis round trip): call it from a probe.
    pub fn health(&self) -> Health {
        self.refresh_metrics();
        let inner = &self.inner;
        let transport = &inner.transport;
        let closed = inner.tasks.is_closed();
        let publisher_connected = transport.is_publisher_connected();
        let subscribed = transport.is_connected();
        let mut degraded = Vec::new();
        if closed {
            degraded.push("closed".to_owned());
        } else {
            if !publisher_connected {
                degraded.push("publisher disconnected".to_owned());
            }
            if !subscribed {
                degraded.push("subscriber not subscribed".to_owned());
            }
            for stream in inner.stream_readers.stopped() {
                degraded.push(format!("stream reader stopped: {stream}"));
            }
        }
        let mut namespaces: Vec<String> = lock(&inner.namespaces)
            .iter()
            .filter(|(_, w)| w.strong_count() > 0)
            .map(|(n, _)| n.clone())
            .collect();
        namespaces.sort();
        let received = inner
            .counters
            .received
            .load(std::sync::atomic::Ordering::Relaxed);
        Health {
            adapter: inner.kind,
            publisher_connected,
            subscribed,
            namespaces,
            last_message_age: inner.last_seen.age(received),
            degraded,
        }
    }
}
