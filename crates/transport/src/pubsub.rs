//! [`Transport`]: the standalone composition (one publisher and one
//! subscriber connection, to one server or a Sentinel-chosen one), behind a
//! cheap-to-clone handle.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::cluster::router::Router;
use crate::cluster::shards::{ShardCommand, ShardSupervisor};
use crate::cluster::topology::ClusterTopology;
use crate::config::{EndpointSpec, TransportConfig};
use crate::conn::mux::Verb;
use crate::conn::{Dial, RespConnection};
use crate::error::{ConfigError, TransportError};
use crate::event::{ConnectionEvent, Counters, Role, TransportStats};
use crate::message::{MessageHandler, SubscriptionId};
use crate::shared::{Shared, millis};
use crate::stream::{StreamHandler, StreamId, StreamStart};
use crate::subscription::Subscription;
use crate::worker::probe::Probe;
use crate::worker::publish_queue::{Mode, PublishQueue, PublishWorker};
use crate::worker::publisher::{Publisher, PublisherWorker};
use crate::worker::stream_reader::{Place, ReaderParts, StreamReaderWorker};
use crate::worker::subscriber::{COMMAND_CAPACITY, Command, SubscriberSettings, SubscriberWorker};
use crate::worker::supervisor::Supervisor;

/// The classic Redis pub/sub transport of the Socket.IO adapters: a
/// publisher connection and a dedicated subscriber connection, each with a
/// worker task that reconnects it with back-off.
///
/// Cheap to clone; every clone drives the same connections. The subscriber
/// worker owns the subscription registry and re-subscribes every channel
/// and pattern after any reconnect. Stop everything with
/// [`Transport::close`]; dropping the last clone stops the workers too
/// (without waiting for them).
///
/// Delivery is at-most-once: what is published while the subscriber is
/// disconnected is lost.
#[derive(Clone)]
pub struct Transport {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    publisher: Arc<Publisher>,
    commands: mpsc::Sender<Command>,
    publish_queue: PublishQueue,
    /// Cancels every worker's token, at [`Transport::close`] or when the
    /// last handle is dropped.
    shutdown: DropGuard,
    workers: tokio::sync::Mutex<Supervisor>,
    closed: AtomicBool,
    next_id: AtomicU64,
    response_timeout: Duration,
    /// On a Redis Cluster: the slot routing and the shard subscribers.
    cluster: Option<ClusterParts>,
    /// [`TransportConfig::publish_only`]: no subscriber.
    publish_only: bool,
    /// With [`TransportConfig::subscriber_url`]: a command connection to the
    /// subscriber's endpoint, for the server counts.
    counter: Option<Arc<Publisher>>,
    /// What stream readers need: how to connect, where (the publisher's
    /// endpoint; on a cluster the router), the back-off, the entry bound.
    readers: ReaderSettings,
}

/// How stream readers connect.
struct ReaderSettings {
    dial: Arc<Dial>,
    backoff: crate::backoff::Backoff,
    spec: EndpointSpec,
    max_entry: usize,
}

/// What a cluster transport has beyond the standalone parts.
struct ClusterParts {
    router: Arc<Router>,
    shard_commands: mpsc::Sender<ShardCommand>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("publisher", &self.inner.publisher)
            .field("subscriber_connected", &self.inner.shared.subscriber_up())
            .field("closed", &self.inner.closed.load(Ordering::Acquire))
            .field("stats", &self.stats())
            .finish()
    }
}

