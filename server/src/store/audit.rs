//! The audit log: who did what, when, from where, and how it ended.

use std::net::IpAddr;

use app::model::{AuditOutcome, Principal};
use rusqlite::{Connection, Row, params};

use super::StoreError;
use super::paging::Sql;
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

/// A page of the audit log, newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditList {
    /// Only this account's records (its exact name).
    pub actor: Option<String>,
    /// Only actions that start with this.
    pub action: Option<String>,
    pub outcome: Option<AuditOutcome>,
    /// Only records about these departments (a department admin's view);
    /// `None` for all.
    pub scope: Option<Vec<i64>>,
    /// The page starts after (below) this record.
    pub before: Option<i64>,
    pub limit: u32,
}

fn list_statement(list: &AuditList) -> Sql {
    let mut sql = Sql::new(
        "SELECT id, at_ms, actor, address, action, object, outcome, detail FROM audit WHERE 1",
    );
    if let Some(actor) = &list.actor {
        sql.and("actor", "=", actor.clone());
    }
    if let Some(action) = &list.action {
        // A prefix as a range of the index, matched literally: every text
        // that starts with `action` sorts from it to it followed by the
        // last character there is.
        sql.and("action", ">=", action.clone());
        sql.and("action", "<", format!("{action}{}", char::MAX));
    }
    if let Some(outcome) = list.outcome {
        sql.and("outcome", "=", outcome.as_str().to_owned());
    }
    if let Some(scope) = &list.scope {
        sql.and_in("department_id", scope);
    }
    if let Some(before) = list.before {
        sql.and("id", "<", before);
    }
    sql.text.push_str(" ORDER BY id DESC");
    sql.limit_one_over(list.limit);
    sql
}

/// A page of at most `list.limit` records, and whether more follow.
pub fn page(conn: &Connection, list: &AuditList) -> Result<(Vec<AuditRow>, bool), StoreError> {
    list_statement(list).page(conn, list.limit, from_row)
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
            scope: app::model::TokenScope::Full,
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
        let (left, _) = page(&conn, &everything(50)).unwrap();
        let left: Vec<String> = left.into_iter().map(|r| r.action).collect();
        assert_eq!(left, ["a4", "a3", "a2"]);
    }

    fn everything(limit: u32) -> AuditList {
        AuditList {
            actor: None,
            action: None,
            outcome: None,
            scope: None,
            before: None,
            limit,
        }
    }

    #[test]
    fn filters_combine_and_prefixes_are_literal() {
        let conn = memory_store();
        for (actor, action, outcome, dept) in [
            ("ann", "sign_in", AuditOutcome::Ok, None),
            ("ann", "instance.deploy", AuditOutcome::Refused, Some(1)),
            ("bob", "instance.delete", AuditOutcome::Ok, Some(2)),
            ("bob", "sign_in", AuditOutcome::Failed, None),
            ("bob", "instanced", AuditOutcome::Ok, None),
        ] {
            let entry = Audit::by_name(Some(actor.into()))
                .action(action)
                .department(dept)
                .outcome(outcome);
            record(&conn, &entry).unwrap();
        }
        let pick = |list: AuditList| {
            page(&conn, &list)
                .unwrap()
                .0
                .into_iter()
                .map(|r| r.action)
                .collect::<Vec<_>>()
        };
        assert_eq!(pick(everything(50)).len(), 5);
        let instance = AuditList {
            action: Some("instance.".into()),
            ..everything(50)
        };
        assert_eq!(pick(instance), ["instance.delete", "instance.deploy"]);
        for wildcard in ["%", "_", "instance%"] {
            let literal = AuditList {
                action: Some(wildcard.into()),
                ..everything(50)
            };
            assert!(pick(literal).is_empty(), "{wildcard}");
        }
        let bob_failed = AuditList {
            actor: Some("bob".into()),
            outcome: Some(AuditOutcome::Failed),
            ..everything(50)
        };
        assert_eq!(pick(bob_failed), ["sign_in"]);
        let scoped = AuditList {
            scope: Some(vec![1]),
            ..everything(50)
        };
        assert_eq!(pick(scoped), ["instance.deploy"]);
    }

    #[test]
    fn pages_walk_the_log_newest_first_once_each() {
        let conn = memory_store();
        for i in 0..23 {
            record(&conn, &Audit::anonymous().action(format!("a{i:02}")).ok()).unwrap();
        }
        let mut list = everything(5);
        let mut seen = Vec::new();
        loop {
            let (rows, more) = page(&conn, &list).unwrap();
            seen.extend(rows.iter().map(|r| r.action.clone()));
            if !more {
                break;
            }
            list.before = rows.last().map(|r| r.id);
        }
        let expected: Vec<String> = (0..23).rev().map(|i| format!("a{i:02}")).collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn no_audit_list_query_scans_the_table() {
        let conn = memory_store();
        for actor in [None, Some("ann".to_owned())] {
            for action in [None, Some("instance.".to_owned())] {
                for outcome in [None, Some(AuditOutcome::Refused)] {
                    for scope in [None, Some(vec![1, 2])] {
                        for before in [None, Some(100)] {
                            let list = AuditList {
                                actor: actor.clone(),
                                action: action.clone(),
                                outcome,
                                scope: scope.clone(),
                                before,
                                limit: 50,
                            };
                            let plan = list_statement(&list).plan(&conn);
                            // Unfiltered, the first page is the log read
                            // from its newest end (the rowid), stopped
                            // after the page: that walk is the page.
                            let unfiltered = actor.is_none()
                                && action.is_none()
                                && outcome.is_none()
                                && scope.is_none();
                            if unfiltered && plan == ["SCAN audit"] {
                                continue;
                            }
                            assert!(
                                crate::store::paging::table_scans(&plan).is_empty(),
                                "{list:?}: {plan:#?}"
                            );
                        }
                    }
                }
            }
        }
    }
}
