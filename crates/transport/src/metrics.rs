//! The transport's metrics, through the [`metrics`] facade: every name in one place
//! ([`names`]), handles registered once per transport when it connects and recorded at
//! the sites where [`TransportStats`](crate::TransportStats) counts.
//!
//! Prometheus style: `sio_redis_transport_…`, units in the names (`_seconds`,
//! `_bytes`), `_total` for counters. Every metric carries the labels given by
//! [`TransportConfig::metric_label`](crate::TransportConfig::metric_label) (the adapter
//! adds `adapter = classic | sharded | streams`); some add `role` (`publisher`,
//! `subscriber`, `stream_reader`). Nothing is recorded unless the application installed
//! a recorder (e.g. `metrics-exporter-prometheus`) **before** the transport connected:
//! handles are taken at connect time, so that the hot path does one atomic add per
//! message and no lookup.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Label};

use crate::event::Role;

/// The metric names of the transport (see the README's metric list).
pub mod names {
    /// Counter: successful `PUBLISH` / `SPUBLISH` commands (messages).
    pub const PUBLISHED: &str = "sio_redis_transport_published_total";
    /// Counter: messages received on the subscriber connections (`message`,
    /// `pmessage`, `smessage`).
    pub const RECEIVED: &str = "sio_redis_transport_received_total";
    /// Counter: `PUBLISH` calls that returned an error (not connected, timeout,
    /// refused, queue full).
    pub const PUBLISH_ERRORS: &str = "sio_redis_transport_publish_errors_total";
    /// Counter: queued messages dropped unsent (older than the offline buffer's age
    /// limit, or queued at close).
    pub const PUBLISH_DROPPED: &str = "sio_redis_transport_publish_dropped_total";
    /// Counter: pub/sub messages dropped unread for being over `max_message_bytes`.
    pub const OVERSIZED_DROPPED: &str = "sio_redis_transport_oversized_dropped_total";
    /// Counter, label `role`: connections re-established (initial ones not counted).
    pub const RECONNECTS: &str = "sio_redis_transport_reconnects_total";
    /// Histogram, label `role`: seconds from noticing a lost connection to being back
    /// (for the subscriber: every subscription confirmed again; for a stream reader:
    /// ready to read again).
    pub const OUTAGE_SECONDS: &str = "sio_redis_transport_outage_seconds";
    /// Counter: completed re-subscriptions of the subscriber after a reconnect.
    pub const RESUBSCRIPTIONS: &str = "sio_redis_transport_resubscriptions_total";
    /// Gauge, label `role` (`publisher`, `subscriber`): 1 while the connection is up
    /// (the subscriber: up and every subscription confirmed), else 0.
    pub const CONNECTED: &str = "sio_redis_transport_connected";
    /// Gauge: messages in the publish queue (the offline buffer while the publisher
    /// reconnects), as of the last `Transport::refresh_metrics`.
    pub const PUBLISH_QUEUE_MESSAGES: &str = "sio_redis_transport_publish_queue_messages";
    /// Gauge: bytes (channel names plus payloads) in the publish queue, as of the last
    /// `Transport::refresh_metrics`.
    pub const PUBLISH_QUEUE_BYTES: &str = "sio_redis_transport_publish_queue_bytes";
    /// Counter: liveness probes sent on an idle subscriber connection.
    pub const PROBES: &str = "sio_redis_transport_probes_total";
    /// Counter: probes that found the subscription gone (each replaced the connection).
    pub const PROBE_FAILURES: &str = "sio_redis_transport_probe_failures_total";
    /// Counter: Redis Cluster redirects followed (`MOVED`, `ASK`).
    pub const REDIRECTS: &str = "sio_redis_transport_redirects_total";
    /// Counter: stream entries handed to stream readers' handlers.
    pub const STREAM_ENTRIES: &str = "sio_redis_transport_stream_entries_total";
    /// Counter: possible gaps found by stream readers (stream trimmed past the last id
    /// read).
    pub const STREAM_GAPS: &str = "sio_redis_transport_stream_gaps_total";
    /// Counter: stream entries skipped for being over `max_message_bytes`.
    pub const STREAM_OVERSIZED: &str = "sio_redis_transport_stream_oversized_total";
    /// Counter: stream entries Redis acknowledged to the stream writer (`XADD`), those
    /// found in the stream after their reply was lost included.
    pub const STREAM_ADDED: &str = "sio_redis_transport_stream_added_total";
    /// Counter: `XADD`s Redis refused, and entries refused by a full offline buffer.
    pub const STREAM_ADD_ERRORS: &str = "sio_redis_transport_stream_add_errors_total";
    /// Counter: queued `XADD`s dropped (older than the offline buffer's age limit, or
    /// queued when the transport closed).
    pub const STREAM_ADD_DROPPED: &str = "sio_redis_transport_stream_add_dropped_total";
    /// Counter: `XADD`s whose reply was lost after they were written (then looked for in
    /// the stream).
    pub const STREAM_IN_DOUBT: &str = "sio_redis_transport_stream_in_doubt_total";
    /// Counter: of those, found in the stream (not written again).
    pub const STREAM_FOUND: &str = "sio_redis_transport_stream_found_total";
    /// Counter: of those, not found (written again).
    pub const STREAM_REWRITTEN: &str = "sio_redis_transport_stream_rewritten_total";
    /// Counter: stream entries trimmed (`MAXLEN`) before a stream reader read them.
    pub const STREAM_TRIMMED: &str = "sio_redis_transport_stream_trimmed_total";
}

