//! `raw`: the ceiling without Socket.IO. One `redis` crate connection PUBLISHes
//! fixed-size payloads as fast as it can (pipelines of `pipeline` commands, at most
//! `inflight` pipelines outstanding) to one SUBSCRIBEd connection. Reports messages/s at
//! the subscriber, latency (publish to receipt), losses and redis-server CPU.
//!
//! For the sharded adapter (`--adapter sharded`) the commands are SPUBLISH, sent the
//! same way by the same `redis` crate code, and the subscriber is one connection that
//! SSUBSCRIBEd (the test kit's blocking RESP connection on a thread of its own: the
//! `redis` crate's async pub/sub has no SSUBSCRIBE without its cluster feature). On a
//! Redis Cluster (`--cluster`) both connections go to the primary that owns the
//! channel's slot; for PUBLISH on a cluster both go to the first node.
//!
//! For the streams adapter (`--adapter streams`) the commands are `XADD <stream> MAXLEN
//! ~ 10000 * uid <16 hex> nsp / type 3 data <payload>` (the adapter's fields and trim
//! bound, `sio_redis_transport::xadd_cmd`, `--size` bytes of data), pipelined the same
//! way, and the reader is one connection looping `XREAD COUNT 100 BLOCK 100 STREAMS
//! <stream> <last id>` (the adapter's read count; the test kit's blocking RESP
//! connection on a thread of its own), on the stream's slot owner on a cluster.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use serde::Serialize;
use serde_json::json;

use crate::backend::{Backend, Setup};
use crate::report::{Section, Series, Table, dec, int, ms};
use crate::scenarios::broadcast::progress;
use crate::stats::{self, Percentiles, now_ms, proc_cpu_us};

const CHANNEL: &str = "sio-bench-raw";
/// `maxLen` and `readCount` of the raw streams pair: the streams adapter's defaults.
const STREAM_MAX_LEN: u64 = 10_000;
const STREAM_READ_COUNT: &str = "100";

/// Options of `raw`.
#[derive(Debug, Clone)]
pub(crate) struct RawOpts {
    pub(crate) count: u64,
    /// Payload bytes (at least 16: sequence and timestamp).
    pub(crate) size: usize,
    /// PUBLISH commands per pipeline.
    pub(crate) pipeline: usize,
    /// Pipelines in flight.
    pub(crate) inflight: usize,
    pub(crate) timeout_s: u64,
    /// PUBLISH → SUBSCRIBE, or SPUBLISH → SSUBSCRIBE for the sharded adapter (its
    /// mode does not matter here); one redis-server or a Redis Cluster.
    pub(crate) setup: Setup,
}

/// What `raw` measured.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawResult {
    pub(crate) count: u64,
    pub(crate) size: usize,
    pub(crate) pipeline: usize,
    pub(crate) inflight: usize,
    /// `PUBLISH → SUBSCRIBE` or `SPUBLISH → SSUBSCRIBE`, and where.
    pub(crate) path: String,
    /// Messages per second the publisher got acknowledged.
    pub(crate) publish_rate: f64,
    /// Messages per second at the subscriber, first to last.
    pub(crate) receive_rate: f64,
    pub(crate) received: u64,
    pub(crate) lost: u64,
    pub(crate) latency_ms: Percentiles,
    pub(crate) redis_us_per_message: f64,
    pub(crate) bench_us_per_message: f64,
    pub(crate) timed_out: bool,
    pub(crate) latency_cdf: Vec<(f64, f64)>,
}

/// What the subscriber task collected.
#[derive(Debug, Default)]
struct Received {
    seen: Vec<u64>,
    unique: u64,
    first_ms: f64,
    last_ms: f64,
    lat: Vec<f64>,
}

impl Received {
    fn new(count: u64) -> Received {
        Received {
            seen: vec![0; count.div_ceil(64) as usize],
            lat: Vec::with_capacity(count.min(1 << 22) as usize),
            ..Received::default()
        }
    }

