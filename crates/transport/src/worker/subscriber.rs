//! The subscriber worker: owns the dedicated pub/sub connection and the
//! subscription registry, calls the handlers, and after any loss of the
//! connection reconnects with back-off and re-subscribes everything.
//!
//! Handles talk to it through a bounded command channel; every command
//! carries a oneshot for the answer. A handle that stops waiting (timeout,
//! dropped future) drops its oneshot receiver; the worker notices when it
//! answers and removes that subscription again, so an `Err` (or a dropped
//! future) from `subscribe` never leaves a subscription behind.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::{Cmd, RedisError};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, trace, warn};

use super::probe::{Probe, ProbePublish};
use super::registry::Registry;
use super::retry::{Attempts, Next};
use crate::backoff::Backoff;
use crate::config::Endpoint;
use crate::conn::{Dial, Incoming, RespConnection};
use crate::error::{ErrorClass, TransportError, breaks_connection, classify};
use crate::event::{ConnectionEvent, Counters, Role};
use crate::message::{Message, MessageHandler, MessageKind, SubscriptionId};
use crate::shared::{Shared, millis};
use crate::subscription::Subscription;

/// Names per `SUBSCRIBE`-like command when re-subscribing.
const SUBSCRIBE_CHUNK: usize = 1024;

/// A `SUBSCRIBE`-like round trip or health check fails when Redis is silent for
/// the response timeout, or when it takes this many response timeouts in all
/// (30 s with the default 2 s) because messages kept arriving before the reply.
const ROUND_TRIP_CAP_FACTOR: u32 = 15;

/// Capacity of the command channel from the handles to the worker.
pub(crate) const COMMAND_CAPACITY: usize = 64;

type Ack = oneshot::Sender<Result<(), TransportError>>;

/// A request from a handle.
pub(crate) enum Command {
    Subscribe {
        id: SubscriptionId,
        subscription: Subscription,
        handler: MessageHandler,
        ack: Ack,
    },
    Unsubscribe {
        id: SubscriptionId,
        ack: oneshot::Sender<()>,
    },
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Subscribe {
                id, subscription, ..
            } => f
                .debug_struct("Subscribe")
                .field("id", id)
                .field("subscription", subscription)
                .finish_non_exhaustive(),
            Command::Unsubscribe { id, .. } => f
                .debug_struct("Unsubscribe")
                .field("id", id)
                .finish_non_exhaustive(),
        }
    }
}

/// `SUBSCRIBE`-like commands: the command, and the name of the
/// confirmation Redis sends once per channel or pattern.
#[derive(Debug, Clone, Copy)]
enum Op {
    Subscribe,
    Unsubscribe,
}

impl Op {
    /// The command for names of `kind`.
    fn command(self, kind: MessageKind) -> &'static str {
        match (self, kind) {
            (Op::Subscribe, MessageKind::Message) => "SUBSCRIBE",
            (Op::Subscribe, MessageKind::PMessage) => "PSUBSCRIBE",
            (Op::Subscribe, MessageKind::SMessage) => "SSUBSCRIBE",
            (Op::Unsubscribe, MessageKind::Message) => "UNSUBSCRIBE",
            (Op::Unsubscribe, MessageKind::PMessage) => "PUNSUBSCRIBE",
            (Op::Unsubscribe, MessageKind::SMessage) => "SUNSUBSCRIBE",
        }
    }

    /// The reply Redis sends once per name.
    fn confirmation(self, kind: MessageKind) -> &'static [u8] {
        match (self, kind) {
            (Op::Subscribe, MessageKind::Message) => b"subscribe",
            (Op::Subscribe, MessageKind::PMessage) => b"psubscribe",
            (Op::Subscribe, MessageKind::SMessage) => b"ssubscribe",
            (Op::Unsubscribe, MessageKind::Message) => b"unsubscribe",
            (Op::Unsubscribe, MessageKind::PMessage) => b"punsubscribe",
            (Op::Unsubscribe, MessageKind::SMessage) => b"sunsubscribe",
        }
    }
}

