//! [`TransportConfig`]: endpoints, timeouts, back-off; validated once by
//! [`TransportConfig::build`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use redis::{
    Client, ConnectionAddr, ConnectionInfo, IntoConnectionInfo, ProtocolVersion, RedisResult,
    TlsCertificates,
};

use crate::backoff::Backoff;
use crate::error::ConfigError;

/// Default of [`TransportConfig::response_timeout`]: 2000 ms.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_millis(2000);
/// Default of [`TransportConfig::connect_timeout`]: 2000 ms.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_millis(2000);
/// Default of [`TransportConfig::health_check_interval`]: 1000 ms.
pub const DEFAULT_HEALTH_CHECK_INTERVAL: Duration = Duration::from_millis(1000);
/// Default of [`TransportConfig::probe_interval`]: 10 000 ms.
pub const DEFAULT_PROBE_INTERVAL: Duration = Duration::from_millis(10_000);
/// Prefix of the liveness probe's channel (see
/// [`TransportConfig::probe_interval`]); each transport adds 16 hex digits of
/// its own. An ACL user needs `&sio-redis-probe#*` (or the probe is off, said
/// once at warn level).
pub const PROBE_CHANNEL_PREFIX: &str = "sio-redis-probe#";
/// Default of [`TransportConfig::publish_buffer_bytes`]: 32 MiB.
pub const DEFAULT_PUBLISH_BUFFER_BYTES: usize = 32 * 1024 * 1024;
/// Default of [`TransportConfig::publish_buffer_max_age`]: 5000 ms.
pub const DEFAULT_PUBLISH_BUFFER_MAX_AGE: Duration = Duration::from_millis(5000);
/// Default of [`TransportConfig::max_message_bytes`]: 64 MiB (the wire
/// decoders' default limit).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;
/// Default of [`TransportConfig::event_capacity`]: 64 events.
pub const DEFAULT_EVENT_CAPACITY: usize = 64;

/// Default port of a Sentinel node in a `redis+sentinel://` URL.
const SENTINEL_PORT: u16 = 26379;

/// Where and how the [`Transport`](crate::Transport) connects.
///
/// A builder: start with [`TransportConfig::new`], chain setters (they never
/// fail), and finish with [`TransportConfig::build`], which validates
/// everything once. [`Transport::connect`](crate::Transport::connect) calls
/// `build()` itself if you did not.
///
/// ```
/// use std::time::Duration;
/// use sio_redis_transport::{Backoff, TransportConfig};
///
/// let config = TransportConfig::new("redis://alice:secret@127.0.0.1:7000/0")
///     .subscriber_url("redis://alice:secret@127.0.0.1:7001/0") // a replica
///     .backoff(Backoff::default().max(Duration::from_secs(5)))
///     .response_timeout(Duration::from_millis(500))
///     .resp3(true)
///     .build()?;
/// # Ok::<(), sio_redis_transport::ConfigError>(())
/// ```
///
/// `Debug` output hides passwords.
#[derive(Clone)]
pub struct TransportConfig {
    url: String,
    subscriber_url: Option<String>,
    backoff: Backoff,
    resp3: Option<bool>,
    cluster: bool,
    pub(crate) publish_only: bool,
    pub(crate) read_from_replicas: bool,
    pub(crate) response_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    health_check_interval: Duration,
    probe_interval: Duration,
    pub(crate) event_capacity: usize,
    pub(crate) publish_buffer_bytes: usize,
    pub(crate) max_message_bytes: usize,
    pub(crate) publish_buffer_max_age: Duration,
    tls_root_ca_pem: Option<Vec<u8>>,
    tls_client_auth: Option<(Vec<u8>, Vec<u8>)>,
    built: Option<Built>,
    pub(crate) metric_labels: Vec<metrics::Label>,
}

/// What `build()` produced: ready-to-use endpoint descriptions.
#[derive(Clone, Debug)]
pub(crate) struct Built {
    pub(crate) publisher: EndpointSpec,
    pub(crate) subscriber: EndpointSpec,
}

impl TransportConfig {
    /// A configuration for the Redis server at `url`, used for both
    /// connections unless [`TransportConfig::subscriber_url`] is set.
    ///
    /// Accepted forms (parsed by redis-rs 1.x, except the Sentinel form):
    /// * `redis://host[:port][/db]` (port 6379 by default, db 0);
    /// * `redis://[user]:password@host:port/db` for `AUTH`, including ACL
    ///   users (`redis://alice:pw@…`); percent-encode special characters;
    /// * `rediss://…` for TLS (rustls, system roots or
    ///   [`TransportConfig::tls_root_ca_pem`]); `rediss://…/#insecure` skips
    ///   verification, only with this crate's `tls-insecure` feature;
    /// * `?protocol=resp3` to pick RESP3 (see [`TransportConfig::resp3`]);
    /// * `redis+sentinel://[user:password@]host[:port][,host[:port]…]/service[/db][?role=replica][&protocol=resp3]`:
    ///   ask the Sentinels (port 26379 by default, no auth) for the primary
    ///   (or a replica with `role=replica`) of `service`, again on every
    ///   reconnect, so a failover is followed. The credentials and db are for
    ///   the Redis servers. No TLS in this form.
    pub fn new(url: impl Into<String>) -> Self {
        TransportConfig {
            url: url.into(),
            subscriber_url: None,
            backoff: Backoff::default(),
            resp3: None,
            cluster: false,
            publish_only: false,
            read_from_replicas: false,
            response_timeout: DEFAULT_RESPONSE_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            health_check_interval: DEFAULT_HEALTH_CHECK_INTERVAL,
            probe_interval: DEFAULT_PROBE_INTERVAL,
            metric_labels: Vec::new(),
            event_capacity: DEFAULT_EVENT_CAPACITY,
            publish_buffer_bytes: DEFAULT_PUBLISH_BUFFER_BYTES,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            publish_buffer_max_age: DEFAULT_PUBLISH_BUFFER_MAX_AGE,
            tls_root_ca_pem: None,
            tls_client_auth: None,
            built: None,
        }
    }

