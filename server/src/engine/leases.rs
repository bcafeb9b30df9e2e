//! Leases run their course: warned 7 days and 1 day ahead, shut down and
//! marked expired at the end, deleted when the grace period is over.
//!
//! Each step is taken in one transaction with its notice (the outbox) and
//! its task, so a crash leaves a step either whole or not begun, and
//! nothing is shut down or deleted before its warnings are queued. The
//! steps follow each other in order even when several are due at once (a
//! dpe that was down at expiry catches up at its next pass: warned, then
//! expired, in that order), and the grace period counts from the expiry
//! as carried out, so nobody loses an instance they were not told about
//! in time. What a pass does is decided from the store alone, at the
//! engine's clock: a restart loses nothing.

use crate::clock::rfc3339;
use std::sync::Arc;

use app::model::{DAY, InstanceStatus, LeaseStage, NoticeKind, Power, TaskKind};
use rusqlite::Connection;

use super::EngineError;
use super::runtime::Engine;
use super::steps::Step;
use crate::store::audit::{self, Audit};
use crate::store::leases::{self, Lease};
use crate::store::{StoreError, instances, outbox, tasks};

/// How far ahead of the expiry the first warning goes.
const FIRST_WARNING: i64 = 7 * DAY;
/// How far ahead the second goes.
const LAST_WARNING: i64 = DAY;

/// The lease's next step due at `now`, and the notice that goes with it.
fn next_step(lease: &Lease, now: i64) -> Option<(LeaseStage, NoticeKind)> {
    use LeaseStage::{Active, Deleting, Expired, Warned1d, Warned7d};
    match lease.stage {
        Active if now >= lease.expires_at - FIRST_WARNING => {
            Some((Warned7d, NoticeKind::LeaseExpiresIn7Days))
        }
        Warned7d if now >= lease.expires_at - LAST_WARNING => {
            Some((Warned1d, NoticeKind::LeaseExpiresIn1Day))
        }
        Warned1d if now >= lease.expires_at => Some((Expired, NoticeKind::Expired)),
        Expired if lease.deletes_at.is_some_and(|at| now >= at) => {
            Some((Deleting, NoticeKind::Deleted))
        }
        Active | Warned7d | Warned1d | Expired | Deleting => None,
    }
}

/// How long after a lease's delete failed (its host down, say) it is
/// tried again.
const DELETE_RETRY: i64 = 3600;

/// What a notice says, for people.
fn sentence(notice: NoticeKind, name: &str, lease: &Lease) -> String {
    match notice {
        NoticeKind::LeaseExpiresIn7Days | NoticeKind::LeaseExpiresIn1Day => format!(
            "The lease of {name} ends at {}: it is then shut down, unless extended.",
            rfc3339(lease.expires_at)
        ),
        NoticeKind::Expired => format!(
            "The lease of {name} ended: it was shut down, and is deleted at {} unless extended.",
            lease.deletes_at.map(rfc3339).unwrap_or_default()
        ),
        NoticeKind::Deleted => {
            format!("The lease of {name} ended and its grace period is over: it is deleted.")
        }
        NoticeKind::DeploySucceeded
        | NoticeKind::DeployFailed
        | NoticeKind::HostDown
        | NoticeKind::BackupFailed
        | NoticeKind::ApprovalRequested
        | NoticeKind::ApprovalDecided => String::new(),
    }
}

/// What one lease pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeasePass {
    /// Notices queued, in order.
    pub notices: Vec<(i64, NoticeKind)>,
    /// Tasks started: shutdowns at expiry, deletes after the grace period.
    pub tasks: Vec<i64>,
}

