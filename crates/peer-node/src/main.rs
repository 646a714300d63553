//! `peer-node`: one Socket.IO server process of a cluster, driven through the peer-node
//! contract (`shared/PEER-NODE.md`) so that tests and benchmarks can start, drive and
//! measure it exactly like the Node.js peer (`e2e/peer-node.js`).
//!
//! Run with `cargo run --release --bin peer-node` (environment: `ADAPTER`, `PORT`,
//! `NODE_ID`, `REDIS_URL`, `REDIS_CLUSTER`, `KEY`, `PARSER`, `REQUESTS_TIMEOUT`,
//! `PUBLISH_ON_SPECIFIC_RESPONSE_CHANNEL`, `SHARDED_MODE`, `STREAM_NAME`, `STREAM_COUNT`,
//! `STREAM_MAXLEN`, `STREAM_READ_COUNT`, `STREAMS_SHARDED`, `QUIET`; `ADAPTER` is `pubsub`,
//! `sharded`, `streams` or `none`).
//!
//! Rust-only events besides the contract's: `remoteSocket` (socketioxide's
//! `RemoteSocket` API), and with `ADAPTER=streams` the session records of connection
//! state recovery: `session:persist` `{sid, pid, rooms, data, maxDisconnectionDuration?}`
//! (ms, default 120 000; answers `true`) and `session:restore` `{pid, offset, nsp?}`
//! (answers `{sid, pid, rooms, data, missedPackets}`, each missed packet
//! `[event, ...args, "<entry id>"]`, or `{error}` naming why nothing was restored).

#![recursion_limit = "256"]

mod handlers;

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::serve::ListenerExt;
use peer_node::shutdown_signal;

use sio_redis::transport::{Transport, TransportConfig};
use sio_redis::{
    AdapterConfig, ClassicAdapter, ClassicConfig, RedisAdapterState, ShardedAdapter, ShardedConfig,
    StreamsAdapter, StreamsConfig, SubscriptionMode,
};
use socketioxide::adapter::{Adapter, LocalAdapter};
use socketioxide::extract::{SocketRef, TryData};
use socketioxide::{ParserConfig, SocketIo, SocketIoBuilder};
use socketioxide_core::adapter::{DefinedAdapter, Spawnable};

/// Packets socketioxide may buffer per connection (its default is 128).
const MAX_BUFFERED_PACKETS: usize = 65_536;

/// The namespaces every peer node serves, identically.
pub(crate) const NAMESPACES: [&str; 2] = ["/", "/ns2"];

/// The process settings, from the environment (PEER-NODE.md "Start-up").
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) adapter: String,
    pub(crate) port: u16,
    pub(crate) node: String,
    pub(crate) redis_url: String,
    /// `REDIS_CLUSTER=1`: `REDIS_URL` names the seeds of a Redis Cluster (also
    /// implied by several comma-separated URLs).
    pub(crate) redis_cluster: bool,
    pub(crate) key: String,
    pub(crate) msgpack: bool,
    pub(crate) requests_timeout: Duration,
    pub(crate) specific_response_channel: bool,
    /// `SHARDED_MODE` (sharded adapter only).
    pub(crate) sharded_mode: SubscriptionMode,
    /// `STREAM_NAME`, `STREAM_COUNT`, `STREAM_MAXLEN`, `STREAM_READ_COUNT`,
    /// `STREAMS_SHARDED` (streams adapter only).
    pub(crate) streams: StreamsConfig,
    pub(crate) quiet: bool,
    /// The Prometheus recorder's handle, for `GET /metrics` (installed in `main`).
    pub(crate) prometheus: Option<metrics_exporter_prometheus::PrometheusHandle>,
}

