//! Session records of the streams adapter, the storage side of Socket.IO's connection
//! state recovery, byte-compatible with `@socket.io/redis-streams-adapter` 0.3.1
//! (`persistSession` / `restoreSession`, PROTOCOL.md §4.7):
//!
//! * persist: `SET <sessionKeyPrefix><pid> base64(@msgpack{sid, pid, rooms, data}) PX <ms>`;
//! * restore by `pid` and `offset` (the last stream entry id the client saw): the offset's
//!   syntax (`<ms>-<seq>`), then at once `MULTI; GET key; DEL key; EXEC` (restored once,
//!   also before Redis 6.2) and `XRANGE <stream> <offset> <offset>` (the offset must still
//!   be in the stream); then pages of `XRANGE <stream> <next(offset)> + COUNT <n>`, keeping
//!   the namespace's broadcasts (`type` `"3"`) that pass the session's room filter, each
//!   with its entry id appended to its `data`, as Node does.
//!
//! socketioxide 0.18 has no connection state recovery (its issue #729): the application
//! calls these itself (README, "Sessions").

use std::time::Duration;

use sio_redis_transport::{StreamEntry, StreamId, redis};
use sio_redis_wire::channels::stream_for;
use sio_redis_wire::{
    BroadcastOptions, ClusterBody, ClusterMessage, DecodeError, SessionRecord, Value,
};

use crate::config::{ConfigError, StreamsConfig};
use crate::error::Error;
use crate::kind::AdapterKind;
use crate::state::RedisAdapterState;

/// A session restored by [`RedisAdapterState::restore_session`]: the record a server
/// persisted and the broadcasts its socket missed since the client's offset.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RestoredSession {
    /// `{sid, pid, rooms, data}` as persisted (rooms include the socket's own-id room).
    pub session: SessionRecord,
    /// The missed broadcasts, in stream order.
    pub missed_packets: Vec<MissedPacket>,
}

/// One broadcast a recovering socket missed (Node's `missedPackets` element).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MissedPacket {
    /// The stream entry it was read from.
    pub id: StreamId,
    /// `[event, ...args, "<id>"]`: the packet's `data` with the entry id appended as a
    /// string (the new offset the client keeps), as Node sends it to the client.
    pub data: Vec<Value>,
}

