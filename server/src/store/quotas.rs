//! Quotas on departments and accounts, what instances take of them, and the
//! check a deploy must pass. Departments and users hold the same four
//! quota columns; this module writes them (`quota_columns` reads them).

use std::collections::HashMap;

use app::model::{InstanceStatus, Role};
use app::org::{Quota, Usage};
use rusqlite::{Connection, Row, params};

use super::StoreError;
use super::departments::{self, DepartmentRow};

/// What a quota is set on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holder {
    Department(i64),
    User(i64),
}

pub fn set(conn: &Connection, holder: Holder, quota: &Quota) -> Result<(), StoreError> {
    let (sql, id) = match holder {
        Holder::Department(id) => (
            "UPDATE departments SET quota_instances = ?2, quota_vcpus = ?3,
                quota_memory_mib = ?4, quota_disk_gib = ?5 WHERE id = ?1",
            id,
        ),
        Holder::User(id) => (
            "UPDATE users SET quota_instances = ?2, quota_vcpus = ?3,
                quota_memory_mib = ?4, quota_disk_gib = ?5 WHERE id = ?1",
            id,
        ),
    };
    conn.execute(
        sql,
        params![
            id,
            quota.instances,
            quota.vcpus,
            quota.memory_mib,
            quota.disk_gib
        ],
    )?;
    Ok(())
}

// Failed instances hold nothing and do not count in any usage. Disk is the
// instances' disks and their snapshots' actual size, the latter summed in
// bytes and rounded up to whole GiB once per scope (through the snapshots'
// (instance_id, name) index).
const TAKEN: &str = "count(*), coalesce(sum(vcpus), 0), coalesce(sum(memory_mib), 0),
    coalesce(sum(disk_gib), 0)
      + (coalesce(sum((SELECT sum(s.size_bytes) FROM snapshots s
                       WHERE s.instance_id = instances.id)), 0) + 1073741823) / 1073741824";

fn usage_at(r: &Row<'_>, first: usize) -> rusqlite::Result<Usage> {
    Ok(Usage {
        instances: r.get(first)?,
        vcpus: r.get(first + 1)?,
        memory_mib: r.get(first + 2)?,
        disk_gib: r.get(first + 3)?,
    })
}

fn add(total: &mut Usage, more: &Usage) {
    total.instances += more.instances;
    total.vcpus += more.vcpus;
    total.memory_mib += more.memory_mib;
    total.disk_gib += more.disk_gib;
}

/// What the instances charged to the department and those below it take.
pub fn department_usage(conn: &Connection, id: i64) -> Result<Usage, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "WITH RECURSIVE below(id) AS (
                 SELECT ?1
                 UNION SELECT d.id FROM departments d JOIN below b ON d.parent_id = b.id)
             SELECT {TAKEN} FROM instances
             WHERE status != ?2 AND department_id IN (SELECT id FROM below)"
        ))?
        .query_row(params![id, InstanceStatus::Failed.as_str()], |r| {
            usage_at(r, 0)
        })?)
}

/// [`department_usage`] of every department, from one scan of the
/// instances: each department's own use, added up the parent chain.
pub fn usage_by_department(
    conn: &Connection,
    all: &[DepartmentRow],
) -> Result<HashMap<i64, Usage>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT department_id, {TAKEN} FROM instances
         WHERE status != ?1 AND department_id IS NOT NULL GROUP BY department_id"
    ))?;
    let own: Vec<(i64, Usage)> = stmt
        .query_map([InstanceStatus::Failed.as_str()], |r| {
            Ok((r.get(0)?, usage_at(r, 1)?))
        })?
        .collect::<Result<_, _>>()?;
    let parents: HashMap<i64, Option<i64>> = all.iter().map(|d| (d.id, d.parent_id)).collect();
    let mut totals: HashMap<i64, Usage> = all.iter().map(|d| (d.id, Usage::default())).collect();
    for (department, usage) in own {
        let mut next = Some(department);
        // Bounded like `departments::ancestry`: a corrupt store must not hang.
        for _ in 0..=departments::MAX_DEPTH {
            let Some(id) = next else { break };
            if let Some(total) = totals.get_mut(&id) {
                add(total, &usage);
            }
            next = parents.get(&id).copied().flatten();
        }
    }
    Ok(totals)
}

/// What one account's instances take.
pub fn user_usage(conn: &Connection, user_id: i64) -> Result<Usage, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {TAKEN} FROM instances WHERE status != ?2 AND owner_id = ?1"
        ))?
        .query_row(params![user_id, InstanceStatus::Failed.as_str()], |r| {
            usage_at(r, 0)
        })?)
}

