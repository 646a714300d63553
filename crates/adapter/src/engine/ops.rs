//! The cluster operations of one namespace, as socketioxide's `CoreAdapter` and the
//! user's handle ([`RedisAdapterState`](crate::RedisAdapterState)) ask for them.
//!
//! Rule for the operations that change sockets (socketsJoin / socketsLeave /
//! disconnectSockets): published, then applied locally at once; the codec drops this
//! server's own echo.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sio_redis_wire::{BroadcastOptions, Value};
use socketioxide_core::adapter::errors::BroadcastError;
use socketioxide_core::adapter::{
    BroadcastFlags as SioFlags, BroadcastOptions as SioOpts, RemoteSocketData, Room, SocketEmitter,
};
use socketioxide_core::packet::Packet as SioPacket;
use socketioxide_core::{Sid, Str, Value as SioValue};

use super::ack_stream::AckStream;
use super::opts::event_data;
use super::pending::{AckInbox, Waiter};
use super::request::Replies;
use super::{Codec, Engine, Outgoing, PublishMode, Reply};
use crate::convert;
use crate::error::Error;
use crate::metrics::MessageType;
use crate::state::{AckResult, BoxFuture, NamespaceOps, SocketInfo};

fn adapter_err(e: Error) -> BroadcastError {
    BroadcastError::Adapter(e.into())
}

impl<E: SocketEmitter, C: Codec> Engine<E, C> {
    /// serverCount: the servers of the namespace, this one included.
    ///
    /// # Errors
    /// [`Error::Transport`].
    pub(crate) async fn server_count(&self) -> Result<u16, Error> {
        let n = self.codec.server_count(&self.state.inner.transport).await?;
        self.metrics.servers.set(n as f64);
        Ok(u16::try_from(n).unwrap_or(u16::MAX))
    }

    /// A broadcast without acknowledgements: delivered locally at once and queued for
    /// the other servers (not awaited: Node does not wait for its PUBLISH either).
    ///
    /// # Errors
    /// The local delivery's errors, or the transport's as [`BroadcastError::Adapter`].
    pub(crate) async fn broadcast(
        &self,
        packet: SioPacket,
        opts: SioOpts,
    ) -> Result<(), BroadcastError> {
        if opts.is_local(self.local.server_id()) {
            return self
                .local
                .broadcast(packet, opts)
                .map_err(BroadcastError::from);
        }
        let Some(data) = event_data(&packet) else {
            return self
                .local
                .broadcast(packet, opts)
                .map_err(BroadcastError::from);
        };
        let (wire_opts, single_remote) = self.wire_opts(&opts, true);
        // Common-parser text without binary goes into the message as is where the
        // codec can (sharded); anything else through a `Value`.
        let json = match data {
            SioValue::Str(text, None) => {
                self.codec
                    .encode_json_broadcast(&self.uid, text.as_str(), &wire_opts)
            }
            _ => None,
        };
        let p = match json {
            Some(p) => p,
            None => self.codec.encode(
                &self.uid,
                Outgoing::Broadcast {
                    packet: self.wire_packet(convert::from_sio(data).map_err(adapter_err)?),
                    opts: wire_opts,
                },
            ),
        };
        let volatile = opts.has_flag(SioFlags::Volatile);
        let local = if single_remote {
            Ok(())
        } else {
            self.ensure_own_rooms(&opts);
            self.local.broadcast(packet, opts)
        };
        // Queued, not awaited: queued broadcasts go out in pipelines (one Redis round
        // trip per batch). While the publisher reconnects they wait in the transport's
        // offline buffer, except volatile ones, which are worthless later.
        let mode = if volatile {
            PublishMode::Volatile
        } else {
            PublishMode::Queued
        };
        self.send(p, mode, MessageType::Broadcast)
            .await
            .map_err(adapter_err)?;
        local.map_err(BroadcastError::from)
    }