    /// A separate endpoint (same URL forms as [`TransportConfig::new`]) for
    /// the subscriber connection (`SUBSCRIBE`/`PSUBSCRIBE`), e.g. a replica of
    /// the primary given to `new`: Redis propagates `PUBLISH` to replicas, so
    /// subscribers can be moved off the primary (read/write separation, as the
    /// Go adapter's `SubClient`). Server counts are then asked where the
    /// subscribers are: [`Transport::numsub`](crate::Transport::numsub) and
    /// `shardnumsub` run on a command connection of their own to this
    /// endpoint (one more connection). Default: the `url`.
    #[must_use]
    pub fn subscriber_url(mut self, url: impl Into<String>) -> Self {
        self.subscriber_url = Some(url.into());
        self
    }

    /// Treat the URL as the seed nodes of a Redis Cluster (implied when it
    /// holds several comma-separated seeds, see
    /// [`ClusterTopology::fetch`](crate::ClusterTopology::fetch) for the
    /// forms). The classic pub/sub of this transport then runs on the cluster
    /// as Node's adapter does on a cluster client: `PUBLISH` and the
    /// subscriptions go to one node (the cluster bus carries `PUBLISH` to every
    /// node); after a loss each connection is re-established on the next node
    /// of those known at start-up (the seeds and every node of the slot map),
    /// so a failed node is skipped; [`Transport::numsub`](crate::Transport::numsub)
    /// adds up `PUBSUB NUMSUB` over all of them. Not combinable with
    /// [`TransportConfig::subscriber_url`] yet. Default: false.
    #[must_use]
    pub fn cluster(mut self, on: bool) -> Self {
        self.cluster = on;
        self
    }

    /// A transport that only publishes (an emitter): no subscriber connection
    /// is made (nor, on a cluster, any shard subscriber), and
    /// [`Transport::subscribe`](crate::Transport::subscribe) fails with
    /// [`TransportError::Config`](crate::TransportError::Config) naming this
    /// setting. `PUBLISH`, `SPUBLISH`, `PUBSUB NUMSUB` / `SHARDNUMSUB` and keyed
    /// commands work as usual, with the same reconnect, offline buffer and
    /// retry rules. Default: false.
    #[must_use]
    pub fn publish_only(mut self, on: bool) -> Self {
        self.publish_only = on;
        self
    }

    /// On a Redis Cluster, subscribe shard channels on a replica of each
    /// slot's shard instead of its primary (read/write separation, as the Go
    /// adapter's `SubClient`): Redis delivers a shard channel's messages to
    /// subscribers on the shard's replicas too, so the subscriber load moves
    /// off the primaries. The replica is picked per slot (slot modulo the
    /// shard's replicas); a shard without a replica is subscribed on its
    /// primary. One subscriber connection per replica used.
    /// [`Transport::shardnumsub`](crate::Transport::shardnumsub) adds up every
    /// node of the shard in any case. Default: false.
    ///
    /// Refused by [`TransportConfig::build`] without a cluster
    /// (`"read_from_replicas"`; use [`TransportConfig::subscriber_url`] for a
    /// standalone replica).
    #[must_use]
    pub fn read_from_replicas(mut self, on: bool) -> Self {
        self.read_from_replicas = on;
        self
    }

    /// Reconnect back-off of both connections. Default: [`Backoff::default`]
    /// (10 ms doubling to 40 ms, ±20 % jitter, never gives up).
    #[must_use]
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Speak RESP3 (`HELLO 3`; messages arrive as push frames) instead of
    /// RESP2. Default: false, unless the URL says `?protocol=resp3`; an
    /// explicit call overrides the URL. Applies to both connections.
    #[must_use]
    pub fn resp3(mut self, on: bool) -> Self {
        self.resp3 = Some(on);
        self
    }

    /// How long a command waits for Redis's reply: `PUBLISH`,
    /// `PUBSUB NUMSUB`, each `SUBSCRIBE`/`UNSUBSCRIBE` round trip, health
    /// checks, and the whole of [`Transport::subscribe`](crate::Transport::subscribe).
    /// Past it the call fails with
    /// [`TransportError::Timeout`](crate::TransportError::Timeout) (the
    /// command may still have been executed) and the connection is checked.
    /// Default: 2000 ms. Must be > 0.
    #[must_use]
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// How long one connection attempt may take (TCP, TLS, `HELLO`/`AUTH`,
    /// `SELECT`, and the Sentinel lookup). Default: 2000 ms. Must be > 0.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Interval between `PING`s on each idle connection, to notice
    /// dead connections that raise no error (half-open TCP, and under RESP2
    /// a publisher connection closed by the server, which redis-rs does not
    /// report until the next command). A `PING` not answered within the
    /// response timeout counts as a lost connection. [`Duration::ZERO`]
    /// disables the checks. Default: 1000 ms.
    #[must_use]
    pub fn health_check_interval(mut self, interval: Duration) -> Self {
        self.health_check_interval = interval;
        self
    }

