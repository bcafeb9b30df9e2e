//! The stack's versions: each golden image registered, one of them
//! current, and which version each instance runs.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{StoreError, now};

/// A version as it is registered.
pub struct NewVersion<'a> {
    pub stack: &'a str,
    pub label: &'a str,
    pub sha256: &'a str,
    pub dir: &'a str,
    pub packages: &'a str,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionRow {
    pub id: i64,
    pub stack: String,
    pub label: String,
    pub sha256: String,
    /// Where its image files were read.
    pub dir: String,
    /// `name version` lines.
    pub packages: String,
    pub added_at: i64,
    pub current: bool,
}

const SELECT: &str =
    "SELECT v.id, v.stack, v.label, v.sha256, v.dir, v.packages, v.added_at, v.current
     FROM stack_versions v";

fn from_row(r: &Row<'_>) -> rusqlite::Result<VersionRow> {
    Ok(VersionRow {
        id: r.get(0)?,
        stack: r.get(1)?,
        label: r.get(2)?,
        sha256: r.get(3)?,
        dir: r.get(4)?,
        packages: r.get(5)?,
        added_at: r.get(6)?,
        current: r.get(7)?,
    })
}

/// What keeps a version: instances, backups, snapshots and warm members.
const USES: &str = "(SELECT count(*) FROM instances i WHERE i.version_id = v.id)
     + (SELECT count(*) FROM backups b WHERE b.version_id = v.id)
     + (SELECT count(*) FROM snapshots s WHERE s.version_id = v.id)
     + (SELECT count(*) FROM pool_members m WHERE m.image = v.sha256)";

/// Registers the version, or finds it by its checksum; returns its id
/// and whether it is new. The first version of a stack becomes current.
/// A known image found in another folder (a restored store on a new
/// appliance, a moved image directory) is read from there from now on.
pub fn register(conn: &Connection, new: &NewVersion<'_>) -> Result<(i64, bool), StoreError> {
    if let Some(id) = conn
        .query_row(
            "SELECT id FROM stack_versions WHERE sha256 = ?1",
            [new.sha256],
            |r| r.get(0),
        )
        .optional()?
    {
        conn.execute(
            "UPDATE stack_versions SET dir = ?2 WHERE id = ?1 AND dir <> ?2",
            params![id, new.dir],
        )?;
        return Ok((id, false));
    }
    conn.execute(
        "INSERT INTO stack_versions (stack, label, sha256, dir, packages, added_at, current)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6,
                 NOT EXISTS (SELECT 1 FROM stack_versions WHERE stack = ?1 AND current = 1))",
        params![
            new.stack,
            new.label,
            new.sha256,
            new.dir,
            new.packages,
            now()
        ],
    )?;
    Ok((conn.last_insert_rowid(), true))
}

pub fn by_id(conn: &Connection, id: i64) -> Result<Option<VersionRow>, StoreError> {
    Ok(conn
        .query_row(&format!("{SELECT} WHERE v.id = ?1"), [id], from_row)
        .optional()?)
}

pub fn current(conn: &Connection, stack: &str) -> Result<Option<VersionRow>, StoreError> {
    Ok(conn
        .query_row(
            &format!("{SELECT} WHERE v.stack = ?1 AND v.current = 1"),
            [stack],
            from_row,
        )
        .optional()?)
}

/// Every version of the stack, newest first, with how many instances run it.
pub fn list(conn: &Connection, stack: &str) -> Result<Vec<(VersionRow, u64)>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT v.id, v.stack, v.label, v.sha256, v.dir, v.packages, v.added_at, v.current,
                (SELECT count(*) FROM instances i WHERE i.version_id = v.id)
         FROM stack_versions v WHERE v.stack = ?1 ORDER BY v.id DESC",
    )?;
    let rows = stmt
        .query_map([stack], |r| Ok((from_row(r)?, r.get(8)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Makes the version its stack's current one; `false` if it already was.
pub fn make_current(conn: &Connection, id: i64) -> Result<bool, StoreError> {
    let row = by_id(conn, id)?.ok_or(StoreError::NotFound("stack version"))?;
    if row.current {
        return Ok(false);
    }
    conn.execute(
        "UPDATE stack_versions SET current = 0 WHERE stack = ?1 AND current = 1",
        [&row.stack],
    )?;
    conn.execute("UPDATE stack_versions SET current = 1 WHERE id = ?1", [id])?;
    Ok(true)
}

/// Registered before the stack's current version: one a newer version
/// superseded. A version registered after it waits to be made current
/// (and one an admin went back from stays to go forward to again).
const SUPERSEDED: &str = "v.id < (SELECT c.id FROM stack_versions c
                                  WHERE c.stack = v.stack AND c.current = 1)";

/// The versions superseded that nothing uses any more.
pub fn unused(conn: &Connection) -> Result<Vec<VersionRow>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "{SELECT} WHERE v.current = 0 AND {SUPERSEDED} AND {USES} = 0 ORDER BY v.id"
    ))?;
    let rows = stmt.query_map([], from_row)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Removes the version if it is still superseded, unused and not current
