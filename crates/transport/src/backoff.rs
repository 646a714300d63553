//! Exponential back-off with jitter for the reconnect loops.

use std::time::Duration;

use crate::error::ConfigError;

/// How the publisher and the subscriber wait between reconnect attempts.
///
/// After a connection is lost, the first attempt is made at once; the wait
/// before retry `n` (0-based) is `min(max, initial × factor^n) × (1 ± jitter)`,
/// so with the defaults: 10, 20, 40, 40, 40… ms, each ± 20 %: the cap is low so
/// that a connection is back within about 50 ms of Redis answering again, however
/// long the outage was (and delivery, with the publish queue's 50 ms settle time,
/// within about 100 ms). Each failed attempt against a
/// local or reachable host costs one refused TCP connect; for a large fleet of
/// nodes on one Redis, raise [`Backoff::max`]. The schedule starts again from
/// the first retry after every successful connection. Whatever the delay, each attempt is itself bounded by the connect
/// timeout ([`TransportConfig::connect_timeout`](crate::TransportConfig::connect_timeout)).
/// When one of the two connections gets back, the other one stops waiting
/// and tries again at once.
///
/// Unlike redis-rs 1.x `ConnectionManager` (which gives up after 6 retries by
/// default), the default here never gives up.
///
/// ```
/// use std::time::Duration;
/// use sio_redis_transport::Backoff;
///
/// let backoff = Backoff::default().max(Duration::from_secs(5)).max_retries(Some(20));
/// assert_eq!(backoff.nominal(10), Duration::from_secs(5));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    factor: f64,
    jitter: f64,
    max_retries: Option<u32>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(40),
            factor: 2.0,
            jitter: 0.2,
            max_retries: None,
        }
    }
}

impl Backoff {
    /// Wait before the first retry. Default: 10 ms. Must be > 0.
    #[must_use]
    pub fn initial(mut self, wait: Duration) -> Self {
        self.initial = wait;
        self
    }

    /// Upper bound of the wait before jitter. Default: 40 ms. Must be ≥
    /// the initial wait.
    #[must_use]
    pub fn max(mut self, wait: Duration) -> Self {
        self.max = wait;
        self
    }

    /// Growth factor between retries. Default: 2.0. Must be finite and ≥ 1.0.
    #[must_use]
    pub fn factor(mut self, factor: f64) -> Self {
        self.factor = factor;
        self
    }

    /// Relative random spread: 0.2 means each wait is drawn uniformly from
    /// ±20 % of the nominal wait. Default: 0.2. Must be in `0.0..=1.0`.
    #[must_use]
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter;
        self
    }

    /// How many reconnect attempts in a row may fail before the connection
    /// gives up for good ([`ConnectionEvent::GaveUp`](crate::ConnectionEvent::GaveUp)).
    /// Default: `None`, never give up.
    #[must_use]
    pub fn max_retries(mut self, attempts: Option<u32>) -> Self {
        self.max_retries = attempts;
        self
    }

    /// The nominal wait before retry `retry` (0-based), before jitter:
    /// `min(max, initial × factor^retry)`.
    pub fn nominal(&self, retry: u32) -> Duration {
        let exp = i32::try_from(retry).unwrap_or(i32::MAX);
        let nominal = self.initial.as_secs_f64() * self.factor.powi(exp);
        if !nominal.is_finite() || nominal >= self.max.as_secs_f64() {
            self.max
        } else {
            Duration::from_secs_f64(nominal)
        }
    }

    /// The wait before retry `retry` (0-based), with `unit` in `-1.0..=1.0`
    /// choosing where in the jitter range it falls (-1: lowest, 1: highest).
    /// Pure, for tests; [`Backoff::delay`] draws `unit` at random.
    pub fn delay_with(&self, retry: u32, unit: f64) -> Duration {
        let factor = 1.0 + self.jitter * unit.clamp(-1.0, 1.0);
        self.nominal(retry).mul_f64(factor.max(0.0))
    }

    /// The wait before retry `retry` (0-based), with random jitter.
    pub fn delay(&self, retry: u32) -> Duration {
        let unit = if self.jitter > 0.0 {
            rand::random_range(-1.0..=1.0)
        } else {
            0.0
        };
        self.delay_with(retry, unit)
    }

    /// Whether `failures` failed attempts in a row exhaust the
    /// [`Backoff::max_retries`] setting.
    pub(crate) fn exhausted(&self, failures: u32) -> bool {
        self.max_retries.is_some_and(|max| failures > max)
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |reason: String| {
            Err(ConfigError::Invalid {
                setting: "backoff",
                reason,
            })
        };
        if self.initial.is_zero() {
            return invalid("the initial wait must be > 0".into());
        }
        if self.max < self.initial {
            return invalid(format!(
                "the longest wait ({:?}) must be >= the initial wait ({:?})",
                self.max, self.initial
            ));
        }
        if !self.factor.is_finite() || self.factor < 1.0 {
            return invalid(format!(
                "factor must be finite and >= 1.0, got {}",
                self.factor
            ));
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return invalid(format!("jitter must be in 0.0..=1.0, got {}", self.jitter));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_schedule() {
        let b = Backoff::default();
        let nominal: Vec<u128> = (0..8).map(|n| b.nominal(n).as_millis()).collect();
        assert_eq!(nominal, [10, 20, 40, 40, 40, 40, 40, 40]);
        assert_eq!(b.nominal(u32::MAX), Duration::from_millis(40));
    }

    #[test]
    fn jitter_bounds() {
        let b = Backoff::default()
            .initial(Duration::from_millis(100))
            .max(Duration::from_millis(2000));
        assert_eq!(b.delay_with(0, -1.0), Duration::from_millis(80));
        assert_eq!(b.delay_with(0, 1.0), Duration::from_millis(120));
        assert_eq!(b.delay_with(10, 0.0), Duration::from_millis(2000));
        for _ in 0..1000 {
            let d = b.delay(3);
            assert!(d >= Duration::from_millis(640) && d <= Duration::from_millis(960));
        }
        // The default never waits more than 48 ms between attempts.
        let d = Backoff::default();
        assert!((0..100).all(|n| d.delay_with(n, 1.0) <= Duration::from_millis(48)));
    }

    #[test]
    fn exhaustion() {
        let b = Backoff::default();
        assert!(!b.exhausted(u32::MAX));
        let b = b.max_retries(Some(2));
        assert!(!b.exhausted(2));
        assert!(b.exhausted(3));
    }

    #[test]
    fn validation() {
        assert!(Backoff::default().validate().is_ok());
        for bad in [
            Backoff::default().initial(Duration::ZERO),
            Backoff::default().max(Duration::from_millis(5)),
            Backoff::default().factor(0.5),
            Backoff::default().factor(f64::NAN),
            Backoff::default().jitter(1.5),
        ] {
            let err = bad.validate().unwrap_err();
            assert!(err.to_string().contains("backoff"), "{err}");
        }
    }
}
