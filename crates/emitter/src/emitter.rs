//! [`Emitter`] and [`BroadcastOperator`]: a [`Selection`] plus a Redis connection.

use redis::aio::{ConnectionManager, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use serde::Serialize;

use crate::args::Args;
use crate::config::EmitterConfig;
use crate::conn::Publisher;
use crate::error::Error;
use crate::selection::{IntoRooms, Message, Selection};

/// Sends Socket.IO events and cluster requests to the servers of a cluster that use the
/// classic Redis adapter (`@socket.io/redis-adapter` 8.3 `createAdapter`, or
/// `sio-redis`'s classic adapter), byte for byte as `@socket.io/redis-emitter` 5.1 does;
/// or, made with [`EmitterConfig::kind`]`(`[`EmitterKind::Sharded`]`)`, to servers of
/// the sharded adapter (`createShardedAdapter`, `sio-redis`'s `ShardedAdapter`), as a
/// Node server of that adapter would publish them; or, with [`EmitterKind::Streams`], to
/// servers of the streams adapter, as `@socket.io/redis-streams-emitter` 0.1 writes its
/// stream entries. It only `PUBLISH`es (classic), `SPUBLISH`es (sharded) or `XADD`s
/// (streams): it subscribes to nothing and gets no answers.
///
/// [`EmitterKind::Sharded`]: crate::EmitterKind::Sharded
/// [`EmitterKind::Streams`]: crate::EmitterKind::Streams
///
/// An `Emitter` addresses one namespace (`/` unless made with [`Emitter::of`]). Cloning
/// is cheap and clones share the connection.
///
/// # Cancel safety
/// Dropping the future of an operation before it completes may or may not have sent the
/// message; nothing else is affected.
#[derive(Debug, Clone)]
pub struct Emitter {
    publisher: Publisher,
    selection: Selection,
}

impl Emitter {
    /// Connects to a standalone Redis with the default settings (key `"socket.io"`, 5 s
    /// timeouts). `url`: `redis://[user:password@]host:port[/db]`, `rediss://…` for
    /// TLS, `redis+unix:///path`.
    ///
    /// The connection then reconnects by itself, forever; an operation issued while
    /// Redis is away waits for it up to the response timeout.
    ///
    /// # Errors
    /// [`Error::Config`] for a bad URL; [`Error::Connect`] when the first connection
    /// fails (refused, authentication…); [`Error::ConnectTimeout`] past the connection
    /// timeout.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        Self::connect_with(url, EmitterConfig::default()).await
    }

    /// Connects to a standalone Redis with the given settings; see [`Emitter::connect`].
    ///
    /// # Errors
    /// As [`Emitter::connect`], and [`Error::Config`] for a setting out of range.
    pub async fn connect_with(url: &str, config: EmitterConfig) -> Result<Self, Error> {
        let publisher = Publisher::standalone(url, &config).await?;
        Ok(Self::new(publisher, &config))
    }

    /// Connects to a Redis Cluster through seed nodes (`redis://host:port` each) with
    /// the default settings. Redis Cluster forwards a `PUBLISH` on any node to the
    /// subscribers of every node, which is all the classic emitter needs; a sharded
    /// emitter's `SPUBLISH` goes to the primary of the channel's slot.
    ///
    /// # Errors
    /// [`Error::Config`] for no or bad URLs; [`Error::Connect`] when no seed node leads
    /// to a working cluster; [`Error::ConnectTimeout`] past the connection timeout.
    pub async fn connect_cluster<S: AsRef<str>>(urls: &[S]) -> Result<Self, Error> {
        Self::connect_cluster_with(urls, EmitterConfig::default()).await
    }

    /// Connects to a Redis Cluster with the given settings; see
    /// [`Emitter::connect_cluster`].
    ///
    /// # Errors
    /// As [`Emitter::connect_cluster`], and [`Error::Config`] for a setting out of range.
    pub async fn connect_cluster_with<S: AsRef<str>>(
        urls: &[S],
        config: EmitterConfig,
    ) -> Result<Self, Error> {
        let publisher = Publisher::cluster(urls, &config).await?;
        Ok(Self::new(publisher, &config))
    }

    /// An emitter on an existing redis-rs `ConnectionManager` (its own reconnection
    /// settings apply; the response timeout of `config` bounds each operation).
    ///
    /// # Errors
    /// [`Error::Config`] for a setting out of range.
    pub fn from_connection_manager(
        manager: ConnectionManager,
        config: EmitterConfig,
    ) -> Result<Self, Error> {
        Ok(Self::new(
            Publisher::from_manager(manager, &config)?,
            &config,
        ))
    }

    /// An emitter on an existing redis-rs async Redis Cluster connection.
    ///
    /// # Errors
    /// [`Error::Config`] for a setting out of range.
    pub fn from_cluster_connection(
        conn: ClusterConnection,
        config: EmitterConfig,
    ) -> Result<Self, Error> {
        Ok(Self::new(Publisher::from_cluster(conn, &config)?, &config))
    }

    /// An emitter on an existing redis-rs multiplexed connection (which does not
    /// reconnect: once it is broken, every operation fails with [`Error::Publish`]).
    ///
    /// # Errors
    /// [`Error::Config`] for a setting out of range.
    pub fn from_multiplexed_connection(
        conn: MultiplexedConnection,
        config: EmitterConfig,
    ) -> Result<Self, Error> {
        Ok(Self::new(
            Publisher::from_multiplexed(conn, &config)?,
            &config,
        ))
    }

    fn new(publisher: Publisher, config: &EmitterConfig) -> Self {
        Self {
            publisher,
            selection: Selection::with_kind(config.get_key(), "/", config.get_kind()),
        }
    }

    /// The same connection and prefix, for namespace `nsp` (a leading `/` is added when
    /// missing). Node: `emitter.of(nsp)`.
    pub fn of(&self, nsp: &str) -> Self {
        Self {
            publisher: self.publisher.clone(),
            selection: self.selection.of(nsp),
        }
    }

    /// The namespace, with its leading `/`.
    pub fn namespace(&self) -> &str {
        self.selection.namespace()
    }

    /// The channel prefix.
    pub fn key(&self) -> &str {
        self.selection.key()
    }

    /// The servers' adapter this emitter writes for.
    pub fn kind(&self) -> crate::EmitterKind {
        self.selection.kind()
    }

    /// What this emitter addresses (every socket of its namespace), to build messages
    /// without sending them.
    pub fn selection(&self) -> &Selection {
        &self.selection
    }

    fn operator(&self) -> BroadcastOperator {
        BroadcastOperator {
            publisher: self.publisher.clone(),
            selection: self.selection.clone(),
        }
    }

    /// Targets `rooms` (one or several). Node: `emitter.to(room | room[])`.
    pub fn to(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.operator().to(rooms)
    }

    /// The same as [`Emitter::to`]. Node: `emitter.in(room | room[])`.
    pub fn in_(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.operator().to(rooms)
    }

    /// Leaves out the sockets in `rooms`. Node: `emitter.except(room | room[])`.
    pub fn except(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.operator().except(rooms)
    }

    /// Marks the next emit volatile. Node: `emitter.volatile`.
    pub fn volatile(&self) -> BroadcastOperator {
        self.operator().volatile()
    }

    /// Sets the compress flag of the next emit. Node: `emitter.compress(bool)`.
    pub fn compress(&self, compress: bool) -> BroadcastOperator {
        self.operator().compress(compress)
    }

    /// Emits `event` to every socket of the namespace; see [`BroadcastOperator::emit`]
    /// for how `args` become arguments (a tuple spreads). Node: `emitter.emit(ev, ...args)`.
    ///
    /// # Errors
    /// As [`BroadcastOperator::emit`].
    pub fn emit<'a, T: Serialize + ?Sized>(
        &'a self,
        event: &str,
        args: &T,
    ) -> impl Future<Output = Result<(), Error>> + Send + use<'a, T> {
        let msg = Args::from_serialize(args).and_then(|a| self.selection.emit_message(event, &a));
        self.publish_result(msg)
    }

    /// Emits `event` with ready-made [`Args`] to every socket of the namespace.
    ///
    /// # Errors
    /// As [`BroadcastOperator::emit_args`].
    pub async fn emit_args(&self, event: &str, args: &Args) -> Result<(), Error> {
        self.publisher
            .publish(&self.selection.emit_message(event, args)?)
            .await
    }

    /// Emits `event` to the other Socket.IO servers of the namespace (their
    /// `io.of(nsp).on(event, …)` handlers run), without acknowledgement: classic, JSON
    /// `{"uid":"emitter","type":6,"data":[event,...args]}` on `<key>-request#<nsp>#`;
    /// sharded, a `SERVER_SIDE_EMIT` (9) message on `<key>#<nsp>#`; streams, a type 9
    /// entry of the namespace's stream (see
    /// [`Selection::server_side_emit_message`]).
    /// `args` as in [`BroadcastOperator::emit`]. Node: `emitter.serverSideEmit(ev, ...args)`.
    ///
    /// # Errors
    /// [`Error::ReservedEvent`] for `connect`, `connection`, `new_namespace`;
    /// [`Error::Serialize`]; [`Error::Publish`] / [`Error::Timeout`] from Redis.
    pub fn server_side_emit<'a, T: Serialize + ?Sized>(
        &'a self,
        event: &str,
        args: &T,
    ) -> impl Future<Output = Result<(), Error>> + Send + use<'a, T> {
        let msg = Args::from_serialize(args)
            .and_then(|a| self.selection.server_side_emit_message(event, &a));
        self.publish_result(msg)
    }

    /// [`Emitter::server_side_emit`] with ready-made [`Args`].
    ///
    /// # Errors
    /// As [`Emitter::server_side_emit`].
    pub async fn server_side_emit_args(&self, event: &str, args: &Args) -> Result<(), Error> {
        self.publisher
            .publish(&self.selection.server_side_emit_message(event, args)?)
            .await
    }

    /// Makes every socket of the namespace join `rooms`. Node: `emitter.socketsJoin(rooms)`.
    ///
    /// # Errors
    /// [`Error::Publish`] / [`Error::Timeout`] from Redis.
    pub async fn sockets_join(&self, rooms: impl IntoRooms) -> Result<(), Error> {
        self.operator().sockets_join(rooms).await
    }

    /// Makes every socket of the namespace leave `rooms`. Node: `emitter.socketsLeave(rooms)`.
    ///
    /// # Errors
    /// [`Error::Publish`] / [`Error::Timeout`] from Redis.
    pub async fn sockets_leave(&self, rooms: impl IntoRooms) -> Result<(), Error> {
        self.operator().sockets_leave(rooms).await
    }

    /// Disconnects every socket of the namespace; with `close`, their underlying
    /// connections are closed too. Node: `emitter.disconnectSockets(close)`.
    ///
    /// # Errors
    /// [`Error::Publish`] / [`Error::Timeout`] from Redis.
    pub async fn disconnect_sockets(&self, close: bool) -> Result<(), Error> {
        self.operator().disconnect_sockets(close).await
    }

    /// Publishes a message made by a [`Selection`] (any namespace, any prefix).
    ///
    /// # Errors
    /// [`Error::Publish`] / [`Error::Timeout`] from Redis.
    pub async fn publish(&self, msg: &Message) -> Result<(), Error> {
        self.publisher.publish(msg).await
    }

    async fn publish_result(&self, msg: Result<Message, Error>) -> Result<(), Error> {
        self.publisher.publish(&msg?).await
    }
}

