//! The stream of acknowledgements of a broadcast with acknowledgements: the local
//! sockets' acks (socketioxide's own stream) merged with the acks the other servers
//! forward (`BROADCAST_CLIENT_COUNT` then `BROADCAST_ACK`, PROTOCOL.md §1.6).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::{FusedStream, Stream};
use socketioxide_core::Sid;
use socketioxide_core::adapter::{AckStreamItem, SocketEmitter};
use tokio::time::Sleep;

use super::pending::{AckInbox, PendingGuard};

/// Acknowledgements of one broadcast, local and remote.
///
/// It ends when every server counted by Redis (subscribers of the request channel) has
/// sent its client count and every counted client has acknowledged, or at the timeout.
/// At the timeout, each acknowledgement still missing from a counted remote client is
/// yielded as a timeout error (remote acknowledgements carry no socket id, so remote
/// items get a fresh [`Sid`] each).
///
/// Bounded: a server's client count above
/// [`ClassicConfig::max_remote_client_count`](crate::ClassicConfig::max_remote_client_count)
/// is not counted (as if that server had not answered), the sum of the counts saturates,
/// and the timeout errors for remote clients are at most that limit × the servers Redis
/// counted when the request was published.
pub struct AckStream<E: SocketEmitter> {
    local: Pin<Box<E::AckStream>>,
    inbox: Arc<AckInbox>,
    expected_servers: usize,
    /// Most timeout errors yielded for remote clients.
    max_remote_timeouts: u64,
    deadline: Pin<Box<Sleep>>,
    timed_out: bool,
    missing_reported: bool,
    timeouts_left: u64,
    done: bool,
    _guard: Option<PendingGuard>,
    /// The request's span (`sio_redis.broadcast_with_ack`); `answered` is recorded once,
    /// when every expected server answered or at the timeout.
    span: tracing::Span,
    answered_recorded: bool,
}

impl<E: SocketEmitter> std::fmt::Debug for AckStream<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AckStream")
            .field("expected_servers", &self.expected_servers)
            .finish()
    }
}

impl<E: SocketEmitter> AckStream<E> {
    pub(crate) fn new(
        local: E::AckStream,
        inbox: Arc<AckInbox>,
        expected_servers: usize,
        max_client_count: u64,
        timeout: std::time::Duration,
        guard: Option<PendingGuard>,
    ) -> Self {
        let servers = u64::try_from(expected_servers).unwrap_or(u64::MAX);
        Self {
            local: Box::pin(local),
            inbox,
            expected_servers,
            max_remote_timeouts: max_client_count.saturating_mul(servers),
            deadline: Box::pin(tokio::time::sleep(timeout)),
            timed_out: false,
            missing_reported: false,
            timeouts_left: 0,
            done: false,
            _guard: guard,
            span: tracing::Span::none(),
            answered_recorded: false,
        }
    }

    /// Traces the stream in `span` (which has an `answered` field to record).
    pub(crate) fn in_span(mut self, span: tracing::Span) -> Self {
        self.span = span;
        self
    }

    /// A timeout error of the emitter's acknowledgement error type (socketioxide's
    /// `AckError::Timeout`).
    fn timeout_error() -> Option<E::AckError> {
        serde_json::from_str("\"Timeout\"").ok()
    }
}

impl<E: SocketEmitter> Stream for AckStream<E> {
    type Item = AckStreamItem<E::AckError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        if !this.local.is_terminated()
            && let Poll::Ready(Some(item)) = this.local.as_mut().poll_next(cx)
        {
            return Poll::Ready(Some(item));
        }
        if !this.timed_out && this.deadline.as_mut().poll(cx).is_ready() {
            this.timed_out = true;
        }
        {
            let mut s = this.inbox.lock();
            if let Some(v) = s.acks.pop_front() {
                return Poll::Ready(Some((Sid::new(), Ok(v))));
            }
            let remote_done =
                s.servers >= this.expected_servers && s.received_acks >= s.expected_acks;
            if (remote_done || this.timed_out) && !this.answered_recorded {
                this.answered_recorded = true;
                this.span.record("answered", s.servers);
            }
            if this.timed_out && !remote_done && !this.missing_reported {
                this.missing_reported = true;
                this.timeouts_left = s
                    .expected_acks
                    .saturating_sub(s.received_acks)
                    .min(this.max_remote_timeouts);
                if s.servers < this.expected_servers {
                    tracing::debug!(
                        answered = s.servers,
                        expected = this.expected_servers,
                        "broadcast with ack: not every server sent its client count before the timeout"
                    );
                }
            }
            if !remote_done && !this.timed_out {
                s.waker = Some(cx.waker().clone());
            }
            if this.timeouts_left > 0 {
                this.timeouts_left -= 1;
                if let Some(err) = Self::timeout_error() {
                    return Poll::Ready(Some((Sid::new(), Err(err))));
                }
            }
            let local_done = this.local.is_terminated();
            if local_done && (remote_done || this.timed_out) {
                this.done = true;
                return Poll::Ready(None);
            }
        }
        Poll::Pending
    }
}

impl<E: SocketEmitter> FusedStream for AckStream<E> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}
