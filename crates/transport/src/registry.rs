//! The subscription registry: which handlers want which channels and
//! patterns. Owned by the subscriber worker alone (no lock); the source of
//! truth for re-subscribing after a reconnect.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use crate::MessageHandler;
use crate::transport::SubscriptionId;

/// One handler with what it subscribed to.
struct Subscription {
    channels: Vec<String>,
    patterns: Vec<String>,
    handler: MessageHandler,
}

/// The handlers of one channel or pattern, shared cheaply with dispatch.
type Handlers = Arc<[MessageHandler]>;

/// Registered subscriptions, with per-channel and per-pattern handler lists
/// rebuilt on every change so that dispatch only clones one `Arc`.
#[derive(Default)]
pub(crate) struct Registry {
    subs: HashMap<SubscriptionId, Subscription>,
    /// Channel -> ids of the subscriptions that want it, in registration order.
    channel_ids: HashMap<String, Vec<SubscriptionId>>,
    pattern_ids: HashMap<String, Vec<SubscriptionId>>,
    channel_handlers: HashMap<String, Handlers>,
    pattern_handlers: HashMap<String, Handlers>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("subscriptions", &self.subs.len())
            .field("channels", &self.channel_ids.len())
            .field("patterns", &self.pattern_ids.len())
            .finish()
    }
}

/// What changed in the set of distinct channels and patterns.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Delta {
    pub(crate) channels: Vec<String>,
    pub(crate) patterns: Vec<String>,
}

impl Delta {
    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.channels.is_empty() && self.patterns.is_empty()
    }
}

impl Registry {
    /// Registers a subscription (duplicates within it are ignored) and
    /// returns its channels and patterns, all of them: `SUBSCRIBE` of an
    /// already subscribed channel is harmless, and sending all of them
    /// repairs a channel that Redis might have dropped.
    pub(crate) fn insert(
        &mut self,
        id: SubscriptionId,
        mut channels: Vec<String>,
        mut patterns: Vec<String>,
        handler: MessageHandler,
    ) -> Delta {
        dedup(&mut channels);
        dedup(&mut patterns);
        for c in &channels {
            self.channel_ids.entry(c.clone()).or_default().push(id);
        }
        for p in &patterns {
            self.pattern_ids.entry(p.clone()).or_default().push(id);
        }
        self.subs.insert(
            id,
            Subscription {
                channels: channels.clone(),
                patterns: patterns.clone(),
                handler,
            },
        );
        for c in &channels {
            self.rebuild_channel(c);
        }
        for p in &patterns {
            self.rebuild_pattern(p);
        }
        Delta { channels, patterns }
    }

    /// Removes a subscription; returns the channels and patterns no other
    /// subscription needs any more (to `UNSUBSCRIBE`/`PUNSUBSCRIBE`), or
    /// `None` if the id is unknown.
    pub(crate) fn remove(&mut self, id: SubscriptionId) -> Option<Delta> {
        let sub = self.subs.remove(&id)?;
        let mut orphans = Delta::default();
        for c in sub.channels {
            if remove_id(&mut self.channel_ids, &c, id) {
                self.channel_handlers.remove(&c);
                orphans.channels.push(c);
            } else {
                self.rebuild_channel(&c);
            }
        }
        for p in sub.patterns {
            if remove_id(&mut self.pattern_ids, &p, id) {
                self.pattern_handlers.remove(&p);
                orphans.patterns.push(p);
            } else {
                self.rebuild_pattern(&p);
            }
        }
        Some(orphans)
    }

    /// Handlers for a `message` on `channel`.
    pub(crate) fn channel_handlers(&self, channel: &str) -> Option<Handlers> {
        self.channel_handlers.get(channel).cloned()
    }

    /// Handlers for a `pmessage` matched by `pattern`.
    pub(crate) fn pattern_handlers(&self, pattern: &str) -> Option<Handlers> {
        self.pattern_handlers.get(pattern).cloned()
    }

    /// Every distinct channel and pattern, for re-subscribing.
    pub(crate) fn all(&self) -> Delta {
        let mut channels: Vec<String> = self.channel_ids.keys().cloned().collect();
        let mut patterns: Vec<String> = self.pattern_ids.keys().cloned().collect();
        channels.sort_unstable();
        patterns.sort_unstable();
        Delta { channels, patterns }
    }

    fn rebuild_channel(&mut self, channel: &str) {
        let handlers = collect(&self.subs, self.channel_ids.get(channel));
        self.channel_handlers.insert(channel.to_owned(), handlers);
    }

    fn rebuild_pattern(&mut self, pattern: &str) {
        let handlers = collect(&self.subs, self.pattern_ids.get(pattern));
        self.pattern_handlers.insert(pattern.to_owned(), handlers);
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
    subs: &HashMap<SubscriptionId, Subscription>,
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
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn counter() -> (Arc<AtomicUsize>, MessageHandler) {
        let n = Arc::new(AtomicUsize::new(0));
        let n2 = n.clone();
        (
            n,
            Arc::new(move |_m: Message| {
                n2.fetch_add(1, Ordering::Relaxed);
            }),
        )
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn shared_channels_are_refcounted() {
        let mut r = Registry::default();
        let (_, h1) = counter();
        let (_, h2) = counter();
        let a = SubscriptionId(1);
        let b = SubscriptionId(2);
        let d = r.insert(a, s(&["x", "y", "x"]), s(&["p*"]), h1);
        assert_eq!(d.channels, s(&["x", "y"]));
        r.insert(b, s(&["x"]), s(&["p*", "q*"]), h2);
        assert_eq!(r.channel_handlers("x").unwrap().len(), 2);
        assert_eq!(r.pattern_handlers("p*").unwrap().len(), 2);
        assert_eq!(
            r.all(),
            Delta {
                channels: s(&["x", "y"]),
                patterns: s(&["p*", "q*"])
            }
        );

        let orphans = r.remove(a).unwrap();
        assert_eq!(
            orphans,
            Delta {
                channels: s(&["y"]),
                patterns: vec![]
            }
        );
        assert_eq!(r.channel_handlers("x").unwrap().len(), 1);
        assert!(r.channel_handlers("y").is_none());
        assert!(r.remove(a).is_none());
        let orphans = r.remove(b).unwrap();
        assert_eq!(
            orphans,
            Delta {
                channels: s(&["x"]),
                patterns: s(&["p*", "q*"])
            }
        );
        assert!(r.all().is_empty());
    }
}
