//! Departments (org units, nested) and the quotas on them and on accounts.

use app::org::{Quota, Usage};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{StoreError, now};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DepartmentRow {
    pub id: i64,
    pub name: String,
    pub parent_id: Option<i64>,
    pub quota: Quota,
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<DepartmentRow> {
    Ok(DepartmentRow {
        id: r.get(0)?,
        name: r.get(1)?,
        parent_id: r.get(2)?,
        quota: Quota {
            instances: r.get(3)?,
            vcpus: r.get(4)?,
            memory_mib: r.get(5)?,
            disk_gib: r.get(6)?,
        },
    })
}

const COLUMNS: &str =
    "id, name, parent_id, quota_instances, quota_vcpus, quota_memory_mib, quota_disk_gib";

pub fn insert(conn: &Connection, name: &str, parent_id: Option<i64>) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO departments (name, parent_id, created_at) VALUES (?1, ?2, ?3)",
        params![name, parent_id, now()],
    )
    .map_err(|e| StoreError::unique_as(e, "a department with that name"))?;
    Ok(conn.last_insert_rowid())
}

pub fn get(conn: &Connection, id: i64) -> Result<Option<DepartmentRow>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM departments WHERE id = ?1"),
            [id],
            from_row,
        )
        .optional()?)
}

pub fn list(conn: &Connection) -> Result<Vec<DepartmentRow>, StoreError> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM departments ORDER BY name"))?;
    let rows = stmt.query_map([], from_row)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

pub fn rename(conn: &Connection, id: i64, name: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE departments SET name = ?2 WHERE id = ?1",
        params![id, name],
    )
    .map_err(|e| StoreError::unique_as(e, "a department with that name"))?;
    Ok(())
}

pub fn set_quota(conn: &Connection, id: i64, quota: &Quota) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE departments SET quota_instances = ?2, quota_vcpus = ?3,
            quota_memory_mib = ?4, quota_disk_gib = ?5 WHERE id = ?1",
        params![
            id,
            quota.instances,
            quota.vcpus,
            quota.memory_mib,
            quota.disk_gib
        ],
    )?;
    Ok(())
}

/// Why a department cannot be removed, if it cannot.
pub fn in_use(conn: &Connection, id: i64) -> Result<Option<&'static str>, StoreError> {
    let count =
        |sql: &str| -> Result<i64, StoreError> { Ok(conn.query_row(sql, [id], |r| r.get(0))?) };
    if count("SELECT count(*) FROM departments WHERE parent_id = ?1")? > 0 {
        return Ok(Some("it has sub-departments"));
    }
    if count("SELECT count(*) FROM users WHERE department_id = ?1")? > 0 {
        return Ok(Some("it has members"));
    }
    if count("SELECT count(*) FROM instances WHERE department_id = ?1")? > 0 {
        return Ok(Some("instances are charged to it"));
    }
    Ok(None)
}

pub fn delete(conn: &Connection, id: i64) -> Result<(), StoreError> {
    conn.execute("DELETE FROM departments WHERE id = ?1", [id])?;
    Ok(())
}

/// The department and every department below it.
pub fn subtree(conn: &Connection, id: i64) -> Result<Vec<i64>, StoreError> {
    let mut stmt = conn.prepare(
        "WITH RECURSIVE below(id) AS (
             SELECT ?1
             UNION SELECT d.id FROM departments d JOIN below b ON d.parent_id = b.id)
         SELECT id FROM below",
    )?;
    let ids = stmt
        .query_map([id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(ids)
}

/// The department and every department above it, nearest first.
pub fn ancestry(conn: &Connection, id: i64) -> Result<Vec<DepartmentRow>, StoreError> {
    let mut chain = Vec::new();
    let mut next = Some(id);
    while let Some(id) = next {
        // The UNIQUE parent chain cannot loop (a parent must exist before
        // its child), but a corrupt store must not hang us.
        if chain.len() > 64 || chain.iter().any(|d: &DepartmentRow| d.id == id) {
            return Err(StoreError::Corrupt("department parents loop".into()));
        }
        let Some(row) = get(conn, id)? else { break };
        next = row.parent_id;
        chain.push(row);
    }
    Ok(chain)
}

/// What the instances charged to the department and those below it take.
/// Failed instances hold nothing and do not count.
pub fn usage(conn: &Connection, id: i64) -> Result<Usage, StoreError> {
    Ok(conn.query_row(
        "WITH RECURSIVE below(id) AS (
             SELECT ?1
             UNION SELECT d.id FROM departments d JOIN below b ON d.parent_id = b.id)
         SELECT count(*), coalesce(sum(vcpus), 0), coalesce(sum(memory_mib), 0),
                coalesce(sum(disk_gib), 0)
         FROM instances WHERE status != 'failed' AND department_id IN (SELECT id FROM below)",
        [id],
        usage_from_row,
    )?)
}

