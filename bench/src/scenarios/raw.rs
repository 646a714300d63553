//! `raw`: the ceiling without Socket.IO. One `redis` crate connection PUBLISHes
//! fixed-size payloads as fast as it can (pipelines of `pipeline` commands, at most
//! `inflight` pipelines outstanding) to one SUBSCRIBEd connection. Reports messages/s at
//! the subscriber, latency (publish to receipt), losses and redis-server CPU.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use serde::Serialize;
use serde_json::json;

use crate::peers::start_redis;
use crate::report::{Section, Series, Table, dec, int, ms};
use crate::scenarios::broadcast::progress;
use crate::stats::{self, Percentiles, now_ms, proc_cpu_us};

const CHANNEL: &str = "sio-bench-raw";

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
}

/// What `raw` measured.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawResult {
    pub(crate) count: u64,
    pub(crate) size: usize,
    pub(crate) pipeline: usize,
    pub(crate) inflight: usize,
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

/// Runs `raw`.
pub(crate) async fn raw(opts: &RawOpts) -> Result<RawResult, String> {
    if opts.size < 16 {
        return Err("raw: --size must be at least 16 bytes".into());
    }
    let redis = tokio::task::spawn_blocking(start_redis)
        .await
        .map_err(|e| e.to_string())??;
    let result = body(&redis.url(), redis.pid(), opts).await;
    let _ = tokio::task::spawn_blocking(move || drop(redis)).await;
    result
}

async fn body(url: &str, redis_pid: Option<u32>, opts: &RawOpts) -> Result<RawResult, String> {
    let client = redis::Client::open(url).map_err(|e| e.to_string())?;
    let mut pubsub = client.get_async_pubsub().await.map_err(|e| e.to_string())?;
    pubsub.subscribe(CHANNEL).await.map_err(|e| e.to_string())?;
    let publisher = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| e.to_string())?;
    let count = opts.count;
    let total = Arc::new(AtomicU64::new(0));
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let sub_total = total.clone();
    let sub = tokio::spawn(async move {
        let mut r = Received {
            seen: vec![0; count.div_ceil(64) as usize],
            lat: Vec::with_capacity(count.min(1 << 22) as usize),
            ..Received::default()
        };
        let mut stream = pubsub.into_on_message();
        let mut done = std::pin::pin!(done_rx);
        loop {
            tokio::select! {
                msg = stream.next() => {
                    let Some(msg) = msg else { break };
                    let at = now_ms();
                    let p = msg.get_payload_bytes();
                    if p.len() < 16 { continue; }
                    let s = u64::from_le_bytes(p[0..8].try_into().unwrap_or_default());
                    let t = f64::from_le_bytes(p[8..16].try_into().unwrap_or_default());
                    if s >= count { continue; }
                    let (w, b) = ((s / 64) as usize, 1u64 << (s % 64));
                    if r.seen[w] & b != 0 { continue; }
                    r.seen[w] |= b;
                    if r.unique == 0 { r.first_ms = at; }
                    r.last_ms = at;
                    r.unique += 1;
                    r.lat.push(at - t);
                    sub_total.fetch_add(1, Ordering::Relaxed);
                }
                _ = &mut done => break,
            }
        }
        r
    });

    let redis_before = redis_pid.and_then(proc_cpu_us);
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
                pipe.cmd("PUBLISH").arg(CHANNEL).arg(payload).ignore();
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
    let redis_after = redis_pid.and_then(proc_cpu_us);
    let bench_after = proc_cpu_us(std::process::id());
    let _ = done_tx.send(());
    let mut r = sub.await.map_err(|e| format!("subscriber task: {e}"))?;
    if let Some(e) = publish_error {
        return Err(format!("PUBLISH failed: {e}"));
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
            "raw: redis PUBLISH → SUBSCRIBE, no Socket.IO",
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
                group: "raw: redis PUBLISH → SUBSCRIBE".into(),
                label: "redis".into(),
                points: self.latency_cdf.clone(),
            }],
        }
    }
}
