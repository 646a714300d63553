//! `sio-bench`: load and latency benchmarks of Socket.IO peer nodes clustered through
//! Redis: this project's Rust node, the Node.js node (socket.io 4.8 +
//! @socket.io/redis-adapter 8.3) and, for reference, socketioxide-redis 0.4, all driven
//! through the peer-node contract (`shared/PEER-NODE.md`).
//!
//! Run with `cargo run --release --bin sio-bench -- all --impls rust,node --quick`
//! (see `bench/README.md` for every scenario).

mod backend;
mod client;
mod peers;
mod plot;
mod report;
mod scenarios;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use serde_json::{Value as Json, json};

use backend::{Adapter, Setup};
use peers::{Impl, Programs, parse_impls};
use report::Section;
use scenarios::Env;
use scenarios::all::{AllOpts, all};
use scenarios::fanout::{FanoutOpts, fanout};
use scenarios::latency::{LatencyOpts, latency};
use scenarios::memory::{MemoryOpts, memory};
use scenarios::pipe::{PipeOpts, pipe};
use scenarios::raw::{RawOpts, raw};
use scenarios::rooms::{RoomsOpts, rooms};

/// Benchmarks of Socket.IO peer nodes (Rust, Node.js, socketioxide-redis) over Redis.
///
/// Every scenario starts its own redis-server on a free loopback port (never 6379)
/// and its own peer nodes, is bounded in time, and stops everything it started.
#[derive(Debug, Parser)]
#[command(name = "sio-bench", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    global: Global,
}

#[derive(Debug, Args)]
struct Global {
    /// Write every figure as JSON to FILE.
    #[arg(long, global = true, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write the final tables as Markdown to FILE.
    #[arg(long, global = true, value_name = "FILE")]
    markdown: Option<PathBuf>,
    /// Draw the latency distributions (CDF) to FILE.svg.
    #[arg(long, global = true, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// Workspace root (holds e2e/peer-node.js); default: where sio-bench was built.
    #[arg(long, global = true, value_name = "DIR")]
    root: Option<PathBuf>,
    /// The Rust peer node binary (default: beside sio-bench, else target/release/peer-node;
    /// env RUST_PEER_NODE).
    #[arg(long, global = true, value_name = "PATH")]
    rust_peer: Option<PathBuf>,
    /// Seconds each peer node may take to print READY.
    #[arg(long, global = true, default_value_t = 20)]
    ready_timeout: u64,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Throughput of the Redis hop: node A emits as fast as it can, one client on B counts.
    Pipe(PipeArgs),
    /// Many clients over N nodes, paced broadcasts from node 0: deliveries/s, latency, CPU.
    Fanout(FanoutArgs),
    /// Latency percentiles of the Redis hop at fixed rates (two nodes, one client).
    Latency(LatencyArgs),
    /// The ceiling without Socket.IO: redis PUBLISH (pipelined) → one SUBSCRIBE
    /// (SPUBLISH → SSUBSCRIBE with `--adapter sharded`, XADD → XREAD with `--adapter
    /// streams`).
    Raw(RawArgs),
    /// Sharded adapter: what each of two nodes receives from Redis for rooms it has no
    /// member of (1 000 rooms, each on one node only).
    Rooms(RoomsArgs),
    /// pipe, fanout and latency for each implementation, raw once, side by side
    /// (and rooms with `--adapter sharded`).
    All(AllArgs),
    /// RSS per socket of one node with many clients, each in its own room.
    Memory(MemoryArgs),
}

/// How the peers use Redis (pipe, fanout, latency, raw, rooms, all).
#[derive(Debug, Args)]
struct RedisArgs {
    /// The peers' adapter: `pubsub` (classic: PUBLISH / PSUBSCRIBE), `sharded`
    /// (createShardedAdapter: SPUBLISH / SSUBSCRIBE) or `streams`
    /// (@socket.io/redis-streams-adapter 0.3: XADD / XREAD, one stream).
    #[arg(long, default_value = "pubsub")]
    adapter: String,
    /// `static`, `dynamic` or `dynamic-private` (with `--adapter sharded`).
    #[arg(long, default_value = "dynamic")]
    sharded_mode: String,
    /// A Redis Cluster (3 primaries + 3 replicas, private ports) instead of one
    /// redis-server.
    #[arg(long)]
    cluster: bool,
}

