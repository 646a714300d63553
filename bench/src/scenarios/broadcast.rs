//! The core of `pipe`, `fanout` and `latency`: one node emits `bench:emit` broadcasts to
//! namespace `/`, receiving clients count them, and the nodes' CPU is read before and
//! after through `bench:stats`.
//!
//! The controlling clients connect to `/ns2`, so that only the receivers (on `/`) get
//! the broadcasts: what is measured is the node → Redis → node → client path.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

use crate::client::{Client, EventHandler, Incoming};
use crate::peers::{Cluster, Impl};
use crate::stats::{self, Percentiles, now_ms, proc_cpu_us};

/// How long a client may take to connect.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a `bench:stats` call may take.
const STATS_TIMEOUT: Duration = Duration::from_secs(10);
/// Concurrent connection attempts.
const CONNECT_BATCH: usize = 100;

/// The part of a `bench` payload that is read: sequence and send time.
#[derive(Deserialize)]
struct BenchMsg {
    s: u64,
    t: f64,
}

/// A `bench` event's data: `[event, {s, t, p}]`, or with a third element, the stream
/// offset that the streams adapter's connection state recovery appends (the Node peer
/// runs it with `ADAPTER=streams`).
#[derive(Deserialize)]
struct BenchEvent(
    serde::de::IgnoredAny,
    BenchMsg,
    #[serde(default)] serde::de::IgnoredAny,
);

/// What one receiving client saw during the current run.
#[derive(Debug, Default)]
struct Tally {
    /// `["<event>",` — the prefix of the events counted.
    prefix: String,
    /// How many broadcasts the run sends.
    count: u64,
    /// One bit per sequence number.
    seen: Vec<u64>,
    unique: u64,
    dups: u64,
    out_of_order: u64,
    /// Unparsable or out-of-range payloads.
    bad: u64,
    max_s: Option<u64>,
    first_ms: f64,
    last_ms: f64,
    /// Latency of each first delivery, ms.
    lat: Vec<f64>,
}

impl Tally {
    fn reset(&mut self, event: &str, count: u64, keep_latency: bool) {
        *self = Tally {
            prefix: format!("[{},", Json::String(event.to_owned())),
            count,
            seen: vec![0; count.div_ceil(64) as usize],
            lat: if keep_latency {
                Vec::with_capacity(count.min(1 << 20) as usize)
            } else {
                Vec::new()
            },
            ..Tally::default()
        };
    }

    /// Returns whether this was a first delivery.
    fn record(&mut self, inc: Incoming<'_>) -> bool {
        if self.prefix.is_empty() || !inc.data.starts_with(&self.prefix) {
            return false;
        }
        let Ok(BenchEvent(_, m, _)) = serde_json::from_str::<BenchEvent>(inc.data) else {
            self.bad += 1;
            return false;
        };
        if m.s >= self.count {
            self.bad += 1;
            return false;
        }
        let (word, bit) = ((m.s / 64) as usize, 1u64 << (m.s % 64));
        if self.seen[word] & bit != 0 {
            self.dups += 1;
            return false;
        }
        self.seen[word] |= bit;
        match self.max_s {
            Some(max) if m.s < max => self.out_of_order += 1,
            _ => self.max_s = Some(m.s),
        }
        if self.unique == 0 {
            self.first_ms = inc.at_ms;
        }
        self.last_ms = inc.at_ms;
        self.unique += 1;
        if self.lat.capacity() > 0 {
            self.lat.push(inc.at_ms - m.t);
        }
        true
    }
}

/// Clients connected to the namespace `/` of some nodes, counting broadcasts.
#[derive(Debug)]
pub(crate) struct Receivers {
    clients: Vec<Client>,
    tallies: Vec<Arc<Mutex<Tally>>>,
    /// First deliveries of the current run, all clients together.
    total: Arc<AtomicU64>,
}

