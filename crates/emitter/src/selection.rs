//! What an operation addresses (prefix, namespace, rooms, except, flags, adapter kind)
//! and the exact message it makes, with no connection. The bytes are made by
//! [`crate::classic`] (PROTOCOL.md §5.1), [`crate::sharded`] (§2–§3) or
//! [`crate::streams`] (§4.3, §5.2), by the selection's [`EmitterKind`].

use sio_redis_wire::channels::DEFAULT_PREFIX;
use sio_redis_wire::{BroadcastFlags, Value};

use crate::args::Args;
use crate::error::Error;
use crate::kind::{EmitterKind, PublishCommand, SubscriptionMode};
use crate::{classic, sharded, streams};

pub use sio_redis_wire::events::{RESERVED_EVENTS, RESERVED_SERVER_SIDE_EVENTS};

/// One `PUBLISH`, `SPUBLISH` or `XADD`: the command, the channel (or stream) and the
/// exact bytes, as the Node emitter (classic), a Node sharded-adapter server (sharded) or
/// the Node streams emitter (streams) would send them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Message {
    /// `PUBLISH` (classic), `SPUBLISH` (sharded) or `XADD` (streams).
    pub command: PublishCommand,
    /// The Redis channel, or for `XADD` the stream (key). Classic: `<key>#<nsp>#`,
    /// `<key>#<nsp>#<room>#` or `<key>-request#<nsp>#`; sharded: `<key>#<nsp>#` or
    /// `<key>#<nsp>#<room>#`; streams: `<streamName>`, or `<streamName>-<i>` with
    /// several streams.
    pub channel: String,
    /// The payload. Classic: notepack.io msgpack for broadcasts, `JSON.stringify` JSON
    /// for requests; sharded: JSON, or notepack.io msgpack when it carries binary;
    /// streams: empty (the entry is in [`Message::xadd`]).
    pub payload: Vec<u8>,
    /// `XADD` only: the trim bound and the entry's fields.
    pub xadd: Option<Xadd>,
}

/// The stream entry of an `XADD` [`Message`]:
/// `XADD <channel> MAXLEN ~ <max_len> * <field> <value> …`
/// ([`sio_redis_transport::xadd_cmd`] makes the command).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Xadd {
    /// `MAXLEN ~`, in entries.
    pub max_len: u64,
    /// `[("uid", "emitter"), ("nsp", <nsp>), ("type", "<decimal>"), ("data", <JSON or
    /// base64 msgpack>)]`, in this order (`@socket.io/redis-streams-emitter` 0.1's
    /// `flattenPayload`).
    pub fields: Vec<(&'static str, String)>,
}

/// One operation of a [`Selection`], handed to the kind's message builder.
#[derive(Debug)]
pub(crate) enum Operation {
    /// An event to the selected sockets: `[event, ...args]`.
    Broadcast(Vec<Value>),
    /// The selected sockets join these rooms.
    Join(Vec<String>),
    /// The selected sockets leave these rooms.
    Leave(Vec<String>),
    /// The selected sockets are disconnected (`close`: their connections closed too).
    Disconnect {
        /// Whether the underlying connections are closed.
        close: bool,
    },
    /// An event to the servers: `[event, ...args]`.
    ServerSideEmit(Vec<Value>),
}

/// One room or several, for [`Selection::to`], [`Selection::except`] and the room lists
/// of `sockets_join` / `sockets_leave` (Node accepts `room | room[]` there too).
pub trait IntoRooms {
    /// The rooms, in order.
    fn into_rooms(self) -> Vec<String>;
}

impl IntoRooms for &str {
    fn into_rooms(self) -> Vec<String> {
        vec![self.to_owned()]
    }
}

impl IntoRooms for String {
    fn into_rooms(self) -> Vec<String> {
        vec![self]
    }
}

impl IntoRooms for &String {
    fn into_rooms(self) -> Vec<String> {
        vec![self.clone()]
    }
}

impl<S: Into<String>> IntoRooms for Vec<S> {
    fn into_rooms(self) -> Vec<String> {
        self.into_iter().map(Into::into).collect()
    }
}

impl<S: AsRef<str>> IntoRooms for &[S] {
    fn into_rooms(self) -> Vec<String> {
        self.iter().map(|s| s.as_ref().to_owned()).collect()
    }
}

impl<S: Into<String>, const N: usize> IntoRooms for [S; N] {
    fn into_rooms(self) -> Vec<String> {
        self.into_iter().map(Into::into).collect()
    }
}

/// A namespace name as `Emitter.of(name)` makes it: a leading `/` is added when missing.
pub(crate) fn normalize_nsp(nsp: &str) -> String {
    if nsp.starts_with('/') {
        nsp.to_owned()
    } else {
        format!("/{nsp}")
    }
}