    /// Records payload `p` received at `at` (epoch ms); whether it was a first delivery.
    fn record(&mut self, p: &[u8], at: f64) -> bool {
        if p.len() < 16 {
            return false;
        }
        let s = u64::from_le_bytes(p[0..8].try_into().unwrap_or_default());
        let t = f64::from_le_bytes(p[8..16].try_into().unwrap_or_default());
        let (w, b) = ((s / 64) as usize, 1u64 << (s % 64));
        if w >= self.seen.len() || self.seen[w] & b != 0 {
            return false;
        }
        self.seen[w] |= b;
        if self.unique == 0 {
            self.first_ms = at;
        }
        self.last_ms = at;
        self.unique += 1;
        self.lat.push(at - t);
        true
    }
}

/// The verbs of a setup: (`PUBLISH`, `SUBSCRIBE`), (`SPUBLISH`, `SSUBSCRIBE`) or
/// (`XADD`, `XREAD`).
fn verbs(setup: Setup) -> (&'static str, &'static str) {
    if setup.sharded() {
        ("SPUBLISH", "SSUBSCRIBE")
    } else if setup.streams() {
        ("XADD", "XREAD")
    } else {
        ("PUBLISH", "SUBSCRIBE")
    }
}

/// Runs `raw`.
pub(crate) async fn raw(opts: &RawOpts) -> Result<RawResult, String> {
    if opts.size < 16 {
        return Err("raw: --size must be at least 16 bytes".into());
    }
    let backend = Backend::start(opts.setup.cluster).await?;
    let result = body(&backend, opts).await;
    backend.stop().await;
    result
}

/// Subscribes `CHANNEL` on `url` and records every payload until `done` resolves (or the
/// connection ends).
async fn subscribe_classic(
    url: &str,
    count: u64,
    total: Arc<AtomicU64>,
    done: tokio::sync::oneshot::Receiver<()>,
) -> Result<tokio::task::JoinHandle<Received>, String> {
    let client = redis::Client::open(url).map_err(|e| e.to_string())?;
    let mut pubsub = client.get_async_pubsub().await.map_err(|e| e.to_string())?;
    pubsub.subscribe(CHANNEL).await.map_err(|e| e.to_string())?;
    Ok(tokio::spawn(async move {
        let mut r = Received::new(count);
        let mut stream = pubsub.into_on_message();
        let mut done = std::pin::pin!(done);
        loop {
            tokio::select! {
                msg = stream.next() => {
                    let Some(msg) = msg else { break };
                    if r.record(msg.get_payload_bytes(), now_ms()) {
                        total.fetch_add(1, Ordering::Relaxed);
                    }
                }
                _ = &mut done => break,
            }
        }
        r
    }))
}

