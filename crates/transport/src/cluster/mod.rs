//! Redis Cluster: the key-to-slot mapping ([`slot`]) and the slot map read
//! from the cluster ([`topology`]). The cluster composition of the transport
//! (slot routing, one subscriber per primary) builds on these.

pub(crate) mod router;
pub(crate) mod shards;
pub mod slot;
pub(crate) mod topology;

use std::time::Duration;

use redis::{Client, ConnectionAddr};

use crate::config::{Endpoint, TransportConfig};
use crate::conn::{Dial, RespConnection};
use crate::error::TransportError;
use topology::{ClusterTopology, TopologyError};

impl ClusterTopology {
    /// Reads the slot map from the first seed node of `config`'s URL that
    /// answers: `CLUSTER SHARDS` (Redis ≥ 7.0), or `CLUSTER SLOTS` where that is
    /// unknown. Seeds are comma-separated in the URL, each a whole URL or,
    /// after the first, a bare `host[:port]` taking the first one's scheme,
    /// credentials and query (`redis://u:pw@10.0.0.1:7000,10.0.0.2:7000`); each
    /// seed is tried once, bounded by the connect timeout and then the
    /// response timeout. Nodes whose endpoint the cluster does not announce are
    /// reached at the host of the seed that answered.
    ///
    /// # Errors
    ///
    /// * [`TransportError::Config`] if a seed URL does not parse (the setting is
    ///   `"url"`);
    /// * [`TransportError::Connect`] (role publisher) when no seed could be
    ///   reached, with the last seed's error;
    /// * [`TransportError::Redis`] when a seed refused both commands (e.g. not
    ///   in cluster mode: `ERR This instance has cluster support disabled`) or
    ///   its reply was malformed ([`redis::ErrorKind::UnexpectedReturnType`]);
    /// * [`TransportError::Timeout`] when the seeds that answered did so too
    ///   late.
    pub async fn fetch(config: &TransportConfig) -> Result<ClusterTopology, TransportError> {
        let seeds = config.seeds()?;
        let dial = Dial::new(
            config.tls_certificates(),
            config.connect_timeout,
            config.max_message_bytes,
        );
        let mut last = None;
        for seed in seeds {
            match fetch_from(&seed, &dial, config.response_timeout).await {
                Ok(topology) => return Ok(topology),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(TransportError::Closed))
    }
}

/// `CLUSTER SHARDS`, else `CLUSTER SLOTS`, on one seed.
async fn fetch_from(
    seed: &Client,
    dial: &Dial,
    timeout: Duration,
) -> Result<ClusterTopology, TransportError> {
    let info = seed.get_connection_info();
    let (host, tls) = match info.addr() {
        ConnectionAddr::Tcp(host, _) => (host.clone(), false),
        ConnectionAddr::TcpTls { host, .. } => (host.clone(), true),
        other => (other.to_string(), false),
    };
    let mut conn = RespConnection::open(&Endpoint::Direct(seed.clone()), dial)
        .await
        .map_err(|source| TransportError::Connect {
            role: crate::Role::Publisher,
            source,
        })?;
    match ask(&mut conn, "SHARDS", timeout).await {
        Ok(reply) => ClusterTopology::from_shards_reply(&reply, &host, tls).map_err(malformed),
        Err(TransportError::Redis(e)) if !crate::error::breaks_connection(&e) => {
            let reply = ask(&mut conn, "SLOTS", timeout).await?;
            ClusterTopology::from_slots_reply(&reply, &host).map_err(malformed)
        }
        Err(e) => Err(e),
    }
}

/// A slot map reply that did not parse, as the error the callers return.
fn malformed(e: TopologyError) -> TransportError {
    TransportError::Redis(redis::RedisError::from((
        redis::ErrorKind::UnexpectedReturnType,
        "malformed cluster topology",
        e.to_string(),
    )))
}

/// `CLUSTER <sub>` on a connection not in subscribed mode, bounded by `timeout`.
async fn ask(
    conn: &mut RespConnection,
    sub: &str,
    timeout: Duration,
) -> Result<redis::Value, TransportError> {
    let mut cmd = redis::cmd("CLUSTER");
    cmd.arg(sub);
    let reply = tokio::time::timeout(timeout, conn.command(&cmd))
        .await
        .map_err(|_| TransportError::Timeout {
            ms: crate::shared::millis(timeout),
        })??;
    match reply.error() {
        Some(e) => Err(TransportError::Redis(e)),
        None => Ok(reply.value()?),
    }
}
