//! Instances: what users deployed. Power state and address mirror libvirt
//! (the reconciler writes them); everything else is ours.

use std::collections::{HashMap, HashSet};

use app::model::{Health, InstanceStatus, NetworkZone, Power, Share};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::lease_columns::Lease;
use super::states::text_column;
use super::{StoreError, now};

pub struct NewInstance<'a> {
    pub uuid: &'a str,
    pub name: &'a str,
    pub owner_id: i64,
    pub size: &'a str,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub disk_gib: u64,
    pub network: &'a str,
    pub mac: &'a str,
    pub params_json: &'a str,
    pub health_expect: &'a str,
    pub zone: NetworkZone,
    /// An outside instance's address (also its known IP from the start).
    pub static_address: Option<&'a str>,
    /// JSON of its whole static configuration, for the seed.
    pub static_network: Option<&'a str>,
    /// The department charged for it (the owner's, at deploy).
    pub department_id: Option<i64>,
    /// What its volume names start with (see [`InstanceRow::volume_stem`]).
    pub volume_stem: &'a str,
    /// Its gateway port, if the apps are addressed by port (or one was free).
    pub app_port: Option<u16>,
    /// When its lease ends (unix seconds), from its department's policy.
    pub lease_expires_at: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceRow {
    pub id: i64,
    pub uuid: String,
    pub name: String,
    pub owner_id: i64,
    pub owner: String,
    pub size: String,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub disk_gib: u64,
    pub host_id: Option<i64>,
    pub host: Option<String>,
    pub network: String,
    pub mac: String,
    pub params_json: String,
    pub status: InstanceStatus,
    pub power: Power,
    pub ip: Option<String>,
    pub error: Option<String>,
    pub created_at: i64,
    pub running_task: Option<i64>,
    pub health: Health,
    pub health_expect: Option<String>,
    pub seed_scrubbed: bool,
    pub healthy_ms: Option<i64>,
    pub zone: NetworkZone,
    pub static_network: Option<String>,
    pub department_id: Option<i64>,
    /// What its volume names start with: `dpe-APPLIANCE-UUID` (before
    /// schema 9: `dpe-UUID`).
    pub volume_stem: String,
    pub share: Share,
    /// Its gateway port (see [`NewInstance::app_port`]).
    pub app_port: Option<u16>,
    pub lease: Option<Lease>,
    pub approval: Option<InstanceApprovalRow>,
    /// Since when its host has not answered (unix seconds): derived from
    /// the host, never written to the instance.
    pub host_unreachable_since: Option<i64>,
    /// The stack version it runs; None until its disk is made.
    pub version: Option<InstanceVersionRow>,
}

// The two pieces every instance statement ([`SELECT`], [`SELECT_LISTED`])
// shares, as macros so that `concat!` builds both from one copy.
//
// The running task's id: `t.state = 'running'` is written out, not bound:
// SQLite uses the partial index `one_running_task_per_instance` only for
// the very predicate it was made with.
// `running_task_predicate_is_task_state_running` keeps it true.
macro_rules! running_task {
    () => {
        "(SELECT t.id FROM tasks t WHERE t.instance_uuid = i.uuid AND t.state = 'running')"
    };
}
// Its lease, as `Lease::read` takes it.
macro_rules! lease_columns {
    () => {
        "i.lease_expires_at, i.lease_stage, i.lease_deletes_at"
    };
}
// Its approval, as `InstanceApprovalRow::read` takes it (one at most:
// `approvals.instance_id` is unique).
macro_rules! approval_columns {
    () => {
        ", ap.id, ap.state, apd.username, ap.comment"
    };
}
// What they read from: the instance, its owner's name, its host's name,
// its approval and who decided it.
macro_rules! instances_joined {
    () => {
        "
    FROM instances i
    JOIN users u ON u.id = i.owner_id
    LEFT JOIN hosts h ON h.id = i.host_id
    LEFT JOIN approvals ap ON ap.instance_id = i.id
    LEFT JOIN users apd ON apd.id = ap.decided_by
    LEFT JOIN stack_versions sv ON sv.id = i.version_id"
    };
}

