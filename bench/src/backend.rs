//! The Redis side of a scenario: which adapter the peers use (`pubsub`, `sharded` with
//! its subscription mode, `streams`, or `none`), and the private Redis they use: one
//! `redis-server`, or a Redis Cluster of 3 primaries + 3 replicas (the test kit's), on
//! free loopback ports (never 6379).
//!
//! Subscriber counts are read here too: `PUBSUB NUMSUB` (classic channels, summed over
//! every server: a cluster node counts its own subscribers only) and
//! `PUBSUB SHARDNUMSUB` (shard channels, asked of the primary that owns each channel's
//! slot).

use std::fmt;
use std::time::Duration;

use sio_redis_testkit::{RedisCluster, RedisServer, key_slot};
use sio_redis_wire::channels::{
    ClassicChannels, DEFAULT_PREFIX, ShardedChannels, SubscriptionMode,
};

use crate::stats::proc_cpu_us;

/// The adapter of the peers (`ADAPTER`, and `SHARDED_MODE` for the sharded one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Adapter {
    /// The classic adapter (`createAdapter`): PUBLISH / PSUBSCRIBE.
    Pubsub,
    /// The sharded adapter (`createShardedAdapter`): SPUBLISH / SSUBSCRIBE.
    Sharded(SubscriptionMode),
    /// The streams adapter (`@socket.io/redis-streams-adapter` 0.3, Node's defaults: one
    /// stream `socket.io`, `maxLen` 10 000): broadcasts are XADDed and read back by
    /// XREAD; requests on classic pub/sub.
    Streams,
    /// A single node without Redis.
    None,
}

impl Adapter {
    /// `ADAPTER` of the peer-node contract.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Adapter::Pubsub => "pubsub",
            Adapter::Sharded(_) => "sharded",
            Adapter::Streams => "streams",
            Adapter::None => "none",
        }
    }

    /// Reads `--adapter` and `--sharded-mode`.
    pub(crate) fn parse(adapter: &str, sharded_mode: &str) -> Result<Adapter, String> {
        match adapter {
            "pubsub" | "classic" => Ok(Adapter::Pubsub),
            "sharded" => SubscriptionMode::from_name(sharded_mode)
                .map(Adapter::Sharded)
                .ok_or_else(|| {
                    format!(
                        "--sharded-mode {sharded_mode}: expected static, dynamic or dynamic-private"
                    )
                }),
            "streams" => Ok(Adapter::Streams),
            "none" => Ok(Adapter::None),
            other => Err(format!(
                "--adapter {other}: expected pubsub, sharded, streams or none"
            )),
        }
    }
}

/// How a scenario's peers reach each other: the adapter and the kind of Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Setup {
    pub(crate) adapter: Adapter,
    /// A Redis Cluster (3 primaries + 3 replicas) instead of one redis-server.
    pub(crate) cluster: bool,
}

impl Setup {
    /// The classic adapter on one redis-server (the default of every scenario).
    pub(crate) const PUBSUB: Setup = Setup {
        adapter: Adapter::Pubsub,
        cluster: false,
    };

    /// The same Redis with another adapter.
    pub(crate) fn with_adapter(self, adapter: Adapter) -> Setup {
        Setup { adapter, ..self }
    }

    /// Whether the peers use sharded pub/sub.
    pub(crate) fn sharded(self) -> bool {
        matches!(self.adapter, Adapter::Sharded(_))
    }

    /// Whether the peers use the streams adapter.
    pub(crate) fn streams(self) -> bool {
        self.adapter == Adapter::Streams
    }

    /// The environment of a peer node (besides `REDIS_URL`).
    pub(crate) fn peer_env(self) -> Vec<(&'static str, String)> {
        let mut env = vec![("ADAPTER", self.adapter.name().to_owned())];
        if let Adapter::Sharded(mode) = self.adapter {
            env.push(("SHARDED_MODE", mode.as_str().to_owned()));
        }
        if self.cluster {
            env.push(("REDIS_CLUSTER", "1".to_owned()));
        }
        env
    }

