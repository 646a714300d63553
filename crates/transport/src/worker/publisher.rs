//! The publisher: one multiplexed connection ([`MuxConnection`]) shared by
//! every handle, and a worker task that notices when it breaks and reconnects
//! it with back-off.
//!
//! redis-rs's `ConnectionManager` is not used: it gives up after 6 retries by
//! default, a command issued while it reconnects waits for the reconnection
//! (no prompt error), its reconnect futures are detached tasks that outlive
//! the manager, and it reports no connection events.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use redis::{Cmd, FromRedisValue, RedisResult};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::retry::{Attempts, Next};
use crate::backoff::Backoff;
use crate::config::Endpoint;
use crate::conn::mux::{MuxConnection, Verb};
use crate::conn::{Dial, RespConnection};
use crate::error::{ErrorClass, TransportError, breaks_connection, classify};
use crate::event::{ConnectionEvent, Role};
use crate::shared::{Shared, millis};

enum State {
    Up {
        conn: MuxConnection,
        generation: u64,
    },
    Down,
    GaveUp {
        attempts: u32,
    },
    Closed,
}

/// The publisher connection slot, shared by handles and the worker.
pub(crate) struct Publisher {
    state: Mutex<State>,
    /// Whether the state is anything but `Down` (up, given up, closed), for
    /// the publish queue to wait on.
    settled: watch::Sender<bool>,
    /// Wakes the worker when a command saw the connection fail.
    wake: Notify,
    /// Highest connection generation reported broken by a command.
    broken: AtomicU64,
    last_error: Mutex<String>,
    response_timeout: Duration,
    /// How connections are made (TLS, timeouts, limits).
    dial: Arc<Dial>,
    /// The `connected` gauge of the publisher role, set by the transport (not on the
    /// command connection of the server counts).
    pub(crate) connected: std::sync::OnceLock<metrics::Gauge>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &*self.lock() {
            State::Up { generation, .. } => format!("up (generation {generation})"),
            State::Down => "down".into(),
            State::GaveUp { attempts } => format!("gave up after {attempts} attempts"),
            State::Closed => "closed".into(),
        };
        f.debug_struct("Publisher").field("state", &state).finish()
    }
}

