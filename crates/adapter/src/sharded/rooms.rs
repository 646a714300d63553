//! Room channels in the dynamic modes, without room hooks.
//!
//! socketioxide calls no adapter method when a local socket joins or leaves a room, so a
//! namespace compares, every `room_sync_interval`, the rooms that have a local member
//! (and the ids of its local sockets: a Node server in `dynamic` mode sends
//! `io.to(<socketioxide id>)`, 16 characters, on that id's room channel) with the room
//! channels it subscribed, and `SSUBSCRIBE`s / `SUNSUBSCRIBE`s the difference; a
//! socketsJoin (from this server or another) starts a reconciliation at once.
//! [`RedisAdapterState::sync_rooms`](crate::RedisAdapterState::sync_rooms) does the same at
//! once and returns when Redis confirmed. Both ways run one at a time per namespace.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sio_redis_transport::{Subscription, SubscriptionId};
use socketioxide_core::adapter::{BroadcastFlags, BroadcastOptions as SioOpts, SocketEmitter};

use super::codec::ShardedCodec;
use crate::engine::Engine;
use crate::error::Error;
use crate::state::lock;

/// The room channels one namespace subscribed: room → its subscription.
#[derive(Debug)]
pub(crate) struct RoomChannels {
    interval: Duration,
    /// Wakes the periodic reconciliation early (rooms were joined through the adapter).
    pub(super) changed: Arc<tokio::sync::Notify>,
    /// `None` once the namespace closed: nothing is subscribed any more.
    subscribed: Mutex<Option<HashMap<String, SubscriptionId>>>,
    /// One reconciliation at a time.
    running: tokio::sync::Mutex<()>,
}

impl RoomChannels {
    pub(super) fn new(interval: Duration) -> Self {
        Self {
            interval,
            changed: Arc::default(),
            subscribed: Mutex::new(Some(HashMap::new())),
            running: tokio::sync::Mutex::new(()),
        }
    }

    /// Every room subscription, handed over for removal; later reconciliations do
    /// nothing.
    pub(super) fn close(&self) -> Vec<SubscriptionId> {
        lock(&self.subscribed)
            .take()
            .map(|m| m.into_values().collect())
            .unwrap_or_default()
    }
}

/// The rooms whose channels the namespace should be subscribed to: every room with a
/// local member, and every local socket's id.
fn wanted<E: SocketEmitter>(engine: &Engine<E, ShardedCodec>) -> HashSet<String> {
    // Every local socket: no rooms, the broadcast flag.
    let every = || {
        let mut opts = SioOpts::default();
        opts.add_flag(BroadcastFlags::Broadcast);
        opts
    };
    let mut rooms: HashSet<String> = engine
        .local
        .rooms(every())
        .into_iter()
        .map(|r| r.to_string())
        .collect();
    rooms.extend(
        engine
            .local
            .sockets(every())
            .into_iter()
            .map(|sid| sid.to_string()),
    );
    rooms
}

/// Brings the subscribed room channels in line with the local rooms; returns once Redis
/// confirmed every new one.
///
/// # Errors
/// [`Error::Transport`] when Redis refuses a channel (the others are kept; the next
/// reconciliation tries the refused one again).
pub(super) async fn sync<E: SocketEmitter>(engine: &Engine<E, ShardedCodec>) -> Result<(), Error> {
    let codec = &engine.codec;
    if codec.mode == sio_redis_wire::channels::SubscriptionMode::Static {
        return Ok(());
    }
    let Some(handler) = engine.handler.get().cloned() else {
        return Ok(()); // not initialised yet
    };
    let _running = codec.rooms.running.lock().await;
    let wanted = wanted(engine);
    let (gone, new): (Vec<SubscriptionId>, Vec<String>) = {
        let mut guard = lock(&codec.rooms.subscribed);
        let Some(subscribed) = guard.as_mut() else {
            return Ok(());
        };
        let gone_rooms: Vec<String> = subscribed
            .keys()
            .filter(|r| !wanted.contains(*r))
            .cloned()
            .collect();
        let gone = gone_rooms
            .iter()
            .filter_map(|r| subscribed.remove(r))
            .collect();
        let new = wanted
            .into_iter()
            .filter(|r| !subscribed.contains_key(r))
            .collect();
        (gone, new)
    };
    let transport = &engine.state.inner.transport;
    for id in gone {
        transport.unsubscribe(id).await?;
    }
    for room in new {
        let sub = Subscription::new().shard_channel(codec.channels.room(&room));
        let id = transport.subscribe(sub, handler.clone()).await?;
        let kept = match lock(&codec.rooms.subscribed).as_mut() {
            Some(subscribed) => {
                subscribed.insert(room, id);
                true
            }
            None => false,
        };
        if !kept {
            // Closed meanwhile: this one is ours to remove.
            transport.unsubscribe(id).await?;
            return Ok(());
        }
    }
    Ok(())
}

/// Starts the namespace's periodic reconciliation; it ends with the namespace (dropped
/// or closed) or the state ([`RedisAdapterState::close`](crate::RedisAdapterState::close)).
pub(super) fn spawn_sync<E: SocketEmitter>(engine: &Arc<Engine<E, ShardedCodec>>) {
    let weak = Arc::downgrade(engine);
    let interval = engine.codec.rooms.interval;
    let changed = engine.codec.rooms.changed.clone();
    // Not among the state's tracked tasks (`close` waits for those): it ends by itself
    // once the state is closing.
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = changed.notified() => {}
            }
            let Some(engine) = weak.upgrade() else { break };
            if engine.state.inner.tasks.is_closed()
                || lock(&engine.codec.rooms.subscribed).is_none()
            {
                break;
            }
            match sync(&engine).await {
                Ok(()) => failing = false,
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(nsp = %engine.nsp, error = %e, "cannot subscribe room channels; retrying every room_sync_interval");
                }
                Err(_) => {}
            }
        }
    });
}
