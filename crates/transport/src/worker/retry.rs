//! The bookkeeping both reconnect loops share: counting failed attempts, saying a
//! refusal of credentials or permissions once, and the wait before the next attempt.

use std::time::Duration;

use tracing::{debug, error, warn};

use crate::backoff::Backoff;
use crate::event::Role;
use crate::shared::millis;

/// Wait between reconnect attempts refused for credentials or permissions
/// (`WRONGPASS`, `NOAUTH`, `NOPERM`): retrying can help only once an operator
/// acted, so it is slow, and said at error level once per outage.
pub(crate) const DENIED_RETRY: Duration = Duration::from_secs(1);

/// The failed attempts of one outage of one connection.
#[derive(Debug)]
pub(crate) struct Attempts {
    role: Role,
    failures: u32,
    told_denied: bool,
}

/// What to do after a failed attempt.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Try again after this wait.
    Retry(Duration),
    /// Stop: the back-off's retry limit is reached after this many failures.
    GiveUp(u32),
}

impl Attempts {
    /// A new outage of the `role` connection.
    pub(crate) fn new(role: Role) -> Attempts {
        Attempts {
            role,
            failures: 0,
            told_denied: false,
        }
    }

    /// Counts a failed attempt (`denied`: refused for credentials or
    /// permissions), logs it, and says what comes next under `backoff`.
    pub(crate) fn failed(&mut self, error: &str, denied: bool, backoff: &Backoff) -> Next {
        self.failures = self.failures.saturating_add(1);
        let (role, failures) = (self.role, self.failures);
        if denied && !std::mem::replace(&mut self.told_denied, true) {
            // Retried (an operator may fix the password or the ACL rule), but said
            // loudly once per outage.
            error!(%role, %error, "redis {role}: credentials or permissions refused; retrying every {} ms", millis(DENIED_RETRY));
        } else {
            debug!(%role, %error, failures, "redis reconnect attempt failed");
        }
        if backoff.exhausted(failures) {
            warn!(%role, %error, failures, "redis {role} gave up reconnecting");
            return Next::GiveUp(failures);
        }
        let delay = backoff.delay(failures - 1);
        Next::Retry(if denied {
            delay.max(DENIED_RETRY)
        } else {
            delay
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denied_attempts_wait_longer_and_the_limit_gives_up() {
        let backoff = Backoff::default().max_retries(Some(2));
        let mut a = Attempts::new(Role::Publisher);
        assert!(matches!(a.failed("refused", false, &backoff), Next::Retry(d) if d < DENIED_RETRY));
        assert_eq!(
            a.failed("WRONGPASS", true, &backoff),
            Next::Retry(DENIED_RETRY)
        );
        assert_eq!(a.failed("refused", false, &backoff), Next::GiveUp(3));
    }
}
