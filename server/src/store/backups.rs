//! Instances' backups (restore points) and the policies that schedule
//! them. The backup store's pool holds the data (one volume a backup,
//! named [`volume_name`]); this table what users see, the chains that
//! incremental backups form (`parent_id`), and their checksums.

use app::model::{
    BackupFilter, BackupFrequency, BackupKind, BackupPolicy, BackupState, DrillState,
};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::states::text_column;
use super::{StoreError, departments, now, now_ms};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupRow {
    pub id: i64,
    pub instance_id: Option<i64>,
    pub instance_uuid: String,
    pub instance_name: String,
    pub owner_id: i64,
    pub department_id: Option<i64>,
    pub host_id: Option<i64>,
    pub size: String,
    pub disk_gib: u32,
    pub kind: BackupKind,
    pub parent_id: Option<i64>,
    pub checkpoint: String,
    pub volume: String,
    pub state: BackupState,
    pub reason: Option<String>,
    pub error: Option<String>,
    pub size_bytes: u64,
    pub sha256: Option<String>,
    pub damaged: bool,
    pub verified_at: Option<i64>,
    pub duration_ms: Option<u64>,
    pub frozen_ms: Option<u64>,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
    /// The instance's public parameters (JSON), for a restore's instance.
    pub params_json: String,
    pub health_expect: String,
    /// Its last restore drill: how it went, when, and what it found.
    pub drill: Option<(DrillState, i64, Option<String>)>,
    /// The libvirt pool that keeps its file; `None`: the default one.
    pub pool: Option<String>,
}

/// The backup store's volume of a backup: never a user's text.
pub fn volume_name(instance_uuid: &str, id: i64) -> String {
    format!("dpe-backup-{instance_uuid}-{id}.qcow2")
}

/// The libvirt checkpoint a backup takes, from which the next
/// incremental one copies what changed.
pub fn checkpoint_name(id: i64) -> String {
    format!("dpe-ckp-{id}")
}

const SELECT: &str = "
    SELECT b.id, b.instance_id, b.instance_uuid, b.instance_name, b.owner_id, b.department_id,
           b.host_id, b.size, b.disk_gib, b.kind, b.parent_id, b.checkpoint, b.volume, b.state,
           b.reason, b.error, b.size_bytes, b.sha256, b.damaged, b.verified_at, b.duration_ms,
           b.frozen_ms, u.username, b.created_at, b.finished_at, b.params_json, b.health_expect,
           b.drill_state, b.drilled_at, b.drill_note, b.pool
    FROM backups b LEFT JOIN users u ON u.id = b.created_by";

fn from_row(r: &Row<'_>) -> rusqlite::Result<BackupRow> {
    Ok(BackupRow {
        id: r.get(0)?,
        instance_id: r.get(1)?,
        instance_uuid: r.get(2)?,
        instance_name: r.get(3)?,
        owner_id: r.get(4)?,
        department_id: r.get(5)?,
        host_id: r.get(6)?,
        size: r.get(7)?,
        disk_gib: r.get(8)?,
        kind: text_column(r, 9)?,
        parent_id: r.get(10)?,
        checkpoint: r.get(11)?,
        volume: r.get(12)?,
        state: text_column(r, 13)?,
        reason: r.get(14)?,
        error: r.get(15)?,
        size_bytes: r.get(16)?,
        sha256: r.get(17)?,
        damaged: r.get(18)?,
        verified_at: r.get(19)?,
        duration_ms: r.get(20)?,
        frozen_ms: r.get(21)?,
        created_by: r.get(22)?,
        created_at: r.get(23)?,
        finished_at: r.get(24)?,
        params_json: r.get(25)?,
        health_expect: r.get(26)?,
        drill: match (
            r.get::<_, Option<String>>(27)?,
            r.get::<_, Option<i64>>(28)?,
        ) {
            (Some(_), Some(at)) => Some((text_column(r, 27)?, at, r.get(29)?)),
            (None, _) | (_, None) => None,
        },
        pool: r.get(30)?,
    })
}

