//! The Redis side: one connection (standalone or Redis Cluster) that only `PUBLISH`es.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{AsyncConnectionConfig, Client};

use sio_redis_transport::redact_url;

use crate::config::EmitterConfig;
use crate::error::Error;
use crate::selection::Message;

/// First delay between reconnection attempts (doubling, with jitter).
const RECONNECT_MIN_DELAY: Duration = Duration::from_millis(100);
/// Longest delay between reconnection attempts.
const RECONNECT_MAX_DELAY: Duration = Duration::from_secs(2);

/// The connection kinds an emitter publishes on. All are cheap to clone (handles on one
/// multiplexed connection per server).
#[derive(Clone)]
enum Conn {
    /// Standalone Redis, reconnecting forever in the background.
    Standalone(ConnectionManager),
    /// Redis Cluster: `PUBLISH` on any node reaches the subscribers of every node.
    Cluster(ClusterConnection),
    /// A caller's multiplexed connection (no reconnection).
    Multiplexed(MultiplexedConnection),
}

/// Publishes [`Message`]s, each bounded by the response timeout.
#[derive(Clone)]
pub(crate) struct Publisher {
    conn: Conn,
    response_timeout: Duration,
    /// `"standalone"`, `"cluster"` or `"multiplexed"`, plus the redacted target.
    describe: String,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("connection", &self.describe)
            .field("response_timeout", &self.response_timeout)
            .finish()
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// redis-rs builds rustls client configs with the process-default crypto provider:
/// install rustls's ring provider unless one is installed already.
fn ensure_tls_provider(url: &str) {
    if url.starts_with("rediss") && rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another installer is fine: one provider is installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

fn bad_url(setting: &'static str, e: redis::RedisError) -> Error {
    Error::Config {
        setting,
        reason: "not a valid Redis URL".into(),
        source: Some(e),
    }
}

/// Runs `fut` within the connection timeout, mapping its errors.
async fn within<T>(
    config: &EmitterConfig,
    target: &str,
    fut: impl Future<Output = redis::RedisResult<T>>,
) -> Result<T, Error> {
    match tokio::time::timeout(config.get_connection_timeout(), fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(source)) => Err(Error::Connect {
            target: target.to_owned(),
            source,
        }),
        Err(_) => Err(Error::ConnectTimeout {
            target: target.to_owned(),
            ms: millis(config.get_connection_timeout()),
        }),
    }
}

impl Publisher {
    /// Connects to a standalone Redis at `url`.
    ///
    /// One plain connection is tried first, so that a refused connection or a failed
    /// `AUTH` is reported at once with its cause; then a `ConnectionManager` that
    /// retries reconnections forever (100 ms doubling to 2 s, with jitter) is made.
    pub(crate) async fn standalone(url: &str, config: &EmitterConfig) -> Result<Self, Error> {
        config.validate()?;
        ensure_tls_provider(url);
        let client = Client::open(url).map_err(|e| bad_url("url", e))?;
        let target = redact_url(url);
        let ct = config.get_connection_timeout();
        let rt = config.get_response_timeout();
        let probe_config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(ct))
            .set_response_timeout(Some(rt));
        within(config, &target, async {
            let mut conn = client
                .get_multiplexed_async_connection_with_config(&probe_config)
                .await?;
            redis::cmd("PING").query_async::<()>(&mut conn).await
        })
        .await?;
        let manager_config = ConnectionManagerConfig::new()
            .set_number_of_retries(usize::MAX)
            .set_min_delay(RECONNECT_MIN_DELAY)
            .set_max_delay(RECONNECT_MAX_DELAY)
            .set_connection_timeout(Some(ct))
            .set_response_timeout(Some(rt));
        let manager = within(
            config,
            &target,
            ConnectionManager::new_with_config(client, manager_config),
        )
        .await?;
        Ok(Self {
            conn: Conn::Standalone(manager),
            response_timeout: rt,
            describe: format!("standalone {target}"),
        })
    }

    /// Connects to a Redis Cluster through the seed nodes `urls`; the cluster connection
    /// reconnects to nodes and refreshes the slot map by itself.
    pub(crate) async fn cluster<S: AsRef<str>>(
        urls: &[S],
        config: &EmitterConfig,
    ) -> Result<Self, Error> {
        config.validate()?;
        if urls.is_empty() {
            return Err(Error::Config {
                setting: "urls",
                reason: "no seed URL".into(),
                source: None,
            });
        }
        let urls: Vec<&str> = urls.iter().map(AsRef::as_ref).collect();
        urls.iter().for_each(|u| ensure_tls_provider(u));
        let target = urls
            .iter()
            .map(|u| redact_url(u))
            .collect::<Vec<_>>()
            .join(",");
        let client = ClusterClient::builder(urls.iter().copied())
            .connection_timeout(config.get_connection_timeout())
            .response_timeout(config.get_response_timeout())
            .build()
            .map_err(|e| bad_url("urls", e))?;
        let conn = within(config, &target, client.get_async_connection()).await?;
        Ok(Self {
            conn: Conn::Cluster(conn),
            response_timeout: config.get_response_timeout(),
            describe: format!("cluster {target}"),
        })
    }

    pub(crate) fn from_manager(
        manager: ConnectionManager,
        config: &EmitterConfig,
    ) -> Result<Self, Error> {
        config.validate()?;
        Ok(Self {
            conn: Conn::Standalone(manager),
            response_timeout: config.get_response_timeout(),
            describe: "standalone (caller's ConnectionManager)".into(),
        })
    }

    pub(crate) fn from_cluster(
        conn: ClusterConnection,
        config: &EmitterConfig,
    ) -> Result<Self, Error> {
        config.validate()?;
        Ok(Self {
            conn: Conn::Cluster(conn),
            response_timeout: config.get_response_timeout(),
            describe: "cluster (caller's ClusterConnection)".into(),
        })
    }

    pub(crate) fn from_multiplexed(
        conn: MultiplexedConnection,
        config: &EmitterConfig,
    ) -> Result<Self, Error> {
        config.validate()?;
        Ok(Self {
            conn: Conn::Multiplexed(conn),
            response_timeout: config.get_response_timeout(),
            describe: "standalone (caller's MultiplexedConnection)".into(),
        })
    }

    /// `PUBLISH <channel> <payload>`, bounded by the response timeout.
    pub(crate) async fn publish(&self, msg: &Message) -> Result<(), Error> {
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(&msg.channel).arg(msg.payload.as_slice());
        let sent = async {
            match &self.conn {
                Conn::Standalone(c) => cmd.query_async::<i64>(&mut c.clone()).await,
                Conn::Cluster(c) => cmd.query_async::<i64>(&mut c.clone()).await,
                Conn::Multiplexed(c) => cmd.query_async::<i64>(&mut c.clone()).await,
            }
        };
        match tokio::time::timeout(self.response_timeout, sent).await {
            Ok(Ok(_receivers)) => Ok(()),
            Ok(Err(source)) => Err(Error::Publish {
                channel: msg.channel.clone(),
                source,
            }),
            Err(_) => Err(Error::Timeout {
                channel: msg.channel.clone(),
                ms: millis(self.response_timeout),
            }),
        }
    }
}