impl RedisArgs {
    fn setup(&self) -> Result<Setup, String> {
        let adapter = Adapter::parse(&self.adapter, &self.sharded_mode)?;
        if adapter == Adapter::None {
            return Err("--adapter none: only for `memory`".into());
        }
        Ok(Setup {
            adapter,
            cluster: self.cluster,
        })
    }
}

#[derive(Debug, Args)]
struct PipeArgs {
    #[command(flatten)]
    redis: RedisArgs,
    /// Sender and receiver implementations: `A,B` of rust, node, sioxide-redis.
    #[arg(long, default_value = "rust,rust")]
    nodes: String,
    /// Broadcasts (enough that the CPU figures, read in 10 ms ticks, are within a
    /// few percent).
    #[arg(long, default_value_t = 100_000)]
    count: u64,
    /// Payload padding, bytes.
    #[arg(long, default_value_t = 100)]
    size: u64,
    /// Broadcasts per pacing step of bench:emit.
    #[arg(long, default_value_t = 1)]
    batch: u64,
    /// Broadcasts before the measured run (default: count/10, at most 1000).
    #[arg(long)]
    warmup: Option<u64>,
    /// Hard limit of the run, seconds.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
}

#[derive(Debug, Args)]
struct FanoutArgs {
    #[command(flatten)]
    redis: RedisArgs,
    /// One peer per entry (node 0 sends): e.g. `rust,rust` or `rust,node,rust`.
    #[arg(long, default_value = "rust,rust")]
    nodes: String,
    /// Receiving clients, spread round-robin over the nodes.
    #[arg(long, default_value_t = 200)]
    clients: usize,
    /// Broadcasts.
    #[arg(long, default_value_t = 2000)]
    count: u64,
    /// Payload padding, bytes.
    #[arg(long, default_value_t = 100)]
    size: u64,
    /// Broadcasts per second (0: as fast as possible).
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Broadcasts per pacing step of bench:emit.
    #[arg(long, default_value_t = 1)]
    batch: u64,
    /// Broadcasts before the measured run (default: count/10, at most 200).
    #[arg(long)]
    warmup: Option<u64>,
    /// Seconds allowed beyond count/rate.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
}

#[derive(Debug, Args)]
struct LatencyArgs {
    #[command(flatten)]
    redis: RedisArgs,
    /// Sender and receiver implementations.
    #[arg(long, default_value = "rust,rust")]
    nodes: String,
    /// Broadcasts per second of each run.
    #[arg(long, default_value = "1000,10000", value_delimiter = ',')]
    rates: Vec<f64>,
    /// Seconds per run (count = rate × seconds).
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Payload padding, bytes.
    #[arg(long, default_value_t = 100)]
    size: u64,
    /// Broadcasts per pacing step of bench:emit.
    #[arg(long, default_value_t = 1)]
    batch: u64,
    /// Broadcasts before the first run (default: 0.3 s at the first rate, 100–1000).
    #[arg(long)]
    warmup: Option<u64>,
    /// Seconds allowed beyond count/rate.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
}

#[derive(Debug, Args)]
struct RawArgs {
    #[command(flatten)]
    redis: RedisArgs,
    /// Messages.
    #[arg(long, default_value_t = 1_000_000)]
    count: u64,
    /// Payload bytes (at least 16).
    #[arg(long, default_value_t = 100)]
    size: usize,
    /// PUBLISH commands per pipeline.
    #[arg(long, default_value_t = 32)]
    pipeline: usize,
    /// Pipelines in flight.
    #[arg(long, default_value_t = 8)]
    inflight: usize,
    /// Hard limit, seconds.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
}

#[derive(Debug, Args)]
struct RoomsArgs {
    #[command(flatten)]
    redis: RedisArgs,
    /// The implementation of both nodes: rust or node.
    #[arg(long = "impl", default_value = "rust")]
    which: String,
    /// Rooms, each with one member, on node `i % 2`.
    #[arg(long, default_value_t = 1000)]
    rooms: usize,
    /// Broadcasts to each room.
    #[arg(long, default_value_t = 10)]
    per_room: u64,
    /// Payload padding, bytes.
    #[arg(long, default_value_t = 100)]
    size: u64,
    /// Hard limit of each phase, seconds.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
}

