//! Approvals: the requests a caller may see and decide, their decisions
//! (the engine's, `engine/approvals.rs`), and the departments' approval
//! policies.

use app::error::AppError;
use app::model::{
    ApprovalPolicy, ApprovalPolicyView, ApprovalRule, ApprovalState, ApprovalView, Decision,
    Principal, Role, SetApprovalPolicy,
};
use app::policy::{Authorized, may_decide, may_manage, rights};
use app::service::ApprovalService;
use app::validate;
use async_trait::async_trait;
use rusqlite::Connection;

use super::Appliance;
use super::errors::{engine_err, store_err};
use crate::clock::rfc3339;
use crate::engine::approvals::{Decided, Verdict};
use crate::store::approvals::{self, ApprovalRow, Readers};
use crate::store::audit::Audit;
use crate::store::leases::PolicySource;
use crate::store::{StoreError, departments};

pub(super) fn view_of(row: ApprovalRow, who: &Principal) -> ApprovalView {
    let may = row.state == ApprovalState::Pending
        && may_decide(who, row.requester_id, row.department_id).is_ok();
    ApprovalView {
        id: row.id,
        instance_id: row.instance_id,
        instance_name: row.instance_name,
        requester: row.requester,
        department: row.department,
        size: row.size,
        vcpus: row.vcpus,
        memory_mib: row.memory_mib,
        state: row.state,
        requested_at: rfc3339(row.requested_at),
        expires_at: rfc3339(row.expires_at),
        decided_by: row.decided_by,
        decided_at: row.decided_at.map(rfc3339),
        comment: row.comment,
        may_decide: may,
    }
}

fn policy_view(conn: &Connection, department: i64) -> Result<ApprovalPolicyView, StoreError> {
    let own = approvals::own_policy(conn, department)?;
    let (effective, source) = approvals::effective(conn, Some(department))?;
    Ok(ApprovalPolicyView {
        own,
        effective,
        from: match source {
            PolicySource::Department(name) => name,
            PolicySource::ApplianceDefault => "no department's (no approvals)".into(),
        },
    })
}

/// A policy in words, for the audit log.
fn describe(p: &ApprovalPolicy) -> String {
    let which = match p.require {
        ApprovalRule::Never => "no deploys".to_owned(),
        ApprovalRule::EveryDeploy => "every deploy".to_owned(),
        ApprovalRule::AboveSize => format!(
            "deploys above {} vCPUs or {} MiB, and those of members without the right to deploy",
            p.max_vcpus, p.max_memory_mib
        ),
        ApprovalRule::WithoutDeployRight => "deploys of members without the right to deploy".into(),
    };
    format!(
        "approval for {which}; requests lapse after {} days",
        p.timeout_days
    )
}

impl Appliance {
    async fn decide(
        &self,
        who: &Principal,
        id: i64,
        decision: Decision,
        verdict: Verdict,
    ) -> Result<ApprovalView, AppError> {
        let comment = decision.comment.trim().to_owned();
        let action = match verdict {
            Verdict::Approve => "approval.approve",
            Verdict::Reject => "approval.reject",
        };
        let decided = self
            .engine
            .decide_approval(id, who.clone(), verdict, comment.clone())
            .await
            .map_err(engine_err)?;
        match decided {
            Decided::Done { approval, task } => {
                let mut detail = match task {
                    Some(task) => format!("deploy task {task} started"),
                    None => "reservation released".into(),
                };
                if !comment.is_empty() {
                    detail = format!("{detail}; comment: {comment}");
                }
                let record = Audit::by(who)
                    .action(action)
                    .object(format!("instance {}", approval.instance_name))
                    .department(approval.department_id)
                    .detail(detail)
                    .ok();
                self.audit(record).await;
                Ok(view_of(*approval, who))
            }
            Decided::Refused(e) => {
                // A refusal of what the caller may see is on the record.
                if !matches!(e, AppError::NotFound(_)) {
                    let record = Audit::by(who)
                        .action(action)
                        .object(format!("approval {id}"))
                        .detail(e.to_string())
                        .refused();
                    self.audit(record).await;
                }
                Err(e)
            }
        }
    }
}

/// The departments whose requests `who` sees besides their own.
fn readers(who: &Principal) -> Readers<'_> {
    match who.role {
        Role::Admin => Readers::All,
        Role::DepartmentAdmin | Role::User => Readers::Some {
            requester_id: who.user_id,
            departments: &who.managed_departments,
        },
    }
}

#[async_trait]
impl ApprovalService for Appliance {
    async fn approvals(
        &self,
        who: Authorized<'_, rights::ViewApprovals>,
    ) -> Result<Vec<ApprovalView>, AppError> {
        let principal = who.principal().clone();
        let rows = self
            .store
            .read(move |c| approvals::list(c, &readers(&principal)))
            .await
            .map_err(store_err)?;
        Ok(rows
            .into_iter()
            // The query keeps to what `who` may see; this is the rule
            // itself, should the two ever part.
            .filter(|r| r.requester_id == who.user_id || may_manage(&who, r.department_id))
            .map(|r| view_of(r, &who))
            .collect())
    }

    async fn pending_approvals(
        &self,
        who: Authorized<'_, rights::ViewApprovals>,
    ) -> Result<u32, AppError> {
        let departments = match who.role {
            Role::Admin => None,
            Role::DepartmentAdmin => Some(who.managed_departments.clone()),
            Role::User => return Ok(0),
        };
        self.store
            .read(move |c| approvals::pending_count(c, departments.as_deref()))
            .await
            .map_err(store_err)
    }

    async fn approve(
        &self,
        who: Authorized<'_, rights::DecideApprovals>,
        id: i64,
        decision: Decision,
    ) -> Result<ApprovalView, AppError> {
        self.decide(who.principal(), id, decision, Verdict::Approve)
            .await
    }

    async fn reject(
        &self,
        who: Authorized<'_, rights::DecideApprovals>,
        id: i64,
        decision: Decision,
    ) -> Result<ApprovalView, AppError> {
        self.decide(who.principal(), id, decision, Verdict::Reject)
            .await
    }

    async fn approval_policy(
        &self,
        who: Authorized<'_, rights::ManageMembers>,
        department: i64,
    ) -> Result<ApprovalPolicyView, AppError> {
        if !may_manage(who.principal(), Some(department)) {
            return Err(AppError::NotFound("department".into()));
        }
        self.store
            .read(move |c| policy_view(c, department))
            .await
            .map_err(store_err)
    }

    async fn set_approval_policy(
        &self,
        who: Authorized<'_, rights::ManageDepartments>,
        department: i64,
        request: SetApprovalPolicy,
    ) -> Result<ApprovalPolicyView, AppError> {
        if let Some(policy) = &request.policy {
            validate::approval_policy("policy", policy)?;
        }
        let policy = request.policy;
        let (view, name) = self
            .store
            .write(move |tx| {
                let name = departments::get(tx, department)?
                    .ok_or(StoreError::NotFound("department"))?
                    .name;
                approvals::set_own_policy(tx, department, policy.as_ref())?;
                Ok((policy_view(tx, department)?, name))
            })
            .await
            .map_err(store_err)?;
        let detail = match &view.own {
            Some(p) => describe(p),
            None => format!("approval policy: inherited ({})", view.from),
        };
        let record = Audit::by(who.principal())
            .action("approval.policy")
            .object(format!("department {name}"))
            .department(Some(department))
            .detail(detail)
            .ok();
        self.audit(record).await;
        Ok(view)
    }
}