/// Why a `SUBSCRIBE`-like round trip failed.
enum RoundTripError {
    /// Redis refused the command (e.g. `NOPERM`); the connection is fine.
    Command(RedisError),
    /// The connection is unusable (closed, I/O error, no reply in time).
    Lost(String),
}

/// Why the connected phase ended.
enum Exit {
    Shutdown,
    Lost(String),
}

pub(crate) struct SubscriberWorker {
    pub(crate) endpoint: Endpoint,
    /// How connections are made (TLS, timeouts, limits).
    pub(crate) dial: Arc<Dial>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) commands: mpsc::Receiver<Command>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) backoff: Backoff,
    pub(crate) response_timeout: Duration,
    pub(crate) health_check: Option<Duration>,
    pub(crate) registry: Registry,
    /// Subscriptions registered while disconnected, answered once
    /// re-subscribed.
    pub(crate) pending: Vec<(SubscriptionId, Ack)>,
    /// Whether an oversized message was logged already.
    pub(crate) warned_oversized: std::sync::atomic::AtomicBool,
    /// The liveness probe; `None` when off.
    pub(crate) probe: Option<Probe>,
    /// The current connection as Redis knows it (`CLIENT INFO`), so that the
    /// next connection can close it on the server.
    pub(crate) identity: Option<Identity>,
    /// Whether Redis refused `CLIENT INFO` (ACL, or Redis < 6.2): no more tries.
    pub(crate) identify_refused: bool,
    /// Whether `reconnect` is making the first connection (not counted as a
    /// reconnect, no events).
    pub(crate) first_connection: bool,
}

/// How subscriber workers connect and check their connection, the same for
/// every subscriber of a transport.
#[derive(Debug, Clone)]
pub(crate) struct SubscriberSettings {
    pub(crate) dial: Arc<Dial>,
    pub(crate) backoff: Backoff,
    pub(crate) response_timeout: Duration,
    pub(crate) health_check: Option<Duration>,
}

impl SubscriberWorker {
    /// A worker for `endpoint` taking commands from `commands`, with an empty
    /// registry.
    pub(crate) fn new(
        endpoint: Endpoint,
        settings: &SubscriberSettings,
        shared: Arc<Shared>,
        commands: mpsc::Receiver<Command>,
        shutdown: CancellationToken,
        probe: Option<Probe>,
    ) -> SubscriberWorker {
        SubscriberWorker {
            endpoint,
            dial: settings.dial.clone(),
            shared,
            commands,
            shutdown,
            backoff: settings.backoff.clone(),
            response_timeout: settings.response_timeout,
            health_check: settings.health_check,
            registry: Registry::default(),
            pending: Vec::new(),
            warned_oversized: std::sync::atomic::AtomicBool::new(false),
            probe,
            identity: None,
            identify_refused: false,
            first_connection: false,
        }
    }
}

/// A subscriber connection as Redis sees it: `id=` and `addr=` of `CLIENT INFO`.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    id: String,
    addr: String,
}

impl Identity {
    /// From a `CLIENT INFO` line (`id=7 addr=127.0.0.1:50412 laddr=… …`).
    fn parse(info: &str) -> Option<Identity> {
        let field = |name: &str| {
            info.split_ascii_whitespace()
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                .map(str::to_owned)
        };
        Some(Identity {
            id: field("id")?,
            addr: field("addr")?,
        })
    }
}