    /// Idle time after which the subscriber connection is probed through
    /// Redis: when no message arrived for this long, a numbered `PUBLISH` goes
    /// (on the publisher connection) to a channel the subscriber connection
    /// holds (named [`PROBE_CHANNEL_PREFIX`] + 16 random hex digits) and must
    /// come back on it within twice the response timeout; a reply of 0
    /// receivers or no probe back means the subscription is silently gone
    /// (connection up, `PING` answered, nothing arriving), and the subscriber
    /// connection is replaced and everything re-subscribed. Such a loss is so
    /// found within two intervals plus two response timeouts. Probe messages
    /// never reach a handler. Counted in
    /// [`TransportStats::probes`](crate::TransportStats::probes) and
    /// [`TransportStats::probe_failures`](crate::TransportStats::probe_failures).
    /// If Redis refuses the probe channel (an ACL user without
    /// `&sio-redis-probe#*`), probing is off for that connection, said once at
    /// warn level. [`Duration::ZERO`] disables it. Default: 10 000 ms.
    #[must_use]
    pub fn probe_interval(mut self, interval: Duration) -> Self {
        self.probe_interval = interval;
        self
    }

    /// Adds the label `key = value` to every metric of the transport (see
    /// [`crate::metrics`]; e.g. the adapter adds `adapter = classic`). Default: none.
    /// Labels are fixed when the transport connects.
    #[must_use]
    pub fn metric_label(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.metric_labels
            .push(metrics::Label::new(key, value.into()));
        self
    }

    /// Capacity of the [`Transport::events`](crate::Transport::events)
    /// broadcast channel, in events. Default: 64. Must be > 0.
    #[must_use]
    pub fn event_capacity(mut self, events: usize) -> Self {
        self.event_capacity = events;
        self
    }

    /// Bytes (channel names plus payloads) the publish queue holds at most.
    /// The queue is also the offline buffer: while the publisher connection
    /// is being re-established, [`Transport::publish_queued`](crate::Transport::publish_queued)
    /// messages wait in it and are sent in order once it is back; when it is
    /// full they are refused with
    /// [`TransportError::BufferFull`](crate::TransportError::BufferFull). A
    /// message larger than the whole buffer waits for an empty queue. The
    /// queue also holds 16 384 messages at most. Default: 32 MiB. Must be
    /// in `1..=u32::MAX`.
    #[must_use]
    pub fn publish_buffer_bytes(mut self, bytes: usize) -> Self {
        self.publish_buffer_bytes = bytes;
        self
    }

    /// How long a message may wait in the publish queue (e.g. while the
    /// publisher reconnects) before it is dropped unsent (counted in
    /// [`TransportStats::publish_dropped`](crate::TransportStats::publish_dropped)):
    /// an outage longer than this loses what was published at its start
    /// rather than delivering stale broadcasts. Default: 5000 ms. Must be > 0.
    #[must_use]
    pub fn publish_buffer_max_age(mut self, age: Duration) -> Self {
        self.publish_buffer_max_age = age;
        self
    }

    /// Largest pub/sub message payload accepted, bytes. A larger one (from any
    /// publisher on a subscribed channel) is skipped as it arrives, without
    /// being buffered, and counted in
    /// [`TransportStats::oversized_dropped`](crate::TransportStats::oversized_dropped);
    /// any other reply with a bulk string over it is treated as a broken
    /// connection. Default: 64 MiB. Must be in `1..=512 MiB` (Redis's own
    /// `proto-max-bulk-len` ceiling).
    #[must_use]
    pub fn max_message_bytes(mut self, bytes: usize) -> Self {
        self.max_message_bytes = bytes;
        self
    }

