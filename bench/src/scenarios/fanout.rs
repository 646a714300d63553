//! `fanout`: many clients spread over N nodes; node 0 emits `count` broadcasts at a
//! fixed rate. Reports deliveries/s, end-to-end latency (the `t` stamp to receipt),
//! lost / duplicated / out-of-order deliveries and the CPU of every process.

use serde::Serialize;
use serde_json::json;

use super::broadcast::{Controllers, Receivers, RunOutcome, RunParams, event_name, run};
use super::{Env, default_warmup, node_names};
use crate::backend::{Adapter, Setup};
use crate::peers::{Cluster, Impl};
use crate::report::{Section, Series, Table, dec, int, mib, ms};

/// Options of `fanout`.
#[derive(Debug, Clone)]
pub(crate) struct FanoutOpts {
    /// One peer per entry; node 0 sends.
    pub(crate) nodes: Vec<Impl>,
    pub(crate) clients: usize,
    pub(crate) count: u64,
    pub(crate) size: u64,
    pub(crate) rate: f64,
    pub(crate) batch: u64,
    pub(crate) warmup: Option<u64>,
    /// Extra seconds allowed beyond `count / rate`.
    pub(crate) timeout_s: u64,
    /// Adapter and kind of Redis (no adapter for a single node).
    pub(crate) setup: Setup,
}

/// What `fanout` measured.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FanoutResult {
    pub(crate) implementations: Vec<Impl>,
    /// `pub/sub`, `sharded dynamic, Redis Cluster`, …
    pub(crate) setup: String,
    pub(crate) nodes: Vec<String>,
    /// Receiving clients on each node.
    pub(crate) clients_per_node: Vec<usize>,
    pub(crate) warmup: u64,
    pub(crate) run: RunOutcome,
}

/// Runs `fanout`.
pub(crate) async fn fanout(env: &Env, opts: &FanoutOpts) -> Result<FanoutResult, String> {
    if opts.nodes.is_empty() || opts.clients == 0 {
        return Err("fanout needs at least one node and one client".into());
    }
    crate::stats::ensure_nofile(opts.clients as u64 + 256)?;
    let setup = if opts.nodes.len() == 1 {
        opts.setup.with_adapter(Adapter::None)
    } else {
        opts.setup
    };
    let cluster = env.cluster(&opts.nodes, setup).await?;
    let result = body(&cluster, opts).await;
    let result = result.map_err(|e| format!("{e}\n{}", cluster.tails()));
    cluster.stop().await;
    result
}

async fn body(cluster: &Cluster, opts: &FanoutOpts) -> Result<FanoutResult, String> {
    let n = cluster.nodes.len();
    let ctl = Controllers::connect(cluster).await?;
    let node_of: Vec<usize> = (0..opts.clients).map(|i| i % n).collect();
    let mut clients_per_node = vec![0; n];
    for &i in &node_of {
        clients_per_node[i] += 1;
    }
    let rx = Receivers::connect(cluster, node_of).await?;
    let expected_s = if opts.rate > 0.0 {
        opts.count as f64 / opts.rate
    } else {
        0.0
    };
    let params = |count: u64, what: &str| RunParams {
        sender: 0,
        count,
        size: opts.size,
        rate: opts.rate,
        batch: opts.batch,
        event: event_name(what),
        idle_ms: 3000,
        deadline_ms: ((expected_s + opts.timeout_s as f64) * 1000.0) as u64,
    };
    let warmup = opts
        .warmup
        .unwrap_or_else(|| default_warmup(opts.count).min(200));
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
    let out = run(
        cluster,
        &ctl,
        &rx,
        params(opts.count, "fanout"),
        true,
        "fanout",
    )
    .await?;
    Ok(FanoutResult {
        implementations: opts.nodes.clone(),
        setup: cluster.setup.to_string(),
        nodes: node_names(cluster),
        clients_per_node,
        warmup,
        run: out,
    })
}

impl FanoutResult {
    /// A short name of the cluster: `rust×2`, `rust+node`.
    pub(crate) fn cluster_name(&self) -> String {
        let first = self.implementations[0];
        if self.implementations.iter().all(|i| *i == first) {
            format!("{first}×{}", self.implementations.len())
        } else {
            self.implementations
                .iter()
                .map(|i| i.name())
                .collect::<Vec<_>>()
                .join("+")
        }
    }

    /// The final tables.
    pub(crate) fn section(&self) -> Section {
        let r = &self.run;
        let mut t = Table::new(
            format!(
                "fanout: {} nodes ({}, {}), {} clients",
                self.nodes.len(),
                self.cluster_name(),
                self.setup,
                r.receivers
            ),
            &["figure", "value"],
        );
        let mut row = |k: &str, v: String| t.row(vec![k.to_owned(), v]);
        row(
            "broadcasts × payload @ rate",
            format!(
                "{} × {} B @ {}/s from {} (warm-up {})",
                int(r.params.count as f64),
                r.params.size,
                if r.params.rate > 0.0 {
                    int(r.params.rate)
                } else {
                    "max".into()
                },
                self.nodes[0],
                self.warmup
            ),
        );
        row(
            "clients per node",
            self.nodes
                .iter()
                .zip(&self.clients_per_node)
                .map(|(n, c)| format!("{n}: {c}"))
                .collect::<Vec<_>>()
                .join(", "),
        );
        row("emit rate achieved (/s)", int(r.send_rate));
        row("deliveries/s", int(r.deliveries_per_sec));
        row(
            "delivered / expected",
            format!("{} / {}", int(r.delivered as f64), int(r.expected as f64)),
        );
        row(
            "lost / duplicated / out of order",
            format!("{} / {} / {}", r.lost, r.duplicated, r.out_of_order),
        );
        let l = &r.latency_ms;
        row(
            "latency p50 / p90 / p99 / max (ms)",
            format!(
                "{} / {} / {} / {}",
                ms(l.p50),
                ms(l.p90),
                ms(l.p99),
                ms(l.max)
            ),
        );
        let mut cpu = Table::new(
            format!("fanout: CPU per process ({})", self.cluster_name()),
            &[
                "process",
                "CPU ms",
                "µs/broadcast",
                "% of a core",
                "RSS after",
            ],
        );
        for c in &r.cpu {
            cpu.row(vec![
                c.process.clone(),
                dec(c.cpu_us / 1000.0, 0),
                dec(c.us_per_broadcast, 1),
                dec(c.core_percent, 0),
                c.rss_after.map_or_else(String::new, mib),
            ]);
        }
        if r.timed_out {
            t.note("the run hit its deadline (--timeout)");
        }
        for n in r.emit_notes() {
            t.note(n);
        }
        Section {
            tables: vec![t, cpu],
            json: json!({ "scenario": "fanout", "result": self }),
            series: vec![Series {
                group: format!(
                    "fanout: {} clients, {}/s",
                    r.receivers,
                    if r.params.rate > 0.0 {
                        int(r.params.rate)
                    } else {
                        "max".into()
                    }
                ),
                label: self.cluster_name(),
                points: r.latency_cdf.clone(),
            }],
        }
    }
}
