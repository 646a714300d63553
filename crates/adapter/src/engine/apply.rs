//! What a message of another server does on this one, once its codec decoded it: local
//! operations on the namespace's sockets, and answers built and published on a bounded
//! pool of background tasks (never on the Redis subscriber task).

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;

use futures_util::StreamExt;
use sio_redis_transport::Message;
use sio_redis_wire::{BroadcastOptions, Packet, SocketDescription, Value};
use socketioxide_core::adapter::SocketEmitter;
use socketioxide_core::adapter::{BroadcastFlags as SioFlags, BroadcastOptions as SioOpts};
use socketioxide_core::packet::Packet as SioPacket;
use socketioxide_core::{Sid, Value as SioValue};

use super::opts::{remote_ack_timeout, sio_opts};
use super::{Codec, Engine, PublishMode, Reply};
use crate::convert;
use crate::metrics::MessageType;
use crate::state::{ServerSideAck, ServerSideEvent, lock};

impl<E: SocketEmitter, C: Codec> Engine<E, C> {
    /// A broadcast of another server: `value` (`[event, ...args]`, already in the
    /// namespace parser's form) to the local sockets that match `opts`.
    pub(crate) fn apply_broadcast(&self, value: SioValue, opts: &BroadcastOptions) {
        let opts = self.local_opts(opts);
        if let Err(e) = self
            .local
            .broadcast(SioPacket::event(self.nsp.clone(), value), opts)
        {
            tracing::debug!(errors = ?e, "some local sockets missed a remote broadcast");
        }
    }

    /// socketsJoin of another server: the local sockets that match `opts` join `rooms`.
    pub(crate) fn apply_join(&self, opts: &BroadcastOptions, rooms: Vec<String>) {
        let sio = self.local_opts(opts);
        self.local.add_sockets(sio, rooms);
        self.codec.rooms_joined();
    }

    /// socketsLeave of another server: the local sockets that match `opts` leave `rooms`.
    pub(crate) fn apply_leave(&self, opts: &BroadcastOptions, rooms: Vec<String>) {
        let sio = self.local_opts(opts);
        self.local.del_sockets(sio, rooms);
    }

    /// disconnectSockets of another server: the local sockets that match `opts` leave
    /// the namespace.
    pub(crate) fn apply_disconnect(&self, opts: &BroadcastOptions) {
        let sio = self.local_opts(opts);
        let _ = self.local.disconnect_socket(sio);
    }

    /// A legacy single-socket join: local socket `sid` (ignored when not a socketioxide
    /// id) joins `room`.
    pub(crate) fn apply_join_one(&self, sid: &str, room: String) {
        if let Ok(sid) = Sid::from_str(sid) {
            self.local.add_all(sid, room);
            self.codec.rooms_joined();
        }
    }

    /// A legacy single-socket leave: local socket `sid` leaves `room`.
    pub(crate) fn apply_leave_one(&self, sid: &str, room: String) {
        if let Ok(sid) = Sid::from_str(sid) {
            self.local.del(sid, room);
        }
    }

    /// A legacy single-socket disconnect: local socket `sid` leaves the namespace.
    pub(crate) fn apply_disconnect_one(&self, sid: &str) {
        if let Ok(sid) = Sid::from_str(sid) {
            let _ = self.local.disconnect_socket(SioOpts::new(sid));
        }
    }

    /// The ids of the local sockets in any of `rooms` (every local socket when empty).
    pub(crate) fn local_socket_ids(&self, rooms: Vec<String>) -> Vec<String> {
        let opts = BroadcastOptions {
            rooms,
            ..BroadcastOptions::default()
        };
        self.local
            .sockets(sio_opts(&opts))
            .into_iter()
            .map(|s| s.to_string())
            .collect()
    }

