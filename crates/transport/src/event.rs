//! Connection-state events and counters.

use std::fmt;
use std::time::Duration;

use ::metrics::Label;

use crate::message::SubscriptionId;
use crate::metrics::{self, Count, RoleSet};
use crate::stream::StreamId;

/// Which of the transport's connections an event or error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Role {
    /// The multiplexed connection that runs `PUBLISH` and `PUBSUB NUMSUB`.
    Publisher,
    /// The dedicated connection in subscribed mode (`SUBSCRIBE`,
    /// `PSUBSCRIBE`) that receives the messages.
    Subscriber,
    /// The dedicated connection of a stream reader
    /// ([`Transport::read_stream`](crate::Transport::read_stream)), blocked in
    /// `XREAD`; one per reader. Its events carry no stream name: see
    /// [`ConnectionEvent::StreamResumed`] for that.
    StreamReader,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Publisher => "publisher",
            Role::Subscriber => "subscriber",
            Role::StreamReader => "stream reader",
        })
    }
}

/// A change of connection state, from
/// [`Transport::events`](crate::Transport::events).
///
/// Events go through a `tokio::sync::broadcast` channel of
/// [`TransportConfig::event_capacity`](crate::TransportConfig::event_capacity)
/// entries: a receiver that falls that far behind gets
/// `RecvError::Lagged` and misses the oldest ones; the transport itself never
/// waits for receivers.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ConnectionEvent {
    /// The connection of `role` was re-established (the initial connection
    /// made by [`Transport::connect`](crate::Transport::connect) is reported
    /// too, before anyone can listen, so receivers normally see only
    /// reconnections). The subscriber reports it once the new connection has
    /// re-subscribed everything, right before
    /// [`ConnectionEvent::Resubscribed`].
    Connected {
        /// Which connection.
        role: Role,
    },
    /// The connection of `role` was lost (closed by the server, I/O error,
    /// failed health-check `PING`); reconnection starts at once.
    Disconnected {
        /// Which connection.
        role: Role,
        /// Why, as text.
        error: String,
    },
    /// After a reconnect, the subscriber sent `SUBSCRIBE` for every
    /// registered channel, `PSUBSCRIBE` for every registered pattern and
    /// `SSUBSCRIBE` for every registered shard channel, and Redis confirmed
    /// them all. Messages published during the outage are lost (pub/sub is
    /// at-most-once).
    Resubscribed {
        /// Distinct channels subscribed again.
        channels: usize,
        /// Distinct patterns subscribed again.
        patterns: usize,
        /// Distinct shard channels subscribed again.
        shard_channels: usize,
        /// From the moment the loss was noticed to the confirmation of the
        /// last subscription.
        outage: Duration,
    },
    /// After a reconnect, Redis refused to subscribe one subscription again
    /// (e.g. `NOPERM`: an ACL rule revoked meanwhile). It was removed (its
    /// handler is not called any more); every other subscription was
    /// subscribed again.
    SubscriptionRefused {
        /// The removed subscription.
        id: SubscriptionId,
        /// Redis's error, as text.
        error: String,
    },
    /// Redis Cluster dropped a subscribed shard channel by itself (an
    /// unsolicited `sunsubscribe`: its slot moved to another node, by a slot
    /// migration or a failover). The transport subscribes it on the slot's new
    /// owner; messages published on it in between are lost.
    ShardChannelMoved {
        /// The shard channel.
        channel: String,
    },
    /// A stream reader reconnected (after a `CLIENT KILL`, a restart, a reply
    /// that did not come within `block` + the response timeout, a failover or
    /// a `MOVED`) and reads again from the entry after `after`, right before
    /// its first `XREAD` on the new connection.
    StreamResumed {
        /// The stream (key).
        stream: String,
        /// The last entry id handed to the handler (or where reading
        /// started), from which reading goes on.
        after: StreamId,
        /// From the moment the loss was noticed to the new connection being
        /// ready (trim check included).
        outage: Duration,
    },
    /// A stream reader found, on (re)connecting, that the stream was trimmed
    /// past the last entry it read (`XADD … MAXLEN ~`, `XTRIM`): the stream's
    /// first entry (`XINFO STREAM`) is greater than the successor of the
    /// reader's last id, so that entry is gone, and entries between it and
    /// `first` that the reader never saw may be gone too. How many (if any)
    /// is not known: a report is false only when the trimming stopped exactly
    /// after the last entry read. Reported once per `first`, counted in
    /// [`TransportStats::stream_gaps`]. Not detected for entries trimmed while
    /// the reader stays connected but falls behind, nor for `XDEL`.
    StreamTrimmed {
        /// The stream (key).
        stream: String,
        /// The reader's last id.
        after: StreamId,
        /// The stream's first entry now; reading goes on with it.
        first: StreamId,
        /// How many entries were trimmed before the reader read them: the
        /// stream's `entries-added` minus its `length` (`XINFO STREAM`, Redis
        /// ≥ 7.0), minus the reader's position in that count (entries `XDEL`ed
        /// count as trimmed). `None` when not known: Redis before 7.0, or a
        /// reader started at [`StreamStart::After`](crate::StreamStart::After)
        /// that has not been through a trim yet.
        lost: Option<u64>,
    },
    /// The reconnect loop of `role` stopped after
    /// [`Backoff::max_retries`](crate::Backoff::max_retries) failed attempts
    /// in a row (never with the default back-off). Operations of that role
    /// now fail with [`TransportError::GaveUp`](crate::TransportError::GaveUp).
    GaveUp {
        /// Which connection.
        role: Role,
        /// Failed attempts in a row.
        attempts: u32,
        /// The last error, as text.
        error: String,
    },
}

