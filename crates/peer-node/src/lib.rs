//! What every Rust peer node of the peer-node contract (`shared/PEER-NODE.md`) does the
//! same way, whatever its adapter: this crate's `peer-node` binary and the benchmark's
//! socketioxide-redis peer (`bench/src/bin/sioxide_redis_peer.rs`) both use it.

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value as Json, json};

pub mod observe;

/// Resolves on SIGTERM or SIGINT (the contract's clean stop); never, where the
/// signal handlers cannot be installed.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
}

/// A room or a list of rooms from a request: a string, a number, or an array of
/// strings (other elements ignored); empty for anything else.
pub fn room_list(v: Option<&Json>) -> Vec<String> {
    match v {
        Some(Json::String(s)) => vec![s.clone()],
        Some(Json::Array(items)) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        Some(Json::Number(n)) => vec![n.to_string()],
        _ => Vec::new(),
    }
}

/// One `bench:emit` broadcast: `{s: sequence, t: epoch ms, p: padding}`.
#[derive(Debug, serde::Serialize)]
pub struct BenchPayload<'a> {
    /// Sequence number, from 0.
    pub s: u64,
    /// When it was sent, epoch milliseconds.
    pub t: f64,
    /// `"x"` × `size`.
    pub p: &'a str,
}

/// A `bench:emit` request: `{nsp?, count, size, rate, event, rooms?, batch?}`.
#[derive(Debug)]
pub struct BenchEmit {
    /// Namespace (default: the requesting socket's).
    pub nsp: String,
    /// Broadcasts (default 1).
    pub count: u64,
    /// Broadcasts per second; 0: as fast as possible.
    pub rate: f64,
    /// Broadcasts per pacing step (at least 1).
    pub batch: u64,
    /// Event name (default `"bench"`).
    pub event: String,
    /// Rooms to broadcast to; empty: the whole namespace.
    pub rooms: Vec<String>,
    /// The padding, `"x"` × `size` bytes.
    pub pad: String,
}

impl BenchEmit {
    /// Reads the request `p` sent on namespace `nsp`.
    pub fn from_json(nsp: &str, p: &Json) -> Self {
        BenchEmit {
            nsp: p["nsp"].as_str().unwrap_or(nsp).to_owned(),
            count: p["count"].as_u64().unwrap_or(1),
            rate: p["rate"].as_f64().unwrap_or(0.0),
            batch: p["batch"].as_u64().unwrap_or(1).max(1),
            event: p["event"].as_str().unwrap_or("bench").to_owned(),
            rooms: room_list(p.get("rooms")),
            pad: "x".repeat(p["size"].as_u64().unwrap_or(0) as usize),
        }
    }

    /// Sends the `count` broadcasts with `emit(sequence, epoch ms)`, `batch` at a time,
    /// paced at `rate`, and returns the reply `{sent, ms, errors}` (PEER-NODE.md):
    /// `sent` broadcasts `emit` accepted, `errors` the ones it failed (e.g. Redis is
    /// down), `ms` the run's duration in milliseconds (a float). A failed broadcast does
    /// not stop the run: every sequence number from 0 to `count - 1` is tried once, so
    /// `sent + errors = count` and receivers see the failed ones as gaps. The first
    /// failure is logged at `warn`, the others at `debug`.
    pub async fn run<F, Fut>(&self, mut emit: F) -> Json
    where
        F: FnMut(u64, f64) -> Fut,
        Fut: Future<Output = Result<(), String>>,
    {
        let start = tokio::time::Instant::now();
        let (mut tried, mut errors) = (0u64, 0u64);
        while tried < self.count {
            for _ in 0..self.batch.min(self.count - tried) {
                let t = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs_f64() * 1000.0)
                    .unwrap_or(0.0);
                if let Err(e) = emit(tried, t).await {
                    errors += 1;
                    if errors == 1 {
                        tracing::warn!(error = %e, sequence = tried, "bench:emit: a broadcast failed (the run goes on; later failures at debug)");
                    } else {
                        tracing::debug!(error = %e, sequence = tried, "bench:emit: a broadcast failed");
                    }
                }
                tried += 1;
            }
            if self.rate > 0.0 {
                tokio::time::sleep_until(start + Duration::from_secs_f64(tried as f64 / self.rate))
                    .await;
            }
        }
        json!({
            "sent": tried - errors,
            "ms": start.elapsed().as_secs_f64() * 1000.0,
            "errors": errors,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bench_emit_goes_on_after_a_failed_broadcast() {
        let req = BenchEmit::from_json("/", &json!({ "count": 5, "batch": 2, "size": 3 }));
        let mut tried = Vec::new();
        let reply = req
            .run(|s, _| {
                tried.push(s);
                async move {
                    if s == 1 || s == 3 {
                        Err("redis is down".to_owned())
                    } else {
                        Ok(())
                    }
                }
            })
            .await;
        assert_eq!(tried, [0, 1, 2, 3, 4], "every broadcast is tried once");
        assert_eq!(
            (reply["sent"].as_u64(), reply["errors"].as_u64()),
            (Some(3), Some(2))
        );
        assert!(reply["ms"].as_f64().is_some(), "{reply}");
    }
}
