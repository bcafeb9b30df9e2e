//! Sign-in throttling, per account and per peer address (GCRA from
//! `governor`): a burst of attempts, then one more every 60/N seconds.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

pub struct SignInThrottle {
    per_account: DefaultKeyedRateLimiter<String>,
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
}

impl SignInThrottle {
    /// `per_account` and `per_address` are attempts a minute.
    pub fn new(per_account: NonZeroU32, per_address: NonZeroU32) -> Self {
        SignInThrottle {
            per_account: RateLimiter::keyed(Quota::per_minute(per_account)),
            per_address: RateLimiter::keyed(Quota::per_minute(per_address)),
            clock: DefaultClock::default(),
        }
    }

    /// Counts one attempt; `Err(wait)` when it must be refused.
    pub fn attempt(&self, account: &str, peer: IpAddr) -> Result<(), Duration> {
        let now = self.clock.now();
        // Check the address first so that one address cannot use up (and so
        // lock out) many accounts.
        self.per_address
            .check_key(&peer)
            .map_err(|not_until| not_until.wait_time_from(now))?;
        self.per_account
            .check_key(&account.to_owned())
            .map_err(|not_until| not_until.wait_time_from(now))
    }

    /// Forgets keys whose budget is whole again, to bound memory.
    pub fn prune(&self) {
        self.per_account.retain_recent();
        self.per_address.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_after_the_burst_and_tells_how_long_to_wait() {
        let t = SignInThrottle::new(NonZeroU32::new(3).unwrap(), NonZeroU32::new(100).unwrap());
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..3 {
            assert!(t.attempt("ann", ip).is_ok());
        }
        let wait = t.attempt("ann", ip).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert!(
            t.attempt("bob", ip).is_ok(),
            "other accounts are not affected"
        );
    }

    #[test]
    fn one_address_is_limited_across_accounts() {
        let t = SignInThrottle::new(NonZeroU32::new(100).unwrap(), NonZeroU32::new(2).unwrap());
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(t.attempt("a", ip).is_ok());
        assert!(t.attempt("b", ip).is_ok());
        assert!(t.attempt("c", ip).is_err());
        assert!(t.attempt("c", "10.0.0.2".parse().unwrap()).is_ok());
    }
}
