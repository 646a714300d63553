//! Shard-channel subscribers on a Redis Cluster: one subscriber worker per
//! primary (or, with `read_from_replicas`, per replica) that serves a
//! subscribed shard channel, owned by one supervisor task
//! that keeps every shard channel subscribed on its slot's current owner.
//!
//! The unit of placement is one subscription's shard channels of one slot:
//! `SSUBSCRIBE` goes per slot (never `CROSSSLOT`), and when a slot moves only
//! its units move: subscribed on the new owner first, then unsubscribed from
//! the old one (a message published in between is delivered once: `SPUBLISH`
//! reaches only the shard that accepted it).
//!
//! The slot map is read again ([`Router::refresh`]) when a node's subscriber
//! loses its connection or is refused a channel, when Redis drops a channel by
//! itself (unsolicited `sunsubscribe`), when a routed command got `MOVED`, every
//! [`FAST_AUDIT`] while a unit has no live owner, when the cluster's epoch
//! grew (checked every [`EPOCH_CHECK`] on one node), and every
//! [`AUDIT_PERIOD`] in any case. The epoch matters for the publishing side: a
//! primary demoted by a failover still accepts `SPUBLISH` (as a replica it
//! serves its primary's shard channels) but delivers only to its own
//! subscribers, silently. A node that no longer serves any subscribed slot has its worker
//! stopped, so that nothing dials a node after the map says it is gone.
//!
//! A unit that a node redirected (`MOVED`) or dropped waits, unplaced, for a
//! map that names another node (read again as soon as the router's refresh
//! gap allows) rather than being sent back to the same node by a map that is
//! still stale.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::router::{Refresh, Router};
use super::slot::key_slot;
use super::topology::{ClusterTopology, NodeAddr};
use crate::config::Endpoint;
use crate::error::{ErrorClass, TransportError, classify};
use crate::event::{ConnectionEvent, Role};
use crate::message::{MessageHandler, SubscriptionId};
use crate::shared::Shared;
use crate::subscription::Subscription;
use crate::worker::subscriber::{COMMAND_CAPACITY, Command, SubscriberSettings, SubscriberWorker};
use crate::worker::supervisor::{Supervisor, WorkerKey};

/// How often the slot map is read in any case.
pub(crate) const AUDIT_PERIOD: Duration = Duration::from_secs(5);
/// How often one node is asked for the cluster's epoch (`CLUSTER INFO`,
/// `cluster_current_epoch`), which every failover and slot migration bumps;
/// the map is read when it grew.
pub(crate) const EPOCH_CHECK: Duration = Duration::from_millis(200);
/// How often it is checked while some shard channel has no live owner.
pub(crate) const FAST_AUDIT: Duration = Duration::from_millis(100);
/// How long a unit is not placed again on a node that redirected it (or
/// dropped it) while the slot map stays the same.
const AVOID_FOR: Duration = Duration::from_secs(1);

type Ack = oneshot::Sender<Result<(), TransportError>>;

/// A request from the transport's handles.
pub(crate) enum ShardCommand {
    Subscribe {
        id: SubscriptionId,
        channels: Vec<String>,
        handler: MessageHandler,
        ack: Ack,
    },
    Unsubscribe {
        id: SubscriptionId,
        ack: oneshot::Sender<()>,
    },
}

/// What the node workers (through their event forwarders) and the placement
/// watchers tell the supervisor.
#[derive(Debug)]
enum Note {
    /// A unit's subscription was refused on its node; `retry`: for a reason
    /// that a refresh can cure (`MOVED`, a lost connection), else it is
    /// dropped (e.g. `NOPERM`); `redirected`: with `MOVED` or `ASK` (the
    /// node does not serve the slot).
    Refused {
        internal: SubscriptionId,
        retry: bool,
        redirected: bool,
        error: String,
    },
    /// Redis dropped a shard channel on `node` by itself (its slot moved).
    Moved { node: NodeAddr, channel: String },
    /// A subscription whose caller got an error: nothing stays registered.
    Abandoned(SubscriptionId),
    /// Something says the map may be stale.
    Stale,
}