impl Transport {
    /// Connects the publisher, then the subscriber, and starts their worker
    /// tasks (on the current Tokio runtime). Calls
    /// [`TransportConfig::build`] first if it was not called.
    ///
    /// Each connection is tried once, bounded by the connect timeout: an
    /// unreachable Redis at start-up is an error, not a retry loop.
    ///
    /// # Errors
    ///
    /// * [`TransportError::Config`] if the configuration does not validate;
    /// * [`TransportError::Connect`] with the [`Role`] that failed (refused
    ///   or timed-out connection, `AUTH`/`HELLO` refused, TLS failure, no
    ///   master known to the Sentinels).
    pub async fn connect(config: TransportConfig) -> Result<Transport, TransportError> {
        let built = config.endpoints()?;
        let connect_error = |role| move |source| TransportError::Connect { role, source };
        let pub_endpoint = built
            .publisher
            .endpoint()
            .map_err(connect_error(Role::Publisher))?;
        let sub_endpoint = built
            .subscriber
            .endpoint()
            .map_err(connect_error(Role::Subscriber))?;

        let shared = Arc::new(Shared::new(config.event_capacity));
        let dial = Arc::new(Dial::new(
            config.tls_certificates(),
            config.connect_timeout,
            config.max_message_bytes,
        ));
        let publisher = Arc::new(Publisher::new(config.response_timeout, dial.clone()));
        // A cluster endpoint goes to the next node at each attempt: each is tried once.
        let mut attempt = Ok(());
        for _ in 0..pub_endpoint.candidates() {
            attempt = publisher.connect_initial(&pub_endpoint).await;
            if attempt.is_ok() {
                break;
            }
        }
        attempt.map_err(connect_error(Role::Publisher))?;
        // With a subscriber endpoint of its own, server counts are asked there.
        let counter = if config.separate_subscriber() && !config.publish_only {
            let endpoint = built
                .subscriber
                .endpoint()
                .map_err(connect_error(Role::Subscriber))?;
            let counter = Arc::new(Publisher::new(config.response_timeout, dial.clone()));
            counter
                .connect_initial(&endpoint)
                .await
                .map_err(connect_error(Role::Subscriber))?;
            Some((counter, endpoint))
        } else {
            None
        };
        let sub_conn = if config.publish_only {
            None
        } else {
            let mut sub_conn = None;
            for _ in 0..sub_endpoint.candidates() {
                match RespConnection::open(&sub_endpoint, &dial).await {
                    Ok(conn) => {
                        sub_conn = Some(Ok(conn));
                        break;
                    }
                    Err(e) => sub_conn = Some(Err(e)),
                }
            }
            let conn = sub_conn.expect("at least one candidate");
            Some(conn.map_err(connect_error(Role::Subscriber))?)
        };
        let topology = match &built.publisher {
            EndpointSpec::Cluster(spec) => {
                let topology = match ClusterTopology::fetch(&config).await {
                    Ok(t) => t,
                    Err(e) => {
                        return Err(TransportError::Connect {
                            role: Role::Publisher,
                            source: match e {
                                TransportError::Redis(e)
                                | TransportError::Connect { source: e, .. } => e,
                                other => redis::RedisError::from((
                                    redis::ErrorKind::Io,
                                    "cannot read the cluster's slot map",
                                    other.to_string(),
                                )),
                            },
                        });
                    }
                };
                let nodes: Vec<redis::Client> = topology
                    .shards()
                    .iter()
                    .flat_map(|s| std::iter::once(&s.primary).chain(&s.replicas))
                    .filter_map(|a| spec.node(&a.host, a.port).ok())
                    .collect();
                pub_endpoint.add_nodes(&nodes);
                sub_endpoint.add_nodes(&nodes);
                Some((spec.clone(), topology))
            }
            _ => None,
        };
        let rotations = (pub_endpoint.rotation(), sub_endpoint.rotation());
        let readers = ReaderSettings {
            dial: dial.clone(),
            backoff: config.backoff_ref().clone(),
            spec: built.publisher.clone(),
            max_entry: config.max_message_bytes,
        };
        let root = CancellationToken::new();
        let mut workers = Supervisor::new(root.clone());
        let (commands, commands_rx) = mpsc::channel(COMMAND_CAPACITY);
        // Checked by the config: in 1..=u32::MAX.
        let buffer_bytes = u32::try_from(config.publish_buffer_bytes).unwrap_or(u32::MAX);
        let (publish_queue, publish_rx) = PublishQueue::new(buffer_bytes);
        workers.spawn("publish queue", |shutdown| {
            PublishWorker {
                rx: publish_rx,
                publisher: publisher.clone(),
                shared: shared.clone(),
                max_age: config.publish_buffer_max_age,
                own_subscriber: sub_conn.is_some(),
                shutdown,
            }
            .run()
        });
        workers.spawn("publisher", |shutdown| {
            PublisherWorker {
                publisher: publisher.clone(),
                endpoint: pub_endpoint,
                shared: shared.clone(),
                backoff: config.backoff_ref().clone(),
                health_check: config.health_checks(),
                shutdown,
            }
            .run()
        });
        let counter = counter.map(|(counter, endpoint)| {
            workers.spawn("subscriber-side commands", |shutdown| {
                PublisherWorker {
                    publisher: counter.clone(),
                    endpoint,
                    shared: shared.clone(),
                    backoff: config.backoff_ref().clone(),
                    health_check: config.health_checks(),
                    shutdown,
                }
                .run()
            });
            counter
        });
        let settings = SubscriberSettings {
            dial: dial.clone(),
            backoff: config.backoff_ref().clone(),
            response_timeout: config.response_timeout,
            health_check: config.health_checks(),
        };
        let probe = config
            .probes()
            .map(|interval| Probe::new(interval, publisher.clone()));
        let roles: &[Role] = match sub_conn {
            Some(sub_conn) => {
                workers.spawn("subscriber", |shutdown| {
                    SubscriberWorker::new(
                        sub_endpoint,
                        &settings,
                        shared.clone(),
                        commands_rx,
                        shutdown,
                        probe,
                    )
                    .run(Some(sub_conn))
                });
                &[Role::Publisher, Role::Subscriber]
            }
            None => &[Role::Publisher],
        };
        let cluster = match topology {
            Some((spec, topology)) => {
                let router = Arc::new(Router::new(
                    topology,
                    spec,
                    dial.clone(),
                    config.response_timeout,
                    shared.clone(),
                ));
                router.follow(rotations.0.clone());
                router.follow(rotations.1.clone());
                let (shard_commands, shard_rx) = mpsc::channel(COMMAND_CAPACITY);
                let supervisor = ShardSupervisor {
                    router: router.clone(),
                    commands: shard_rx,
                    settings: settings.clone(),
                    shared: shared.clone(),
                    event_capacity: config.event_capacity,
                    replicas: config.read_from_replicas,
                    shutdown: CancellationToken::new(),
                };
                workers.spawn("shard supervisor", |shutdown| {
                    ShardSupervisor {
                        shutdown,
                        ..supervisor
                    }
                    .run()
                });
                Some(ClusterParts {
                    router,
                    shard_commands,
                })
            }
            None => None,
        };
        for &role in roles {
            shared.emit(ConnectionEvent::Connected { role });
        }
        Ok(Transport {
            inner: Arc::new(Inner {
                shared,
                publisher,
                commands,
                publish_queue,
                shutdown: root.drop_guard(),
                workers: tokio::sync::Mutex::new(workers),
                closed: AtomicBool::new(false),
                next_id: AtomicU64::new(1),
                response_timeout: config.response_timeout,
                cluster,
                publish_only: config.publish_only,
                counter,
                readers,
            }),
        })
    }