    /// Trust this CA (PEM) instead of the system roots for `rediss://`
    /// endpoints, e.g. for a self-signed server certificate. Needs at least
    /// one `rediss://` URL.
    #[must_use]
    pub fn tls_root_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls_root_ca_pem = Some(pem.into());
        self
    }

    /// Present this client certificate and key (both PEM) to `rediss://`
    /// endpoints (mutual TLS, Redis `tls-auth-clients yes`).
    #[must_use]
    pub fn tls_client_auth(
        mut self,
        cert_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.tls_client_auth = Some((cert_pem.into(), key_pem.into()));
        self
    }

    /// Validates the configuration and parses the URLs.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the setting: `"url"` or `"subscriber_url"`
    /// (not a Redis URL, unknown scheme, bad db number, bad Sentinel list…;
    /// the redis-rs error is the source), `"backoff"`, `"response_timeout"`,
    /// `"connect_timeout"`, `"publish_buffer_max_age"` (zero),
    /// `"publish_buffer_bytes"` (0 or over `u32::MAX`), `"max_message_bytes"` (0
    /// or over 512 MiB), `"event_capacity"` (0), `"tls_root_ca_pem"` /
    /// `"tls_client_auth"` (bad PEM, or no `rediss://` URL to apply it to).
    pub fn build(mut self) -> Result<TransportConfig, ConfigError> {
        self.built = Some(self.validate()?);
        Ok(self)
    }

    /// The endpoints of a validated configuration (validating it if
    /// `build()` was not called).
    pub(crate) fn endpoints(&self) -> Result<Built, ConfigError> {
        match &self.built {
            Some(built) => Ok(built.clone()),
            None => self.validate(),
        }
    }

    fn validate(&self) -> Result<Built, ConfigError> {
        self.backoff.validate()?;
        for (setting, value) in [
            ("response_timeout", self.response_timeout),
            ("connect_timeout", self.connect_timeout),
            ("publish_buffer_max_age", self.publish_buffer_max_age),
        ] {
            if value.is_zero() {
                return Err(ConfigError::Invalid {
                    setting,
                    reason: "must be > 0".into(),
                });
            }
        }
        if self.publish_buffer_bytes == 0 || u32::try_from(self.publish_buffer_bytes).is_err() {
            return Err(ConfigError::Invalid {
                setting: "publish_buffer_bytes",
                reason: "must be in 1..=4294967295".into(),
            });
        }
        if self.max_message_bytes == 0 || self.max_message_bytes > crate::resp::MAX_BULK {
            return Err(ConfigError::Invalid {
                setting: "max_message_bytes",
                reason: "must be in 1..=536870912".into(),
            });
        }
        if self.event_capacity == 0 {
            return Err(ConfigError::Invalid {
                setting: "event_capacity",
                reason: "must be > 0".into(),
            });
        }
        let tls = self.tls_certificates();
        if self.read_from_replicas && !self.is_cluster() {
            return Err(ConfigError::Invalid {
                setting: "read_from_replicas",
                reason: "only for a Redis Cluster (for a standalone replica use subscriber_url)"
                    .into(),
            });
        }
        if self.is_cluster() {
            if self.subscriber_url.is_some() {
                return Err(ConfigError::Invalid {
                    setting: "subscriber_url",
                    reason: "not supported with a Redis Cluster yet".into(),
                });
            }
            let seeds = self.seeds()?;
            if seeds.iter().any(|c| {
                matches!(
                    c.get_connection_info().addr(),
                    ConnectionAddr::TcpTls { .. }
                )
            }) {
                ensure_crypto_provider();
            }
            let spec = EndpointSpec::Cluster(ClusterSpec {
                seeds,
                tls: tls.clone(),
            });
            return Ok(Built {
                publisher: spec.clone(),
                subscriber: spec,
            });
        }
        let publisher = EndpointSpec::parse("url", &self.url, self.resp3, tls.as_ref())?;
        let subscriber = match &self.subscriber_url {
            Some(url) => EndpointSpec::parse("subscriber_url", url, self.resp3, tls.as_ref())?,
            None => publisher.clone(),
        };
        if tls.is_some() && !publisher.is_tls() && !subscriber.is_tls() {
            return Err(ConfigError::Invalid {
                setting: if self.tls_root_ca_pem.is_some() {
                    "tls_root_ca_pem"
                } else {
                    "tls_client_auth"
                },
                reason: "needs a rediss:// url or subscriber_url".into(),
            });
        }
        if publisher.is_tls() || subscriber.is_tls() {
            ensure_crypto_provider();
        }
        Ok(Built {
            publisher,
            subscriber,
        })
    }

    /// The seed nodes of a Redis Cluster named by the URL: comma-separated,
    /// each a whole URL (`redis://a:7000,redis://b:7001`) or, after the first,
    /// a bare `host[:port]` that takes the first one's scheme, credentials and
    /// query (`redis://u:pw@a:7000,b:7001`). A comma inside a password must
    /// be percent-encoded (`%2C`). The TLS settings apply to each.
    pub(crate) fn seeds(&self) -> Result<Vec<Client>, ConfigError> {
        let tls = self.tls_certificates();
        let mut parts = self.url.split(',').map(str::trim);
        let first = parts.next().unwrap_or_default();
        std::iter::once(first.to_owned())
            .chain(parts.map(|p| seed_url(first, p)))
            .map(
                |url| match EndpointSpec::parse("url", &url, self.resp3, tls.as_ref())? {
                    EndpointSpec::Direct(client) => Ok(client),
                    EndpointSpec::Sentinel(_) | EndpointSpec::Cluster(_) => {
                        Err(ConfigError::Invalid {
                            setting: "url",
                            reason: "a cluster seed cannot be a Sentinel URL".into(),
                        })
                    }
                },
            )
            .collect()
    }

    /// Whether the URL names Redis Cluster seeds.
    /// Whether the subscriber has an endpoint of its own
    /// ([`TransportConfig::subscriber_url`]).
    pub(crate) fn separate_subscriber(&self) -> bool {
        self.subscriber_url.is_some()
    }

    pub(crate) fn is_cluster(&self) -> bool {
        self.cluster || (self.url.contains(',') && !self.url.contains("+sentinel://"))
    }

    /// The root CA and client certificate given, if any.
    pub(crate) fn tls_certificates(&self) -> Option<TlsCertificates> {
        if self.tls_root_ca_pem.is_none() && self.tls_client_auth.is_none() {
            return None;
        }
        Some(TlsCertificates {
            client_tls: self
                .tls_client_auth
                .clone()
                .map(|(client_cert, client_key)| redis::ClientTlsConfig {
                    client_cert,
                    client_key,
                }),
            root_cert: self.tls_root_ca_pem.clone(),
        })
    }

    pub(crate) fn backoff_ref(&self) -> &Backoff {
        &self.backoff
    }

    /// The health-check interval, `None` when the checks are off.
    pub(crate) fn health_checks(&self) -> Option<Duration> {
        (!self.health_check_interval.is_zero()).then_some(self.health_check_interval)
    }

    /// The probe interval, `None` when probing is off.
    pub(crate) fn probes(&self) -> Option<Duration> {
        (!self.probe_interval.is_zero()).then_some(self.probe_interval)
    }
}

