//! The outbox: notices of what happened, queued in the transaction of the
//! change they tell of, so that a restart loses none and a change is never
//! made without its notice.

use app::model::NoticeKind;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::StoreError;
use super::instances::InstanceRow;
use super::states::text_column;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoticeRow {
    pub id: i64,
    pub kind: NoticeKind,
    /// Unix seconds.
    pub at: i64,
    pub instance_id: Option<i64>,
    pub instance_name: Option<String>,
    pub owner_id: Option<i64>,
    pub department_id: Option<i64>,
    pub detail: String,
}

const SELECT: &str = "
    SELECT id, kind, at, instance_id, instance_name, owner_id, department_id, detail FROM outbox";

fn from_row(r: &Row<'_>) -> rusqlite::Result<NoticeRow> {
    Ok(NoticeRow {
        id: r.get(0)?,
        kind: text_column(r, 1)?,
        at: r.get(2)?,
        instance_id: r.get(3)?,
        instance_name: r.get(4)?,
        owner_id: r.get(5)?,
        department_id: r.get(6)?,
        detail: r.get(7)?,
    })
}

/// Queues a notice about `instance`, at `at` (unix seconds).
pub fn queue_for_instance(
    conn: &Connection,
    kind: NoticeKind,
    at: i64,
    instance: &InstanceRow,
    detail: &str,
) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO outbox (kind, at, instance_id, instance_name, owner_id, department_id, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            kind.as_str(),
            at,
            instance.id,
            instance.name,
            instance.owner_id,
            instance.department_id,
            detail
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Queues a notice about no instance (a host went down), at `at`.
pub fn queue(
    conn: &Connection,
    kind: NoticeKind,
    at: i64,
    department_id: Option<i64>,
    detail: &str,
) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO outbox (kind, at, department_id, detail) VALUES (?1, ?2, ?3, ?4)",
        params![kind.as_str(), at, department_id, detail],
    )?;
    Ok(conn.last_insert_rowid())
}

pub fn get(conn: &Connection, id: i64) -> Result<Option<NoticeRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("{SELECT} WHERE id = ?1"))?
        .query_row([id], from_row)
        .optional()?)
}

/// Notices not yet turned into deliveries, oldest first.
pub fn unrouted(conn: &Connection, limit: i64) -> Result<Vec<NoticeRow>, StoreError> {
    let mut stmt =
        conn.prepare_cached(&format!("{SELECT} WHERE routed = 0 ORDER BY id LIMIT ?1"))?;
    let rows = stmt
        .query_map([limit], from_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// The notice has its deliveries (in the same transaction).
pub fn mark_routed(conn: &Connection, id: i64) -> Result<(), StoreError> {
    conn.execute("UPDATE outbox SET routed = 1 WHERE id = ?1", [id])?;
    Ok(())
}

/// The notices about one instance, oldest first.
pub fn for_instance(conn: &Connection, instance: i64) -> Result<Vec<NoticeRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("{SELECT} WHERE instance_id = ?1 ORDER BY id"))?;
    let rows = stmt
        .query_map([instance], from_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// The notices of one kind, oldest first (tests, and what admins check).
pub fn of_kind(conn: &Connection, kind: NoticeKind) -> Result<Vec<NoticeRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("{SELECT} WHERE kind = ?1 ORDER BY id"))?;
    let rows = stmt
        .query_map([kind.as_str()], from_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}