    /// `PUBLISH channel payload`; returns the number of clients that received it
    /// (Redis's reply: subscribers of the channel plus matching pattern
    /// subscriptions, on this node). It goes through the same ordered queue as
    /// [`Transport::publish_queued`], sent in a pipeline with whatever else is
    /// queued; the whole call is bounded by the response timeout.
    ///
    /// # Errors
    ///
    /// Every error increments [`TransportStats::publish_errors`]; nothing is
    /// retried here.
    /// * [`TransportError::NotConnected`] at once while the publisher is
    ///   reconnecting (nothing sent: requests fail fast during an outage);
    /// * [`TransportError::Timeout`] after the response timeout (default
    ///   2000 ms) with no reply; the message may have been published;
    /// * [`TransportError::BufferFull`] if the queue had no room within the
    ///   response timeout;
    /// * [`TransportError::Redis`] for an error reply (e.g. `NOPERM`) or a
    ///   connection failure in flight (which also starts a reconnect);
    /// * [`TransportError::Closed`], [`TransportError::GaveUp`].
    ///
    /// # Cancel safety
    ///
    /// Dropping the future may or may not leave the message published.
    pub async fn publish(&self, channel: &str, payload: Bytes) -> Result<u64, TransportError> {
        self.publish_awaited(Verb::Publish, channel, payload).await
    }

