//! socketioxide identifies sockets by a 16-character [`Sid`]; Node socket ids are 20
//! characters. A foreign socket seen through fetchSockets gets a stable synthetic `Sid`
//! here, so that socketioxide's `RemoteSocket` API (emit, join, leave, disconnect) can
//! address it; the adapter maps it back to the Node id when it publishes.

use std::collections::{HashMap, VecDeque};
use std::str::FromStr;
use std::sync::Mutex;

use socketioxide_core::Sid;

/// A bounded two-way map between foreign socket ids and synthetic [`Sid`]s.
#[derive(Debug)]
pub(crate) struct ForeignIds {
    inner: Mutex<Inner>,
    cap: usize,
}

#[derive(Debug, Default)]
struct Inner {
    by_id: HashMap<String, Sid>,
    by_sid: HashMap<Sid, String>,
    /// Insertion order, for eviction.
    order: VecDeque<Sid>,
}

impl ForeignIds {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            cap,
        }
    }

    /// The `Sid` of a socket id: the id itself when it is a socketioxide id, else a
    /// synthetic one, stable while the mapping is kept.
    pub(crate) fn sid_for(&self, id: &str) -> Sid {
        if let Ok(sid) = Sid::from_str(id) {
            return sid;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sid) = inner.by_id.get(id) {
            return *sid;
        }
        let sid = Sid::new();
        inner.by_id.insert(id.to_owned(), sid);
        inner.by_sid.insert(sid, id.to_owned());
        inner.order.push_back(sid);
        while inner.order.len() > self.cap {
            if let Some(old) = inner.order.pop_front()
                && let Some(id) = inner.by_sid.remove(&old)
            {
                inner.by_id.remove(&id);
            }
        }
        sid
    }

    /// The socket id to put on the wire for `sid`: the foreign id it stands for, or the
    /// `Sid` itself.
    pub(crate) fn id_for(&self, sid: Sid) -> String {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner
            .by_sid
            .get(&sid)
            .cloned()
            .unwrap_or_else(|| sid.to_string())
    }
}

impl ForeignIds {
    /// A room name to put on the wire: a synthetic `Sid` (a foreign socket addressed by
    /// its room) becomes the foreign id it stands for.
    pub(crate) fn wire_room(&self, room: &str) -> String {
        match Sid::from_str(room) {
            Ok(sid) => self.id_for(sid),
            Err(_) => room.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_both_ways_and_is_bounded() {
        let ids = ForeignIds::new(2);
        let a = ids.sid_for("XooroR2wsARzxyh4AAAA");
        assert_eq!(ids.sid_for("XooroR2wsARzxyh4AAAA"), a);
        assert_eq!(ids.id_for(a), "XooroR2wsARzxyh4AAAA");
        let rust = Sid::new();
        assert_eq!(ids.sid_for(&rust.to_string()), rust);
        ids.sid_for("BBBBBBBBBBBBBBBBBBBB");
        ids.sid_for("CCCCCCCCCCCCCCCCCCCC");
        assert_eq!(
            ids.id_for(a),
            a.to_string(),
            "the oldest mapping is forgotten"
        );
    }
}
