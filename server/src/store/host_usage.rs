//! What each host's machine uses over time, in the store's tiers
//! (`tiers`), as an instance's use is kept: a reading every 10 s kept for
//! a day, the mean of each 5 minutes kept for a month, of each hour kept
//! for a year.

use app::model::{HostUsagePoint, UsageRange};
use rusqlite::{Connection, Row};

use super::StoreError;
use super::tiers::{Rollup, Tiered};

const HOST_USAGE: Tiered = Tiered {
    table: "host_samples",
    key: "host_id",
    owner: "hosts",
    columns: &[
        ("cpu_percent", Rollup::Mean),
        ("memory_used_bytes", Rollup::Mean),
        ("memory_bytes", Rollup::Mean),
        ("storage_used_bytes", Rollup::Mean),
        ("storage_bytes", Rollup::Mean),
        ("net_rx_bps", Rollup::Mean),
        ("net_tx_bps", Rollup::Mean),
    ],
};

/// Records each host's reading at `at` (unix seconds; kept at the start
/// of its 10 s), rolls it into the coarser tiers and drops rows past their
/// tier's span. A reading of a host removed since is dropped.
pub fn record(
    conn: &Connection,
    at: i64,
    readings: &[(i64, HostUsagePoint)],
) -> Result<(), StoreError> {
    let rows: Vec<(i64, Vec<f64>)> = readings
        .iter()
        .map(|(id, p)| {
            let figures = vec![
                p.cpu_percent,
                p.memory_used_bytes,
                p.memory_bytes,
                p.storage_used_bytes,
                p.storage_bytes,
                p.net_rx_bps,
                p.net_tx_bps,
            ];
            (*id, figures)
        })
        .collect();
    HOST_USAGE.record(conn, at, &rows)
}

/// Host `host_id`'s points over `range` up to `now`, oldest first.
pub fn series(
    conn: &Connection,
    host_id: i64,
    range: UsageRange,
    now: i64,
) -> Result<Vec<HostUsagePoint>, StoreError> {
    HOST_USAGE.series(conn, host_id, range, now, point)
}

/// Each host's newest 10 s reading at or after `since`, by host id.
pub fn latest(conn: &Connection, since: i64) -> Result<Vec<(i64, HostUsagePoint)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT s.host_id, s.at, s.cpu_percent, s.memory_used_bytes, s.memory_bytes,
                s.storage_used_bytes, s.storage_bytes, s.net_rx_bps, s.net_tx_bps
         FROM host_samples s
         WHERE s.tier = 10 AND s.at >= ?1
           AND s.at = (SELECT max(at) FROM host_samples
                       WHERE host_id = s.host_id AND tier = 10)",
    )?;
    let rows = stmt
        .query_map([since], |r| Ok((r.get(0)?, point_from(r, 1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

fn point(r: &Row<'_>) -> rusqlite::Result<HostUsagePoint> {
    point_from(r, 0)
}

/// A point from `at` and the figures in the columns' order, from column
/// `first` on.
fn point_from(r: &Row<'_>, first: usize) -> rusqlite::Result<HostUsagePoint> {
    Ok(HostUsagePoint {
        at: r.get(first)?,
        cpu_percent: r.get(first + 1)?,
        memory_used_bytes: r.get(first + 2)?,
        memory_bytes: r.get(first + 3)?,
        storage_used_bytes: r.get(first + 4)?,
        storage_bytes: r.get(first + 5)?,
        net_rx_bps: r.get(first + 6)?,
        net_tx_bps: r.get(first + 7)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{hosts, test_support};

    fn store_with_host() -> (Connection, i64) {
        let conn = test_support::memory_store();
        conn.pragma_update(None, "foreign_keys", true).unwrap();
        let id = hosts::insert(&conn, "h1", "test:///default", "/tmp", "default").unwrap();
        (conn, id)
    }

    fn reading(cpu: f64) -> HostUsagePoint {
        HostUsagePoint {
            at: 0,
            cpu_percent: cpu,
            memory_used_bytes: 2.0 * 1024.0 * 1024.0 * 1024.0,
            memory_bytes: 8.0 * 1024.0 * 1024.0 * 1024.0,
            storage_used_bytes: 40e9,
            storage_bytes: 100e9,
            net_rx_bps: 100.0,
            net_tx_bps: 200.0,
        }
    }

    fn count(conn: &Connection, tier: i64) -> i64 {
        conn.query_row(
            "SELECT COUNT(*) FROM host_samples WHERE tier = ?1",
            [tier],
            |r| r.get(0),
        )
        .unwrap()
    }

    #[test]
    fn a_hosts_readings_roll_up_into_five_minute_and_hourly_means_in_bounded_tiers() {
        let (conn, id) = store_with_host();
        // A day and a half of readings every 10 s, CPU 20% in even hours
        // and 60% in odd ones, at 3 s past each 10 s.
        let start = 1_800_000_000; // a whole hour
        let end = start + 36 * 3600;
        let mut at = start;
        while at < end {
            let cpu = if (at - start) / 3600 % 2 == 0 {
                20.0
            } else {
                60.0
            };
            record(&conn, at + 3, &[(id, reading(cpu))]).unwrap();
            at += 10;
        }
        assert_eq!(count(&conn, 10), 8640, "a day of 10 s readings, no more");
        assert_eq!(count(&conn, 300), 36 * 12);
        assert_eq!(count(&conn, 3600), 36);

        let hour = series(&conn, id, UsageRange::Hour, end).unwrap();
        assert_eq!(hour.len(), 359);
        assert!(hour.iter().all(|p| p.cpu_percent == 60.0));
        let day = series(&conn, id, UsageRange::Day, end).unwrap();
        assert_eq!(day.len(), 287);
        let month = series(&conn, id, UsageRange::Month, end).unwrap();
        let cpus: Vec<f64> = month.iter().map(|p| p.cpu_percent).collect();
        assert_eq!(&cpus[..4], &[20.0, 60.0, 20.0, 60.0]);
        assert_eq!(month[0].storage_used_bytes, 40e9);

        let latest = latest(&conn, end - 60).unwrap();
        assert_eq!(latest.len(), 1);
        assert_eq!(latest[0].0, id);
        assert_eq!(latest[0].1.at, end - 10);
        assert!(
            super::latest(&conn, end + 60).unwrap().is_empty(),
            "none fresh"
        );
    }

    #[test]
    fn a_removed_hosts_readings_go_with_it_and_later_ones_are_dropped() {
        let (conn, id) = store_with_host();
        let hour = 1_800_000_000;
        record(&conn, hour, &[(id, reading(10.0))]).unwrap();
        assert_eq!(count(&conn, 10), 1);
        assert_eq!(count(&conn, 3600), 1);
        conn.execute("DELETE FROM hosts WHERE id = ?1", [id])
            .unwrap();
        record(&conn, hour + 10, &[(id, reading(10.0))]).unwrap();
        let left: i64 = conn
            .query_row("SELECT COUNT(*) FROM host_samples", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 0);
    }
}