pub fn by_id(conn: &Connection, id: i64) -> Result<Option<BackupRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("{SELECT} WHERE b.id = ?1"))?
        .query_row([id], from_row)
        .optional()?)
}

/// The instance's backups (by its UUID, which outlives its record),
/// newest first.
pub fn of_instance(conn: &Connection, instance_uuid: &str) -> Result<Vec<BackupRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "{SELECT} WHERE b.instance_uuid = ?1 ORDER BY b.id DESC"
    ))?;
    let rows = stmt
        .query_map([instance_uuid], from_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Backups that match the filter, failed and damaged ones first, then
/// newest first; at most `limit`.
pub fn matching(
    conn: &Connection,
    filter: &BackupFilter,
    instance_uuid: Option<&str>,
    limit: u32,
) -> Result<Vec<BackupRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "{SELECT}
         WHERE (?1 IS NULL OR b.instance_uuid = ?1)
           AND (?2 IS NULL OR b.state = ?2)
           AND (?3 IS NULL OR b.damaged = ?3)
         ORDER BY (b.state = 'failed' OR b.damaged) DESC, b.id DESC
         LIMIT ?4"
    ))?;
    let rows = stmt
        .query_map(
            params![
                instance_uuid,
                filter.state.map(|s| s.as_str()),
                filter.damaged,
                limit
            ],
            from_row,
        )?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// What a new backup is of.
pub struct NewBackup<'a> {
    pub instance_id: i64,
    pub instance_uuid: &'a str,
    pub instance_name: &'a str,
    pub owner_id: i64,
    pub department_id: Option<i64>,
    pub host_id: Option<i64>,
    pub size: &'a str,
    pub disk_gib: u32,
    pub kind: BackupKind,
    pub parent_id: Option<i64>,
    pub reason: Option<&'a str>,
    pub created_by: Option<i64>,
    pub params_json: &'a str,
    pub health_expect: &'a str,
    /// When it is taken (Unix seconds): the scheduler's clock.
    pub at: i64,
    /// The pool its file goes to; `None`: the default one.
    pub pool: Option<&'a str>,
}

/// Records a backup about to be taken, in `running`; its volume and
/// checkpoint are named after its id.
pub fn insert(conn: &Connection, new: &NewBackup<'_>) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO backups (instance_id, instance_uuid, instance_name, owner_id, department_id,
                              host_id, size, disk_gib, kind, parent_id, checkpoint, volume, state,
                              reason, created_by, created_at, params_json, health_expect, pool)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, '', 'pending-' || ?2 || '-' || ?11,
                 ?12, ?13, ?14, ?11, ?15, ?16, ?17)",
        params![
            new.instance_id,
            new.instance_uuid,
            new.instance_name,
            new.owner_id,
            new.department_id,
            new.host_id,
            new.size,
            new.disk_gib,
            new.kind.as_str(),
            new.parent_id,
            now_ms(),
            BackupState::Running.as_str(),
            new.reason,
            new.created_by,
            new.params_json,
            new.health_expect,
            new.pool,
        ],
    )?;
    let id = conn.last_insert_rowid();
    conn.execute(
        // It keeps its instance's stack version in use: a restore runs it.
        "UPDATE backups SET checkpoint = ?2, volume = ?3, created_at = ?4,
                version_id = (SELECT version_id FROM instances WHERE uuid = backups.instance_uuid)
         WHERE id = ?1",
        params![
            id,
            checkpoint_name(id),
            volume_name(new.instance_uuid, id),
            new.at
        ],
    )?;
    Ok(id)
}

/// The newest ready backup of the instance: what an incremental backup
/// builds on.
pub fn newest_ready(
    conn: &Connection,
    instance_uuid: &str,
) -> Result<Option<BackupRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "{SELECT} WHERE b.instance_uuid = ?1 AND b.state = 'ready' ORDER BY b.id DESC LIMIT 1"
        ))?
        .query_row([instance_uuid], from_row)
        .optional()?)
}

/// When the instance was last backed up (a started backup counts, so a
/// failing one is not retried every minute), in Unix seconds.
pub fn last_started(conn: &Connection, instance_uuid: &str) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT max(created_at) FROM backups WHERE instance_uuid = ?1")?
        .query_row([instance_uuid], |r| r.get(0))?)
}

