//! The adapters' metrics, through the [`metrics`] facade (no exporter is forced on the
//! application): every name in one place ([`names`]), handles registered once per
//! namespace adapter, recorded where [`AdapterStats`](crate::AdapterStats) counts.
//!
//! Prometheus style: `sio_redis_…`, units in the names, `_total` for counters. Labels:
//! `adapter` (`classic`, `sharded`, `streams`), `namespace` (the first
//! [`MAX_NAMESPACE_LABELS`] namespaces of a process by name, [`OTHER_NAMESPACE`] for the
//! rest, so that dynamic namespaces cannot grow the series without bound), and `type` or
//! `reason` where said. The transport's own metrics (`sio_redis_transport_…`, per
//! connection role) are in [`sio_redis_transport::metrics`].
//!
//! Handles are taken when a namespace adapter is made: install the recorder (e.g.
//! `metrics_exporter_prometheus::PrometheusBuilder::install_recorder`) before
//! connecting, or nothing is recorded.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use metrics::{Counter, Gauge, Label};

use crate::engine::{Outgoing, Reply};
use crate::kind::AdapterKind;

/// The metric names of the adapters (see the README's metric list).
pub mod names {
    /// Counter, labels `adapter`, `namespace`, `type`: messages this server
    /// published, by message type ([`MessageType::label`](super::MessageType::label)).
    pub const MESSAGES_PUBLISHED: &str = "sio_redis_messages_published_total";
    /// Counter, labels `adapter`, `namespace`: bytes of the published payloads (the
    /// encoded message; for a stream entry, its field values).
    pub const PUBLISHED_BYTES: &str = "sio_redis_published_bytes_total";
    /// Counter, labels `adapter`, `namespace`: messages (and stream entries) received
    /// from Redis for the namespace, before decoding.
    pub const MESSAGES_RECEIVED: &str = "sio_redis_messages_received_total";
    /// Counter, labels `adapter`, `namespace`: bytes of the received payloads.
    pub const RECEIVED_BYTES: &str = "sio_redis_received_bytes_total";
    /// Counter, labels `adapter`, `reason`: received messages dropped (`decode:json`,
    /// `foreign_namespace`, `unknown_type`, `malformed:client_count`, `overloaded`, …,
    /// the keys of [`AdapterStats::dropped`](crate::AdapterStats::dropped)).
    pub const MESSAGES_DROPPED: &str = "sio_redis_messages_dropped_total";
    /// Gauge, labels `adapter`, `namespace`: this server's requests waiting for
    /// answers (fetchSockets, allRooms, serverSideEmit with ack, broadcast with ack).
    pub const REQUESTS_PENDING: &str = "sio_redis_requests_pending";
    /// Histogram, labels `adapter`, `namespace`, `type` (`fetchSockets`, `allRooms`,
    /// `serverSideEmit`): seconds from publishing a request to its last expected
    /// answer, or to its timeout.
    pub const REQUEST_DURATION_SECONDS: &str = "sio_redis_request_duration_seconds";
    /// Counter, labels `adapter`, `namespace`, `type`: requests that timed out
    /// (`requestsTimeout`) before every expected server answered.
    pub const REQUEST_TIMEOUTS: &str = "sio_redis_request_timeouts_total";
    /// Gauge, labels `adapter`, `namespace`: servers of the namespace's cluster, this
    /// one included, as last counted (`PUBSUB NUMSUB` / `SHARDNUMSUB`).
    pub const SERVERS: &str = "sio_redis_servers";
}

/// How many distinct namespaces get a `namespace` label of their own (per process).
pub const MAX_NAMESPACE_LABELS: usize = 64;

/// The `namespace` label of the namespaces past [`MAX_NAMESPACE_LABELS`].
pub const OTHER_NAMESPACE: &str = "_other";