/// An emit, join, leave or disconnect narrowed to rooms, excluded rooms and flags:
/// Node's `BroadcastOperator` of `@socket.io/redis-emitter` 5.1. Made by
/// [`Emitter::to`], [`Emitter::in_`], [`Emitter::except`], [`Emitter::volatile`] and
/// [`Emitter::compress`]; each modifier returns a new operator.
///
/// # Cancel safety
/// As [`Emitter`].
#[derive(Debug, Clone)]
#[must_use = "an operator sends nothing until emit, sockets_join, sockets_leave or disconnect_sockets"]
pub struct BroadcastOperator {
    publisher: Publisher,
    selection: Selection,
}

impl BroadcastOperator {
    /// Also targets `rooms`; a socket in several targeted rooms gets the event once.
    pub fn to(mut self, rooms: impl IntoRooms) -> Self {
        self.selection = self.selection.to(rooms);
        self
    }

    /// The same as [`BroadcastOperator::to`].
    pub fn in_(self, rooms: impl IntoRooms) -> Self {
        self.to(rooms)
    }

    /// Also leaves out the sockets in `rooms`.
    pub fn except(mut self, rooms: impl IntoRooms) -> Self {
        self.selection = self.selection.except(rooms);
        self
    }

    /// `volatile`: receiving servers may drop the event for clients that are not ready.
    pub fn volatile(mut self) -> Self {
        self.selection = self.selection.volatile();
        self
    }