/// The backup turned into a full one that starts a new chain (a
/// broken chain's incremental, or the point a merge leaves).
pub fn make_full(conn: &Connection, id: i64, reason: Option<&str>) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE backups SET kind = 'full', parent_id = NULL, reason = coalesce(?2, reason)
         WHERE id = ?1",
        params![id, reason],
    )?;
    Ok(())
}

/// The copy is made: how long it took, and how long the guest's
/// filesystems were frozen for it.
pub fn set_copied(
    conn: &Connection,
    id: i64,
    duration_ms: u64,
    frozen_ms: Option<u64>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE backups SET duration_ms = ?2, frozen_ms = ?3 WHERE id = ?1",
        params![id, duration_ms, frozen_ms],
    )?;
    Ok(())
}

/// The copy read back: its size and checksum; it can be restored.
pub fn set_ready(
    conn: &Connection,
    id: i64,
    size_bytes: u64,
    sha256: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE backups SET state = 'ready', size_bytes = ?2, sha256 = ?3, finished_at = ?4,
                verified_at = ?4, error = NULL
         WHERE id = ?1",
        params![id, size_bytes, sha256, now()],
    )?;
    Ok(())
}

/// A backup that did not finish: nothing of it counts.
pub fn set_failed(conn: &Connection, id: i64, error: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE backups SET state = 'failed', error = ?2, finished_at = ?3, size_bytes = 0
         WHERE id = ?1 AND state = 'running'",
        params![id, error, now()],
    )?;
    Ok(())
}

/// The outcome of checking a backup's file against its checksum.
pub fn set_verified(conn: &Connection, id: i64, damaged: bool) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE backups SET damaged = ?2, verified_at = ?3 WHERE id = ?1",
        params![id, damaged, now()],
    )?;
    Ok(())
}

/// A merge's outcome: the point's file now holds its whole chain, and it
/// is a full backup.
pub fn replace_point(
    conn: &Connection,
    id: i64,
    size_bytes: u64,
    sha256: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE backups SET size_bytes = ?2, sha256 = ?3, kind = 'full', parent_id = NULL,
                verified_at = ?4, damaged = 0
         WHERE id = ?1",
        params![id, size_bytes, sha256, now()],
    )?;
    Ok(())
}

/// Removes a backup's record; failed backups that named it as parent
/// forget it (they hold nothing).
pub fn delete(conn: &Connection, id: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE backups SET parent_id = NULL WHERE parent_id = ?1 AND state = 'failed'",
        [id],
    )?;
    conn.execute("DELETE FROM backups WHERE id = ?1", [id])?;
    Ok(())
}

/// Removes the instance's failed backups older than `id` (the oldest
/// point kept): the record of a failure goes with the points of its time.
pub fn delete_failed_before(
    conn: &Connection,
    instance_uuid: &str,
    id: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM backups WHERE instance_uuid = ?1 AND state = 'failed' AND id < ?2",
        params![instance_uuid, id],
    )?;
    Ok(())
}

/// The backups built directly on `id`.
pub fn children(conn: &Connection, id: i64) -> Result<Vec<BackupRow>, StoreError> {
    let mut stmt =
        conn.prepare_cached(&format!("{SELECT} WHERE b.parent_id = ?1 ORDER BY b.id"))?;
    let rows = stmt.query_map([id], from_row)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

/// The first point of `chain` that a restore cannot read: a damaged one
/// first, else one not ready. `None` when the whole chain restores.
pub fn unsound_point(chain: &[BackupRow]) -> Option<&BackupRow> {
    chain
        .iter()
        .find(|b| b.damaged)
        .or_else(|| chain.iter().find(|b| b.state != BackupState::Ready))
}

/// The chain a restore of `id` reads: its full backup first, `id` last.
pub fn chain(conn: &Connection, id: i64) -> Result<Vec<BackupRow>, StoreError> {
    let mut chain = Vec::new();
    let mut next = Some(id);
    while let Some(id) = next {
        if chain.len() > 10_000 || chain.iter().any(|b: &BackupRow| b.id == id) {
            return Err(StoreError::Corrupt("backup parents loop".into()));
        }
        let row = by_id(conn, id)?.ok_or(StoreError::NotFound("backup"))?;
        next = row.parent_id;
        chain.push(row);
    }
    chain.reverse();
    Ok(chain)
}

/// The backups still `running` with no running task (their task ended
/// or was cut off without marking them): crash leftovers.
pub fn orphaned_running(conn: &Connection) -> Result<Vec<BackupRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "{SELECT} WHERE b.state = 'running'
           AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.backup_id = b.id AND t.state = 'running')"
    ))?;
    let rows = stmt.query_map([], from_row)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

