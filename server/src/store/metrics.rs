//! What `/metrics` reads: a handful of aggregate queries, run together on
//! one reader per scrape (never one per series).

use app::model::{
    HostFigures, InstanceLabels, InstanceUsage, MetricsSnapshot, PoolCount, StepTotals, TaskCount,
    UsagePoint,
};
use std::collections::{HashMap, HashSet};

use rusqlite::{Connection, Row};

use super::StoreError;
use super::states::text_column;

/// A reading older than this is of an instance that stopped, or of a host
/// no longer read: left out rather than shown as current.
const FRESH_SECS: i64 = 60;

/// Everything one scrape reports from the store, as of `now` (unix s).
pub fn snapshot(conn: &Connection, now: i64) -> Result<MetricsSnapshot, StoreError> {
    let store_bytes: i64 = conn.query_row(
        "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
        [],
        |r| r.get(0),
    )?;
    let instances = conn
        .prepare_cached("SELECT status, count(*) FROM instances GROUP BY status")?
        .query_map([], |r| Ok((text_column(r, 0)?, r.get::<_, u64>(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let tasks = conn
        .prepare_cached("SELECT kind, state, count(*) FROM tasks GROUP BY kind, state")?
        .query_map([], |r| {
            Ok(TaskCount {
                kind: text_column(r, 0)?,
                state: text_column(r, 1)?,
                count: r.get(2)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let steps = conn
        .prepare_cached(
            "SELECT t.kind, s.name, count(*), total(s.finished_ms - s.started_ms) / 1000.0
             FROM task_steps s JOIN tasks t ON t.id = s.task_id
             WHERE s.state = 'done' AND s.started_ms IS NOT NULL AND s.finished_ms IS NOT NULL
             GROUP BY t.kind, s.name",
        )?
        .query_map([], |r| {
            Ok(StepTotals {
                kind: text_column(r, 0)?,
                step: r.get(1)?,
                count: r.get(2)?,
                seconds: r.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let pool = conn
        .prepare_cached("SELECT size, state, count(*) FROM pool_members GROUP BY size, state")?
        .query_map([], |r| {
            Ok(PoolCount {
                size: r.get(0)?,
                state: text_column(r, 1)?,
                count: r.get(2)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let instance_usage: Vec<InstanceUsage> = conn
        .prepare_cached(&format!(
            "SELECT {LABEL_COLUMNS},
                    u.at, u.cpu_percent, u.memory_used_bytes, u.memory_bytes,
                    u.disk_read_bps, u.disk_write_bps, u.net_rx_bps, u.net_tx_bps
             FROM instances i
             JOIN usage_samples u ON u.instance_id = i.id AND u.tier = 10
                  AND u.at = (SELECT max(at) FROM usage_samples
                              WHERE instance_id = i.id AND tier = 10)
             LEFT JOIN departments d ON d.id = i.department_id
             LEFT JOIN hosts h ON h.id = i.host_id
             WHERE u.at >= ?1
             ORDER BY i.name"
        ))?
        .query_map([now - FRESH_SECS], |r| {
            Ok(InstanceUsage {
                labels: labels_at(r)?,
                usage: point_at(r, 5)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut own = super::host_usage::latest(conn, now - FRESH_SECS)?;
    let hosts = conn
        .prepare_cached(
            "SELECT h.id, h.name, h.unreachable_since IS NULL,
                    (SELECT count(*) FROM instances WHERE host_id = h.id)
             FROM hosts h ORDER BY h.name",
        )?
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                HostFigures {
                    name: r.get(1)?,
                    reachable: r.get(2)?,
                    instances: r.get(3)?,
                    usage: zero_point(),
                    own: None,
                },
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let hosts = hosts
        .into_iter()
        .map(|(id, host)| {
            let usage = instance_usage
                .iter()
                .filter(|i| i.labels.host == host.name)
                .fold(zero_point(), |sum, i| add(sum, &i.usage));
            let own = own
                .iter()
                .position(|(host_id, _)| *host_id == id)
                .map(|i| own.swap_remove(i).1);
            HostFigures { usage, own, ..host }
        })
        .collect();
    Ok(MetricsSnapshot {
        store_bytes: u64::try_from(store_bytes).unwrap_or(0),
        instances,
        tasks,
        steps,
        pool,
        hosts,
        instance_usage,
        app_traffic: Vec::new(),
        reconcile_passes: 0,
        reconcile_seconds: 0.0,
        reconcile_last_seconds: 0.0,
    })
}

/// The columns every instance's labels are read from, in
/// [`labels_at`]'s order, with `i` the instance, `d` its department and
/// `h` its host.
const LABEL_COLUMNS: &str = "i.name, i.uuid, coalesce(d.name, ''), i.size, coalesce(h.name, '')";

fn labels_at(r: &Row<'_>) -> rusqlite::Result<InstanceLabels> {
    Ok(InstanceLabels {
        name: r.get(0)?,
        uuid: r.get(1)?,
        department: r.get(2)?,
        size: r.get(3)?,
        host: r.get(4)?,
    })
}

/// The labels of each of the instances `ids` that still exists: one
/// query for them all, not one each.
pub fn labels_of(
    conn: &Connection,
    ids: &HashSet<i64>,
) -> Result<HashMap<i64, InstanceLabels>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {LABEL_COLUMNS}, i.id FROM instances i
         LEFT JOIN departments d ON d.id = i.department_id
         LEFT JOIN hosts h ON h.id = i.host_id"
    ))?;
    let mut found = HashMap::new();
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let id: i64 = row.get(5)?;
        if ids.contains(&id) {
            found.insert(id, labels_at(row)?);
        }
    }
    Ok(found)
}

/// The reading in the row's columns from `first` on (`at`, then the
/// figures in the usage store's order).
fn point_at(r: &Row<'_>, first: usize) -> rusqlite::Result<UsagePoint> {
    Ok(UsagePoint {
        at: r.get(first)?,
        cpu_percent: r.get(first + 1)?,
        memory_used_bytes: r.get(first + 2)?,
        memory_bytes: r.get(first + 3)?,
        disk_read_bps: r.get(first + 4)?,
        disk_write_bps: r.get(first + 5)?,
        net_rx_bps: r.get(first + 6)?,
        net_tx_bps: r.get(first + 7)?,
    })
}

fn zero_point() -> UsagePoint {
    UsagePoint {
        at: 0,
        cpu_percent: 0.0,
        memory_used_bytes: 0.0,
        memory_bytes: 0.0,
        disk_read_bps: 0.0,
        disk_write_bps: 0.0,
        net_rx_bps: 0.0,
        net_tx_bps: 0.0,
    }
}

fn add(sum: UsagePoint, p: &UsagePoint) -> UsagePoint {
    UsagePoint {
        at: sum.at.max(p.at),
        cpu_percent: sum.cpu_percent + p.cpu_percent,
        memory_used_bytes: sum.memory_used_bytes + p.memory_used_bytes,
        memory_bytes: sum.memory_bytes + p.memory_bytes,
        disk_read_bps: sum.disk_read_bps + p.disk_read_bps,
        disk_write_bps: sum.disk_write_bps + p.disk_write_bps,
        net_rx_bps: sum.net_rx_bps + p.net_rx_bps,
        net_tx_bps: sum.net_tx_bps + p.net_tx_bps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::memory_store;

    #[test]
    fn an_empty_store_has_a_size_and_no_figures() {
        let conn = memory_store();
        let s = snapshot(&conn, 1_000).unwrap();
        assert!(s.store_bytes > 0);
        assert!(s.instances.is_empty() && s.tasks.is_empty() && s.hosts.is_empty());
    }
}