/// One slot's shard channels of one subscription.
#[derive(Debug)]
struct Unit {
    channels: Vec<String>,
    /// Where it is subscribed (or being subscribed), under which id.
    placed: Option<(NodeAddr, SubscriptionId)>,
    /// Which of its registrations (by internal id) may call the handler:
    /// [`EVERY`], or only the newest one after a move away from a node the map
    /// no longer lists (see [`State::reconcile`]).
    active: Arc<AtomicU64>,
    /// A node that redirected or dropped it: not placed there again while
    /// the map is the one it was refused under, for [`AVOID_FOR`] at most.
    avoid: Option<Avoid>,
}

/// See [`Unit::avoid`].
#[derive(Debug)]
struct Avoid {
    node: NodeAddr,
    /// The map's version when it was refused there.
    version: u64,
    until: tokio::time::Instant,
}

impl Unit {
    /// Whether the unit may be placed on `owner` now, the map being at
    /// `version`.
    fn may_go(&self, owner: &NodeAddr, version: u64) -> bool {
        self.avoid.as_ref().is_none_or(|a| {
            a.node != *owner || a.version != version || tokio::time::Instant::now() >= a.until
        })
    }
}

/// [`Unit::active`]: every registration delivers.
const EVERY: u64 = u64::MAX;

struct UserSub {
    handler: MessageHandler,
    units: HashMap<u16, Unit>,
}

/// A node's subscriber worker.
struct Node {
    key: WorkerKey,
    commands: mpsc::Sender<Command>,
    shared: Arc<Shared>,
}

/// The supervisor task's state.
pub(crate) struct ShardSupervisor {
    pub(crate) router: Arc<Router>,
    pub(crate) commands: mpsc::Receiver<ShardCommand>,
    pub(crate) settings: SubscriberSettings,
    /// The transport's state: events are forwarded there, counters added.
    pub(crate) shared: Arc<Shared>,
    pub(crate) event_capacity: usize,
    /// [`TransportConfig::read_from_replicas`](crate::TransportConfig::read_from_replicas).
    pub(crate) replicas: bool,
    pub(crate) shutdown: CancellationToken,
}

struct State {
    base: ShardSupervisor,
    notes: (mpsc::UnboundedSender<Note>, mpsc::UnboundedReceiver<Note>),
    workers: Supervisor,
    nodes: HashMap<NodeAddr, Node>,
    subs: HashMap<SubscriptionId, UserSub>,
    /// Internal id -> (subscription, slot).
    units: HashMap<SubscriptionId, (SubscriptionId, u16)>,
    next_id: u64,
}

impl ShardSupervisor {
    pub(crate) async fn run(self) {
        let workers = Supervisor::new(self.shutdown.child_token());
        let mut state = State {
            base: self,
            notes: mpsc::unbounded_channel(),
            workers,
            nodes: HashMap::new(),
            subs: HashMap::new(),
            units: HashMap::new(),
            next_id: 1,
        };
        state.run().await;
    }
}

