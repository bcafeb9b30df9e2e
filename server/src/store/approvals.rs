//! Approvals: each deploy request (`approvals`) and the policies that ask
//! for them: a department's own (`departments.approval_policy`, JSON),
//! inherited down the tree, else none. What a decision does is the
//! engine's (`engine/approvals.rs`).

use app::model::{ApprovalPolicy, ApprovalState};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::leases::PolicySource;
use super::states::text_column;
use super::{StoreError, departments};

fn parse(json: &str) -> Result<ApprovalPolicy, StoreError> {
    serde_json::from_str(json)
        .map_err(|e| StoreError::Corrupt(format!("a department's approval policy: {e}")))
}

/// A department's own policy; None: it inherits.
pub fn own_policy(
    conn: &Connection,
    department: i64,
) -> Result<Option<ApprovalPolicy>, StoreError> {
    let text: Option<Option<String>> = conn
        .prepare_cached("SELECT approval_policy FROM departments WHERE id = ?1")?
        .query_row([department], |r| r.get(0))
        .optional()?;
    match text {
        None => Err(StoreError::NotFound("department")),
        Some(None) => Ok(None),
        Some(Some(text)) => parse(&text).map(Some),
    }
}

/// Sets (or clears, to inherit) a department's own policy.
pub fn set_own_policy(
    conn: &Connection,
    department: i64,
    policy: Option<&ApprovalPolicy>,
) -> Result<(), StoreError> {
    let text = policy
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| StoreError::Corrupt(format!("approval policy: {e}")))?;
    let changed = conn.execute(
        "UPDATE departments SET approval_policy = ?2 WHERE id = ?1",
        params![department, text],
    )?;
    match changed {
        0 => Err(StoreError::NotFound("department")),
        _ => Ok(()),
    }
}

/// The policy deploys charged to `department` follow: the nearest own
/// policy up the tree, else none ([`ApprovalPolicy::NONE`]).
pub fn effective(
    conn: &Connection,
    department: Option<i64>,
) -> Result<(ApprovalPolicy, PolicySource), StoreError> {
    if let Some(d) = department {
        for dept in departments::ancestry(conn, d)? {
            if let Some(policy) = own_policy(conn, dept.id)? {
                return Ok((policy, PolicySource::Department(dept.name)));
            }
        }
    }
    Ok((ApprovalPolicy::NONE, PolicySource::ApplianceDefault))
}

/// A new request, recorded with its instance.
pub struct NewApproval<'a> {
    pub instance_id: i64,
    pub instance_name: &'a str,
    pub requester_id: i64,
    pub department_id: Option<i64>,
    pub size: &'a str,
    pub vcpus: u32,
    pub memory_mib: u64,
    /// Unix seconds.
    pub requested_at: i64,
    pub expires_at: i64,
    pub user_data: &'a str,
}

pub fn insert(conn: &Connection, new: &NewApproval<'_>) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO approvals (instance_id, instance_name, requester_id, department_id, size,
                                vcpus, memory_mib, requested_at, expires_at, user_data)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            new.instance_id,
            new.instance_name,
            new.requester_id,
            new.department_id,
            new.size,
            new.vcpus,
            new.memory_mib,
            new.requested_at,
            new.expires_at,
            new.user_data
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// A request as stored, with the names of who asked and who decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApprovalRow {
    pub id: i64,
    pub instance_id: Option<i64>,
    pub instance_name: String,
    pub requester_id: i64,
    pub requester: String,
    pub department_id: Option<i64>,
    pub department: Option<String>,
    pub size: String,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub state: ApprovalState,
    /// Unix seconds.
    pub requested_at: i64,
    pub expires_at: i64,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    pub comment: String,
}

const SELECT: &str = "
    SELECT a.id, a.instance_id, a.instance_name, a.requester_id, u.username, a.department_id,
           d.name, a.size, a.vcpus, a.memory_mib, a.state, a.requested_at, a.expires_at,
           w.username, a.decided_at, a.comment
    FROM approvals a
    JOIN users u ON u.id = a.requester_id
    LEFT JOIN departments d ON d.id = a.department_id
    LEFT JOIN users w ON w.id = a.decided_by";

fn from_row(r: &Row<'_>) -> rusqlite::Result<ApprovalRow> {
    Ok(ApprovalRow {
        id: r.get(0)?,
        instance_id: r.get(1)?,
        instance_name: r.get(2)?,
        requester_id: r.get(3)?,
        requester: r.get(4)?,
        department_id: r.get(5)?,
        department: r.get(6)?,
        size: r.get(7)?,
        vcpus: r.get(8)?,
        memory_mib: r.get(9)?,
        state: text_column(r, 10)?,
        requested_at: r.get(11)?,
        expires_at: r.get(12)?,
        decided_by: r.get(13)?,
        decided_at: r.get(14)?,
        comment: r.get(15)?,
    })
}

