//! The audit log: who did what, when, from where, and how it ended.

use std::net::IpAddr;

use app::model::{AuditOutcome, Principal};
use app::org::AuditFilter;
use rusqlite::{Connection, Row, params, params_from_iter, types::Value};

use super::StoreError;
use super::states::text_column;

/// One record to write, as [`Audit`] builds it. Never put secrets in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub actor: Option<String>,
    pub actor_id: Option<i64>,
    pub address: Option<String>,
    /// Dotted, e.g. `sign_in`, `department.create`, `instance.deploy`.
    pub action: String,
    pub object: Option<String>,
    pub outcome: AuditOutcome,
    pub detail: Option<String>,
    /// The department it concerns, so its admins see it.
    pub department_id: Option<i64>,
}

/// A [`Record`] before its outcome: everything but it, so that no record
/// exists without one (an outcome has no default).
#[derive(Clone, Debug, Default)]
struct Draft {
    actor: Option<String>,
    actor_id: Option<i64>,
    address: Option<String>,
    action: String,
    object: Option<String>,
    detail: Option<String>,
    department_id: Option<i64>,
}

/// Builds every [`Record`] the appliance writes: who acted, what they did
/// to what, and how it ended. The outcome comes last and yields the
/// record, so none is written without one.
///
/// ```ignore
/// Audit::by(who).action("token.create").object("token \"ci\"").ok()
/// ```
#[derive(Clone, Debug)]
#[must_use = "an audit record is built to be written"]
pub struct Audit {
    record: Draft,
}

impl Audit {
    fn actor(actor: Option<String>, actor_id: Option<i64>, department_id: Option<i64>) -> Audit {
        Audit {
            record: Draft {
                actor,
                actor_id,
                department_id,
                ..Draft::default()
            },
        }
    }

    /// Something a signed-in account did: from its address, and about its
    /// own department unless [`Audit::department`] names another.
    pub fn by(who: &Principal) -> Audit {
        let mut audit = Audit::actor(
            Some(who.username.clone()),
            Some(who.user_id),
            who.department_id,
        );
        audit.record.address = who.address.clone();
        audit
    }

    /// Something account `id`, named `name`, did before it had a
    /// principal (signing in, setting the appliance up).
    pub fn by_account(name: impl Into<String>, id: i64) -> Audit {
        Audit::actor(Some(name.into()), Some(id), None)
    }

    /// An attempt under a name that may be no account's; `None` when the
    /// name was malformed and is not worth keeping.
    pub fn by_name(name: Option<String>) -> Audit {
        Audit::actor(name, None, None)
    }

    /// Someone with no account: a visitor before setup.
    pub fn anonymous() -> Audit {
        Audit::actor(None, None, None)
    }

    /// The appliance on its own initiative (the directory re-check).
    pub fn by_appliance() -> Audit {
        Audit::actor(None, None, None)
    }

    /// Someone at the appliance's console (`dpe user-add` and the like).
    pub fn by_console() -> Audit {
        Audit::actor(Some("console".into()), None, None)
    }

    /// Where the request came from.
    pub fn from_address(mut self, peer: IpAddr) -> Audit {
        self.record.address = Some(peer.to_string());
        self
    }

    /// Dotted, e.g. `sign_in`, `department.create`, `instance.deploy`.
    pub fn action(mut self, action: impl Into<String>) -> Audit {
        self.record.action = action.into();
        self
    }

    /// What it was done to, e.g. `instance web-1`.
    pub fn object(mut self, object: impl Into<String>) -> Audit {
        self.record.object = Some(object.into());
        self
    }

    /// Why, or with what; never a secret.
    pub fn detail(mut self, detail: impl Into<String>) -> Audit {
        self.record.detail = Some(detail.into());
        self
    }

    /// The department it concerns, so that its admins see it; `None`
    /// keeps the actor's.
    pub fn department(mut self, department: Option<i64>) -> Audit {
        self.record.department_id = department.or(self.record.department_id);
        self
    }

