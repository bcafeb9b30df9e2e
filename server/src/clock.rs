//! The time that leases run by, injectable: the appliance reads the
//! system's clock, tests a [`ManualClock`] that they move on by days in an
//! instant. And the one way dpe writes a time for people and documents.

use std::sync::atomic::{AtomicI64, Ordering};

/// Unix seconds now.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> i64;
}

/// The system's clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        crate::store::now()
    }
}

/// A clock that stands still until moved: for tests.
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// Starting at the system's time now.
    pub fn starting_now() -> ManualClock {
        ManualClock(AtomicI64::new(crate::store::now()))
    }

    /// Moves the clock on by `seconds`.
    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Unix milliseconds `ms` in RFC 3339, UTC (`2026-12-06T14:05:00.250Z`);
/// the bare number for a time out of range.
pub fn rfc3339_ms(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

/// Unix seconds `at` in RFC 3339, UTC (`2026-12-06T14:05:00Z`).
pub fn rfc3339(at: i64) -> String {
    rfc3339_ms(at.saturating_mul(1000))
}

/// Unix seconds `at` to the minute, for a name people read
/// (`2026-12-06 14:05 UTC`).
pub fn minute_utc(at: i64) -> String {
    let t = rfc3339(at - at.rem_euclid(60));
    match t.split_once('T') {
        Some((day, time)) => format!("{day} {} UTC", time.get(..5).unwrap_or(time)),
        None => t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_in_utc_to_the_second_the_millisecond_and_the_minute() {
        assert_eq!(rfc3339(1_796_565_900), "2026-12-06T14:05:00Z");
        assert_eq!(rfc3339_ms(1_796_565_900_250), "2026-12-06T14:05:00.25Z");
        assert_eq!(minute_utc(1_796_565_959), "2026-12-06 14:05 UTC");
        assert_eq!(rfc3339_ms(i64::MAX), i64::MAX.to_string());
    }
}
