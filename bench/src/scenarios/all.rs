//! `all`: `pipe`, `fanout` and `latency` for each implementation (clusters of that
//! implementation only), plus `raw` once, in one run, all on the same adapter and kind
//! of Redis (`--adapter`, `--sharded-mode`, `--cluster`; with the sharded adapter `raw`
//! is SPUBLISH → SSUBSCRIBE and `rooms` runs for each implementation too; with the
//! streams adapter `raw` is XADD → XREAD); then every
//! figure side by side with the ratios of the first implementation to each other one.

use serde::Serialize;
use serde_json::{Value as Json, json};

use super::Env;
use super::fanout::{FanoutOpts, FanoutResult, fanout};
use super::latency::{LatencyOpts, LatencyResult, latency};
use super::pipe::{PipeOpts, PipeResult, pipe};
use super::raw::{RawOpts, RawResult, raw};
use super::rooms::{RoomsOpts, RoomsResult, rooms};
use crate::peers::Impl;
use crate::report::{Section, Table, dec, int, ms, ok_or_error, ok_or_error_opt};

/// Options of `all`: templates whose node lists are replaced per implementation.
#[derive(Debug, Clone)]
pub(crate) struct AllOpts {
    pub(crate) impls: Vec<Impl>,
    pub(crate) pipe: PipeOpts,
    pub(crate) fanout: FanoutOpts,
    /// Nodes in each fanout cluster.
    pub(crate) fanout_nodes: usize,
    pub(crate) latency: LatencyOpts,
    pub(crate) raw: RawOpts,
    /// With the sharded adapter only.
    pub(crate) rooms: Option<RoomsOpts>,
}

/// The results of one implementation.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ImplResults {
    pub(crate) implementation: Impl,
    #[serde(serialize_with = "ok_or_error")]
    pub(crate) pipe: Result<PipeResult, String>,
    #[serde(serialize_with = "ok_or_error")]
    pub(crate) fanout: Result<FanoutResult, String>,
    #[serde(serialize_with = "ok_or_error")]
    pub(crate) latency: Result<LatencyResult, String>,
    /// `None` when not run (not the sharded adapter).
    #[serde(serialize_with = "ok_or_error_opt")]
    pub(crate) rooms: Option<Result<RoomsResult, String>>,
}

/// What `all` measured.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AllResult {
    #[serde(serialize_with = "ok_or_error")]
    pub(crate) raw: Result<RawResult, String>,
    pub(crate) implementations: Vec<ImplResults>,
}

/// Runs `all`. A scenario that fails is reported as such; the others still run.
pub(crate) async fn all(env: &Env, opts: &AllOpts) -> AllResult {
    eprintln!("all: raw redis ceiling");
    let raw_r = raw(&opts.raw).await;
    let mut implementations = Vec::new();
    for &which in &opts.impls {
        eprintln!("all: {which}: pipe");
        let p = pipe(
            env,
            &PipeOpts {
                nodes: [which, which],
                ..opts.pipe.clone()
            },
        )
        .await;
        eprintln!("all: {which}: fanout");
        let f = fanout(
            env,
            &FanoutOpts {
                nodes: vec![which; opts.fanout_nodes.max(1)],
                ..opts.fanout.clone()
            },
        )
        .await;
        eprintln!("all: {which}: latency");
        let l = latency(
            env,
            &LatencyOpts {
                nodes: [which, which],
                ..opts.latency.clone()
            },
        )
        .await;
        let r = match &opts.rooms {
            Some(o) => {
                eprintln!("all: {which}: rooms");
                Some(rooms(env, &RoomsOpts { which, ..o.clone() }).await)
            }
            None => None,
        };
        for (what, r) in [
            ("pipe", p.as_ref().err()),
            ("fanout", f.as_ref().err()),
            ("latency", l.as_ref().err()),
            ("rooms", r.as_ref().and_then(|r| r.as_ref().err())),
        ] {
            if let Some(e) = r {
                eprintln!("all: {which}: {what} failed: {e}");
            }
        }
        implementations.push(ImplResults {
            implementation: which,
            pipe: p,
            fanout: f,
            latency: l,
            rooms: r,
        });
    }
    AllResult {
        raw: raw_r,
        implementations,
    }
}

/// Whether a larger figure is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Better {
    Higher,
    Lower,
}

/// One comparison line.
struct Line {
    name: String,
    better: Better,
    /// One per implementation; `None` when the scenario failed.
    values: Vec<Option<f64>>,
    format: fn(f64) -> String,
}

fn fmt_int(x: f64) -> String {
    int(x)
}
fn fmt_us(x: f64) -> String {
    dec(x, 1)
}
fn fmt_ms(x: f64) -> String {
    ms(x)
}
fn fmt_pct(x: f64) -> String {
    format!("{}%", dec(x, 1))
}