impl State {
    async fn run(&mut self) {
        use tokio::time::Instant;
        let mut versions = self.base.router.versions();
        let mut next_tick = Instant::now() + EPOCH_CHECK;
        let mut next_full = Instant::now() + AUDIT_PERIOD;
        // When the map may be read again (the router's refresh gap), while
        // some unit waits for a map that no longer names the node that
        // redirected or dropped it.
        let mut retry_at: Option<Instant> = None;
        loop {
            let degraded = self.degraded();
            let mut tick_at = if degraded {
                next_tick.min(Instant::now() + FAST_AUDIT)
            } else {
                next_tick
            };
            if let Some(at) = retry_at {
                tick_at = tick_at.min(at);
            }
            let refresh = tokio::select! {
                biased;
                () = self.base.shutdown.cancelled() => break,
                command = self.base.commands.recv() => match command {
                    None => break,
                    Some(command) => {
                        self.command(command);
                        continue;
                    }
                },
                Some(note) = self.notes.1.recv() => self.note(note),
                () = self.base.router.stale.notified() => true,
                Ok(()) = versions.changed() => false,
                () = tokio::time::sleep_until(tick_at) => {
                    let now = Instant::now();
                    if retry_at.is_some_and(|at| now >= at) {
                        // The refresh gap is over: read the map now.
                        true
                    } else {
                        next_tick = now + EPOCH_CHECK;
                        if degraded || now >= next_full {
                            next_full = now + AUDIT_PERIOD;
                            true
                        } else {
                            // A failover or migration bumps the cluster's
                            // epoch: one small CLUSTER INFO tells whether to
                            // read the map.
                            self.base.router.audit().await;
                            false
                        }
                    }
                }
            };
            if refresh {
                let outcome = self.base.router.refresh_outcome().await;
                // Skipped, or read from nodes most of which had not heard of
                // the move yet: read again as soon as the gap allows.
                let again = matches!(outcome, Refresh::Skipped | Refresh::Unchanged);
                retry_at = if again && self.avoiding() {
                    self.base.router.refresh_allowed_at()
                } else {
                    None
                };
            }
            versions.borrow_and_update();
            self.reconcile().await;
        }
        self.workers.shutdown().await;
    }

    /// Handles a note; whether the map should be read again.
    fn note(&mut self, note: Note) -> bool {
        match note {
            Note::Refused {
                internal,
                retry: true,
                redirected,
                ..
            } => self.unplaced(internal, redirected),
            Note::Refused {
                internal,
                retry: false,
                error,
                ..
            } => {
                if let Some((id, slot)) = self.units.remove(&internal) {
                    warn!(?id, slot, %error, "redis refused shard channels; they are dropped");
                    if let Some(sub) = self.subs.get_mut(&id) {
                        sub.units.remove(&slot);
                    }
                    self.base
                        .shared
                        .emit(ConnectionEvent::SubscriptionRefused { id, error });
                }
                return false;
            }
            Note::Moved { node, channel } => {
                let slot = key_slot(channel.as_bytes());
                let hit: Vec<SubscriptionId> = self
                    .subs
                    .values()
                    .filter_map(|s| s.units.get(&slot)?.placed.as_ref())
                    .filter(|(n, _)| *n == node)
                    .map(|(_, internal)| *internal)
                    .collect();
                for internal in hit {
                    self.unplaced(internal, true);
                }
            }
            Note::Abandoned(id) => {
                self.remove(id);
                return false;
            }
            Note::Stale => {}
        }
        true
    }

    /// Whether some unit has no owner whose subscriber is up.
    fn degraded(&self) -> bool {
        self.subs.values().flat_map(|s| s.units.values()).any(|u| {
            u.placed
                .as_ref()
                .and_then(|(node, _)| self.nodes.get(node))
                .is_none_or(|n| !n.shared.subscriber_up())
        })
    }

    /// Whether some unplaced unit avoids the node its slot's owner is in
    /// the current map.
    fn avoiding(&self) -> bool {
        let topology = self.base.router.topology();
        let version = self.base.router.version();
        self.subs.values().any(|s| {
            s.units.iter().any(|(slot, u)| {
                u.placed.is_none()
                    && place_of(&topology, *slot, self.base.replicas)
                        .is_some_and(|owner| !u.may_go(owner, version))
            })
        })
    }

    fn command(&mut self, command: ShardCommand) {
        match command {
            ShardCommand::Subscribe {
                id,
                channels,
                handler,
                ack,
            } => {
                let mut units: HashMap<u16, Unit> = HashMap::new();
                for channel in channels {
                    let unit = units.entry(key_slot(channel.as_bytes())).or_insert(Unit {
                        channels: Vec::new(),
                        placed: None,
                        active: Arc::new(AtomicU64::new(EVERY)),
                        avoid: None,
                    });
                    if !unit.channels.contains(&channel) {
                        unit.channels.push(channel);
                    }
                }
                self.subs.insert(id, UserSub { handler, units });
                let answers = self.place_all(id);
                // Answered once every node confirmed (or one refused).
                let notes = self.notes.0.clone();
                tokio::spawn(async move {
                    let mut result = Ok(());
                    for answer in answers {
                        result = answer.await.unwrap_or(Err(TransportError::Closed));
                        if result.is_err() {
                            break;
                        }
                    }
                    let failed = result.is_err();
                    if ack.send(result).is_err() || failed {
                        let _ = notes.send(Note::Abandoned(id));
                    }
                });
            }
            ShardCommand::Unsubscribe { id, ack } => {
                // Answered once every node unsubscribed.
                let answers = self.remove(id);
                tokio::spawn(async move {
                    for answer in answers {
                        let _ = answer.await;
                    }
                    let _ = ack.send(());
                });
            }
        }
    }

