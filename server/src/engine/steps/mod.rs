//! The steps of each kind of task, and how a failed deploy is undone:
//! which steps a task has (`Step::of`), and which function runs each and
//! which undoes it. The functions themselves are grouped by what they work
//! on: the instance's volumes (`volumes.rs`), its domain (`domain.rs`) and
//! its record (placement lives in `placement.rs`).

mod domain;
mod volumes;

use std::sync::Arc;

use app::model::TaskKind;

use super::EngineError;
use super::hypervisor::Hypervisor;
use super::runtime::Engine;
use crate::blocking::run_blocking;
use crate::store::hosts::{self, HostRow};
use crate::store::instances::{self, InstanceRow};
use crate::store::tasks::TaskRow;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Choose a host with room.
    Place,
    /// A qcow2 overlay of the golden image.
    Clone,
    /// The NoCloud seed volume.
    Seed,
    /// The domain, from XML.
    Define,
    Start,
    /// ACPI power button.
    Shutdown,
    /// Wait for the guest to power off; pull the plug after the timeout.
    WaitOff,
    Reboot,
    PowerOff,
    Undefine,
    DeleteVolumes,
    /// Remove the instance's record.
    Forget,
    /// A warm deploy's one step: the claimed pool member gets the
    /// deploy's values through the guest agent and becomes the instance.
    Personalize,
}

impl Step {
    pub fn name(self) -> &'static str {
        match self {
            Step::Place => "place",
            Step::Clone => "clone",
            Step::Seed => "seed",
            Step::Define => "define",
            Step::Start => "start",
            Step::Shutdown => "shutdown",
            Step::WaitOff => "wait for power off",
            Step::Reboot => "reboot",
            Step::PowerOff => "power off",
            Step::Undefine => "undefine",
            Step::DeleteVolumes => "delete volumes",
            Step::Forget => "forget",
            Step::Personalize => "personalize",
        }
    }

    /// The step a task's record names.
    pub fn named(name: &str) -> Option<Step> {
        const EVERY: [Step; 13] = [
            Step::Place,
            Step::Clone,
            Step::Seed,
            Step::Define,
            Step::Start,
            Step::Shutdown,
            Step::WaitOff,
            Step::Reboot,
            Step::PowerOff,
            Step::Undefine,
            Step::DeleteVolumes,
            Step::Forget,
            Step::Personalize,
        ];
        EVERY.into_iter().find(|s| s.name() == name)
    }

    /// A deploy that claimed a warm-pool member.
    pub const WARM_DEPLOY: &'static [Step] = &[Step::Personalize];

    pub fn of(kind: TaskKind) -> &'static [Step] {
        match kind {
            TaskKind::Deploy => &[
                Step::Place,
                Step::Clone,
                Step::Seed,
                Step::Define,
                Step::Start,
            ],
            TaskKind::Start => &[Step::Start],
            TaskKind::Shutdown => &[Step::Shutdown, Step::WaitOff],
            TaskKind::Reboot => &[Step::Reboot],
            TaskKind::Poweroff => &[Step::PowerOff],
            TaskKind::Delete => &[
                Step::PowerOff,
                Step::Undefine,
                Step::DeleteVolumes,
                Step::Forget,
            ],
        }
    }

    pub fn names(kind: TaskKind) -> Vec<&'static str> {
        Step::of(kind).iter().map(|s| s.name()).collect()
    }

    /// Whether the step changes the guest's power state (or, a warm
    /// deploy's, first shows the instance's).
    fn changes_power(self) -> bool {
        match self {
            Step::Start
            | Step::Shutdown
            | Step::WaitOff
            | Step::Reboot
            | Step::PowerOff
            | Step::Personalize => true,
            Step::Place
            | Step::Clone
            | Step::Seed
            | Step::Define
            | Step::Undefine
            | Step::DeleteVolumes
            | Step::Forget => false,
        }
    }
}

