//! The streams codec: `@socket.io/redis-streams-adapter` 0.3 (PROTOCOL §4). Broadcasts
//! and room changes are stream entries (`XADD <stream> MAXLEN ~ <maxLen> * uid … nsp …
//! type … data …`, read back by the state's stream readers); requests go to the public
//! channel `<prefix>#<nsp>#` and answers to the requester's `<prefix>#<nsp>#<uid>#`, as
//! msgpack (@msgpack/msgpack), with `PUBLISH` / `SUBSCRIBE` or, with `useShardedPubSub`,
//! their sharded forms; the server count is `PUBSUB NUMSUB` (or `SHARDNUMSUB`) of the
//! public channel.

use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use sio_redis_transport::{
    Message, MessageKind, StreamEntry, Subscription, SubscriptionId, Transport, TransportError,
};
use sio_redis_wire::channels::{ShardedChannels, stream_for, streams_to_read};
use sio_redis_wire::{ClusterMessage, ids};
use socketioxide_core::adapter::SocketEmitter;

use crate::config::StreamsConfig;
use crate::engine::{Codec, Engine, Outgoing, Publication, PublishMode, Reply};
use crate::error::Error;
use crate::kind::AdapterKind;
use crate::state::{BoxFuture, RedisAdapterState, StateInner};

/// The streams codec of one namespace.
#[derive(Debug)]
pub(crate) struct StreamsCodec {
    /// `main` is the public channel.
    channels: ShardedChannels,
    /// `<prefix>#<nsp>#<uid>#`, this server's private channel.
    own_response: String,
    /// The stream this namespace's entries go to.
    stream: String,
    nsp: String,
    uid: String,
    max_len: u64,
    read_count: usize,
    block_time: Duration,
    sharded_pubsub: bool,
    only_plaintext: bool,
    /// Whether Node 0.3 nodes read `stream` (they read `-0 … -(N−1)` only).
    read_by_node: bool,
    /// For the stream reader (attached at start, detached at close).
    state: Weak<StateInner>,
    attached: std::sync::atomic::AtomicBool,
}

impl StreamsCodec {
    fn message(&self, uid: &str, body: sio_redis_wire::ClusterBody) -> ClusterMessage {
        ClusterMessage {
            uid: uid.to_owned(),
            nsp: self.nsp.clone(),
            body,
        }
    }
}

impl Codec for StreamsCodec {
    const KIND: AdapterKind = AdapterKind::Streams;
    const REMOTE_ALL_ROOMS: bool = false;

    fn new_uid() -> String {
        ids::cluster_uid()
    }

    fn new_request_id() -> String {
        ids::cluster_uid()
    }

    fn new(state: &RedisAdapterState, nsp: &str, uid: &str) -> Self {
        let config = state.inner.config.kind_or_default::<StreamsConfig>();
        let channels = ShardedChannels::new(&config.channel_prefix, nsp);
        let stream = stream_for(&config.stream_name, config.stream_count, nsp);
        Self {
            own_response: channels.own_response(uid),
            channels,
            read_by_node: streams_to_read(&config.stream_name, config.stream_count)
                .contains(&stream),
            stream,
            nsp: nsp.to_owned(),
            uid: uid.to_owned(),
            max_len: config.max_len,
            read_count: config.read_count,
            block_time: config.block_time,
            sharded_pubsub: config.use_sharded_pubsub,
            only_plaintext: config.only_plaintext,
            state: Arc::downgrade(&state.inner),
            attached: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The public and private channels (`SUBSCRIBE`, or one `SSUBSCRIBE` each with
    /// `useShardedPubSub`).
    fn subscription(&self) -> Subscription {
        let (main, own) = (self.channels.main.clone(), self.own_response.clone());
        if self.sharded_pubsub {
            Subscription::new().shard_channel(main).shard_channel(own)
        } else {
            Subscription::new().channel(main).channel(own)
        }
    }

    /// Broadcasts without acknowledgements and room changes: a stream entry (Node's
    /// layout, `data` JSON or base64 msgpack when it holds binary); the rest: msgpack on
    /// the public channel.
    fn encode(&self, uid: &str, msg: Outgoing) -> Publication {
        let durable = matches!(
            msg,
            Outgoing::Broadcast { .. }
                | Outgoing::SocketsJoin { .. }
                | Outgoing::SocketsLeave { .. }
                | Outgoing::DisconnectSockets { .. }
        );
        let m = self.message(uid, msg.into_cluster_body());
        if durable {
            Publication::entry(self.stream.clone(), m.to_stream_fields(self.only_plaintext))
        } else {
            Publication::message(
                self.channels.main.clone(),
                Bytes::from(m.encode_streams_pubsub()),
            )
        }
    }

    /// To the requester's private channel, msgpack.
    fn encode_reply(
        &self,
        requester: Option<&str>,
        request_id: String,
        reply: Reply,
    ) -> Option<Publication> {
        let body = reply.into_cluster_body(request_id)?;
        let channel = match requester {
            Some(uid) => self.channels.own_response(uid),
            None => self.channels.main.clone(),
        };
        let m = self.message(&self.uid, body);
        Some(Publication::message(
            channel,
            Bytes::from(m.encode_streams_pubsub()),
        ))
    }

    /// A stream entry: `XADD <stream> MAXLEN ~ <maxLen> * <fields>` through the
    /// transport's stream writer (one ordered queue with an offline buffer; entries
    /// whose reply was lost are looked for in the stream before being written again;
    /// routed to the stream's slot owner on a cluster): awaited, or queued (broadcasts;
    /// volatile ones refused while Redis is unreachable) as the mode says. A message:
    /// `PUBLISH` / `SPUBLISH`, awaited or queued as the mode says.
    fn publish<'a>(
        &'a self,
        transport: &'a Transport,
        p: Publication,
        mode: PublishMode,
    ) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async move {
            if let Some(entry) = p.entry {
                let fields = sio_redis_transport::stream_fields(entry.fields);
                let (stream, max) = (&p.channel, Some(self.max_len));
                return match mode {
                    PublishMode::Awaited => transport.xadd(stream, max, fields).await.map(drop),
                    PublishMode::Queued => transport.xadd_queued(stream, max, fields, true).await,
                    PublishMode::Volatile => {
                        transport.xadd_queued(stream, max, fields, false).await
                    }
                };
            }
            match (self.sharded_pubsub, mode) {
                (true, PublishMode::Awaited) => {
                    transport.spublish(&p.channel, p.payload).await.map(drop)
                }
                (true, _) => transport.spublish_queued(p.channel, p.payload).await,
                (false, PublishMode::Awaited) => {
                    transport.publish(&p.channel, p.payload).await.map(drop)
                }
                (false, PublishMode::Queued) => {
                    transport.publish_queued(p.channel, p.payload).await
                }
                (false, PublishMode::Volatile) => {
                    transport.publish_volatile(p.channel, p.payload).await
                }
            }
        })
    }