impl Publisher {
    pub(crate) fn new(response_timeout: Duration, dial: Arc<Dial>) -> Publisher {
        Publisher {
            state: Mutex::new(State::Down),
            settled: watch::channel(false).0,
            wake: Notify::new(),
            broken: AtomicU64::new(0),
            last_error: Mutex::new(String::new()),
            response_timeout,
            dial,
            connected: std::sync::OnceLock::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set(&self, state: State) {
        let settled = !matches!(state, State::Down);
        if let Some(g) = self.connected.get() {
            g.set(if matches!(state, State::Up { .. }) {
                1.0
            } else {
                0.0
            });
        }
        *self.lock() = state;
        self.settled.send_replace(settled);
    }

    /// Resolves once the connection is not being re-established any more:
    /// up, given up or closed ([`Publisher::current`] tells which); at once
    /// if it is not down. Cancel safe.
    pub(crate) async fn wait_settled(&self) {
        let mut rx = self.settled.subscribe();
        // Err only if the sender is gone, which it is not while `self` lives.
        let _ = rx.wait_for(|settled| *settled).await;
    }

    /// Opens the connection of generation `generation` (no retry).
    async fn open(
        self: &Arc<Self>,
        endpoint: &Endpoint,
        generation: u64,
    ) -> RedisResult<MuxConnection> {
        let conn = RespConnection::open(endpoint, &self.dial).await?;
        // The connection tells at once when it ends (RESP2 and RESP3 alike).
        let weak = Arc::downgrade(self);
        Ok(MuxConnection::start(
            conn,
            self.response_timeout,
            Arc::new(move |reason: String| {
                if let Some(p) = weak.upgrade() {
                    p.report(generation, reason);
                }
            }),
        ))
    }

    /// The first connection, made by `Transport::connect`.
    pub(crate) async fn connect_initial(self: &Arc<Self>, endpoint: &Endpoint) -> RedisResult<()> {
        let conn = self.open(endpoint, 1).await?;
        self.set(State::Up {
            conn,
            generation: 1,
        });
        Ok(())
    }

    /// The current connection, or the error that says why there is none.
    pub(crate) fn current(&self) -> Result<(MuxConnection, u64), TransportError> {
        match &*self.lock() {
            State::Up { conn, generation } => Ok((conn.clone(), *generation)),
            State::Down => Err(TransportError::NotConnected {
                role: Role::Publisher,
            }),
            State::GaveUp { attempts } => Err(TransportError::GaveUp {
                role: Role::Publisher,
                attempts: *attempts,
            }),
            State::Closed => Err(TransportError::Closed),
        }
    }

    /// Runs one command on the publisher connection, bounded by the response
    /// timeout.
    pub(crate) async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, TransportError> {
        self.run(|conn| async move { conn.query::<T>(cmd).await })
            .await
    }

    /// Writes `bytes` (`replies` commands already encoded in RESP, e.g. a
    /// pipeline of `XADD`s or a `MULTI … EXEC` block) in one request on the
    /// publisher connection (one round trip), bounded by the response timeout;
    /// their reply frames in order, error replies included.
    pub(crate) async fn request(
        &self,
        bytes: Vec<u8>,
        replies: usize,
    ) -> Result<Vec<bytes::Bytes>, TransportError> {
        self.run(|conn| async move { conn.request(bytes, replies).await })
            .await
    }

    /// `PUBLISH` (or `SPUBLISH`) of every `(verb, channel, payload)`, pipelined
    /// (one write, one round trip), bounded by the response timeout; the
    /// receiver count of each.
    pub(crate) async fn publish<'a>(
        &self,
        items: impl ExactSizeIterator<Item = (Verb, &'a str, &'a [u8])> + Clone,
    ) -> Result<Vec<u64>, TransportError> {
        self.run(|conn| async move { conn.publish(items).await })
            .await
    }

    async fn run<T, F, Fut>(&self, request: F) -> Result<T, TransportError>
    where
        F: FnOnce(MuxConnection) -> Fut,
        Fut: std::future::Future<Output = RedisResult<T>>,
    {
        let (conn, generation) = self.current()?;
        match tokio::time::timeout(self.response_timeout, request(conn)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                if breaks_connection(&e) {
                    self.report(generation, e.to_string());
                }
                Err(TransportError::Redis(e))
            }
            // The replies of a pipelined connection come in order: one that is
            // late holds back every later one, so the connection is replaced
            // rather than checked with a PING that would wait behind it (a
            // frozen Redis would cost a second response timeout, with the
            // publish queue sending into the dead connection meanwhile).
            Err(_) => {
                let ms = millis(self.response_timeout);
                self.report(generation, format!("no reply within {ms} ms"));
                Err(TransportError::Timeout { ms })
            }
        }
    }

    /// Reports connection `generation` broken: it is taken out of use at once
    /// (later commands fail with `NotConnected`, and the publish queue holds its
    /// messages for the next connection instead of sending them into this one),
    /// and the worker is woken to replace it.
    fn report(&self, generation: u64, error: String) {
        if self.broken.fetch_max(generation, Ordering::AcqRel) < generation {
            *self
                .last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = error;
        }
        let current = matches!(&*self.lock(), State::Up { generation: g, .. } if *g == generation);
        if current {
            self.set(State::Down);
        }
        self.wake.notify_one();
    }

    fn last_error(&self) -> String {
        let e = self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if e.is_empty() {
            "connection lost".to_owned()
        } else {
            e.clone()
        }
    }