/// The `namespace` label value of `nsp`: itself while fewer than
/// [`MAX_NAMESPACE_LABELS`] names were seen, else [`OTHER_NAMESPACE`].
fn namespace_label(nsp: &str) -> String {
    static SEEN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let mut seen = crate::state::lock(SEEN.get_or_init(Mutex::default));
    if seen.contains(nsp) {
        return nsp.to_owned();
    }
    if seen.len() < MAX_NAMESPACE_LABELS {
        seen.insert(nsp.to_owned());
        return nsp.to_owned();
    }
    OTHER_NAMESPACE.to_owned()
}

/// The type of a published message, the `type` label of
/// [`names::MESSAGES_PUBLISHED`]: the message types of socket.io-adapter 2.5's
/// ClusterAdapter and of `@socket.io/redis-adapter` 8.3, in snake case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MessageType {
    /// A broadcast without acknowledgements.
    Broadcast,
    /// A broadcast with acknowledgements (the request).
    BroadcastWithAck,
    /// socketsJoin.
    SocketsJoin,
    /// socketsLeave.
    SocketsLeave,
    /// disconnectSockets.
    DisconnectSockets,
    /// fetchSockets (the request).
    FetchSockets,
    /// allRooms (the request).
    AllRooms,
    /// serverSideEmit, with or without acknowledgement.
    ServerSideEmit,
    /// An answer to another server's request (fetchSockets, allRooms, the legacy
    /// classic requests).
    Response,
    /// An acknowledgement of another server's serverSideEmit.
    ServerSideEmitResponse,
    /// How many local clients another server's broadcast with ack reached.
    BroadcastClientCount,
    /// A client's acknowledgement of another server's broadcast.
    BroadcastAck,
}

impl MessageType {
    const ALL: [MessageType; 12] = [
        MessageType::Broadcast,
        MessageType::BroadcastWithAck,
        MessageType::SocketsJoin,
        MessageType::SocketsLeave,
        MessageType::DisconnectSockets,
        MessageType::FetchSockets,
        MessageType::AllRooms,
        MessageType::ServerSideEmit,
        MessageType::Response,
        MessageType::ServerSideEmitResponse,
        MessageType::BroadcastClientCount,
        MessageType::BroadcastAck,
    ];

