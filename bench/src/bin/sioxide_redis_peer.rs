//! `sioxide-redis-peer`: a peer node built on the published socketioxide-redis 0.4
//! adapter (socketioxide 0.18), for comparison in `sio-bench`. It implements the subset
//! of the peer-node contract (`shared/PEER-NODE.md`) the benchmarks use: the READY line,
//! `info`, `join`, `leave`, `bench:emit` and `bench:stats`, on namespaces `/` and `/ns2`.
//!
//! socketioxide-redis is NOT wire-compatible with @socket.io/redis-adapter: never mix
//! this node with `peer-node` or Node.js nodes in one cluster.
//!
//! Run with `cargo run --release -p sio-bench --bin sioxide-redis-peer` (environment:
//! `ADAPTER` = `pubsub` | `none`, `PORT`, `NODE_ID`, `REDIS_URL`, `KEY`, `QUIET`).

use axum::serve::ListenerExt;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use peer_node::{BenchEmit, BenchPayload, room_list, shutdown_signal};
use serde_json::{Value as Json, json};
use socketioxide::SocketIo;
use socketioxide::adapter::{Adapter, LocalAdapter};
use socketioxide::extract::{AckSender, SocketRef, TryData};
use socketioxide_redis::drivers::redis::redis_client as redis;
use socketioxide_redis::{RedisAdapter, RedisAdapterConfig, RedisAdapterCtr};

const NAMESPACES: [&str; 2] = ["/", "/ns2"];
const RUNTIME: &str = "sioxide-redis";

/// Process settings from the environment.
#[derive(Debug, Clone)]
struct Settings {
    adapter: String,
    port: u16,
    node: String,
    redis_url: String,
    key: String,
    quiet: bool,
}

impl Settings {
    fn from_env() -> Result<Settings, String> {
        let var = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_owned());
        let port: u16 = var("PORT", "3000")
            .parse()
            .map_err(|_| "PORT must be a port number".to_owned())?;
        if var("PARSER", "common") != "common" {
            return Err("only PARSER=common is supported".into());
        }
        Ok(Settings {
            adapter: var("ADAPTER", "pubsub"),
            port,
            node: std::env::var("NODE_ID").unwrap_or_else(|_| format!("node-{port}")),
            redis_url: var("REDIS_URL", "redis://127.0.0.1:6379"),
            key: var("KEY", "socket.io"),
            quiet: var("QUIET", "0") == "1",
        })
    }
}