/// (checked in the same transaction, so a deploy cannot take it meanwhile).
pub fn remove_if_unused(conn: &Connection, id: i64) -> Result<bool, StoreError> {
    let removed = conn.execute(
        &format!(
            "DELETE FROM stack_versions WHERE id = ?1 AND current = 0 AND {SUPERSEDED} AND {USES} = 0"
        )
        .replace("v.id", "stack_versions.id")
        .replace("v.stack", "stack_versions.stack")
        .replace("v.sha256", "stack_versions.sha256"),
        [id],
    )?;
    Ok(removed == 1)
}

/// The version the instance runs: the one recorded, or (an instance from
/// before versions, or not cloned yet) the current one, which is then
/// recorded. `None`: the stack has no version yet.
pub fn pin_instance(
    conn: &Connection,
    instance_id: i64,
    stack: &str,
) -> Result<Option<VersionRow>, StoreError> {
    if let Some(id) = of_instance(conn, instance_id)? {
        return by_id(conn, id);
    }
    let Some(current) = current(conn, stack)? else {
        return Ok(None);
    };
    set_instance(conn, instance_id, current.id)?;
    Ok(Some(current))
}

/// The id of the version the instance runs, as recorded.
pub fn of_instance(conn: &Connection, instance_id: i64) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT version_id FROM instances WHERE id = ?1",
            [instance_id],
            |r| r.get(0),
        )
        .optional()?
        .flatten())
}

pub fn set_instance(
    conn: &Connection,
    instance_id: i64,
    version_id: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE instances SET version_id = ?2 WHERE id = ?1",
        params![instance_id, version_id],
    )?;
    Ok(())
}

/// Where a disk put in place of an instance's came from: the version it
/// holds is that source's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskSource {
    /// A backup, restored as a new instance or over one.
    Backup(i64),
    /// A snapshot reverted to, or the disk that a restore over the
    /// instance kept (the restore's undo).
    Snapshot(i64),
}

/// An instance whose disk came from `source` runs the version the source
/// holds (kept as it is when the source has none: one from before
/// versions). Whether that changed the instance's version: the row is
/// only written when it does.
pub fn pin_to(conn: &Connection, instance_id: i64, source: DiskSource) -> Result<bool, StoreError> {
    let (sql, source_id) = match source {
        DiskSource::Backup(id) => (
            "UPDATE instances SET version_id = b.version_id
             FROM backups b WHERE b.id = ?2 AND b.version_id IS NOT NULL AND instances.id = ?1
              AND instances.version_id IS NOT b.version_id",
            id,
        ),
        DiskSource::Snapshot(id) => (
            "UPDATE instances SET version_id = s.version_id
             FROM snapshots s WHERE s.id = ?2 AND s.version_id IS NOT NULL AND instances.id = ?1
              AND instances.version_id IS NOT s.version_id",
            id,
        ),
    };
    Ok(conn.execute(sql, params![instance_id, source_id])? > 0)
}

/// The version a restore drill boots: its backup's. `None` for a backup
/// from before versions.
pub fn of_drill(conn: &Connection, drill_id: i64) -> Result<Option<VersionRow>, StoreError> {
    Ok(conn
        .query_row(
            &format!(
                "{SELECT} JOIN backups b ON b.version_id = v.id
                 JOIN drills d ON d.backup_id = b.id WHERE d.id = ?1"
            ),
            [drill_id],
            from_row,
        )
        .optional()?)
}

/// Instances from before versions run the image the appliance had: the
/// current version.
pub fn backfill(conn: &Connection, version_id: i64) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "UPDATE instances SET version_id = ?1 WHERE version_id IS NULL",
        [version_id],
    )?)
}

/// The version of a warm member's image, by its checksum.
pub fn by_sha256(conn: &Connection, sha256: &str) -> Result<Option<VersionRow>, StoreError> {
    Ok(conn
        .query_row(&format!("{SELECT} WHERE v.sha256 = ?1"), [sha256], from_row)
        .optional()?)
}