    /// One message through the ordered queue, awaiting Redis's receiver
    /// count, the whole exchange bounded by the response timeout.
    async fn publish_awaited(
        &self,
        verb: Verb,
        channel: &str,
        payload: Bytes,
    ) -> Result<u64, TransportError> {
        let timeout = self.inner.response_timeout;
        let (tx, rx) = oneshot::channel();
        let exchange = async {
            self.enqueue(verb, channel.to_owned(), payload, Some(tx), false)
                .await?;
            rx.await.unwrap_or(Err(TransportError::Closed))
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or_else(|_| {
                Counters::incr(&self.inner.shared.counters.publish_errors);
                Err(TransportError::Timeout {
                    ms: millis(timeout),
                })
            })
    }

    /// Queues `PUBLISH channel payload` behind the messages already queued and
    /// returns once it is queued. A worker sends queued messages in pipelines,
    /// in order, one round trip per batch. The outcome is not reported to the
    /// caller: a failure is counted in [`TransportStats::publish_errors`] and
    /// logged (at-most-once delivery, as Node's adapters, which do not await
    /// their PUBLISHes).
    ///
    /// While the publisher is reconnecting the message waits in the queue (the
    /// offline buffer: [`TransportConfig::publish_buffer_bytes`], 32 MiB by
    /// default, and [`TransportConfig::publish_buffer_max_age`], 5 s) and is
    /// sent in order once the connection is back; what is older than the age
    /// limit by then is dropped and counted in
    /// [`TransportStats::publish_dropped`].
    ///
    /// # Errors
    ///
    /// [`TransportError::BufferFull`] when the queue holds its limit (at once
    /// while the publisher is down, after the response timeout while it is
    /// up); [`TransportError::Closed`]; [`TransportError::GaveUp`].
    pub async fn publish_queued(
        &self,
        channel: String,
        payload: Bytes,
    ) -> Result<(), TransportError> {
        self.enqueue(Verb::Publish, channel, payload, None, true)
            .await
    }

    /// As [`Transport::publish_queued`], for a message that is worthless later
    /// (a volatile broadcast): while the publisher is reconnecting it is not
    /// buffered but refused at once.
    ///
    /// # Errors
    ///
    /// [`TransportError::NotConnected`] at once while the publisher is
    /// reconnecting; otherwise as [`Transport::publish_queued`].
    pub async fn publish_volatile(
        &self,
        channel: String,
        payload: Bytes,
    ) -> Result<(), TransportError> {
        self.enqueue(Verb::Publish, channel, payload, None, false)
            .await
    }

    /// Queues one message; `buffer`: whether it may wait while the publisher
    /// is down.
    async fn enqueue(
        &self,
        verb: Verb,
        channel: String,
        payload: Bytes,
        reply: Option<oneshot::Sender<Result<u64, TransportError>>>,
        buffer: bool,
    ) -> Result<(), TransportError> {
        let counters = &self.inner.shared.counters;
        let mode = match self
            .check_open()
            .and_then(|()| self.inner.publisher.current())
        {
            Ok(_) => Mode::Online {
                wait: self.inner.response_timeout,
            },
            Err(TransportError::NotConnected { .. }) if buffer => Mode::Offline,
            Err(e) => {
                Counters::incr(&counters.publish_errors);
                return Err(e);
            }
        };
        let result = self
            .inner
            .publish_queue
            .push(verb, channel, payload, reply, mode)
            .await;
        if result.is_err() {
            Counters::incr(&counters.publish_errors);
        }
        result
    }

    /// `PUBSUB NUMSUB channel` on the publisher connection: how many clients
    /// are subscribed to exactly this channel (pattern subscriptions not
    /// counted), on this node. Element \[1\] of the RESP2 reply (a map entry
    /// under RESP3). On a Redis Cluster ([`TransportConfig::cluster`]) the
    /// counts of every node of the slot map are added up, as Node's adapter
    /// does on a cluster client (a subscriber connection is counted on the node
    /// it is connected to); nodes that do not answer within the response
    /// timeout count 0. Each call opens one short-lived connection per node
    /// (to be replaced by the cluster's per-node connections).
    ///
    /// # Errors
    ///
    /// As [`Transport::publish`] (without touching the counters), plus
    /// [`TransportError::Redis`] if the reply has an unexpected shape; on a
    /// cluster, the last node's error when no node answered.
    pub async fn numsub(&self, channel: &str) -> Result<u64, TransportError> {
        self.check_open()?;
        let mut cmd = redis::cmd("PUBSUB");
        cmd.arg("NUMSUB").arg(channel);
        let Some(cluster) = &self.inner.cluster else {
            return numsub_count(&self.counter().query(&cmd).await?);
        };
        add_up(
            cluster
                .router
                .on_every_node(&cmd.get_packed_command())
                .await,
        )
    }

    /// Registers `handler` for the messages of `subscription`: its channels
    /// (`SUBSCRIBE`, exact names), the channels matching its patterns
    /// (`PSUBSCRIBE`, glob-style) and its shard channels (`SSUBSCRIBE`,
    /// Redis ≥ 7.0, one command per shard channel), then subscribes, and
    /// returns once Redis confirmed every name: a message published after
    /// this returns reaches the handler.
    ///
    /// The handler is registered *before* the `SUBSCRIBE` is sent, and stays
    /// registered across reconnects until [`Transport::unsubscribe`]. Each
    /// subscription has its own handler; a message that matches several
    /// subscriptions (the same channel twice, or a channel and a pattern)
    /// goes to each of them, and a channel that is also matched by a pattern
    /// yields two deliveries, as Redis sends both `message` and `pmessage`.
    /// Duplicate names within one call count once. An empty subscription is
    /// allowed.
    ///
    /// While the subscriber is reconnecting, the call waits for the
    /// re-subscription (within the response timeout).
    ///
    /// # Errors
    ///
    /// After any error nothing stays registered.
    /// * [`TransportError::Timeout`] if not confirmed within the response
    ///   timeout (default 2000 ms);
    /// * [`TransportError::Redis`] if Redis refused (e.g. `NOPERM` for an
    ///   ACL user without access to a channel);
    /// * [`TransportError::Closed`], [`TransportError::GaveUp`].
    ///
    /// # Cancel safety
    ///
    /// Dropping the future removes the subscription again (the worker notices
    /// that nobody waits for its answer).
    pub async fn subscribe(
        &self,
        subscription: Subscription,
        handler: MessageHandler,
    ) -> Result<SubscriptionId, TransportError> {
        self.check_open()?;
        if self.inner.publish_only {
            return Err(TransportError::Config(ConfigError::Invalid {
                setting: "publish_only",
                reason: "this transport only publishes: subscribe is not available".into(),
            }));
        }
        let id = SubscriptionId(self.inner.next_id.fetch_add(1, Ordering::Relaxed));
        let timeout = self.inner.response_timeout;
        let Some(cluster) = &self.inner.cluster else {
            return self.subscribe_classic(id, subscription, handler).await;
        };
        // On a cluster the shard channels go to the subscribers of their slots'
        // owners, the rest to the one subscriber connection.
        let Subscription {
            channels,
            patterns,
            shard_channels,
        } = subscription;
        let classic = Subscription {
            channels,
            patterns,
            shard_channels: Vec::new(),
        };
        if shard_channels.is_empty() {
            return self.subscribe_classic(id, classic, handler).await;
        }
        let (ack, answer) = oneshot::channel();
        let command = ShardCommand::Subscribe {
            id,
            channels: shard_channels,
            handler: handler.clone(),
            ack,
        };
        let shards = async {
            cluster
                .shard_commands
                .send(command)
                .await
                .map_err(|_| TransportError::Closed)?;
            answer.await.unwrap_or(Err(TransportError::Closed))
        };
        let shards = async {
            tokio::time::timeout(timeout, shards)
                .await
                .unwrap_or(Err(TransportError::Timeout {
                    ms: millis(timeout),
                }))
        };
        let (classic, shards) = tokio::join!(self.subscribe_classic(id, classic, handler), shards);
        match (classic, shards) {
            (Ok(_), Ok(())) => Ok(id),
            (classic, shards) => {
                // Nothing stays registered.
                let _ = self.unsubscribe(id).await;
                Err(classic.err().or(shards.err()).expect("one failed"))
            }
        }
    }

    /// Registers `subscription` under `id` with the one subscriber worker.
    async fn subscribe_classic(
        &self,
        id: SubscriptionId,
        subscription: Subscription,
        handler: MessageHandler,
    ) -> Result<SubscriptionId, TransportError> {
        let (ack, answer) = oneshot::channel();
        let command = Command::Subscribe {
            id,
            subscription,
            handler,
            ack,
        };
        let exchange = async {
            self.inner
                .commands
                .send(command)
                .await
                .map_err(|_| self.stopped_error())?;
            answer.await.unwrap_or_else(|_| Err(self.stopped_error()))
        };
        match tokio::time::timeout(self.inner.response_timeout, exchange).await {
            Ok(result) => result.map(|()| id),
            Err(_) => Err(TransportError::Timeout {
                ms: millis(self.inner.response_timeout),
            }),
        }
    }

    /// Removes a subscription: its handler is not called any more once this
    /// returns, and `UNSUBSCRIBE`/`PUNSUBSCRIBE` is sent (and confirmed) for
    /// the names no other subscription still needs. An
    /// unknown or already removed id is not an error.
    ///
    /// While the subscriber is reconnecting, only the registry is updated
    /// (the new connection will not subscribe them).
    ///
    /// # Errors
    ///
    /// [`TransportError::Timeout`] if the worker did not answer within the
    /// response timeout (the subscription is removed anyway, shortly);
    /// [`TransportError::Closed`], [`TransportError::GaveUp`].
    ///
    /// # Cancel safety
    ///
    /// Once the request reached the worker, the subscription is removed even
    /// if the future is dropped.
    pub async fn unsubscribe(&self, id: SubscriptionId) -> Result<(), TransportError> {
        self.check_open()?;
        let (ack, answer) = oneshot::channel();
        let exchange = async {
            self.inner
                .commands
                .send(Command::Unsubscribe { id, ack })
                .await
                .map_err(|_| self.stopped_error())?;
            answer.await.map_err(|_| self.stopped_error())
        };
        let shards = async {
            let Some(cluster) = &self.inner.cluster else {
                return;
            };
            let (ack, answer) = oneshot::channel();
            if cluster
                .shard_commands
                .send(ShardCommand::Unsubscribe { id, ack })
                .await
                .is_ok()
            {
                let _ = answer.await;
            }
        };
        tokio::time::timeout(self.inner.response_timeout, async {
            let (classic, ()) = tokio::join!(exchange, shards);
            classic
        })
        .await
        .unwrap_or(Err(TransportError::Timeout {
            ms: millis(self.inner.response_timeout),
        }))
    }

    /// `SPUBLISH channel payload` (Redis ≥ 7.0): publishes on a shard channel;
    /// returns the number of clients that received it, on the channel's shard
    /// (Redis's reply). On a standalone Redis it goes through the ordered
    /// queue of [`Transport::publish`]; on a Redis Cluster to the primary of
    /// the channel's slot over that node's connection, following `MOVED` and
    /// `ASK` and retrying `TRYAGAIN`/`CLUSTERDOWN`/`LOADING`/`MASTERDOWN` and
    /// lost connections with back-off (10 to 200 ms), all within the response
    /// timeout.
    ///
    /// # Errors
    ///
    /// As [`Transport::publish`]; on a cluster also [`TransportError::Redis`]
    /// after 5 redirects for one message. Every error increments
    /// [`TransportStats::publish_errors`].
    pub async fn spublish(&self, channel: &str, payload: Bytes) -> Result<u64, TransportError> {
        let Some(cluster) = &self.inner.cluster else {
            return self.publish_awaited(Verb::SPublish, channel, payload).await;
        };
        self.check_open()?;
        let counters = &self.inner.shared.counters;
        match cluster.router.spublish(channel, &payload).await {
            Ok(n) => {
                Counters::incr(&counters.published);
                Ok(n)
            }
            Err(e) => {
                Counters::incr(&counters.publish_errors);
                Err(e)
            }
        }
    }

    /// Queues `SPUBLISH channel payload` and returns once it is queued
    /// (fire-and-forget, as [`Transport::publish_queued`]). On a standalone
    /// Redis it waits in the same ordered queue and offline buffer as
    /// `PUBLISH`. On a Redis Cluster it is written at once, in call order, on
    /// the connection of the channel's slot owner when that is up (order kept
    /// per node); otherwise (the node's connection not made yet or lost, a
    /// redirect) it is sent as [`Transport::spublish`] on a task of its own,
    /// and may overtake others; there is no offline buffer on a cluster: a
    /// message whose owner cannot be reached within the response timeout is
    /// lost and counted in [`TransportStats::publish_errors`].
    ///
    /// # Errors
    ///
    /// As [`Transport::publish_queued`]; on a cluster
    /// [`TransportError::TooManyInFlight`] when 16 384 messages wait for their
    /// reply.
    pub async fn spublish_queued(
        &self,
        channel: String,
        payload: Bytes,
    ) -> Result<(), TransportError> {
        match &self.inner.cluster {
            None => {
                self.enqueue(Verb::SPublish, channel, payload, None, true)
                    .await
            }
            Some(cluster) => {
                self.check_open()?;
                let result = cluster.router.spublish_queued(channel, payload);
                if result.is_err() {
                    Counters::incr(&self.inner.shared.counters.publish_errors);
                }
                result
            }
        }
    }

    /// `PUBSUB SHARDNUMSUB channel` (Redis ≥ 7.0): how many clients are
    /// subscribed to this shard channel. On a standalone Redis asked of the
    /// publisher connection (of the subscriber's endpoint when
    /// [`TransportConfig::subscriber_url`] is set); on a Redis Cluster of
    /// every node of the channel's shard, primary and replicas, added up (a
    /// node counts only its own subscribers, and with
    /// [`TransportConfig::read_from_replicas`] they are on replicas); nodes
    /// that do not answer within the response timeout count 0.
    ///
    /// # Errors
    ///
    /// As [`Transport::numsub`].
    pub async fn shardnumsub(&self, channel: &str) -> Result<u64, TransportError> {
        self.check_open()?;
        let Some(cluster) = &self.inner.cluster else {
            let mut cmd = redis::cmd("PUBSUB");
            cmd.arg("SHARDNUMSUB").arg(channel);
            return numsub_count(&self.counter().query(&cmd).await?);
        };
        let mut cmd = redis::cmd("PUBSUB");
        cmd.arg("SHARDNUMSUB").arg(channel);
        let slot = crate::slot::key_slot(channel.as_bytes());
        add_up(
            cluster
                .router
                .on_shard(slot, &cmd.get_packed_command())
                .await,
        )
    }

    /// Runs `cmd`, a command on the one key `key` (or on keys that share its
    /// hash tag, e.g. `{user1}.a`), where that key lives: on the publisher
    /// connection of a standalone Redis; on a Redis Cluster on the primary of
    /// the key's slot (over that node's connection), following `MOVED` (the
    /// slot map is refreshed) and `ASK` (`ASKING` and the command go to the
    /// migration's target together; the map is kept), and retrying
    /// `TRYAGAIN`, `CLUSTERDOWN`, `LOADING`, `MASTERDOWN` and lost connections
    /// with back-off (10 to 200 ms), all within the response timeout. For
    /// `SET`/`GET`/`DEL`, `XADD`, `XRANGE`… (not for blocking commands: a
    /// blocking `XREAD` would hold every other command of the connection).
    ///
    /// # Errors
    ///
    /// [`TransportError::Redis`] for Redis's error reply (e.g. `WRONGTYPE`,
    /// `CROSSSLOT`, or the last `MOVED` after 5 redirects) or a reply that does
    /// not fit `T`; [`TransportError::Timeout`] when the response timeout
    /// passed (the command may have run); [`TransportError::NotConnected`]
    /// while a standalone publisher reconnects; [`TransportError::Closed`].
    pub async fn keyed_query<T: redis::FromRedisValue>(
        &self,
        key: &[u8],
        cmd: &redis::Cmd,
    ) -> Result<T, TransportError> {
        self.check_open()?;
        let Some(cluster) = &self.inner.cluster else {
            return self.inner.publisher.query(cmd).await;
        };
        let frame = cluster
            .router
            .command(crate::slot::key_slot(key), &cmd.get_packed_command())
            .await?;
        let value = redis::parse_redis_value(&frame)?;
        T::from_redis_value(value).map_err(|e| TransportError::Redis(e.into()))
    }

    /// Appends one entry to `stream`:
    /// `XADD <stream> MAXLEN ~ <max_len> * <field> <value> …` ([`xadd_cmd`],
    /// the command of `@socket.io/redis-streams-adapter` 0.3), run as
    /// [`Transport::keyed_query`] runs a command (on a Redis Cluster, on the
    /// primary of the stream's slot). Returns the new entry's id.
    ///
    /// [`xadd_cmd`]: crate::xadd_cmd
    ///
    /// # Errors
    ///
    /// As [`Transport::keyed_query`]; [`TransportError::Redis`] also when the
    /// reply is not an entry id.
    pub async fn xadd<F, V>(
        &self,
        stream: &str,
        max_len: u64,
        fields: &[(F, V)],
    ) -> Result<StreamId, TransportError>
    where
        F: redis::ToRedisArgs,
        V: redis::ToRedisArgs,
    {
        let cmd = crate::stream::xadd_cmd(stream, max_len, fields);
        let id: String = self.keyed_query(stream.as_bytes(), &cmd).await?;
        id.parse().map_err(|_| {
            TransportError::Redis(redis::RedisError::from((
                redis::ErrorKind::Parse,
                "XADD reply is not an entry id",
            )))
        })
    }

    /// Starts a stream reader: a dedicated connection (never the multiplexed
    /// command connection) that runs
    /// `XREAD COUNT <count> BLOCK <block ms> STREAMS <stream> <last id>` in a
    /// loop (node-redis's argument order, as
    /// `@socket.io/redis-streams-adapter` 0.3 reads) and calls `handler` once
    /// per entry, in stream order, on the reader's own task. Returns once the
    /// first connection is made and the start is resolved: with
    /// [`StreamStart::Latest`], every entry added after this returns is read.
    ///
    /// * The last id moves past every entry handed to the handler, whatever
    ///   the handler does with it (as Node's loop: skipped or undecodable
    ///   entries count too); [`StreamReader::last_id`] tells it.
    /// * Each `XREAD` waits at most `block` + the response timeout for its
    ///   reply (Redis answers nil when `block` ends): no reply by then means
    ///   the connection is dead and it is replaced. The response timeout is
    ///   thus lifted for this connection only, by `block`.
    /// * After any loss (`CLIENT KILL`, restart, that timeout, a failover) it
    ///   reconnects with the transport's [`Backoff`](crate::Backoff) and
    ///   resumes after the last id, so that nothing still in the stream is
    ///   missed or read twice; it reports [`ConnectionEvent::Disconnected`],
    ///   [`ConnectionEvent::Connected`] (role [`Role::StreamReader`]) and
    ///   [`ConnectionEvent::StreamResumed`]. A stream trimmed meanwhile
    ///   (`MAXLEN ~`) past the last id (its first entry, from `XINFO STREAM`,
    ///   past the last id's successor) is reported as
    ///   [`ConnectionEvent::StreamTrimmed`] and counted in
    ///   [`TransportStats::stream_gaps`].
    /// * Memory: one reply holds at most `count` ×
    ///   [`TransportConfig::max_message_bytes`] (+ 64 KiB); a larger one is
    ///   read again one entry at a time, and one entry over the limit is
    ///   skipped ([`TransportStats::stream_oversized`]).
    /// * On a Redis Cluster ([`TransportConfig::cluster`]) it reads from the
    ///   primary of the stream key's slot, follows `MOVED`, and after a loss
    ///   (e.g. a failover) finds the slot's owner again in the refreshed slot
    ///   map.
    ///
    /// Stopped by [`StreamReader::close`], by dropping the [`StreamReader`],
    /// or by [`Transport::close`]. Each reader costs one connection and one
    /// task.
    ///
    /// # Errors
    ///
    /// * [`TransportError::Config`] if `count` is 0 or `block` is under 1 ms
    ///   (`BLOCK 0` would wait forever);
    /// * [`TransportError::Connect`] (role [`Role::StreamReader`]) if the first
    ///   connection or its `XINFO STREAM` failed (tried once, bounded by the
    ///   connect and response timeouts), e.g. `WRONGTYPE` for a key that is
    ///   not a stream;
    /// * [`TransportError::Closed`].
    pub async fn read_stream(
        &self,
        stream: impl Into<String>,
        from: StreamStart,
        count: usize,
        block: Duration,
        handler: StreamHandler,
    ) -> Result<StreamReader, TransportError> {
        self.check_open()?;
        let invalid = |setting, reason: &str| {
            TransportError::Config(ConfigError::Invalid {
                setting,
                reason: reason.into(),
            })
        };
        if count == 0 {
            return Err(invalid("count", "must be ≥ 1"));
        }
        if block < Duration::from_millis(1) {
            return Err(invalid("block", "must be ≥ 1 ms (BLOCK 0 waits forever)"));
        }
        let stream: Arc<str> = stream.into().into();
        let settings = &self.inner.readers;
        let connect_error = |source| TransportError::Connect {
            role: Role::StreamReader,
            source,
        };
        let place = match &self.inner.cluster {
            Some(cluster) => Place::Cluster {
                router: cluster.router.clone(),
                slot: crate::slot::key_slot(stream.as_bytes()),
            },
            None => Place::Endpoint(Box::new(settings.spec.endpoint().map_err(connect_error)?)),
        };
        let start = match from {
            StreamStart::Latest => None,
            StreamStart::After(id) => Some(id),
        };
        let (last_tx, last_rx) = tokio::sync::watch::channel(start);
        let mut worker = StreamReaderWorker::new(ReaderParts {
            stream: stream.clone(),
            place,
            start,
            count,
            block,
            dial: settings.dial.clone(),
            backoff: settings.backoff.clone(),
            response_timeout: self.inner.response_timeout,
            max_entry: settings.max_entry,
            shared: self.inner.shared.clone(),
            handler,
            last_tx,
        });
        let conn = worker.connect_initial().await.map_err(connect_error)?;
        let mut workers = self.inner.workers.lock().await;
        self.check_open()?;
        let mut stop = None;
        workers.spawn("stream reader", |token| {
            stop = Some(token.clone());
            worker.shutdown = token;
            worker.run(conn)
        });
        let stop = stop.expect("spawn calls start");
        Ok(StreamReader {
            stream,
            last: last_rx,
            _stop: stop.clone().drop_guard(),
            stop,
        })
    }

    /// A receiver of connection events from now on (see
    /// [`ConnectionEvent`] for the buffering rules).
    pub fn events(&self) -> broadcast::Receiver<ConnectionEvent> {
        self.inner.shared.events()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> TransportStats {
        self.inner.shared.counters.snapshot()
    }

    /// Whether the subscriber connection is up and every registered channel
    /// and pattern is subscribed (false from the moment a loss is noticed
    /// until [`ConnectionEvent::Resubscribed`], and after close).
    pub fn is_connected(&self) -> bool {
        !self.is_closed() && self.inner.shared.subscriber_up()
    }

    /// Whether the publisher connection is up (as far as the transport
    /// knows: a loss is noticed by a failing command, the health check, or
    /// under RESP3 at once).
    pub fn is_publisher_connected(&self) -> bool {
        !self.is_closed() && self.inner.publisher.is_up()
    }

    /// Stops both workers and waits for them to finish, closing both
    /// connections. Subscriptions are dropped (the server sees the
    /// connection close; no `UNSUBSCRIBE` is sent). Idempotent; concurrent
    /// calls all return after the workers stopped. Afterwards every
    /// operation fails with [`TransportError::Closed`].
    ///
    /// # Cancel safety
    ///
    /// The shutdown is requested before the first await: if the future is
    /// dropped, the workers still stop, only nobody waits for them.
    pub async fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        self.inner.shutdown.token().cancel();
        self.inner.workers.lock().await.shutdown().await;
        if let Some(cluster) = &self.inner.cluster {
            cluster.router.close().await;
        }
        self.inner.publisher.close();
        if let Some(counter) = &self.inner.counter {
            counter.close();
        }
        self.inner.shared.set_subscriber_up(false);
    }

    /// Where server counts are asked on a standalone Redis: the subscriber's
    /// endpoint when it has one of its own, else the publisher.
    fn counter(&self) -> &Publisher {
        self.inner
            .counter
            .as_deref()
            .unwrap_or(&self.inner.publisher)
    }

    fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    fn check_open(&self) -> Result<(), TransportError> {
        if self.is_closed() {
            Err(TransportError::Closed)
        } else {
            Ok(())
        }
    }

    /// The error for a subscriber worker that is gone.
    fn stopped_error(&self) -> TransportError {
        let attempts = self.inner.shared.subscriber_gave_up.load(Ordering::Acquire);
        if attempts > 0 && !self.is_closed() {
            TransportError::GaveUp {
                role: Role::Subscriber,
                attempts,
            }
        } else {
            TransportError::Closed
        }
    }
}

/// The counts of `PUBSUB NUMSUB` / `SHARDNUMSUB` replies of several nodes,
/// added up; nodes that did not answer count 0. The last error when none
/// answered.
fn add_up(replies: Vec<Result<bytes::Bytes, TransportError>>) -> Result<u64, TransportError> {
    let mut total = None;
    let mut last_error = None;
    for reply in replies {
        match reply.and_then(|frame| numsub_count(&redis::parse_redis_value(&frame)?)) {
            Ok(n) => total = Some(total.unwrap_or(0) + n),
            Err(e) => {
                tracing::debug!(error = %e, "PUBSUB (SHARD)NUMSUB: a cluster node did not answer");
                last_error = Some(e);
            }
        }
    }
    total.ok_or_else(|| last_error.unwrap_or(TransportError::Closed))
}

/// The count in a `PUBSUB NUMSUB` reply of one channel: element \[1\] under
/// RESP2, the map's value under RESP3.
fn numsub_count(reply: &redis::Value) -> Result<u64, TransportError> {
    let count = match reply {
        redis::Value::Array(items) => items.get(1),
        redis::Value::Map(pairs) => pairs.first().map(|(_, v)| v),
        _ => None,
    };
    match count {
        Some(v) => {
            redis::from_redis_value_ref::<u64>(v).map_err(|e| TransportError::Redis(e.into()))
        }
        None => Err(TransportError::Redis(redis::RedisError::from((
            redis::ErrorKind::UnexpectedReturnType,
            "unexpected PUBSUB NUMSUB reply",
            format!("{reply:?}"),
        )))),
    }
}

/// A running stream reader, from [`Transport::read_stream`]. Dropping it
/// stops the reader (its task ends soon after, closing its connection);
/// [`StreamReader::close`] also waits for that.
#[derive(Debug)]
pub struct StreamReader {
    stream: Arc<str>,
    last: tokio::sync::watch::Receiver<Option<StreamId>>,
    stop: CancellationToken,
    _stop: DropGuard,
}

impl StreamReader {
    /// The stream (key) read.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// The id of the last entry handed to the handler (or the start given
    /// to [`Transport::read_stream`], or `$` resolved to the stream's
    /// `last-generated-id`): reading goes on after it. `None` only if `$`
    /// could not be resolved (`XINFO STREAM` without `last-generated-id`)
    /// and nothing was read yet.
    pub fn last_id(&self) -> Option<StreamId> {
        *self.last.borrow()
    }

    /// Whether the reader's task has ended (closed, the transport closed, or
    /// its back-off gave up).
    pub fn is_finished(&self) -> bool {
        self.last.has_changed().is_err()
    }

    /// Stops the reader and waits until its task has ended and its
    /// connection is closed. A handler call in progress finishes first.
    pub async fn close(mut self) {
        self.stop.cancel();
        while self.last.changed().await.is_ok() {}
    }
}
