//! Instances' snapshots: what users see of them and what the quota
//! charges. libvirt holds their data (internal qcow2 snapshots named
//! [`libvirt_name`]); a row exists from the moment a task starts taking
//! one until the task that deletes it ends.

use app::model::{SnapshotKind, SnapshotState};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::states::text_column;
use super::{StoreError, now};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotRow {
    pub id: i64,
    pub instance_id: i64,
    pub name: String,
    pub description: String,
    pub state: SnapshotState,
    pub kind: SnapshotKind,
    pub with_memory: bool,
    pub size_bytes: u64,
    pub created_by: Option<String>,
    pub created_at: i64,
}

/// The name libvirt knows a snapshot by: never the user's text, which may
/// hold anything libvirt or a shell would read otherwise.
pub fn libvirt_name(id: i64) -> String {
    format!("dpe-snap-{id}")
}

const SELECT: &str = "
    SELECT s.id, s.instance_id, s.name, s.description, s.state, s.with_memory, s.size_bytes,
           u.username, s.created_at, s.kind
    FROM snapshots s LEFT JOIN users u ON u.id = s.created_by";

fn from_row(r: &Row<'_>) -> rusqlite::Result<SnapshotRow> {
    Ok(SnapshotRow {
        id: r.get(0)?,
        instance_id: r.get(1)?,
        name: r.get(2)?,
        description: r.get(3)?,
        state: text_column(r, 4)?,
        with_memory: r.get(5)?,
        size_bytes: r.get(6)?,
        created_by: r.get(7)?,
        created_at: r.get(8)?,
        kind: text_column(r, 9)?,
    })
}

/// The instance's snapshots, newest first.
pub fn of_instance(conn: &Connection, instance_id: i64) -> Result<Vec<SnapshotRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "{SELECT} WHERE s.instance_id = ?1 ORDER BY s.id DESC"
    ))?;
    let rows = stmt
        .query_map([instance_id], from_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

pub fn by_id(conn: &Connection, id: i64) -> Result<Option<SnapshotRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("{SELECT} WHERE s.id = ?1"))?
        .query_row([id], from_row)
        .optional()?)
}

/// What [`insert`]'s `Duplicate` names: the instance has a snapshot of
/// that name.
pub const NAME_TAKEN: &str = "a snapshot of this name";

/// Records a snapshot about to be taken; `Duplicate(NAME_TAKEN)` when the
/// instance has one of that name.
pub fn insert(
    conn: &Connection,
    instance_id: i64,
    name: &str,
    description: &str,
    created_by: i64,
) -> Result<i64, StoreError> {
    // The snapshot holds the disk as it is: the version the instance runs.
    conn.execute(
        "INSERT INTO snapshots
             (instance_id, name, description, state, created_by, created_at, version_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6,
                 (SELECT version_id FROM instances WHERE id = ?1))",
        params![
            instance_id,
            name,
            description,
            SnapshotState::Creating.as_str(),
            created_by,
            now()
        ],
    )
    .map_err(|e| StoreError::unique_as(e, NAME_TAKEN))?;
    Ok(conn.last_insert_rowid())
}

/// Records the copy of the instance's disk that a restore over it keeps,
/// about to be made, named after the backup restored.
pub fn insert_disk_copy(
    conn: &Connection,
    instance_id: i64,
    name: &str,
    description: &str,
    created_by: i64,
) -> Result<i64, StoreError> {
    let id = insert(conn, instance_id, name, description, created_by)?;
    conn.execute(
        "UPDATE snapshots SET kind = ?2 WHERE id = ?1",
        params![id, SnapshotKind::DiskCopy.as_str()],
    )?;
    Ok(id)
}

/// How many snapshots the instance has (being taken ones included).
pub fn count(conn: &Connection, instance_id: i64) -> Result<u32, StoreError> {
    Ok(conn
        .prepare_cached("SELECT count(*) FROM snapshots WHERE instance_id = ?1")?
        .query_row([instance_id], |r| r.get(0))?)
}

/// A snapshot taken: whether it holds the guest's memory, and its size.
pub fn set_taken(
    conn: &Connection,
    id: i64,
    with_memory: bool,
    size_bytes: u64,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE snapshots SET state = ?2, with_memory = ?3, size_bytes = ?4 WHERE id = ?1",
        params![id, SnapshotState::Ready.as_str(), with_memory, size_bytes],
    )?;
    Ok(())
}

pub fn set_state(conn: &Connection, id: i64, state: SnapshotState) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE snapshots SET state = ?2 WHERE id = ?1",
        params![id, state.as_str()],
    )?;
    Ok(())
}

pub fn delete(conn: &Connection, id: i64) -> Result<(), StoreError> {
    conn.execute("DELETE FROM snapshots WHERE id = ?1", [id])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use app::model::Role;

    use super::*;
    use crate::store::{instances, test_support, users};

    fn store_with_instance() -> (Connection, i64, i64) {
        let conn = test_support::memory_store();
        conn.pragma_update(None, "foreign_keys", true).unwrap();
        let ann = users::insert(&conn, "ann", None, Role::User).unwrap();
        let id = instances::insert(&conn, &test_support::new_instance("u1", "wiki", ann)).unwrap();
        (conn, ann, id)
    }

    #[test]
    fn a_snapshot_is_taken_listed_newest_first_and_its_name_is_unique_per_instance() {
        let (conn, ann, id) = store_with_instance();
        let first = insert(&conn, id, "before upgrade", "", ann).unwrap();
        let second = insert(&conn, id, "after upgrade", "plugins", ann).unwrap();
        assert!(matches!(
            insert(&conn, id, "before upgrade", "", ann),
            Err(StoreError::Duplicate(_))
        ));
        set_taken(&conn, first, true, 4096).unwrap();
        let listed = of_instance(&conn, id).unwrap();
        assert_eq!(
            listed.iter().map(|s| s.id).collect::<Vec<_>>(),
            [second, first]
        );
        assert_eq!(listed[1].state, SnapshotState::Ready);
        assert_eq!(listed[1].size_bytes, 4096);
        assert!(listed[1].with_memory);
        assert_eq!(listed[0].created_by.as_deref(), Some("ann"));
        assert_eq!(count(&conn, id).unwrap(), 2);
        assert_eq!(libvirt_name(first), format!("dpe-snap-{first}"));
    }

    #[test]
    fn an_instances_snapshots_go_with_it() {
        let (conn, ann, id) = store_with_instance();
        let snap = insert(&conn, id, "s", "", ann).unwrap();
        instances::delete(&conn, id).unwrap();
        assert_eq!(by_id(&conn, snap).unwrap(), None);
    }
}
