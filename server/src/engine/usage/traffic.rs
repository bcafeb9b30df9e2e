//! Each application's traffic as the gateway sees it: requests by status
//! class, time to the answer's head, and bytes each way. No VM platform
//! can tell this, since it only sees the guest from outside; dpe proxies
//! every request to the one application it knows.
//!
//! The gateway counts into lock-free counters (one relaxed atomic add per
//! event, so the proxy's speed is unchanged); the usage loop takes the
//! difference every 10 s as one window of rates and percentiles, and
//! `/metrics` reads the running totals.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use app::model::TrafficPoint;

/// Upper bounds of the latency buckets, in seconds. Fixed, so windows can
/// be subtracted and summed, and the same buckets are Prometheus's; from
/// a millisecond (a cached page on loopback) to the gateway's 120 s read
/// timeout, about three a decade.
pub const LATENCY_BOUNDS: [f64; 17] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0,
    100.0, 120.0,
];
/// The buckets: one per bound, and one past the last.
const BUCKETS: usize = LATENCY_BOUNDS.len() + 1;

/// An answer's status class, as the counters keep it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusClass {
    Informational,
    Success,
    Redirection,
    ClientError,
    ServerError,
}

impl StatusClass {
    pub const ALL: [StatusClass; 5] = [
        StatusClass::Informational,
        StatusClass::Success,
        StatusClass::Redirection,
        StatusClass::ClientError,
        StatusClass::ServerError,
    ];

    pub fn of(status: u16) -> StatusClass {
        match status {
            0..=199 => StatusClass::Informational,
            200..=299 => StatusClass::Success,
            300..=399 => StatusClass::Redirection,
            400..=499 => StatusClass::ClientError,
            500.. => StatusClass::ServerError,
        }
    }

    /// `2xx` and so on, as `/metrics` labels it.
    pub fn label(self) -> &'static str {
        match self {
            StatusClass::Informational => "1xx",
            StatusClass::Success => "2xx",
            StatusClass::Redirection => "3xx",
            StatusClass::ClientError => "4xx",
            StatusClass::ServerError => "5xx",
        }
    }

    fn index(self) -> usize {
        match self {
            StatusClass::Informational => 0,
            StatusClass::Success => 1,
            StatusClass::Redirection => 2,
            StatusClass::ClientError => 3,
            StatusClass::ServerError => 4,
        }
    }
}

/// One application's running totals since dpe started.
#[derive(Default)]
pub struct AppCounters {
    by_class: [AtomicU64; 5],
    /// Requests by how long their answer's head took, per bucket.
    latency: [AtomicU64; BUCKETS],
    latency_micros: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
}

