//! The libvirt hosts of the pool.

use app::model::HostMode;
use rusqlite::{Connection, params};

use super::states::text_column;
use super::{StoreError, now};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostRow {
    pub id: i64,
    pub name: String,
    pub uri: String,
    pub storage_dir: String,
    pub network: String,
    /// When the reconciler first failed to reach it (unix seconds); None
    /// while it answers.
    pub unreachable_since: Option<i64>,
    /// Whether it takes new instances, or is being drained.
    pub mode: HostMode,
}

pub fn insert(
    conn: &Connection,
    name: &str,
    uri: &str,
    storage_dir: &str,
    network: &str,
) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO hosts (name, uri, storage_dir, network, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![name, uri, storage_dir, network, now()],
    )
    .map_err(|e| StoreError::unique_as(e, "a host with that name or URI"))?;
    Ok(conn.last_insert_rowid())
}

pub fn list(conn: &Connection) -> Result<Vec<HostRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, name, uri, storage_dir, network, unreachable_since, mode
         FROM hosts ORDER BY id",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok(HostRow {
                id: r.get(0)?,
                name: r.get(1)?,
                uri: r.get(2)?,
                storage_dir: r.get(3)?,
                network: r.get(4)?,
                unreachable_since: r.get(5)?,
                mode: text_column(r, 6)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Sets whether the host takes new instances; false when there is no such
/// host.
pub fn set_mode(conn: &Connection, id: i64, mode: HostMode) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "UPDATE hosts SET mode = ?2 WHERE id = ?1",
        params![id, mode.as_str()],
    )? == 1)
}

/// What became of a request to remove a host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Removal {
    Removed,
    NoSuchHost,
    /// The host still holds this many instances, so it stays.
    InUse(i64),
}

/// Removes host `id` unless an instance is still placed on it; both the
/// check and the removal run in the caller's (write) transaction, so no
/// deploy can place an instance between them.
/// How many instances are placed on the host.
pub fn instances_on(conn: &Connection, id: i64) -> Result<i64, StoreError> {
    Ok(conn
        .prepare_cached("SELECT count(*) FROM instances WHERE host_id = ?1")?
        .query_row([id], |r| r.get(0))?)
}

/// Removes the host unless instances are placed on it; its warm-pool
/// members' records go with it.
pub fn remove_if_unused(conn: &Connection, id: i64) -> Result<Removal, StoreError> {
    let used = instances_on(conn, id)?;
    if used > 0 {
        return Ok(Removal::InUse(used));
    }
    Ok(
        match conn.execute("DELETE FROM hosts WHERE id = ?1", [id])? {
            0 => Removal::NoSuchHost,
            _ => Removal::Removed,
        },
    )
}

/// Records whether the host was reached at `now`; true when this is a
/// fall (it was reachable before), so "host down" is told once per fall.
/// A fall records when it began; a return clears it.
pub fn set_reachable(
    conn: &Connection,
    id: i64,
    reachable: bool,
    now: i64,
) -> Result<bool, StoreError> {
    let changed = conn.execute(
        "UPDATE hosts SET reachable = ?2,
                          unreachable_since = CASE WHEN ?2 THEN NULL ELSE ?3 END
         WHERE id = ?1 AND reachable <> ?2",
        params![id, reachable, now],
    )?;
    Ok(changed == 1 && !reachable)
}

/// How many instances are placed on each host, by host id.
pub fn instance_counts(conn: &Connection) -> Result<Vec<(i64, i64)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT host_id, count(*) FROM instances WHERE host_id IS NOT NULL GROUP BY host_id",
    )?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::memory_store;

    #[test]
    fn an_unused_host_is_removed_and_a_missing_one_is_reported() {
        let conn = memory_store();
        let id = insert(&conn, "h1", "qemu:///system", "/srv/dpe", "default").unwrap();
        assert_eq!(remove_if_unused(&conn, id).unwrap(), Removal::Removed);
        assert_eq!(remove_if_unused(&conn, id).unwrap(), Removal::NoSuchHost);
        assert!(list(&conn).unwrap().is_empty());
    }

    #[test]
    fn a_host_that_holds_an_instance_stays() {
        let conn = memory_store();
        let id = insert(&conn, "h1", "qemu:///system", "/srv/dpe", "default").unwrap();
        let owner =
            crate::store::users::insert(&conn, "ann", None, app::model::Role::User).unwrap();
        let instance = crate::store::instances::insert(
            &conn,
            &crate::store::test_support::new_instance("uuid-web", "web", owner),
        )
        .unwrap();
        crate::store::instances::set_host(&conn, instance, Some(id)).unwrap();
        assert_eq!(remove_if_unused(&conn, id).unwrap(), Removal::InUse(1));
        assert_eq!(list(&conn).unwrap().len(), 1);
    }

    #[test]
    fn a_fall_records_when_it_began_and_a_return_clears_it() {
        let conn = memory_store();
        let id = insert(&conn, "h1", "qemu:///system", "/srv/dpe", "default").unwrap();
        assert!(set_reachable(&conn, id, false, 1_000).unwrap(), "a fall");
        assert!(
            !set_reachable(&conn, id, false, 2_000).unwrap(),
            "still down"
        );
        assert_eq!(list(&conn).unwrap()[0].unreachable_since, Some(1_000));
        assert!(!set_reachable(&conn, id, true, 3_000).unwrap());
        assert_eq!(list(&conn).unwrap()[0].unreachable_since, None);
    }
}
