//! Departments (org units, nested). Their quotas: `quotas`.

use app::org::Quota;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{StoreError, now, quota_columns};

/// How deep departments may nest; deeper chains mean a corrupt store.
pub const MAX_DEPTH: usize = 64;

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
        quota: quota_columns::read(r, 3)?,
    })
}

// The quota columns last, as `quota_columns::read` expects them.
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
        .prepare_cached(&format!("SELECT {COLUMNS} FROM departments WHERE id = ?1"))?
        .query_row([id], from_row)
        .optional()?)
}

pub fn list(conn: &Connection) -> Result<Vec<DepartmentRow>, StoreError> {
    let mut stmt =
        conn.prepare_cached(&format!("SELECT {COLUMNS} FROM departments ORDER BY name"))?;
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

/// Why a department cannot be removed, if it cannot.
pub fn in_use(conn: &Connection, id: i64) -> Result<Option<&'static str>, StoreError> {
    let count = |sql: &str| -> Result<i64, StoreError> {
        Ok(conn.prepare_cached(sql)?.query_row([id], |r| r.get(0))?)
    };
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
    let mut stmt = conn.prepare_cached(
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
        if chain.len() > MAX_DEPTH || chain.iter().any(|d: &DepartmentRow| d.id == id) {
            return Err(StoreError::Corrupt("department parents loop".into()));
        }
        let Some(row) = get(conn, id)? else { break };
        next = row.parent_id;
        chain.push(row);
    }
    Ok(chain)
}
