//! Leases: each instance's (three columns of `instances`), and the
//! policies that set them: a department's own (`departments.lease_policy`,
//! JSON), inherited down the tree, else the appliance's default (a
//! setting). The course a lease runs is the engine's (`engine/leases.rs`).

use app::model::{LeasePolicy, LeaseStage};
use rusqlite::{Connection, OptionalExtension, params};

use super::instances::{
    InstanceRow, ListedInstance, SELECT, SELECT_LISTED, from_row, listed_from_row,
};
use super::{StoreError, departments, settings};

pub use super::lease_columns::Lease;

/// The setting that holds the appliance's default policy (JSON).
const DEFAULT_POLICY: &str = "lease_policy";

fn parse(what: &str, json: &str) -> Result<LeasePolicy, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn json(policy: &LeasePolicy) -> Result<String, StoreError> {
    serde_json::to_string(policy).map_err(|e| StoreError::Corrupt(format!("lease policy: {e}")))
}

/// The appliance's default policy ([`LeasePolicy::NONE`] until set).
pub fn default_policy(conn: &Connection) -> Result<LeasePolicy, StoreError> {
    match settings::get(conn, DEFAULT_POLICY)? {
        Some(text) => parse("default lease policy", &text),
        None => Ok(LeasePolicy::NONE),
    }
}

pub fn set_default_policy(conn: &Connection, policy: &LeasePolicy) -> Result<(), StoreError> {
    settings::set(conn, DEFAULT_POLICY, &json(policy)?)
}

/// A department's own policy; None: it inherits.
pub fn own_policy(conn: &Connection, department: i64) -> Result<Option<LeasePolicy>, StoreError> {
    let text: Option<Option<String>> = conn
        .prepare_cached("SELECT lease_policy FROM departments WHERE id = ?1")?
        .query_row([department], |r| r.get(0))
        .optional()?;
    match text {
        None => Err(StoreError::NotFound("department")),
        Some(None) => Ok(None),
        Some(Some(text)) => parse("a department's lease policy", &text).map(Some),
    }
}

/// Sets (or clears, to inherit) a department's own policy.
pub fn set_own_policy(
    conn: &Connection,
    department: i64,
    policy: Option<&LeasePolicy>,
) -> Result<(), StoreError> {
    let text = policy.map(json).transpose()?;
    let changed = conn.execute(
        "UPDATE departments SET lease_policy = ?2 WHERE id = ?1",
        params![department, text],
    )?;
    match changed {
        0 => Err(StoreError::NotFound("department")),
        _ => Ok(()),
    }
}

/// Where an effective policy comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicySource {
    /// The named department's own.
    Department(String),
    ApplianceDefault,
}

/// The policy instances charged to `department` follow: the nearest own
/// policy up the tree, else the appliance's default.
pub fn effective(
    conn: &Connection,
    department: Option<i64>,
) -> Result<(LeasePolicy, PolicySource), StoreError> {
    if let Some(d) = department {
        for dept in departments::ancestry(conn, d)? {
            if let Some(policy) = own_policy(conn, dept.id)? {
                return Ok((policy, PolicySource::Department(dept.name)));
            }
        }
    }
    Ok((default_policy(conn)?, PolicySource::ApplianceDefault))
}

/// Instances whose lease has something due by `horizon` (unix seconds):
/// a warning, the expiry, the deletion. Expired ones are among them, as
/// their expiry lies before any horizon.
pub fn due(conn: &Connection, horizon: i64) -> Result<Vec<InstanceRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "{SELECT} WHERE i.lease_expires_at IS NOT NULL AND i.lease_expires_at <= ?1
         ORDER BY i.lease_expires_at, i.id"
    ))?;
    let rows = stmt
        .query_map([horizon], from_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// [`expiring`]'s statement. The limit is written into the SQL: a bound
/// one has SQLite prepare the statement again at every run
/// (store/paging.rs).
fn expiring_sql(limit: u32) -> String {
    format!(
        "{SELECT_LISTED} WHERE i.lease_expires_at IS NOT NULL AND i.lease_expires_at <= ?1
           AND i.status != 'deleting'
           AND (?3 IS NULL OR i.owner_id = ?2
                OR i.department_id IN (SELECT value FROM json_each(?3)))
         ORDER BY i.lease_expires_at, i.id LIMIT {limit}"
    )
}

/// The instances owned by `owner` or charged to `departments` (None: all)
/// whose lease ends by `horizon` or has ended, soonest first, at most
/// `limit`; not those being deleted.
pub fn expiring(
    conn: &Connection,
    owner: i64,
    departments: Option<&[i64]>,
    horizon: i64,
    limit: u32,
) -> Result<Vec<ListedInstance>, StoreError> {
    let list = match departments {
        None => None,
        Some(d) => Some(
            serde_json::to_string(d)
                .map_err(|e| StoreError::Corrupt(format!("department list: {e}")))?,
        ),
    };
    let mut stmt = conn.prepare_cached(&expiring_sql(limit))?;
    let rows = stmt
        .query_map(params![horizon, owner, list], listed_from_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Records how far the lease has gone (and, once expired, when the
/// instance is deleted).
pub fn set_stage(
    conn: &Connection,
    instance: i64,
    stage: LeaseStage,
    deletes_at: Option<i64>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE instances SET lease_stage = ?2, lease_deletes_at = ?3 WHERE id = ?1",
        params![instance, stage.as_str(), deletes_at],
    )?;
    Ok(())
}

/// A new expiry: the lease starts its course again (an expired instance
/// is revived).
pub fn extend(conn: &Connection, instance: i64, expires_at: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE instances
         SET lease_expires_at = ?2, lease_stage = 'active', lease_deletes_at = NULL
         WHERE id = ?1",
        params![instance, expires_at],
    )?;
    Ok(())
}

/// The day use last moved the instance's lease (unix seconds / a day).
pub fn used_day(conn: &Connection, instance: i64) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT lease_used_day FROM instances WHERE id = ?1")?
        .query_row([instance], |r| r.get(0))
        .optional()?
        .flatten())
}

/// A day of use moves the lease to `expires_at` (as extending does) and
/// is noted, so that the day writes no more.
pub fn record_use(
    conn: &Connection,
    instance: i64,
    expires_at: i64,
    day: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE instances
         SET lease_expires_at = ?2, lease_stage = 'active', lease_deletes_at = NULL,
             lease_used_day = ?3
         WHERE id = ?1",
        params![instance, expires_at, day],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::memory_store;

    #[test]
    fn the_expiring_leases_asked_again_are_not_prepared_again() {
        let conn = memory_store();
        for (horizon, departments) in [(100, None), (200, Some(&[1, 2][..])), (300, None)] {
            expiring(&conn, 1, departments, horizon, 5).unwrap();
        }
        let stmt = conn.prepare_cached(&expiring_sql(5)).unwrap();
        assert_eq!(stmt.get_status(rusqlite::StatementStatus::RePrepare), 0);
    }
}
