//! Each application's traffic through the gateway over time, in the
//! store's tiers (`tiers`): a window every 10 s kept for a day, then means
//! (and the worst p99) of 5 minutes for a month and of hours for a year.

use app::model::{TrafficPoint, UsageRange};
use rusqlite::{Connection, Row};

use super::StoreError;
use super::tiers::{Rollup, Tiered};

const TRAFFIC: Tiered = Tiered {
    table: "traffic_samples",
    key: "instance_id",
    owner: "instances",
    columns: &[
        ("requests_per_s", Rollup::Mean),
        ("client_errors_per_s", Rollup::Mean),
        ("server_errors_per_s", Rollup::Mean),
        ("p50_ms", Rollup::Mean),
        ("p99_ms", Rollup::Max),
        ("bytes_in_bps", Rollup::Mean),
        ("bytes_out_bps", Rollup::Mean),
    ],
};

/// Records each application's window at `at`; see [`Tiered::record`].
pub fn record(
    conn: &Connection,
    at: i64,
    windows: &[(i64, TrafficPoint)],
) -> Result<(), StoreError> {
    let rows: Vec<(i64, Vec<Option<f64>>)> = windows
        .iter()
        .map(|(id, p)| {
            let figures = vec![
                Some(p.requests_per_s),
                Some(p.client_errors_per_s),
                Some(p.server_errors_per_s),
                p.p50_ms,
                p.p99_ms,
                Some(p.bytes_in_bps),
                Some(p.bytes_out_bps),
            ];
            (*id, figures)
        })
        .collect();
    TRAFFIC.record(conn, at, &rows)
}

/// Instance `instance_id`'s traffic over `range` up to `now`, oldest first.
pub fn series(
    conn: &Connection,
    instance_id: i64,
    range: UsageRange,
    now: i64,
) -> Result<Vec<TrafficPoint>, StoreError> {
    TRAFFIC.series(conn, instance_id, range, now, point)
}

fn point(r: &Row<'_>) -> rusqlite::Result<TrafficPoint> {
    Ok(TrafficPoint {
        at: r.get(0)?,
        requests_per_s: r.get(1)?,
        client_errors_per_s: r.get(2)?,
        server_errors_per_s: r.get(3)?,
        p50_ms: r.get(4)?,
        p99_ms: r.get(5)?,
        bytes_in_bps: r.get(6)?,
        bytes_out_bps: r.get(7)?,
    })
}

#[cfg(test)]
mod tests {
    use app::model::Role;

    use super::*;
    use crate::store::{instances, test_support, users};

    fn window(requests: f64, p99: Option<f64>) -> TrafficPoint {
        TrafficPoint {
            at: 0,
            requests_per_s: requests,
            client_errors_per_s: 0.0,
            server_errors_per_s: 0.0,
            p50_ms: p99.map(|p| p / 10.0),
            p99_ms: p99,
            bytes_in_bps: 0.0,
            bytes_out_bps: 1000.0 * requests,
        }
    }

    #[test]
    fn windows_roll_up_into_means_with_the_worst_p99_and_a_quiet_window_has_no_latency() {
        let conn = test_support::memory_store();
        let ann = users::insert(&conn, "ann", None, Role::User).unwrap();
        let id = instances::insert(&conn, &test_support::new_instance("u1", "wiki", ann)).unwrap();
        let start = 1_800_000_000; // a whole hour
        record(&conn, start, &[(id, window(10.0, Some(20.0)))]).unwrap();
        record(&conn, start + 10, &[(id, window(30.0, Some(900.0)))]).unwrap();
        record(&conn, start + 20, &[(id, window(0.0, None))]).unwrap();
        let hour = series(&conn, id, UsageRange::Hour, start + 30).unwrap();
        assert_eq!(hour.len(), 3);
        assert_eq!(hour[2].p99_ms, None, "no requests, no latency");
        let day = series(&conn, id, UsageRange::Day, start + 30).unwrap();
        let [five] = &day[..] else {
            panic!("one 5 minute point: {day:?}")
        };
        assert!((five.requests_per_s - 40.0 / 3.0).abs() < 1e-9, "{five:?}");
        assert_eq!(five.p99_ms, Some(900.0), "the worst window's");
        assert_eq!(
            five.p50_ms,
            Some(46.0),
            "the mean of the windows that had one"
        );
    }
}
