//! The owner of a transport's worker tasks: each worker is spawned into one
//! [`JoinSet`] with a stop token of its own, a child of the supervisor's, so
//! that one worker can be stopped and replaced (e.g. the subscriber of a
//! node that left a cluster) and all of them stopped at once.

use std::collections::HashMap;

use tokio::task::{Id, JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::error;

/// Names one worker spawned by a [`Supervisor`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct WorkerKey(Id);

/// Owns the worker tasks of one transport.
#[derive(Debug, Default)]
pub(crate) struct Supervisor {
    tasks: JoinSet<()>,
    /// Cancelled to stop every worker; each worker's token is a child.
    root: CancellationToken,
    /// What each running worker is, for logs, and its own token.
    workers: HashMap<Id, (&'static str, CancellationToken)>,
}

impl Supervisor {
    /// A supervisor whose workers all stop when `root` is cancelled.
    pub(crate) fn new(root: CancellationToken) -> Supervisor {
        Supervisor {
            tasks: JoinSet::new(),
            root,
            workers: HashMap::new(),
        }
    }

    /// Spawns the worker that `start` makes, on the current Tokio runtime;
    /// the worker must return soon after its token is cancelled.
    pub(crate) fn spawn<F, Fut>(&mut self, name: &'static str, start: F) -> WorkerKey
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        // Workers that ended on their own (a stream reader whose handle was
        // dropped) are reaped here, so that they do not pile up.
        while let Some(ended) = self.tasks.try_join_next_with_id() {
            self.reaped(ended);
        }
        let token = self.root.child_token();
        let id = self.tasks.spawn(start(token.clone())).id();
        self.workers.insert(id, (name, token));
        WorkerKey(id)
    }

    /// Stops one worker and waits until it has returned (workers that end
    /// meanwhile are reaped too). Unknown keys are ignored.
    pub(crate) async fn stop(&mut self, key: WorkerKey) {
        let Some((_, token)) = self.workers.get(&key.0) else {
            return;
        };
        token.cancel();
        while let Some(id) = self.reap_one().await {
            if id == key.0 {
                return;
            }
        }
    }

    /// Stops every worker and waits until all have returned. Idempotent.
    pub(crate) async fn shutdown(&mut self) {
        self.root.cancel();
        while self.reap_one().await.is_some() {}
    }

    /// Waits for the next worker to end; logs a panic. `None` when none is
    /// left.
    async fn reap_one(&mut self) -> Option<Id> {
        let ended = self.tasks.join_next_with_id().await?;
        Some(self.reaped(ended))
    }

    /// Forgets a worker that ended; logs a panic.
    fn reaped(&mut self, ended: Result<(Id, ()), tokio::task::JoinError>) -> Id {
        let (id, result) = match ended {
            Ok((id, ())) => (id, Ok(())),
            Err(e) => (e.id(), Err(e)),
        };
        let name = self.workers.remove(&id).map_or("worker", |(name, _)| name);
        if let Err(e) = result
            && e.is_panic()
        {
            error!("redis transport {name} panicked: {e}");
        }
        id
    }
}

impl Drop for Supervisor {
    /// Dropped without [`Supervisor::shutdown`]: the workers are told to
    /// stop and left to finish on their own (not aborted, so that they
    /// answer what they hold).
    fn drop(&mut self) {
        self.root.cancel();
        self.tasks.detach_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn stops_one_then_all() {
        let stopped = Arc::new(AtomicUsize::new(0));
        let mut s = Supervisor::new(CancellationToken::new());
        let mut keys = Vec::new();
        for _ in 0..3 {
            let stopped = stopped.clone();
            keys.push(s.spawn("test worker", |stop| async move {
                stop.cancelled().await;
                stopped.fetch_add(1, Ordering::SeqCst);
            }));
        }
        s.stop(keys[1]).await;
        assert_eq!(stopped.load(Ordering::SeqCst), 1);
        s.stop(keys[1]).await; // already gone: ignored
        s.shutdown().await;
        assert_eq!(stopped.load(Ordering::SeqCst), 3);
        s.shutdown().await;
    }

    #[tokio::test]
    async fn workers_that_ended_are_reaped_at_the_next_spawn() {
        let mut s = Supervisor::new(CancellationToken::new());
        for _ in 0..10 {
            s.spawn("short worker", |_| async {});
            tokio::task::yield_now().await;
        }
        // Each spawn reaped the ones that had ended before it.
        assert!(s.workers.len() < 10, "{}", s.workers.len());
        s.shutdown().await;
        assert!(s.workers.is_empty());
    }

    #[tokio::test]
    async fn a_panicking_worker_is_reaped() {
        let mut s = Supervisor::new(CancellationToken::new());
        s.spawn("panicking worker", |_| async { panic!("boom") });
        s.shutdown().await;
    }
}