/// What the backups take in the store.
pub fn used_bytes(conn: &Connection) -> Result<u64, StoreError> {
    Ok(conn
        .prepare_cached("SELECT coalesce(sum(size_bytes), 0) FROM backups")?
        .query_row([], |r| r.get(0))?)
}

/// An instance the scheduler may back up: ready, with no running task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub instance_id: i64,
    pub department_id: Option<i64>,
    /// Since when it has been there, or was last backed up (Unix seconds).
    pub since: i64,
}

/// The instances the scheduler may back up now.
pub fn candidates(conn: &Connection) -> Result<Vec<Candidate>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT i.id, i.department_id,
                max(i.created_at, coalesce((SELECT max(b.created_at) FROM backups b
                                            WHERE b.instance_uuid = i.uuid), 0))
         FROM instances i
         WHERE i.status = 'ready'
           AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.instance_uuid = i.uuid
                                                 AND t.state = 'running')",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok(Candidate {
                instance_id: r.get(0)?,
                department_id: r.get(1)?,
                since: r.get(2)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// An instance whose newest sound backup a drill may restore.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrillCandidate {
    pub backup_id: i64,
    pub department_id: Option<i64>,
    /// When any of the instance's backups was last drilled, or its first
    /// ready backup was taken if none was (Unix seconds): a drill is due
    /// once a slot has passed since (the first at the slot after the
    /// first backup, not at once).
    pub since: i64,
}

/// For each instance, its newest ready backup, when that one and those
/// it builds on are sound. One query however many instances there are: the
/// drill scheduler asks every minute.
pub fn drill_candidates(conn: &Connection) -> Result<Vec<DrillCandidate>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "WITH RECURSIVE
         heads (id, department_id, since) AS (
             SELECT b.id, i.department_id,
                    coalesce((SELECT max(d.drilled_at) FROM backups d
                              WHERE d.instance_uuid = i.uuid),
                             (SELECT min(f.created_at) FROM backups f
                              WHERE f.instance_uuid = i.uuid AND f.state = 'ready'))
             FROM instances i JOIN backups b ON b.id = (
                 SELECT max(n.id) FROM backups n
                 WHERE n.instance_uuid = i.uuid AND n.state = 'ready')),
         -- Each head and every point it builds on (UNION: a loop ends).
         points (head, id) AS (
             SELECT id, id FROM heads
             UNION
             SELECT p.head, b.parent_id FROM points p JOIN backups b ON b.id = p.id
             WHERE b.parent_id IS NOT NULL)
         SELECT h.id, h.department_id, h.since FROM heads h
         WHERE NOT EXISTS (SELECT 1 FROM points p JOIN backups b ON b.id = p.id
                           WHERE p.head = h.id AND b.damaged)
         ORDER BY h.id",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok(DrillCandidate {
                backup_id: r.get(0)?,
                department_id: r.get(1)?,
                since: r.get(2)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Records how the backup's drill went (or that one started), `at`.
pub fn set_drill(
    conn: &Connection,
    id: i64,
    state: DrillState,
    at: i64,
    note: Option<&str>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE backups SET drill_state = ?2, drilled_at = ?3, drill_note = ?4 WHERE id = ?1",
        params![id, state.as_str(), at, note],
    )?;
    Ok(())
}

/// The UUIDs of deleted instances that still have backups.
pub fn of_deleted_instances(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT b.instance_uuid FROM backups b
         WHERE NOT EXISTS (SELECT 1 FROM instances i WHERE i.uuid = b.instance_uuid)",
    )?;
    let rows = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

