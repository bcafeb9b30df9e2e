//! The warm pool's records: its targets (a setting) and its members,
//! guests booted ahead of time that a deploy claims in the transaction
//! that records its instance, so no member is ever claimed twice.

use std::collections::BTreeMap;

use app::model::{HostMode, PoolState};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::states::text_column;
use super::{StoreError, now, settings};

/// The setting that holds the targets, as JSON (absent: the defaults).
const TARGETS: &str = "pool_targets";

/// How many ready members to keep of each size, if an admin set them.
pub fn targets(conn: &Connection) -> Result<Option<BTreeMap<String, u32>>, StoreError> {
    settings::get(conn, TARGETS)?
        .map(|json| {
            serde_json::from_str(&json)
                .map_err(|e| StoreError::Corrupt(format!("setting {TARGETS}: {e}")))
        })
        .transpose()
}

pub fn set_targets(conn: &Connection, targets: &BTreeMap<String, u32>) -> Result<(), StoreError> {
    let json = serde_json::to_string(targets)
        .map_err(|e| StoreError::Corrupt(format!("setting {TARGETS}: {e}")))?;
    settings::set(conn, TARGETS, &json)
}

/// A member about to be built, recorded before any of its volumes exists
/// (so the reconciler never takes them for orphans).
pub struct NewMember<'a> {
    pub uuid: &'a str,
    pub volume_stem: &'a str,
    pub mac: &'a str,
    pub size: &'a str,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub disk_gib: u64,
    pub host_id: i64,
    pub network: &'a str,
    pub image: &'a str,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberRow {
    pub id: i64,
    pub uuid: String,
    pub volume_stem: String,
    pub mac: String,
    pub size: String,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub disk_gib: u64,
    pub host_id: i64,
    pub host: String,
    pub network: String,
    /// The golden image's checksum it was built from.
    pub image: String,
    pub state: PoolState,
    pub since: i64,
    /// The instance that claimed it.
    pub instance_id: Option<i64>,
}

const SELECT: &str = "
    SELECT m.id, m.uuid, m.volume_stem, m.mac, m.size, m.vcpus, m.memory_mib, m.disk_gib,
           m.host_id, h.name, m.network, m.image, m.state, m.since, m.instance_id
    FROM pool_members m JOIN hosts h ON h.id = m.host_id";

fn row(r: &Row<'_>) -> rusqlite::Result<MemberRow> {
    Ok(MemberRow {
        id: r.get(0)?,
        uuid: r.get(1)?,
        volume_stem: r.get(2)?,
        mac: r.get(3)?,
        size: r.get(4)?,
        vcpus: r.get(5)?,
        memory_mib: r.get(6)?,
        disk_gib: r.get(7)?,
        host_id: r.get(8)?,
        host: r.get(9)?,
        network: r.get(10)?,
        image: r.get(11)?,
        state: text_column(r, 12)?,
        since: r.get(13)?,
        instance_id: r.get(14)?,
    })
}

/// Records a member in `booting`.
pub fn insert(conn: &Connection, new: &NewMember<'_>) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO pool_members (uuid, volume_stem, mac, size, vcpus, memory_mib, disk_gib,
                                   host_id, network, image, state, since)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![
            new.uuid,
            new.volume_stem,
            new.mac,
            new.size,
            new.vcpus,
            new.memory_mib,
            new.disk_gib,
            new.host_id,
            new.network,
            new.image,
            PoolState::Booting.as_str(),
            now()
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Every member, oldest first.
pub fn list(conn: &Connection) -> Result<Vec<MemberRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("{SELECT} ORDER BY m.id"))?;
    let rows = stmt.query_map([], row)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

pub fn by_id(conn: &Connection, id: i64) -> Result<Option<MemberRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("{SELECT} WHERE m.id = ?1"))?;
    Ok(stmt.query_row([id], row).optional()?)
}

/// The member a warm deploy claimed.
pub fn of_instance(conn: &Connection, instance_id: i64) -> Result<Option<MemberRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("{SELECT} WHERE m.instance_id = ?1"))?;
    Ok(stmt.query_row([instance_id], row).optional()?)
}

/// Moves a member to `state`; whether it was still there.
pub fn set_state(conn: &Connection, id: i64, state: PoolState) -> Result<bool, StoreError> {
    let changed = conn.execute(
        "UPDATE pool_members SET state = ?2, since = ?3 WHERE id = ?1",
        params![id, state.as_str(), now()],
    )?;
    Ok(changed == 1)
}