impl Receivers {
    /// Connects one client per entry of `node_of` (an index into `cluster.nodes`).
    pub(crate) async fn connect(
        cluster: &Cluster,
        node_of: Vec<usize>,
    ) -> Result<Receivers, String> {
        let total = Arc::new(AtomicU64::new(0));
        let tallies: Vec<Arc<Mutex<Tally>>> = node_of.iter().map(|_| Arc::default()).collect();
        let bar = progress(node_of.len() as u64, "connecting");
        let mut clients = Vec::with_capacity(node_of.len());
        for chunk in node_of
            .iter()
            .zip(&tallies)
            .collect::<Vec<_>>()
            .chunks(CONNECT_BATCH)
        {
            let batch = chunk.iter().map(|(node, tally)| {
                let tally = Arc::clone(tally);
                let total = total.clone();
                let handler: EventHandler = Arc::new(move |inc| {
                    if tally.lock().unwrap_or_else(|e| e.into_inner()).record(inc) {
                        total.fetch_add(1, Ordering::Relaxed);
                    }
                });
                Client::connect(
                    cluster.nodes[**node].port,
                    "/",
                    None,
                    Some(handler),
                    CONNECT_TIMEOUT,
                )
            });
            for (r, (node, _)) in join_all(batch).await.into_iter().zip(chunk) {
                let c = r.map_err(|e| format!("receiver on {}: {e}", cluster.nodes[**node].id))?;
                clients.push(c);
            }
            bar.inc(chunk.len() as u64);
        }
        bar.finish_and_clear();
        Ok(Receivers {
            clients,
            tallies,
            total,
        })
    }

    fn reset(&self, event: &str, count: u64, keep_latency: bool) {
        for t in &self.tallies {
            t.lock()
                .unwrap_or_else(|e| e.into_inner())
                .reset(event, count, keep_latency);
        }
        self.total.store(0, Ordering::Relaxed);
    }

    /// How many are still connected.
    fn connected(&self) -> usize {
        self.clients.iter().filter(|c| c.is_connected()).count()
    }
}

/// A progress bar on stderr (hidden when stderr is not a terminal).
pub(crate) fn progress(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>12} [{bar:30}] {pos}/{len} {per_sec} {elapsed_precise}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_prefix(what.to_owned());
    bar
}

/// One `/ns2` client per node, to ask `bench:stats` (and `bench:emit` on the sender).
#[derive(Debug)]
pub(crate) struct Controllers {
    clients: Vec<Client>,
}

impl Controllers {
    /// Connects to `/ns2` of every node.
    pub(crate) async fn connect(cluster: &Cluster) -> Result<Controllers, String> {
        let mut clients = Vec::new();
        for n in &cluster.nodes {
            let c = Client::connect(n.port, "/ns2", None, None, CONNECT_TIMEOUT)
                .await
                .map_err(|e| format!("controller on {}: {e}", n.id))?;
            // make sure the node listens to this socket's events before relying on it
            c.call_retry("info", &Json::Null, Duration::from_secs(2), 5)
                .await
                .map_err(|e| format!("controller on {}: info: {e}", n.id))?;
            clients.push(c);
        }
        Ok(Controllers { clients })
    }

    /// The client on node `i`.
    pub(crate) fn on(&self, i: usize) -> &Client {
        &self.clients[i]
    }

    /// `bench:stats` of every node.
    pub(crate) async fn stats(&self) -> Result<Vec<NodeStats>, String> {
        let replies = join_all(self.clients.iter().map(|c| async move {
            let v = c
                .call("bench:stats", &Json::Null, STATS_TIMEOUT)
                .await
                .map_err(|e| format!("bench:stats: {e}"))?;
            serde_json::from_value::<NodeStats>(v.clone())
                .map_err(|e| format!("bench:stats answered {v}: {e}"))
        }))
        .await;
        replies.into_iter().collect()
    }
}

/// A `bench:stats` answer.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NodeStats {
    pub(crate) node: String,
    pub(crate) pid: u64,
    pub(crate) cpu_user_us: f64,
    pub(crate) cpu_sys_us: f64,
    pub(crate) rss: f64,
    pub(crate) clients: f64,
    /// Messages the node's adapter received from Redis, when its peer counts them.
    #[serde(default)]
    pub(crate) redis_received: Option<u64>,
}

/// A snapshot of every CPU counter, taken before and after a run.
#[derive(Debug, Clone)]
pub(crate) struct CpuSnapshot {
    at: Instant,
    nodes: Vec<NodeStats>,
    redis_us: Option<u64>,
    bench_us: Option<u64>,
}

impl CpuSnapshot {
    pub(crate) async fn take(cluster: &Cluster, ctl: &Controllers) -> Result<CpuSnapshot, String> {
        Ok(CpuSnapshot {
            nodes: ctl.stats().await?,
            redis_us: cluster.redis_cpu_us(),
            bench_us: proc_cpu_us(std::process::id()),
            at: Instant::now(),
        })
    }
}