/// What one account's instances take.
pub fn user_usage(conn: &Connection, user_id: i64) -> Result<Usage, StoreError> {
    Ok(conn.query_row(
        "SELECT count(*), coalesce(sum(vcpus), 0), coalesce(sum(memory_mib), 0),
                coalesce(sum(disk_gib), 0)
         FROM instances WHERE status != 'failed' AND owner_id = ?1",
        [user_id],
        usage_from_row,
    )?)
}

fn usage_from_row(r: &Row<'_>) -> rusqlite::Result<Usage> {
    Ok(Usage {
        instances: r.get(0)?,
        vcpus: r.get(1)?,
        memory_mib: r.get(2)?,
        disk_gib: r.get(3)?,
    })
}

/// A quota that a deploy would break: which, and by how much.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exceeded {
    /// "your quota" or "the quota of department Physics".
    pub scope: String,
    pub resource: &'static str,
    pub limit: u64,
    pub used: u64,
    pub wanted: u64,
}

impl std::fmt::Display for Exceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} allows {} {}; {} in use, this deploy needs {} more: {} over",
            self.scope,
            self.limit,
            self.resource,
            self.used,
            self.wanted,
            self.used + self.wanted - self.limit
        )
    }
}

/// The first quota that `wanted` on top of `used` would break.
pub fn exceeded(scope: &str, quota: &Quota, used: &Usage, wanted: &Usage) -> Option<Exceeded> {
    let checks: [(&'static str, Option<u64>, u64, u64); 4] = [
        (
            "instances",
            quota.instances.map(u64::from),
            used.instances.into(),
            wanted.instances.into(),
        ),
        (
            "vCPUs",
            quota.vcpus.map(u64::from),
            used.vcpus.into(),
            wanted.vcpus.into(),
        ),
        (
            "MiB of memory",
            quota.memory_mib,
            used.memory_mib,
            wanted.memory_mib,
        ),
        (
            "GiB of disk",
            quota.disk_gib,
            used.disk_gib,
            wanted.disk_gib,
        ),
    ];
    checks
        .into_iter()
        .find_map(|(resource, limit, used, wanted)| {
            limit
                .filter(|limit| used.saturating_add(wanted) > *limit)
                .map(|limit| Exceeded {
                    scope: scope.to_owned(),
                    resource,
                    limit,
                    used,
                    wanted,
                })
        })
}

/// Checks a deploy of `wanted` by `owner_id` (charged to `department`)
/// against the account's quota and that of every department up the tree.
/// Call it in the write transaction that records the instance: the single
/// writer makes check-and-insert atomic.
pub fn check_deploy(
    conn: &Connection,
    owner_id: i64,
    department: Option<i64>,
    wanted: &Usage,
) -> Result<Option<Exceeded>, StoreError> {
    let own = super::users::by_id(conn, owner_id)?
        .ok_or(StoreError::Sqlite(rusqlite::Error::QueryReturnedNoRows))?
        .quota;
    if own != Quota::default()
        && let Some(e) = exceeded("your quota", &own, &user_usage(conn, owner_id)?, wanted)
    {
        return Ok(Some(e));
    }
    if let Some(department) = department {
        for d in ancestry(conn, department)? {
            if d.quota == Quota::default() {
                continue;
            }
            let scope = format!("the quota of department {}", d.name);
            if let Some(e) = exceeded(&scope, &d.quota, &usage(conn, d.id)?, wanted) {
                return Ok(Some(e));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_says_which_quota_and_by_how_much() {
        let quota = Quota {
            instances: Some(10),
            vcpus: Some(8),
            ..Quota::default()
        };
        let used = Usage {
            instances: 3,
            vcpus: 7,
            memory_mib: 0,
            disk_gib: 0,
        };
        let wanted = Usage {
            instances: 1,
            vcpus: 2,
            memory_mib: 512,
            disk_gib: 4,
        };
        let e = exceeded("the quota of department Physics", &quota, &used, &wanted).unwrap();
        assert_eq!(
            e.to_string(),
            "the quota of department Physics allows 8 vCPUs; 7 in use, this deploy needs 2 more: 1 over"
        );
        assert_eq!(exceeded("q", &Quota::default(), &used, &wanted), None);
    }
}