/// The stack version an instance runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceVersionRow {
    pub id: i64,
    pub label: String,
    pub current: bool,
}

impl InstanceVersionRow {
    /// From its three columns, from `index` on; None without one.
    fn read(r: &Row<'_>, index: usize) -> rusqlite::Result<Option<InstanceVersionRow>> {
        let Some(id) = r.get(index)? else {
            return Ok(None);
        };
        Ok(Some(InstanceVersionRow {
            id,
            label: r.get(index + 1)?,
            current: r.get(index + 2)?,
        }))
    }
}

/// The approval an instance's deploy went through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceApprovalRow {
    pub id: i64,
    pub state: app::model::ApprovalState,
    pub decided_by: Option<String>,
    pub comment: String,
}

impl InstanceApprovalRow {
    /// From its four columns, from `index` on; None without one.
    fn read(r: &Row<'_>, index: usize) -> rusqlite::Result<Option<InstanceApprovalRow>> {
        let Some(id) = r.get(index)? else {
            return Ok(None);
        };
        Ok(Some(InstanceApprovalRow {
            id,
            state: text_column(r, index + 1)?,
            decided_by: r.get(index + 2)?,
            comment: r.get(index + 3)?,
        }))
    }
}

pub(super) const SELECT: &str = concat!(
    "
    SELECT i.id, i.uuid, i.name, i.owner_id, u.username, i.size, i.vcpus, i.memory_mib,
           i.disk_gib, i.host_id, h.name, i.network, i.mac, i.params, i.status, i.power, i.ip,
           i.error, i.created_at, ",
    running_task!(),
    ",
           i.health, i.health_expect, i.seed_scrubbed, i.healthy_ms, i.zone, i.static_network,
           i.department_id, i.volume_stem, i.share, i.app_port, ",
    lease_columns!(),
    approval_columns!(),
    ", h.unreachable_since, sv.id, sv.label, sv.current",
    instances_joined!()
);

pub(super) fn from_row(r: &Row<'_>) -> rusqlite::Result<InstanceRow> {
    let power = r.get_ref(15)?.as_str()?;
    Ok(InstanceRow {
        id: r.get(0)?,
        uuid: r.get(1)?,
        name: r.get(2)?,
        owner_id: r.get(3)?,
        owner: r.get(4)?,
        size: r.get(5)?,
        vcpus: r.get(6)?,
        memory_mib: r.get(7)?,
        disk_gib: r.get(8)?,
        host_id: r.get(9)?,
        host: r.get(10)?,
        network: r.get(11)?,
        mac: r.get(12)?,
        params_json: r.get(13)?,
        status: text_column(r, 14)?,
        power: Power::parse(power),
        ip: r.get(16)?,
        error: r.get(17)?,
        created_at: r.get(18)?,
        running_task: r.get(19)?,
        health: text_column(r, 20)?,
        health_expect: r.get(21)?,
        seed_scrubbed: r.get(22)?,
        healthy_ms: r.get(23)?,
        zone: text_column(r, 24)?,
        static_network: r.get(25)?,
        department_id: r.get(26)?,
        volume_stem: r.get(27)?,
        share: text_column(r, 28)?,
        app_port: r.get(29)?,
        lease: Lease::read(r, 30)?,
        approval: InstanceApprovalRow::read(r, 33)?,
        host_unreachable_since: r.get(37)?,
        version: InstanceVersionRow::read(r, 38)?,
    })
}

