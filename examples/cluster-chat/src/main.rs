//! A chat served by three socketioxide nodes that a sio-redis adapter makes one cluster: a
//! message typed on one node's page appears on every node's page. Any Node.js socket.io
//! server using `@socket.io/redis-adapter` on the same Redis (the same adapter kind, and
//! the default `socket.io` key) joins the chat: its clients get the `chat` events, and a
//! `chat` event it broadcasts shows on these pages.
//!
//! Run with `cargo run --release -p cluster-chat`, then open http://127.0.0.1:3000,
//! http://127.0.0.1:3001 and http://127.0.0.1:3002.
//!
//! Environment: `REDIS_URL` (default: 127.0.0.1:6379 when it answers, else a private
//! `redis-server` on a free port when one is installed; a comma-separated seed list for a
//! Redis Cluster), `PORTS` (default `3000,3001,3002`), `ADAPTER` (`pubsub`, the classic
//! adapter, by default; `sharded` for the sharded adapter, Redis 7 or a Redis Cluster;
//! `streams` for the streams adapter, default options).
//!
//! Each node also serves `GET /metrics` (Prometheus text: the one recorder of the process,
//! so every node's series, told apart by their `node` label), `GET /healthz` (200 while
//! its adapter is connected and subscribed, 503 with the reason otherwise) and
//! `GET /status` (JSON, shown by the page's status panel).

use std::net::TcpStream;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Duration;

use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::serve::ListenerExt;
use serde_json::json;
use sio_redis::transport::{Transport, TransportConfig};
use sio_redis::{
    AdapterConfig, ClassicAdapter, ClassicConfig, RedisAdapterState, ShardedAdapter, ShardedConfig,
    StreamsAdapter, StreamsConfig,
};
use socketioxide::SocketIo;
use socketioxide::adapter::{Adapter, Emitter};
use socketioxide::extract::{Data, SocketRef};