    /// The per-message compression wish (`compress` flag).
    pub fn compress(mut self, compress: bool) -> Self {
        self.selection = self.selection.compress(compress);
        self
    }

    /// What this operator addresses, to build messages without sending them.
    pub fn selection(&self) -> &Selection {
        &self.selection
    }

    /// Emits `event` to the selected sockets of every server.
    ///
    /// `args` is any `serde::Serialize` value; a tuple spreads into several arguments, as
    /// in socketioxide: `&("a", 1)` sends `[event, "a", 1]`, `&vec![1, 2]` sends
    /// `[event, [1, 2]]`, `&NoArgs` sends `[event]` (details in
    /// [`Args::from_serialize`]). Binary (`bytes::Bytes`, `serde_bytes`) reaches the
    /// clients as binary attachments. The message is built when this is called, so `T`
    /// need not be `Send`.
    ///
    /// # Errors
    /// [`Error::ReservedEvent`] for `connect`, `connect_error`, `disconnect`,
    /// `disconnecting`, `newListener`, `removeListener` (nothing is sent);
    /// [`Error::Serialize`] when `args` cannot be serialized; [`Error::Publish`] /
    /// [`Error::Timeout`] from Redis.
    ///
    /// [`NoArgs`]: crate::NoArgs
    pub fn emit<'a, T: Serialize + ?Sized>(
        &'a self,
        event: &str,
        args: &T,
    ) -> impl Future<Output = Result<(), Error>> + Send + use<'a, T> {
        let msg = Args::from_serialize(args).and_then(|a| self.selection.emit_message(event, &a));
        async move { self.publisher.publish(&msg?).await }
    }

    /// Emits `event` with ready-made [`Args`].
    ///
    /// # Errors
    /// As [`BroadcastOperator::emit`], without [`Error::Serialize`].
    pub async fn emit_args(&self, event: &str, args: &Args) -> Result<(), Error> {
        self.publisher
            .publish(&self.selection.emit_message(event, args)?)
            .await
    }

    /// Makes the selected sockets join `rooms` (one or several). Flags do not apply.
    ///
    /// # Errors
    /// [`Error::Publish`] / [`Error::Timeout`] from Redis.
    pub async fn sockets_join(&self, rooms: impl IntoRooms) -> Result<(), Error> {
        self.publisher
            .publish(&self.selection.sockets_join_message(rooms))
            .await
    }

    /// Makes the selected sockets leave `rooms` (one or several). Flags do not apply.
    ///
    /// # Errors
    /// [`Error::Publish`] / [`Error::Timeout`] from Redis.
    pub async fn sockets_leave(&self, rooms: impl IntoRooms) -> Result<(), Error> {
        self.publisher
            .publish(&self.selection.sockets_leave_message(rooms))
            .await
    }

    /// Disconnects the selected sockets; with `close`, the receiving servers also close
    /// their underlying connections (socketioxide 0.18 servers running `sio-redis`
    /// disconnect them from the namespace only). Flags do not apply.
    ///
    /// # Errors
    /// [`Error::Publish`] / [`Error::Timeout`] from Redis.
    pub async fn disconnect_sockets(&self, close: bool) -> Result<(), Error> {
        self.publisher
            .publish(&self.selection.disconnect_sockets_message(close))
            .await
    }
}