/// What lists and pages show of an instance, and what they order and
/// authorize it by: a list reads these columns alone (a page of 50 rows
/// with every column cost a fifth of a list page's time, most of it
/// copying text no page shows).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedInstance {
    pub id: i64,
    pub name: String,
    pub owner_id: i64,
    pub owner: String,
    pub department_id: Option<i64>,
    pub size: String,
    pub host: Option<String>,
    pub status: InstanceStatus,
    pub power: Power,
    pub ip: Option<String>,
    pub error: Option<String>,
    pub created_at: i64,
    pub running_task: Option<i64>,
    pub health: Health,
    pub zone: NetworkZone,
    pub share: Share,
    pub app_port: Option<u16>,
    pub lease: Option<Lease>,
    pub approval: Option<InstanceApprovalRow>,
    /// Since when its host has not answered (unix seconds): derived from
    /// the host, never written to the instance.
    pub host_unreachable_since: Option<i64>,
    /// The stack version it runs; None until its disk is made.
    pub version: Option<InstanceVersionRow>,
}

/// [`SELECT`]'s joins, for [`ListedInstance`]'s columns.
pub(super) const SELECT_LISTED: &str = concat!(
    "
    SELECT i.id, i.name, i.owner_id, u.username, i.department_id, i.size, h.name, i.status,
           i.power, i.ip, i.error, i.created_at, ",
    running_task!(),
    ",
           i.health, i.zone, i.share, i.app_port, ",
    lease_columns!(),
    approval_columns!(),
    ", h.unreachable_since, sv.id, sv.label, sv.current",
    instances_joined!()
);

pub(super) fn listed_from_row(r: &Row<'_>) -> rusqlite::Result<ListedInstance> {
    Ok(ListedInstance {
        id: r.get(0)?,
        name: r.get(1)?,
        owner_id: r.get(2)?,
        owner: r.get(3)?,
        department_id: r.get(4)?,
        size: r.get(5)?,
        host: r.get(6)?,
        status: text_column(r, 7)?,
        power: Power::parse(r.get_ref(8)?.as_str()?),
        ip: r.get(9)?,
        error: r.get(10)?,
        created_at: r.get(11)?,
        running_task: r.get(12)?,
        health: text_column(r, 13)?,
        zone: text_column(r, 14)?,
        share: text_column(r, 15)?,
        app_port: r.get(16)?,
        lease: Lease::read(r, 17)?,
        approval: InstanceApprovalRow::read(r, 20)?,
        host_unreachable_since: r.get(24)?,
        version: InstanceVersionRow::read(r, 25)?,
    })
}

impl From<InstanceRow> for ListedInstance {
    fn from(row: InstanceRow) -> ListedInstance {
        ListedInstance {
            id: row.id,
            name: row.name,
            owner_id: row.owner_id,
            owner: row.owner,
            department_id: row.department_id,
            size: row.size,
            host: row.host,
            status: row.status,
            power: row.power,
            ip: row.ip,
            error: row.error,
            created_at: row.created_at,
            running_task: row.running_task,
            health: row.health,
            zone: row.zone,
            share: row.share,
            app_port: row.app_port,
            lease: row.lease,
            approval: row.approval,
            host_unreachable_since: row.host_unreachable_since,
            version: row.version,
        }
    }
}

pub fn insert(conn: &Connection, new: &NewInstance<'_>) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO instances (uuid, name, owner_id, size, vcpus, memory_mib, disk_gib,
                                network, mac, params, status, created_at, health_expect,
                                zone, static_address, static_network, ip, department_id,
                                volume_stem, app_port, lease_expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?18, ?11, ?12,
                 ?13, ?14, ?15, ?14, ?16, ?17, ?19, ?20)",
        params![
            new.uuid,
            new.name,
            new.owner_id,
            new.size,
            new.vcpus,
            new.memory_mib,
            new.disk_gib,
            new.network,
            new.mac,
            new.params_json,
            now(),
            new.health_expect,
            new.zone.as_str(),
            new.static_address,
            new.static_network,
            new.department_id,
            new.volume_stem,
            InstanceStatus::Provisioning.as_str(),
            new.app_port,
            new.lease_expires_at
        ],
    )
    .map_err(|e| StoreError::unique_as(e, "an instance with that name"))?;
    Ok(conn.last_insert_rowid())
}

/// The instance a gateway origin names: by its port, or by its name.
pub fn by_app_port(conn: &Connection, port: u16) -> Result<Option<InstanceRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("{SELECT} WHERE i.app_port = ?1"))?
        .query_row([port], from_row)
        .optional()?)
}