impl fmt::Debug for TransportConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportConfig")
            .field("url", &redact_url(&self.url))
            .field(
                "subscriber_url",
                &self.subscriber_url.as_deref().map(redact_url),
            )
            .field("backoff", &self.backoff)
            .field("resp3", &self.resp3)
            .field("cluster", &self.is_cluster())
            .field("response_timeout", &self.response_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("health_check_interval", &self.health_check_interval)
            .field("probe_interval", &self.probe_interval)
            .field("event_capacity", &self.event_capacity)
            .field("publish_buffer_bytes", &self.publish_buffer_bytes)
            .field("max_message_bytes", &self.max_message_bytes)
            .field("publish_buffer_max_age", &self.publish_buffer_max_age)
            .field("tls_root_ca_pem", &self.tls_root_ca_pem.is_some())
            .field("tls_client_auth", &self.tls_client_auth.is_some())
            .field("built", &self.built.is_some())
            .finish()
    }
}

/// `url` fit to print: `scheme://user:***@rest`, the password (if any)
/// replaced; each of several comma-separated URLs alike; `"<unparsable>"` for
/// a string that is no URL (it might be a bare password). Used for every URL
/// this project logs or shows (the transport's `Debug`, the emitter, the demo).
pub fn redact_url(url: &str) -> String {
    if url.contains(',') {
        return url.split(',').map(redact_one).collect::<Vec<_>>().join(",");
    }
    redact_one(url)
}

fn redact_one(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<unparsable>".to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{scheme}://{user}:***@{hosts}{tail}")
        }
        None => url.to_owned(),
    }
}