    /// It was done.
    pub fn ok(self) -> Record {
        self.outcome(AuditOutcome::Ok)
    }

    /// A rule said no (a throttle, a quota, a permission).
    pub fn refused(self) -> Record {
        self.outcome(AuditOutcome::Refused)
    }

    /// It was tried and did not work (a wrong password or setup code).
    pub fn failed(self) -> Record {
        self.outcome(AuditOutcome::Failed)
    }

    /// How it ended; yields the record.
    fn outcome(self, outcome: AuditOutcome) -> Record {
        let Draft {
            actor,
            actor_id,
            address,
            action,
            object,
            detail,
            department_id,
        } = self.record;
        Record {
            actor,
            actor_id,
            address,
            action,
            object,
            outcome,
            detail,
            department_id,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRow {
    pub id: i64,
    pub at_ms: i64,
    pub actor: Option<String>,
    pub address: Option<String>,
    pub action: String,
    pub object: Option<String>,
    pub outcome: AuditOutcome,
    pub detail: Option<String>,
}

pub fn record(conn: &Connection, r: &Record) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO audit (at_ms, actor, actor_id, address, action, object, outcome, detail,
                            department_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        rusqlite::params![
            super::now_ms(),
            r.actor,
            r.actor_id,
            r.address,
            r.action,
            r.object,
            r.outcome.as_str(),
            r.detail,
            r.department_id
        ],
    )?;
    Ok(())
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<AuditRow> {
    Ok(AuditRow {
        id: r.get(0)?,
        at_ms: r.get(1)?,
        actor: r.get(2)?,
        address: r.get(3)?,
        action: r.get(4)?,
        object: r.get(5)?,
        outcome: text_column(r, 6)?,
        detail: r.get(7)?,
    })
}

/// Forgets records older than `keep_days` and all but the newest
/// `keep_at_most`, so that no flood and no year can fill the disk; returns
/// how many went.
pub fn prune(conn: &Connection, keep_days: u32, keep_at_most: u64) -> Result<usize, StoreError> {
    let cutoff_ms = (super::now() - i64::from(keep_days) * 86_400) * 1000;
    let old = conn.execute("DELETE FROM audit WHERE at_ms < ?1", params![cutoff_ms])?;
    let offset = i64::try_from(keep_at_most).unwrap_or(i64::MAX);
    let excess = conn.execute(
        "DELETE FROM audit WHERE id <= (SELECT id FROM audit ORDER BY id DESC LIMIT 1 OFFSET ?1)",
        params![offset],
    )?;
    Ok(old + excess)
}

/// Newest first. `outcome`: the filter's, parsed by the caller (which
/// answers for text that names none); `departments`: only records about
/// these (department admins' view); `None` for all.
pub fn list(
    conn: &Connection,
    filter: &AuditFilter,
    outcome: Option<AuditOutcome>,
    departments: Option<&[i64]>,
) -> Result<Vec<AuditRow>, StoreError> {
    let mut sql = String::from(
        "SELECT id, at_ms, actor, address, action, object, outcome, detail FROM audit WHERE 1",
    );
    let mut args: Vec<Value> = Vec::new();
    if let Some(actor) = filter.actor.as_deref().filter(|a| !a.is_empty()) {
        sql.push_str(" AND actor = ?");
        args.push(Value::Text(actor.to_owned()));
    }
    if let Some(action) = filter.action.as_deref().filter(|a| !a.is_empty()) {
        // A prefix, matched literally (no LIKE wildcards from the user).
        sql.push_str(" AND substr(action, 1, length(?)) = ?");
        args.push(Value::Text(action.to_owned()));
        args.push(Value::Text(action.to_owned()));
    }
    if let Some(outcome) = outcome {
        sql.push_str(" AND outcome = ?");
        args.push(Value::Text(outcome.as_str().to_owned()));
    }
    if let Some(ids) = departments {
        sql.push_str(" AND department_id IN (SELECT value FROM json_each(?))");
        args.push(Value::Text(
            serde_json::to_string(ids).unwrap_or_else(|_| "[]".into()),
        ));
    }
    sql.push_str(" ORDER BY id DESC LIMIT ?");
    args.push(Value::Integer(i64::from(
        filter.limit.unwrap_or(200).clamp(1, 1000),
    )));
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt
        .query_map(params_from_iter(args), from_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::memory_store;

    #[test]
    fn the_builder_takes_the_actor_from_the_principal_and_the_department_from_the_object() {
        let who = Principal {
            user_id: 7,
            username: "ann".into(),
            role: app::model::Role::DepartmentAdmin,
            department_id: Some(1),
            managed_departments: vec![1, 2],
            may_deploy: true,
            address: Some("192.0.2.7".into()),
        };
        let own = Audit::by(&who).action("token.create").object("token").ok();
        assert_eq!(
            own,
            Record {
                actor: Some("ann".into()),
                actor_id: Some(7),
                address: Some("192.0.2.7".into()),
                action: "token.create".into(),
                object: Some("token".into()),
                outcome: AuditOutcome::Ok,
                detail: None,
                department_id: Some(1),
            }
        );
        let below = Audit::by(&who)
            .action("user.update")
            .department(Some(2))
            .detail("quota")
            .refused();
        assert_eq!(
            (below.department_id, below.outcome, below.detail.as_deref()),
            (Some(2), AuditOutcome::Refused, Some("quota"))
        );
        let kept = Audit::by(&who).department(None).failed();
        assert_eq!(
            (kept.department_id, kept.outcome),
            (Some(1), AuditOutcome::Failed)
        );
    }

    #[test]
    fn old_records_and_those_over_the_cap_are_pruned() {
        let conn = memory_store();
        let old_ms = (crate::store::now() - 401 * 86_400) * 1000;
        for i in 0..5 {
            record(&conn, &Audit::anonymous().action(format!("a{i}")).ok()).unwrap();
        }
        conn.execute(
            "UPDATE audit SET at_ms = ?1 WHERE action = 'a0'",
            params![old_ms],
        )
        .unwrap();
        assert_eq!(prune(&conn, 400, 3).unwrap(), 2);
        let left: Vec<String> = list(&conn, &AuditFilter::default(), None, None)
            .unwrap()
            .into_iter()
            .map(|r| r.action)
            .collect();
        assert_eq!(left, ["a4", "a3", "a2"]);
    }

    #[test]
    fn filters_combine_and_prefixes_are_literal() {
        let conn = memory_store();
        for (actor, action, outcome, dept) in [
            ("ann", "sign_in", AuditOutcome::Ok, None),
            ("ann", "instance.deploy", AuditOutcome::Refused, Some(1)),
            ("bob", "instance.delete", AuditOutcome::Ok, Some(2)),
            ("bob", "sign_in", AuditOutcome::Failed, None),
        ] {
            let entry = Audit::by_name(Some(actor.into()))
                .action(action)
                .department(dept)
                .outcome(outcome);
            record(&conn, &entry).unwrap();
        }
        let pick = |f: AuditFilter, d: Option<&[i64]>| {
            let outcome = f.outcome.as_deref().map(|o| o.parse().unwrap());
            list(&conn, &f, outcome, d)
                .unwrap()
                .into_iter()
                .map(|r| r.action)
                .collect::<Vec<_>>()
        };
        assert_eq!(pick(AuditFilter::default(), None).len(), 4);
        let instance = AuditFilter {
            action: Some("instance.".into()),
            ..AuditFilter::default()
        };
        assert_eq!(pick(instance, None), ["instance.delete", "instance.deploy"]);
        let wildcard = AuditFilter {
            action: Some("%".into()),
            ..AuditFilter::default()
        };
        assert!(pick(wildcard, None).is_empty());
        let bob_failed = AuditFilter {
            actor: Some("bob".into()),
            outcome: Some("failed".into()),
            ..AuditFilter::default()
        };
        assert_eq!(pick(bob_failed, None), ["sign_in"]);
        assert_eq!(
            pick(AuditFilter::default(), Some(&[1])),
            ["instance.deploy"]
        );
    }
}