impl std::fmt::Debug for SubscriberWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscriberWorker")
            .field("registry", &self.registry)
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl SubscriberWorker {
    /// Runs until shutdown (or until the back-off gives up), starting with
    /// the connection made by `Transport::connect`.
    /// Without a connection (a cluster node's shard subscriber, started when
    /// a slot of that node is first needed), it starts by connecting, as
    /// after a loss, and answers what was subscribed meanwhile once it is up.
    pub(crate) async fn run(mut self, initial: Option<RespConnection>) {
        let (mut conn, mut identified) = match initial {
            Some(mut conn) => {
                self.shared.set_subscriber_up(true);
                // (Connections made by `reconnect` identify themselves there.)
                let identified = self.identify(&mut conn).await;
                (conn, identified)
            }
            None => {
                self.first_connection = true;
                match self.reconnect(Instant::now()).await {
                    Some(conn) => (conn, Ok(())),
                    None => return,
                }
            }
        };
        loop {
            let exit = match std::mem::replace(&mut identified, Ok(())) {
                Ok(()) => self.serve(&mut conn).await,
                Err(reason) => Exit::Lost(reason),
            };
            self.shared.set_subscriber_up(false);
            drop(conn);
            let reason = match exit {
                Exit::Shutdown => return,
                Exit::Lost(reason) => reason,
            };
            let since = Instant::now();
            // Most likely the publisher's connection (usually to the same
            // server) is gone too: have it checked now.
            self.shared.lost.notify_one();
            warn!(error = %reason, "redis subscriber connection lost, reconnecting");
            self.shared.emit(ConnectionEvent::Disconnected {
                role: Role::Subscriber,
                error: reason,
            });
            conn = match self.reconnect(since).await {
                Some(conn) => conn,
                None => return,
            };
        }
    }

    /// The connected phase: messages, commands, health checks, probes.
    async fn serve(&mut self, conn: &mut RespConnection) -> Exit {
        let period = self.health_check.unwrap_or(Duration::from_secs(3600));
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        if let Err(reason) = self.subscribe_probe(conn).await {
            return Exit::Lost(reason);
        }
        let idle = self
            .probe
            .as_ref()
            .map_or(Duration::from_secs(3600), |p| p.interval);
        let probe_timer = tokio::time::sleep(idle);
        tokio::pin!(probe_timer);
        let mut probe_publish: Option<ProbePublish> = None;
        let mut received_at_tick = self.received();
        loop {
            tokio::select! {
                biased;
                () = self.shutdown.cancelled() => return Exit::Shutdown,
                command = self.commands.recv() => match command {
                    None => return Exit::Shutdown,
                    Some(command) => {
                        if let Err(reason) = self.handle_online(command, conn).await {
                            return Exit::Lost(reason);
                        }
                    }
                },
                incoming = conn.next() => match incoming {
                    Ok(Incoming::Message(msg)) => self.dispatch(msg),
                    Ok(Incoming::Oversized { len }) => self.oversized(len),
                    Ok(Incoming::Reply(reply)) => self.unsolicited(&reply),
                    Err(e) => return Exit::Lost(e.to_string()),
                },
                () = &mut probe_timer, if self.probe.as_ref().is_some_and(|p| p.subscribed) => {
                    if let Err(reason) = self.probe_tick(&mut received_at_tick, &mut probe_publish, probe_timer.as_mut()) {
                        return Exit::Lost(reason);
                    }
                }
                receivers = async { probe_publish.as_mut().expect("guarded").await }, if probe_publish.is_some() => {
                    probe_publish = None;
                    if let Err(reason) = self.probe_published(receivers) {
                        return Exit::Lost(reason);
                    }
                }
                _ = ticker.tick(), if self.health_check.is_some() => {
                    match self.round_trip(conn, &redis::cmd("PING"), b"pong", 1).await {
                        Ok(_) => trace!("subscriber health check ok"),
                        Err(RoundTripError::Lost(reason)) => {
                            return Exit::Lost(format!("health check failed: {reason}"));
                        }
                        Err(RoundTripError::Command(e)) => {
                            return Exit::Lost(format!("health check failed: {e}"));
                        }
                    }
                }
            }
        }
    }

    /// A reply no command waits for. Redis Cluster sends `sunsubscribe` by
    /// itself when the slot of a subscribed shard channel moved to another
    /// node (or the node lost it in a failover): reported as
    /// [`ConnectionEvent::ShardChannelMoved`], for the cluster's supervisor to
    /// subscribe it on the slot's new owner. Anything else is ignored.
    fn unsolicited(&self, reply: &crate::conn::Reply) {
        if !reply
            .name()
            .is_some_and(|n| n.eq_ignore_ascii_case(b"sunsubscribe"))
        {
            trace!(name = ?reply.name(), "unexpected reply ignored");
            return;
        }
        // redis-rs reads `[sunsubscribe, channel, count]` as a push whose
        // data is `[channel, count]`.
        let channel = match reply.value() {
            Ok(redis::Value::Push { data, .. }) => data.first().cloned(),
            Ok(redis::Value::Array(items)) => items.get(1).cloned(),
            _ => None,
        }
        .and_then(|c| redis::from_redis_value::<String>(c).ok());
        if let Some(channel) = channel {
            debug!(%channel, "redis dropped a shard channel (its slot moved)");
            self.shared
                .emit(ConnectionEvent::ShardChannelMoved { channel });
        }
    }

    /// Counts a message dropped for its size; logs the first one.
    fn oversized(&self, len: usize) {
        Counters::incr(&self.shared.counters.oversized_dropped);
        if !self
            .warned_oversized
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            warn!(
                len,
                max = self.dial.max_bulk,
                "pub/sub message over max_message_bytes dropped (logged once; counted in TransportStats::oversized_dropped)"
            );
        }
    }

    /// On a new connection, before anything is subscribed: closes the previous
    /// connection on the server (`CLIENT KILL ID <id> ADDR <addr>`: both must
    /// match, so nothing else is hit, also on another server after a
    /// failover), then learns this one's id and address (`CLIENT INFO`). A
    /// connection we gave up on may still be open on the server (half-open:
    /// the server sees no FIN, and Redis's own `tcp-keepalive` takes 300 s),
    /// and until it is closed `PUBSUB NUMSUB` counts it: every request would
    /// wait for a server that never answers. Refused (ACL without
    /// `+client|info`/`+client|kill`, Redis < 6.2): skipped for good, said at
    /// debug level. `Err`: the connection is lost.
    async fn identify(&mut self, conn: &mut RespConnection) -> Result<(), String> {
        if self.identify_refused {
            return Ok(());
        }
        let timeout = self.response_timeout;
        let silent = || format!("no reply within {} ms", millis(timeout));
        if let Some(old) = self.identity.take() {
            let mut kill = redis::cmd("CLIENT");
            kill.arg("KILL")
                .arg("ID")
                .arg(&old.id)
                .arg("ADDR")
                .arg(&old.addr);
            let reply = tokio::time::timeout(timeout, conn.command(&kill))
                .await
                .map_err(|_| silent())?
                .map_err(|e| e.to_string())?;
            match reply.error() {
                Some(e) => {
                    debug!(error = %e, "CLIENT KILL of the previous subscriber connection refused")
                }
                None => {
                    if reply
                        .value()
                        .ok()
                        .and_then(|v| redis::from_redis_value::<i64>(v).ok())
                        > Some(0)
                    {
                        info!(id = %old.id, addr = %old.addr, "closed the previous subscriber connection, still open on the server");
                    }
                }
            }
        }
        let reply = tokio::time::timeout(timeout, conn.command(redis::cmd("CLIENT").arg("INFO")))
            .await
            .map_err(|_| silent())?
            .map_err(|e| e.to_string())?;
        if let Some(e) = reply.error() {
            debug!(error = %e, "CLIENT INFO refused: a stale subscriber connection will not be closed");
            self.identify_refused = true;
            return Ok(());
        }
        self.identity = reply
            .value()
            .ok()
            .and_then(|v| redis::from_redis_value::<String>(v).ok())
            .and_then(|info| Identity::parse(&info));
        Ok(())
    }

    /// Messages received so far (probes not counted).
    fn received(&self) -> u64 {
        self.shared.counters.received.get()
    }

    /// Subscribes the probe channel on a new connection. `Err` means the
    /// connection is lost; a refusal turns probing off for this connection.
    async fn subscribe_probe(&mut self, conn: &mut RespConnection) -> Result<(), String> {
        let Some(probe) = &self.probe else {
            return Ok(());
        };
        let mut cmd = redis::cmd("SUBSCRIBE");
        cmd.arg(probe.channel());
        let result = self.round_trip(conn, &cmd, b"subscribe", 1).await;
        let Some(probe) = &mut self.probe else {
            return Ok(());
        };
        probe.subscribed = false;
        probe.not_sent();
        match result {
            Ok(()) => {
                probe.subscribed = true;
                Ok(())
            }
            Err(RoundTripError::Lost(reason)) => Err(reason),
            Err(RoundTripError::Command(e)) => {
                if !std::mem::replace(&mut probe.told_refused, true) {
                    warn!(error = %e, channel = probe.channel(), "redis refused the liveness probe channel; probing is off (logged once; allow &sio-redis-probe#* to turn it on)");
                }
                Ok(())
            }
        }
    }

    /// The probe timer fired: after an idle interval a probe is sent; after a
    /// probe's deadline, one not back means the subscription is gone (`Err`).
    fn probe_tick(
        &mut self,
        received_at_tick: &mut u64,
        publish: &mut Option<ProbePublish>,
        timer: std::pin::Pin<&mut tokio::time::Sleep>,
    ) -> Result<(), String> {
        let received = self.received();
        let deadline = self.response_timeout.saturating_mul(2);
        let Some(probe) = &mut self.probe else {
            return Ok(());
        };
        let now = tokio::time::Instant::now();
        if probe.is_awaiting() && publish.is_none() {
            Counters::incr(&self.shared.counters.probe_failures);
            return Err(format!(
                "liveness probe not received within {} ms: the subscription is gone",
                millis(deadline)
            ));
        }
        if probe.is_awaiting() || received != *received_at_tick {
            // Still publishing, or messages arrived: evidently alive.
            *received_at_tick = received;
            timer.reset(now + probe.interval);
            return Ok(());
        }
        Counters::incr(&self.shared.counters.probes);
        trace!(
            channel = probe.channel(),
            "idle subscriber: sending a liveness probe"
        );
        *publish = Some(probe.send());
        timer.reset(now + deadline);
        Ok(())
    }

    /// The probe's `PUBLISH` answered: 0 receivers means the subscription is
    /// gone (`Err`); a failed `PUBLISH` (publisher down) is no verdict.
    fn probe_published(&mut self, receivers: Result<u64, TransportError>) -> Result<(), String> {
        let Some(probe) = &mut self.probe else {
            return Ok(());
        };
        match receivers {
            Ok(0) => {
                Counters::incr(&self.shared.counters.probe_failures);
                Err("liveness probe reached no subscriber: the subscription is gone".into())
            }
            Ok(_) => Ok(()),
            Err(e) => {
                debug!(error = %e, "liveness probe not sent");
                probe.not_sent();
                Ok(())
            }
        }
    }

    /// Calls the handlers of one message, in registration order.
    fn dispatch(&self, message: Message) {
        if let Some(probe) = &self.probe
            && probe.is_probe(&message.channel)
        {
            probe.received(&message.payload);
            return;
        }
        Counters::incr(&self.shared.counters.received);
        let name = match (message.kind, &message.pattern) {
            (MessageKind::PMessage, Some(p)) => p,
            _ => &message.channel,
        };
        let handlers = self.registry.handlers(message.kind, name);
        let Some(handlers) = handlers else {
            trace!(channel = %message.channel, pattern = ?message.pattern, "message with no handler (unsubscribed meanwhile)");
            return;
        };
        for handler in handlers.iter() {
            let m = message.clone();
            if catch_unwind(AssertUnwindSafe(|| handler(m))).is_err() {
                error!(channel = %message.channel, "message handler panicked; message skipped for it");
            }
        }
    }

    /// Handles a command while connected. `Err` means the connection is lost.
    async fn handle_online(
        &mut self,
        command: Command,
        conn: &mut RespConnection,
    ) -> Result<(), String> {
        match command {
            Command::Subscribe {
                id,
                subscription,
                handler,
                ack,
            } => {
                // Registered first, so a message arriving right after the
                // confirmation already finds its handler.
                let names = self.registry.insert(id, subscription, handler);
                match self.subscribe_all(conn, &names).await {
                    Ok(()) => {
                        if ack.send(Ok(())).is_err() {
                            debug!(?id, "subscriber stopped waiting; removing its subscription");
                            return self.remove(id, Some(conn)).await;
                        }
                        Ok(())
                    }
                    Err(RoundTripError::Command(e)) => {
                        let result = self.remove(id, Some(conn)).await;
                        let _ = ack.send(Err(TransportError::Redis(e)));
                        result
                    }
                    Err(RoundTripError::Lost(reason)) => {
                        // Stays registered: answered after re-subscribing.
                        self.pending.push((id, ack));
                        Err(reason)
                    }
                }
            }
            Command::Unsubscribe { id, ack } => {
                let result = self.remove(id, Some(conn)).await;
                let _ = ack.send(());
                result
            }
        }
    }

    /// Handles a command while disconnected.
    fn handle_offline(&mut self, command: Command) {
        match command {
            Command::Subscribe {
                id,
                subscription,
                handler,
                ack,
            } => {
                self.registry.insert(id, subscription, handler);
                self.pending.push((id, ack));
            }
            Command::Unsubscribe { id, ack } => {
                self.registry.remove(id);
                let _ = ack.send(());
            }
        }
    }

    /// Removes a subscription from the registry and, when connected,
    /// unsubscribes what nothing else needs. `Err` means the connection is
    /// lost (the registry is updated anyway, so the next connection will not
    /// subscribe it).
    async fn remove(
        &mut self,
        id: SubscriptionId,
        conn: Option<&mut RespConnection>,
    ) -> Result<(), String> {
        let Some(orphans) = self.registry.remove(id) else {
            return Ok(());
        };
        let Some(conn) = conn else {
            return Ok(());
        };
        match self.in_chunks(conn, &orphans, Op::Unsubscribe).await {
            Ok(()) => Ok(()),
            Err(RoundTripError::Lost(reason)) => Err(reason),
            // `MOVED` to an `SUNSUBSCRIBE`: the shard channel's slot moved
            // away, and Redis dropped the channel here already (its
            // unsolicited `sunsubscribe`): nothing is left to undo.
            Err(RoundTripError::Command(e)) if classify(&e) == ErrorClass::Redirect => {
                debug!(error = %e, "UNSUBSCRIBE redirected: the shard channel's slot moved");
                Ok(())
            }
            Err(RoundTripError::Command(e)) => {
                warn!(error = %e, "redis refused UNSUBSCRIBE");
                Ok(())
            }
        }
    }

    /// `SUBSCRIBE` the channels, `PSUBSCRIBE` the patterns and `SSUBSCRIBE`
    /// the shard channels, in chunks, each confirmed by Redis.
    async fn subscribe_all(
        &self,
        conn: &mut RespConnection,
        names: &Subscription,
    ) -> Result<(), RoundTripError> {
        self.in_chunks(conn, names, Op::Subscribe).await
    }

    /// `op` on the channels, then the patterns, then the shard channels,
    /// [`SUBSCRIBE_CHUNK`] per command, each confirmed.
    ///
    /// Shard channels go one per command: Redis Cluster refuses an
    /// `SSUBSCRIBE` whose channels are in different slots (`CROSSSLOT`).
    async fn in_chunks(
        &self,
        conn: &mut RespConnection,
        names: &Subscription,
        op: Op,
    ) -> Result<(), RoundTripError> {
        for (kind, list, chunk) in [
            (MessageKind::Message, &names.channels, SUBSCRIBE_CHUNK),
            (MessageKind::PMessage, &names.patterns, SUBSCRIBE_CHUNK),
            (MessageKind::SMessage, &names.shard_channels, 1),
        ] {
            for chunk in list.chunks(chunk) {
                let mut cmd = redis::cmd(op.command(kind));
                cmd.arg(chunk);
                self.round_trip(conn, &cmd, op.confirmation(kind), chunk.len())
                    .await?;
            }
        }
        Ok(())
    }

    /// Sends `cmd` and waits for `count` replies named `name` (one
    /// confirmation per channel; `pong` for `PING`), dispatching the messages
    /// that arrive meanwhile. Fails as lost when Redis is silent for the
    /// response timeout (handlers' time not counted) or after
    /// [`ROUND_TRIP_CAP_FACTOR`] response timeouts in all. An error reply ends
    /// it as [`RoundTripError::Command`].
    async fn round_trip(
        &self,
        conn: &mut RespConnection,
        cmd: &Cmd,
        name: &[u8],
        count: usize,
    ) -> Result<(), RoundTripError> {
        let lost = |e: RedisError| RoundTripError::Lost(e.to_string());
        let silent = || {
            RoundTripError::Lost(format!(
                "no reply within {} ms",
                millis(self.response_timeout)
            ))
        };
        let timeout = self.response_timeout;
        let work = async {
            tokio::time::timeout(timeout, conn.send(cmd))
                .await
                .map_err(|_| silent())?
                .map_err(lost)?;
            let mut left = count;
            while left > 0 {
                // Only the wait for Redis counts against the response timeout, not
                // the handlers of the messages queued before the reply (a backlog
                // behind a slow handler is not a dead connection).
                let incoming = tokio::time::timeout(timeout, conn.next())
                    .await
                    .map_err(|_| silent())?
                    .map_err(lost)?;
                match incoming {
                    Incoming::Message(msg) => self.dispatch(msg),
                    Incoming::Oversized { len } => self.oversized(len),
                    Incoming::Reply(reply) => {
                        if let Some(e) = reply.error() {
                            return Err(if breaks_connection(&e) {
                                RoundTripError::Lost(e.to_string())
                            } else {
                                RoundTripError::Command(e)
                            });
                        }
                        if reply.name().is_some_and(|n| n.eq_ignore_ascii_case(name)) {
                            left -= 1;
                        } else {
                            trace!(name = ?reply.name(), "unexpected reply ignored");
                        }
                    }
                }
            }
            Ok(())
        };
        // A connection that keeps delivering messages but never the reply.
        let cap = timeout.saturating_mul(ROUND_TRIP_CAP_FACTOR);
        tokio::time::timeout(cap, work).await.unwrap_or_else(|_| {
            Err(RoundTripError::Lost(format!(
                "no reply within {} ms (messages kept arriving)",
                millis(cap)
            )))
        })
    }

    /// Forgets subscriptions registered while disconnected whose caller
    /// stopped waiting.
    fn purge_abandoned(&mut self) {
        let (abandoned, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|(_, ack)| ack.is_closed());
        self.pending = kept;
        for (id, _) in abandoned {
            debug!(?id, "subscriber stopped waiting; removing its subscription");
            self.registry.remove(id);
        }
    }

    /// Reconnects with back-off, re-subscribes every registered channel and
    /// pattern, answers the pending subscriptions. `None` on shutdown or when
    /// giving up. Commands are served (offline) while waiting.
    async fn reconnect(&mut self, since: Instant) -> Option<RespConnection> {
        let mut attempts = Attempts::new(Role::Subscriber);
        loop {
            self.purge_abandoned();
            let (error, denied) = match RespConnection::open(&self.endpoint, &self.dial).await {
                Ok(mut conn) => 'attempt: {
                    if let Err(reason) = self.identify(&mut conn).await {
                        break 'attempt (reason, false);
                    }
                    let all = self.registry.all();
                    let done = match self.subscribe_all(&mut conn, &all).await {
                        // Some subscription is refused (e.g. a revoked ACL rule):
                        // the others must not stay down because of it.
                        Err(RoundTripError::Command(e)) => {
                            warn!(error = %e, "re-subscribing refused; subscribing one subscription at a time");
                            self.resubscribe_each(&mut conn).await
                        }
                        other => other,
                    };
                    match done {
                        Ok(()) => {
                            let all = self.registry.all();
                            self.resubscribed(&all, since, &mut conn).await;
                            return Some(conn);
                        }
                        Err(RoundTripError::Lost(reason)) => (reason, false),
                        Err(RoundTripError::Command(e)) => {
                            (format!("re-subscribing failed: {e}"), false)
                        }
                    }
                }
                Err(e) => (e.to_string(), classify(&e) == ErrorClass::Denied),
            };
            let delay = match attempts.failed(&error, denied, &self.backoff) {
                Next::Retry(delay) => delay,
                Next::GiveUp(failures) => {
                    self.shared
                        .subscriber_gave_up
                        .store(failures, std::sync::atomic::Ordering::Release);
                    self.shared.emit(ConnectionEvent::GaveUp {
                        role: Role::Subscriber,
                        attempts: failures,
                        error,
                    });
                    return None;
                }
            };
            let deadline = tokio::time::Instant::now() + delay;
            loop {
                tokio::select! {
                    biased;
                    () = self.shutdown.cancelled() => return None,
                    () = tokio::time::sleep_until(deadline) => break,
                    () = self.shared.reconnected.notified() => {
                        debug!("redis subscriber: the publisher reconnected, retrying now");
                        break;
                    }
                    command = self.commands.recv() => match command {
                        None => return None,
                        Some(command) => self.handle_offline(command),
                    },
                }
            }
        }
    }

    /// Subscribes each registered subscription on its own; one that Redis
    /// refuses is removed (its pending caller answered with the error) and
    /// reported with [`ConnectionEvent::SubscriptionRefused`].
    async fn resubscribe_each(&mut self, conn: &mut RespConnection) -> Result<(), RoundTripError> {
        for id in self.registry.ids() {
            let Some(names) = self.registry.names(id) else {
                continue;
            };
            match self.subscribe_all(conn, &names).await {
                Ok(()) => {}
                Err(RoundTripError::Command(e)) => {
                    error!(?id, error = %e, "redis refused a subscription; it is removed");
                    self.remove(id, Some(conn))
                        .await
                        .map_err(RoundTripError::Lost)?;
                    let error = e.to_string();
                    if let Some(i) = self.pending.iter().position(|(p, _)| *p == id) {
                        let (_, ack) = self.pending.swap_remove(i);
                        let _ = ack.send(Err(TransportError::Redis(e)));
                    }
                    self.shared
                        .emit(ConnectionEvent::SubscriptionRefused { id, error });
                }
                Err(lost) => return Err(lost),
            }
        }
        Ok(())
    }

    /// Bookkeeping once every subscription is back.
    async fn resubscribed(
        &mut self,
        all: &Subscription,
        since: Instant,
        conn: &mut RespConnection,
    ) {
        let outage = since.elapsed();
        self.shared.reconnected.notify_waiters();
        self.shared.set_subscriber_up(true);
        let first = std::mem::replace(&mut self.first_connection, false);
        if !first {
            (self.shared.counters).reconnected(Role::Subscriber, Some(outage));
            Counters::incr(&self.shared.counters.resubscriptions);
            self.shared.emit(ConnectionEvent::Connected {
                role: Role::Subscriber,
            });
        }
        if first {
            debug!(
                shard_channels = all.shard_channels.len(),
                "redis subscriber connected"
            );
        } else {
            self.report_resubscribed(all, outage);
        }
        for (id, ack) in std::mem::take(&mut self.pending) {
            if ack.send(Ok(())).is_err() {
                // A loss here shows up as the end of the stream right after.
                let _ = self.remove(id, Some(conn)).await;
            }
        }
    }

    /// Logs and reports a completed re-subscription.
    fn report_resubscribed(&self, all: &Subscription, outage: Duration) {
        info!(
            channels = all.channels.len(),
            patterns = all.patterns.len(),
            shard_channels = all.shard_channels.len(),
            outage_ms = millis(outage),
            "redis subscriber reconnected and re-subscribed"
        );
        self.shared.emit(ConnectionEvent::Resubscribed {
            channels: all.channels.len(),
            patterns: all.patterns.len(),
            shard_channels: all.shard_channels.len(),
            outage,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::Identity;

    #[test]
    fn identity_from_client_info() {
        let info = "id=7 addr=127.0.0.1:50412 laddr=127.0.0.1:6379 fd=8 name= age=0 idle=0 flags=N db=0 sub=0 psub=0 ssub=0\n";
        let id = Identity::parse(info).unwrap();
        assert_eq!((id.id.as_str(), id.addr.as_str()), ("7", "127.0.0.1:50412"));
        assert!(Identity::parse("laddr=127.0.0.1:6379 fd=8").is_none());
    }
}
