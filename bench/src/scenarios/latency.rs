//! `latency`: paced broadcasts at fixed rates from node A to one client on node B;
//! the latency distribution of the Redis hop (A's `t` stamp to receipt on B's client)
//! and losses, per rate.

use serde::Serialize;
use serde_json::json;

use super::broadcast::{Controllers, Receivers, RunOutcome, RunParams, event_name, run};
use super::{Env, node_names};
use crate::backend::Setup;
use crate::peers::{Cluster, Impl};
use crate::report::{Section, Series, Table, dec, int, ms};

/// Options of `latency`.
#[derive(Debug, Clone)]
pub(crate) struct LatencyOpts {
    /// Sender, receiver.
    pub(crate) nodes: [Impl; 2],
    /// Broadcasts per second of each run.
    pub(crate) rates: Vec<f64>,
    /// Seconds each run lasts (count = rate × seconds, at least 100).
    pub(crate) seconds: f64,
    pub(crate) size: u64,
    pub(crate) batch: u64,
    /// Broadcasts sent (and discarded) before the first run, at the first rate.
    pub(crate) warmup: Option<u64>,
    pub(crate) timeout_s: u64,
    /// Adapter and kind of Redis.
    pub(crate) setup: Setup,
}

/// What `latency` measured.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LatencyResult {
    pub(crate) sender: Impl,
    pub(crate) receiver: Impl,
    /// `pub/sub`, `sharded dynamic, Redis Cluster`, …
    pub(crate) setup: String,
    pub(crate) nodes: Vec<String>,
    pub(crate) warmup: u64,
    /// One run per rate, in order.
    pub(crate) runs: Vec<RunOutcome>,
}

/// Runs `latency`.
pub(crate) async fn latency(env: &Env, opts: &LatencyOpts) -> Result<LatencyResult, String> {
    if opts.rates.iter().any(|r| *r <= 0.0) {
        return Err("latency: every rate must be above 0".into());
    }
    let cluster = env.cluster(&opts.nodes, opts.setup).await?;
    let result = body(&cluster, opts).await;
    let result = result.map_err(|e| format!("{e}\n{}", cluster.tails()));
    cluster.stop().await;
    result
}

async fn body(cluster: &Cluster, opts: &LatencyOpts) -> Result<LatencyResult, String> {
    let ctl = Controllers::connect(cluster).await?;
    let rx = Receivers::connect(cluster, vec![1]).await?;
    let params = |rate: f64, count: u64, what: &str| RunParams {
        sender: 0,
        count,
        size: opts.size,
        rate,
        batch: opts.batch,
        event: event_name(what),
        idle_ms: 3000,
        deadline_ms: ((count as f64 / rate + opts.timeout_s as f64) * 1000.0) as u64,
    };
    let first = opts.rates.first().copied().unwrap_or(1000.0);
    let warmup = opts
        .warmup
        .unwrap_or_else(|| (first * 0.3).clamp(100.0, 1000.0) as u64);
    if warmup > 0 {
        run(
            cluster,
            &ctl,
            &rx,
            params(first, warmup, "warmup"),
            false,
            "warm-up",
        )
        .await?;
    }
    let mut runs = Vec::new();
    for &rate in &opts.rates {
        let count = ((rate * opts.seconds) as u64).max(100);
        let label = format!("{} /s", int(rate));
        runs.push(
            run(
                cluster,
                &ctl,
                &rx,
                params(rate, count, "latency"),
                true,
                &label,
            )
            .await?,
        );
    }
    Ok(LatencyResult {
        sender: opts.nodes[0],
        receiver: opts.nodes[1],
        setup: opts.setup.to_string(),
        nodes: node_names(cluster),
        warmup,
        runs,
    })
}

impl LatencyResult {
    /// The final table.
    pub(crate) fn section(&self) -> Section {
        let mut t = Table::new(
            format!(
                "latency: {} → {} ({}), one client (ms)",
                self.sender, self.receiver, self.setup
            ),
            &[
                "rate /s",
                "sent",
                "achieved /s",
                "p50",
                "p90",
                "p99",
                "p99.9",
                "max",
                "lost",
                "A µs/bc",
                "B µs/bc",
            ],
        );
        let mut series = Vec::new();
        for r in &self.runs {
            let l = &r.latency_ms;
            t.row(vec![
                int(r.params.rate),
                int(r.sent as f64),
                int(r.send_rate),
                ms(l.p50),
                ms(l.p90),
                ms(l.p99),
                ms(l.p999),
                ms(l.max),
                int(r.lost as f64),
                dec(r.node_cpu(0).map_or(f64::NAN, |c| c.us_per_broadcast), 1),
                dec(r.node_cpu(1).map_or(f64::NAN, |c| c.us_per_broadcast), 1),
            ]);
            for n in r.emit_notes() {
                t.note(format!("{} /s: {n}", int(r.params.rate)));
            }
            series.push(Series {
                group: format!("latency @{}/s", int(r.params.rate)),
                label: format!("{}→{}", self.sender, self.receiver),
                points: r.latency_cdf.clone(),
            });
        }
        t.note(format!(
            "nodes {}; payload {} B",
            self.nodes.join(" → "),
            self.runs.first().map_or(0, |r| r.params.size)
        ));
        Section {
            tables: vec![t],
            json: json!({ "scenario": "latency", "result": self }),
            series,
        }
    }
}