/// A snapshot of the transport's counters, from
/// [`Transport::stats`](crate::Transport::stats). All counters start at 0
/// and only grow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransportStats {
    /// Successful `PUBLISH` commands.
    pub published: u64,
    /// Messages received on the subscriber connection (`message` and
    /// `pmessage`), whether or not a handler still wanted them.
    pub received: u64,
    /// Successful reconnections, every role, stream readers included (the
    /// initial connections are not counted).
    pub reconnects: u64,
    /// Completed re-subscriptions after a subscriber reconnect (one per
    /// [`ConnectionEvent::Resubscribed`]).
    pub resubscriptions: u64,
    /// `PUBLISH` calls that returned an error (including
    /// [`TransportError::NotConnected`](crate::TransportError::NotConnected)
    /// and timeouts).
    pub publish_errors: u64,
    /// Queued `PUBLISH`es dropped unsent: older than the offline buffer's
    /// age limit, or still queued when the transport closed. (Messages
    /// refused because the queue was full are in `publish_errors`.)
    pub publish_dropped: u64,
    /// Messages dropped unread because their payload was over
    /// [`TransportConfig::max_message_bytes`](crate::TransportConfig::max_message_bytes)
    /// (skipped without being buffered; the connection stays up).
    pub oversized_dropped: u64,
    /// Liveness probes sent on an idle subscriber connection (see
    /// [`TransportConfig::probe_interval`](crate::TransportConfig::probe_interval)).
    pub probes: u64,
    /// Probes that found the subscription gone (0 receivers, or not back
    /// within twice the response timeout); each replaced the subscriber
    /// connection.
    pub probe_failures: u64,
    /// Redis Cluster redirects followed (`MOVED` and `ASK` answers to
    /// commands routed by slot, and `MOVED` answers to a stream reader's
    /// `XREAD`).
    pub redirects: u64,
    /// Stream entries handed to stream readers' handlers (every reader of
    /// the transport).
    pub stream_entries: u64,
    /// Possible gaps found by stream readers: (re)connections after which the
    /// stream turned out trimmed past the reader's last id (one per
    /// [`ConnectionEvent::StreamTrimmed`]).
    pub stream_gaps: u64,
    /// Stream entries skipped unread because one entry alone was over
    /// [`TransportConfig::max_message_bytes`](crate::TransportConfig::max_message_bytes)
    /// (its id is learnt by a small Lua script, and reading goes on after it).
    pub stream_oversized: u64,
    /// Stream entries Redis acknowledged to the stream writer
    /// ([`Transport::xadd`](crate::Transport::xadd) and
    /// [`Transport::xadd_queued`](crate::Transport::xadd_queued)), those found
    /// in the stream after their reply was lost included.
    pub stream_added: u64,
    /// `XADD`s Redis refused (`WRONGTYPE`, `NOPERM`, `OOM`…; not written
    /// again), and entries refused because the offline buffer was full
    /// ([`TransportError::BufferFull`](crate::TransportError::BufferFull)).
    pub stream_add_errors: u64,
    /// Queued `XADD`s dropped: older than the offline buffer's age limit
    /// (unwritten, or in doubt and not checkable in time), or still queued when
    /// the transport closed or gave up.
    pub stream_add_dropped: u64,
    /// `XADD`s whose reply was lost after they were written (connection lost
    /// or reply timeout): each was then looked for in its stream.
    pub stream_in_doubt: u64,
    /// Of those, found in the stream (Redis had added them): not written again.
    pub stream_found: u64,
    /// Of those, not found (Redis had not added them): written again.
    pub stream_rewritten: u64,
    /// Stream entries trimmed before a stream reader read them (the sum of
    /// [`ConnectionEvent::StreamTrimmed`]'s `lost`, where known).
    pub stream_trimmed: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) published: Count,
    pub(crate) received: Count,
    pub(crate) reconnects: Count,
    pub(crate) resubscriptions: Count,
    pub(crate) publish_errors: Count,
    pub(crate) publish_dropped: Count,
    pub(crate) oversized_dropped: Count,
    pub(crate) probes: Count,
    pub(crate) probe_failures: Count,
    pub(crate) redirects: Count,
    pub(crate) stream_entries: Count,
    pub(crate) stream_gaps: Count,
    pub(crate) stream_oversized: Count,
    pub(crate) stream_added: Count,
    pub(crate) stream_add_errors: Count,
    pub(crate) stream_add_dropped: Count,
    pub(crate) stream_in_doubt: Count,
    pub(crate) stream_found: Count,
    pub(crate) stream_rewritten: Count,
    pub(crate) stream_trimmed: Count,
    /// The role-labelled metrics (`None`: [`Counters::default`], no metrics).
    roles: Option<RoleSet>,
    /// The publish queue's gauges (messages, bytes), set by `Transport::refresh_metrics`.
    queue: Option<(::metrics::Gauge, ::metrics::Gauge)>,
}

