//! The steps of each kind of task (`Step::of`) and the functions that run
//! them on a [`Guest`], grouped by what they work on: its volumes
//! (`volumes.rs`) and its domain (`domain.rs`); placement lives in
//! `placement.rs`. Which function runs or undoes each step is the
//! driver's (`driver.rs`), which sits above the warm pool's claim too.

mod domain;
mod snapshots;
mod volumes;

use std::sync::Arc;

use app::model::TaskKind;

use super::EngineError;
use super::guest::Guest;
use super::hypervisor::{HostError, Hypervisor};
use super::runtime::Engine;
use crate::blocking::run_blocking;
use crate::store::hosts::{self, HostRow};
use crate::store::instances;

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
    /// An internal snapshot of the disks (and memory, when running).
    TakeSnapshot,
    /// The instance back to a snapshot, running if it ran.
    Revert,
    DeleteSnapshot,
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
            Step::TakeSnapshot => "take snapshot",
            Step::Revert => "revert",
            Step::DeleteSnapshot => "delete snapshot",
        }
    }

    /// The step a task's record names.
    pub fn named(name: &str) -> Option<Step> {
        const EVERY: [Step; 16] = [
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
            Step::TakeSnapshot,
            Step::Revert,
            Step::DeleteSnapshot,
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
            TaskKind::Snapshot => &[Step::TakeSnapshot],
            TaskKind::Revert => &[Step::Revert],
            TaskKind::DeleteSnapshot => &[Step::DeleteSnapshot],
        }
    }

    pub fn names(kind: TaskKind) -> Vec<&'static str> {
        Step::of(kind).iter().map(|s| s.name()).collect()
    }

    /// Whether the step changes the guest's power state (or, a warm
    /// deploy's, first shows the instance's).
    pub(in crate::engine) fn changes_power(self) -> bool {
        match self {
            Step::Start
            | Step::Shutdown
            | Step::WaitOff
            | Step::Reboot
            | Step::PowerOff
            | Step::Personalize
            | Step::Revert => true,
            Step::Place
            | Step::Clone
            | Step::Seed
            | Step::Define
            | Step::Undefine
            | Step::DeleteVolumes
            | Step::Forget
            | Step::TakeSnapshot
            | Step::DeleteSnapshot => false,
        }
    }
}

impl Engine {
    /// The guest's host and a live connection to it.
    pub(in crate::engine) async fn host_for(
        &self,
        guest: &Guest,
    ) -> Result<(Arc<dyn Hypervisor>, HostRow), EngineError> {
        let host_id = guest
            .host_id
            .ok_or_else(|| EngineError::NotPlaced(guest.name.clone()))?;
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

    /// Runs `call` with the guest's domain UUID on its host.
    pub(in crate::engine) async fn on_host<T: Send + 'static>(
        &self,
        guest: &Guest,
        call: impl FnOnce(&dyn Hypervisor, &str) -> Result<T, HostError> + Send + 'static,
    ) -> Result<T, EngineError> {
        let (host, _) = self.host_for(guest).await?;
        let uuid = guest.uuid.clone();
        Ok(run_blocking(move || call(host.as_ref(), &uuid)).await?)
    }

    /// Shows an instance's new power state now rather than at the next
    /// reconcile.
    pub(in crate::engine) async fn show_power(&self, guest: &Guest) -> Result<(), EngineError> {
        let Some(id) = guest.instance_id() else {
            return Ok(());
        };
        if let Ok(Some(power)) = self.on_host(guest, |h, u| h.domain_power(u)).await {
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
            TaskKind::Snapshot,
            TaskKind::Revert,
            TaskKind::DeleteSnapshot,
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