impl Settings {
    fn from_env() -> Result<Self, String> {
        let var =
            |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
        let port: u16 = var("PORT", "3000")
            .parse()
            .map_err(|_| "PORT must be a port number".to_owned())?;
        let parser = var("PARSER", "common");
        if parser != "common" && parser != "msgpack" {
            return Err(format!(
                "PARSER must be `common` or `msgpack`, not `{parser}`"
            ));
        }
        let mode = var("SHARDED_MODE", "dynamic");
        let sharded_mode = SubscriptionMode::from_name(&mode).ok_or_else(|| {
            format!("SHARDED_MODE must be `static`, `dynamic` or `dynamic-private`, not `{mode}`")
        })?;
        let number = |name: &str, default: &str| -> Result<u64, String> {
            var(name, default)
                .parse()
                .map_err(|_| format!("{name} must be a whole number"))
        };
        let streams = StreamsConfig::default()
            .stream_name(var("STREAM_NAME", "socket.io"))
            .stream_count(
                u32::try_from(number("STREAM_COUNT", "1")?)
                    .map_err(|_| "STREAM_COUNT is too large")?,
            )
            .max_len(number("STREAM_MAXLEN", "10000")?)
            .read_count(
                usize::try_from(number("STREAM_READ_COUNT", "100")?)
                    .map_err(|_| "STREAM_READ_COUNT is too large")?,
            )
            .use_sharded_pubsub(var("STREAMS_SHARDED", "0") == "1");
        let timeout: u64 = var("REQUESTS_TIMEOUT", "5000")
            .parse()
            .map_err(|_| "REQUESTS_TIMEOUT must be a number of milliseconds".to_owned())?;
        Ok(Self {
            adapter: var("ADAPTER", "pubsub"),
            port,
            node: std::env::var("NODE_ID").unwrap_or_else(|_| format!("node-{port}")),
            redis_url: var("REDIS_URL", "redis://127.0.0.1:6379"),
            redis_cluster: var("REDIS_CLUSTER", "0") == "1",
            key: var("KEY", "socket.io"),
            msgpack: parser == "msgpack",
            requests_timeout: Duration::from_millis(timeout),
            specific_response_channel: var("PUBLISH_ON_SPECIFIC_RESPONSE_CHANNEL", "0") == "1",
            sharded_mode,
            streams,
            quiet: var("QUIET", "0") == "1",
            prometheus: None,
        })
    }
}