    /// Forgets subscription `id`, unsubscribing each unit on its node; the
    /// nodes' answers.
    fn remove(&mut self, id: SubscriptionId) -> Vec<oneshot::Receiver<()>> {
        let Some(sub) = self.subs.remove(&id) else {
            return Vec::new();
        };
        let mut answers = Vec::new();
        for unit in sub.units.into_values() {
            if let Some((node, internal)) = unit.placed {
                self.units.remove(&internal);
                answers.extend(self.unsubscribe_on(&node, internal));
            }
        }
        answers
    }

    /// Places every unplaced unit of subscription `id` on its slot's owner;
    /// the answers of the node workers.
    fn place_all(
        &mut self,
        id: SubscriptionId,
    ) -> Vec<oneshot::Receiver<Result<(), TransportError>>> {
        let topology = self.base.router.topology();
        let replicas = self.base.replicas;
        let Some(sub) = self.subs.get(&id) else {
            return Vec::new();
        };
        let todo: Vec<(u16, Vec<String>)> = sub
            .units
            .iter()
            .filter(|(_, u)| u.placed.is_none())
            .map(|(slot, u)| (*slot, u.channels.clone()))
            .collect();
        let handler = sub.handler.clone();
        let mut answers = Vec::new();
        for (slot, channels) in todo {
            let Some(owner) = place_of(&topology, slot, replicas).cloned() else {
                continue;
            };
            if let Some(answer) = self.place(id, slot, &owner, channels, handler.clone(), false) {
                answers.push(answer);
            }
        }
        answers
    }

    /// Subscribes one unit on `owner`; the worker's answer. A refusal also
    /// comes back as [`Note::Refused`]: a unit refused for a reason a refresh
    /// cures is placed again after it.
    fn place(
        &mut self,
        id: SubscriptionId,
        slot: u16,
        owner: &NodeAddr,
        channels: Vec<String>,
        handler: MessageHandler,
        mute_others: bool,
    ) -> Option<oneshot::Receiver<Result<(), TransportError>>> {
        let internal = SubscriptionId(self.next_id);
        self.next_id += 1;
        let commands = self.node(owner)?.commands.clone();
        let (ack, answer) = oneshot::channel();
        let subscription = Subscription::new().shard_channels(channels);
        let active = self
            .subs
            .get(&id)
            .and_then(|s| s.units.get(&slot))
            .map(|u| u.active.clone())?;
        if mute_others {
            active.store(internal.0, Ordering::Release);
        }
        let gate = active;
        let handler: MessageHandler = Arc::new(move |m| {
            let a = gate.load(Ordering::Acquire);
            if a == EVERY || a == internal.0 {
                handler(m);
            }
        });
        if commands
            .try_send(Command::Subscribe {
                id: internal,
                subscription,
                handler,
                ack,
            })
            .is_err()
        {
            warn!(node = %owner, "shard subscriber busy; the channel is placed at the next audit");
            return None;
        }
        if let Some(unit) = self.subs.get_mut(&id).and_then(|s| s.units.get_mut(&slot)) {
            unit.placed = Some((owner.clone(), internal));
        }
        self.units.insert(internal, (id, slot));
        let (tx, rx) = oneshot::channel();
        let notes = self.notes.0.clone();
        tokio::spawn(async move {
            let result = answer.await.unwrap_or(Err(TransportError::Closed));
            if let Err(e) = &result {
                let redirected =
                    matches!(e, TransportError::Redis(r) if classify(r) == ErrorClass::Redirect);
                let _ = notes.send(Note::Refused {
                    internal,
                    retry: e.is_retryable(),
                    redirected,
                    error: e.to_string(),
                });
            }
            let _ = tx.send(result);
        });
        Some(rx)
    }