pub fn by_name(conn: &Connection, name: &str) -> Result<Option<InstanceRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("{SELECT} WHERE i.name = ?1"))?
        .query_row([name], from_row)
        .optional()?)
}

/// The lowest port of `first..=last` that no instance has.
pub fn free_app_port(conn: &Connection, first: u16, last: u16) -> Result<Option<u16>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT app_port FROM instances WHERE app_port BETWEEN ?1 AND ?2 ORDER BY app_port",
    )?;
    let taken = stmt
        .query_map(params![first, last], |r| r.get::<_, u16>(0))?
        .collect::<Result<HashSet<u16>, _>>()?;
    Ok((first..=last).find(|p| !taken.contains(p)))
}

/// Every instance's gateway port, for the listeners.
pub fn app_ports(conn: &Connection) -> Result<Vec<u16>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT app_port FROM instances WHERE app_port IS NOT NULL")?;
    let ports = stmt
        .query_map([], |r| r.get::<_, u16>(0))?
        .collect::<Result<Vec<u16>, _>>()?;
    Ok(ports)
}

/// Gives each instance without a port one of `first..=last`, while free
/// ones last (instances from before the gateway, or from a domain setting).
pub fn assign_app_ports(conn: &Connection, first: u16, last: u16) -> Result<usize, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT id FROM instances WHERE app_port IS NULL ORDER BY id")?;
    let ids = stmt
        .query_map([], |r| r.get::<_, i64>(0))?
        .collect::<Result<Vec<i64>, _>>()?;
    let mut assigned = 0;
    for id in ids {
        let Some(port) = free_app_port(conn, first, last)? else {
            break;
        };
        conn.execute(
            "UPDATE instances SET app_port = ?2 WHERE id = ?1",
            params![id, port],
        )?;
        assigned += 1;
    }
    Ok(assigned)
}

pub fn set_share(conn: &Connection, id: i64, share: Share) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE instances SET share = ?2 WHERE id = ?1",
        params![id, share.as_str()],
    )?;
    Ok(())
}

pub fn by_id(conn: &Connection, id: i64) -> Result<Option<InstanceRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("{SELECT} WHERE i.id = ?1"))?
        .query_row([id], from_row)
        .optional()?)
}

pub fn by_uuid(conn: &Connection, uuid: &str) -> Result<Option<InstanceRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("{SELECT} WHERE i.uuid = ?1"))?
        .query_row([uuid], from_row)
        .optional()?)
}

/// All instances, or one owner's.
pub fn list(conn: &Connection, owner: Option<i64>) -> Result<Vec<InstanceRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "{SELECT} WHERE ?1 IS NULL OR i.owner_id = ?1 ORDER BY i.created_at DESC, i.id DESC"
    ))?;
    let rows = stmt
        .query_map([owner], from_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Every instance's id.
pub fn ids(conn: &Connection) -> Result<Vec<i64>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT id FROM instances ORDER BY id")?;
    let rows = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

pub fn on_host(conn: &Connection, host_id: i64) -> Result<Vec<InstanceRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("{SELECT} WHERE i.host_id = ?1"))?;
    let rows = stmt
        .query_map([host_id], from_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// What the store knows of every instance, to tell dpe's own libvirt
/// objects from orphans.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OnRecord {
    pub uuids: HashSet<String>,
    pub volume_stems: HashSet<String>,
}

pub fn on_record(conn: &Connection) -> Result<OnRecord, StoreError> {
    // Warm-pool members and drills' throwaway guests are dpe's too (a
    // claimed member is in both).
    let mut stmt = conn.prepare_cached(
        "SELECT uuid, volume_stem FROM instances
         UNION SELECT uuid, volume_stem FROM pool_members
         UNION SELECT uuid, volume_stem FROM drills",
    )?;
    let mut known = OnRecord::default();
    for row in stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))? {
        let (uuid, stem) = row?;
        known.uuids.insert(uuid);
        known.volume_stems.insert(stem);
    }
    Ok(known)
}

