//! The task driver: runs a task's steps in order, recording each before
//! and after it runs, so that a restart resumes at the first unfinished
//! one. A failed deploy is undone newest step first; every failure leaves
//! a clean message for the people who see the instance, and the whole
//! chain in the log.

use std::sync::Arc;

use app::model::{InstanceStatus, NoticeKind, SnapshotState, StepState, TaskKind};

use super::EngineError;
use super::guest::Guest;
use super::runtime::Engine;
use super::steps::Step;
use crate::store::tasks::{self, TaskRow};
use crate::store::{StoreError, instances, outbox};

impl Engine {
    /// Runs (or resumes) a task to its end.
    pub async fn run_task(self: Arc<Self>, task_id: i64) {
        if let Err(e) = self.clone().drive(task_id).await {
            tracing::error!(task_id, error = %crate::error_chain(&e), "task could not be recorded");
        }
        self.notify(task_id);
    }

    async fn drive(self: Arc<Self>, task_id: i64) -> Result<(), EngineError> {
        let Some(mut task) = self.store.read(move |c| tasks::get(c, task_id)).await? else {
            return Ok(());
        };
        let mut outcome = self.run_steps(&task).await?;
        // A warm deploy whose claim failed goes on cold: the user sees one
        // deploy, not an error.
        if let Some((failed_at, error)) = &outcome
            && step_at(&task, *failed_at)? == Step::Personalize
        {
            tracing::warn!(task_id, error = %crate::error_chain(error),
                "personalizing a warm-pool member failed; deploying cold");
            match self.go_cold(&task, *failed_at).await {
                Ok(()) => {
                    let Some(reloaded) = self.store.read(move |c| tasks::get(c, task_id)).await?
                    else {
                        return Ok(());
                    };
                    task = reloaded;
                    outcome = self.run_steps(&task).await?;
                }
                Err(e) => tracing::warn!(task_id, error = %crate::error_chain(&e),
                    "the claimed member could not be removed; the deploy fails"),
            }
        }
        match outcome {
            None => {
                self.succeed(&task).await?;
                // A claimed member's application answers within seconds:
                // follow it closely rather than wait for the next pass.
                let warm = task
                    .steps
                    .iter()
                    .map(|s| s.name.as_str())
                    .eq(Step::WARM_DEPLOY.iter().map(|s| s.name()));
                if let (TaskKind::Deploy, true, Some(id)) = (task.kind, warm, task.instance_id) {
                    tokio::spawn(self.clone().follow_new_instance(id));
                }
                Ok(())
            }
            Some((failed_at, error)) => self.fail(&task, failed_at, error).await,
        }
    }

    /// Turns a warm deploy into a cold one: the claimed member is
    /// destroyed, and the cold steps follow its undone claim, on a host
    /// chosen afresh. Each part is idempotent, and the record changes in
    /// one transaction, so a crash anywhere leads here again or beyond.
    async fn go_cold(&self, task: &TaskRow, claim_at: usize) -> Result<(), EngineError> {
        let Some((instance_id, guest)) = self.instance(task).await? else {
            return Ok(());
        };
        self.unclaim(instance_id, &guest).await?;
        let task_id = task.id;
        self.store
            .write(move |tx| {
                tasks::set_step(tx, task_id, claim_at as i64, StepState::Undone)?;
                tasks::append_steps(tx, task_id, &Step::names(TaskKind::Deploy))?;
                instances::set_host(tx, instance_id, None)
            })
            .await?;
        self.notify(task_id);
        Ok(())
    }

    /// Runs the steps not yet done; the position and error of the first
    /// that fails, if one does. A claim found running or failed was cut
    /// off by a restart: it cannot tell how far it got, so it fails.
    async fn run_steps(&self, task: &TaskRow) -> Result<Option<(usize, EngineError)>, EngineError> {
        let task_id = task.id;
        for (pos, row) in task.steps.iter().enumerate() {
            let step = step_at(task, pos)?;
            match row.state {
                StepState::Done | StepState::Undone => continue,
                StepState::Running | StepState::Failed if step == Step::Personalize => {
                    self.mark(task_id, pos, StepState::Failed).await?;
                    return Ok(Some((pos, EngineError::ClaimInterrupted)));
                }
                // A backup job cut off by a restart may have copied
                // anything: it is aborted and undone, never trusted.
                StepState::Running | StepState::Failed if step == Step::BackUp => {
                    self.mark(task_id, pos, StepState::Failed).await?;
                    return Ok(Some((pos, EngineError::BackupInterrupted)));
                }
                StepState::Pending | StepState::Running | StepState::Failed => {}
            }
            self.mark(task_id, pos, StepState::Running).await?;
            tracing::debug!(task_id, step = step.name(), "step started");
            match self.do_step(task, step).await {
                Ok(()) => self.mark(task_id, pos, StepState::Done).await?,
                Err(e) => {
                    self.mark(task_id, pos, StepState::Failed).await?;
                    return Ok(Some((pos, e)));
                }
            }
        }
        Ok(None)
    }