/// The steps of one instance's lease due at `now`, in one transaction:
/// each step's stage, its notice, its audit record and its task. None when
/// nothing was due (or the instance is gone, busy with a deploy or a
/// delete, or on a host that does not answer).
fn advance(tx: &Connection, id: i64, now: i64) -> Result<Option<LeasePass>, StoreError> {
    let Some(row) = instances::by_id(tx, id)? else {
        return Ok(None);
    };
    let Some(mut lease) = row.lease else {
        return Ok(None);
    };
    match row.status {
        InstanceStatus::Ready | InstanceStatus::Failed => {}
        InstanceStatus::Provisioning | InstanceStatus::Deleting => return Ok(None),
    }
    // Its host does not answer: a shutdown or delete there would fail (a
    // failed delete marks it failed). The steps wait, and are all taken
    // at the first pass after the host is back.
    if row.host_unreachable_since.is_some() {
        return Ok(None);
    }
    let mut pass = LeasePass::default();
    // The delete the lease started failed (the instance is `failed` in
    // the deleting stage): it is tried again an hour on, and each hour
    // after, until it goes; its notice was queued the first time.
    if lease.stage == LeaseStage::Deleting && row.status == InstanceStatus::Failed {
        let failed_at = lease.deletes_at.unwrap_or(lease.expires_at);
        if now < failed_at + DELETE_RETRY {
            return Ok(Some(pass));
        }
        instances::set_status(tx, id, InstanceStatus::Deleting, None)?;
        // When it was tried: the next try counts from here.
        leases::set_stage(tx, id, LeaseStage::Deleting, Some(now))?;
        let task = tasks::insert(
            tx,
            id,
            &row.uuid,
            row.owner_id,
            TaskKind::Delete,
            &Step::names(TaskKind::Delete),
            None,
        )?;
        audit::record(
            tx,
            &Audit::by_appliance()
                .action("lease.delete")
                .object(format!("instance {}", row.name))
                .department(row.department_id)
                .detail(format!(
                    "the lease's delete of {} failed before: trying again",
                    row.name
                ))
                .ok(),
        )?;
        pass.tasks.push(task);
        return Ok(Some(pass));
    }
    while let Some((stage, notice)) = next_step(&lease, now) {
        let mut task = None;
        lease.stage = stage;
        match stage {
            LeaseStage::Expired => {
                let (policy, _) = leases::effective(tx, row.department_id)?;
                lease.deletes_at = Some(now + i64::from(policy.grace_days) * DAY);
                // Off it goes, unless it is off already (or never ran).
                let on = match row.power {
                    Power::ShutOff => false,
                    Power::Running
                    | Power::Paused
                    | Power::ShuttingDown
                    | Power::Crashed
                    | Power::Unknown => true,
                };
                if row.status == InstanceStatus::Ready && on {
                    task = Some(TaskKind::Shutdown);
                }
            }
            LeaseStage::Deleting => {
                instances::set_status(tx, id, InstanceStatus::Deleting, None)?;
                task = Some(TaskKind::Delete);
            }
            LeaseStage::Active | LeaseStage::Warned7d | LeaseStage::Warned1d => {}
        }
        leases::set_stage(tx, id, stage, lease.deletes_at)?;
        let said = sentence(notice, &row.name, &lease);
        let notice_id = outbox::queue_for_instance(tx, notice, now, &row, &said)?;
        pass.notices.push((notice_id, notice));
        if let Some(kind) = task {
            let task_id = tasks::insert(
                tx,
                id,
                &row.uuid,
                row.owner_id,
                kind,
                &Step::names(kind),
                None,
            )?;
            pass.tasks.push(task_id);
        }
        let action = match stage {
            LeaseStage::Expired => Some("lease.expire"),
            LeaseStage::Deleting => Some("lease.delete"),
            LeaseStage::Active | LeaseStage::Warned7d | LeaseStage::Warned1d => None,
        };
        if let Some(action) = action {
            audit::record(
                tx,
                &Audit::by_appliance()
                    .action(action)
                    .object(format!("instance {}", row.name))
                    .department(row.department_id)
                    .detail(said)
                    .ok(),
            )?;
        }
    }
    Ok(Some(pass))
}

impl Engine {
    /// Takes every lease step due now, by the engine's clock: warnings,
    /// expiries (a shutdown task), deletions (a delete task). An instance
    /// busy with a task is left for the next pass.
    pub async fn lease_pass(self: &Arc<Self>) -> Result<LeasePass, EngineError> {
        let now = self.clock.now();
        let due = self
            .store
            .read(move |c| leases::due(c, now + FIRST_WARNING))
            .await?;
        let mut done = LeasePass::default();
        for row in due {
            if row.running_task.is_some() {
                continue;
            }
            let id = row.id;
            let pass = match self.store.write(move |tx| advance(tx, id, now)).await {
                Ok(Some(pass)) => pass,
                Ok(None) => continue,
                // A task started since it was read: next pass.
                Err(StoreError::Duplicate(_)) => continue,
                Err(e) => return Err(e.into()),
            };
            for task_id in &pass.tasks {
                tracing::info!(instance = %row.name, task_id, "lease: task started");
                tokio::spawn(self.clone().run_task(*task_id));
            }
            done.notices.extend(pass.notices);
            done.tasks.extend(pass.tasks);
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(stage: LeaseStage, deletes_at: Option<i64>) -> Lease {
        Lease {
            expires_at: 100 * DAY,
            stage,
            deletes_at,
        }
    }

    #[test]
    fn each_step_comes_due_in_order_and_only_after_the_one_before() {
        use LeaseStage::*;
        let step = |stage, deletes_at, now| next_step(&lease(stage, deletes_at), now).map(|s| s.0);
        assert_eq!(step(Active, None, 93 * DAY - 1), None);
        assert_eq!(step(Active, None, 93 * DAY), Some(Warned7d));
        // Long past the expiry, the first warning still comes first.
        assert_eq!(step(Active, None, 200 * DAY), Some(Warned7d));
        assert_eq!(step(Warned7d, None, 99 * DAY - 1), None);
        assert_eq!(step(Warned7d, None, 99 * DAY), Some(Warned1d));
        assert_eq!(step(Warned1d, None, 100 * DAY - 1), None);
        assert_eq!(step(Warned1d, None, 100 * DAY), Some(Expired));
        assert_eq!(step(Expired, Some(107 * DAY), 107 * DAY - 1), None);
        assert_eq!(step(Expired, Some(107 * DAY), 107 * DAY), Some(Deleting));
        assert_eq!(step(Deleting, Some(107 * DAY), 500 * DAY), None);
    }
}
