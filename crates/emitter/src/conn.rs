//! The Redis side: one connection (standalone or Redis Cluster) that only `PUBLISH`es
//! (classic) or `SPUBLISH`es (sharded).
//!
//! [`Emitter::connect`](crate::Emitter::connect) and
//! [`Emitter::connect_cluster`](crate::Emitter::connect_cluster) publish through a
//! publish-only [`Transport`] (the adapters' own transport: its reconnect with back-off,
//! its error classification, Redis Cluster through its slot map and node rotation); the
//! constructors that take a caller's redis-rs connection publish on that connection.

use std::time::Duration;

use redis::aio::{ConnectionManager, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;

use sio_redis_transport::{Transport, TransportConfig, TransportError, redact_url};

use crate::config::EmitterConfig;
use crate::error::Error;
use crate::kind::PublishCommand;
use crate::selection::Message;

/// The connection kinds an emitter publishes on. All are cheap to clone (handles on one
/// multiplexed connection per server).
#[derive(Clone)]
enum Conn {
    /// A publish-only transport (standalone, Sentinel or Redis Cluster), reconnecting
    /// forever in the background.
    Transport(Transport),
    /// A caller's `ConnectionManager`.
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

/// A publish-only transport from `transport` with the emitter's timeouts; its
/// errors as the emitter's (`setting`: the URL setting's name in them).
async fn connect(
    transport: TransportConfig,
    config: &EmitterConfig,
    target: &str,
    setting: &'static str,
) -> Result<Transport, Error> {
    let transport = transport
        .publish_only(true)
        .connect_timeout(config.get_connection_timeout())
        .response_timeout(config.get_response_timeout());
    // Boxed: the transport's start-up future is deep, and callers nest it further.
    let connect: std::pin::Pin<Box<dyn Future<Output = Result<Transport, TransportError>> + Send>> =
        Box::pin(async move { Transport::connect(transport.build()?).await });
    // Seeds are tried one after the other: the whole start-up is bounded too.
    let bound = config.get_connection_timeout() + config.get_response_timeout();
    match tokio::time::timeout(bound, connect).await {
        Ok(Ok(t)) => Ok(t),
        Ok(Err(TransportError::Config(e))) => Err(Error::Config {
            setting,
            reason: e.to_string(),
            source: match e {
                sio_redis_transport::ConfigError::Url { source, .. } => Some(source),
                _ => None,
            },
        }),
        Ok(Err(TransportError::Connect { source, .. } | TransportError::Redis(source))) => {
            Err(Error::Connect {
                target: target.to_owned(),
                source,
            })
        }
        Ok(Err(other)) => Err(Error::Connect {
            target: target.to_owned(),
            source: redis::RedisError::from(std::io::Error::other(other.to_string())),
        }),
        Err(_) => Err(Error::ConnectTimeout {
            target: target.to_owned(),
            ms: millis(bound),
        }),
    }
}

impl Publisher {
    /// Connects to a standalone Redis (or Sentinel-named primary) at `url`, one attempt
    /// bounded by the connection timeout, so that a refused connection or a failed
    /// `AUTH` is reported at once with its cause; afterwards the transport reconnects
    /// forever (exponential back-off with jitter).
    pub(crate) async fn standalone(url: &str, config: &EmitterConfig) -> Result<Self, Error> {
        config.validate()?;
        let target = redact_url(url);
        let transport = connect(TransportConfig::new(url), config, &target, "url").await?;
        Ok(Self {
            conn: Conn::Transport(transport),
            response_timeout: config.get_response_timeout(),
            describe: format!("standalone {target}"),
        })
    }

    /// Connects to a Redis Cluster through the seed nodes `urls`; `PUBLISH` goes to one
    /// node (the cluster bus carries it to every node), moved to the next known node when
    /// that one fails.
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
        let target = urls
            .iter()
            .map(|u| redact_url(u))
            .collect::<Vec<_>>()
            .join(",");
        let transport = connect(
            TransportConfig::new(urls.join(",")).cluster(true),
            config,
            &target,
            "urls",
        )
        .await?;
        Ok(Self {
            conn: Conn::Transport(transport),
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

    /// `PUBLISH` or `SPUBLISH` (by [`Message::command`]) `<channel> <payload>`, or `XADD
    /// <stream> MAXLEN ~ <max_len> * <fields>` ([`Message::xadd`]), bounded by the
    /// response timeout. `SPUBLISH` and `XADD` on a Redis Cluster go to the primary of
    /// the channel's (stream's) slot (the transport's router, or redis-rs's routing by
    /// first key).
    pub(crate) async fn publish(&self, msg: &Message) -> Result<(), Error> {
        let command = msg.command;
        let publish_error = |source| Error::Publish {
            command,
            channel: msg.channel.clone(),
            source,
        };
        if let Conn::Transport(t) = &self.conn {
            let payload = bytes::Bytes::copy_from_slice(msg.payload.as_slice());
            // Boxed: the transport's futures are deep, and the emitter's nest them further.
            let sent: std::pin::Pin<Box<dyn Future<Output = Result<(), _>> + Send + '_>> =
                match (&msg.xadd, command) {
                    (Some(x), _) => Box::pin(async move {
                        let fields = sio_redis_transport::stream_fields(x.fields.clone());
                        t.xadd(&msg.channel, Some(x.max_len), fields)
                            .await
                            .map(drop)
                    }),
                    (None, PublishCommand::Spublish) => {
                        Box::pin(async move { t.spublish(&msg.channel, payload).await.map(drop) })
                    }
                    (None, _) => {
                        Box::pin(async move { t.publish(&msg.channel, payload).await.map(drop) })
                    }
                };
            return match sent.await {
                Ok(()) => Ok(()),
                Err(TransportError::Timeout { ms }) => Err(Error::Timeout {
                    command,
                    channel: msg.channel.clone(),
                    ms,
                }),
                Err(TransportError::Redis(source)) => Err(publish_error(source)),
                // Not connected (reconnecting), queue full, closed: nothing was sent.
                Err(other) => Err(publish_error(redis::RedisError::from(std::io::Error::new(
                    std::io::ErrorKind::NotConnected,
                    other.to_string(),
                )))),
            };
        }
        let cmd = match &msg.xadd {
            Some(x) => sio_redis_transport::xadd_cmd(&msg.channel, x.max_len, &x.fields),
            None => {
                let mut cmd = redis::cmd(command.as_str());
                cmd.arg(&msg.channel).arg(msg.payload.as_slice());
                cmd
            }
        };
        // The reply (a receiver count, an entry id) is not used; an error reply is.
        let sent = async {
            match &self.conn {
                Conn::Transport(_) => unreachable!("published above"),
                Conn::Standalone(c) => cmd.query_async::<redis::Value>(&mut c.clone()).await,
                Conn::Cluster(c) => cmd.query_async::<redis::Value>(&mut c.clone()).await,
                Conn::Multiplexed(c) => cmd.query_async::<redis::Value>(&mut c.clone()).await,
            }
            .and_then(redis::Value::extract_error)
        };
        match tokio::time::timeout(self.response_timeout, sent).await {
            Ok(Ok(_reply)) => Ok(()),
            Ok(Err(source)) => Err(publish_error(source)),
            Err(_) => Err(Error::Timeout {
                command,
                channel: msg.channel.clone(),
                ms: millis(self.response_timeout),
            }),
        }
    }
}
