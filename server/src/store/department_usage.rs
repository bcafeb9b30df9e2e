//! Each department's use of its quota over time (what its instances and
//! its sub-departments' take, beside the quota as it then was), recorded
//! with every round of usage readings, in the store's tiers (`tiers`). A
//! longer period keeps the peak: the question is whether the quota was
//! reached, not how full it was on average.

use app::model::{DepartmentUsagePoint, UsageRange};
use rusqlite::{Connection, Row};

use super::tiers::{Rollup, Tiered};
use super::{StoreError, departments, quotas};

const DEPARTMENT_USAGE: Tiered = Tiered {
    table: "department_samples",
    key: "department_id",
    owner: "departments",
    columns: &[
        ("instances", Rollup::Max),
        ("vcpus", Rollup::Max),
        ("memory_mib", Rollup::Max),
        ("disk_gib", Rollup::Max),
        ("quota_instances", Rollup::Max),
        ("quota_vcpus", Rollup::Max),
        ("quota_memory_mib", Rollup::Max),
        ("quota_disk_gib", Rollup::Max),
    ],
};

/// Records every department's use and quota as they are, at `at`.
pub fn record_now(conn: &Connection, at: i64) -> Result<(), StoreError> {
    let all = departments::list(conn)?;
    let usage = quotas::usage_by_department(conn, &all)?;
    let rows: Vec<(i64, Vec<Option<f64>>)> = all
        .iter()
        .map(|d| {
            let u = usage.get(&d.id).copied().unwrap_or_default();
            let q = d.quota;
            let figures = vec![
                Some(f64::from(u.instances)),
                Some(f64::from(u.vcpus)),
                Some(u.memory_mib as f64),
                Some(u.disk_gib as f64),
                q.instances.map(f64::from),
                q.vcpus.map(f64::from),
                q.memory_mib.map(|m| m as f64),
                q.disk_gib.map(|g| g as f64),
            ];
            (d.id, figures)
        })
        .collect();
    DEPARTMENT_USAGE.record(conn, at, &rows)
}

/// Department `department_id`'s points over `range` up to `now`, oldest
/// first.
pub fn series(
    conn: &Connection,
    department_id: i64,
    range: UsageRange,
    now: i64,
) -> Result<Vec<DepartmentUsagePoint>, StoreError> {
    DEPARTMENT_USAGE.series(conn, department_id, range, now, point)
}

fn point(r: &Row<'_>) -> rusqlite::Result<DepartmentUsagePoint> {
    Ok(DepartmentUsagePoint {
        at: r.get(0)?,
        instances: r.get(1)?,
        vcpus: r.get(2)?,
        memory_mib: r.get(3)?,
        disk_gib: r.get(4)?,
        quota_instances: r.get(5)?,
        quota_vcpus: r.get(6)?,
        quota_memory_mib: r.get(7)?,
        quota_disk_gib: r.get(8)?,
    })
}

#[cfg(test)]
mod tests {
    use app::model::Role;
    use app::quota::Quota;

    use super::*;
    use crate::store::{instances, test_support, users};

    #[test]
    fn a_departments_use_is_recorded_beside_its_quota_and_a_longer_period_keeps_the_peak() {
        let conn = test_support::memory_store();
        let physics = departments::insert(&conn, "physics", None).unwrap();
        let eight = Quota {
            vcpus: Some(8),
            ..Quota::default()
        };
        quotas::set(&conn, quotas::Holder::Department(physics), &eight).unwrap();
        let ann = users::insert(&conn, "ann", None, Role::User).unwrap();
        let start = 1_800_000_000; // a whole hour
        record_now(&conn, start).unwrap();
        let wiki = instances::NewInstance {
            department_id: Some(physics),
            ..test_support::new_instance("u1", "wiki", ann)
        };
        let id = instances::insert(&conn, &wiki).unwrap();
        record_now(&conn, start + 10).unwrap();
        instances::delete(&conn, id).unwrap();
        record_now(&conn, start + 20).unwrap();

        let hour = series(&conn, physics, UsageRange::Hour, start + 30).unwrap();
        let vcpus: Vec<f64> = hour.iter().map(|p| p.vcpus).collect();
        assert_eq!(hour.len(), 3);
        assert!(
            vcpus[0] == 0.0 && vcpus[1] > 0.0 && vcpus[2] == 0.0,
            "{hour:?}"
        );
        assert_eq!(hour[0].quota_vcpus, Some(8.0));
        assert_eq!(hour[0].quota_memory_mib, None, "no quota: none");
        let day = series(&conn, physics, UsageRange::Day, start + 30).unwrap();
        assert_eq!(day.len(), 1);
        assert_eq!(day[0].vcpus, vcpus[1], "the peak of the 5 minutes");
        assert_eq!(day[0].instances, 1.0);
    }
}