impl Engine {
    /// Runs one step of `task`. Every step is idempotent: a task resumed
    /// after a crash runs its interrupted step again.
    pub(super) async fn do_step(&self, task: &TaskRow, step: Step) -> Result<(), EngineError> {
        let Some(inst) = self.instance(task).await? else {
            // The record is gone: only a delete's last step can get here.
            return Ok(());
        };
        match step {
            Step::Place => self.place(&inst).await,
            Step::Clone => self.clone_disk(&inst).await,
            Step::Seed => self.write_seed(&inst, task.user_data.clone()).await,
            Step::Define => self.define(&inst).await,
            Step::Start => self.start(&inst).await,
            Step::Shutdown => self.shutdown(&inst).await,
            Step::WaitOff => self.wait_off(&inst).await,
            Step::Reboot => self.reboot(&inst).await,
            Step::PowerOff => self.power_off(&inst).await,
            Step::Undefine => self.undefine(&inst).await,
            Step::DeleteVolumes => self.delete_volumes(&inst).await,
            Step::Forget => self.forget(&inst).await,
            Step::Personalize => self.personalize(task, &inst).await,
        }?;
        if step.changes_power() {
            self.show_power(&inst).await?;
        }
        Ok(())
    }

    /// Undoes one step of a failed deploy; steps that create nothing have
    /// nothing to undo.
    pub(super) async fn undo(&self, task: &TaskRow, step: Step) -> Result<(), EngineError> {
        let Some(inst) = self.instance(task).await? else {
            return Ok(());
        };
        match step {
            Step::Place => self.unplace(&inst).await,
            Step::Clone => self.unclone_disk(&inst).await,
            Step::Seed => self.remove_seed(&inst).await,
            Step::Define => self.undefine(&inst).await,
            Step::Start => self.power_off(&inst).await,
            Step::Personalize => self.unclaim(&inst).await,
            Step::Shutdown
            | Step::WaitOff
            | Step::Reboot
            | Step::PowerOff
            | Step::Undefine
            | Step::DeleteVolumes
            | Step::Forget => Ok(()),
        }
    }

    /// The instance's host and a live connection to it.
    pub(super) async fn host_for(
        &self,
        inst: &InstanceRow,
    ) -> Result<(Arc<dyn Hypervisor>, HostRow), EngineError> {
        let host_id = inst
            .host_id
            .ok_or_else(|| EngineError::NotPlaced(inst.name.clone()))?;
        let row = self
            .store
            .read(hosts::list)
            .await?
            .into_iter()
            .find(|h| h.id == host_id)
            .ok_or_else(|| EngineError::HostDown(format!("#{host_id}")))?;
        let conn = self.connect(host_id).await?;
        Ok((conn, row))
    }

    /// Runs `call` with the instance's domain UUID on its host.
    pub(super) async fn on_host<T: Send + 'static>(
        &self,
        inst: &InstanceRow,
        call: impl FnOnce(&dyn Hypervisor, &str) -> Result<T, EngineError> + Send + 'static,
    ) -> Result<T, EngineError> {
        let (host, _) = self.host_for(inst).await?;
        let uuid = inst.uuid.clone();
        run_blocking(move || call(host.as_ref(), &uuid)).await
    }

    /// Shows the new power state now rather than at the next reconcile.
    async fn show_power(&self, inst: &InstanceRow) -> Result<(), EngineError> {
        if let Ok(Some(power)) = self.on_host(inst, |h, u| h.domain_power(u)).await {
            let id = inst.id;
            self.store
                .write(move |tx| instances::observe(tx, id, power, None))
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_of_every_task_is_found_by_its_recorded_name() {
        let kinds = [
            TaskKind::Deploy,
            TaskKind::Start,
            TaskKind::Shutdown,
            TaskKind::Reboot,
            TaskKind::Poweroff,
            TaskKind::Delete,
        ];
        let every = kinds
            .iter()
            .flat_map(|k| Step::of(*k).iter())
            .chain(Step::WARM_DEPLOY);
        for step in every {
            assert_eq!(Step::named(step.name()), Some(*step));
        }
        assert_eq!(Step::named("teleport"), None);
    }
}