#[derive(Debug, Args)]
struct AllArgs {
    #[command(flatten)]
    redis: RedisArgs,
    /// Implementations to compare; the first is the baseline of the ratios.
    #[arg(long, default_value = "rust,node")]
    impls: String,
    /// Smaller counts for a quick look (about a minute per implementation).
    #[arg(long)]
    quick: bool,
    /// pipe broadcasts.
    #[arg(long)]
    pipe_count: Option<u64>,
    /// fanout nodes per cluster.
    #[arg(long, default_value_t = 2)]
    fanout_nodes: usize,
    /// fanout clients.
    #[arg(long)]
    clients: Option<usize>,
    /// fanout broadcasts.
    #[arg(long)]
    fanout_count: Option<u64>,
    /// fanout rate per second.
    #[arg(long)]
    fanout_rate: Option<f64>,
    /// latency rates.
    #[arg(long, value_delimiter = ',')]
    rates: Option<Vec<f64>>,
    /// Seconds per latency run.
    #[arg(long)]
    seconds: Option<f64>,
    /// raw messages.
    #[arg(long)]
    raw_count: Option<u64>,
    /// rooms: rooms (with `--adapter sharded`).
    #[arg(long)]
    rooms: Option<usize>,
    /// rooms: broadcasts per room (with `--adapter sharded`).
    #[arg(long)]
    per_room: Option<u64>,
    /// Payload padding, bytes (every scenario).
    #[arg(long, default_value_t = 100)]
    size: u64,
}

#[derive(Debug, Args)]
struct MemoryArgs {
    /// rust, node or sioxide-redis.
    #[arg(long = "impl", default_value = "rust")]
    which: String,
    /// Clients to connect.
    #[arg(long, default_value_t = 10_000)]
    clients: usize,
    /// Clients connecting at once.
    #[arg(long, default_value_t = 250)]
    batch: usize,
    /// `pubsub` (with a private redis-server) or `none`.
    #[arg(long, default_value = "pubsub")]
    adapter: String,
    /// Hard limit for connecting, seconds.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
}

fn two(nodes: &str) -> Result<[Impl; 2], String> {
    match parse_impls(nodes)?.as_slice() {
        [a, b] => Ok([*a, *b]),
        _ => Err(format!(
            "--nodes {nodes}: exactly two nodes (sender,receiver) expected"
        )),
    }
}

async fn execute(cmd: Command, env: &Env) -> Result<Vec<Section>, String> {
    Ok(match cmd {
        Command::Pipe(a) => {
            let opts = PipeOpts {
                nodes: two(&a.nodes)?,
                count: a.count,
                size: a.size,
                batch: a.batch,
                warmup: a.warmup,
                timeout_s: a.timeout,
                setup: a.redis.setup()?,
            };
            vec![pipe(env, &opts).await?.section()]
        }
        Command::Fanout(a) => {
            let opts = FanoutOpts {
                nodes: parse_impls(&a.nodes)?,
                clients: a.clients,
                count: a.count,
                size: a.size,
                rate: a.rate,
                batch: a.batch,
                warmup: a.warmup,
                timeout_s: a.timeout,
                setup: a.redis.setup()?,
            };
            vec![fanout(env, &opts).await?.section()]
        }
        Command::Latency(a) => {
            let opts = LatencyOpts {
                nodes: two(&a.nodes)?,
                rates: a.rates,
                seconds: a.seconds,
                size: a.size,
                batch: a.batch,
                warmup: a.warmup,
                timeout_s: a.timeout,
                setup: a.redis.setup()?,
            };
            vec![latency(env, &opts).await?.section()]
        }
        Command::Raw(a) => {
            let opts = RawOpts {
                count: a.count,
                size: a.size,
                pipeline: a.pipeline,
                inflight: a.inflight,
                timeout_s: a.timeout,
                setup: a.redis.setup()?,
            };
            vec![raw(&opts).await?.section()]
        }
        Command::Rooms(a) => {
            let opts = RoomsOpts {
                which: a.which.parse()?,
                rooms: a.rooms,
                per_room: a.per_room,
                size: a.size,
                timeout_s: a.timeout,
                setup: a.redis.setup()?,
            };
            vec![rooms(env, &opts).await?.section()]
        }
        Command::All(a) => {
            let impls = parse_impls(&a.impls)?;
            let q = a.quick;
            let setup = a.redis.setup()?;
            let opts = AllOpts {
                pipe: PipeOpts {
                    nodes: [impls[0], impls[0]],
                    count: a.pipe_count.unwrap_or(if q { 5_000 } else { 100_000 }),
                    size: a.size,
                    batch: 1,
                    warmup: None,
                    timeout_s: 120,
                    setup,
                },
                fanout: FanoutOpts {
                    nodes: vec![impls[0]; a.fanout_nodes.max(1)],
                    clients: a.clients.unwrap_or(if q { 50 } else { 200 }),
                    count: a.fanout_count.unwrap_or(if q { 500 } else { 2000 }),
                    size: a.size,
                    rate: a.fanout_rate.unwrap_or(1000.0),
                    batch: 1,
                    warmup: None,
                    timeout_s: 60,
                    setup,
                },
                fanout_nodes: a.fanout_nodes,
                latency: LatencyOpts {
                    nodes: [impls[0], impls[0]],
                    rates: a.rates.unwrap_or_else(|| vec![1000.0, 10_000.0]),
                    seconds: a.seconds.unwrap_or(if q { 1.0 } else { 3.0 }),
                    size: a.size,
                    batch: 1,
                    warmup: None,
                    timeout_s: 30,
                    setup,
                },
                raw: RawOpts {
                    count: a.raw_count.unwrap_or(if q { 50_000 } else { 1_000_000 }),
                    size: a.size.max(16) as usize,
                    pipeline: 32,
                    inflight: 8,
                    timeout_s: 60,
                    setup,
                },
                rooms: setup.sharded().then(|| RoomsOpts {
                    which: impls[0],
                    rooms: a.rooms.unwrap_or(1000),
                    per_room: a.per_room.unwrap_or(10),
                    size: a.size,
                    timeout_s: 60,
                    setup,
                }),
                impls,
            };
            all(env, &opts).await.sections()
        }
        Command::Memory(a) => {
            let opts = MemoryOpts {
                which: a.which.parse()?,
                clients: a.clients,
                batch: a.batch,
                adapter: a.adapter,
                timeout_s: a.timeout,
            };
            vec![memory(env, &opts).await?.section()]
        }
    })
}

