//! A host's own CPU counters turned into a share of its CPUs: each
//! reading against the one before it. A leaf: the engine holds the last
//! readings.

use std::collections::HashMap;
use std::sync::Mutex;

use app::model::HostUsagePoint;

use crate::engine::hypervisor::HostUsage;

/// The last reading of each host's own figures, by host id.
#[derive(Default)]
pub struct LastHostReadings(Mutex<HashMap<i64, HostUsage>>);

impl LastHostReadings {
    /// The host's figures since its last reading, as of `at` (unix
    /// seconds), with its guests' network rates summed (`net`: received,
    /// sent); `None` for its first reading, or when its counters went back
    /// (it was booted again).
    pub fn point(
        &self,
        host_id: i64,
        at: i64,
        usage: HostUsage,
        net: (f64, f64),
    ) -> Option<HostUsagePoint> {
        let mut last = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let before = last.insert(host_id, usage.clone())?;
        let busy = usage.cpu_busy_ns.checked_sub(before.cpu_busy_ns)?;
        let total = usage.cpu_total_ns.checked_sub(before.cpu_total_ns)?;
        // A host whose counters stood still (libvirt's test driver) was
        // not busy.
        let cpu_percent = match total {
            0 => 0.0,
            total => (busy as f64 / total as f64 * 100.0).min(100.0),
        };
        Some(HostUsagePoint {
            at,
            cpu_percent,
            memory_used_bytes: usage.memory_used_bytes as f64,
            memory_bytes: usage.memory_bytes as f64,
            storage_used_bytes: usage.storage_used_bytes as f64,
            storage_bytes: usage.storage_bytes as f64,
            net_rx_bps: net.0,
            net_tx_bps: net.1,
        })
    }

    /// Forgets the hosts not read this round (removed, or down): a host
    /// that comes back starts again from a first reading.
    pub fn keep_only(&self, read: &[i64]) {
        let mut last = self.0.lock().unwrap_or_else(|p| p.into_inner());
        last.retain(|id, _| read.contains(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(busy_s: u64, total_s: u64) -> HostUsage {
        HostUsage {
            cpu_busy_ns: busy_s * 1_000_000_000,
            cpu_total_ns: total_s * 1_000_000_000,
            memory_bytes: 8 << 30,
            memory_used_bytes: 2 << 30,
            storage_used_bytes: 10 << 30,
            storage_bytes: 100 << 30,
        }
    }

    #[test]
    fn a_hosts_cpu_share_is_its_busy_time_of_all_its_cpus_time_since_the_last_reading() {
        let last = LastHostReadings::default();
        assert_eq!(last.point(1, 100, usage(10, 100), (0.0, 0.0)), None);
        // 10 s on 4 CPUs: 40 s of CPU time, 10 of it busy.
        let p = last.point(1, 110, usage(20, 140), (5.0, 7.0)).unwrap();
        assert_eq!(p.cpu_percent, 25.0);
        assert_eq!(p.memory_used_bytes, (2u64 << 30) as f64);
        assert_eq!((p.net_rx_bps, p.net_tx_bps), (5.0, 7.0));
        let still = last.point(1, 120, usage(20, 140), (0.0, 0.0)).unwrap();
        assert_eq!(still.cpu_percent, 0.0, "counters that stood still");
        assert_eq!(
            last.point(1, 130, usage(1, 2), (0.0, 0.0)),
            None,
            "booted again"
        );
        last.keep_only(&[]);
        assert_eq!(
            last.point(1, 140, usage(2, 3), (0.0, 0.0)),
            None,
            "forgotten while it was not read"
        );
    }
}