    /// The label value (`broadcast`, `broadcast_with_ack`, `sockets_join`,
    /// `sockets_leave`, `disconnect_sockets`, `fetch_sockets`, `all_rooms`,
    /// `server_side_emit`, `response`, `server_side_emit_response`,
    /// `broadcast_client_count`, `broadcast_ack`).
    pub fn label(self) -> &'static str {
        match self {
            MessageType::Broadcast => "broadcast",
            MessageType::BroadcastWithAck => "broadcast_with_ack",
            MessageType::SocketsJoin => "sockets_join",
            MessageType::SocketsLeave => "sockets_leave",
            MessageType::DisconnectSockets => "disconnect_sockets",
            MessageType::FetchSockets => "fetch_sockets",
            MessageType::AllRooms => "all_rooms",
            MessageType::ServerSideEmit => "server_side_emit",
            MessageType::Response => "response",
            MessageType::ServerSideEmitResponse => "server_side_emit_response",
            MessageType::BroadcastClientCount => "broadcast_client_count",
            MessageType::BroadcastAck => "broadcast_ack",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    pub(crate) fn of_outgoing(msg: &Outgoing) -> MessageType {
        match msg {
            Outgoing::Broadcast { .. } => MessageType::Broadcast,
            Outgoing::BroadcastWithAck { .. } => MessageType::BroadcastWithAck,
            Outgoing::SocketsJoin { .. } => MessageType::SocketsJoin,
            Outgoing::SocketsLeave { .. } => MessageType::SocketsLeave,
            Outgoing::DisconnectSockets { .. } => MessageType::DisconnectSockets,
            Outgoing::FetchSockets { .. } => MessageType::FetchSockets,
            Outgoing::AllRooms { .. } => MessageType::AllRooms,
            Outgoing::ServerSideEmit { .. } => MessageType::ServerSideEmit,
        }
    }

    pub(crate) fn of_reply(reply: &Reply) -> MessageType {
        match reply {
            Reply::ServerSideEmit(_) => MessageType::ServerSideEmitResponse,
            Reply::ClientCount(_) => MessageType::BroadcastClientCount,
            Reply::Ack(_) => MessageType::BroadcastAck,
            Reply::SocketIds(_) | Reply::Sockets(_) | Reply::Rooms(_) | Reply::Done => {
                MessageType::Response
            }
        }
    }
}

/// The handles of one namespace adapter, registered once (one atomic add per message on
/// the hot path, no lookup).
#[derive(Debug)]
pub(crate) struct NamespaceMetrics {
    labels: Vec<Label>,
    published: [Counter; MessageType::ALL.len()],
    published_bytes: Counter,
    pub(crate) received: Counter,
    pub(crate) received_bytes: Counter,
    pub(crate) pending: Gauge,
    pub(crate) servers: Gauge,
}

impl NamespaceMetrics {
    /// The handles of namespace `nsp` of an adapter of kind `kind` over a transport
    /// whose metrics carry `base` (its `adapter` label is added when missing).
    pub(crate) fn new(kind: AdapterKind, nsp: &str, base: &[Label]) -> NamespaceMetrics {
        let mut labels = base_labels(kind, base);
        labels.push(Label::new("namespace", namespace_label(nsp)));
        let published = MessageType::ALL.map(|t| {
            let mut l = labels.clone();
            l.push(Label::from_static_parts("type", t.label()));
            metrics::counter!(names::MESSAGES_PUBLISHED, l.iter())
        });
        NamespaceMetrics {
            published,
            published_bytes: metrics::counter!(names::PUBLISHED_BYTES, labels.iter()),
            received: metrics::counter!(names::MESSAGES_RECEIVED, labels.iter()),
            received_bytes: metrics::counter!(names::RECEIVED_BYTES, labels.iter()),
            pending: metrics::gauge!(names::REQUESTS_PENDING, labels.iter()),
            servers: metrics::gauge!(names::SERVERS, labels.iter()),
            labels,
        }
    }

    /// Counts one published message of type `t`, of `bytes` bytes.
    pub(crate) fn published(&self, t: MessageType, bytes: usize) {
        self.published[t.index()].increment(1);
        self.published_bytes.increment(bytes as u64);
    }

    /// Counts one received message of `bytes` bytes.
    pub(crate) fn received(&self, bytes: usize) {
        self.received.increment(1);
        self.received_bytes.increment(bytes as u64);
    }

    /// Records a finished request of type `name` (Node's name): its duration and
    /// whether it timed out. Requests are rare next to messages: looked up per call.
    pub(crate) fn request_done(&self, name: &'static str, took: Duration, timed_out: bool) {
        let mut l = self.labels.clone();
        l.push(Label::from_static_parts("type", name));
        metrics::histogram!(names::REQUEST_DURATION_SECONDS, l.iter()).record(took.as_secs_f64());
        if timed_out {
            metrics::counter!(names::REQUEST_TIMEOUTS, l.iter()).increment(1);
        }
    }
}

/// `base` (the transport's labels) with `adapter = kind` when it has no `adapter`.
pub(crate) fn base_labels(kind: AdapterKind, base: &[Label]) -> Vec<Label> {
    let mut labels = base.to_vec();
    if !labels.iter().any(|l| l.key() == "adapter") {
        labels.push(Label::new("adapter", kind.to_string()));
    }
    labels
}

/// Counts a dropped message of reason `reason` (cold path: looked up per call).
pub(crate) fn dropped(labels: &[Label], reason: &str) {
    let mut l = labels.to_vec();
    l.push(Label::new("reason", reason.to_owned()));
    metrics::counter!(names::MESSAGES_DROPPED, l.iter()).increment(1);
}