/// The `role` label value of a connection role (snake case, unlike `Display`).
pub(crate) fn role_label(role: Role) -> &'static str {
    match role {
        Role::Publisher => "publisher",
        Role::Subscriber => "subscriber",
        Role::StreamReader => "stream_reader",
    }
}

/// One counter of [`TransportStats`](crate::TransportStats) and its metric: the atomic
/// for the snapshot, the handle for the recorder (a no-op without one).
#[derive(Debug, Default)]
pub(crate) struct Count {
    value: AtomicU64,
    metric: Option<Counter>,
}

impl Count {
    fn new(name: &'static str, labels: &[Label]) -> Count {
        Count {
            value: AtomicU64::new(0),
            metric: Some(metrics::counter!(name, labels.iter())),
        }
    }

    /// Adds `n`; returns the count before.
    pub(crate) fn add(&self, n: u64) -> u64 {
        if let Some(m) = &self.metric {
            m.increment(n);
        }
        self.value.fetch_add(n, Ordering::Relaxed)
    }

    /// The count so far.
    pub(crate) fn get(&self) -> u64 {
        self.value.load(Ordering::Relaxed)
    }
}

/// The role-labelled metrics of one role.
#[derive(Debug)]
pub(crate) struct RoleMetrics {
    pub(crate) reconnects: Counter,
    pub(crate) outage: Histogram,
    pub(crate) connected: Gauge,
}

impl RoleMetrics {
    fn new(role: Role, labels: &[Label]) -> RoleMetrics {
        let mut labels = labels.to_vec();
        labels.push(Label::from_static_parts("role", role_label(role)));
        RoleMetrics {
            reconnects: metrics::counter!(names::RECONNECTS, labels.iter()),
            outage: metrics::histogram!(names::OUTAGE_SECONDS, labels.iter()),
            connected: metrics::gauge!(names::CONNECTED, labels.iter()),
        }
    }
}

/// Every role-labelled handle, registered once.
#[derive(Debug)]
pub(crate) struct RoleSet {
    publisher: RoleMetrics,
    subscriber: RoleMetrics,
    stream_reader: RoleMetrics,
}

impl RoleSet {
    pub(crate) fn new(labels: &[Label]) -> RoleSet {
        RoleSet {
            publisher: RoleMetrics::new(Role::Publisher, labels),
            subscriber: RoleMetrics::new(Role::Subscriber, labels),
            stream_reader: RoleMetrics::new(Role::StreamReader, labels),
        }
    }

    pub(crate) fn get(&self, role: Role) -> &RoleMetrics {
        match role {
            Role::Publisher => &self.publisher,
            Role::Subscriber => &self.subscriber,
            Role::StreamReader => &self.stream_reader,
        }
    }
}

/// The handles of [`Counters`](crate::event::Counters) made with labels `labels`.
pub(crate) fn count(name: &'static str, labels: &[Label]) -> Count {
    Count::new(name, labels)
}

/// Records an outage of `role` (seconds).
pub(crate) fn record_outage(roles: Option<&RoleSet>, role: Role, outage: Duration) {
    if let Some(r) = roles {
        r.get(role).outage.record(outage.as_secs_f64());
    }
}
