//! Requests that collect one reply per other server, until the expected count or the
//! deadline.

use socketioxide_core::adapter::SocketEmitter;
use tokio::sync::mpsc;
use tracing::Instrument;

use super::pending::{Delivery, Waiter};
use super::{Codec, Engine, Outgoing, Reply};
use crate::convert;
use crate::error::Error;

/// The replies of a request; on failure the error with the replies that did arrive.
pub(super) type Replies = Result<Vec<Reply>, (Error, Vec<Reply>)>;

impl<E: SocketEmitter, C: Codec> Engine<E, C> {
    /// Publishes the request `make(request_id)` and waits for one reply from each other
    /// server ([`Codec::server_count`] less this one), up to `requestsTimeout`. `name` is
    /// Node's name of the request, for [`Error::Timeout`]. With no other server, returns
    /// no replies at once without publishing.
    ///
    /// Traced as the span `sio_redis.request` (fields `request`: the name, `nsp`,
    /// `request_id`, `expected` and `answered` server counts); its duration and timeout
    /// are recorded in [`crate::metrics`].
    pub(super) async fn request(
        &self,
        name: &'static str,
        make: impl FnOnce(String) -> Outgoing,
    ) -> Replies {
        let span = tracing::info_span!(
            "sio_redis.request",
            request = name,
            nsp = %self.nsp,
            request_id = tracing::field::Empty,
            expected = tracing::field::Empty,
            answered = tracing::field::Empty,
        );
        self.request_in(name, make, &span)
            .instrument(span.clone())
            .await
    }

    async fn request_in(
        &self,
        name: &'static str,
        make: impl FnOnce(String) -> Outgoing,
        span: &tracing::Span,
    ) -> Replies {
        let numsub = self
            .codec
            .server_count(&self.state.inner.transport)
            .await
            .map_err(|e| (e.into(), Vec::new()))?;
        self.metrics.servers.set(numsub as f64);
        let expected = usize::try_from(numsub)
            .unwrap_or(usize::MAX)
            .saturating_sub(1);
        if expected == 0 {
            return Ok(Vec::new());
        }
        let request_id = C::new_request_id();
        span.record("request_id", request_id.as_str());
        span.record("expected", expected);
        let (tx, mut rx) = mpsc::channel(expected.min(1 << 16));
        let _guard = self
            .pending
            .register(request_id.clone(), Waiter::Responses(tx));
        self.publish(make(request_id))
            .await
            .map_err(|e| (e, Vec::new()))?;
        let started = tokio::time::Instant::now();
        let deadline = started + self.state.inner.engine.requests_timeout;
        // `expected` comes from Redis (NUMSUB): room grows with the answers, not
        // with what the reply claims.
        let mut responses = Vec::with_capacity(expected.min(64));
        while responses.len() < expected {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(r)) => responses.push(r),
                Ok(None) | Err(_) => {
                    span.record("answered", responses.len());
                    self.metrics.request_done(name, started.elapsed(), true);
                    tracing::debug!(answered = responses.len(), expected, "request timed out");
                    let err = Error::Timeout {
                        request: name,
                        received: responses.len(),
                        expected,
                    };
                    return Err((err, responses));
                }
            }
        }
        span.record("answered", responses.len());
        self.metrics.request_done(name, started.elapsed(), false);
        Ok(responses)
    }

    /// Whether `request_id` is one of this server's pending requests (Node ignores its
    /// own requests this way).
    pub(crate) fn is_own_request(&self, request_id: &str) -> bool {
        self.pending.contains(request_id)
    }

    /// Hands a reply that arrived on `msg` to the request `request_id` waiting for it;
    /// a client count above `max_remote_client_count` is dropped as malformed (as if
    /// that server had not answered). Replies nobody waits for are ignored.
    pub(crate) fn on_reply(
        &self,
        msg: &sio_redis_transport::Message,
        request_id: &str,
        reply: Reply,
    ) {
        let parser = self.local.parser();
        let max = self.state.inner.engine.max_remote_client_count;
        let delivery = self.pending.deliver(request_id, reply, max, |packet| {
            let args: Vec<sio_redis_wire::Value> = packet.into_iter().collect();
            convert::ack_to_sio(parser, &args).ok()
        });
        if let Delivery::ClientCountTooLarge(n) = delivery {
            self.drop_message(
                "malformed:client_count",
                msg,
                &format_args!(
                    "a client count of {n} is above max_remote_client_count ({max}); \
                     counted as no answer from that server"
                ),
            );
        }
    }

    /// Requests still waiting for replies.
    pub(super) fn pending_len(&self) -> usize {
        self.pending.len()
    }
}