/// CPU used by one process during a run.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ProcCpu {
    /// `rust0`, `node1`, `redis-server`, `sio-bench`.
    pub(crate) process: String,
    /// The implementation of a peer node; `None` for redis-server and sio-bench.
    pub(crate) implementation: Option<Impl>,
    pub(crate) pid: u64,
    /// CPU time used during the run (user + system), µs.
    pub(crate) cpu_us: f64,
    /// `cpu_us` divided by the broadcasts sent.
    pub(crate) us_per_broadcast: f64,
    /// `cpu_us` as a percentage of one core over the measured window.
    pub(crate) core_percent: f64,
    /// Resident memory after the run, bytes (nodes only).
    pub(crate) rss_after: Option<f64>,
}

/// Every process's CPU between two snapshots.
pub(crate) fn cpu_delta(
    cluster: &Cluster,
    before: &CpuSnapshot,
    after: &CpuSnapshot,
    broadcasts: u64,
) -> Vec<ProcCpu> {
    let window_us = after.at.duration_since(before.at).as_secs_f64() * 1e6;
    let n = broadcasts.max(1) as f64;
    let mk = |process: String, implementation, pid, cpu_us: f64, rss_after| ProcCpu {
        process,
        implementation,
        pid,
        cpu_us,
        us_per_broadcast: cpu_us / n,
        core_percent: if window_us > 0.0 {
            cpu_us / window_us * 100.0
        } else {
            0.0
        },
        rss_after,
    };
    let mut out = Vec::new();
    for (i, (b, a)) in before.nodes.iter().zip(&after.nodes).enumerate() {
        let d = (a.cpu_user_us + a.cpu_sys_us) - (b.cpu_user_us + b.cpu_sys_us);
        out.push(mk(
            a.node.clone(),
            cluster.nodes.get(i).map(|p| p.which),
            a.pid,
            d,
            Some(a.rss),
        ));
    }
    if let (Some(b), Some(a)) = (before.redis_us, after.redis_us) {
        let pid = cluster.redis_pid();
        out.push(mk(
            "redis-server".into(),
            None,
            u64::from(pid),
            (a - b) as f64,
            None,
        ));
    }
    if let (Some(b), Some(a)) = (before.bench_us, after.bench_us) {
        out.push(mk(
            "sio-bench".into(),
            None,
            u64::from(std::process::id()),
            (a - b) as f64,
            None,
        ));
    }
    out
}

/// What a broadcast run asks for.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RunParams {
    /// Index of the sending node.
    pub(crate) sender: usize,
    pub(crate) count: u64,
    /// Bytes of padding (`p`) in each payload.
    pub(crate) size: u64,
    /// Broadcasts per second; 0: as fast as the node can.
    pub(crate) rate: f64,
    /// Broadcasts per pacing step of `bench:emit`.
    pub(crate) batch: u64,
    /// The event name (unique per run).
    pub(crate) event: String,
    /// Stop once nothing arrived for this long after `bench:emit` answered, ms.
    pub(crate) idle_ms: u64,
    /// Hard limit of the run, ms.
    pub(crate) deadline_ms: u64,
}

/// What a broadcast run measured.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RunOutcome {
    pub(crate) params: RunParams,
    pub(crate) receivers: usize,
    /// Broadcasts the sender says it emitted (`bench:emit` → `sent`).
    pub(crate) sent: u64,
    /// Time the sender took to emit them, ms (`bench:emit` → `ms`).
    pub(crate) emit_ms: f64,
    /// Broadcasts the sender's adapter refused (`bench:emit` → `errors`); they are
    /// among the `lost`.
    pub(crate) emit_errors: u64,
    /// `sent / emit_ms`, per second.
    pub(crate) send_rate: f64,
    /// `count × receivers`.
    pub(crate) expected: u64,
    /// First deliveries, all receivers.
    pub(crate) delivered: u64,
    pub(crate) lost: u64,
    pub(crate) duplicated: u64,
    pub(crate) out_of_order: u64,
    /// Payloads that could not be read.
    pub(crate) bad: u64,
    /// From the first delivery to the last (any receiver), ms.
    pub(crate) receive_window_ms: f64,
    /// Deliveries per second over the receive window (for one receiver: broadcasts/s).
    pub(crate) deliveries_per_sec: f64,
    /// From the `t` stamp of the sending node to receipt, ms.
    pub(crate) latency_ms: Percentiles,
    /// The run hit its hard deadline.
    pub(crate) timed_out: bool,
    /// Receivers still connected at the end.
    pub(crate) receivers_connected: usize,
    /// CPU of each process during the run.
    pub(crate) cpu: Vec<ProcCpu>,
    /// Error answered by `bench:emit`, if any.
    pub(crate) emit_error: Option<String>,
    /// The latency distribution, `(ms, cumulative fraction)`, at most 500 points.
    pub(crate) latency_cdf: Vec<(f64, f64)>,
}