/// Installs rustls's ring provider as the process default unless one is
/// installed already. redis-rs calls `rustls::ClientConfig::builder()`, which
/// panics when no default is installed and more than one provider is
/// compiled in (e.g. another crate enables `aws-lc-rs`).
pub(crate) fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing the race to another installer is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// The URL of seed `part`: itself when it is a URL, else `first` with its
/// `host[:port]` replaced by `part`.
fn seed_url(first: &str, part: &str) -> String {
    if part.contains("://") {
        return part.to_owned();
    }
    let Some((scheme, rest)) = first.split_once("://") else {
        return part.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let userinfo = authority.rfind('@').map_or("", |at| &authority[..=at]);
    format!("{scheme}://{userinfo}{part}{tail}")
}

/// One validated endpoint.
#[derive(Clone, Debug)]
pub(crate) enum EndpointSpec {
    Direct(Client),
    Sentinel(SentinelSpec),
    Cluster(ClusterSpec),
}

/// The seeds of a Redis Cluster, and the TLS settings for every node.
#[derive(Clone, Debug)]
pub(crate) struct ClusterSpec {
    pub(crate) seeds: Vec<Client>,
    tls: Option<TlsCertificates>,
}

impl ClusterSpec {
    /// Whether the nodes are reached over TLS (`rediss://` seeds).
    pub(crate) fn is_tls(&self) -> bool {
        matches!(
            self.seeds[0].get_connection_info().addr(),
            ConnectionAddr::TcpTls { .. }
        )
    }

    /// A client for `host:port` with the first seed's credentials, protocol
    /// and TLS settings.
    pub(crate) fn node(&self, host: &str, port: u16) -> RedisResult<Client> {
        let template = self.seeds[0].get_connection_info().clone();
        let addr = match template.addr() {
            ConnectionAddr::TcpTls {
                insecure,
                tls_params,
                ..
            } => ConnectionAddr::TcpTls {
                host: host.to_owned(),
                port,
                insecure: *insecure,
                tls_params: tls_params.clone(),
            },
            _ => ConnectionAddr::Tcp(host.to_owned(), port),
        };
        let info = template.set_addr(addr);
        match (&self.tls, info.addr()) {
            (Some(certs), ConnectionAddr::TcpTls { .. }) => {
                Client::build_with_tls(info, certs.clone())
            }
            _ => Client::open(info),
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct SentinelSpec {
    nodes: Vec<ConnectionInfo>,
    service: String,
    redis: redis::RedisConnectionInfo,
    replica: bool,
}

impl EndpointSpec {
    fn parse(
        setting: &'static str,
        url: &str,
        resp3: Option<bool>,
        tls: Option<&TlsCertificates>,
    ) -> Result<EndpointSpec, ConfigError> {
        if let Some(rest) = url.strip_prefix("redis+sentinel://") {
            return parse_sentinel(setting, rest, resp3).map(EndpointSpec::Sentinel);
        }
        if url.starts_with("rediss+sentinel://") {
            return Err(ConfigError::Invalid {
                setting,
                reason: "TLS to Sentinel (rediss+sentinel://) is not supported".into(),
            });
        }
        let url_err = |source| ConfigError::Url { setting, source };
        let info = url.into_connection_info().map_err(url_err)?;
        let info = with_protocol(info, resp3);
        let is_tls = matches!(info.addr(), ConnectionAddr::TcpTls { .. });
        let client = match tls {
            Some(certs) if is_tls => Client::build_with_tls(info, certs.clone())
                .map_err(|source| ConfigError::Url { setting, source })?,
            _ => Client::open(info).map_err(url_err)?,
        };
        Ok(EndpointSpec::Direct(client))
    }

    pub(crate) fn is_tls(&self) -> bool {
        match self {
            EndpointSpec::Direct(c) => {
                matches!(
                    c.get_connection_info().addr(),
                    ConnectionAddr::TcpTls { .. }
                )
            }
            EndpointSpec::Sentinel(_) => false,
            EndpointSpec::Cluster(c) => c.seeds.iter().any(|c| {
                matches!(
                    c.get_connection_info().addr(),
                    ConnectionAddr::TcpTls { .. }
                )
            }),
        }
    }

    #[cfg(test)]
    fn resp3(&self) -> bool {
        match self {
            EndpointSpec::Direct(c) => c
                .get_connection_info()
                .redis_settings()
                .protocol()
                .supports_resp3(),
            EndpointSpec::Sentinel(s) => s.redis.protocol().supports_resp3(),
            EndpointSpec::Cluster(c) => c.seeds[0]
                .get_connection_info()
                .redis_settings()
                .protocol()
                .supports_resp3(),
        }
    }

    /// The runtime endpoint (a Sentinel client keeps cached connections to
    /// the Sentinels, so each role gets its own).
    pub(crate) fn endpoint(&self) -> RedisResult<Endpoint> {
        Ok(match self {
            EndpointSpec::Direct(c) => Endpoint::Direct(c.clone()),
            EndpointSpec::Sentinel(s) => Endpoint::Sentinel(tokio::sync::Mutex::new(s.client()?)),
            EndpointSpec::Cluster(c) => {
                Endpoint::Cluster(Arc::new(std::sync::Mutex::new(Rotation {
                    nodes: c.seeds.clone(),
                    next: 0,
                })))
            }
        })
    }
}

impl SentinelSpec {
    fn client(&self) -> RedisResult<redis::sentinel::SentinelClient> {
        use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
        let node_info =
            SentinelNodeConnectionInfo::default().set_redis_connection_info(self.redis.clone());
        SentinelClient::build(
            self.nodes.clone(),
            self.service.clone(),
            Some(node_info),
            if self.replica {
                SentinelServerType::Replica
            } else {
                SentinelServerType::Master
            },
        )
    }
}

/// Where a role gets its [`Client`] from, at every (re)connect.
pub(crate) enum Endpoint {
    Direct(Client),
    Sentinel(tokio::sync::Mutex<redis::sentinel::SentinelClient>),
    /// Any node of a Redis Cluster, the next one at each attempt; shared
    /// with the slot router, which keeps it to the nodes of the slot map.
    Cluster(Arc<std::sync::Mutex<Rotation>>),
}

/// The nodes a cluster endpoint goes through, one per connection attempt.
#[derive(Debug)]
pub(crate) struct Rotation {
    nodes: Vec<Client>,
    next: usize,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Direct(_) => f.write_str("Endpoint::Direct"),
            Endpoint::Sentinel(_) => f.write_str("Endpoint::Sentinel"),
            Endpoint::Cluster(_) => f.write_str("Endpoint::Cluster"),
        }
    }
}

impl Endpoint {
    /// A client for the server to connect to now: the URL's, or the one the
    /// Sentinels name at this moment.
    pub(crate) async fn client(&self) -> RedisResult<Client> {
        match self {
            Endpoint::Direct(c) => Ok(c.clone()),
            Endpoint::Sentinel(s) => s.lock().await.async_get_client().await,
            Endpoint::Cluster(r) => {
                let mut r = r.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let client = r.nodes[r.next % r.nodes.len()].clone();
                r.next = r.next.wrapping_add(1);
                Ok(client)
            }
        }
    }

    /// How many different servers successive [`Endpoint::client`] calls go
    /// through (1 unless a cluster).
    pub(crate) fn candidates(&self) -> usize {
        match self {
            Endpoint::Cluster(r) => r
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .nodes
                .len(),
            _ => 1,
        }
    }

    /// The rotation of a cluster endpoint, to be kept up to date with the
    /// slot map.
    pub(crate) fn rotation(&self) -> Option<Arc<std::sync::Mutex<Rotation>>> {
        match self {
            Endpoint::Cluster(r) => Some(r.clone()),
            _ => None,
        }
    }

    /// Adds cluster nodes (from the slot map) not known yet; the next attempt
    /// stays where it was, so the node in use comes first again after a loss.
    pub(crate) fn add_nodes(&self, nodes: &[Client]) {
        if let Endpoint::Cluster(r) = self {
            let mut r = r.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            for node in nodes {
                let addr = node.get_connection_info().addr().to_string();
                if !r
                    .nodes
                    .iter()
                    .any(|n| n.get_connection_info().addr().to_string() == addr)
                {
                    r.nodes.push(node.clone());
                }
            }
        }
    }
}

impl Rotation {
    /// Replaces the nodes with `nodes` (the slot map's, after a change), so that
    /// a node that left the cluster is not dialled again; the rotation goes on
    /// after the node in use if it is still there, else from the start.
    /// Ignored when `nodes` is empty.
    pub(crate) fn set_nodes(&mut self, nodes: Vec<Client>) {
        if nodes.is_empty() {
            return;
        }
        let name = |c: &Client| c.get_connection_info().addr().to_string();
        let current = self
            .next
            .checked_sub(1)
            .and_then(|i| self.nodes.get(i % self.nodes.len()))
            .map(name);
        self.next = current
            .and_then(|cur| nodes.iter().position(|n| name(n) == cur))
            .map_or(0, |i| i + 1);
        self.nodes = nodes;
    }
}

fn with_protocol(info: ConnectionInfo, resp3: Option<bool>) -> ConnectionInfo {
    match resp3 {
        None => info,
        Some(on) => {
            let redis = info.redis_settings().clone().set_protocol(protocol(on));
            info.set_redis_settings(redis)
        }
    }
}

fn protocol(resp3: bool) -> ProtocolVersion {
    if resp3 {
        ProtocolVersion::RESP3
    } else {
        ProtocolVersion::RESP2
    }
}

/// Parses what follows `redis+sentinel://`.
fn parse_sentinel(
    setting: &'static str,
    rest: &str,
    resp3: Option<bool>,
) -> Result<SentinelSpec, ConfigError> {
    let invalid = |reason: &str| ConfigError::Invalid {
        setting,
        reason: format!("Sentinel URL: {reason}"),
    };
    let (main, query) = match rest.split_once('?') {
        Some((m, q)) => (m, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = main
        .split_once('/')
        .ok_or_else(|| invalid("missing /service name"))?;
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let mut redis = redis::RedisConnectionInfo::default();
    if let Some(userinfo) = userinfo {
        let (user, pass) = match userinfo.split_once(':') {
            Some((u, p)) => (u, Some(p)),
            None => (userinfo, None),
        };
        if !user.is_empty() {
            let user = percent_decode(user).ok_or_else(|| invalid("bad percent-encoding"))?;
            redis = redis.set_username(user);
        }
        if let Some(pass) = pass {
            let pass = percent_decode(pass).ok_or_else(|| invalid("bad percent-encoding"))?;
            redis = redis.set_password(pass);
        }
    }
    let mut nodes = Vec::new();
    for host in hosts.split(',') {
        if host.is_empty() {
            return Err(invalid("empty Sentinel address"));
        }
        let with_port = if has_port(host) {
            host.to_owned()
        } else {
            format!("{host}:{SENTINEL_PORT}")
        };
        let info = format!("redis://{with_port}")
            .into_connection_info()
            .map_err(|source| ConfigError::Url { setting, source })?;
        nodes.push(info);
    }
    let mut segments = path.split('/');
    let service = segments.next().unwrap_or_default();
    if service.is_empty() {
        return Err(invalid("missing service name"));
    }
    if let Some(db) = segments.next().filter(|s| !s.is_empty()) {
        let db = db
            .parse::<i64>()
            .map_err(|_| invalid("database is not a number"))?;
        redis = redis.set_db(db);
    }
    if segments.any(|s| !s.is_empty()) {
        return Err(invalid("path must be /service[/db]"));
    }
    let mut replica = false;
    let mut url_protocol = None;
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        match pair.split_once('=') {
            Some(("role", "master" | "primary")) => replica = false,
            Some(("role", "replica")) => replica = true,
            Some(("protocol", "2" | "resp2")) => url_protocol = Some(false),
            Some(("protocol", "3" | "resp3")) => url_protocol = Some(true),
            _ => return Err(invalid("unknown query parameter (role, protocol)")),
        }
    }
    let resp3 = resp3.or(url_protocol).unwrap_or(false);
    redis = redis.set_protocol(protocol(resp3));
    Ok(SentinelSpec {
        nodes,
        service: service.to_owned(),
        redis,
        replica,
    })
}

fn has_port(host: &str) -> bool {
    match host.rfind(']') {
        // [v6] or [v6]:port
        Some(end) => host[end..].contains(':'),
        None => host.contains(':'),
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn seed_urls_inherit_scheme_credentials_and_query() {
        use super::seed_url;
        let first = "rediss://u:p%2Cw@a:7000/0?protocol=resp3";
        assert_eq!(
            seed_url(first, "b:7001"),
            "rediss://u:p%2Cw@b:7001/0?protocol=resp3"
        );
        assert_eq!(seed_url("redis://a:1", "redis://c:3"), "redis://c:3");
        assert_eq!(seed_url("redis://a:1?x=1", "b"), "redis://b?x=1");
        let config = super::TransportConfig::new("redis://u:pw@a:7000, b:7001,redis://c:7002");
        let seeds = config.seeds().unwrap();
        let hosts: Vec<String> = seeds
            .iter()
            .map(|c| c.get_connection_info().addr().to_string())
            .collect();
        assert_eq!(hosts, ["a:7000", "b:7001", "c:7002"]);
        assert_eq!(
            seeds[1].get_connection_info().redis_settings().password(),
            Some("pw")
        );
    }

    use super::*;

    fn built(c: TransportConfig) -> Built {
        c.build().unwrap().built.unwrap()
    }

    #[test]
    fn plain_and_acl_urls() {
        let b = built(TransportConfig::new(
            "redis://alice:p%40ss@127.0.0.1:7000/3",
        ));
        let EndpointSpec::Direct(c) = &b.publisher else {
            panic!()
        };
        let info = c.get_connection_info();
        assert_eq!(info.redis_settings().username(), Some("alice"));
        assert_eq!(info.redis_settings().password(), Some("p@ss"));
        assert_eq!(info.redis_settings().db(), 3);
        assert!(!b.publisher.resp3());
    }

    #[test]
    fn resp3_from_url_and_override() {
        let b = built(TransportConfig::new(
            "redis://127.0.0.1:7000?protocol=resp3",
        ));
        assert!(b.publisher.resp3() && b.subscriber.resp3());
        let b = built(TransportConfig::new("redis://127.0.0.1:7000?protocol=resp3").resp3(false));
        assert!(!b.publisher.resp3());
        let b = built(TransportConfig::new("redis://127.0.0.1:7000").resp3(true));
        assert!(b.publisher.resp3());
    }

    #[test]
    fn bad_urls_name_the_setting() {
        for url in [
            "",
            "http://x",
            "redis://",
            "redis://127.0.0.1/notanumber",
            "nonsense",
        ] {
            let err = TransportConfig::new(url).build().unwrap_err();
            assert_eq!(err.setting(), "url", "{url}: {err}");
            assert!(err.to_string().contains("`url`"), "{err}");
        }
        let err = TransportConfig::new("redis://127.0.0.1")
            .subscriber_url("redis://:pw@")
            .build()
            .unwrap_err();
        assert_eq!(err.setting(), "subscriber_url");
        assert!(err.to_string().contains("`subscriber_url`"), "{err}");
        assert!(!err.to_string().contains("pw"));
    }

    #[test]
    fn other_settings_are_checked() {
        let err = TransportConfig::new("redis://127.0.0.1")
            .response_timeout(Duration::ZERO)
            .build()
            .unwrap_err();
        assert_eq!(err.setting(), "response_timeout");
        let err = TransportConfig::new("redis://127.0.0.1")
            .event_capacity(0)
            .build()
            .unwrap_err();
        assert_eq!(err.setting(), "event_capacity");
        let err = TransportConfig::new("redis://127.0.0.1")
            .tls_root_ca_pem(b"x".to_vec())
            .build()
            .unwrap_err();
        assert_eq!(err.setting(), "tls_root_ca_pem");
    }

    #[test]
    fn sentinel_urls() {
        let b = built(TransportConfig::new(
            "redis+sentinel://bob:pw@127.0.0.1:5000,localhost,[::1]:5001/mymaster/2?role=replica&protocol=resp3",
        ));
        let EndpointSpec::Sentinel(s) = &b.publisher else {
            panic!()
        };
        assert_eq!(s.nodes.len(), 3);
        assert_eq!(s.service, "mymaster");
        assert!(s.replica);
        assert_eq!(s.redis.db(), 2);
        assert_eq!(s.redis.username(), Some("bob"));
        assert_eq!(s.redis.password(), Some("pw"));
        assert!(b.publisher.resp3());
        for bad in [
            "redis+sentinel://127.0.0.1",
            "redis+sentinel://127.0.0.1/",
            "redis+sentinel://,/x",
            "redis+sentinel://h/x/y",
            "redis+sentinel://h/x?foo=1",
        ] {
            let err = TransportConfig::new(bad).build().unwrap_err();
            assert_eq!(err.setting(), "url", "{bad}");
        }
    }

    #[test]
    fn debug_hides_passwords() {
        let c = TransportConfig::new("redis://alice:secret@127.0.0.1:7000/0")
            .subscriber_url("redis+sentinel://:secret2@h/m");
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("secret"), "{dbg}");
        assert!(dbg.contains("alice:***@127.0.0.1:7000/0"), "{dbg}");
    }

    #[test]
    fn rotation_follows_the_slot_map() {
        let c = |port: u16| Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
        let name = |c: &Client| c.get_connection_info().addr().to_string();
        let mut r = Rotation {
            nodes: vec![c(1), c(2), c(3)],
            next: 2, // 2 was used last
        };
        r.set_nodes(vec![c(3), c(2), c(4)]);
        assert_eq!(name(&r.nodes[r.next % r.nodes.len()]), "127.0.0.1:4");
        r.set_nodes(vec![c(5)]); // the node in use left: from the start
        assert_eq!(r.next, 0);
        r.set_nodes(Vec::new());
        assert_eq!(r.nodes.len(), 1);
    }

    #[test]
    fn redacted_urls() {
        assert_eq!(redact_url("redis://:pw@h:1/0"), "redis://:***@h:1/0");
        assert_eq!(redact_url("rediss://u:p@w@h:1"), "rediss://u:***@h:1");
        assert_eq!(redact_url("redis://h:1/0?x=a@b"), "redis://h:1/0?x=a@b");
        assert_eq!(redact_url("redis://h"), "redis://h");
        assert_eq!(redact_url("secret"), "<unparsable>");
        assert_eq!(
            redact_url("redis://a:x@h:1,redis://a:y@h:2"),
            "redis://a:***@h:1,redis://a:***@h:2"
        );
    }
}
