//! The four quota columns that departments and users both carry, read in
//! one place. It sits below `departments`, `users` and `quotas`, so that
//! the rows can read their quota without depending on the quota checks
//! (which read departments and users).

use app::org::Quota;
use rusqlite::Row;

/// Reads `quota_instances, quota_vcpus, quota_memory_mib, quota_disk_gib`,
/// in that order, starting at column `first` of `row`.
pub fn read(row: &Row<'_>, first: usize) -> rusqlite::Result<Quota> {
    Ok(Quota {
        instances: row.get(first)?,
        vcpus: row.get(first + 1)?,
        memory_mib: row.get(first + 2)?,
        disk_gib: row.get(first + 3)?,
    })
}