impl RunOutcome {
    /// What went wrong on the sender's side, for the report's notes: the error
    /// `bench:emit` answered, and how many broadcasts its adapter refused.
    pub(crate) fn emit_notes(&self) -> Vec<String> {
        let mut notes: Vec<String> = self
            .emit_error
            .iter()
            .map(|e| format!("bench:emit: {e}"))
            .collect();
        if self.emit_errors > 0 {
            notes.push(format!(
                "bench:emit: the sender's adapter refused {} broadcasts (counted as lost)",
                self.emit_errors
            ));
        }
        notes
    }

    /// The CPU line of process `name`.
    pub(crate) fn cpu_of(&self, name: &str) -> Option<&ProcCpu> {
        self.cpu.iter().find(|c| c.process == name)
    }

    /// The CPU line of peer `i`.
    pub(crate) fn node_cpu(&self, i: usize) -> Option<&ProcCpu> {
        self.cpu
            .iter()
            .filter(|c| c.implementation.is_some())
            .nth(i)
    }

    /// Total µs per broadcast of all peer nodes.
    pub(crate) fn nodes_us_per_broadcast(&self) -> f64 {
        self.cpu
            .iter()
            .filter(|c| c.implementation.is_some())
            .map(|c| c.us_per_broadcast)
            .sum()
    }
}