/// Adds `rooms` to `set`, keeping the first occurrence (a JavaScript `Set`).
fn add_unique(set: &mut Vec<String>, rooms: Vec<String>) {
    for room in rooms {
        if !set.contains(&room) {
            set.push(room);
        }
    }
}

/// Which namespace, rooms, excluded rooms and flags an operation addresses, under which
/// channel prefix and for which adapter ([`EmitterKind`]); it makes the [`Message`] of
/// each operation without any connection. This is the state of a Node
/// `BroadcastOperator` (`@socket.io/redis-emitter` 5.1).
///
/// [`crate::Emitter`] and [`crate::BroadcastOperator`] publish what it makes; use it
/// directly to send through your own connection or pipeline, or to inspect the bytes.
///
/// ```
/// use sio_redis_emitter::{Args, PublishCommand, Selection, SubscriptionMode};
///
/// let msg = Selection::new("socket.io", "chat")
///     .to("lobby")
///     .volatile()
///     .emit_message("greet", &Args::from_serialize(&("hi",))?)?;
/// assert_eq!(msg.channel, "socket.io#/chat#lobby#");
///
/// // the same for servers running the sharded adapter in dynamic mode
/// let msg = Selection::sharded("socket.io", "chat", SubscriptionMode::Dynamic)
///     .to("lobby")
///     .emit_message("greet", &Args::from_serialize(&("hi",))?)?;
/// assert_eq!(msg.command, PublishCommand::Spublish);
/// assert_eq!(msg.channel, "socket.io#/chat#lobby#");
/// assert!(msg.payload.starts_with(br#"{"type":3,"data":{"packet":{"type":2,"data":["greet","hi"]}"#));
/// # Ok::<(), sio_redis_emitter::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Selection {
    kind: EmitterKind,
    key: String,
    nsp: String,
    rooms: Vec<String>,
    except: Vec<String>,
    flags: BroadcastFlags,
}

impl Selection {
    /// Every socket of namespace `nsp` (a leading `/` is added when missing, as
    /// `Emitter.of` does) under channel prefix `key` (Node default `"socket.io"`,
    /// [`DEFAULT_PREFIX`]), for servers running the classic adapter.
    pub fn new(key: impl Into<String>, nsp: &str) -> Self {
        Self::with_kind(key, nsp, EmitterKind::Classic)
    }

    /// As [`Selection::new`], for servers running the sharded adapter in `mode`
    /// (`channel_prefix`: the adapter's `channelPrefix`, Node default `"socket.io"`).
    pub fn sharded(channel_prefix: impl Into<String>, nsp: &str, mode: SubscriptionMode) -> Self {
        Self::with_kind(channel_prefix, nsp, EmitterKind::sharded_with(mode))
    }

    /// As [`Selection::new`], for servers running the streams adapter with its defaults
    /// (one stream, `maxLen` 10 000; [`EmitterKind::streams`]): `stream_name` is the
    /// adapter's `streamName` (Node default `"socket.io"`). Other settings:
    /// [`Selection::with_kind`] with [`EmitterKind::streams_with`].
    pub fn streams(stream_name: impl Into<String>, nsp: &str) -> Self {
        Self::with_kind(stream_name, nsp, EmitterKind::streams())
    }

    /// As [`Selection::new`], for servers running the adapter `kind` (`key`: the
    /// channel prefix, or the stream name for [`EmitterKind::Streams`]).
    pub fn with_kind(key: impl Into<String>, nsp: &str, kind: EmitterKind) -> Self {
        Self {
            kind,
            key: key.into(),
            nsp: normalize_nsp(nsp),
            ..Self::default()
        }
    }

    /// The default prefix (`"socket.io"`) and the main namespace (`"/"`), classic
    /// adapter.
    pub fn main() -> Self {
        Self::new(DEFAULT_PREFIX, "/")
    }

    /// The same prefix and kind, namespace `nsp` (leading `/` added when missing), with
    /// no rooms, except or flags: Node's `emitter.of(nsp)`.
    pub fn of(&self, nsp: &str) -> Self {
        Self::with_kind(self.key.clone(), nsp, self.kind)
    }

    /// The adapter the messages are made for.
    pub fn kind(&self) -> EmitterKind {
        self.kind
    }

    /// The channel prefix (classic `key`, sharded `channelPrefix`), or the stream name
    /// (streams `streamName`).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The namespace, with its leading `/`.
    pub fn namespace(&self) -> &str {
        &self.nsp
    }

    /// The targeted rooms, in order, without duplicates; empty means every socket of the
    /// namespace.
    pub fn rooms(&self) -> &[String] {
        &self.rooms
    }