fn write_outputs(global: &Global, sections: &[Section], argv: &[String]) -> Result<(), String> {
    if let Some(path) = &global.json {
        let results: Vec<Json> = sections
            .iter()
            .map(|s| s.json.clone())
            .filter(|j| !j.is_null())
            .collect();
        let doc = json!({
            "tool": "sio-bench",
            "version": env!("CARGO_PKG_VERSION"),
            "finishedAtMs": stats::now_ms(),
            "argv": argv,
            "host": {
                "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
                "loadAvg1": stats::load_avg(),
            },
            "results": results,
            "tables": sections.iter().flat_map(|s| s.tables.clone()).collect::<Vec<_>>(),
        });
        let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("--json {}: {e}", path.display()))?;
    }
    if let Some(path) = &global.markdown {
        let mut md = format!(
            "## sio-bench `{}`\n\n",
            argv.iter().skip(1).cloned().collect::<Vec<_>>().join(" ")
        );
        if let Some(l) = stats::load_avg() {
            md.push_str(&format!("Load average (1 min) at the end: {l:.2}.\n\n"));
        }
        for s in sections {
            for t in &s.tables {
                md.push_str(&t.markdown());
            }
        }
        std::fs::write(path, md).map_err(|e| format!("--markdown {}: {e}", path.display()))?;
    }
    if let Some(path) = &global.plot {
        let series: Vec<_> = sections.iter().flat_map(|s| s.series.clone()).collect();
        plot::plot(path, &series)?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let cli = Cli::parse();
    let env = Env {
        programs: Programs::locate(cli.global.root.clone(), cli.global.rust_peer.clone()),
        ready_timeout: Duration::from_secs(cli.global.ready_timeout),
    };
    let interrupted = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    };
    // Dropping the scenario future (on a signal) drops its clusters, which kills them.
    let result = tokio::select! {
        r = execute(cli.command, &env) => r,
        sig = interrupted => Err(format!("interrupted ({sig}): peer nodes and redis-server stopped")),
    };
    match result {
        Ok(sections) => {
            for s in &sections {
                for t in &s.tables {
                    println!("{}", t.text());
                }
            }
            if let Err(e) = write_outputs(&cli.global, &sections, &argv) {
                eprintln!("sio-bench: {e}");
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sio-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