pub fn by_id(conn: &Connection, id: i64) -> Result<Option<ApprovalRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("{SELECT} WHERE a.id = ?1"))?
        .query_row([id], from_row)
        .optional()?)
}

/// The user-data a pending request's deploy task gets.
pub fn user_data(conn: &Connection, id: i64) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT user_data FROM approvals WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?
        .flatten())
}

/// Whom a list of requests is for: an appliance admin sees all; others
/// their own and those charged to the departments they administer.
pub enum Readers<'a> {
    All,
    Some {
        requester_id: i64,
        departments: &'a [i64],
    },
}

/// The most requests a list shows: pending ones first, then the latest
/// decided.
pub const LIST_LIMIT: u32 = 200;

pub fn list(conn: &Connection, readers: &Readers<'_>) -> Result<Vec<ApprovalRow>, StoreError> {
    let order = "ORDER BY a.state != 'pending', a.id DESC LIMIT ?1";
    let rows = match readers {
        Readers::All => conn
            .prepare_cached(&format!("{SELECT} {order}"))?
            .query_map([LIST_LIMIT], from_row)?
            .collect::<Result<_, _>>()?,
        Readers::Some {
            requester_id,
            departments,
        } => {
            let list = serde_json::to_string(departments)
                .map_err(|e| StoreError::Corrupt(format!("department list: {e}")))?;
            conn.prepare_cached(&format!(
                "{SELECT} WHERE a.requester_id = ?2
                    OR a.department_id IN (SELECT value FROM json_each(?3)) {order}"
            ))?
            .query_map(params![LIST_LIMIT, requester_id, list], from_row)?
            .collect::<Result<_, _>>()?
        }
    };
    Ok(rows)
}

/// Pending requests for `departments` (None: all), for the navigation's
/// count and the dashboard.
pub fn pending_count(conn: &Connection, departments: Option<&[i64]>) -> Result<u32, StoreError> {
    let count = match departments {
        None => conn
            .prepare_cached("SELECT count(*) FROM approvals WHERE state = 'pending'")?
            .query_row([], |r| r.get(0))?,
        Some(departments) => {
            let list = serde_json::to_string(departments)
                .map_err(|e| StoreError::Corrupt(format!("department list: {e}")))?;
            conn.prepare_cached(
                "SELECT count(*) FROM approvals WHERE state = 'pending'
                 AND department_id IN (SELECT value FROM json_each(?1))",
            )?
            .query_row([list], |r| r.get(0))?
        }
    };
    Ok(count)
}

/// The oldest pending requests charged to `departments` (None: all), at
/// most `limit`: what waits for an approver's decision.
pub fn oldest_pending(
    conn: &Connection,
    departments: Option<&[i64]>,
    limit: u32,
) -> Result<Vec<ApprovalRow>, StoreError> {
    let list = match departments {
        None => None,
        Some(d) => Some(
            serde_json::to_string(d)
                .map_err(|e| StoreError::Corrupt(format!("department list: {e}")))?,
        ),
    };
    // The limit written into the SQL: a bound one has SQLite prepare the
    // statement again at every run (store/paging.rs).
    let rows = conn
        .prepare_cached(&format!(
            "{SELECT} WHERE a.state = 'pending'
               AND (?1 IS NULL OR a.department_id IN (SELECT value FROM json_each(?1)))
             ORDER BY a.expires_at, a.id LIMIT {limit}"
        ))?
        .query_map(params![list], from_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Pending requests whose time ran out by `now`.
pub fn lapsed(conn: &Connection, now: i64) -> Result<Vec<i64>, StoreError> {
    let ids = conn
        .prepare_cached(
            "SELECT id FROM approvals WHERE state = 'pending' AND expires_at <= ?1 ORDER BY id",
        )?
        .query_map([now], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(ids)
}

/// Records a pending request's decision (`decided_by` None: the time-out)
/// and forgets its user-data. False when it was no longer pending.
pub fn decide(
    conn: &Connection,
    id: i64,
    state: ApprovalState,
    decided_by: Option<i64>,
    at: i64,
    comment: &str,
) -> Result<bool, StoreError> {
    let changed = conn.execute(
        "UPDATE approvals SET state = ?2, decided_by = ?3, decided_at = ?4, comment = ?5,
                              user_data = NULL
         WHERE id = ?1 AND state = 'pending'",
        params![id, state.as_str(), decided_by, at, comment],
    )?;
    Ok(changed == 1)
}
