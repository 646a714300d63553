//! Exponential back-off with jitter for the reconnect loops.

use std::time::Duration;

use crate::error::ConfigError;

/// How the publisher and the subscriber wait between reconnect attempts.
///
/// After a connection is lost, the first attempt is made at once; the wait
/// before retry `n` (0-based) is
/// `min(max_ms, initial_ms × factor^n) × (1 ± jitter)`, so with the defaults:
/// 100, 200, 400, 800, 1600, 2000, 2000… ms, each ± 20 %. Whatever the delay,
/// each attempt is itself bounded by the connect timeout
/// ([`TransportConfig::connect_timeout_ms`](crate::TransportConfig::connect_timeout_ms)).
/// When one of the two connections gets back, the other one stops waiting
/// and tries again at once.
///
/// Unlike redis-rs 1.x `ConnectionManager` (which gives up after 6 retries by
/// default), the default here never gives up.
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    /// Wait before the first retry, in ms. Default: 100. Must be > 0.
    pub initial_ms: u64,
    /// Upper bound of the wait before jitter, in ms. Default: 2000. Must be
    /// ≥ `initial_ms`.
    pub max_ms: u64,
    /// Growth factor between retries. Default: 2.0. Must be finite and ≥ 1.0.
    pub factor: f64,
    /// Relative random spread: 0.2 means each wait is drawn uniformly from
    /// ±20 % of the nominal wait. Default: 0.2. Must be in `0.0..=1.0`.
    pub jitter: f64,
    /// How many reconnect attempts in a row may fail before the connection
    /// gives up for good ([`ConnectionEvent::GaveUp`](crate::ConnectionEvent::GaveUp)).
    /// Default: `None`, never give up.
    pub max_retries: Option<u32>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial_ms: 100,
            max_ms: 2000,
            factor: 2.0,
            jitter: 0.2,
            max_retries: None,
        }
    }
}

impl Backoff {
    /// The nominal wait before retry `retry` (0-based), in ms, before jitter:
    /// `min(max_ms, initial_ms × factor^retry)`.
    pub fn nominal_ms(&self, retry: u32) -> u64 {
        let exp = i32::try_from(retry).unwrap_or(i32::MAX);
        let nominal = (self.initial_ms as f64) * self.factor.powi(exp);
        if !nominal.is_finite() || nominal >= self.max_ms as f64 {
            self.max_ms
        } else {
            // In range 0..=max_ms, so the cast cannot truncate.
            nominal as u64
        }
    }

    /// The wait before retry `retry` (0-based), with `unit` in `-1.0..=1.0`
    /// choosing where in the jitter range it falls (-1: lowest, 1: highest).
    /// Pure, for tests; [`Backoff::delay`] draws `unit` at random.
    pub fn delay_with(&self, retry: u32, unit: f64) -> Duration {
        let nominal = self.nominal_ms(retry) as f64;
        let factor = 1.0 + self.jitter * unit.clamp(-1.0, 1.0);
        let ms = (nominal * factor).max(0.0);
        Duration::from_secs_f64(ms / 1000.0)
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

    /// Whether `failures` failed attempts in a row exhaust
    /// [`Backoff::max_retries`].
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
        if self.initial_ms == 0 {
            return invalid("initial_ms must be > 0".into());
        }
        if self.max_ms < self.initial_ms {
            return invalid(format!(
                "max_ms ({}) must be >= initial_ms ({})",
                self.max_ms, self.initial_ms
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
        let nominal: Vec<u64> = (0..8).map(|n| b.nominal_ms(n)).collect();
        assert_eq!(nominal, [100, 200, 400, 800, 1600, 2000, 2000, 2000]);
        assert_eq!(b.nominal_ms(u32::MAX), 2000);
    }

    #[test]
    fn jitter_bounds() {
        let b = Backoff::default();
        assert_eq!(b.delay_with(0, -1.0), Duration::from_millis(80));
        assert_eq!(b.delay_with(0, 1.0), Duration::from_millis(120));
        assert_eq!(b.delay_with(10, 0.0), Duration::from_millis(2000));
        for _ in 0..1000 {
            let d = b.delay(3);
            assert!(d >= Duration::from_millis(640) && d <= Duration::from_millis(960));
        }
    }

    #[test]
    fn exhaustion() {
        let mut b = Backoff::default();
        assert!(!b.exhausted(u32::MAX));
        b.max_retries = Some(2);
        assert!(!b.exhausted(2));
        assert!(b.exhausted(3));
    }

    #[test]
    fn validation() {
        assert!(Backoff::default().validate().is_ok());
        for bad in [
            Backoff {
                initial_ms: 0,
                ..Backoff::default()
            },
            Backoff {
                max_ms: 10,
                ..Backoff::default()
            },
            Backoff {
                factor: 0.5,
                ..Backoff::default()
            },
            Backoff {
                factor: f64::NAN,
                ..Backoff::default()
            },
            Backoff {
                jitter: 1.5,
                ..Backoff::default()
            },
        ] {
            let err = bad.validate().unwrap_err();
            assert!(err.to_string().contains("backoff"), "{err}");
        }
    }
}