/// `base` compared with `other`, as "n.nn× (a/b)" where > 1 means `base` is better.
fn ratio(better: Better, base: f64, other: f64, base_name: &str, other_name: &str) -> String {
    let (num, den, label) = match better {
        Better::Higher => (base, other, format!("{base_name}/{other_name}")),
        Better::Lower => (other, base, format!("{other_name}/{base_name}")),
    };
    if !num.is_finite() || !den.is_finite() || den == 0.0 {
        return "-".into();
    }
    format!("{:.2}× ({label})", num / den)
}

impl AllResult {
    fn lines(&self) -> Vec<Line> {
        let imps = &self.implementations;
        let raw_rate = self.raw.as_ref().ok().map(|r| r.receive_rate);
        let col = |f: &dyn Fn(&ImplResults) -> Option<f64>| imps.iter().map(f).collect::<Vec<_>>();
        let mut lines = Vec::new();
        let mut add = |name: String, better, format: fn(f64) -> String, values| {
            lines.push(Line {
                name,
                better,
                values,
                format,
            });
        };
        let pipe = |i: &ImplResults| i.pipe.as_ref().ok().cloned();
        add(
            "pipe: receiver broadcasts/s".into(),
            Better::Higher,
            fmt_int,
            col(&|i| pipe(i).map(|p| p.receiver_rate)),
        );
        add(
            "pipe: % of raw redis ceiling".into(),
            Better::Higher,
            fmt_pct,
            col(&|i| Some(pipe(i)?.receiver_rate / raw_rate? * 100.0)),
        );
        add(
            "pipe: sender emit/s".into(),
            Better::Higher,
            fmt_int,
            col(&|i| pipe(i).map(|p| p.run.send_rate)),
        );
        add(
            "pipe: lost".into(),
            Better::Lower,
            fmt_int,
            col(&|i| pipe(i).map(|p| p.run.lost as f64)),
        );
        add(
            "pipe: CPU µs/broadcast, sender".into(),
            Better::Lower,
            fmt_us,
            col(&|i| pipe(i).map(|p| p.sender_us_per_broadcast)),
        );
        add(
            "pipe: CPU µs/broadcast, receiver".into(),
            Better::Lower,
            fmt_us,
            col(&|i| pipe(i).map(|p| p.receiver_us_per_broadcast)),
        );
        add(
            "pipe: CPU µs/broadcast, redis".into(),
            Better::Lower,
            fmt_us,
            col(&|i| pipe(i).map(|p| p.redis_us_per_broadcast)),
        );
        let fan = |i: &ImplResults| i.fanout.as_ref().ok().map(|f| f.run.clone());
        add(
            "fanout: deliveries/s".into(),
            Better::Higher,
            fmt_int,
            col(&|i| fan(i).map(|r| r.deliveries_per_sec)),
        );
        add(
            "fanout: latency p50 ms".into(),
            Better::Lower,
            fmt_ms,
            col(&|i| fan(i).map(|r| r.latency_ms.p50)),
        );
        add(
            "fanout: latency p99 ms".into(),
            Better::Lower,
            fmt_ms,
            col(&|i| fan(i).map(|r| r.latency_ms.p99)),
        );
        add(
            "fanout: latency max ms".into(),
            Better::Lower,
            fmt_ms,
            col(&|i| fan(i).map(|r| r.latency_ms.max)),
        );
        add(
            "fanout: lost".into(),
            Better::Lower,
            fmt_int,
            col(&|i| fan(i).map(|r| r.lost as f64)),
        );
        add(
            "fanout: duplicated + out of order".into(),
            Better::Lower,
            fmt_int,
            col(&|i| fan(i).map(|r| (r.duplicated + r.out_of_order) as f64)),
        );
        add(
            "fanout: CPU µs/broadcast, all nodes".into(),
            Better::Lower,
            fmt_us,
            col(&|i| fan(i).map(|r| r.nodes_us_per_broadcast())),
        );
        add(
            "fanout: CPU µs/broadcast, sender node".into(),
            Better::Lower,
            fmt_us,
            col(&|i| fan(i).and_then(|r| r.node_cpu(0).map(|c| c.us_per_broadcast))),
        );
        add(
            "fanout: CPU µs/broadcast, redis".into(),
            Better::Lower,
            fmt_us,
            col(&|i| fan(i).and_then(|r| r.cpu_of("redis-server").map(|c| c.us_per_broadcast))),
        );
        let rates: Vec<f64> = imps
            .iter()
            .find_map(|i| i.latency.as_ref().ok())
            .map(|l| l.runs.iter().map(|r| r.params.rate).collect())
            .unwrap_or_default();
        for (k, rate) in rates.iter().enumerate() {
            let run =
                move |i: &ImplResults| i.latency.as_ref().ok().and_then(|l| l.runs.get(k).cloned());
            let r = int(*rate);
            add(
                format!("latency @{r}/s: p50 ms"),
                Better::Lower,
                fmt_ms,
                col(&|i| run(i).map(|x| x.latency_ms.p50)),
            );
            add(
                format!("latency @{r}/s: p99 ms"),
                Better::Lower,
                fmt_ms,
                col(&|i| run(i).map(|x| x.latency_ms.p99)),
            );
            add(
                format!("latency @{r}/s: max ms"),
                Better::Lower,
                fmt_ms,
                col(&|i| run(i).map(|x| x.latency_ms.max)),
            );
            add(
                format!("latency @{r}/s: lost"),
                Better::Lower,
                fmt_int,
                col(&|i| run(i).map(|x| x.lost as f64)),
            );
            add(
                format!("latency @{r}/s: achieved rate"),
                Better::Higher,
                fmt_int,
                col(&|i| run(i).map(|x| x.send_rate)),
            );
        }
        let rooms = |i: &ImplResults| i.rooms.as_ref().and_then(|r| r.as_ref().ok()).cloned();
        if imps.iter().any(|i| i.rooms.is_some()) {
            add(
                "rooms: from Redis for rooms without local members".into(),
                Better::Lower,
                fmt_int,
                col(&|i| rooms(i)?.to_non_members().map(|x| x as f64)),
            );
            add(
                "rooms: deliveries missing or to the wrong node".into(),
                Better::Lower,
                fmt_int,
                col(&|i| rooms(i).map(|r| r.misdelivered() as f64)),
            );
        }
        lines
    }

