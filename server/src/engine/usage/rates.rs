//! Turning a domain's counters into rates: each reading against the one
//! before it. A leaf: the engine holds the last readings.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Instant;

use app::model::UsagePoint;

use crate::engine::hypervisor::DomainUsage;

/// The last reading of each running domain, and when it was taken.
#[derive(Default)]
pub struct LastReadings(Mutex<HashMap<String, (Instant, DomainUsage)>>);

impl LastReadings {
    /// The domain's use since its last reading, as of `at` (unix
    /// seconds); `None` for its first reading, or when its counters went
    /// back (it was started again).
    pub fn point(&self, seen: Instant, at: i64, usage: DomainUsage) -> Option<UsagePoint> {
        let mut last = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let before = last.insert(usage.uuid.clone(), (seen, usage.clone()));
        let (then, before) = before?;
        between(&before, &usage, seen.duration_since(then).as_secs_f64(), at)
    }

    /// Forgets the domains not in `running` (stopped, or gone).
    pub fn keep_only(&self, running: &HashSet<String>) {
        let mut last = self.0.lock().unwrap_or_else(|p| p.into_inner());
        last.retain(|uuid, _| running.contains(uuid));
    }
}

/// The rates from reading `a` to reading `b`, `seconds` apart.
fn between(a: &DomainUsage, b: &DomainUsage, seconds: f64, at: i64) -> Option<UsagePoint> {
    // Two readings in the same instant say nothing of a rate.
    if seconds < 0.1 {
        return None;
    }
    let per_second = |from: u64, to: u64| to.checked_sub(from).map(|d| d as f64 / seconds);
    let cpu_ns = per_second(a.cpu_ns, b.cpu_ns)?;
    // cpu.time counts QEMU's own threads too: a busy guest may pass 100.
    let cpu_percent = (cpu_ns / 1e9 / f64::from(b.vcpus.max(1)) * 100.0).min(100.0);
    Some(UsagePoint {
        at,
        cpu_percent,
        memory_used_bytes: b.memory_used_bytes.unwrap_or(b.resident_bytes) as f64,
        memory_bytes: b.memory_bytes as f64,
        disk_read_bps: per_second(a.disk_read_bytes, b.disk_read_bytes)?,
        disk_write_bps: per_second(a.disk_write_bytes, b.disk_write_bytes)?,
        net_rx_bps: per_second(a.net_rx_bytes, b.net_rx_bytes)?,
        net_tx_bps: per_second(a.net_tx_bytes, b.net_tx_bytes)?,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn usage(cpu_s: u64, disk: u64) -> DomainUsage {
        DomainUsage {
            uuid: "d".into(),
            cpu_ns: cpu_s * 1_000_000_000,
            vcpus: 2,
            memory_bytes: 1 << 30,
            memory_used_bytes: None,
            resident_bytes: 300 << 20,
            disk_read_bytes: 0,
            disk_write_bytes: disk,
            net_rx_bytes: 0,
            net_tx_bytes: 0,
        }
    }

    #[test]
    fn the_second_reading_gives_rates_over_the_time_between_and_a_restart_gives_none() {
        let last = LastReadings::default();
        let t0 = Instant::now();
        assert_eq!(last.point(t0, 100, usage(10, 0)), None, "a first reading");
        let p = last
            .point(t0 + Duration::from_secs(10), 110, usage(15, 40_960))
            .unwrap();
        assert_eq!(p.at, 110);
        assert_eq!(p.cpu_percent, 25.0, "5 s of CPU in 10 s on 2 vCPUs");
        assert_eq!(p.disk_write_bps, 4096.0);
        assert_eq!(
            p.memory_used_bytes,
            (300 << 20) as f64,
            "no balloon report: resident"
        );
        assert_eq!(
            last.point(t0 + Duration::from_secs(20), 120, usage(1, 0)),
            None,
            "started again: its counters went back"
        );
        last.keep_only(&HashSet::new());
        assert_eq!(
            last.point(t0 + Duration::from_secs(30), 130, usage(2, 0)),
            None,
            "forgotten when it stopped"
        );
    }
}