    /// The excluded rooms, in order, without duplicates.
    pub fn excepted(&self) -> &[String] {
        &self.except
    }

    /// The flags (`volatile`, `compress`).
    pub fn flags(&self) -> &BroadcastFlags {
        &self.flags
    }

    /// Also targets `rooms` (one or several; a socket in any of them is reached once).
    /// Node: `.to(room | room[])`.
    #[must_use]
    pub fn to(mut self, rooms: impl IntoRooms) -> Self {
        add_unique(&mut self.rooms, rooms.into_rooms());
        self
    }

    /// The same as [`Selection::to`] (Node: `.in(room | room[])`).
    #[must_use]
    pub fn in_(self, rooms: impl IntoRooms) -> Self {
        self.to(rooms)
    }

    /// Leaves out the sockets in `rooms` (a socket id works: every socket is in its own
    /// room). Node: `.except(room | room[])`.
    #[must_use]
    pub fn except(mut self, rooms: impl IntoRooms) -> Self {
        add_unique(&mut self.except, rooms.into_rooms());
        self
    }

    /// `flags.volatile = true`: a receiving server may drop the packet for a client that
    /// is not ready. Node: `.volatile`.
    #[must_use]
    pub fn volatile(mut self) -> Self {
        self.flags.volatile = true;
        self
    }

    /// `flags.compress = compress`: the per-message compression wish passed to each
    /// client write. Node: `.compress(bool)`.
    #[must_use]
    pub fn compress(mut self, compress: bool) -> Self {
        self.flags.compress = Some(compress);
        self
    }

    /// The message of `op`, in the format of the selection's kind.
    fn message(&self, op: Operation) -> Message {
        match self.kind {
            EmitterKind::Classic => classic::message(self, op),
            EmitterKind::Sharded { subscription_mode } => {
                sharded::message(self, subscription_mode, op)
            }
            EmitterKind::Streams {
                stream_count,
                max_len,
            } => streams::message(self, stream_count, max_len, op),
        }
    }

    /// The broadcast of `[event, ...args]` to the selected sockets (Node: `.emit(ev,
    /// ...args)`).
    ///
    /// * Classic: notepack.io msgpack `["emitter", {type: 2, data, nsp}, {rooms, flags,
    ///   except}]`, `PUBLISH`ed on `<key>#<nsp>#<room>#` when exactly one room is
    ///   selected, else on `<key>#<nsp>#`.
    /// * Sharded: `{"type":3,"data":{"packet":{"type":2,"data":[..]},"opts":{"rooms":[..],
    ///   "except":[..],"flags":{..}}},"uid":"emitter","nsp":".."}` (JSON; notepack
    ///   msgpack when an argument is binary), `SPUBLISH`ed on the channel the mode
    ///   chooses ([`ShardedChannels::broadcast`]).
    /// * Streams: the entry `uid emitter nsp <nsp> type 3 data {"packet":{"type":2,
    ///   "data":[..],"nsp":".."},"opts":{"rooms":[..],"flags":{..},"except":[..]}}`
    ///   (base64 of @msgpack/msgpack when an argument is binary) on the namespace's
    ///   stream.
    ///
    /// # Errors
    /// [`Error::ReservedEvent`] for the names in [`RESERVED_EVENTS`].
    ///
    /// [`ShardedChannels::broadcast`]: sio_redis_wire::channels::ShardedChannels::broadcast
    pub fn emit_message(&self, event: &str, args: &Args) -> Result<Message, Error> {
        let data = event_data(&RESERVED_EVENTS, event, args)?;
        Ok(self.message(Operation::Broadcast(data)))
    }

    /// The request making the selected sockets join `rooms` (Node: `.socketsJoin(rooms)`).
    /// Flags do not apply. Classic: JSON
    /// `{"type":2,"opts":{"rooms":[..],"except":[..]},"rooms":[..]}` (no uid) on
    /// `<key>-request#<nsp>#`; sharded: JSON `{"type":4,"data":{"opts":{"rooms":[..],
    /// "except":[..],"flags":{}},"rooms":[..]},"uid":"emitter","nsp":".."}` on
    /// `<key>#<nsp>#`; streams: the entry `type 4 data {"opts":{"rooms":[..],"except":[..],
    /// "flags":{}},"rooms":[..]}`.
    pub fn sockets_join_message(&self, rooms: impl IntoRooms) -> Message {
        self.message(Operation::Join(rooms.into_rooms()))
    }

    /// The request making the selected sockets leave `rooms`: as
    /// [`Selection::sockets_join_message`] with `"type":3` (classic) or `"type":5`
    /// (sharded), or `type 5` (streams). Node: `.socketsLeave(rooms)`.
    pub fn sockets_leave_message(&self, rooms: impl IntoRooms) -> Message {
        self.message(Operation::Leave(rooms.into_rooms()))
    }