    async fn succeed(&self, task: &TaskRow) -> Result<(), EngineError> {
        let task_id = task.id;
        let (kind, instance_id, now) = (task.kind, task.instance_id, self.clock.now());
        // Ready, finished and told in one transaction: a deploy never
        // succeeds untold, nor is told twice.
        self.store
            .write(move |tx| {
                if let (TaskKind::Deploy | TaskKind::Restore, Some(id)) = (kind, instance_id) {
                    instances::set_status(tx, id, InstanceStatus::Ready, None)?;
                }
                if let (TaskKind::Deploy, Some(id)) = (kind, instance_id) {
                    tell(tx, id, NoticeKind::DeploySucceeded, now, |name| {
                        format!("{name} was deployed and is starting.")
                    })?;
                }
                tasks::finish(tx, task_id, None)
            })
            .await?;
        if matches!(task.kind, TaskKind::Deploy | TaskKind::Restore) {
            self.reconcile_now.notify_one();
        }
        tracing::info!(task_id, kind = task.kind.as_str(), "task succeeded");
        Ok(())
    }

    async fn fail(
        &self,
        task: &TaskRow,
        failed_at: usize,
        error: EngineError,
    ) -> Result<(), EngineError> {
        let task_id = task.id;
        // The chain to the log; a clean message to the people who see it.
        tracing::warn!(task_id, kind = task.kind.as_str(), error = %crate::error_chain(&error),
            "task failed");
        if rolls_back(task.kind) {
            self.roll_back(task, failed_at).await?;
        }
        let (instance_id, message, kind) = (task.instance_id, error.for_users(), task.kind);
        let backup_id = task.backup_id;
        let now = self.clock.now();
        self.store
            .write(move |tx| {
                if let (TaskKind::Backup, Some(backup)) = (kind, backup_id) {
                    crate::store::backups::set_failed(tx, backup, &message)?;
                }
                let told = match kind {
                    TaskKind::Deploy => Some(NoticeKind::DeployFailed),
                    TaskKind::Backup => Some(NoticeKind::BackupFailed),
                    TaskKind::Restore
                    | TaskKind::Delete
                    | TaskKind::Start
                    | TaskKind::Shutdown
                    | TaskKind::Reboot
                    | TaskKind::Poweroff
                    | TaskKind::Snapshot
                    | TaskKind::Revert
                    | TaskKind::DeleteSnapshot
                    | TaskKind::RestoreInPlace
                    | TaskKind::Move
                    | TaskKind::Resize => None,
                };
                if let (Some(notice), Some(id)) = (told, instance_id) {
                    tell(tx, id, notice, now, |name| match notice {
                        NoticeKind::BackupFailed => format!("A backup of {name} failed: {message}"),
                        NoticeKind::DeployFailed
                        | NoticeKind::DeploySucceeded
                        | NoticeKind::LeaseExpiresIn7Days
                        | NoticeKind::LeaseExpiresIn1Day
                        | NoticeKind::Expired
                        | NoticeKind::Deleted
                        | NoticeKind::HostDown
                        | NoticeKind::ApprovalRequested
                        | NoticeKind::ApprovalDecided => {
                            format!("The deploy of {name} failed: {message}")
                        }
                    })?;
                }
                if let Some(id) = instance_id {
                    match kind {
                        TaskKind::Deploy
                        | TaskKind::Restore
                        // A failed delete leaves the instance to be deleted again.
                        | TaskKind::Delete => {
                            instances::set_status(tx, id, InstanceStatus::Failed, Some(&message))?
                        }
                        TaskKind::Start
                        | TaskKind::Shutdown
                        | TaskKind::Reboot
                        | TaskKind::Poweroff
                        | TaskKind::Snapshot
                        | TaskKind::Revert
                        | TaskKind::DeleteSnapshot
                        | TaskKind::Backup
                        | TaskKind::RestoreInPlace
                        | TaskKind::Move
                        | TaskKind::Resize => instances::set_error(tx, id, &message)?,
                    }
                }
                tasks::finish(tx, task_id, Some(&message))
            })
            .await?;
        Ok(())
    }

    /// Undoes everything the deploy may have created, newest first.
    async fn roll_back(&self, task: &TaskRow, failed_at: usize) -> Result<(), EngineError> {
        for pos in (0..=failed_at).rev() {
            let step = step_at(task, pos)?;
            if let Err(e) = self.undo(task, step).await {
                tracing::warn!(task_id = task.id, step = step.name(),
                    error = %crate::error_chain(&e),
                    "rollback step failed; the reconciler will finish it");
            }
            self.mark(task.id, pos, StepState::Undone).await?;
        }
        Ok(())
    }