/// [`user_usage`] of each of `users` that owns instances, in one query
/// (a page of accounts: sought through each one's instances).
pub fn usage_of_users(conn: &Connection, users: &[i64]) -> Result<HashMap<i64, Usage>, StoreError> {
    // Not kept: its text names each page's accounts, so kept statements
    // would only push out those that are asked again.
    let mut stmt = conn.prepare(&format!(
        "SELECT owner_id, {TAKEN} FROM instances
         WHERE status != ?1 AND owner_id IN ({}) GROUP BY owner_id",
        super::paging::id_list(users)
    ))?;
    let rows = stmt
        .query_map([InstanceStatus::Failed.as_str()], |r| {
            Ok((r.get(0)?, usage_at(r, 1)?))
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// One of a quota's four limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource {
    Instances,
    Vcpus,
    Memory,
    Disk,
}

impl Resource {
    /// `amount` of this resource, in words: "1 instance", "8 vCPUs".
    fn amount(self, amount: u64) -> String {
        let one = amount == 1;
        match self {
            Resource::Instances if one => "1 instance".to_owned(),
            Resource::Instances => format!("{amount} instances"),
            Resource::Vcpus if one => "1 vCPU".to_owned(),
            Resource::Vcpus => format!("{amount} vCPUs"),
            Resource::Memory => format!("{amount} MiB of memory"),
            Resource::Disk => format!("{amount} GiB of disk"),
        }
    }
}

/// A quota that a deploy would break: which, and by how much.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exceeded {
    /// "your quota" or "the quota of department Physics".
    pub scope: String,
    pub resource: Resource,
    pub limit: u64,
    pub used: u64,
    pub wanted: u64,
}

impl std::fmt::Display for Exceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} allows {}; {} in use, this deploy needs {} more: {} over",
            self.scope,
            self.resource.amount(self.limit),
            self.used,
            self.wanted,
            // Wide enough that no stored values can overflow it.
            (u128::from(self.used) + u128::from(self.wanted)).saturating_sub(self.limit.into())
        )
    }
}

/// The first quota that `wanted` on top of `used` would break.
pub fn exceeded(scope: &str, quota: &Quota, used: &Usage, wanted: &Usage) -> Option<Exceeded> {
    let checks: [(Resource, Option<u64>, u64, u64); 4] = [
        (
            Resource::Instances,
            quota.instances.map(u64::from),
            used.instances.into(),
            wanted.instances.into(),
        ),
        (
            Resource::Vcpus,
            quota.vcpus.map(u64::from),
            used.vcpus.into(),
            wanted.vcpus.into(),
        ),
        (
            Resource::Memory,
            quota.memory_mib,
            used.memory_mib,
            wanted.memory_mib,
        ),
        (
            Resource::Disk,
            quota.disk_gib,
            used.disk_gib,
            wanted.disk_gib,
        ),
    ];
    checks
        .into_iter()
        .find_map(|(resource, limit, used, wanted)| {
            limit
                // Only what is asked for is checked: a resize that grows
                // the disk alone is not refused for memory already over a
                // lowered quota.
                .filter(|limit| wanted > 0 && used.saturating_add(wanted) > *limit)
                .map(|limit| Exceeded {
                    scope: scope.to_owned(),
                    resource,
                    limit,
                    used,
                    wanted,
                })
        })
}

/// What each account in no department may take, until an admin says
/// otherwise: nothing. An account outside every department is one that no
/// department admin answers for.
pub const DEFAULT_QUOTA_UNSET: Quota = Quota {
    instances: Some(0),
    vcpus: None,
    memory_mib: None,
    disk_gib: None,
};

/// Whether an account acting as `role` in `department` deploys under the
/// default quota: everyone in no department but the appliance admin, who
/// sets it.
pub fn bound_by_default_quota(role: Role, department: Option<i64>) -> bool {
    match role {
        Role::Admin => false,
        Role::DepartmentAdmin | Role::User => department.is_none(),
    }
}

/// The quota of each account in no department (appliance admins aside).
pub fn default_quota(conn: &Connection) -> Result<Quota, StoreError> {
    match super::settings::get(conn, super::settings::DEFAULT_QUOTA)? {
        Some(json) => serde_json::from_str(&json)
            .map_err(|e| StoreError::Corrupt(format!("default quota: {e}"))),
        None => Ok(DEFAULT_QUOTA_UNSET),
    }
}

pub fn set_default_quota(conn: &Connection, quota: &Quota) -> Result<(), StoreError> {
    let json = serde_json::to_string(quota)
        .map_err(|e| StoreError::Corrupt(format!("default quota: {e}")))?;
    super::settings::set(conn, super::settings::DEFAULT_QUOTA, &json)
}