/// What the handlers share.
pub(crate) struct Node<A: Adapter> {
    pub(crate) settings: Settings,
    pub(crate) io: SocketIo<A>,
    /// The Redis adapter state; `None` with `ADAPTER=none`.
    pub(crate) redis: Option<RedisAdapterState>,
    /// `peer:sse` events received, per namespace.
    pub(crate) sse_log: Mutex<HashMap<String, Vec<serde_json::Value>>>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("peer-node: {e}");
            return ExitCode::from(2);
        }
    };
    let level = if settings.quiet { "warn" } else { "info" };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| level.into()),
        )
        .init();
    // Before any adapter connects: they take their metric handles then.
    let prometheus = match peer_node::observe::install_prometheus() {
        Ok(p) => Some(p),
        Err(e) => {
            tracing::warn!(error = %e, "no /metrics: cannot install the Prometheus recorder");
            None
        }
    };
    let settings = Settings {
        prometheus,
        ..settings
    };
    let result = match settings.adapter.as_str() {
        "none" => serve::<LocalAdapter>(SocketIo::builder(), None, settings).await,
        "pubsub" => {
            let config = ClassicConfig::default()
                .key(settings.key.clone())
                .requests_timeout(settings.requests_timeout)
                .publish_on_specific_response_channel(settings.specific_response_channel);
            match connect(&settings, config.into()).await {
                Ok(state) => {
                    let builder =
                        SocketIo::builder().with_adapter::<ClassicAdapter<_>>(state.clone());
                    serve(builder, Some(state), settings).await
                }
                Err(e) => Err(e),
            }
        }
        "sharded" => {
            let config = ShardedConfig::default()
                .channel_prefix(settings.key.clone())
                .subscription_mode(settings.sharded_mode)
                .requests_timeout(settings.requests_timeout);
            match connect(&settings, config.into()).await {
                Ok(state) => {
                    let builder =
                        SocketIo::builder().with_adapter::<ShardedAdapter<_>>(state.clone());
                    serve(builder, Some(state), settings).await
                }
                Err(e) => Err(e),
            }
        }
        "streams" => {
            let config = settings
                .streams
                .clone()
                .channel_prefix(settings.key.clone())
                .requests_timeout(settings.requests_timeout);
            match connect(&settings, config.into()).await {
                Ok(state) => {
                    let builder =
                        SocketIo::builder().with_adapter::<StreamsAdapter<_>>(state.clone());
                    serve(builder, Some(state), settings).await
                }
                Err(e) => Err(e),
            }
        }
        other => Err(format!(
            "ADAPTER `{other}` is not supported by this peer node (pubsub, sharded, streams, none)"
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("peer-node: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The adapter state of `config` on the transport of `REDIS_URL` (a Redis Cluster's seeds
/// with `REDIS_CLUSTER=1`).
async fn connect(settings: &Settings, config: AdapterConfig) -> Result<RedisAdapterState, String> {
    let transport = TransportConfig::new(settings.redis_url.as_str())
        .cluster(settings.redis_cluster)
        .metric_label("adapter", config.kind().to_string())
        .metric_label("node", settings.node.clone())
        .build()
        .map_err(sio_redis::transport::TransportError::Config);
    let state = match transport {
        Ok(t) => Transport::connect(t)
            .await
            .map_err(sio_redis::Error::from)
            .and_then(|t| RedisAdapterState::new(t, config).map_err(sio_redis::Error::from)),
        Err(e) => Err(e.into()),
    };
    state.map_err(|e| {
        format!(
            "cannot connect to Redis at REDIS_URL: {e} ({:?})",
            std::error::Error::source(&e)
        )
    })
}

async fn serve<A: Adapter + DefinedAdapter>(
    builder: SocketIoBuilder<A>,
    redis: Option<RedisAdapterState>,
    settings: Settings,
) -> Result<(), String> {
    // socketioxide buffers 128 packets per connection by default and drops what does not
    // fit (socket.io in Node buffers without bound): a burst from the cluster would be
    // lost on a slow client. 65 536 packets keeps bursts, still bounded.
    let builder = builder.max_buffer_size(MAX_BUFFERED_PACKETS);
    let builder = if settings.msgpack {
        builder.with_parser(ParserConfig::msgpack())
    } else {
        builder
    };
    let (layer, io) = builder.build_layer();
    let node = Arc::new(Node {
        settings: settings.clone(),
        io: io.clone(),
        redis,
        sse_log: Mutex::default(),
    });
    for nsp in NAMESPACES {
        handlers::register(&node, nsp);
        let n = node.clone();
        io.ns(
            nsp,
            move |socket: SocketRef<A>, TryData(auth): TryData<serde_json::Value>| {
                handlers::on_connect(n.clone(), socket, auth.ok())
            },
        )
        .spawn();
    }
    if let Some(state) = &node.redis {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !NAMESPACES.iter().all(|nsp| state.is_ready(nsp)) {
            if tokio::time::Instant::now() > deadline {
                return Err("the Redis adapter did not subscribe within 10 s".into());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", settings.port))
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1:{} (PORT): {e}", settings.port))?
        // As Node's http server does: without TCP_NODELAY a burst of small WebSocket
        // frames waits for the client's delayed ACK (up to 40 ms).
        .tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
    let app =
        peer_node::observe::routes(settings.prometheus.clone(), node.redis.clone()).layer(layer);
    println!(
        "READY {}",
        serde_json::json!({
            "node": settings.node,
            "port": settings.port,
            "adapter": settings.adapter,
            "runtime": "rust",
            "pid": std::process::id(),
            "parser": if settings.msgpack { "msgpack" } else { "common" },
        })
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| e.to_string())?;
    io.close().await;
    if let Some(state) = &node.redis {
        state.close().await;
    }
    Ok(())
}