    /// The channel every node subscribes for namespace `nsp` (to wait for a cluster to
    /// be complete): the classic request channel, the sharded main channel, or the
    /// streams adapter's public channel (a classic channel of the same name).
    pub(crate) fn presence_channel(self, nsp: &str) -> Option<String> {
        match self.adapter {
            Adapter::Pubsub => Some(ClassicChannels::new(DEFAULT_PREFIX, nsp).request),
            Adapter::Sharded(_) | Adapter::Streams => {
                Some(ShardedChannels::new(DEFAULT_PREFIX, nsp).main)
            }
            Adapter::None => None,
        }
    }
}

impl fmt::Display for Setup {
    /// `pub/sub`, `sharded dynamic`, `sharded static, Redis Cluster`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.adapter {
            Adapter::Pubsub => f.write_str("pub/sub")?,
            Adapter::Sharded(mode) => write!(f, "sharded {}", mode.as_str())?,
            Adapter::Streams => f.write_str("streams")?,
            Adapter::None => f.write_str("no adapter")?,
        }
        if self.cluster {
            f.write_str(", Redis Cluster")?;
        }
        Ok(())
    }
}

/// A running private Redis.
#[derive(Debug)]
pub(crate) enum Backend {
    Standalone(RedisServer),
    Cluster(RedisCluster),
}

/// How long a Redis Cluster may take to form.
const CLUSTER_READY: Duration = Duration::from_secs(60);

impl Backend {
    /// Starts one redis-server, or a Redis Cluster of 3 primaries + 3 replicas.
    pub(crate) async fn start(cluster: bool) -> Result<Backend, String> {
        tokio::task::spawn_blocking(move || {
            if cluster {
                RedisCluster::builder()
                    .ready_timeout(CLUSTER_READY)
                    .start()
                    .map(Backend::Cluster)
                    .map_err(|e| format!("cannot start a Redis Cluster: {e}"))
            } else {
                RedisServer::start()
                    .map(Backend::Standalone)
                    .map_err(|e| format!("cannot start redis-server: {e}"))
            }
        })
        .await
        .map_err(|e| e.to_string())?
    }

    /// Every server (one, or the cluster's six).
    pub(crate) fn servers(&self) -> &[RedisServer] {
        match self {
            Backend::Standalone(s) => std::slice::from_ref(s),
            Backend::Cluster(c) => c.nodes(),
        }
    }