/// Each instance's version id, label and whether it is current.
pub fn of_instances(
    conn: &Connection,
) -> Result<std::collections::HashMap<i64, (i64, String, bool)>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT i.id, v.id, v.label, v.current FROM instances i
         JOIN stack_versions v ON v.id = i.version_id",
    )?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?, r.get(3)?))))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::{memory_store, new_instance};
    use crate::store::{instances, snapshots, users};
    use app::model::Role;

    fn version<'a>(sha: &'a str, label: &'a str) -> NewVersion<'a> {
        NewVersion {
            stack: "dokuwiki",
            label,
            sha256: sha,
            dir: "/images",
            packages: "",
        }
    }

    #[test]
    fn the_first_version_is_current_and_a_second_is_not_until_made_so() {
        let conn = memory_store();
        let a = "a".repeat(64);
        let b = "b".repeat(64);
        let (first, new) = register(&conn, &version(&a, "one")).unwrap();
        assert!(new);
        assert_eq!(
            register(&conn, &version(&a, "again")).unwrap(),
            (first, false)
        );
        let (second, _) = register(&conn, &version(&b, "two")).unwrap();
        assert_eq!(current(&conn, "dokuwiki").unwrap().unwrap().id, first);
        // Used by nothing yet, the newer version waits to be made current.
        assert!(unused(&conn).unwrap().is_empty());
        assert!(!remove_if_unused(&conn, second).unwrap());
        assert!(make_current(&conn, second).unwrap());
        assert!(!make_current(&conn, second).unwrap());
        assert_eq!(current(&conn, "dokuwiki").unwrap().unwrap().id, second);
        // Superseded and used by nothing, the first one goes; made current
        // again, the second is kept to go forward to.
        assert_eq!(unused(&conn).unwrap()[0].id, first);
        assert!(make_current(&conn, first).unwrap());
        assert!(unused(&conn).unwrap().is_empty());
        assert!(matches!(
            make_current(&conn, 99),
            Err(StoreError::NotFound(_))
        ));
    }

    #[test]
    fn a_version_an_instance_runs_is_not_removed_until_the_instance_is_gone() {
        let conn = memory_store();
        let (old, _) = register(&conn, &version(&"a".repeat(64), "old")).unwrap();
        let owner = users::insert(&conn, "ann", None, Role::User).unwrap();
        let instance = instances::insert(&conn, &new_instance("u1", "wiki", owner)).unwrap();
        assert_eq!(
            pin_instance(&conn, instance, "dokuwiki")
                .unwrap()
                .unwrap()
                .id,
            old
        );
        let (new, _) = register(&conn, &version(&"b".repeat(64), "new")).unwrap();
        make_current(&conn, new).unwrap();
        // Pinned: the instance keeps its version after another is current.
        assert_eq!(
            pin_instance(&conn, instance, "dokuwiki")
                .unwrap()
                .unwrap()
                .id,
            old
        );
        assert!(unused(&conn).unwrap().is_empty());
        assert!(!remove_if_unused(&conn, old).unwrap());
        instances::delete(&conn, instance).unwrap();
        assert_eq!(unused(&conn).unwrap()[0].id, old);
        assert!(remove_if_unused(&conn, old).unwrap());
        assert!(!remove_if_unused(&conn, new).unwrap(), "current is kept");
    }

    #[test]
    fn a_snapshot_holds_the_version_it_was_taken_of_and_keeps_it_until_it_goes() {
        let conn = memory_store();
        let (old, _) = register(&conn, &version(&"a".repeat(64), "old")).unwrap();
        let owner = users::insert(&conn, "ann", None, Role::User).unwrap();
        let instance = instances::insert(&conn, &new_instance("u1", "wiki", owner)).unwrap();
        pin_instance(&conn, instance, "dokuwiki").unwrap();
        let snapshot = snapshots::insert(&conn, instance, "before", "", owner).unwrap();
        let (new, _) = register(&conn, &version(&"b".repeat(64), "new")).unwrap();
        make_current(&conn, new).unwrap();
        set_instance(&conn, instance, new).unwrap();

        // Only the snapshot uses the old version now, and that keeps it.
        assert!(unused(&conn).unwrap().is_empty());
        assert!(pin_to(&conn, instance, DiskSource::Snapshot(snapshot)).unwrap());
        assert_eq!(of_instance(&conn, instance).unwrap(), Some(old));
        // Pinned again to what it already runs: nothing changes.
        assert!(!pin_to(&conn, instance, DiskSource::Snapshot(snapshot)).unwrap());
        set_instance(&conn, instance, new).unwrap();
        snapshots::delete(&conn, snapshot).unwrap();
        assert_eq!(unused(&conn).unwrap()[0].id, old);
    }
}