// ---- policies ----

/// The key of the default policy in `backup_policies`.
const DEFAULT_KEY: i64 = 0;

fn policy(conn: &Connection, key: i64) -> Result<Option<BackupPolicy>, StoreError> {
    let row = conn
        .prepare_cached(
            "SELECT frequency, hour, keep, drill FROM backup_policies WHERE department_id = ?1",
        )?
        .query_row([key], |r| {
            Ok(BackupPolicy {
                frequency: text_column::<BackupFrequency>(r, 0)?,
                hour: r.get(1)?,
                keep: r.get(2)?,
                drill: text_column::<BackupFrequency>(r, 3)?,
            })
        })
        .optional()?;
    Ok(row)
}

fn set_policy(conn: &Connection, key: i64, p: Option<&BackupPolicy>) -> Result<(), StoreError> {
    match p {
        Some(p) => conn.execute(
            "INSERT INTO backup_policies (department_id, frequency, hour, keep, drill)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (department_id) DO UPDATE
             SET frequency = excluded.frequency, hour = excluded.hour, keep = excluded.keep,
                 drill = excluded.drill",
            params![key, p.frequency.as_str(), p.hour, p.keep, p.drill.as_str()],
        )?,
        None => conn.execute(
            "DELETE FROM backup_policies WHERE department_id = ?1",
            [key],
        )?,
    };
    Ok(())
}

/// The default policy: what departments without their own follow.
pub fn default_policy(conn: &Connection) -> Result<BackupPolicy, StoreError> {
    Ok(policy(conn, DEFAULT_KEY)?.unwrap_or_default())
}

pub fn set_default_policy(conn: &Connection, p: &BackupPolicy) -> Result<(), StoreError> {
    set_policy(conn, DEFAULT_KEY, Some(p))
}

/// The department's own policy, if it has one.
pub fn department_policy(
    conn: &Connection,
    department: i64,
) -> Result<Option<BackupPolicy>, StoreError> {
    policy(conn, department)
}

pub fn set_department_policy(
    conn: &Connection,
    department: i64,
    p: Option<&BackupPolicy>,
) -> Result<(), StoreError> {
    set_policy(conn, department, p)
}

