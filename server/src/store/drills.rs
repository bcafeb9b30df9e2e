//! Restore drills under way: each row is a throwaway guest restored from
//! a backup, on its host, until the drill ends. A row a crash left behind
//! names a guest to destroy; the reconciler takes drills' guests for
//! dpe's own while their rows exist. How a drill went is kept on its
//! backup (`backups::set_drill`).

use app::model::DrillState;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{StoreError, backups};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrillRow {
    pub id: i64,
    pub backup_id: i64,
    pub uuid: String,
    pub volume_stem: String,
    pub host_id: i64,
    pub mac: String,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub disk_gib: u64,
    pub started_at: i64,
}

/// A drill about to start.
pub struct NewDrill<'a> {
    pub backup_id: i64,
    pub uuid: &'a str,
    pub volume_stem: &'a str,
    pub host_id: i64,
    pub mac: &'a str,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub disk_gib: u64,
    pub at: i64,
}

const SELECT: &str = "
    SELECT id, backup_id, uuid, volume_stem, host_id, mac, vcpus, memory_mib, disk_gib, started_at
    FROM drills";

fn from_row(r: &Row<'_>) -> rusqlite::Result<DrillRow> {
    Ok(DrillRow {
        id: r.get(0)?,
        backup_id: r.get(1)?,
        uuid: r.get(2)?,
        volume_stem: r.get(3)?,
        host_id: r.get(4)?,
        mac: r.get(5)?,
        vcpus: r.get(6)?,
        memory_mib: r.get(7)?,
        disk_gib: r.get(8)?,
        started_at: r.get(9)?,
    })
}

/// Records a drill and marks its backup's drill running, in one
/// transaction; `Duplicate` when a drill is under way already (one at a
/// time: each boots a whole guest).
pub fn start(conn: &Connection, new: &NewDrill<'_>) -> Result<DrillRow, StoreError> {
    if conn
        .prepare_cached("SELECT 1 FROM drills LIMIT 1")?
        .query_row([], |_| Ok(()))
        .optional()?
        .is_some()
    {
        return Err(StoreError::Duplicate("a restore drill under way"));
    }
    conn.execute(
        "INSERT INTO drills (backup_id, uuid, volume_stem, host_id, mac, vcpus, memory_mib,
                             disk_gib, started_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            new.backup_id,
            new.uuid,
            new.volume_stem,
            new.host_id,
            new.mac,
            new.vcpus,
            new.memory_mib,
            new.disk_gib,
            new.at
        ],
    )?;
    let id = conn.last_insert_rowid();
    backups::set_drill(conn, new.backup_id, DrillState::Running, new.at, None)?;
    Ok(conn
        .prepare_cached(&format!("{SELECT} WHERE id = ?1"))?
        .query_row([id], from_row)?)
}

/// Ends a drill: its outcome on its backup, and its row gone.
pub fn finish(
    conn: &Connection,
    drill: &DrillRow,
    passed: bool,
    at: i64,
    note: &str,
) -> Result<(), StoreError> {
    let state = if passed {
        DrillState::Passed
    } else {
        DrillState::Failed
    };
    backups::set_drill(conn, drill.backup_id, state, at, Some(note))?;
    conn.execute("DELETE FROM drills WHERE id = ?1", [drill.id])?;
    Ok(())
}

pub fn list(conn: &Connection) -> Result<Vec<DrillRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("{SELECT} ORDER BY id"))?;
    let rows = stmt.query_map([], from_row)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use app::model::Role;

    use super::*;
    use crate::store::backups::NewBackup;
    use crate::store::{hosts, instances, test_support, users};

    #[test]
    fn one_drill_at_a_time_and_its_outcome_stays_on_its_backup() {
        let conn = test_support::memory_store();
        let ann = users::insert(&conn, "ann", None, Role::User).unwrap();
        let instance =
            instances::insert(&conn, &test_support::new_instance("u1", "wiki", ann)).unwrap();
        let host = hosts::insert(&conn, "vm", "test:///default", "/tmp", "default").unwrap();
        let backup = backups::insert(
            &conn,
            &NewBackup {
                instance_id: instance,
                instance_uuid: "u1",
                instance_name: "wiki",
                owner_id: ann,
                department_id: None,
                host_id: Some(host),
                size: "small",
                disk_gib: 1,
                kind: app::model::BackupKind::Full,
                parent_id: None,
                reason: None,
                created_by: Some(ann),
                params_json: "{}",
                health_expect: "",
                at: 50,
                pool: None,
            },
        )
        .unwrap();
        let new = NewDrill {
            backup_id: backup,
            uuid: "d1",
            volume_stem: "dpe-x-d1",
            host_id: host,
            mac: "52:54:00:00:00:01",
            vcpus: 1,
            memory_mib: 256,
            disk_gib: 1,
            at: 100,
        };
        let started = start(&conn, &new).unwrap();
        let running = backups::by_id(&conn, backup).unwrap().unwrap().drill;
        assert_eq!(running, Some((DrillState::Running, 100, None)));
        assert!(matches!(
            start(&conn, &NewDrill { uuid: "d2", ..new }),
            Err(StoreError::Duplicate(_))
        ));
        let row = list(&conn).unwrap().pop().unwrap();
        assert_eq!(row, started);
        finish(&conn, &row, true, 160, "wiki answered").unwrap();
        assert!(list(&conn).unwrap().is_empty());
        let done = backups::by_id(&conn, backup).unwrap().unwrap().drill;
        assert_eq!(
            done,
            Some((DrillState::Passed, 160, Some("wiki answered".into())))
        );
    }
}