    /// The request disconnecting the selected sockets; with `close` the receiving server
    /// also closes each socket's underlying connection (Node: `.disconnectSockets(close)`).
    /// Classic: JSON `{"type":4,"opts":{"rooms":[..],"except":[..]},"close":bool}` on
    /// `<key>-request#<nsp>#`; sharded: JSON `{"type":6,"data":{"opts":{..},
    /// "close":bool},"uid":"emitter","nsp":".."}` on `<key>#<nsp>#`; streams: the entry
    /// `type 6 data {"opts":{..},"close":bool}`.
    pub fn disconnect_sockets_message(&self, close: bool) -> Message {
        self.message(Operation::Disconnect { close })
    }

    /// The server-side emit of `[event, ...args]` to every Socket.IO server of the
    /// namespace (Node: `emitter.serverSideEmit(ev, ...args)`, which has no
    /// acknowledgement). Rooms, except and flags do not apply.
    ///
    /// * Classic: JSON `{"uid":"emitter","type":6,"data":[event,...args]}` on
    ///   `<key>-request#<nsp>#`; binary arguments are written as Node's
    ///   `JSON.stringify` writes a `Buffer`: `{"type":"Buffer","data":[..]}`.
    /// * Sharded: `{"type":9,"data":{"packet":[event,...args]},"uid":"emitter",
    ///   "nsp":".."}` on `<key>#<nsp>#`, notepack msgpack (binary kept) when an argument
    ///   is binary.
    /// * Streams: the entry `type 9 data {"packet":[event,...args]}` on the namespace's
    ///   stream (base64 msgpack when an argument is binary), which the servers read as
    ///   any entry (`@socket.io/redis-streams-emitter` 0.1 writes it there, not on
    ///   pub/sub).
    ///
    /// # Errors
    /// [`Error::ReservedEvent`] for the names in [`RESERVED_SERVER_SIDE_EVENTS`] (the
    /// Node emitter does not check them; socket.io's `Namespace.serverSideEmit` does).
    pub fn server_side_emit_message(&self, event: &str, args: &Args) -> Result<Message, Error> {
        let data = event_data(&RESERVED_SERVER_SIDE_EVENTS, event, args)?;
        Ok(self.message(Operation::ServerSideEmit(data)))
    }
}

/// `[event, ...args]`, refusing the names in `reserved`.
fn event_data(reserved: &[&str], event: &str, args: &Args) -> Result<Vec<Value>, Error> {
    if reserved.contains(&event) {
        return Err(Error::ReservedEvent {
            event: event.to_owned(),
        });
    }
    let mut data = Vec::with_capacity(1 + args.len());
    data.push(Value::Str(event.to_owned()));
    data.extend(args.values().iter().cloned());
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_are_a_set_in_insertion_order() {
        let s = Selection::main()
            .to("a")
            .to(["b", "a"])
            .in_(vec!["c".to_owned()])
            .except("x")
            .except(&["x", "y"][..]);
        assert_eq!(s.rooms(), ["a", "b", "c"]);
        assert_eq!(s.excepted(), ["x", "y"]);
    }

    #[test]
    fn namespace_gets_a_leading_slash() {
        assert_eq!(Selection::new("k", "chat").namespace(), "/chat");
        assert_eq!(Selection::new("k", "/chat").namespace(), "/chat");
        assert_eq!(Selection::main().of("").namespace(), "/");
    }

    #[test]
    fn channel_by_room_count() {
        let args = Args::new();
        let base = Selection::new("p", "/n");
        let ch = |s: Selection| s.emit_message("e", &args).expect("emits").channel;
        assert_eq!(ch(base.clone()), "p#/n#");
        assert_eq!(ch(base.clone().to("r")), "p#/n#r#");
        assert_eq!(ch(base.clone().to(["r", "s"])), "p#/n#");
        assert_eq!(ch(base.clone().except("r")), "p#/n#");
        assert_eq!(base.sockets_join_message("r").channel, "p-request#/n#");
    }

    #[test]
    fn reserved_names_are_refused() {
        for ev in RESERVED_EVENTS {
            let err = Selection::main()
                .emit_message(ev, &Args::new())
                .expect_err("reserved");
            assert_eq!(
                err.to_string(),
                format!("\"{ev}\" is a reserved event name")
            );
            assert!(!err.is_retryable());
        }
        for ev in RESERVED_SERVER_SIDE_EVENTS {
            assert!(
                Selection::main()
                    .server_side_emit_message(ev, &Args::new())
                    .is_err()
            );
        }
        assert!(
            Selection::main()
                .server_side_emit_message("disconnect", &Args::new())
                .is_ok()
        );
    }
}