/// Checks a deploy of `wanted` by `owner_id` (charged to `department`)
/// against the account's quota and that of every department up the tree;
/// an account in no department, against the default quota instead.
/// Call it in the write transaction that records the instance: the single
/// writer makes check-and-insert atomic.
pub fn check_deploy(
    conn: &Connection,
    owner_id: i64,
    department: Option<i64>,
    wanted: &Usage,
) -> Result<Option<Exceeded>, StoreError> {
    let owner = super::users::by_id(conn, owner_id)?
        .ok_or(StoreError::Sqlite(rusqlite::Error::QueryReturnedNoRows))?;
    // The account's own quota, then the default one, each against what
    // the account's instances take.
    let mut per_account = Vec::new();
    if owner.quota != Quota::default() {
        per_account.push(("your quota", owner.quota));
    }
    if bound_by_default_quota(owner.effective_role(), department) {
        per_account.push((
            "the quota of accounts in no department",
            default_quota(conn)?,
        ));
    }
    if !per_account.is_empty() {
        let used = user_usage(conn, owner_id)?;
        if let Some(e) = per_account
            .iter()
            .find_map(|(scope, quota)| exceeded(scope, quota, &used, wanted))
        {
            return Ok(Some(e));
        }
    }
    if let Some(department) = department {
        for d in departments::ancestry(conn, department)? {
            if d.quota == Quota::default() {
                continue;
            }
            let scope = format!("the quota of department {}", d.name);
            if let Some(e) = exceeded(&scope, &d.quota, &department_usage(conn, d.id)?, wanted) {
                return Ok(Some(e));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::memory_store;

    fn usage(instances: u32, vcpus: u32, memory_mib: u64, disk_gib: u64) -> Usage {
        Usage {
            instances,
            vcpus,
            memory_mib,
            disk_gib,
        }
    }

    #[test]
    fn the_message_says_which_quota_and_by_how_much() {
        let quota = Quota {
            instances: Some(10),
            vcpus: Some(8),
            ..Quota::default()
        };
        let e = exceeded(
            "the quota of department Physics",
            &quota,
            &usage(3, 7, 0, 0),
            &usage(1, 2, 512, 4),
        )
        .unwrap();
        assert_eq!(
            e.to_string(),
            "the quota of department Physics allows 8 vCPUs; 7 in use, this deploy needs 2 more: 1 over"
        );
        assert_eq!(
            exceeded(
                "q",
                &Quota::default(),
                &usage(3, 7, 0, 0),
                &usage(1, 2, 512, 4)
            ),
            None
        );
    }

    #[test]
    fn a_limit_of_one_reads_in_the_singular() {
        let quota = Quota {
            instances: Some(1),
            ..Quota::default()
        };
        let e = exceeded(
            "your quota",
            &quota,
            &usage(1, 2, 512, 4),
            &usage(1, 2, 512, 4),
        )
        .unwrap();
        assert_eq!(
            e.to_string(),
            "your quota allows 1 instance; 1 in use, this deploy needs 1 more: 1 over"
        );
        let quota = Quota {
            vcpus: Some(1),
            ..Quota::default()
        };
        let e = exceeded(
            "your quota",
            &quota,
            &usage(0, 0, 0, 0),
            &usage(1, 2, 512, 4),
        )
        .unwrap();
        assert!(
            e.to_string().starts_with("your quota allows 1 vCPU;"),
            "{e}"
        );
    }

    #[test]
    fn a_value_that_would_overflow_is_over_any_limit() {
        let quota = Quota {
            memory_mib: Some(u64::MAX - 1),
            ..Quota::default()
        };
        let e = exceeded("q", &quota, &usage(0, 0, u64::MAX, 0), &usage(1, 1, 1, 1)).unwrap();
        assert_eq!(e.resource, Resource::Memory);
        assert!(e.to_string().ends_with(": 2 over"), "{e}");
    }

    #[test]
    fn all_departments_at_once_add_up_as_each_one_alone() {
        let conn = memory_store();
        let science = departments::insert(&conn, "Science", None).unwrap();
        let physics = departments::insert(&conn, "Physics", Some(science)).unwrap();
        let optics = departments::insert(&conn, "Optics", Some(physics)).unwrap();
        let law = departments::insert(&conn, "Law", None).unwrap();
        conn.execute(
            "INSERT INTO users (username, password_hash, role, created_at)
             VALUES ('ann', 'x', 'user', 0)",
            [],
        )
        .unwrap();
        // (department, vCPUs, status): the failed one holds nothing.
        let instances = [
            (Some(science), 1, "ready"),
            (Some(physics), 2, "ready"),
            (Some(optics), 4, "provisioning"),
            (Some(optics), 8, "failed"),
            (Some(law), 16, "ready"),
            (None, 32, "ready"),
        ];
        for (n, (department, vcpus, status)) in instances.into_iter().enumerate() {
            conn.execute(
                "INSERT INTO instances (uuid, name, owner_id, size, vcpus, memory_mib, disk_gib,
                                        network, mac, params, status, created_at, department_id)
                 VALUES (?1, ?1, 1, 's', ?2, 512, 4, 'default', ?1, '{}', ?3, 0, ?4)",
                params![format!("i{n}"), vcpus, status, department],
            )
            .unwrap();
        }
        let all = departments::list(&conn).unwrap();
        let at_once = usage_by_department(&conn, &all).unwrap();
        for d in &all {
            assert_eq!(
                at_once[&d.id],
                department_usage(&conn, d.id).unwrap(),
                "{}",
                d.name
            );
        }
        assert_eq!(at_once[&science], usage(3, 7, 1536, 12));
        assert_eq!(at_once[&optics], usage(1, 4, 512, 4));
        assert_eq!(
            usage_of_users(&conn, &[1, 2]).unwrap()[&1],
            usage(5, 55, 2560, 20)
        );
        assert_eq!(user_usage(&conn, 1).unwrap(), usage(5, 55, 2560, 20));
    }
}