    /// The side-by-side table, every scenario's own tables, and the JSON.
    pub(crate) fn sections(&self) -> Vec<Section> {
        let imps = &self.implementations;
        let names: Vec<&str> = imps.iter().map(|i| i.implementation.name()).collect();
        let mut headers: Vec<String> = vec!["figure".into()];
        headers.extend(names.iter().map(|n| (*n).to_owned()));
        for other in names.iter().skip(1) {
            headers.push(format!("{} vs {other} (>1: {} better)", names[0], names[0]));
        }
        let header_refs: Vec<&str> = headers.iter().map(String::as_str).collect();
        let mut t = Table::new("all: side by side", &header_refs);
        let mut lines_json = Vec::new();
        for line in self.lines() {
            let mut row = vec![line.name.clone()];
            for v in &line.values {
                row.push(v.map_or_else(|| "error".into(), line.format));
            }
            for (k, other) in names.iter().enumerate().skip(1) {
                row.push(match (line.values[0], line.values[k]) {
                    (Some(a), Some(b)) => ratio(line.better, a, b, names[0], other),
                    _ => "-".into(),
                });
            }
            t.row(row);
            lines_json.push(json!({
                "figure": line.name,
                "better": match line.better { Better::Higher => "higher", Better::Lower => "lower" },
                "values": names.iter().zip(&line.values).map(|(n, v)| ((*n).to_owned(), json!(v))).collect::<serde_json::Map<String, Json>>(),
            }));
        }
        match &self.raw {
            Ok(r) => t.note(format!(
                "raw redis ceiling (one connection, pipelined {}): {} messages/s, p50 {} ms",
                r.path,
                int(r.receive_rate),
                ms(r.latency_ms.p50)
            )),
            Err(e) => t.note(format!("raw: failed: {e}")),
        }
        for i in imps {
            for (what, e) in [
                ("pipe", i.pipe.as_ref().err()),
                ("fanout", i.fanout.as_ref().err()),
                ("latency", i.latency.as_ref().err()),
                ("rooms", i.rooms.as_ref().and_then(|r| r.as_ref().err())),
            ] {
                if let Some(e) = e {
                    let first = e.lines().next().unwrap_or_default();
                    t.note(format!("{} {what} failed: {first}", i.implementation));
                }
            }
        }
        t.note("figures from one run on a shared machine: noisy; compare within a run");
        let mut sections = Vec::new();
        if let Ok(r) = &self.raw {
            sections.push(r.section());
        }
        for i in imps {
            if let Ok(p) = &i.pipe {
                sections.push(p.section());
            }
            if let Ok(f) = &i.fanout {
                sections.push(f.section());
            }
            if let Ok(l) = &i.latency {
                sections.push(l.section());
            }
            if let Some(Ok(r)) = &i.rooms {
                sections.push(r.section());
            }
        }
        // scenario sections first (details), the comparison last (printed at the end)
        let series = sections.iter().flat_map(|s| s.series.clone()).collect();
        let mut details: Vec<Section> = sections
            .into_iter()
            .map(|mut s| {
                // their figures are in the `all` result already
                s.series.clear();
                s.json = Json::Null;
                s
            })
            .collect();
        details.push(Section {
            tables: vec![t],
            json: json!({ "scenario": "all", "comparison": lines_json, "result": self }),
            series,
        });
        details
    }
}