    /// Every local room, own-id rooms included (Node's `allRooms()` lists them).
    pub(crate) fn local_rooms(&self) -> Vec<String> {
        let mut all = SioOpts::default();
        all.add_flag(SioFlags::Broadcast);
        let mut rooms: std::collections::HashSet<String> = self
            .local
            .rooms(all.clone())
            .into_iter()
            .map(|r| r.to_string())
            .collect();
        rooms.extend(
            self.local
                .sockets(all)
                .into_iter()
                .map(|sid| sid.to_string()),
        );
        rooms.into_iter().collect()
    }

    /// The local sockets that match `opts`, described as Node describes them.
    pub(crate) fn describe_local(&self, opts: &BroadcastOptions) -> Vec<SocketDescription> {
        let sio = self.local_opts(opts);
        let meta = lock(&self.state.inner.socket_meta);
        self.local
            .sockets(sio)
            .into_iter()
            .map(|sid| {
                let own = sid.to_string();
                let mut rooms: Vec<String> = self
                    .local
                    .socket_rooms(sid)
                    .into_iter()
                    .map(|r| r.to_string())
                    .collect();
                if !rooms.contains(&own) {
                    rooms.insert(0, own.clone());
                }
                let m = meta.get(&(self.nsp.clone(), sid));
                SocketDescription {
                    id: own,
                    handshake: m.map(|m| m.handshake.clone()).unwrap_or_default(),
                    rooms,
                    data: m.map(|m| m.data.clone()).unwrap_or_default(),
                }
            })
            .collect()
    }

    /// Answers request `request_id` of `requester`, which arrived on `msg`: `make` builds
    /// the reply on the bounded pool ([`Engine::spawn_request`]), which then publishes it
    /// where the codec sends replies. `what` names the request in logs.
    pub(crate) fn answer(
        self: &Arc<Self>,
        msg: &Message,
        what: &str,
        requester: Option<String>,
        request_id: String,
        make: impl FnOnce(&Self) -> Reply + Send + 'static,
    ) {
        let this = self.clone();
        self.spawn_request(&msg.channel, what, async move {
            let reply = make(&this);
            let t = MessageType::of_reply(&reply);
            let Some(p) = this
                .codec
                .encode_reply(requester.as_deref(), request_id, reply)
            else {
                return;
            };
            if let Err(e) = this.send(p, PublishMode::Awaited, t).await {
                tracing::warn!(error = %e, "cannot publish a response");
            }
        });
    }

    /// serverSideEmit of another server: `data` = `[event, ...args]` to the namespace's
    /// handler; with a `request_id`, the handler gets a once-only acknowledgement whose
    /// value is sent back as [`Reply::ServerSideEmit`].
    pub(crate) fn apply_server_side_emit(
        self: &Arc<Self>,
        requester: Option<String>,
        request_id: Option<String>,
        data: Value,
    ) {
        let Value::Array(mut items) = data else {
            return;
        };
        if items.is_empty() {
            return;
        }
        let event = match items.remove(0) {
            Value::Str(e) => e,
            _ => return,
        };
        let handler = lock(&self.state.inner.sse_handlers).get(&self.nsp).cloned();
        let Some(handler) = handler else { return };
        let ack = request_id.map(|request_id| {
            let this = self.clone();
            ServerSideAck {
                send: Box::new(move |value| {
                    let Some(p) = this.codec.encode_reply(
                        requester.as_deref(),
                        request_id,
                        Reply::ServerSideEmit(value),
                    ) else {
                        return;
                    };
                    let engine = this.clone();
                    let channel = p.channel.clone();
                    this.spawn_request(&channel, "serverSideEmit acknowledgement", async move {
                        let t = MessageType::ServerSideEmitResponse;
                        if let Err(e) = engine.send(p, PublishMode::Awaited, t).await {
                            tracing::warn!(error = %e, "cannot publish a serverSideEmit acknowledgement");
                        }
                    });
                }),
            }
        });
        handler(ServerSideEvent {
            nsp: self.nsp.clone(),
            event,
            args: items,
            ack,
        });
    }