    /// `PUBSUB NUMSUB` (or `SHARDNUMSUB`) of the public channel.
    fn server_count<'a>(
        &'a self,
        transport: &'a Transport,
    ) -> BoxFuture<'a, Result<u64, TransportError>> {
        if self.sharded_pubsub {
            Box::pin(transport.shardnumsub(&self.channels.main))
        } else {
            Box::pin(transport.numsub(&self.channels.main))
        }
    }

    fn on_message<E: SocketEmitter>(engine: &Arc<Engine<E, Self>>, msg: Message) {
        match ClusterMessage::decode(&msg.payload, &engine.state.inner.engine.limits) {
            Ok(m) => engine.apply_cluster_message(m, &msg),
            Err(e) => engine.decode_failed(&msg, &e),
        }
    }

    /// Starts (or joins) the reader of the namespace's stream; warns when Node nodes do
    /// not read that stream (a negative index, PROTOCOL §4.2).
    fn started<E: SocketEmitter>(
        engine: &Arc<Engine<E, Self>>,
    ) -> BoxFuture<'static, Result<(), Error>> {
        let engine = engine.clone();
        Box::pin(async move {
            let codec = &engine.codec;
            if !codec.read_by_node {
                tracing::warn!(
                    nsp = %codec.nsp,
                    stream = %codec.stream,
                    "Node streams-adapter 0.3 nodes do not read this namespace's stream \
                     (Node's negative stream index): they never see its broadcasts"
                );
            }
            let inner = &engine.state.inner;
            inner
                .stream_readers
                .attach(inner, &codec.stream, codec.read_count, codec.block_time)
                .await?;
            codec
                .attached
                .store(true, std::sync::atomic::Ordering::Release);
            Ok(())
        })
    }

    fn on_stream_entry<E: SocketEmitter>(engine: &Arc<Engine<E, Self>>, entry: StreamEntry) {
        let limits = &engine.state.inner.engine.limits;
        let fields = entry.fields.iter().map(|(k, v)| (k.as_ref(), v.as_ref()));
        // Where it came from, for the counters and logs of what is dropped.
        let msg = Message::new(MessageKind::Message, &*entry.stream, None, Bytes::new());
        match ClusterMessage::from_stream_fields(fields, limits) {
            Ok(m) => engine.apply_stream_message(m, &msg),
            Err(e) => engine.decode_failed(&msg, &e),
        }
    }

    fn release(&self) -> Vec<SubscriptionId> {
        if self
            .attached
            .swap(false, std::sync::atomic::Ordering::AcqRel)
            && let Some(state) = self.state.upgrade()
        {
            state.stream_readers.detach(&self.stream);
        }
        Vec::new()
    }
}
