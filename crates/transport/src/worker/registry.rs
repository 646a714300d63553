//! The subscription registry: which handlers want which channels and
//! patterns. Owned by the subscriber worker alone (no lock); the source of
//! truth for re-subscribing after a reconnect.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use crate::message::{MessageHandler, MessageKind, SubscriptionId};
use crate::subscription::Subscription;

/// One handler with what it subscribed to.
struct Registered {
    names: Subscription,
    handler: MessageHandler,
}

/// The handlers of one channel, pattern or shard channel, shared cheaply
/// with dispatch.
type Handlers = Arc<[MessageHandler]>;

/// The three name spaces of Redis pub/sub, as indexes of the tables below.
const KINDS: [MessageKind; 3] = [
    MessageKind::Message,
    MessageKind::PMessage,
    MessageKind::SMessage,
];

fn slot(kind: MessageKind) -> usize {
    match kind {
        MessageKind::Message => 0,
        MessageKind::PMessage => 1,
        MessageKind::SMessage => 2,
    }
}

fn names(sub: &Subscription, kind: MessageKind) -> &Vec<String> {
    match kind {
        MessageKind::Message => &sub.channels,
        MessageKind::PMessage => &sub.patterns,
        MessageKind::SMessage => &sub.shard_channels,
    }
}

fn names_mut(sub: &mut Subscription, kind: MessageKind) -> &mut Vec<String> {
    match kind {
        MessageKind::Message => &mut sub.channels,
        MessageKind::PMessage => &mut sub.patterns,
        MessageKind::SMessage => &mut sub.shard_channels,
    }
}

/// Registered subscriptions, with per-name handler lists rebuilt on every
/// change so that dispatch only clones one `Arc`.
#[derive(Default)]
pub(crate) struct Registry {
    subs: HashMap<SubscriptionId, Registered>,
    /// Per kind: name -> ids of the subscriptions that want it, in
    /// registration order.
    ids: [HashMap<String, Vec<SubscriptionId>>; 3],
    /// Per kind: name -> handlers, in registration order.
    handlers: [HashMap<String, Handlers>; 3],
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("subscriptions", &self.subs.len())
            .field("channels", &self.ids[0].len())
            .field("patterns", &self.ids[1].len())
            .field("shard_channels", &self.ids[2].len())
            .finish()
    }
}

impl Registry {
    /// Registers a subscription (duplicates within it are ignored) and
    /// returns its names, all of them: `SUBSCRIBE` of an already subscribed
    /// channel is harmless, and sending all of them repairs a channel that
    /// Redis might have dropped.
    pub(crate) fn insert(
        &mut self,
        id: SubscriptionId,
        mut sub: Subscription,
        handler: MessageHandler,
    ) -> Subscription {
        for kind in KINDS {
            let list = names_mut(&mut sub, kind);
            dedup(list);
            for name in list.iter() {
                self.ids[slot(kind)]
                    .entry(name.clone())
                    .or_default()
                    .push(id);
            }
        }
        self.subs.insert(
            id,
            Registered {
                names: sub.clone(),
                handler,
            },
        );
        for kind in KINDS {
            for name in names(&sub, kind) {
                self.rebuild(kind, name);
            }
        }
        sub
    }

    /// Removes a subscription; returns the names no other subscription
    /// needs any more (to `UNSUBSCRIBE`/`PUNSUBSCRIBE`/`SUNSUBSCRIBE`), or
    /// `None` if the id is unknown.
    pub(crate) fn remove(&mut self, id: SubscriptionId) -> Option<Subscription> {
        let entry = self.subs.remove(&id)?;
        let mut orphans = Subscription::default();
        for kind in KINDS {
            for name in names(&entry.names, kind) {
                if remove_id(&mut self.ids[slot(kind)], name, id) {
                    self.handlers[slot(kind)].remove(name);
                    names_mut(&mut orphans, kind).push(name.clone());
                } else {
                    self.rebuild(kind, name);
                }
            }
        }
        Some(orphans)
    }