/// The policy that applies to an instance charged to `department`: the
/// nearest own policy up its ancestry, else the default.
pub fn effective_policy(
    conn: &Connection,
    department: Option<i64>,
) -> Result<BackupPolicy, StoreError> {
    if let Some(department) = department {
        for d in departments::ancestry(conn, department)? {
            if let Some(p) = policy(conn, d.id)? {
                return Ok(p);
            }
        }
    }
    default_policy(conn)
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

    fn backup(conn: &Connection, ann: i64, id: i64, parent: Option<i64>) -> i64 {
        insert(
            conn,
            &NewBackup {
                instance_id: id,
                instance_uuid: "u1",
                instance_name: "wiki",
                owner_id: ann,
                department_id: None,
                host_id: None,
                size: "small",
                disk_gib: 1,
                kind: if parent.is_some() {
                    BackupKind::Incremental
                } else {
                    BackupKind::Full
                },
                parent_id: parent,
                reason: None,
                created_by: Some(ann),
                params_json: "{}",
                health_expect: "",
                at: now(),
                pool: None,
            },
        )
        .unwrap()
    }

    fn finish(conn: &Connection, id: i64) {
        set_copied(conn, id, 5, None).unwrap();
        set_ready(conn, id, 10, "ab").unwrap();
    }

    #[test]
    fn a_drill_candidate_is_the_newest_ready_point_of_a_chain_with_no_damaged_point() {
        let (conn, ann, id) = store_with_instance();
        let full = backup(&conn, ann, id, None);
        finish(&conn, full);
        let first = backup(&conn, ann, id, Some(full));
        finish(&conn, first);
        let running = backup(&conn, ann, id, Some(first));
        let heads = |conn: &Connection| {
            drill_candidates(conn)
                .unwrap()
                .iter()
                .map(|c| c.backup_id)
                .collect::<Vec<_>>()
        };
        assert_eq!(heads(&conn), [first], "not the running {running}");
        set_verified(&conn, full, true).unwrap();
        assert!(
            heads(&conn).is_empty(),
            "the full one it builds on is damaged"
        );
        set_verified(&conn, full, false).unwrap();
        assert_eq!(heads(&conn), [first]);
    }

    #[test]
    fn a_chain_reads_from_its_full_backup_to_the_point_asked_for() {
        let (conn, ann, id) = store_with_instance();
        let full = backup(&conn, ann, id, None);
        finish(&conn, full);
        let first = backup(&conn, ann, id, Some(full));
        finish(&conn, first);
        let second = backup(&conn, ann, id, Some(first));
        let ids = |rows: Vec<BackupRow>| rows.iter().map(|b| b.id).collect::<Vec<_>>();
        assert_eq!(ids(chain(&conn, second).unwrap()), [full, first, second]);
        assert_eq!(newest_ready(&conn, "u1").unwrap().unwrap().id, first);
        assert_eq!(ids(children(&conn, full).unwrap()), [first]);
        let row = by_id(&conn, second).unwrap().unwrap();
        assert_eq!(row.volume, volume_name("u1", second));
        assert_eq!(row.checkpoint, checkpoint_name(second));
        assert_eq!(row.state, BackupState::Running);
    }

    #[test]
    fn an_instances_backups_outlive_it() {
        let (conn, ann, id) = store_with_instance();
        let full = backup(&conn, ann, id, None);
        finish(&conn, full);
        instances::delete(&conn, id).unwrap();
        let kept = by_id(&conn, full).unwrap().unwrap();
        assert_eq!(kept.instance_id, None);
        assert_eq!(kept.instance_name, "wiki");
        assert_eq!(kept.owner_id, ann);
    }

    #[test]
    fn a_failed_backup_counts_nothing_and_failed_or_damaged_ones_list_first() {
        let (conn, ann, id) = store_with_instance();
        let good = backup(&conn, ann, id, None);
        finish(&conn, good);
        let bad = backup(&conn, ann, id, None);
        set_failed(&conn, bad, "the host failed").unwrap();
        let newest = backup(&conn, ann, id, None);
        finish(&conn, newest);
        let failed = by_id(&conn, bad).unwrap().unwrap();
        assert_eq!(failed.state, BackupState::Failed);
        assert_eq!(failed.size_bytes, 0);
        let all = matching(&conn, &BackupFilter::default(), None, 100).unwrap();
        assert_eq!(
            all.iter().map(|b| b.id).collect::<Vec<_>>(),
            [bad, newest, good]
        );
        set_verified(&conn, good, true).unwrap();
        let damaged = BackupFilter {
            damaged: Some(true),
            ..BackupFilter::default()
        };
        let found = matching(&conn, &damaged, Some("u1"), 100).unwrap();
        assert_eq!(found.iter().map(|b| b.id).collect::<Vec<_>>(), [good]);
    }

    #[test]
    fn a_department_follows_its_nearest_own_policy_then_the_default() {
        let (conn, _, _) = store_with_instance();
        let science = departments::insert(&conn, "Science", None).unwrap();
        let physics = departments::insert(&conn, "Physics", Some(science)).unwrap();
        assert_eq!(
            effective_policy(&conn, Some(physics)).unwrap(),
            BackupPolicy::default()
        );
        let weekly = BackupPolicy {
            frequency: BackupFrequency::Weekly,
            hour: 23,
            keep: 3,
            drill: BackupFrequency::Off,
        };
        set_department_policy(&conn, science, Some(&weekly)).unwrap();
        assert_eq!(effective_policy(&conn, Some(physics)).unwrap(), weekly);
        let off = BackupPolicy {
            frequency: BackupFrequency::Off,
            ..weekly
        };
        set_default_policy(&conn, &off).unwrap();
        assert_eq!(effective_policy(&conn, None).unwrap(), off);
        set_department_policy(&conn, science, None).unwrap();
        assert_eq!(effective_policy(&conn, Some(physics)).unwrap(), off);
    }
}
