//! The steps of each kind of task (`Step::of`) and the functions that run
//! them on a [`Guest`], grouped by what they work on: its volumes
//! (`volumes.rs`) and its domain (`domain.rs`); placement lives in
//! `placement.rs`. Which function runs or undoes each step is the
//! driver's (`driver.rs`), which sits above the warm pool's claim too.

mod backups;
pub(in crate::engine) use backups::backup_dir;
mod domain;
mod moves;
mod resize;
pub use resize::ResizeShape;
mod restore_in_place;
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

/// Declares the steps with the name each is recorded under, once: the
/// enum, `name()` and `named()` come from one table, so a step cannot be
/// added without its name, nor a name be found for no step.
macro_rules! steps {
    ($( $(#[$doc:meta])* $step:ident = $name:literal, )+) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Step {
            $( $(#[$doc])* $step, )+
        }

        impl Step {
            /// Every step, in declaration order (for the tests' look at
            /// every one).
            #[cfg(test)]
            pub const ALL: &'static [Step] = &[$(Step::$step),+];

            /// The name a task's record keeps it under.
            pub fn name(self) -> &'static str {
                match self {
                    $( Step::$step => $name, )+
                }
            }

            /// The step a task's record names.
            pub fn named(name: &str) -> Option<Step> {
                match name {
                    $( $name => Some(Step::$step), )+
                    _ => None,
                }
            }
        }
    };
}

steps! {
    /// Choose a host with room.
    Place = "place",
    /// A qcow2 overlay of the golden image.
    Clone = "clone",
    /// The NoCloud seed volume.
    Seed = "seed",
    /// The domain, from XML.
    Define = "define",
    Start = "start",
    /// ACPI power button.
    Shutdown = "shutdown",
    /// Wait for the guest to power off; pull the plug after the timeout.
    WaitOff = "wait for power off",
    Reboot = "reboot",
    PowerOff = "power off",
    Undefine = "undefine",
    DeleteVolumes = "delete volumes",
    /// Remove the instance's record.
    Forget = "forget",
    /// A warm deploy's one step: the claimed pool member gets the
    /// deploy's values through the guest agent and becomes the instance.
    Personalize = "personalize",
    /// An internal snapshot of the disks (and memory, when running).
    TakeSnapshot = "take snapshot",
    /// The instance back to a snapshot, running if it ran.
    Revert = "revert",
    DeleteSnapshot = "delete snapshot",
    /// Copies the disk into the backup store (libvirt's backup job): the
    /// changes since the last backup's checkpoint, or all of it.
    BackUp = "back up",
    /// Reads the copy back and records its SHA-256.
    Checksum = "checksum",
    /// Keeps the policy's number of restore points, merging or deleting
    /// the oldest without breaking a chain.
    Prune = "apply retention",
    /// The new instance's disk, from a backup (in place of a clone).
    RestoreDisk = "restore disk",
    /// A copy of the disk that a restore over the instance replaces, kept
    /// as a snapshot; the internal snapshots and checkpoints go first.
    KeepDisk = "keep the disk as a snapshot",
    /// The instance's disk replaced by the backup's.
    RestoreOver = "restore the backup over the disk",
    /// The new host of a move gets the golden image, an empty overlay
    /// and the seed.
    PrepareTarget = "prepare the new host",
    /// libvirt moves the guest (live when it runs) and QEMU copies its
    /// disk; the store then names the new host.
    Migrate = "move the guest",
    /// The old host's volumes go.
    CleanSource = "remove the old copy",
    /// A resize's shutdown: the power button, the plug after the timeout.
    StopForResize = "shut down for the new size",
    /// The domain defined with the new memory and vCPUs.
    ApplySize = "apply the new size",
    /// The disk grown to the new size (live while the guest runs).
    GrowDisk = "grow the disk",
    /// The stack's command grows the running guest's file system.
    GrowFileSystem = "grow the file system",
}

impl Step {
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
            TaskKind::Backup => &[Step::BackUp, Step::Checksum, Step::Prune],
            TaskKind::Restore => &[
                Step::Place,
                Step::RestoreDisk,
                Step::Seed,
                Step::Define,
                Step::Start,
            ],
            TaskKind::RestoreInPlace => &[
                Step::Shutdown,
                Step::WaitOff,
                Step::KeepDisk,
                Step::RestoreOver,
                Step::Start,
            ],
            TaskKind::Move => &[Step::PrepareTarget, Step::Migrate, Step::CleanSource],
            // The most a resize does; `Step::resize` picks its steps.
            TaskKind::Resize => &[
                Step::StopForResize,
                Step::ApplySize,
                Step::GrowDisk,
                Step::Start,
                Step::GrowFileSystem,
            ],
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
            | Step::Revert
            | Step::Migrate
            | Step::StopForResize => true,
            Step::Place
            | Step::Clone
            | Step::Seed
            | Step::Define
            | Step::Undefine
            | Step::DeleteVolumes
            | Step::Forget
            | Step::TakeSnapshot
            | Step::DeleteSnapshot
            | Step::BackUp
            | Step::Checksum
            | Step::Prune
            | Step::RestoreDisk
            | Step::KeepDisk
            | Step::RestoreOver
            | Step::PrepareTarget
            | Step::CleanSource
            | Step::ApplySize
            | Step::GrowDisk
            | Step::GrowFileSystem => false,
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
        self.host_by_id(host_id).await
    }

    /// Host `id` and a live connection to it.
    pub(in crate::engine) async fn host_by_id(
        &self,
        id: i64,
    ) -> Result<(Arc<dyn Hypervisor>, HostRow), EngineError> {
        let row = self
            .store
            .read(hosts::list)
            .await?
            .into_iter()
            .find(|h| h.id == id)
            .ok_or_else(|| EngineError::HostDown(format!("#{id}")))?;
        Ok((self.connect(id).await?, row))
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
            TaskKind::Backup,
            TaskKind::Restore,
            TaskKind::RestoreInPlace,
            TaskKind::Move,
            TaskKind::Resize,
        ];
        let every = kinds
            .iter()
            .flat_map(|k| Step::of(*k).iter())
            .chain(Step::WARM_DEPLOY);
        for step in every {
            assert_eq!(Step::named(step.name()), Some(*step));
        }
        assert_eq!(Step::named("teleport"), None);
        // Every step is some task's, and each name is one step's.
        for step in Step::ALL {
            assert_eq!(Step::named(step.name()), Some(*step));
        }
        let names: std::collections::HashSet<_> = Step::ALL.iter().map(|s| s.name()).collect();
        assert_eq!(names.len(), Step::ALL.len());
    }
}
