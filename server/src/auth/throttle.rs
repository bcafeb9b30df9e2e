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
    /// Tries of the setup code, per address: a code of ~79 bits needs no
    /// tighter bound, and a person correcting the wizard's other fields
    /// sends it again with each try.
    setup_code: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
}

/// Setup-code tries a minute from one address.
const SETUP_CODE_PER_MINUTE: NonZeroU32 = NonZeroU32::new(30).expect("non-zero");

impl SignInThrottle {
    /// `per_account` and `per_address` are attempts a minute.
    pub fn new(per_account: NonZeroU32, per_address: NonZeroU32) -> Self {
        SignInThrottle {
            per_account: RateLimiter::keyed(Quota::per_minute(per_account)),
            per_address: RateLimiter::keyed(Quota::per_minute(per_address)),
            setup_code: RateLimiter::keyed(Quota::per_minute(SETUP_CODE_PER_MINUTE)),
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

    /// Counts one try of the setup code; `Err(wait)` when it must be
    /// refused. Every try counts, right or wrong, so that the answer tells
    /// nothing while refused.
    pub fn attempt_setup_code(&self, peer: IpAddr) -> Result<(), Duration> {
        let now = self.clock.now();
        self.setup_code
            .check_key(&peer)
            .map_err(|not_until| not_until.wait_time_from(now))
    }

    /// Forgets keys whose budget is whole again, to bound memory.
    pub fn prune(&self) {
        self.per_account.retain_recent();
        self.per_address.retain_recent();
        self.setup_code.retain_recent();
    }
}

/// Throttled attempts, so that a flood leaves one audit record per address
/// and minute, saying how many were refused, instead of one per request.
#[derive(Default)]
pub struct RefusalTally {
    by_address: std::sync::Mutex<std::collections::HashMap<IpAddr, Tally>>,
}

struct Tally {
    /// When the last record was written.
    recorded_at: std::time::Instant,
    /// Refusals since then.
    unrecorded: u64,
}

/// At most one audit record per address in this window.
const TALLY_WINDOW: Duration = Duration::from_secs(60);

impl RefusalTally {
    /// Counts a refusal from `peer`. `Some(n)` says to write a record now,
    /// for `n` refusals (this one and those counted since the last record).
    pub fn refused(&self, peer: IpAddr) -> Option<u64> {
        self.refused_at(peer, std::time::Instant::now())
    }

    fn refused_at(&self, peer: IpAddr, now: std::time::Instant) -> Option<u64> {
        let mut map = self.by_address.lock().unwrap_or_else(|p| p.into_inner());
        match map.get_mut(&peer) {
            Some(tally) if now.duration_since(tally.recorded_at) < TALLY_WINDOW => {
                tally.unrecorded += 1;
                None
            }
            Some(_) | None => {
                let n = map.get(&peer).map_or(0, |t| t.unrecorded) + 1;
                map.insert(
                    peer,
                    Tally {
                        recorded_at: now,
                        unrecorded: 0,
                    },
                );
                // Bounded memory: addresses quiet for two windows go.
                map.retain(|_, t| now.duration_since(t.recorded_at) < TALLY_WINDOW * 2);
                Some(n)
            }
        }
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
    fn a_flood_of_refusals_is_recorded_once_a_window_with_its_count() {
        let tally = RefusalTally::default();
        let ip: IpAddr = "10.0.0.9".parse().unwrap();
        let t0 = std::time::Instant::now();
        assert_eq!(tally.refused_at(ip, t0), Some(1));
        for s in 1..=5 {
            assert_eq!(tally.refused_at(ip, t0 + Duration::from_secs(s)), None);
        }
        assert_eq!(tally.refused_at("10.0.0.8".parse().unwrap(), t0), Some(1));
        assert_eq!(tally.refused_at(ip, t0 + TALLY_WINDOW), Some(6));
        assert_eq!(tally.refused_at(ip, t0 + TALLY_WINDOW), None);
    }

    #[test]
    fn setup_code_tries_are_limited_per_address() {
        let t = SignInThrottle::new(NonZeroU32::new(1).unwrap(), NonZeroU32::new(1).unwrap());
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..SETUP_CODE_PER_MINUTE.get() {
            assert!(t.attempt_setup_code(ip).is_ok());
        }
        assert!(t.attempt_setup_code(ip).is_err());
        assert!(t.attempt_setup_code("10.0.0.2".parse().unwrap()).is_ok());
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