/// Marks a member `recycling`, unless a deploy has claimed it meanwhile
/// (its task owns it then): whether it was marked.
pub fn mark_recycling(conn: &Connection, id: i64) -> Result<bool, StoreError> {
    let changed = conn.execute(
        "UPDATE pool_members SET state = ?2, since = ?3 WHERE id = ?1 AND state != ?4",
        params![
            id,
            PoolState::Recycling.as_str(),
            now(),
            PoolState::Claiming.as_str()
        ],
    )?;
    Ok(changed == 1)
}

/// The oldest ready member of `size`, for a deploy to claim with
/// [`mark_claimed`] in the transaction that records its instance: with one
/// writer, two deploys can never take the same member.
pub fn oldest_ready(conn: &Connection, size: &str) -> Result<Option<MemberRow>, StoreError> {
    // A host being drained gives no member away: it is about to go.
    let mut stmt = conn.prepare_cached(&format!(
        "{SELECT} WHERE m.state = ?1 AND m.size = ?2 AND h.mode = ?3 ORDER BY m.id LIMIT 1"
    ))?;
    Ok(stmt
        .query_row(
            params![PoolState::Ready.as_str(), size, HostMode::Active.as_str()],
            row,
        )
        .optional()?)
}

/// Gives a ready member to `instance_id`; false when it was not ready.
pub fn mark_claimed(conn: &Connection, id: i64, instance_id: i64) -> Result<bool, StoreError> {
    let changed = conn.execute(
        "UPDATE pool_members SET state = ?2, since = ?3, instance_id = ?4
         WHERE id = ?1 AND state = ?5",
        params![
            id,
            PoolState::Claiming.as_str(),
            now(),
            instance_id,
            PoolState::Ready.as_str()
        ],
    )?;
    Ok(changed == 1)
}

/// Forgets a member: its guest is the instance's now, or it is destroyed.
pub fn delete(conn: &Connection, id: i64) -> Result<(), StoreError> {
    conn.execute("DELETE FROM pool_members WHERE id = ?1", [id])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::memory_store;

    fn member<'a>(uuid: &'a str, size: &'a str) -> NewMember<'a> {
        NewMember {
            uuid,
            volume_stem: uuid,
            mac: uuid,
            size,
            vcpus: 1,
            memory_mib: 256,
            disk_gib: 1,
            host_id: 1,
            network: "default",
            image: "sha",
        }
    }

    #[test]
    fn a_ready_member_is_claimed_once_and_the_oldest_first() {
        let conn = memory_store();
        // The claiming instances are not recorded here.
        conn.pragma_update(None, "foreign_keys", false).unwrap();
        crate::store::hosts::insert(&conn, "h", "test:///default", "/tmp", "default").unwrap();
        for uuid in ["a", "b", "c"] {
            insert(&conn, &member(uuid, "small")).unwrap();
        }
        insert(&conn, &member("d", "large")).unwrap();
        for m in list(&conn).unwrap() {
            if m.uuid != "c" {
                set_state(&conn, m.id, PoolState::Ready).unwrap();
            }
        }
        let taken: Vec<_> = (1..=3)
            .map(|instance| {
                let m = oldest_ready(&conn, "small").unwrap()?;
                assert!(mark_claimed(&conn, m.id, instance).unwrap());
                Some(m.uuid)
            })
            .collect();
        assert_eq!(
            taken,
            [Some("a".to_owned()), Some("b".to_owned()), None],
            "c is still booting, d is another size"
        );
    }

    #[test]
    fn a_member_a_deploy_has_claimed_is_not_marked_for_recycling() {
        let conn = memory_store();
        conn.pragma_update(None, "foreign_keys", false).unwrap();
        crate::store::hosts::insert(&conn, "h", "test:///default", "/tmp", "default").unwrap();
        let claimed = insert(&conn, &member("a", "small")).unwrap();
        let idle = insert(&conn, &member("b", "small")).unwrap();
        for id in [claimed, idle] {
            set_state(&conn, id, PoolState::Ready).unwrap();
        }
        assert!(mark_claimed(&conn, claimed, 7).unwrap());
        assert!(!mark_recycling(&conn, claimed).unwrap());
        assert!(mark_recycling(&conn, idle).unwrap());
        let states: Vec<_> = list(&conn).unwrap().into_iter().map(|m| m.state).collect();
        assert_eq!(states, [PoolState::Claiming, PoolState::Recycling]);
    }

    #[test]
    fn targets_are_absent_until_set_and_read_back_as_set() {
        let conn = memory_store();
        assert_eq!(targets(&conn).unwrap(), None);
        let wanted = BTreeMap::from([("small".to_owned(), 2)]);
        set_targets(&conn, &wanted).unwrap();
        assert_eq!(targets(&conn).unwrap(), Some(wanted));
    }
}