/// (vCPUs, MiB) committed on each host by instances that hold resources.
pub fn committed_by_host(conn: &Connection) -> Result<HashMap<i64, (u64, u64)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT host_id, sum(vcpus), sum(memory_mib) FROM (
             SELECT host_id, vcpus, memory_mib FROM instances
             WHERE host_id IS NOT NULL AND status != ?1
             -- members hold room on their host too; a claimed one is
             -- counted once, as its instance
             UNION ALL SELECT host_id, vcpus, memory_mib FROM pool_members
             WHERE instance_id IS NULL
             UNION ALL SELECT host_id, vcpus, memory_mib FROM drills
         ) GROUP BY host_id",
    )?;
    let rows = stmt
        .query_map([InstanceStatus::Failed.as_str()], |r| {
            Ok((r.get(0)?, (r.get(1)?, r.get(2)?)))
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Records instance `id`'s size: a resize's at its admission (its quota
/// taken at once), or the old one again when the resize is undone.
pub fn set_size(
    conn: &Connection,
    id: i64,
    name: &str,
    vcpus: u32,
    memory_mib: u64,
    disk_gib: u64,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE instances SET size = ?2, vcpus = ?3, memory_mib = ?4, disk_gib = ?5 WHERE id = ?1",
        params![id, name, vcpus, memory_mib, disk_gib],
    )?;
    Ok(())
}

pub fn set_host(conn: &Connection, id: i64, host_id: Option<i64>) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE instances SET host_id = ?2 WHERE id = ?1",
        params![id, host_id],
    )?;
    Ok(())
}

/// Records instance `id`'s lifecycle status and why it is there; a change
/// its lifecycle does not allow is refused with `Transition`. An instance
/// that is gone stays gone: a delete that removed it and then failed
/// records its failure on nothing, as it always did.
pub fn set_status(
    conn: &Connection,
    id: i64,
    status: InstanceStatus,
    error: Option<&str>,
) -> Result<(), StoreError> {
    let current: Option<InstanceStatus> = conn
        .prepare_cached("SELECT status FROM instances WHERE id = ?1")?
        .query_row([id], |r| text_column(r, 0))
        .optional()?;
    let Some(from) = current else {
        return Ok(());
    };
    if !from.may_become(status) {
        return Err(StoreError::Transition {
            id,
            from,
            to: status,
        });
    }
    conn.execute(
        "UPDATE instances SET status = ?2, error = ?3 WHERE id = ?1",
        params![id, status.as_str(), error],
    )?;
    Ok(())
}

/// Records why the last action on an instance failed; its status stays
/// (a failed start or shutdown leaves a usable instance).
pub fn set_error(conn: &Connection, id: i64, error: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE instances SET error = ?2 WHERE id = ?1",
        params![id, error],
    )?;
    Ok(())
}

/// Records what libvirt says; returns whether anything changed.
pub fn observe(
    conn: &Connection,
    id: i64,
    power: Power,
    ip: Option<&str>,
) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "UPDATE instances SET power = ?2, ip = coalesce(?3, ip)
         WHERE id = ?1 AND (power IS NOT ?2 OR (?3 IS NOT NULL AND ip IS NOT ?3))",
        params![id, power.as_str(), ip],
    )? == 1)
}

/// Records a health check; the first success is timed.
pub fn set_health(conn: &Connection, id: i64, health: Health) -> Result<(), StoreError> {
    let first_success_ms = (health == Health::Healthy).then(super::now_ms);
    conn.execute(
        "UPDATE instances SET health = ?2, healthy_ms = coalesce(healthy_ms, ?3)
         WHERE id = ?1 AND health IS NOT ?2",
        params![id, health.as_str(), first_success_ms],
    )?;
    Ok(())
}

pub fn set_seed_scrubbed(conn: &Connection, id: i64) -> Result<(), StoreError> {
    conn.execute("UPDATE instances SET seed_scrubbed = 1 WHERE id = ?1", [id])?;
    Ok(())
}