/// The redis driver of socketioxide-redis receives pub/sub messages as RESP3 pushes on a
/// multiplexed connection: the URL must ask for RESP3.
fn resp3_url(url: &str) -> String {
    if url.contains("protocol=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&protocol=resp3")
    } else {
        format!("{url}?protocol=resp3")
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sioxide-redis-peer: {e}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| if settings.quiet { "warn" } else { "info" }.into()),
        )
        .init();
    let result = match settings.adapter.as_str() {
        "pubsub" => serve_redis(settings).await,
        "none" => {
            let (layer, io) = SocketIo::builder().build_layer();
            let s = Arc::new(settings);
            for nsp in NAMESPACES {
                let s = s.clone();
                io.ns(nsp, move |socket: SocketRef<LocalAdapter>| {
                    on_connect(s.clone(), socket)
                });
            }
            listen(&s, layer, io).await
        }
        other => Err(format!(
            "ADAPTER `{other}` is not supported here (pubsub, none)"
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sioxide-redis-peer: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve_redis(settings: Settings) -> Result<(), String> {
    let client = redis::Client::open(resp3_url(&settings.redis_url))
        .map_err(|e| format!("REDIS_URL: {e}"))?;
    let config = RedisAdapterConfig::new()
        .with_prefix(settings.key.clone())
        .with_request_timeout(Duration::from_secs(5));
    let ctr = RedisAdapterCtr::new_with_redis_config(&client, config)
        .await
        .map_err(|e| format!("cannot connect to Redis at REDIS_URL: {e}"))?;
    let (layer, io) = SocketIo::builder()
        .with_adapter::<RedisAdapter<_>>(ctr)
        .build_layer();
    let s = Arc::new(settings);
    for nsp in NAMESPACES {
        let s2 = s.clone();
        // awaiting the namespace waits for its SUBSCRIBEs
        io.ns(nsp, move |socket: SocketRef<RedisAdapter<_>>| {
            on_connect(s2.clone(), socket)
        })
        .await
        .map_err(|e| format!("namespace {nsp}: {e}"))?;
    }
    listen(&s, layer, io).await
}

async fn listen<A: Adapter>(
    s: &Settings,
    layer: socketioxide::layer::SocketIoLayer<A>,
    io: SocketIo<A>,
) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", s.port))
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1:{}: {e}", s.port))?
        // TCP_NODELAY, as our peer node and Node's http server: the same footing for all.
        .tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
    let app = axum::Router::new().layer(layer);
    println!(
        "READY {}",
        json!({
            "node": s.node, "port": s.port, "adapter": s.adapter, "runtime": RUNTIME,
            "pid": std::process::id(), "parser": "common",
        })
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| e.to_string())?;
    io.close().await;
    Ok(())
}

fn rooms_of<A: Adapter>(s: &SocketRef<A>) -> Vec<String> {
    s.rooms().into_iter().map(|r| r.to_string()).collect()
}

async fn on_connect<A: Adapter>(settings: Arc<Settings>, socket: SocketRef<A>) {
    // As Node does: a socket is in the room named after its id.
    socket.join(socket.id.to_string());
    let s = settings.clone();
    socket.on("info", move |sock: SocketRef<A>, ack: AckSender<A>| {
        let s = s.clone();
        async move {
            let _ = ack.send(&json!({
                "node": s.node, "sid": sock.id.to_string(), "nsp": sock.ns(), "adapter": s.adapter,
                "runtime": RUNTIME, "pid": std::process::id(), "rooms": rooms_of(&sock),
            }));
        }
    });
    socket.on(
        "join",
        async |sock: SocketRef<A>, TryData(rooms): TryData<Json>, ack: AckSender<A>| {
            sock.join(room_list(rooms.ok().as_ref()));
            let _ = ack.send(&rooms_of(&sock));
        },
    );
    socket.on(
        "leave",
        async |sock: SocketRef<A>, TryData(rooms): TryData<Json>, ack: AckSender<A>| {
            sock.leave(room_list(rooms.ok().as_ref()));
            let _ = ack.send(&rooms_of(&sock));
        },
    );
    socket.on(
        "bench:emit",
        async |io: SocketIo<A>,
               sock: SocketRef<A>,
               TryData(p): TryData<Json>,
               ack: AckSender<A>| {
            let p = p.unwrap_or(Json::Null);
            let reply = bench_emit(&io, sock.ns(), &p)
                .await
                .unwrap_or_else(|e| json!({ "error": e }));
            let _ = ack.send(&reply);
        },
    );
    let s = settings;
    socket.on("bench:stats", move |io: SocketIo<A>, ack: AckSender<A>| {
        let s = s.clone();
        async move {
            let (user, sys) = sio_redis_testkit::proc::cpu_micros(None).unwrap_or_default();
            let clients: usize = NAMESPACES
                .iter()
                .filter_map(|n| io.of(n))
                .map(|op| op.sockets().len())
                .sum();
            let _ = ack.send(&json!({
                "node": s.node, "pid": std::process::id(), "cpuUserUs": user, "cpuSysUs": sys,
                "rss": sio_redis_testkit::proc::rss_bytes(None).unwrap_or(0), "clients": clients,
            }));
        }
    });
}

/// `bench:emit`: `count` broadcasts of `{s, t, p}` at `rate` per second (0: at once);
/// `{sent, ms, errors}`, or an error for an unknown namespace.
async fn bench_emit<A: Adapter>(io: &SocketIo<A>, nsp: &str, p: &Json) -> Result<Json, String> {
    let req = BenchEmit::from_json(nsp, p);
    if io.of(&req.nsp).is_none() {
        return Err(format!("no namespace {}", req.nsp));
    }
    let pad = req.pad.as_str();
    let reply = req.run(|s, t| {
        let op = io
            .of(&req.nsp)
            .ok_or_else(|| format!("no namespace {}", req.nsp))
            .map(|op| {
                if req.rooms.is_empty() {
                    op
                } else {
                    op.to(req.rooms.clone())
                }
            });
        let event = req.event.clone();
        async move {
            op?.emit(event, &BenchPayload { s, t, p: pad })
                .await
                .map_err(|e| e.to_string())
        }
    });
    Ok(reply.await)
}