    /// The worker of `addr`, started if there is none.
    fn node(&mut self, addr: &NodeAddr) -> Option<&Node> {
        if !self.nodes.contains_key(addr) {
            let client = match self.base.router.client(addr) {
                Ok(c) => c,
                Err(e) => {
                    warn!(node = %addr, error = %e, "cannot address a cluster node");
                    return None;
                }
            };
            let shared = Arc::new(Shared::with_counters(
                self.base.event_capacity,
                self.base.shared.counters.clone(),
            ));
            let (commands, rx) = mpsc::channel(COMMAND_CAPACITY);
            let settings = self.base.settings.clone();
            let node_shared = shared.clone();
            let key = self.workers.spawn("shard subscriber", move |shutdown| {
                SubscriberWorker::new(
                    Endpoint::Direct(client),
                    &settings,
                    node_shared,
                    rx,
                    shutdown,
                    None,
                )
                .run(None)
            });
            self.forward_events(addr, &shared);
            debug!(node = %addr, "shard subscriber started");
            self.nodes.insert(
                addr.clone(),
                Node {
                    key,
                    commands,
                    shared,
                },
            );
        }
        self.nodes.get(addr)
    }

    /// Forwards a node worker's events to the transport's receivers and turns
    /// the ones that matter for placement into notes. Ends with the worker
    /// (its event sender is dropped with its `Shared`).
    fn forward_events(&mut self, addr: &NodeAddr, node: &Arc<Shared>) {
        let mut events = node.events();
        let user = self.base.shared.clone();
        let notes = self.notes.0.clone();
        let addr = addr.clone();
        self.workers
            .spawn("shard events", move |shutdown| async move {
                loop {
                    let event = tokio::select! {
                        () = shutdown.cancelled() => return,
                        event = events.recv() => event,
                    };
                    let event = match event {
                        Ok(e) => e,
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                            let _ = notes.send(Note::Stale);
                            continue;
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    };
                    match &event {
                        ConnectionEvent::SubscriptionRefused { id, error } => {
                            debug!(node = %addr, error, "shard channels refused on re-subscribing");
                            let _ = notes.send(Note::Refused {
                                internal: *id,
                                retry: retryable_text(error),
                                redirected: redirect_text(error),
                                error: error.clone(),
                            });
                            continue;
                        }
                        ConnectionEvent::ShardChannelMoved { channel } => {
                            let _ = notes.send(Note::Moved {
                                node: addr.clone(),
                                channel: channel.clone(),
                            });
                        }
                        ConnectionEvent::Disconnected {
                            role: Role::Subscriber,
                            ..
                        } => {
                            let _ = notes.send(Note::Stale);
                        }
                        _ => {}
                    }
                    user.emit(event);
                }
            });
    }

    /// Unsubscribes one unit on `node`; the worker's answer. A full command
    /// queue: the handler stays registered there until the node's worker is
    /// stopped (at the next reconcile if nothing else lives there).
    fn unsubscribe_on(
        &self,
        node: &NodeAddr,
        internal: SubscriptionId,
    ) -> Option<oneshot::Receiver<()>> {
        let n = self.nodes.get(node)?;
        let (ack, answer) = oneshot::channel();
        n.commands
            .try_send(Command::Unsubscribe { id: internal, ack })
            .ok()?;
        Some(answer)
    }