pub fn delete(conn: &Connection, id: i64) -> Result<(), StoreError> {
    // Its approval stays on record, naming no instance: ids are reused.
    conn.execute(
        "UPDATE approvals SET instance_id = NULL WHERE instance_id = ?1",
        [id],
    )?;
    conn.execute("DELETE FROM instances WHERE id = ?1", [id])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use app::model::{Role, TaskState};

    use super::*;
    use crate::store::test_support::{memory_store, new_instance};
    use crate::store::users;

    /// An instance of a new account, as a deploy records it: provisioning.
    fn provisioning(conn: &Connection) -> i64 {
        let owner = users::insert(conn, "ann", None, Role::User).unwrap();
        insert(conn, &new_instance("uuid-1", "wiki", owner)).unwrap()
    }

    fn status_of(conn: &Connection, id: i64) -> InstanceStatus {
        by_id(conn, id).unwrap().unwrap().status
    }

    #[test]
    fn an_unknown_stored_zone_is_corrupt_data_not_inside() {
        let conn = memory_store();
        let id = provisioning(&conn);
        // The column's CHECK refuses the text; only a damaged or hand-edited
        // store has it, which is what this stands for.
        conn.execute_batch("PRAGMA ignore_check_constraints = ON")
            .unwrap();
        conn.execute("UPDATE instances SET zone = 'sideways' WHERE id = ?1", [id])
            .unwrap();
        let e = by_id(&conn, id).unwrap_err();
        assert!(matches!(e, StoreError::Corrupt(_)), "{e:?}");
        assert!(
            e.to_string().contains(r#"unknown NetworkZone "sideways""#),
            "{e}"
        );
        let listed = conn
            .prepare(&format!("{SELECT_LISTED} WHERE i.id = ?1"))
            .unwrap()
            .query_row([id], listed_from_row)
            .map_err(StoreError::from)
            .unwrap_err();
        assert!(matches!(listed, StoreError::Corrupt(_)), "{listed:?}");
    }

    #[test]
    fn a_status_change_the_lifecycle_allows_is_recorded_with_its_error() {
        let conn = memory_store();
        let id = provisioning(&conn);
        set_status(&conn, id, InstanceStatus::Failed, Some("no room")).unwrap();
        let row = by_id(&conn, id).unwrap().unwrap();
        assert_eq!(row.status, InstanceStatus::Failed);
        assert_eq!(row.error.as_deref(), Some("no room"));
        set_status(&conn, id, InstanceStatus::Deleting, None).unwrap();
        assert_eq!(status_of(&conn, id), InstanceStatus::Deleting);
    }

    #[test]
    fn a_status_change_the_lifecycle_refuses_is_an_error_and_changes_nothing() {
        let conn = memory_store();
        let id = provisioning(&conn);
        set_status(&conn, id, InstanceStatus::Ready, None).unwrap();
        let e = set_status(&conn, id, InstanceStatus::Provisioning, Some("x")).unwrap_err();
        assert!(
            matches!(
                e,
                StoreError::Transition {
                    from: InstanceStatus::Ready,
                    to: InstanceStatus::Provisioning,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            format!("instance {id} cannot go from ready to provisioning")
        );
        let row = by_id(&conn, id).unwrap().unwrap();
        assert_eq!(row.status, InstanceStatus::Ready);
        assert_eq!(row.error, None);
    }

    #[test]
    fn a_status_written_for_a_deleted_instance_is_no_error() {
        let conn = memory_store();
        let id = provisioning(&conn);
        delete(&conn, id).unwrap();
        set_status(&conn, id, InstanceStatus::Failed, Some("gone")).unwrap();
        assert_eq!(by_id(&conn, id).unwrap(), None);
    }

    #[test]
    fn running_task_predicate_is_task_state_running() {
        let predicate = format!("t.state = '{}'", TaskState::Running.as_str());
        assert!(SELECT.contains(&predicate), "{predicate}");
        assert!(SELECT_LISTED.contains(&predicate), "{predicate}");
    }
}