    /// `PING` on the current connection.
    async fn ping(&self) -> Result<(), String> {
        let conn = match &*self.lock() {
            State::Up { conn, .. } => conn.clone(),
            _ => return Err("not connected".into()),
        };
        match tokio::time::timeout(self.response_timeout, conn.query::<()>(&redis::cmd("PING")))
            .await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("health check failed: {e}")),
            Err(_) => Err(format!(
                "health check: no PING reply within {} ms",
                millis(self.response_timeout)
            )),
        }
    }

    pub(crate) fn is_up(&self) -> bool {
        matches!(&*self.lock(), State::Up { .. })
    }

    /// Drops the connection; later commands fail with `Closed`.
    pub(crate) fn close(&self) {
        self.set(State::Closed);
    }
}

/// The publisher's worker task: watches the connection, reconnects it.
pub(crate) struct PublisherWorker {
    pub(crate) publisher: Arc<Publisher>,
    pub(crate) endpoint: Endpoint,
    pub(crate) shared: Arc<Shared>,
    pub(crate) backoff: Backoff,
    pub(crate) health_check: Option<Duration>,
    pub(crate) shutdown: CancellationToken,
}

impl PublisherWorker {
    pub(crate) async fn run(mut self) {
        let mut generation = 1;
        let period = self.health_check.unwrap_or(Duration::from_secs(3600));
        loop {
            let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // Connected: wait for a failure report, a failed health check or
            // shutdown.
            let reason = loop {
                tokio::select! {
                    biased;
                    () = self.shutdown.cancelled() => return self.stop(),
                    () = self.publisher.wake.notified() => {
                        if self.publisher.broken.load(Ordering::Acquire) >= generation {
                            break self.publisher.last_error();
                        }
                    }
                    // The subscriber lost its connection, most likely to the
                    // same server: a closed connection reports itself, a
                    // half-open one (no reset from the peer) would otherwise
                    // be noticed only by the next command or health check.
                    () = self.shared.lost.notified() => {
                        if let Err(e) = self.publisher.ping().await {
                            break e;
                        }
                    }
                    _ = ticker.tick(), if self.health_check.is_some() => {
                        if let Err(e) = self.publisher.ping().await {
                            break e;
                        }
                    }
                }
            };
            self.publisher.set(State::Down);
            warn!(error = %reason, "redis publisher connection lost, reconnecting");
            self.shared.emit(ConnectionEvent::Disconnected {
                role: Role::Publisher,
                error: reason,
            });
            generation += 1;
            match self.reconnect(generation).await {
                Some(conn) => {
                    self.publisher.set(State::Up { conn, generation });
                    (self.shared.counters).reconnected(Role::Publisher, None);
                    self.shared.reconnected.notify_waiters();
                    info!("redis publisher connection re-established");
                    self.shared.emit(ConnectionEvent::Connected {
                        role: Role::Publisher,
                    });
                }
                None => return,
            }
        }
    }

    /// Reconnects with back-off; `None` on shutdown or when giving up (the
    /// state is set accordingly).
    async fn reconnect(&mut self, generation: u64) -> Option<MuxConnection> {
        let mut attempts = Attempts::new(Role::Publisher);
        loop {
            let error = match self.publisher.open(&self.endpoint, generation).await {
                Ok(conn) => return Some(conn),
                Err(e) => e,
            };
            let denied = classify(&error) == ErrorClass::Denied;
            let delay = match attempts.failed(&error.to_string(), denied, &self.backoff) {
                Next::Retry(delay) => delay,
                Next::GiveUp(failures) => {
                    self.publisher.set(State::GaveUp { attempts: failures });
                    self.shared.emit(ConnectionEvent::GaveUp {
                        role: Role::Publisher,
                        attempts: failures,
                        error: error.to_string(),
                    });
                    return None;
                }
            };
            tokio::select! {
                biased;
                () = self.shutdown.cancelled() => {
                    self.stop();
                    return None;
                }
                () = tokio::time::sleep(delay) => {}
                () = self.shared.reconnected.notified() => {
                    debug!("redis publisher: the subscriber reconnected, retrying now");
                }
            }
        }
    }

    fn stop(&self) {
        self.publisher.close();
    }
}

impl std::fmt::Debug for PublisherWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublisherWorker")
            .field("publisher", &self.publisher)
            .finish_non_exhaustive()
    }
}
