//! Clocks, percentiles, and what `/proc` says about a process (Linux).

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// Now, in epoch milliseconds (the clock the peer nodes stamp `t` with).
pub(crate) fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// User + system CPU time of process `pid` so far, in µs (10 ms resolution). `None`
/// if the process is gone.
pub(crate) fn proc_cpu_us(pid: u32) -> Option<u64> {
    sio_redis_testkit::proc::cpu_micros(Some(pid)).map(|(user, sys)| user + sys)
}

/// Resident set size of process `pid` in bytes.
pub(crate) fn proc_rss(pid: u32) -> Option<u64> {
    sio_redis_testkit::proc::rss_bytes(Some(pid))
}

/// The 1-minute load average, to put noisy figures in context.
pub(crate) fn load_avg() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// A distribution of latencies, in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Percentiles {
    /// Number of samples.
    pub(crate) count: usize,
    pub(crate) min: f64,
    pub(crate) mean: f64,
    pub(crate) p50: f64,
    pub(crate) p90: f64,
    pub(crate) p99: f64,
    pub(crate) p999: f64,
    pub(crate) max: f64,
}

impl Percentiles {
    /// Percentiles of `samples`, which must be sorted ascending (nearest-rank method).
    pub(crate) fn of_sorted(samples: &[f64]) -> Percentiles {
        let n = samples.len();
        if n == 0 {
            return Percentiles::default();
        }
        let rank = |q: f64| {
            let i = ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
            samples[i]
        };
        Percentiles {
            count: n,
            min: samples[0],
            mean: samples.iter().sum::<f64>() / n as f64,
            p50: rank(0.50),
            p90: rank(0.90),
            p99: rank(0.99),
            p999: rank(0.999),
            max: samples[n - 1],
        }
    }
}

/// Sorts latencies ascending (NaN last).
pub(crate) fn sort(samples: &mut [f64]) {
    samples.sort_unstable_by(|a, b| a.total_cmp(b));
}

/// At most `points` samples of a sorted distribution, evenly spaced by rank (plus the
/// maximum), for the JSON report and the plot: `(latency ms, cumulative fraction)`.
pub(crate) fn cdf_points(sorted: &[f64], points: usize) -> Vec<(f64, f64)> {
    let n = sorted.len();
    if n == 0 {
        return Vec::new();
    }
    let step = (n / points.max(1)).max(1);
    let mut out: Vec<(f64, f64)> = (0..n)
        .step_by(step)
        .map(|i| (sorted[i], (i + 1) as f64 / n as f64))
        .collect();
    if out.last().map(|p| p.1) != Some(1.0) {
        out.push((sorted[n - 1], 1.0));
    }
    out
}

/// The soft and hard limits on open files of this process.
pub(crate) fn nofile_limits() -> (Option<u64>, Option<u64>) {
    let l = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    (l.current, l.maximum)
}

/// Makes sure this process (and the peer nodes it starts, which inherit it) may open
/// `needed` files: raises the soft limit up to the hard one when needed.
///
/// # Errors
///
/// A message that says how to raise the limit when the hard limit is too low.
pub(crate) fn ensure_nofile(needed: u64) -> Result<u64, String> {
    let (soft, hard) = nofile_limits();
    let soft_v = soft.unwrap_or(u64::MAX);
    if soft_v >= needed {
        return Ok(soft_v);
    }
    let hard_v = hard.unwrap_or(u64::MAX);
    if hard_v < needed {
        return Err(format!(
            "this run needs about {needed} open files but the limit is {soft_v} (hard limit {hard_v}); \
             raise it in the shell that runs sio-bench, e.g. `ulimit -n {}` (raising the hard limit \
             needs root or /etc/security/limits.conf), or connect fewer clients",
            needed.next_power_of_two().max(65_536)
        ));
    }
    rustix::process::setrlimit(
        rustix::process::Resource::Nofile,
        rustix::process::Rlimit {
            current: hard,
            maximum: hard,
        },
    )
    .map_err(|e| format!("cannot raise the open-files limit from {soft_v} to {hard_v}: {e}"))?;
    Ok(hard_v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        let p = Percentiles::of_sorted(&v);
        assert_eq!(p.p50, 50.0);
        assert_eq!(p.p90, 90.0);
        assert_eq!(p.p99, 99.0);
        assert_eq!(p.max, 100.0);
        assert_eq!(p.count, 100);
    }

    #[test]
    fn cdf_ends_at_one() {
        let v: Vec<f64> = (1..=1000).map(f64::from).collect();
        let c = cdf_points(&v, 10);
        assert_eq!(c.last(), Some(&(1000.0, 1.0)));
        assert!(c.len() <= 12);
    }

    #[test]
    fn own_process_is_visible() {
        assert!(proc_rss(std::process::id()).is_some_and(|r| r > 0));
        assert!(proc_cpu_us(std::process::id()).is_some());
    }
}
