//! Counters of what the adapters received and dropped, with a log line the first time
//! each kind of bad message is seen.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::kind::AdapterKind;

/// A snapshot of an adapter state's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AdapterStats {
    /// Messages received from Redis and handled.
    pub received: u64,
    /// Messages published.
    pub published: u64,
    /// Messages dropped, by reason (`"decode:json"`, `"foreign_namespace"`,
    /// `"unknown_type"`, `"malformed:client_count"`, `"overloaded"`, …).
    pub dropped: HashMap<String, u64>,
    /// Requests from other servers being worked on now (at most
    /// [`ClassicConfig::max_concurrent_remote_requests`](crate::ClassicConfig::max_concurrent_remote_requests)).
    pub remote_requests_in_flight: u64,
    /// Streams adapter: by stream (key), how many times its reader found, on
    /// reconnecting, that the stream had been trimmed (`MAXLEN ~ <maxLen>`) past the
    /// last entry it read (each is also logged at `warn`); streams without such a gap
    /// are absent. The transport's `TransportStats::stream_gaps` is the sum.
    pub stream_gaps: HashMap<String, u64>,
    /// Streams adapter: by stream (key), how many entries were trimmed before its
    /// reader read them: lost to this server (from `XINFO STREAM`'s `entries-added`
    /// and `length`, Redis ≥ 7.0; entries deleted by `XDEL` count too). Streams without
    /// a gap are absent; on Redis before 7.0 a gap is counted in
    /// [`AdapterStats::stream_gaps`] only.
    pub stream_trimmed: HashMap<String, u64>,
}

#[derive(Debug)]
pub(crate) struct Counters {
    pub(crate) received: AtomicU64,
    pub(crate) published: AtomicU64,
    dropped: Mutex<HashMap<String, u64>>,
    /// The labels of the dropped-message metric (the transport's and `adapter`).
    labels: Vec<metrics::Label>,
}

impl Counters {
    /// Counters of an adapter of kind `kind` whose metrics carry `base` too.
    pub(crate) fn new(kind: AdapterKind, base: &[metrics::Label]) -> Counters {
        Counters {
            received: AtomicU64::new(0),
            published: AtomicU64::new(0),
            dropped: Mutex::default(),
            labels: crate::metrics::base_labels(kind, base),
        }
    }

    /// Counts a dropped message; logs the first of each kind at `warn`, the rest at
    /// `debug`. `channel` is the Redis channel it came on.
    pub(crate) fn drop_message(&self, kind: &str, channel: &str, detail: &dyn std::fmt::Display) {
        let mut dropped = self.dropped.lock().unwrap_or_else(|e| e.into_inner());
        let n = dropped.entry(kind.to_owned()).or_insert(0);
        *n += 1;
        crate::metrics::dropped(&self.labels, kind);
        if *n == 1 {
            tracing::warn!(kind, channel, %detail, "dropping a message (logged once per kind; see stats())");
        } else {
            tracing::debug!(kind, channel, %detail, "dropping a message");
        }
    }

    pub(crate) fn snapshot(
        &self,
        remote_requests_in_flight: u64,
        streams: HashMap<String, (u64, u64)>,
    ) -> AdapterStats {
        AdapterStats {
            remote_requests_in_flight,
            stream_gaps: streams.iter().map(|(s, n)| (s.clone(), n.0)).collect(),
            stream_trimmed: streams
                .into_iter()
                .filter(|(_, n)| n.1 > 0)
                .map(|(s, n)| (s, n.1))
                .collect(),
            received: self.received.load(Ordering::Relaxed),
            published: self.published.load(Ordering::Relaxed),
            dropped: self
                .dropped
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }
}
