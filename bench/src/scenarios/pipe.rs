//! `pipe`: the throughput of the Redis hop between two nodes. Node A emits `count`
//! broadcasts as fast as it can (`bench:emit`, rate 0); one client on node B counts
//! them. Reports broadcasts/s at the receiver, losses, and the CPU each process spent
//! per broadcast.

use serde::Serialize;
use serde_json::json;

use super::broadcast::{Controllers, Receivers, RunOutcome, RunParams, event_name, run};
use super::{Env, default_warmup, node_names};
use crate::backend::Setup;
use crate::peers::Impl;
use crate::report::{Section, Series, Table, dec, int, ms};

/// Options of `pipe`.
#[derive(Debug, Clone)]
pub(crate) struct PipeOpts {
    /// Sender, receiver.
    pub(crate) nodes: [Impl; 2],
    pub(crate) count: u64,
    pub(crate) size: u64,
    pub(crate) batch: u64,
    /// Broadcasts sent (and discarded) before the measured run; `None`: default.
    pub(crate) warmup: Option<u64>,
    pub(crate) timeout_s: u64,
    /// Adapter and kind of Redis.
    pub(crate) setup: Setup,
}

/// What `pipe` measured.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PipeResult {
    pub(crate) sender: Impl,
    pub(crate) receiver: Impl,
    /// `pub/sub`, `sharded dynamic, Redis Cluster`, …
    pub(crate) setup: String,
    pub(crate) nodes: Vec<String>,
    pub(crate) warmup: u64,
    /// Broadcasts per second seen by the client on B, first to last.
    pub(crate) receiver_rate: f64,
    /// CPU µs per broadcast of node A, node B, redis-server and this tool.
    pub(crate) sender_us_per_broadcast: f64,
    pub(crate) receiver_us_per_broadcast: f64,
    pub(crate) redis_us_per_broadcast: f64,
    pub(crate) bench_us_per_broadcast: f64,
    pub(crate) run: RunOutcome,
}

/// Runs `pipe`.
pub(crate) async fn pipe(env: &Env, opts: &PipeOpts) -> Result<PipeResult, String> {
    let cluster = env.cluster(&opts.nodes, opts.setup).await?;
    let result = body(&cluster, opts).await;
    let result = result.map_err(|e| format!("{e}\n{}", cluster.tails()));
    cluster.stop().await;
    result
}

async fn body(cluster: &crate::peers::Cluster, opts: &PipeOpts) -> Result<PipeResult, String> {
    let ctl = Controllers::connect(cluster).await?;
    let rx = Receivers::connect(cluster, vec![1]).await?;
    let params = |count: u64, what: &str| RunParams {
        sender: 0,
        count,
        size: opts.size,
        rate: 0.0,
        batch: opts.batch,
        event: event_name(what),
        idle_ms: 3000,
        deadline_ms: opts.timeout_s * 1000,
    };
    let warmup = opts.warmup.unwrap_or_else(|| default_warmup(opts.count));
    if warmup > 0 {
        run(
            cluster,
            &ctl,
            &rx,
            params(warmup, "warmup"),
            false,
            "warm-up",
        )
        .await?;
    }
    let label = format!("pipe {}→{}", opts.nodes[0], opts.nodes[1]);
    let out = run(cluster, &ctl, &rx, params(opts.count, "pipe"), true, &label).await?;
    let per = |name: &str| out.cpu_of(name).map_or(f64::NAN, |c| c.us_per_broadcast);
    Ok(PipeResult {
        sender: opts.nodes[0],
        receiver: opts.nodes[1],
        setup: opts.setup.to_string(),
        nodes: node_names(cluster),
        warmup,
        receiver_rate: out.deliveries_per_sec,
        sender_us_per_broadcast: out.node_cpu(0).map_or(f64::NAN, |c| c.us_per_broadcast),
        receiver_us_per_broadcast: out.node_cpu(1).map_or(f64::NAN, |c| c.us_per_broadcast),
        redis_us_per_broadcast: per("redis-server"),
        bench_us_per_broadcast: per("sio-bench"),
        run: out,
    })
}

impl PipeResult {
    /// The final table.
    pub(crate) fn section(&self) -> Section {
        let r = &self.run;
        let mut t = Table::new(
            format!("pipe: {} → {} ({})", self.sender, self.receiver, self.setup),
            &["figure", "value"],
        );
        let mut row = |k: &str, v: String| t.row(vec![k.to_owned(), v]);
        row("nodes (A → B)", self.nodes.join(" → "));
        row(
            "broadcasts × payload",
            format!(
                "{} × {} B (warm-up {})",
                int(r.params.count as f64),
                r.params.size,
                self.warmup
            ),
        );
        row("A emit rate (/s)", int(r.send_rate));
        row("B receive rate (broadcasts/s)", int(self.receiver_rate));
        row(
            "received / lost",
            format!("{} / {}", int(r.delivered as f64), int(r.lost as f64)),
        );
        row(
            "duplicated / out of order",
            format!("{} / {}", r.duplicated, r.out_of_order),
        );
        row(
            "CPU µs/broadcast, A (sender)",
            dec(self.sender_us_per_broadcast, 1),
        );
        row(
            "CPU µs/broadcast, B (receiver)",
            dec(self.receiver_us_per_broadcast, 1),
        );
        row(
            "CPU µs/broadcast, redis-server",
            dec(self.redis_us_per_broadcast, 1),
        );
        row(
            "CPU µs/broadcast, sio-bench client",
            dec(self.bench_us_per_broadcast, 1),
        );
        row(
            "latency p50 / p99 / max (ms)",
            format!(
                "{} / {} / {}",
                ms(r.latency_ms.p50),
                ms(r.latency_ms.p99),
                ms(r.latency_ms.max)
            ),
        );
        if r.timed_out {
            t.note("the run hit its deadline (--timeout)");
        }
        for n in r.emit_notes() {
            t.note(n);
        }
        t.note("latency at full speed is mostly queueing; see `latency` for paced runs");
        Section {
            tables: vec![t],
            json: json!({ "scenario": "pipe", "result": self }),
            series: vec![Series {
                group: format!("pipe: rate 0, {} broadcasts", int(r.params.count as f64)),
                label: format!("{}→{}", self.sender, self.receiver),
                points: r.latency_cdf.clone(),
            }],
        }
    }
}
