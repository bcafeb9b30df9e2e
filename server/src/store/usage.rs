//! What instances used over time, in the store's tiers (`tiers`): a
//! reading every 10 s kept for a day, the mean of each 5 minutes kept for
//! a month, of each hour kept for a year.

use app::model::{UsagePoint, UsageRange};
use rusqlite::{Connection, Row};

use super::StoreError;
use super::tiers::{Rollup, Tiered};

const USAGE: Tiered = Tiered {
    table: "usage_samples",
    key: "instance_id",
    owner: "instances",
    columns: &[
        ("cpu_percent", Rollup::Mean),
        ("memory_used_bytes", Rollup::Mean),
        ("memory_bytes", Rollup::Mean),
        ("disk_read_bps", Rollup::Mean),
        ("disk_write_bps", Rollup::Mean),
        ("net_rx_bps", Rollup::Mean),
        ("net_tx_bps", Rollup::Mean),
    ],
};

/// Records each instance's reading at `at` (unix seconds; kept at the
/// start of its 10 s), rolls it into the coarser tiers and drops rows past
/// their tier's span. A reading of an instance gone since is dropped.
pub fn record(
    conn: &Connection,
    at: i64,
    readings: &[(i64, UsagePoint)],
) -> Result<(), StoreError> {
    let rows: Vec<(i64, Vec<f64>)> = readings
        .iter()
        .map(|(id, p)| {
            let figures = vec![
                p.cpu_percent,
                p.memory_used_bytes,
                p.memory_bytes,
                p.disk_read_bps,
                p.disk_write_bps,
                p.net_rx_bps,
                p.net_tx_bps,
            ];
            (*id, figures)
        })
        .collect();
    USAGE.record(conn, at, &rows)
}

/// Instance `instance_id`'s points over `range` up to `now`, oldest first.
pub fn series(
    conn: &Connection,
    instance_id: i64,
    range: UsageRange,
    now: i64,
) -> Result<Vec<UsagePoint>, StoreError> {
    USAGE.series(conn, instance_id, range, now, point)
}

fn point(r: &Row<'_>) -> rusqlite::Result<UsagePoint> {
    Ok(UsagePoint {
        at: r.get(0)?,
        cpu_percent: r.get(1)?,
        memory_used_bytes: r.get(2)?,
        memory_bytes: r.get(3)?,
        disk_read_bps: r.get(4)?,
        disk_write_bps: r.get(5)?,
        net_rx_bps: r.get(6)?,
        net_tx_bps: r.get(7)?,
    })
}

#[cfg(test)]
mod tests {
    use app::model::Role;

    use super::*;
    use crate::store::{instances, test_support, users};

    fn store_with_instance() -> (Connection, i64) {
        let conn = test_support::memory_store();
        conn.pragma_update(None, "foreign_keys", true).unwrap();
        let ann = users::insert(&conn, "ann", None, Role::User).unwrap();
        let id = instances::insert(&conn, &test_support::new_instance("u1", "wiki", ann)).unwrap();
        (conn, id)
    }

    fn reading(cpu: f64) -> UsagePoint {
        UsagePoint {
            at: 0,
            cpu_percent: cpu,
            memory_used_bytes: 512.0 * 1024.0 * 1024.0,
            memory_bytes: 1024.0 * 1024.0 * 1024.0,
            disk_read_bps: 0.0,
            disk_write_bps: 4096.0,
            net_rx_bps: 100.0,
            net_tx_bps: 200.0,
        }
    }

    #[test]
    fn readings_roll_up_into_five_minute_and_hourly_means_and_each_tier_keeps_a_bounded_span() {
        let (conn, id) = store_with_instance();
        // A day and a half of readings every 10 s, CPU 10% in even hours
        // and 30% in odd ones; at 7 s past each 10 s, which is kept at its
        // start.
        let start = 1_800_000_000; // a whole hour
        let end = start + 36 * 3600;
        let mut at = start;
        while at < end {
            let cpu = if (at - start) / 3600 % 2 == 0 {
                10.0
            } else {
                30.0
            };
            record(&conn, at + 7, &[(id, reading(cpu))]).unwrap();
            at += 10;
        }
        let count = |tier: i64| -> i64 {
            conn.query_row(
                "SELECT COUNT(*) FROM usage_samples WHERE tier = ?1",
                [tier],
                |r| r.get(0),
            )
            .unwrap()
        };
        assert_eq!(count(10), 8640, "a day of 10 s readings, no more");
        assert_eq!(count(300), 36 * 12, "within a month: all kept");
        assert_eq!(count(3600), 36);

        let now = end;
        let hour = series(&conn, id, UsageRange::Hour, now).unwrap();
        assert_eq!(
            hour.len(),
            359,
            "the points after an hour ago, the last at `now - 10`"
        );
        assert_eq!(hour[0].at, now - 3600 + 10);
        assert!(
            hour.iter().all(|p| p.cpu_percent == 30.0),
            "the last hour is odd"
        );
        let day = series(&conn, id, UsageRange::Day, now).unwrap();
        assert_eq!(day.len(), 287, "5 minute points after a day ago");
        assert!(day.windows(2).all(|w| w[1].at - w[0].at == 300));
        let month = series(&conn, id, UsageRange::Month, now).unwrap();
        assert_eq!(month.len(), 36);
        let cpus: Vec<f64> = month.iter().map(|p| p.cpu_percent).collect();
        assert_eq!(&cpus[..4], &[10.0, 30.0, 10.0, 30.0]);
        assert_eq!(month[0].disk_write_bps, 4096.0);

        // Recording the same reading again changes nothing.
        record(&conn, end - 3, &[(id, reading(30.0))]).unwrap();
        assert_eq!(series(&conn, id, UsageRange::Month, now).unwrap(), month);
    }

    #[test]
    fn an_hours_mean_is_of_the_periods_that_had_readings_and_a_gone_instance_keeps_none() {
        let (conn, id) = store_with_instance();
        let hour = 1_800_000_000; // a whole hour
        // Two readings in the hour's first 5 minutes, one in its last.
        record(&conn, hour, &[(id, reading(20.0))]).unwrap();
        record(&conn, hour + 10, &[(id, reading(40.0))]).unwrap();
        record(&conn, hour + 3300, &[(id, reading(90.0))]).unwrap();
        let month = series(&conn, id, UsageRange::Month, hour + 3600).unwrap();
        assert_eq!(month.len(), 1);
        assert_eq!(month[0].cpu_percent, 60.0, "the mean of 30 and 90");

        record(&conn, hour + 3310, &[(id + 1, reading(50.0))]).unwrap();
        conn.execute("DELETE FROM instances WHERE id = ?1", [id])
            .unwrap();
        let left: i64 = conn
            .query_row("SELECT COUNT(*) FROM usage_samples", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 0);
    }
}