    /// Handlers for a message of `kind` on `name` (the channel for
    /// `message`/`smessage`, the pattern for `pmessage`).
    pub(crate) fn handlers(&self, kind: MessageKind, name: &str) -> Option<Handlers> {
        self.handlers[slot(kind)].get(name).cloned()
    }

    /// The ids of every subscription, in order.
    pub(crate) fn ids(&self) -> Vec<SubscriptionId> {
        let mut ids: Vec<SubscriptionId> = self.subs.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// What one subscription listens to.
    pub(crate) fn names(&self, id: SubscriptionId) -> Option<Subscription> {
        self.subs.get(&id).map(|r| r.names.clone())
    }

    /// Every distinct name, sorted, for re-subscribing.
    pub(crate) fn all(&self) -> Subscription {
        let mut all = Subscription::default();
        for kind in KINDS {
            let list = names_mut(&mut all, kind);
            list.extend(self.ids[slot(kind)].keys().cloned());
            list.sort_unstable();
        }
        all
    }

    fn rebuild(&mut self, kind: MessageKind, name: &str) {
        let handlers = collect(&self.subs, self.ids[slot(kind)].get(name));
        self.handlers[slot(kind)].insert(name.to_owned(), handlers);
    }
}

fn dedup(v: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::with_capacity(v.len());
    v.retain(|s| seen.insert(s.clone()));
}

/// Removes `id` from the list of `key`; true if the list became empty (and
/// was removed).
fn remove_id(
    map: &mut HashMap<String, Vec<SubscriptionId>>,
    key: &str,
    id: SubscriptionId,
) -> bool {
    let Some(ids) = map.get_mut(key) else {
        return false;
    };
    ids.retain(|i| *i != id);
    if ids.is_empty() {
        if let Entry::Occupied(e) = map.entry(key.to_owned()) {
            e.remove();
        }
        true
    } else {
        false
    }
}

fn collect(
    subs: &HashMap<SubscriptionId, Registered>,
    ids: Option<&Vec<SubscriptionId>>,
) -> Handlers {
    ids.into_iter()
        .flatten()
        .filter_map(|id| subs.get(id).map(|s| s.handler.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Message;

    fn noop() -> MessageHandler {
        Arc::new(|_m: Message| {})
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    fn sub(channels: &[&str], patterns: &[&str], shards: &[&str]) -> Subscription {
        Subscription::new()
            .channels(channels.iter().copied())
            .patterns(patterns.iter().copied())
            .shard_channels(shards.iter().copied())
    }

    #[test]
    fn shared_names_are_refcounted() {
        let mut r = Registry::default();
        let a = SubscriptionId(1);
        let b = SubscriptionId(2);
        let d = r.insert(a, sub(&["x", "y", "x"], &["p*"], &["s1"]), noop());
        assert_eq!(d.channels, s(&["x", "y"]));
        r.insert(b, sub(&["x"], &["p*", "q*"], &["s1", "s2"]), noop());
        assert_eq!(r.handlers(MessageKind::Message, "x").unwrap().len(), 2);
        assert_eq!(r.handlers(MessageKind::PMessage, "p*").unwrap().len(), 2);
        assert_eq!(r.handlers(MessageKind::SMessage, "s1").unwrap().len(), 2);
        // The same name in another name space is another subscription.
        assert!(r.handlers(MessageKind::SMessage, "x").is_none());
        assert_eq!(r.all(), sub(&["x", "y"], &["p*", "q*"], &["s1", "s2"]));

        let orphans = r.remove(a).unwrap();
        assert_eq!(orphans, sub(&["y"], &[], &[]));
        assert_eq!(r.handlers(MessageKind::Message, "x").unwrap().len(), 1);
        assert!(r.handlers(MessageKind::Message, "y").is_none());
        assert!(r.remove(a).is_none());
        let orphans = r.remove(b).unwrap();
        assert_eq!(orphans, sub(&["x"], &["p*", "q*"], &["s1", "s2"]));
        assert!(r.all().is_empty());
    }
}