    /// `REDIS_URL` of the peers: the server's URL, or every cluster node's, comma-separated.
    pub(crate) fn peer_url(&self) -> String {
        self.servers()
            .iter()
            .map(RedisServer::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The port of the server that serves each of `channels`: on a cluster, the
    /// primary owning the channel's slot (one `CLUSTER SLOTS`).
    pub(crate) async fn owners(&self, channels: &[String]) -> Result<Vec<u16>, String> {
        let first = &self.servers()[0];
        if let Backend::Standalone(s) = self {
            return Ok(vec![s.port(); channels.len()]);
        }
        let client = redis::Client::open(first.url()).map_err(|e| e.to_string())?;
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| format!("cannot connect to {}: {e}", first.url()))?;
        // [[start, end, [host, port, id], replicas…], …]
        let slots: Vec<(u16, u16, (String, u16))> = redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query_async::<Vec<redis::Value>>(&mut conn)
            .await
            .map_err(|e| format!("CLUSTER SLOTS: {e}"))?
            .into_iter()
            .map(|range| match range {
                redis::Value::Array(items) if items.len() >= 3 => {
                    let mut it = items.into_iter();
                    let start: u16 = redis::from_redis_value(it.next()?).ok()?;
                    let end: u16 = redis::from_redis_value(it.next()?).ok()?;
                    let node = match it.next()? {
                        redis::Value::Array(n) if n.len() >= 2 => {
                            let mut n = n.into_iter();
                            let host: String = redis::from_redis_value(n.next()?).ok()?;
                            let port: u16 = redis::from_redis_value(n.next()?).ok()?;
                            (host, port)
                        }
                        _ => return None,
                    };
                    Some((start, end, node))
                }
                _ => None,
            })
            .collect::<Option<_>>()
            .ok_or("CLUSTER SLOTS: unexpected reply")?;
        channels
            .iter()
            .map(|c| {
                let slot = key_slot(c.as_bytes());
                slots
                    .iter()
                    .find(|(start, end, _)| (*start..=*end).contains(&slot))
                    .map(|(_, _, (_, port))| *port)
                    .ok_or_else(|| format!("no primary serves slot {slot} ({c})"))
            })
            .collect()
    }

    /// The server listening on `port`.
    pub(crate) fn server(&self, port: u16) -> Result<&RedisServer, String> {
        self.servers()
            .iter()
            .find(|s| s.port() == port)
            .ok_or_else(|| format!("no server of this Redis listens on {port}"))
    }

    /// The pids of the servers.
    pub(crate) fn pids(&self) -> Vec<u32> {
        self.servers().iter().filter_map(RedisServer::pid).collect()
    }

    /// CPU time (user + system) of every server together, µs.
    pub(crate) fn cpu_us(&self) -> Option<u64> {
        self.pids().into_iter().map(proc_cpu_us).sum()
    }

    /// `PUBSUB NUMSUB` (classic channels; summed over every server) or
    /// `PUBSUB SHARDNUMSUB` (shard channels; asked of each channel's slot owner) of
    /// each of `channels`, in order.
    pub(crate) async fn subscribers(
        &self,
        sharded: bool,
        channels: &[String],
    ) -> Result<Vec<i64>, String> {
        let mut counts = vec![0; channels.len()];
        let owners = if sharded {
            self.owners(channels).await?
        } else {
            Vec::new()
        };
        for server in self.servers() {
            let mine: Vec<usize> = if sharded {
                (0..channels.len())
                    .filter(|&i| owners[i] == server.port())
                    .collect()
            } else {
                (0..channels.len()).collect()
            };
            if mine.is_empty() {
                continue;
            }
            let client = redis::Client::open(server.url()).map_err(|e| e.to_string())?;
            let mut conn = client
                .get_multiplexed_async_connection()
                .await
                .map_err(|e| format!("cannot connect to {}: {e}", server.url()))?;
            // one channel per command: a cluster refuses SHARDNUMSUB across slots
            let mut pipe = redis::pipe();
            for &i in &mine {
                pipe.cmd("PUBSUB")
                    .arg(if sharded { "SHARDNUMSUB" } else { "NUMSUB" })
                    .arg(&channels[i]);
            }
            let replies: Vec<Vec<(String, i64)>> = pipe
                .query_async(&mut conn)
                .await
                .map_err(|e| format!("PUBSUB on {}: {e}", server.url()))?;
            for (&i, r) in mine.iter().zip(replies) {
                counts[i] += r.first().map_or(0, |x| x.1);
            }
        }
        Ok(counts)
    }

    /// The connections of every server whose last command is `XREAD` (`cmd=xread` in
    /// `CLIENT LIST`): the stream readers of the streams adapter, blocked waiting.
    pub(crate) async fn xread_clients(&self) -> Result<usize, String> {
        let mut n = 0;
        for server in self.servers() {
            let client = redis::Client::open(server.url()).map_err(|e| e.to_string())?;
            let mut conn = client
                .get_multiplexed_async_connection()
                .await
                .map_err(|e| format!("cannot connect to {}: {e}", server.url()))?;
            let list: String = redis::cmd("CLIENT")
                .arg("LIST")
                .query_async(&mut conn)
                .await
                .map_err(|e| format!("CLIENT LIST on {}: {e}", server.url()))?;
            n += list.matches("cmd=xread").count();
        }
        Ok(n)
    }

    /// Stops every server.
    pub(crate) async fn stop(self) {
        let _ = tokio::task::spawn_blocking(move || drop(self)).await;
    }
}