impl MissedPacket {
    /// The event name (`data[0]`), if it is a string.
    pub fn event(&self) -> Option<&str> {
        match self.data.first() {
            Some(Value::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// Everything after the event name, the entry id last (what a Node client's listener
    /// receives).
    pub fn args(&self) -> &[Value] {
        self.data.get(1..).unwrap_or_default()
    }
}

/// Why [`RedisAdapterState::restore_session`] restored nothing; in every case the
/// client is to get a new session, as Node's `restoreSession` rejects.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotRestored {
    /// The offset is not a stream entry id `<ms>-<seq>` (Node's `invalid offset`).
    /// Nothing was read or deleted.
    #[error("the offset is not a stream entry id (<ms>-<seq>)")]
    InvalidOffset,
    /// No record under `<sessionKeyPrefix><pid>`: never persisted, expired (`PX`), or
    /// already restored.
    #[error("no session record for this pid (unknown, expired or already restored)")]
    NoSession,
    /// The offset's entry is not in the stream (trimmed by `MAXLEN ~`, or never there).
    /// The record was deleted, as in Node.
    #[error("the offset is not in the stream (trimmed, or never there)")]
    OffsetNotFound,
    /// More than [`StreamsConfig::restore_max_entries`] entries follow the offset (a
    /// hostile or huge stream is not read to its end). The record was deleted.
    #[error("more than {max} stream entries follow the offset")]
    TooManyEntries {
        /// The bound, [`StreamsConfig::restore_max_entries`].
        max: usize,
    },
    /// The stored record is not `base64(msgpack{sid, pid, rooms, data})` within the
    /// decoding limits (counted in [`AdapterStats::dropped`](crate::AdapterStats::dropped)
    /// as `decode:session:<kind>`). The record was deleted.
    #[error("the session record cannot be decoded")]
    Malformed(#[source] DecodeError),
}

impl RedisAdapterState {
    /// The streams options; [`Error::WrongAdapterKind`] for a state of another kind.
    fn streams_config(&self) -> Result<&StreamsConfig, Error> {
        match self.config() {
            crate::AdapterConfig::Streams(c) => Ok(c),
            other => Err(Error::WrongAdapterKind {
                state: other.kind(),
                adapter: AdapterKind::Streams,
            }),
        }
    }

    /// Stores `session` for `max_disconnection` (socket.io's
    /// `connectionStateRecovery.maxDisconnectionDuration`, default 120 000 ms), as
    /// `@socket.io/redis-streams-adapter` 0.3 `persistSession`: `SET
    /// <sessionKeyPrefix><pid> base64(@msgpack{sid, pid, rooms, data}) PX <ms>` (on a
    /// Redis Cluster, on the key's slot owner). A Node node with `connectionStateRecovery`
    /// on restores it for a client connecting with `auth: {pid, offset}`; so does
    /// [`RedisAdapterState::restore_session`]. A second persist of one pid replaces the
    /// first.
    ///
    /// # Errors
    /// [`Error::WrongAdapterKind`] unless the state is for the streams adapter;
    /// [`Error::Config`] (`maxDisconnectionDuration`) for a duration under 1 ms (Redis
    /// refuses `PX 0`); [`Error::Transport`].
    pub async fn persist_session(
        &self,
        session: &SessionRecord,
        max_disconnection: Duration,
    ) -> Result<(), Error> {
        let config = self.streams_config()?;
        let ms = u64::try_from(max_disconnection.as_millis()).unwrap_or(u64::MAX);
        if ms == 0 {
            return Err(ConfigError {
                setting: "maxDisconnectionDuration",
                reason: "must be at least 1 ms",
            }
            .into());
        }
        let key = format!("{}{}", config.session_key_prefix, session.pid);
        let mut cmd = redis::cmd("SET");
        cmd.arg(&key).arg(session.encode()).arg("PX").arg(ms);
        self.inner
            .transport
            .keyed_query::<redis::Value>(key.as_bytes(), &cmd)
            .await?;
        Ok(())
    }

    /// The stream offset this server's sockets of namespace `nsp` have reached: the id of
    /// the last entry of the namespace's stream that this server's reader handed to its
    /// sockets (every broadcast up to it went to them), or, before the first, the
    /// stream's last entry id when the reader started (`XINFO STREAM`
    /// `last-generated-id`; `0-0` for a stream that did not exist, which is not an entry).
    /// `None` when no adapter of this state reads that stream, or for another adapter
    /// kind.
    ///
    /// socketioxide's broadcasts do not carry the entry id to clients (Node appends it to
    /// every event with `connectionStateRecovery` on), so this is the offset a Rust
    /// application can hand its clients for a later
    /// [`RedisAdapterState::restore_session`]; restored from it, a client gets every
    /// broadcast after it that passes the room filter, some of which it may have had.
    pub fn stream_offset(&self, nsp: &str) -> Option<StreamId> {
        let config = self.streams_config().ok()?;
        let stream = stream_for(&config.stream_name, config.stream_count, nsp);
        self.inner.stream_readers.last_id(&stream)
    }

    /// Restores the session `pid` of namespace `nsp` for a client whose last seen offset
    /// is `offset`, as `@socket.io/redis-streams-adapter` 0.3 `restoreSession`: the
    /// record is read and deleted in one `MULTI; GET; DEL; EXEC` (so restored at most
    /// once), the offset's entry is checked with `XRANGE <stream> <offset> <offset>`, and
    /// the stream of `nsp` is read from the entry after it to its end in pages of
    /// [`StreamsConfig::restore_page_entries`] (`XRANGE … COUNT`), at most
    /// [`StreamsConfig::restore_max_entries`] entries. Kept: the entries of `nsp` of type
    /// `"3"` (broadcasts) whose `rooms` is empty or shares a room with the session's
    /// rooms, and whose `except` holds none of them (volatile ones too, as Node). Each
    /// gets its entry id appended to its `data`. An entry that cannot be decoded is
    /// skipped and counted (`decode:<kind>` in
    /// [`AdapterStats::dropped`](crate::AdapterStats::dropped)). The namespace needs no
    /// running adapter on this server.
    ///
    /// The caller re-joins the rooms and emits each missed packet to the new socket. With
    /// socketioxide 0.18 (no connection state recovery of its own; its socket ids cannot
    /// be chosen, so the restored socket has a new id):
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use serde_json::{Value as Json, json};
    /// use sio_redis::convert::{EventArgs, to_value};
    /// use sio_redis::{RedisAdapterState, SessionRecord, StreamsAdapter, StreamsConfig};
    /// use socketioxide::{SocketIo, extract::{SocketRef, TryData}, socket::DisconnectReason};
    ///
    /// type A = StreamsAdapter<socketioxide::adapter::Emitter>;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let state = RedisAdapterState::connect("redis://127.0.0.1:6379", StreamsConfig::default()).await?;
    /// let (_layer, io) = SocketIo::builder().with_adapter::<A>(state.clone()).build_layer();
    /// let st = state.clone();
    /// io.ns("/", async move |socket: SocketRef<A>, TryData(auth): TryData<Json>| {
    ///     let auth = auth.unwrap_or(Json::Null);
    ///     let mut pid = format!("pid-{}", socket.id); // any hard-to-guess id of the app's
    ///     if let (Some(p), Some(offset)) = (auth["pid"].as_str(), auth["offset"].as_str()) {
    ///         if let Ok(restored) = st.restore_session("/", p, offset).await {
    ///             let old = &restored.session;
    ///             pid = old.pid.clone();
    ///             // Its rooms, but the old own-id room (socketioxide gave a new id).
    ///             socket.join(old.rooms.iter().filter(|r| **r != old.sid).cloned().collect::<Vec<_>>());
    ///             for missed in &restored.missed_packets {
    ///                 let event = missed.event().unwrap_or("message").to_owned();
    ///                 let _ = socket.emit(event, &EventArgs(missed.args().to_vec()));
    ///             }
    ///         }
    ///     }
    ///     // What the client presents at its next connection (`auth: {pid, offset}`).
    ///     let offset = st.stream_offset("/").map(|id| id.to_string());
    ///     let _ = socket.emit("session", &json!({ "pid": pid, "offset": offset }));
    ///     let st = st.clone();
    ///     socket.on_disconnect(async move |s: SocketRef<A>, reason: DisconnectReason| {
    ///         use DisconnectReason::*;
    ///         if !matches!(reason, TransportClose | TransportError | HeartbeatTimeout | ClosingServer) {
    ///             return; // the client left on purpose: nothing to recover
    ///         }
    ///         let session = SessionRecord {
    ///             sid: s.id.to_string(),
    ///             pid,
    ///             rooms: s.rooms().iter().map(|r| r.to_string()).collect(),
    ///             data: to_value(&json!({ "user": "bob" })).unwrap_or_default(),
    ///         };
    ///         let _ = st.persist_session(&session, Duration::from_secs(120)).await;
    ///     });
    /// }).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::SessionNotRestored`] with the reason ([`NotRestored`]);
    /// [`Error::WrongAdapterKind`] unless the state is for the streams adapter;
    /// [`Error::Transport`] (the record may be deleted by then).
    pub async fn restore_session(
        &self,
        nsp: &str,
        pid: &str,
        offset: &str,
    ) -> Result<RestoredSession, Error> {
        let config = self.streams_config()?;
        let offset: StreamId = offset.parse().map_err(|_| NotRestored::InvalidOffset)?;
        let transport = &self.inner.transport;
        let key = format!("{}{}", config.session_key_prefix, pid);
        let stream = stream_for(&config.stream_name, config.stream_count, nsp);
        let (mut get, mut del) = (redis::cmd("GET"), redis::cmd("DEL"));
        get.arg(&key);
        del.arg(&key);
        let at = offset.to_string();
        let get_and_delete = [get, del];
        let (record, found) = tokio::join!(
            transport.keyed_transaction(key.as_bytes(), &get_and_delete),
            transport.xrange(&stream, &at, &at, Some(1)),
        );
        let raw = match record?.into_iter().next() {
            Some(redis::Value::BulkString(b)) => b,
            Some(redis::Value::SimpleString(s)) => s.into_bytes(),
            _ => return Err(NotRestored::NoSession.into()),
        };
        if found?.is_empty() {
            return Err(NotRestored::OffsetNotFound.into());
        }
        let session = SessionRecord::decode(&raw, &self.inner.engine.limits).map_err(|e| {
            let kind = format!("decode:session:{}", e.kind());
            self.inner.counters.drop_message(&kind, &key, &e);
            NotRestored::Malformed(e)
        })?;
        let missed_packets = self
            .missed_packets(config, &stream, nsp, &session.rooms, offset)
            .await?;
        Ok(RestoredSession {
            session,
            missed_packets,
        })
    }

    /// The broadcasts of `nsp` after `offset` that reach a socket in `rooms`, read in
    /// pages, at most `restore_max_entries` entries (+ 1 to tell that more follow).
    async fn missed_packets(
        &self,
        config: &StreamsConfig,
        stream: &str,
        nsp: &str,
        rooms: &[String],
        mut offset: StreamId,
    ) -> Result<Vec<MissedPacket>, Error> {
        let max = config.restore_max_entries;
        let mut read = 0usize;
        let mut missed = Vec::new();
        loop {
            let start = offset.next();
            if start == offset {
                break; // the largest id: nothing can follow
            }
            // Never more than one entry past the bound.
            let count = config.restore_page_entries.min(max - read + 1);
            let page = self
                .inner
                .transport
                .xrange(stream, &start.to_string(), "+", Some(count))
                .await?;
            let len = page.len();
            for entry in page {
                read += 1;
                if read > max {
                    return Err(NotRestored::TooManyEntries { max }.into());
                }
                offset = entry.id;
                if let Some(p) = self.missed_packet(nsp, rooms, entry) {
                    missed.push(p);
                }
            }
            if len < count {
                break; // the end of the stream
            }
        }
        Ok(missed)
    }

    /// `entry` as a missed packet, if it is a broadcast of `nsp` that reaches `rooms`.
    fn missed_packet(
        &self,
        nsp: &str,
        rooms: &[String],
        entry: StreamEntry,
    ) -> Option<MissedPacket> {
        // Node compares the raw fields: `nsp` equal, `type === "3"`.
        if entry.field(b"nsp").map(|v| &v[..]) != Some(nsp.as_bytes())
            || entry.field(b"type").map(|v| &v[..]) != Some(b"3")
        {
            return None;
        }
        let fields = entry.fields.iter().map(|(k, v)| (k.as_ref(), v.as_ref()));
        let decoded = ClusterMessage::from_stream_fields(fields, &self.inner.engine.limits);
        let (packet, opts) = match decoded {
            Ok(ClusterMessage {
                body: ClusterBody::Broadcast { packet, opts, .. },
                ..
            }) => (packet, opts),
            Ok(_) => return None,
            Err(e) => {
                let kind = format!("decode:{}", e.kind());
                self.inner.counters.drop_message(&kind, &entry.stream, &e);
                return None;
            }
        };
        if !reaches(rooms, &opts) {
            return None;
        }
        let Value::Array(mut data) = packet.data else {
            let e = "a broadcast whose packet data is not an array";
            self.inner
                .counters
                .drop_message("malformed:packet_data", &entry.stream, &e);
            return None;
        };
        data.push(Value::Str(entry.id.to_string()));
        Some(MissedPacket { id: entry.id, data })
    }
}

/// Node's `shouldIncludePacket`: `opts.rooms` empty or sharing a room with the session's
/// rooms, and none of the session's rooms in `opts.except`.
fn reaches(session_rooms: &[String], opts: &BroadcastOptions) -> bool {
    let included = opts.rooms.is_empty() || session_rooms.iter().any(|r| opts.rooms.contains(r));
    included && !session_rooms.iter().any(|r| opts.except.contains(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_filter_as_node() {
        let rooms = vec!["sid1".to_owned(), "a".to_owned()];
        let opts = |r: &[&str], e: &[&str]| {
            BroadcastOptions::new(
                r.iter().map(|s| s.to_string()).collect(),
                e.iter().map(|s| s.to_string()).collect(),
            )
        };
        assert!(reaches(&rooms, &opts(&[], &[])));
        assert!(reaches(&rooms, &opts(&["a", "b"], &[])));
        assert!(!reaches(&rooms, &opts(&["b"], &[])));
        assert!(!reaches(&rooms, &opts(&[], &["sid1"])));
        assert!(!reaches(&rooms, &opts(&["a"], &["a"])));
        assert!(reaches(&rooms, &opts(&["a"], &["b"])));
    }
}