/// SSUBSCRIBEs `CHANNEL` on `server` (a blocking connection on its own thread) and
/// records every payload until `stop` is set (or the connection ends).
fn subscribe_sharded(
    server: &sio_redis_testkit::RedisServer,
    count: u64,
    total: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) -> Result<tokio::task::JoinHandle<Received>, String> {
    use sio_redis_testkit::RespValue;
    let mut conn = server.connect().map_err(|e| e.to_string())?;
    let reply = conn
        .command(&["SSUBSCRIBE", CHANNEL])
        .map_err(|e| format!("SSUBSCRIBE: {e}"))?;
    if reply.is_error() {
        return Err(format!("SSUBSCRIBE: {reply:?}"));
    }
    // short reads so that `stop` is seen once the messages have stopped
    conn.set_timeout(Duration::from_millis(200))
        .map_err(|e| e.to_string())?;
    Ok(tokio::task::spawn_blocking(move || {
        let mut r = Received::new(count);
        while !stop.load(Ordering::Relaxed) {
            match conn.read_reply() {
                Ok(RespValue::Array(items)) => {
                    if let [RespValue::Bulk(kind), _, RespValue::Bulk(p)] = items.as_slice()
                        && kind == b"smessage"
                        && r.record(p, now_ms())
                    {
                        total.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Ok(_) => {}
                Err(sio_redis_testkit::TestkitError::Io { source, .. })
                    if matches!(
                        source.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => break,
            }
        }
        r
    }))
}

/// Reads the stream `CHANNEL` from its start on `server` (a blocking connection on its
/// own thread, `XREAD COUNT 100 BLOCK 100` from the last entry id) and records the
/// `data` field of every entry until `stop` is set (or the connection fails).
fn read_stream(
    server: &sio_redis_testkit::RedisServer,
    count: u64,
    total: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) -> Result<tokio::task::JoinHandle<Received>, String> {
    use sio_redis_testkit::RespValue;
    let mut conn = server.connect().map_err(|e| e.to_string())?;
    // well above BLOCK: a reply always comes first
    conn.set_timeout(Duration::from_secs(5))
        .map_err(|e| e.to_string())?;
    Ok(tokio::task::spawn_blocking(move || {
        let mut r = Received::new(count);
        let mut last = b"0-0".to_vec();
        while !stop.load(Ordering::Relaxed) {
            let reply = conn.command(&[
                &b"XREAD"[..],
                b"COUNT",
                STREAM_READ_COUNT.as_bytes(),
                b"BLOCK",
                b"100",
                b"STREAMS",
                CHANNEL.as_bytes(),
                &last,
            ]);
            // [[stream, [[id, [field, value, …]], …]]], or nil when BLOCK ended
            let streams = match reply {
                Ok(RespValue::Array(streams)) => streams,
                Ok(RespValue::Nil) => continue,
                _ => break,
            };
            let at = now_ms();
            for stream in streams {
                let RespValue::Array(mut parts) = stream else {
                    continue;
                };
                let Some(RespValue::Array(entries)) = parts.pop() else {
                    continue;
                };
                for entry in entries {
                    let RespValue::Array(entry) = entry else {
                        continue;
                    };
                    let [RespValue::Bulk(id), RespValue::Array(fields)] = entry.as_slice() else {
                        continue;
                    };
                    last.clone_from(id);
                    let data = fields.chunks(2).find_map(|kv| match kv {
                        [RespValue::Bulk(k), RespValue::Bulk(v)] if k == b"data" => Some(v),
                        _ => None,
                    });
                    if let Some(p) = data
                        && r.record(p, at)
                    {
                        total.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
        r
    }))
}

/// The command carrying payload `p`: `PUBLISH`/`SPUBLISH <channel> <p>`, or the
/// streams adapter's `XADD` with `p` as its `data` field.
fn command(publish: &str, p: Vec<u8>) -> redis::Cmd {
    if publish == "XADD" {
        let fields: [(&str, &[u8]); 4] = [
            ("uid", b"0123456789abcdef"),
            ("nsp", b"/"),
            ("type", b"3"),
            ("data", &p),
        ];
        sio_redis_transport::xadd_cmd(CHANNEL, STREAM_MAX_LEN, &fields)
    } else {
        let mut cmd = redis::cmd(publish);
        cmd.arg(CHANNEL).arg(p);
        cmd
    }
}

async fn body(backend: &Backend, opts: &RawOpts) -> Result<RawResult, String> {
    let (publish, subscribe) = verbs(opts.setup);
    let port = if opts.setup.sharded() || opts.setup.streams() {
        backend.owners(&[CHANNEL.to_owned()]).await?[0]
    } else {
        backend.servers()[0].port()
    };
    let server = backend.server(port)?;
    let url = server.url();
    let client = redis::Client::open(url.as_str()).map_err(|e| e.to_string())?;
    let publisher = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| e.to_string())?;
    let count = opts.count;
    let total = Arc::new(AtomicU64::new(0));
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let stop = Arc::new(AtomicBool::new(false));
    let sub = if opts.setup.sharded() {
        subscribe_sharded(server, count, total.clone(), stop.clone())?
    } else if opts.setup.streams() {
        read_stream(server, count, total.clone(), stop.clone())?
    } else {
        subscribe_classic(&url, count, total.clone(), done_rx).await?
    };

    let redis_before = backend.cpu_us();
    let bench_before = proc_cpu_us(std::process::id());
    let started = Instant::now();
    let deadline = started + Duration::from_secs(opts.timeout_s);
    let bar = progress(count, "raw");
    let pad = vec![b'x'; opts.size - 16];
    let mut in_flight = FuturesUnordered::new();
    let mut next = 0u64;
    let mut published = 0u64;
    let mut timed_out = false;
    let mut publish_error = None;
    while published < count {
        while next < count && in_flight.len() < opts.inflight.max(1) {
            let n = (opts.pipeline.max(1) as u64).min(count - next);
            let mut pipe = redis::pipe();
            for s in next..next + n {
                let mut payload = Vec::with_capacity(opts.size);
                payload.extend_from_slice(&s.to_le_bytes());
                payload.extend_from_slice(&now_ms().to_le_bytes());
                payload.extend_from_slice(&pad);
                pipe.add_command(command(publish, payload)).ignore();
            }
            next += n;
            let mut conn = publisher.clone();
            in_flight.push(async move { pipe.query_async::<()>(&mut conn).await.map(|()| n) });
        }
        match tokio::time::timeout_at(deadline.into(), in_flight.next()).await {
            Ok(Some(Ok(n))) => published += n,
            Ok(Some(Err(e))) => {
                publish_error = Some(e.to_string());
                break;
            }
            Ok(None) => break,
            Err(_) => {
                timed_out = true;
                break;
            }
        }
        bar.set_position(total.load(Ordering::Relaxed));
    }
    let publish_s = started.elapsed().as_secs_f64();
    // wait for the subscriber to catch up, or to stall
    let mut last = 0;
    let mut last_change = Instant::now();
    while !timed_out && total.load(Ordering::Relaxed) < count {
        let now = total.load(Ordering::Relaxed);
        bar.set_position(now);
        if now != last {
            last = now;
            last_change = Instant::now();
        }
        if last_change.elapsed() > Duration::from_secs(3) {
            break;
        }
        if Instant::now() > deadline {
            timed_out = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bar.finish_and_clear();
    let redis_after = backend.cpu_us();
    let bench_after = proc_cpu_us(std::process::id());
    let _ = done_tx.send(());
    stop.store(true, Ordering::Relaxed);
    let mut r = sub.await.map_err(|e| format!("subscriber task: {e}"))?;
    if let Some(e) = publish_error {
        return Err(format!("{publish} failed: {e}"));
    }
    stats::sort(&mut r.lat);
    let window = r.last_ms - r.first_ms;
    let per = |b: Option<u64>, a: Option<u64>| match (b, a) {
        (Some(b), Some(a)) => (a - b) as f64 / count.max(1) as f64,
        _ => f64::NAN,
    };
    Ok(RawResult {
        count,
        size: opts.size,
        pipeline: opts.pipeline,
        inflight: opts.inflight,
        path: format!(
            "{publish} → {subscribe}, {}",
            if opts.setup.cluster {
                format!("Redis Cluster (slot owner {port})")
            } else {
                "one redis-server".to_owned()
            }
        ),
        publish_rate: if publish_s > 0.0 {
            published as f64 / publish_s
        } else {
            0.0
        },
        receive_rate: if window > 0.0 {
            r.unique.saturating_sub(1) as f64 / window * 1000.0
        } else {
            0.0
        },
        received: r.unique,
        lost: count - r.unique.min(count),
        latency_ms: Percentiles::of_sorted(&r.lat),
        latency_cdf: stats::cdf_points(&r.lat, 500),
        redis_us_per_message: per(redis_before, redis_after),
        bench_us_per_message: per(bench_before, bench_after),
        timed_out,
    })
}

impl RawResult {
    /// The final table.
    pub(crate) fn section(&self) -> Section {
        let mut t = Table::new(
            format!("raw: {}, no Socket.IO", self.path),
            &["figure", "value"],
        );
        let mut row = |k: &str, v: String| t.row(vec![k.to_owned(), v]);
        row(
            "messages × payload",
            format!(
                "{} × {} B (pipelines of {}, {} in flight)",
                int(self.count as f64),
                self.size,
                self.pipeline,
                self.inflight
            ),
        );
        row("publish rate (/s)", int(self.publish_rate));
        row("receive rate (messages/s)", int(self.receive_rate));
        row(
            "received / lost",
            format!("{} / {}", int(self.received as f64), self.lost),
        );
        let l = &self.latency_ms;
        row(
            "latency p50 / p99 / max (ms)",
            format!("{} / {} / {}", ms(l.p50), ms(l.p99), ms(l.max)),
        );
        row(
            "CPU µs/message, redis-server",
            dec(self.redis_us_per_message, 2),
        );
        row(
            "CPU µs/message, sio-bench (both ends)",
            dec(self.bench_us_per_message, 2),
        );
        if self.timed_out {
            t.note("the run hit its deadline (--timeout)");
        }
        Section {
            tables: vec![t],
            json: json!({ "scenario": "raw", "result": self }),
            series: vec![Series {
                group: format!("raw: {}", self.path),
                label: "redis".into(),
                points: self.latency_cdf.clone(),
            }],
        }
    }
}