    /// A broadcast with acknowledgements: the request is registered, then published
    /// while the servers are counted; then the local sockets get it. The stream merges
    /// local and remote acknowledgements until `timeout` (default: the namespace's
    /// `ack_timeout`).
    ///
    /// # Errors
    /// [`Error::Transport`]; [`Error::Serialize`] for an unencodable payload.
    pub(crate) async fn broadcast_with_ack(
        &self,
        packet: SioPacket,
        opts: SioOpts,
        timeout: Option<Duration>,
    ) -> Result<AckStream<E>, Error> {
        let timeout = timeout.unwrap_or_else(|| self.local.ack_timeout());
        let data = event_data(&packet).map(convert::from_sio).transpose()?;
        let (Some(data), false) = (data, opts.is_local(self.local.server_id())) else {
            let (local, _) = self.local.broadcast_with_ack(packet, opts, Some(timeout));
            return Ok(AckStream::new(local, Arc::default(), 0, 0, timeout, None));
        };
        let request_id = C::new_request_id();
        let ack_request_id = request_id.clone();
        let inbox = Arc::new(AckInbox::default());
        let guard = self
            .pending
            .register(request_id.clone(), Waiter::Acks(inbox.clone()));
        let (mut wire_opts, single_remote) = self.wire_opts(&opts, true);
        if let Some(flags) = wire_opts.flags.as_mut() {
            flags.timeout = Some(timeout.as_millis() as u64);
        }
        let request = Outgoing::BroadcastWithAck {
            request_id,
            packet: self.wire_packet(data),
            opts: wire_opts,
        };
        let transport = &self.state.inner.transport;
        let (published, numsub) =
            tokio::join!(self.publish(request), self.codec.server_count(transport));
        published?;
        let numsub = numsub?;
        self.metrics.servers.set(numsub as f64);
        let expected = usize::try_from(numsub)
            .unwrap_or(usize::MAX)
            .saturating_sub(1);
        let span = tracing::info_span!(
            "sio_redis.broadcast_with_ack",
            nsp = %self.nsp,
            request_id = %ack_request_id,
            expected,
            answered = tracing::field::Empty,
        );
        let local = if single_remote {
            self.local
                .broadcast_with_ack(packet, SioOpts::default(), Some(timeout))
                .0
        } else {
            self.ensure_own_rooms(&opts);
            self.local.broadcast_with_ack(packet, opts, Some(timeout)).0
        };
        let max_count = self.state.inner.engine.max_remote_client_count;
        Ok(AckStream::new(local, inbox, expected, max_count, timeout, Some(guard)).in_span(span))
    }

    /// socketsJoin (`join`) or socketsLeave: published, then applied locally.
    ///
    /// # Errors
    /// [`Error::Transport`].
    pub(crate) async fn room_request(
        &self,
        opts: SioOpts,
        rooms: Vec<Room>,
        join: bool,
    ) -> Result<(), Error> {
        if opts.is_local(self.local.server_id()) {
            self.apply_rooms_locally(opts, rooms, join);
            return Ok(());
        }
        let (opts_wire, single_remote) = self.wire_opts(&opts, false);
        let wire_rooms: Vec<String> = rooms.iter().map(|r| r.to_string()).collect();
        let msg = if join {
            Outgoing::SocketsJoin {
                opts: opts_wire,
                rooms: wire_rooms,
            }
        } else {
            Outgoing::SocketsLeave {
                opts: opts_wire,
                rooms: wire_rooms,
            }
        };
        self.publish(msg).await?;
        if !single_remote {
            self.ensure_own_rooms(&opts);
            self.apply_rooms_locally(opts, rooms, join);
        }
        Ok(())
    }

    fn apply_rooms_locally(&self, opts: SioOpts, rooms: Vec<Room>, join: bool) {
        if join {
            self.local.add_sockets(opts, rooms);
            self.codec.rooms_joined();
        } else {
            self.local.del_sockets(opts, rooms);
        }
    }

    /// disconnectSockets from socketioxide: published, then applied locally.
    ///
    /// # Errors
    /// The local disconnection's errors, or the transport's as
    /// [`BroadcastError::Adapter`].
    pub(crate) async fn disconnect_socket(&self, opts: SioOpts) -> Result<(), BroadcastError> {
        if opts.is_local(self.local.server_id()) {
            return self
                .local
                .disconnect_socket(opts)
                .map_err(BroadcastError::from);
        }
        let (wire_opts, single_remote) = self.wire_opts(&opts, false);
        self.publish(Outgoing::DisconnectSockets {
            opts: wire_opts,
            close: false,
        })
        .await
        .map_err(adapter_err)?;
        if single_remote {
            return Ok(());
        }
        self.ensure_own_rooms(&opts);
        self.local
            .disconnect_socket(opts)
            .map_err(BroadcastError::from)
    }

    /// The rooms of the cluster: every room (allRooms) without a filter, else the rooms
    /// of the sockets that match `opts` (fetchSockets).
    ///
    /// # Errors
    /// [`Error::Timeout`]; [`Error::Transport`].
    pub(crate) async fn rooms(&self, opts: SioOpts) -> Result<Vec<Room>, Error> {
        let mut rooms: std::collections::HashSet<String> = std::collections::HashSet::new();
        if opts.rooms.is_empty() && opts.except.is_empty() && opts.sid.is_none() {
            if opts.has_flag(SioFlags::Local) {
                rooms.extend(self.local_rooms());
            } else {
                for r in self.all_rooms().await? {
                    rooms.insert(r);
                }
            }
        } else {
            let (wire_opts, _) = self.wire_opts(&opts, true);
            for socket in self.fetch_infos(wire_opts).await? {
                rooms.extend(socket.rooms);
            }
        }
        Ok(rooms.into_iter().map(Room::Owned).collect())
    }