impl AppCounters {
    /// One answer, `waited` after the request came.
    pub fn answered(&self, status: u16, waited: Duration) {
        self.by_class[StatusClass::of(status).index()].fetch_add(1, Ordering::Relaxed);
        let seconds = waited.as_secs_f64();
        let bucket = LATENCY_BOUNDS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(BUCKETS - 1);
        self.latency[bucket].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(waited.as_micros()).unwrap_or(u64::MAX);
        self.latency_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Body bytes from the visitor to the application.
    pub fn received(&self, bytes: u64) {
        self.bytes_in.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Body bytes from the application to the visitor.
    pub fn sent(&self, bytes: u64) {
        self.bytes_out.fetch_add(bytes, Ordering::Relaxed);
    }

    fn totals(&self) -> Totals {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Totals {
            by_class: self.by_class.each_ref().map(load),
            latency: self.latency.each_ref().map(load),
            latency_seconds: load(&self.latency_micros) as f64 / 1e6,
            bytes_in: load(&self.bytes_in),
            bytes_out: load(&self.bytes_out),
        }
    }
}

/// A snapshot of one application's counters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Totals {
    pub by_class: [u64; 5],
    /// Per bucket of [`LATENCY_BOUNDS`] (and one past), not cumulative.
    pub latency: [u64; BUCKETS],
    pub latency_seconds: f64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

impl Totals {
    pub fn requests(&self) -> u64 {
        self.by_class.iter().sum()
    }

    pub fn of_class(&self, class: StatusClass) -> u64 {
        self.by_class[class.index()]
    }

    /// What happened between `before` and `self`. Counters only grow, so
    /// a saturating difference is exact.
    fn since(&self, before: &Totals) -> Totals {
        let minus = |a: u64, b: u64| a.saturating_sub(b);
        Totals {
            by_class: std::array::from_fn(|i| minus(self.by_class[i], before.by_class[i])),
            latency: std::array::from_fn(|i| minus(self.latency[i], before.latency[i])),
            latency_seconds: (self.latency_seconds - before.latency_seconds).max(0.0),
            bytes_in: minus(self.bytes_in, before.bytes_in),
            bytes_out: minus(self.bytes_out, before.bytes_out),
        }
    }

    /// The `q` quantile of the latency in milliseconds, interpolated
    /// within its bucket as Prometheus's `histogram_quantile` does; none
    /// without requests.
    pub fn latency_quantile_ms(&self, q: f64) -> Option<f64> {
        let count: u64 = self.latency.iter().sum();
        if count == 0 {
            return None;
        }
        let rank = q * count as f64;
        let mut below = 0u64;
        for (i, &n) in self.latency.iter().enumerate() {
            if n > 0 && (below + n) as f64 >= rank {
                let low = if i == 0 { 0.0 } else { LATENCY_BOUNDS[i - 1] };
                // Past the last bound nothing is known but that bound.
                let Some(&high) = LATENCY_BOUNDS.get(i) else {
                    return Some(low * 1000.0);
                };
                let within = ((rank - below as f64) / n as f64).clamp(0.0, 1.0);
                return Some((low + (high - low) * within) * 1000.0);
            }
            below += n;
        }
        None
    }

    /// This window's figures as a chart point, over `seconds`.
    fn point(&self, at: i64, seconds: f64) -> TrafficPoint {
        let rate = |n: u64| n as f64 / seconds;
        TrafficPoint {
            at,
            requests_per_s: rate(self.requests()),
            client_errors_per_s: rate(self.of_class(StatusClass::ClientError)),
            server_errors_per_s: rate(self.of_class(StatusClass::ServerError)),
            p50_ms: self.latency_quantile_ms(0.5),
            p99_ms: self.latency_quantile_ms(0.99),
            bytes_in_bps: rate(self.bytes_in),
            bytes_out_bps: rate(self.bytes_out),
        }
    }
}

/// Every application's counters, and when the last window ended with
/// what totals.
pub struct TrafficMeter {
    apps: RwLock<HashMap<i64, Arc<AppCounters>>>,
    last_window: Mutex<(Instant, HashMap<i64, Totals>)>,
}

impl Default for TrafficMeter {
    fn default() -> TrafficMeter {
        TrafficMeter::since(Instant::now())
    }
}

impl TrafficMeter {
    /// A meter whose first window starts at `start`.
    pub fn since(start: Instant) -> TrafficMeter {
        TrafficMeter {
            apps: RwLock::default(),
            last_window: Mutex::new((start, HashMap::new())),
        }
    }

    /// Instance `instance_id`'s counters, made on its first request.
    pub fn counters(&self, instance_id: i64) -> Arc<AppCounters> {
        let read = self.apps.read().unwrap_or_else(|p| p.into_inner());
        if let Some(counters) = read.get(&instance_id) {
            return counters.clone();
        }
        drop(read);
        let mut write = self.apps.write().unwrap_or_else(|p| p.into_inner());
        write.entry(instance_id).or_default().clone()
    }

    /// Every application's totals since dpe started.
    pub fn totals(&self) -> Vec<(i64, Totals)> {
        let apps = self.apps.read().unwrap_or_else(|p| p.into_inner());
        let mut all: Vec<_> = apps.iter().map(|(id, c)| (*id, c.totals())).collect();
        all.sort_by_key(|(id, _)| *id);
        all
    }

    /// The window from the last call to `now`: one point per application
    /// that has had a request since dpe started (a quiet one reads 0
    /// requests a second, not a gap), stamped `at` (unix seconds).
    pub fn window(&self, at: i64, now: Instant) -> Vec<(i64, TrafficPoint)> {
        let totals = self.totals();
        let mut last = self.last_window.lock().unwrap_or_else(|p| p.into_inner());
        let (then, before) = &*last;
        // At least a second: two windows in one instant say nothing.
        let seconds = now.duration_since(*then).as_secs_f64().max(1.0);
        let points = totals
            .iter()
            .map(|(id, totals)| {
                let before = before.get(id).cloned().unwrap_or_default();
                (*id, totals.since(&before).point(at, seconds))
            })
            .collect();
        *last = (now, totals.into_iter().collect());
        points
    }

    /// Forgets instances that are gone.
    pub fn keep_only(&self, instance_ids: &[i64]) {
        let mut apps = self.apps.write().unwrap_or_else(|p| p.into_inner());
        apps.retain(|id, _| instance_ids.contains(id));
        let mut last = self.last_window.lock().unwrap_or_else(|p| p.into_inner());
        last.1.retain(|id, _| instance_ids.contains(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_is_the_traffic_since_the_last_one_as_rates_and_percentiles() {
        let start = Instant::now();
        let after = |seconds: u64| start + Duration::from_secs(seconds);
        let meter = TrafficMeter::since(start);
        let wiki = meter.counters(7);
        for _ in 0..98 {
            wiki.answered(200, Duration::from_millis(4));
        }
        wiki.answered(404, Duration::from_millis(4));
        wiki.answered(502, Duration::from_secs(3));
        wiki.received(1_000);
        wiki.sent(100_000);
        let [(id, ref first)] = meter.window(1_000, after(10))[..] else {
            panic!("one application");
        };
        assert_eq!(id, 7);
        assert_eq!(first.requests_per_s, 10.0);
        assert_eq!(first.client_errors_per_s, 0.1);
        assert_eq!(first.server_errors_per_s, 0.1);
        assert_eq!(first.bytes_out_bps, 10_000.0);
        assert_eq!(first.bytes_in_bps, 100.0);
        // 99 of 100 in the (2.5, 5] ms bucket: the median half-way in it.
        let p50 = first.p50_ms.unwrap();
        assert!((3.7..=3.8).contains(&p50), "{p50}");
        assert!(first.p99_ms.unwrap() <= 5.0, "{first:?}");

        // Nothing since: a quiet window, not a gap; no latency to tell.
        let [(_, ref quiet)] = meter.window(1_010, after(20))[..] else {
            panic!("one application");
        };
        assert_eq!(quiet.requests_per_s, 0.0);
        assert_eq!(quiet.p99_ms, None);

        wiki.answered(200, Duration::from_secs(200));
        let [(_, ref slow)] = meter.window(1_020, after(30))[..] else {
            panic!("one application");
        };
        assert_eq!(
            slow.p99_ms,
            Some(120_000.0),
            "past the last bound: the bound"
        );
        meter.keep_only(&[]);
        assert!(meter.window(1_030, after(40)).is_empty());
    }

    #[test]
    fn each_status_falls_in_its_class() {
        for (status, class) in [
            (101, "1xx"),
            (204, "2xx"),
            (304, "3xx"),
            (499, "4xx"),
            (504, "5xx"),
        ] {
            assert_eq!(StatusClass::of(status).label(), class);
        }
    }
}
