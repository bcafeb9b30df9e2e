//! Approvals decided: a yes starts the deploy task the request waited
//! for; a no, or a request nobody decided in time, marks the instance
//! failed, which releases the quota it held. Each decision is one
//! transaction with its notice (the outbox) and its audit record, taken
//! only while the request is pending: of two approvers deciding at once,
//! the second is told it is decided already. The time-out pass decides
//! from the store at the engine's clock, so a restart loses nothing.

use std::sync::Arc;

use app::error::AppError;
use app::model::{
    ApprovalState, InstanceStatus, MAX_COMMENT_CHARS, NoticeKind, Principal, TaskKind,
};
use app::policy::may_decide;
use rusqlite::Connection;

use super::EngineError;
use super::runtime::Engine;
use super::steps::Step;
use crate::store::approvals::{self, ApprovalRow};
use crate::store::audit::{self, Audit};
use crate::store::{StoreError, instances, leases, outbox, tasks};

/// Queues the notice that a deploy of instance `id` waits for approval.
pub(super) fn queue_requested(tx: &Connection, id: i64, now: i64) -> Result<(), StoreError> {
    let row = instances::by_id(tx, id)?.ok_or(StoreError::NotFound("instance"))?;
    let said = format!(
        "{} asks to deploy {} ({}): it waits for a department admin's approval.",
        row.owner, row.name, row.size
    );
    outbox::queue_for_instance(tx, NoticeKind::ApprovalRequested, now, &row, &said)?;
    Ok(())
}

/// A decision on a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Approve,
    Reject,
}

/// What deciding came to, besides a store error.
#[derive(Debug)]
pub enum Decided {
    /// Recorded; with approval, the deploy task started.
    Done {
        approval: Box<ApprovalRow>,
        task: Option<i64>,
    },
    /// Not the caller's to decide (not found, or their own), or no
    /// longer pending.
    Refused(AppError),
}

/// Marks a pending request's instance failed with `reason` (releasing
/// its quota) and queues the notice; the decision itself is recorded by
/// the caller.
fn release(tx: &Connection, row: &ApprovalRow, now: i64, reason: &str) -> Result<(), StoreError> {
    if let Some(id) = row.instance_id {
        instances::set_status(tx, id, InstanceStatus::Failed, Some(reason))?;
        if let Some(instance) = instances::by_id(tx, id)? {
            outbox::queue_for_instance(tx, NoticeKind::ApprovalDecided, now, &instance, reason)?;
        }
    }
    Ok(())
}

/// Decides request `id` for `decider`, in one transaction.
fn decide(
    tx: &Connection,
    id: i64,
    decider: &Principal,
    verdict: Verdict,
    comment: &str,
    now: i64,
) -> Result<Decided, StoreError> {
    let refused = |e| Ok(Decided::Refused(e));
    let Some(row) = approvals::by_id(tx, id)? else {
        return refused(AppError::NotFound("approval".into()));
    };
    if let Err(e) = may_decide(decider, row.requester_id, row.department_id) {
        return refused(e);
    }
    // Checked after who may decide: others learn nothing of the request.
    if comment.chars().count() > MAX_COMMENT_CHARS {
        return refused(AppError::invalid(
            "comment",
            format!("at most {MAX_COMMENT_CHARS} characters"),
        ));
    }
    match row.state {
        ApprovalState::Pending => {}
        ApprovalState::Approved | ApprovalState::Rejected | ApprovalState::Expired => {
            return refused(AppError::Conflict(format!(
                "the request for {} is {} already",
                row.instance_name,
                row.state.as_str()
            )));
        }
    }
    let user_data = approvals::user_data(tx, id)?;
    let state = match verdict {
        Verdict::Approve => ApprovalState::Approved,
        Verdict::Reject => ApprovalState::Rejected,
    };
    if !approvals::decide(tx, id, state, Some(decider.user_id), now, comment)? {
        return refused(AppError::Conflict(
            "the request was decided meanwhile".into(),
        ));
    }
    let because = match comment.trim() {
        "" => String::new(),
        said => format!(": {said}"),
    };
    let mut task = None;
    match verdict {
        Verdict::Approve => {
            if let Some(instance_id) = row.instance_id {
                let instance =
                    instances::by_id(tx, instance_id)?.ok_or(StoreError::NotFound("instance"))?;
                // The lease runs from the deploy, not from the request.
                let (policy, _) = leases::effective(tx, instance.department_id)?;
                if let Some(days) = policy.lease_days {
                    leases::extend(tx, instance_id, now + i64::from(days) * app::model::DAY)?;
                }
                task = Some(tasks::insert(
                    tx,
                    instance_id,
                    &instance.uuid,
                    instance.owner_id,
                    TaskKind::Deploy,
                    &Step::names(TaskKind::Deploy),
                    user_data.as_deref(),
                )?);
                let said = format!(
                    "{} approved the deploy of {}{because}",
                    decider.username, row.instance_name
                );
                outbox::queue_for_instance(tx, NoticeKind::ApprovalDecided, now, &instance, &said)?;
            }
        }
        Verdict::Reject => {
            let reason = format!(
                "{} rejected the deploy of {}{because}",
                decider.username, row.instance_name
            );
            release(tx, &row, now, &reason)?;
        }
    }
    let approval = approvals::by_id(tx, id)?.ok_or(StoreError::NotFound("approval"))?;
    Ok(Decided::Done {
        approval: Box::new(approval),
        task,
    })
}

/// Lets pending request `id` lapse if its time ran out by `now`: the
/// instance fails, releasing its quota; audited. False if it was decided
/// meanwhile.
fn lapse(tx: &Connection, id: i64, now: i64) -> Result<bool, StoreError> {
    let Some(row) = approvals::by_id(tx, id)? else {
        return Ok(false);
    };
    if row.state != ApprovalState::Pending || row.expires_at > now {
        return Ok(false);
    }
    let reason = format!(
        "Nobody decided on the deploy of {} in time: the request lapsed",
        row.instance_name
    );
    approvals::decide(tx, id, ApprovalState::Expired, None, now, "")?;
    release(tx, &row, now, &reason)?;
    audit::record(
        tx,
        &Audit::by_appliance()
            .action("approval.expire")
            .object(format!("instance {}", row.instance_name))
            .department(row.department_id)
            .detail(reason)
            .ok(),
    )?;
    Ok(true)
}

impl Engine {
    /// Approves or rejects request `id` as `decider` (checked by
    /// [`may_decide`] inside the transaction); an approval starts the
    /// deploy task.
    pub async fn decide_approval(
        self: &Arc<Self>,
        id: i64,
        decider: Principal,
        verdict: Verdict,
        comment: String,
    ) -> Result<Decided, EngineError> {
        let now = self.clock.now();
        let decided = self
            .store
            .write(move |tx| decide(tx, id, &decider, verdict, &comment, now))
            .await?;
        if let Decided::Done {
            task: Some(task_id),
            ..
        } = &decided
        {
            tokio::spawn(self.clone().run_task(*task_id));
        }
        Ok(decided)
    }

    /// Lets every request whose time ran out lapse, by the engine's clock;
    /// returns how many did.
    pub async fn approval_pass(self: &Arc<Self>) -> Result<usize, EngineError> {
        let now = self.clock.now();
        let due = self.store.read(move |c| approvals::lapsed(c, now)).await?;
        let mut lapsed = 0;
        for id in due {
            if self.store.write(move |tx| lapse(tx, id, now)).await? {
                lapsed += 1;
            }
        }
        Ok(lapsed)
    }
}