const PAGE: &str = include_str!("../static/index.html");
const CLIENT_JS: &str = include_str!("../static/socket.io.min.js");

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let ports: Vec<u16> = match std::env::var("PORTS")
        .unwrap_or_else(|_| "3000,3001,3002".into())
        .split(',')
        .map(|p| p.trim().parse())
        .collect()
    {
        Ok(p) => p,
        Err(_) => {
            eprintln!("cluster-chat: PORTS must be a comma-separated list of port numbers");
            return ExitCode::from(2);
        }
    };
    let adapter = std::env::var("ADAPTER").unwrap_or_else(|_| "pubsub".into());
    if !["pubsub", "sharded", "streams"].contains(&adapter.as_str()) {
        eprintln!(
            "cluster-chat: ADAPTER must be `pubsub`, `sharded` or `streams`, not `{adapter}`"
        );
        return ExitCode::from(2);
    }
    let (url, _private) = match redis_url() {
        Ok(found) => found,
        Err(e) => {
            eprintln!("cluster-chat: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Before the adapters connect: they take their metric handles then.
    let prometheus = match peer_node::observe::install_prometheus() {
        Ok(p) => Some(p),
        Err(e) => {
            eprintln!("cluster-chat: no /metrics ({e})");
            None
        }
    };
    let mut nodes = Vec::new();
    for port in ports {
        let prometheus = prometheus.clone();
        let started = if adapter == "sharded" {
            start_node::<ShardedAdapter<Emitter>>(
                &url,
                ShardedConfig::default().into(),
                port,
                prometheus,
            )
            .await
        } else if adapter == "streams" {
            start_node::<StreamsAdapter<Emitter>>(
                &url,
                StreamsConfig::default().into(),
                port,
                prometheus,
            )
            .await
        } else {
            start_node::<ClassicAdapter<Emitter>>(
                &url,
                ClassicConfig::default().into(),
                port,
                prometheus,
            )
            .await
        };
        match started {
            Ok(handle) => nodes.push(handle),
            Err(e) => {
                eprintln!("cluster-chat: node on port {port}: {e}");
                return ExitCode::FAILURE;
            }
        }
        println!("node-{port}: http://127.0.0.1:{port}");
    }
    println!(
        "READY: {} nodes sharing Redis at {} with the {adapter} adapter; Ctrl-C to stop",
        nodes.len(),
        sio_redis::transport::redact_url(&url)
    );
    let _ = tokio::signal::ctrl_c().await;
    ExitCode::SUCCESS
}

/// The Redis to use, and the private server started for it (stopped on drop).
fn redis_url() -> Result<(String, Option<PrivateRedis>), String> {
    if let Ok(url) = std::env::var("REDIS_URL") {
        println!(
            "using Redis at {} (REDIS_URL)",
            sio_redis::transport::redact_url(&url)
        );
        return Ok((url, None));
    }
    if TcpStream::connect_timeout(
        &"127.0.0.1:6379".parse().map_err(|_| "address")?,
        Duration::from_millis(300),
    )
    .is_ok()
    {
        println!(
            "using the Redis that answers on 127.0.0.1:6379 (set REDIS_URL to choose another)"
        );
        return Ok(("redis://127.0.0.1:6379".into(), None));
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("no Redis on 127.0.0.1:6379 and cannot start redis-server ({e}); install it (apt-get install redis-server) or set REDIS_URL"))?;
    let private = PrivateRedis(child);
    let addr = format!("127.0.0.1:{port}");
    for _ in 0..200 {
        if TcpStream::connect(&addr).is_ok() {
            println!("no Redis on 127.0.0.1:6379: started a private redis-server on {addr}");
            return Ok((format!("redis://{addr}"), Some(private)));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    Err("the private redis-server did not start".into())
}

/// A `redis-server` this demo started; killed when dropped.
struct PrivateRedis(Child);

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One chat node on `port` with adapter `A` (made from `config`); its metrics carry
/// `node = node-<port>`.
async fn start_node<A>(
    url: &str,
    config: AdapterConfig,
    port: u16,
    prometheus: Option<metrics_exporter_prometheus::PrometheusHandle>,
) -> Result<tokio::task::JoinHandle<()>, String>
where
    A: Adapter<State = RedisAdapterState> + socketioxide_core::adapter::DefinedAdapter,
    A::InitRes: std::future::IntoFuture<Output = Result<(), sio_redis::Error>>,
{
    let node = format!("node-{port}");
    let transport = TransportConfig::new(url)
        .metric_label("adapter", config.kind().to_string())
        .metric_label("node", node.clone());
    let transport = Transport::connect(transport)
        .await
        .map_err(|e| e.to_string())?;
    let state = RedisAdapterState::new(transport, config).map_err(|e| e.to_string())?;
    let (layer, io) = SocketIo::builder()
        .with_adapter::<A>(state.clone())
        .build_layer();
    let name = node.clone();
    io.ns("/", async move |socket: SocketRef<A>| {
        socket.join(socket.id.to_string());
        let _ = socket.emit("welcome", &json!({ "node": name }));
        let name = name.clone();
        socket.on(
            "chat",
            async move |socket: SocketRef<A>, Data(text): Data<String>| {
                let message = json!({ "node": name, "text": text });
                // The sender, then everyone else on every node of the cluster.
                let _ = socket.emit("chat", &message);
                if let Err(e) = socket.broadcast().emit("chat", &message).await {
                    tracing::warn!(error = %e, "cannot broadcast a chat message");
                }
            },
        );
    })
    .await
    .map_err(|e| e.to_string())?;
    let app = peer_node::observe::routes(prometheus, Some(state))
        .route("/", get(|| async { Html(PAGE) }))
        .route(
            "/socket.io.min.js",
            get(|| async { ([("content-type", "text/javascript")], CLIENT_JS).into_response() }),
        )
        .layer(layer);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?
        // No Nagle delay on chat messages (Node's http server sets TCP_NODELAY too).
        .tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
    Ok(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "server stopped");
        }
    }))
}