    async fn mark(&self, task_id: i64, pos: usize, state: StepState) -> Result<(), EngineError> {
        self.store
            .write(move |tx| tasks::set_step(tx, task_id, pos as i64, state))
            .await?;
        self.notify(task_id);
        Ok(())
    }

    /// Runs one step of `task`. Every step is idempotent: a task resumed
    /// after a crash runs its interrupted step again.
    async fn do_step(&self, task: &TaskRow, step: Step) -> Result<(), EngineError> {
        let Some((id, guest)) = self.instance(task).await? else {
            // The record is gone: only a delete's last step can get here.
            return Ok(());
        };
        let guest = &guest;
        match step {
            Step::Place => self.place(id, guest).await,
            Step::Clone => self.clone_disk(guest).await,
            Step::Seed => self.write_seed(guest, task.user_data.clone()).await,
            Step::Define => self.define(guest).await,
            Step::Start => self.start(guest).await,
            Step::Shutdown => self.shutdown(guest).await,
            Step::WaitOff => self.wait_off(guest).await,
            Step::Reboot => self.reboot(guest).await,
            Step::PowerOff => self.power_off(guest).await,
            Step::Undefine => self.undefine(guest).await,
            Step::DeleteVolumes => self.delete_volumes(guest).await,
            Step::Forget => self.forget(id).await,
            Step::Personalize => self.personalize(task, id, guest).await,
            Step::TakeSnapshot => self.take_snapshot(guest, snapshot_of(task)?).await,
            Step::Revert => self.revert(guest, snapshot_of(task)?).await,
            Step::DeleteSnapshot => match task.snapshot_id {
                Some(snapshot) => self.delete_snapshot(guest, snapshot).await,
                // Its record went with the step's end, before a restart.
                None => Ok(()),
            },
            Step::BackUp => self.back_up(guest, backup_of(task)?).await,
            Step::Checksum => self.checksum(guest, backup_of(task)?).await,
            Step::Prune => self.prune(guest).await,
            Step::RestoreDisk => self.restore_disk(guest, backup_of(task)?).await,
            Step::KeepDisk => self.keep_disk(guest, snapshot_of(task)?).await,
            Step::RestoreOver => {
                self.restore_over(guest, backup_of(task)?, snapshot_of(task)?)
                    .await
            }
            Step::PrepareTarget => self.prepare_target(task, guest).await,
            Step::Migrate => self.migrate_guest(task, id, guest).await,
            Step::CleanSource => self.clean_source(task, guest).await,
            Step::StopForResize => self.stop_for_resize(guest).await,
            Step::ApplySize => self.apply_size(guest).await,
            Step::GrowDisk => self.grow_disk(guest).await,
            Step::GrowFileSystem => self.grow_file_system(guest).await,
        }?;
        if step.changes_power() {
            self.show_power(guest).await?;
        }
        Ok(())
    }

    /// Undoes one step of a failed deploy; steps that create nothing have
    /// nothing to undo.
    async fn undo(&self, task: &TaskRow, step: Step) -> Result<(), EngineError> {
        let Some((id, guest)) = self.instance(task).await? else {
            return Ok(());
        };
        let guest = &guest;
        match step {
            Step::Place => self.unplace(id).await,
            Step::Clone => self.unclone_disk(guest).await,
            Step::Seed => self.remove_seed(guest).await,
            Step::Define => self.undefine(guest).await,
            Step::Start => self.power_off(guest).await,
            Step::Personalize => self.unclaim(id, guest).await,
            Step::TakeSnapshot => match task.snapshot_id {
                Some(snapshot) => self.untake_snapshot(guest, snapshot).await,
                None => Ok(()),
            },
            Step::Revert | Step::DeleteSnapshot => match task.snapshot_id {
                Some(snapshot) => self.mark_snapshot(snapshot, SnapshotState::Ready).await,
                None => Ok(()),
            },
            Step::BackUp => match task.backup_id {
                Some(backup) => self.unback_up(guest, backup).await,
                None => Ok(()),
            },
            Step::RestoreDisk => self.unclone_disk(guest).await,
            // The copy stays, a snapshot like any other: should putting it
            // back fail, it is the only copy of the disk.
            Step::KeepDisk => Ok(()),
            Step::RestoreOver => match task.snapshot_id {
                Some(snapshot) => self.put_back_disk(guest, snapshot).await,
                None => Err(EngineError::SnapshotGone),
            },
            Step::Checksum | Step::Prune => Ok(()),
            Step::PrepareTarget => self.unprepare_target(task, guest).await,
            // A failed migration leaves the guest where it was (libvirt
            // undoes its half); the old copy's volumes are not restored.
            Step::Migrate | Step::CleanSource => Ok(()),
            Step::StopForResize => self.restart_after_resize(guest).await,
            Step::ApplySize => self.unapply_size(task, id, guest).await,
            // A disk does not shrink: it stays grown, and resizing to that
            // size again finds it done.
            Step::GrowDisk | Step::GrowFileSystem => Ok(()),
            Step::Shutdown
            | Step::WaitOff
            | Step::Reboot
            | Step::PowerOff
            | Step::Undefine
            | Step::DeleteVolumes
            | Step::Forget => Ok(()),
        }
    }