    /// A broadcast with acknowledgements of another server, which arrived on `msg`:
    /// emitted to the local sockets at once, then [`Reply::ClientCount`] and one
    /// [`Reply::Ack`] per client acknowledgement are sent back from the bounded pool,
    /// until the acknowledgement timeout (the request's `flags.timeout`, capped by
    /// `max_remote_ack_timeout`) plus `requestsTimeout`.
    pub(crate) fn apply_broadcast_with_ack(
        self: &Arc<Self>,
        requester: Option<String>,
        request_id: String,
        packet: Packet,
        opts: BroadcastOptions,
        msg: &Message,
    ) {
        // The slot is taken first: beyond the limit the broadcast is not emitted either
        // (its acknowledgements would have nowhere to go).
        let Some(permit) = self.state.inner.try_request_permit() else {
            return self.drop_overloaded(&msg.channel, "broadcast with acknowledgements");
        };
        let value = match convert::event_to_sio(self.local.parser(), &packet.data) {
            Ok(v) => v,
            Err(e) => return self.drop_message("payload", msg, &e),
        };
        let config = &self.state.inner.engine;
        let timeout = remote_ack_timeout(
            opts.flags.as_ref().and_then(|f| f.timeout),
            self.local.ack_timeout(),
            config.max_remote_ack_timeout,
        );
        // However slowly Redis takes the answers, the task ends by then.
        let hard_deadline = timeout.saturating_add(config.requests_timeout);
        let sio = self.local_opts(&opts);
        // Emitted here, in the order of the other broadcasts; the answers go to the pool.
        let (acks, count) = self.local.broadcast_with_ack(
            SioPacket::event(self.nsp.clone(), value),
            sio,
            Some(timeout),
        );
        let this = self.clone();
        let forward = async move {
            let reply = |reply| {
                this.codec
                    .encode_reply(requester.as_deref(), request_id.clone(), reply)
            };
            let Some(count) = reply(Reply::ClientCount(u64::from(count))) else {
                return;
            };
            let t = MessageType::BroadcastClientCount;
            if let Err(e) = this.send(count, PublishMode::Awaited, t).await {
                return tracing::warn!(error = %e, "cannot publish a broadcast client count");
            }
            let mut acks = Box::pin(acks);
            while let Some((_, ack)) = acks.next().await {
                let Ok(v) = ack else { continue };
                let packet = match convert::first_ack_arg(&v) {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::debug!(error = %e, "unreadable client acknowledgement");
                        continue;
                    }
                };
                let Some(p) = reply(Reply::Ack(packet)) else {
                    continue;
                };
                let t = MessageType::BroadcastAck;
                if let Err(e) = this.send(p, PublishMode::Awaited, t).await {
                    tracing::warn!(error = %e, "cannot publish a broadcast acknowledgement");
                }
            }
        };
        self.state.inner.tasks.spawn(async move {
            let _permit = permit;
            if tokio::time::timeout(hard_deadline, forward).await.is_err() {
                tracing::debug!(
                    "broadcast with ack: stopped forwarding acknowledgements at the deadline"
                );
            }
        });
    }

    /// Runs `work` for a request of another server on a background task that holds one
    /// of the `max_concurrent_remote_requests` slots. When every slot is taken the
    /// request is dropped (counted as `"overloaded"`, logged once); never waits, so the
    /// subscriber task is never held up. `channel` and `what` name it in logs.
    fn spawn_request(
        &self,
        channel: &str,
        what: &str,
        work: impl Future<Output = ()> + Send + 'static,
    ) {
        let Some(permit) = self.state.inner.try_request_permit() else {
            return self.drop_overloaded(channel, what);
        };
        self.state.inner.tasks.spawn(async move {
            let _permit = permit;
            work.await;
        });
    }

    fn drop_overloaded(&self, channel: &str, what: &str) {
        let max = self.state.inner.engine.max_concurrent_remote_requests;
        self.state.inner.counters.drop_message(
            "overloaded",
            channel,
            &format_args!(
                "{what}: all {max} slots for remote requests (max_concurrent_remote_requests) are taken"
            ),
        );
    }
}
