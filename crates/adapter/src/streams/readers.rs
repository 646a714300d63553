//! The stream readers of one [`RedisAdapterState`](crate::RedisAdapterState): one per
//! stream, shared by the namespaces whose entries go to it (with `streamCount` 1, every
//! namespace), started by the first such namespace and stopped with the last. Each entry
//! goes to the namespace its `nsp` field names (Node skips entries without one).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use sio_redis_transport::{StreamEntry, StreamHandler, StreamId, StreamReader, StreamStart};

use crate::error::Error;
use crate::state::{StateInner, lock};

/// The running readers, by stream.
#[derive(Debug, Default)]
pub(crate) struct Readers {
    running: Mutex<HashMap<String, Running>>,
    /// Trim reports and entries trimmed unread of the readers stopped so far, by
    /// stream.
    past_gaps: Mutex<HashMap<String, (u64, u64)>>,
    /// One start at a time (so that two namespaces of one stream start one reader).
    starting: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
struct Running {
    /// Dropping it stops the reader.
    reader: StreamReader,
    /// Namespaces reading it.
    users: usize,
}

impl Readers {
    /// Makes sure `stream` is read (from its newest entry on when the reader starts now:
    /// Node's `$`), for one more namespace.
    ///
    /// # Errors
    /// [`Error::Transport`] when the reader's first connection fails.
    pub(crate) async fn attach(
        &self,
        state: &Arc<StateInner>,
        stream: &str,
        count: usize,
        block: Duration,
    ) -> Result<(), Error> {
        let _one = self.starting.lock().await;
        if let Some(r) = lock(&self.running).get_mut(stream) {
            r.users += 1;
            return Ok(());
        }
        let weak: Weak<StateInner> = Arc::downgrade(state);
        let handler: StreamHandler = Arc::new(move |entry: StreamEntry| {
            if let Some(state) = weak.upgrade() {
                dispatch(&state, entry);
            }
        });
        let reader = state
            .transport
            .read_stream(stream, StreamStart::Latest, count, block, handler)
            .await?;
        lock(&self.running).insert(stream.to_owned(), Running { reader, users: 1 });
        Ok(())
    }

    /// The streams whose reader stopped by itself (gave up reconnecting), for
    /// [`RedisAdapterState::health`](crate::RedisAdapterState::health).
    pub(crate) fn stopped(&self) -> Vec<String> {
        lock(&self.running)
            .iter()
            .filter(|(_, r)| r.reader.is_finished())
            .map(|(s, _)| s.clone())
            .collect()
    }

    /// The id of the last entry the reader of `stream` handed on, `None` before the
    /// first or when no reader runs.
    pub(crate) fn last_id(&self, stream: &str) -> Option<StreamId> {
        lock(&self.running)
            .get(stream)
            .and_then(|r| r.reader.last_id())
    }

    /// One namespace fewer reads `stream`; the last one stops its reader.
    pub(crate) fn detach(&self, stream: &str) {
        let mut running = lock(&self.running);
        if let Some(r) = running.get_mut(stream) {
            r.users -= 1;
            if r.users == 0
                && let Some(r) = running.remove(stream)
            {
                let mut past = lock(&self.past_gaps);
                let n = past.entry(stream.to_owned()).or_insert((0, 0));
                n.0 += r.reader.gaps();
                n.1 += r.reader.trimmed();
            }
        }
    }
}

impl Readers {
    /// By stream: how many times its reader found, on (re)connecting, that the stream
    /// had been trimmed past the last entry it read (each also logged at `warn` by the
    /// transport), and how many entries it lost so (where Redis tells), since this
    /// state started; streams without a gap are absent.
    pub(crate) fn gaps(&self) -> HashMap<String, (u64, u64)> {
        let mut gaps = lock(&self.past_gaps).clone();
        for (stream, r) in lock(&self.running).iter() {
            let n = gaps.entry(stream.clone()).or_insert((0, 0));
            n.0 += r.reader.gaps();
            n.1 += r.reader.trimmed();
        }
        gaps.retain(|_, n| n.0 > 0);
        gaps
    }
}

/// Hands `entry` to the namespace its `nsp` field names, if that namespace runs here.
fn dispatch(state: &StateInner, entry: StreamEntry) {
    let Some(nsp) = entry
        .field(b"nsp")
        .and_then(|n| std::str::from_utf8(n).ok())
    else {
        return;
    };
    let ops = lock(&state.namespaces).get(nsp).and_then(Weak::upgrade);
    if let Some(ops) = ops {
        ops.on_stream_entry(entry);
    }
}