    /// The task's instance id and guest, unless its record is gone.
    async fn instance(&self, task: &TaskRow) -> Result<Option<(i64, Guest)>, EngineError> {
        let uuid = task.instance_uuid.clone();
        let row = self
            .store
            .read(move |c| instances::by_uuid(c, &uuid))
            .await?;
        row.map(|row| Ok((row.id, Guest::of_instance(&row)?)))
            .transpose()
    }
}

/// Queues `notice` about instance `id` (if it still exists), in the
/// transaction of the change it tells of.
fn tell(
    tx: &rusqlite::Connection,
    id: i64,
    notice: NoticeKind,
    now: i64,
    sentence: impl FnOnce(&str) -> String,
) -> Result<(), StoreError> {
    if let Some(row) = instances::by_id(tx, id)? {
        outbox::queue_for_instance(tx, notice, now, &row, &sentence(&row.name))?;
    }
    Ok(())
}

/// Whether a failed task of `kind` undoes its steps: a deploy (nothing
/// half-made stays), the snapshot tasks (a half-taken snapshot goes, a
/// snapshot whose revert or delete failed is ready again), a restore
/// over an instance (the disk it replaced is put back), a move (what
/// the new host got goes, unless the guest is there already), and a
/// resize (the old size back, running if it ran).
fn rolls_back(kind: TaskKind) -> bool {
    match kind {
        TaskKind::Deploy
        | TaskKind::Snapshot
        | TaskKind::Revert
        | TaskKind::DeleteSnapshot
        | TaskKind::Backup
        | TaskKind::Restore
        | TaskKind::RestoreInPlace
        | TaskKind::Move
        | TaskKind::Resize => true,
        TaskKind::Start
        | TaskKind::Shutdown
        | TaskKind::Reboot
        | TaskKind::Poweroff
        | TaskKind::Delete => false,
    }
}

/// The backup a backup or restore task works on.
fn backup_of(task: &TaskRow) -> Result<i64, EngineError> {
    task.backup_id.ok_or(EngineError::BackupGone)
}

/// The snapshot a snapshot task works on.
fn snapshot_of(task: &TaskRow) -> Result<i64, EngineError> {
    task.snapshot_id.ok_or(EngineError::SnapshotGone)
}

/// The step at `pos` of the task's record.
fn step_at(task: &TaskRow, pos: usize) -> Result<Step, EngineError> {
    task.steps
        .get(pos)
        .and_then(|row| Step::named(&row.name))
        .ok_or(EngineError::UnknownStep {
            task: task.id,
            position: pos,
        })
}

#[cfg(test)]
mod tests {
    use app::model::TaskState;

    use super::*;
    use crate::store::tasks::StepRow;

    fn task_with_steps(names: &[&str]) -> TaskRow {
        TaskRow {
            id: 9,
            instance_id: Some(1),
            instance_uuid: "u".into(),
            owner_id: 1,
            kind: TaskKind::Deploy,
            state: TaskState::Running,
            error: None,
            user_data: None,
            personalize: None,
            snapshot_id: None,
            backup_id: None,
            source_host_id: None,
            target_host_id: None,
            resize_from: None,
            created_ms: 0,
            finished_ms: None,
            steps: names
                .iter()
                .enumerate()
                .map(|(i, name)| StepRow {
                    position: i as i64,
                    name: (*name).into(),
                    state: StepState::Pending,
                    started_ms: None,
                    finished_ms: None,
                })
                .collect(),
        }
    }

    #[test]
    fn a_step_the_engine_does_not_know_is_an_unknown_step_not_a_corrupt_store() {
        let task = task_with_steps(&["place", "teleport"]);
        assert_eq!(step_at(&task, 0).unwrap(), Step::Place);
        let err = step_at(&task, 1).unwrap_err();
        assert!(
            matches!(
                err,
                EngineError::UnknownStep {
                    task: 9,
                    position: 1
                }
            ),
            "{err:?}"
        );
        assert_eq!(err.to_string(), "task 9 has no known step at 1");
        assert!(matches!(
            step_at(&task, 2),
            Err(EngineError::UnknownStep { position: 2, .. })
        ));
    }
}
