//! The task driver: runs a task's steps in order, recording each before
//! and after it runs, so that a restart resumes at the first unfinished
//! one. A failed deploy is undone newest step first; every failure leaves
//! a clean message for the people who see the instance, and the whole
//! chain in the log.

use std::sync::Arc;

use app::model::{InstanceStatus, StepState, TaskKind};

use super::EngineError;
use super::runtime::Engine;
use super::steps::Step;
use crate::store::instances::{self, InstanceRow};
use crate::store::tasks::{self, TaskRow};

impl Engine {
    /// Runs (or resumes) a task to its end.
    pub async fn run_task(self: Arc<Self>, task_id: i64) {
        if let Err(e) = self.clone().drive(task_id).await {
            tracing::error!(task_id, error = %crate::error_chain(&e), "task could not be recorded");
        }
        self.notify(task_id);
    }

    async fn drive(self: Arc<Self>, task_id: i64) -> Result<(), EngineError> {
        let Some(task) = self.store.read(move |c| tasks::get(c, task_id)).await? else {
            return Ok(());
        };
        match self.run_steps(&task).await? {
            None => self.succeed(&task).await,
            Some((failed_at, error)) => self.fail(&task, failed_at, error).await,
        }
    }

    /// Runs the steps not yet done; the position and error of the first
    /// that fails, if one does.
    async fn run_steps(&self, task: &TaskRow) -> Result<Option<(usize, EngineError)>, EngineError> {
        let task_id = task.id;
        for (pos, step) in Step::of(task.kind).iter().enumerate() {
            if task
                .steps
                .get(pos)
                .is_some_and(|s| s.state == StepState::Done)
            {
                continue;
            }
            self.mark(task_id, pos, StepState::Running).await?;
            tracing::debug!(task_id, step = step.name(), "step started");
            match self.do_step(task, *step).await {
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
        if task.kind == TaskKind::Deploy
            && let Some(id) = task.instance_id
        {
            self.store
                .write(move |tx| instances::set_status(tx, id, InstanceStatus::Ready, None))
                .await?;
        }
        self.store
            .write(move |tx| tasks::finish(tx, task_id, None))
            .await?;
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
        if task.kind == TaskKind::Deploy {
            self.roll_back(task, failed_at).await?;
        }
        let (instance_id, message, kind) = (task.instance_id, error.for_users(), task.kind);
        self.store
            .write(move |tx| {
                if let Some(id) = instance_id {
                    match kind {
                        TaskKind::Deploy
                        // A failed delete leaves the instance to be deleted again.
                        | TaskKind::Delete => {
                            instances::set_status(tx, id, InstanceStatus::Failed, Some(&message))?
                        }
                        TaskKind::Start
                        | TaskKind::Shutdown
                        | TaskKind::Reboot
                        | TaskKind::Poweroff => instances::set_error(tx, id, &message)?,
                    }
                }
                tasks::finish(tx, task_id, Some(&message))
            })
            .await?;
        Ok(())
    }

    /// Undoes everything the deploy may have created, newest first.
    async fn roll_back(&self, task: &TaskRow, failed_at: usize) -> Result<(), EngineError> {
        let steps = Step::of(task.kind);
        for pos in (0..=failed_at).rev() {
            if let Err(e) = self.undo(task, steps[pos]).await {
                tracing::warn!(task_id = task.id, step = steps[pos].name(),
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

    /// The task's instance, unless its record is gone.
    pub(super) async fn instance(
        &self,
        task: &TaskRow,
    ) -> Result<Option<InstanceRow>, EngineError> {
        let uuid = task.instance_uuid.clone();
        Ok(self
            .store
            .read(move |c| instances::by_uuid(c, &uuid))
            .await?)
    }
}