/// Runs one batch of broadcasts and waits for the receivers to get them all (or for
/// the idle / hard deadline). With `measure`, CPU is snapshotted around the run and
/// latencies are kept.
pub(crate) async fn run(
    cluster: &Cluster,
    ctl: &Controllers,
    rx: &Receivers,
    params: RunParams,
    measure: bool,
    label: &str,
) -> Result<RunOutcome, String> {
    rx.reset(&params.event, params.count, measure);
    let expected = params.count * rx.clients.len() as u64;
    let before = if measure {
        Some(CpuSnapshot::take(cluster, ctl).await?)
    } else {
        None
    };
    let started = Instant::now();
    let deadline = started + Duration::from_millis(params.deadline_ms);
    let request = json!({
        "nsp": "/", "count": params.count, "size": params.size, "rate": params.rate,
        "batch": params.batch, "event": params.event,
    });
    let sender = ctl.on(params.sender);
    let emit_timeout = Duration::from_millis(params.deadline_ms);
    let mut emit = std::pin::pin!(sender.call("bench:emit", &request, emit_timeout));
    let mut emit_reply: Option<Result<Json, String>> = None;
    let bar = progress(expected, label);
    let mut last_total = 0;
    let mut last_change = Instant::now();
    let mut timed_out = false;
    loop {
        if emit_reply.is_none() {
            tokio::select! {
                r = &mut emit => emit_reply = Some(r.map_err(|e| e.to_string())),
                () = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
        } else {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let total = rx.total.load(Ordering::Relaxed);
        bar.set_position(total);
        if total != last_total {
            last_total = total;
            last_change = Instant::now();
        }
        if total >= expected {
            break;
        }
        if emit_reply.is_some() && last_change.elapsed() > Duration::from_millis(params.idle_ms) {
            break;
        }
        if Instant::now() > deadline {
            timed_out = true;
            break;
        }
    }
    bar.finish_and_clear();
    if emit_reply.is_none() && !timed_out {
        // everything arrived; the sender's answer is on its way
        let wait = deadline
            .saturating_duration_since(Instant::now())
            .min(Duration::from_secs(10));
        if let Ok(r) = tokio::time::timeout(wait, &mut emit).await {
            emit_reply = Some(r.map_err(|e| e.to_string()));
        }
    }
    // late duplicates show up within a moment
    if measure {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = if measure {
        Some(CpuSnapshot::take(cluster, ctl).await?)
    } else {
        None
    };
    let (sent, emit_ms, emit_errors, emit_error) = match &emit_reply {
        Some(Ok(v)) if v.get("error").is_some() => (0, 0.0, 0, Some(v["error"].to_string())),
        Some(Ok(v)) => (
            v["sent"].as_u64().unwrap_or(0),
            v["ms"].as_f64().unwrap_or(0.0),
            v["errors"].as_u64().unwrap_or(0),
            None,
        ),
        Some(Err(e)) => (0, 0.0, 0, Some(e.clone())),
        None => (
            0,
            0.0,
            0,
            Some("bench:emit did not answer before the deadline".into()),
        ),
    };
    let (mut delivered, mut dups, mut ooo, mut bad) = (0, 0, 0, 0);
    let (mut first, mut last) = (f64::INFINITY, f64::NEG_INFINITY);
    let mut lat = Vec::new();
    for t in &rx.tallies {
        let mut t = t.lock().unwrap_or_else(|e| e.into_inner());
        delivered += t.unique;
        dups += t.dups;
        ooo += t.out_of_order;
        bad += t.bad;
        if t.unique > 0 {
            first = first.min(t.first_ms);
            last = last.max(t.last_ms);
        }
        lat.append(&mut t.lat);
        t.prefix.clear(); // stop counting
    }
    stats::sort(&mut lat);
    let window = if last > first { last - first } else { 0.0 };
    let cpu = match (&before, &after) {
        (Some(b), Some(a)) => cpu_delta(cluster, b, a, params.count),
        _ => Vec::new(),
    };
    Ok(RunOutcome {
        receivers: rx.clients.len(),
        sent,
        emit_ms,
        emit_errors,
        send_rate: if emit_ms > 0.0 {
            sent as f64 / emit_ms * 1000.0
        } else {
            0.0
        },
        expected,
        delivered,
        lost: expected - delivered.min(expected),
        duplicated: dups,
        out_of_order: ooo,
        bad,
        receive_window_ms: window,
        deliveries_per_sec: if window > 0.0 {
            (delivered.saturating_sub(1)) as f64 / window * 1000.0
        } else {
            0.0
        },
        latency_ms: Percentiles::of_sorted(&lat),
        latency_cdf: stats::cdf_points(&lat, 500),
        timed_out,
        receivers_connected: rx.connected(),
        cpu,
        emit_error,
        params,
    })
}

/// A unique event name for each run of this process.
pub(crate) fn event_name(what: &str) -> String {
    static RUN: AtomicU64 = AtomicU64::new(0);
    format!(
        "bench-{what}-{}-{}",
        RUN.fetch_add(1, Ordering::Relaxed),
        (now_ms() as u64) % 100_000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inc(data: &str) -> Incoming<'_> {
        Incoming {
            at_ms: 1000.0,
            data,
        }
    }

    #[test]
    fn tally_counts_dups_and_disorder() {
        let mut t = Tally::default();
        t.reset("b", 4, true);
        assert!(t.record(inc(r#"["b",{"s":0,"t":999.5,"p":"xx"}]"#)));
        assert!(t.record(inc(r#"["b",{"s":2,"t":999.0,"p":"xx"}]"#)));
        assert!(t.record(inc(r#"["b",{"s":1,"t":999.0,"p":"xx"}]"#)));
        assert!(!t.record(inc(r#"["b",{"s":1,"t":999.0,"p":"xx"}]"#)));
        assert!(!t.record(inc(r#"["other",{"s":3,"t":999.0}]"#)));
        assert!(!t.record(inc(r#"["b",{"s":9,"t":999.0}]"#)));
        assert_eq!((t.unique, t.dups, t.out_of_order, t.bad), (3, 1, 1, 1));
        assert_eq!(t.lat, vec![0.5, 1.0, 1.0]);
        // the streams adapter's recovery offset after the payload (Node peer)
        assert!(t.record(inc(r#"["b",{"s":3,"t":999.0,"p":"xx"},"1795346230238-0"]"#)));
        assert!(!t.record(inc(r#"["b",{"s":3,"t":999.0},"1-0",4]"#)));
        assert_eq!((t.unique, t.bad), (4, 2));
    }
}