impl Counters {
    /// Counters whose metrics carry `labels` (see [`crate::metrics`]), registered with
    /// the recorder installed now.
    pub(crate) fn new(labels: &[Label]) -> Counters {
        use crate::metrics::names as n;
        let c = |name| metrics::count(name, labels);
        Counters {
            published: c(n::PUBLISHED),
            received: c(n::RECEIVED),
            reconnects: Count::default(),
            resubscriptions: c(n::RESUBSCRIPTIONS),
            publish_errors: c(n::PUBLISH_ERRORS),
            publish_dropped: c(n::PUBLISH_DROPPED),
            oversized_dropped: c(n::OVERSIZED_DROPPED),
            probes: c(n::PROBES),
            probe_failures: c(n::PROBE_FAILURES),
            redirects: c(n::REDIRECTS),
            stream_entries: c(n::STREAM_ENTRIES),
            stream_gaps: c(n::STREAM_GAPS),
            stream_oversized: c(n::STREAM_OVERSIZED),
            stream_added: c(n::STREAM_ADDED),
            stream_add_errors: c(n::STREAM_ADD_ERRORS),
            stream_add_dropped: c(n::STREAM_ADD_DROPPED),
            stream_in_doubt: c(n::STREAM_IN_DOUBT),
            stream_found: c(n::STREAM_FOUND),
            stream_rewritten: c(n::STREAM_REWRITTEN),
            stream_trimmed: c(n::STREAM_TRIMMED),
            roles: Some(RoleSet::new(labels)),
            queue: Some((
                ::metrics::gauge!(n::PUBLISH_QUEUE_MESSAGES, labels.iter()),
                ::metrics::gauge!(n::PUBLISH_QUEUE_BYTES, labels.iter()),
            )),
        }
    }

    /// Sets the publish queue's gauges.
    pub(crate) fn set_queue_depth(&self, messages: usize, bytes: usize) {
        if let Some((m, b)) = &self.queue {
            m.set(messages as f64);
            b.set(bytes as f64);
        }
    }

    pub(crate) fn incr(counter: &Count) {
        counter.add(1);
    }

    /// Counts a re-established connection of `role`, and its outage when measured.
    pub(crate) fn reconnected(&self, role: Role, outage: Option<Duration>) {
        self.reconnects.add(1);
        if let Some(r) = &self.roles {
            r.get(role).reconnects.increment(1);
        }
        if let Some(outage) = outage {
            metrics::record_outage(self.roles.as_ref(), role, outage);
        }
    }

    /// The `connected` gauge of `role`, if metrics are on.
    pub(crate) fn connected_gauge(&self, role: Role) -> Option<::metrics::Gauge> {
        self.roles.as_ref().map(|r| r.get(role).connected.clone())
    }

    /// Sets the `connected` gauge of `role`.
    pub(crate) fn set_connected(&self, role: Role, up: bool) {
        if let Some(r) = &self.roles {
            r.get(role).connected.set(if up { 1.0 } else { 0.0 });
        }
    }

    pub(crate) fn snapshot(&self) -> TransportStats {
        TransportStats {
            published: self.published.get(),
            received: self.received.get(),
            reconnects: self.reconnects.get(),
            resubscriptions: self.resubscriptions.get(),
            publish_errors: self.publish_errors.get(),
            publish_dropped: self.publish_dropped.get(),
            oversized_dropped: self.oversized_dropped.get(),
            probes: self.probes.get(),
            probe_failures: self.probe_failures.get(),
            redirects: self.redirects.get(),
            stream_entries: self.stream_entries.get(),
            stream_gaps: self.stream_gaps.get(),
            stream_oversized: self.stream_oversized.get(),
            stream_added: self.stream_added.get(),
            stream_add_errors: self.stream_add_errors.get(),
            stream_add_dropped: self.stream_add_dropped.get(),
            stream_in_doubt: self.stream_in_doubt.get(),
            stream_found: self.stream_found.get(),
            stream_rewritten: self.stream_rewritten.get(),
            stream_trimmed: self.stream_trimmed.get(),
        }
    }
}