    /// fetchSockets for socketioxide: the matching sockets of the cluster as
    /// `RemoteSocketData` (foreign ids mapped to stable [`Sid`]s).
    ///
    /// # Errors
    /// [`Error::Timeout`]; [`Error::Transport`].
    pub(crate) async fn fetch_sockets(
        &self,
        opts: SioOpts,
    ) -> Result<Vec<RemoteSocketData>, Error> {
        if opts.is_local(self.local.server_id()) {
            return Ok(self.local.fetch_sockets(opts));
        }
        let (wire_opts, _) = self.wire_opts(&opts, true);
        let ns: Str = self.nsp.clone().into();
        let foreign = &self.state.inner.foreign;
        Ok(self
            .fetch_infos(wire_opts)
            .await?
            .into_iter()
            .map(|s| {
                let (id, server_id) = if s.local {
                    (
                        Sid::from_str(&s.id).unwrap_or_default(),
                        self.local.server_id(),
                    )
                } else {
                    (foreign.sid_for(&s.id), self.state.inner.remote_uid)
                };
                RemoteSocketData {
                    id,
                    server_id,
                    ns: ns.clone(),
                }
            })
            .collect())
    }

    /// allRooms: every room of the cluster.
    async fn all_rooms(&self) -> Result<Vec<String>, Error> {
        let mut rooms: std::collections::HashSet<String> = self.local_rooms().into_iter().collect();
        if !C::REMOTE_ALL_ROOMS {
            // ClusterAdapter messages have no allRooms: the rooms of every socket.
            for socket in self.fetch_infos(BroadcastOptions::default()).await? {
                rooms.extend(socket.rooms);
            }
            return Ok(rooms.into_iter().collect());
        }
        for r in self
            .request("allRooms", |request_id| Outgoing::AllRooms { request_id })
            .await
            .map_err(|(e, _)| e)?
        {
            if let Reply::Rooms(remote) = r {
                rooms.extend(remote);
            }
        }
        Ok(rooms.into_iter().collect())
    }

    /// fetchSockets with ids, rooms, data and handshake: the local sockets, then (unless
    /// `opts.flags.local`) one reply per other server.
    async fn fetch_infos(&self, opts: BroadcastOptions) -> Result<Vec<SocketInfo>, Error> {
        let mut out: Vec<SocketInfo> = self
            .describe_local(&opts)
            .into_iter()
            .map(|d| SocketInfo {
                local: true,
                ..SocketInfo::from(d)
            })
            .collect();
        if opts.flags.as_ref().is_some_and(|f| f.local) {
            return Ok(out);
        }
        let remote_opts = BroadcastOptions {
            flags: None,
            ..opts
        };
        let responses = self
            .request("fetchSockets", |request_id| Outgoing::FetchSockets {
                request_id,
                opts: remote_opts,
            })
            .await
            .map_err(|(e, _)| e)?;
        for r in responses {
            match r {
                Reply::Sockets(sockets) => out.extend(sockets.into_iter().map(SocketInfo::from)),
                Reply::SocketIds(sockets) => out.extend(sockets.into_iter().map(|id| SocketInfo {
                    id,
                    rooms: Vec::new(),
                    data: Value::Nil,
                    handshake: Value::Nil,
                    local: false,
                })),
                _ => {}
            }
        }
        Ok(out)
    }
}

/// The serverSideEmit acknowledgements among `replies`.
fn server_side_acks(replies: Vec<Reply>) -> Vec<Value> {
    replies
        .into_iter()
        .filter_map(|r| match r {
            Reply::ServerSideEmit(data) => Some(data),
            _ => None,
        })
        .collect()
}

impl<E: SocketEmitter, C: Codec> NamespaceOps for Engine<E, C> {
    fn server_count(&self) -> BoxFuture<'_, Result<u16, Error>> {
        Box::pin(Engine::server_count(self))
    }

    fn server_side_emit(&self, data: Vec<Value>) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(self.publish(Outgoing::ServerSideEmit {
            request_id: None,
            data,
        }))
    }

    fn server_side_emit_with_ack(&self, data: Vec<Value>) -> BoxFuture<'_, AckResult> {
        Box::pin(async move {
            let replies: Replies = self
                .request("serverSideEmit", |request_id| Outgoing::ServerSideEmit {
                    request_id: Some(request_id),
                    data,
                })
                .await;
            match replies {
                Ok(r) => Ok(server_side_acks(r)),
                Err((e, r)) => Err((e, server_side_acks(r))),
            }
        })
    }

    fn fetch_sockets(
        &self,
        opts: BroadcastOptions,
    ) -> BoxFuture<'_, Result<Vec<SocketInfo>, Error>> {
        Box::pin(self.fetch_infos(opts))
    }

    fn disconnect_sockets(
        &self,
        opts: BroadcastOptions,
        close: bool,
    ) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async move {
            self.publish(Outgoing::DisconnectSockets {
                opts: BroadcastOptions {
                    flags: None,
                    ..opts.clone()
                },
                close,
            })
            .await?;
            let sio = self.local_opts(&opts);
            let _ = self.local.disconnect_socket(sio);
            Ok(())
        })
    }

    fn pending_requests(&self) -> usize {
        self.pending_len()
    }

    fn sync_rooms(&self) -> BoxFuture<'_, Result<(), Error>> {
        self.codec.sync_rooms(self)
    }

    fn on_stream_entry(self: Arc<Self>, entry: sio_redis_transport::StreamEntry) {
        self.count_received(entry.fields.iter().map(|(k, v)| k.len() + v.len()).sum());
        C::on_stream_entry(&self, entry);
    }
}