    /// A unit whose subscription its node refused or dropped: unsubscribed
    /// there, placed again by the next reconcile. `avoid`: the node does not
    /// serve the slot (it redirected the unit, or Redis dropped the channel
    /// there): not placed there again until the map changes (for
    /// [`AVOID_FOR`] at most), instead of a round of `SSUBSCRIBE` and `MOVED`
    /// at every pass while the map is stale.
    fn unplaced(&mut self, internal: SubscriptionId, avoid: bool) {
        let Some((id, slot)) = self.units.remove(&internal) else {
            return;
        };
        let version = self.base.router.version();
        if let Some(unit) = self.subs.get_mut(&id).and_then(|s| s.units.get_mut(&slot))
            && unit.placed.as_ref().is_some_and(|(_, i)| *i == internal)
        {
            let (node, _) = unit.placed.take().expect("checked");
            if avoid {
                unit.avoid = Some(Avoid {
                    node: node.clone(),
                    version,
                    until: tokio::time::Instant::now() + AVOID_FOR,
                });
            }
            self.unsubscribe_on(&node, internal);
        }
    }

    /// Moves every unit whose slot has another owner now, places the unplaced
    /// ones, and stops the workers of nodes that serve no unit any more.
    async fn reconcile(&mut self) {
        let topology = self.base.router.topology();
        let version = self.base.router.version();
        let replicas = self.base.replicas;
        let mut moves = Vec::new();
        for (id, sub) in &self.subs {
            for (slot, unit) in &sub.units {
                // A unit stays only where `place_of` puts it. A primary
                // demoted by a failover is listed as a replica of its shard,
                // but it does not reliably get the shard's messages: after a
                // freeze (SIGSTOP until its replica was promoted) Redis 7.0.15
                // delivered nothing more to its subscribers, measured.
                let owner = place_of(&topology, *slot, replicas);
                let at_home = unit.placed.as_ref().is_some_and(|(n, _)| owner == Some(n));
                if owner.is_some_and(|o| unit.may_go(o, version)) && !at_home {
                    moves.push((*id, *slot));
                }
            }
        }
        if moves.is_empty() && self.nodes.len() <= topology.shards().len() {
            return;
        }
        for (id, slot) in moves {
            let Some(sub) = self.subs.get_mut(&id) else {
                continue;
            };
            let handler = sub.handler.clone();
            let Some(unit) = sub.units.get_mut(&slot) else {
                continue;
            };
            let old = unit.placed.take();
            let channels = unit.channels.clone();
            let active = unit.active.clone();
            let owner = place_of(&topology, slot, replicas)
                .cloned()
                .expect("checked");
            debug!(slot, node = %owner, "shard channels placed on the slot's owner");
            // From a node the map puts in another shard (a slot migration):
            // subscribed on the new owner first, then dropped from the old,
            // both delivering meanwhile (SPUBLISH reaches only the shard that
            // accepted it: nothing comes twice). From a node of the slot's own
            // shard (a failover, or the replica choice changed) or one the map
            // does not list (right after a failover a demoted primary may still
            // get the shard's messages, unlisted for a moment), the old
            // registration is muted at once, before the new one is subscribed:
            // a short gap rather than a message twice.
            let in_shard = |n: &NodeAddr| {
                topology
                    .shard_of(slot)
                    .is_some_and(|s| s.primary == *n || s.replicas.contains(n))
            };
            let elsewhere = old
                .as_ref()
                .is_some_and(|(node, _)| topology.serves(node) && !in_shard(node));
            if elsewhere {
                active.store(EVERY, Ordering::Release);
            }
            let _ = self.place(id, slot, &owner, channels, handler, !elsewhere);
            if let Some((node, internal)) = old {
                self.units.remove(&internal);
                self.unsubscribe_on(&node, internal);
            }
        }
        let used: Vec<NodeAddr> = self
            .subs
            .values()
            .flat_map(|s| s.units.values())
            .filter_map(|u| u.placed.as_ref().map(|(n, _)| n.clone()))
            .collect();
        let idle: Vec<NodeAddr> = self
            .nodes
            .keys()
            .filter(|n| !used.contains(n))
            .cloned()
            .collect();
        for addr in idle {
            if let Some(node) = self.nodes.remove(&addr) {
                debug!(node = %addr, "shard subscriber stopped (no subscribed slot there)");
                self.workers.stop(node.key).await;
            }
        }
    }
}

