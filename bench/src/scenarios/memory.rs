//! `memory`: one node, many clients, each in its own room. Connects `clients` sockets
//! in batches (each sends `join` with a room of its own and waits for the answer), then
//! reads the node's RSS through `bench:stats`: RSS per socket.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde::Serialize;
use serde_json::{Value as Json, json};

use super::Env;
use super::broadcast::{CONNECT_TIMEOUT, Controllers, NodeStats, progress};
use crate::backend::{Adapter, Setup};
use crate::client::Client;
use crate::peers::{Cluster, Impl};
use crate::report::{Section, Table, dec, int, mib};
use crate::stats::{ensure_nofile, nofile_limits, proc_rss};

/// How long one `join` may wait for its answer before it is sent again.
const JOIN_TIMEOUT: Duration = Duration::from_secs(3);

/// Options of `memory`.
#[derive(Debug, Clone)]
pub(crate) struct MemoryOpts {
    pub(crate) which: Impl,
    pub(crate) clients: usize,
    /// Clients connecting at once.
    pub(crate) batch: usize,
    /// `pubsub` (with a private redis-server) or `none`.
    pub(crate) adapter: String,
    pub(crate) timeout_s: u64,
}

/// What `memory` measured.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MemoryResult {
    pub(crate) implementation: Impl,
    pub(crate) adapter: String,
    pub(crate) requested: usize,
    /// Clients connected and joined when measured.
    pub(crate) connected: usize,
    pub(crate) failed: usize,
    /// Clients whose first `join` got no answer and was sent again (see
    /// `Client::call_retry`).
    pub(crate) join_retries: u64,
    /// The first connection error, if any.
    pub(crate) first_error: Option<String>,
    pub(crate) connect_seconds: f64,
    pub(crate) before: NodeStats,
    pub(crate) after: NodeStats,
    /// (RSS after − RSS before) / connected, bytes.
    pub(crate) rss_per_socket: f64,
    /// RSS of this tool with every client open, bytes.
    pub(crate) bench_rss: Option<u64>,
    pub(crate) open_files_limit: Option<u64>,
    pub(crate) timed_out: bool,
}

/// Runs `memory`.
pub(crate) async fn memory(env: &Env, opts: &MemoryOpts) -> Result<MemoryResult, String> {
    // this process holds one socket per client, the node one more each
    ensure_nofile(opts.clients as u64 + 512)?;
    let adapter = Adapter::parse(&opts.adapter, "dynamic")?;
    let cluster = env
        .cluster(&[opts.which], Setup::PUBSUB.with_adapter(adapter))
        .await?;
    let result = body(&cluster, opts).await;
    let result = result.map_err(|e| format!("{e}\n{}", cluster.tails()));
    cluster.stop().await;
    result
}

async fn body(cluster: &Cluster, opts: &MemoryOpts) -> Result<MemoryResult, String> {
    let ctl = Controllers::connect(cluster).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = ctl.stats().await?.remove(0);
    let port = cluster.nodes[0].port;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(opts.timeout_s);
    let bar = progress(opts.clients as u64, "connecting");
    let mut clients: Vec<Client> = Vec::with_capacity(opts.clients);
    let mut failed = 0;
    let mut first_error = None;
    let mut timed_out = false;
    let mut join_retries = 0;
    let mut next = 0;
    while next < opts.clients {
        if Instant::now() > deadline {
            timed_out = true;
            break;
        }
        let end = (next + opts.batch.max(1)).min(opts.clients);
        let batch = (next..end).map(|i| async move {
            let c = Client::connect(port, "/", None, None, CONNECT_TIMEOUT)
                .await
                .map_err(|e| e.to_string())?;
            let room = Json::String(format!("room-{i}"));
            let r = c.call("join", &room, JOIN_TIMEOUT).await;
            let retried = r.is_err();
            if retried {
                c.call_retry("join", &room, JOIN_TIMEOUT, 3)
                    .await
                    .map_err(|e| format!("join: {e}"))?;
            }
            Ok::<_, String>((c, retried))
        });
        for r in join_all(batch).await {
            match r {
                Ok((c, retried)) => {
                    join_retries += u64::from(retried);
                    clients.push(c);
                }
                Err(e) => {
                    failed += 1;
                    first_error.get_or_insert(e);
                }
            }
        }
        bar.set_position(end as u64);
        next = end;
        // give up early when connections keep failing (e.g. a file limit)
        if failed > 0 && failed >= next / 2 {
            break;
        }
    }
    bar.finish_and_clear();
    let connect_seconds = started.elapsed().as_secs_f64();
    // let the node settle (Node's GC runs lazily; socketioxide frees handshake buffers)
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = ctl.stats().await?.remove(0);
    let connected = clients.iter().filter(|c| c.is_connected()).count();
    let bench_rss = proc_rss(std::process::id());
    drop(clients);
    Ok(MemoryResult {
        implementation: opts.which,
        adapter: opts.adapter.clone(),
        requested: opts.clients,
        connected,
        failed,
        join_retries,
        first_error,
        connect_seconds,
        rss_per_socket: if connected > 0 {
            (after.rss - before.rss) / connected as f64
        } else {
            f64::NAN
        },
        before,
        after,
        bench_rss,
        open_files_limit: nofile_limits().0,
        timed_out,
    })
}

impl MemoryResult {
    /// The final table.
    pub(crate) fn section(&self) -> Section {
        let mut t = Table::new(
            format!(
                "memory: one {} peer (ADAPTER={}), {} clients each in its own room",
                self.implementation,
                self.adapter,
                int(self.requested as f64)
            ),
            &["figure", "value"],
        );
        let mut row = |k: &str, v: String| t.row(vec![k.to_owned(), v]);
        row(
            "connected / failed",
            format!("{} / {}", int(self.connected as f64), self.failed),
        );
        row(
            "joins sent again (first unanswered)",
            int(self.join_retries as f64),
        );
        row(
            "connect + join time",
            format!(
                "{} s ({} clients/s)",
                dec(self.connect_seconds, 1),
                int(self.connected as f64 / self.connect_seconds.max(1e-9))
            ),
        );
        row("node RSS before", mib(self.before.rss));
        row("node RSS after", mib(self.after.rss));
        row(
            "node RSS per socket",
            format!("{} KiB", dec(self.rss_per_socket / 1024.0, 2)),
        );
        row("node clients (bench:stats)", int(self.after.clients));
        row(
            "sio-bench RSS (all clients open)",
            self.bench_rss.map_or_else(|| "-".into(), |b| mib(b as f64)),
        );
        if let Some(e) = &self.first_error {
            t.note(format!("first error: {e}"));
        }
        if self.timed_out {
            t.note("the run hit its deadline (--timeout)");
        }
        t.note(
            "`clients` counts Engine.IO connections on Node and sockets of both namespaces on Rust",
        );
        Section {
            tables: vec![t],
            json: json!({ "scenario": "memory", "result": self }),
            series: Vec::new(),
        }
    }
}