/// What a refusal reported as text (a [`ConnectionEvent::SubscriptionRefused`]
/// of a node's worker) says about trying again: `Redirect` (`MOVED`, `ASK`)
/// or `Busy` (`TRYAGAIN`, `CLUSTERDOWN`, `LOADING`, `MASTERDOWN`), both cured
/// by a refresh of the slot map and a retry; `None` for anything else. The
/// text is a redis-rs error's `Display`, which names an error redis-rs knows
/// by its kind (`Moved: 3999 127.0.0.1:7001`, `TryAgain: …`, `BusyLoading: …`)
/// and any other by its quoted code (`"CODE": …`); both forms are read.
fn text_class(error: &str) -> Option<ErrorClass> {
    use redis::ServerErrorKind as K;
    let head = error
        .split(|c: char| c == ':' || c.is_whitespace())
        .find(|w| !w.is_empty())
        .unwrap_or_default()
        .trim_matches('"');
    [
        (K::Moved, "MOVED", ErrorClass::Redirect),
        (K::Ask, "ASK", ErrorClass::Redirect),
        (K::TryAgain, "TRYAGAIN", ErrorClass::Busy),
        (K::ClusterDown, "CLUSTERDOWN", ErrorClass::Busy),
        (K::BusyLoading, "LOADING", ErrorClass::Busy),
        (K::MasterDown, "MASTERDOWN", ErrorClass::Busy),
    ]
    .into_iter()
    .find(|(kind, code, _)| head == *code || head == format!("{kind:?}"))
    .map(|(_, _, class)| class)
}

/// Whether a refusal reported as text is one a refresh of the slot map can
/// cure (see [`text_class`]).
fn retryable_text(error: &str) -> bool {
    text_class(error).is_some()
}

/// Whether a refusal reported as text is a redirect (see [`text_class`]).
fn redirect_text(error: &str) -> bool {
    text_class(error) == Some(ErrorClass::Redirect)
}

/// Where a slot's shard channels are subscribed: its primary, or with
/// `replicas` one of the shard's replicas (slot modulo their number; the
/// primary when it has none).
fn place_of(topology: &ClusterTopology, slot: u16, replicas: bool) -> Option<&NodeAddr> {
    let shard = topology.shard_of(slot)?;
    if replicas && !shard.replicas.is_empty() {
        Some(&shard.replicas[usize::from(slot) % shard.replicas.len()])
    } else {
        Some(&shard.primary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text a node's worker reports: the redis-rs error's `Display`.
    fn refused(reply: &str) -> String {
        redis::parse_redis_value(format!("-{reply}\r\n").as_bytes())
            .unwrap()
            .extract_error()
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn refusals_reported_as_text_are_classified() {
        for (reply, class) in [
            ("MOVED 3999 127.0.0.1:7001", Some(ErrorClass::Redirect)),
            ("ASK 3999 127.0.0.1:7001", Some(ErrorClass::Redirect)),
            ("TRYAGAIN Multiple keys request", Some(ErrorClass::Busy)),
            ("CLUSTERDOWN The cluster is down", Some(ErrorClass::Busy)),
            ("LOADING Redis is loading", Some(ErrorClass::Busy)),
            (
                "MASTERDOWN Link with MASTER is down",
                Some(ErrorClass::Busy),
            ),
            ("NOPERM no permissions to access a channel", None),
            ("ERR unknown command", None),
            ("CROSSSLOT Keys don't hash to the same slot", None),
            ("FOO an error redis-rs has no kind for", None),
        ] {
            let text = refused(reply);
            assert_eq!(text_class(&text), class, "{reply} shown as {text:?}");
            assert_eq!(retryable_text(&text), class.is_some(), "{text:?}");
            assert_eq!(
                redirect_text(&text),
                class == Some(ErrorClass::Redirect),
                "{text:?}"
            );
        }
        // The bare codes, as another formatting might show them.
        assert!(redirect_text("MOVED 3999 127.0.0.1:7001"));
        assert!(retryable_text("\"TRYAGAIN\": later"));
    }
}
