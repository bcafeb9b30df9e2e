//! The steps of a resize. The instance's record holds the new size from
//! admission on (its quota taken at once); the task keeps the old one.
//! Memory and vCPUs need a new definition and so a cold boot: the guest
//! is shut down (power button, then the plug after the timeout), defined
//! again and started. The disk grows in place, through QEMU while the
//! guest runs, and the stack's command grows the file system in it (the
//! DokuWiki image's resize2fs, online; at every boot cloud-init's resizefs
//! does the same). Today the disk grown is the instance's one disk; once
//! instances have a data volume (issue 35), it is that volume which grows.
//!
//! Undone newest first: a stopped guest is started again; the old size is
//! put back in the record and the definition. A grown disk stays grown
//! (disks do not shrink): resizing to that size again finds it done.

use std::time::Duration;

use app::model::Power;

use super::super::EngineError;
use super::super::guest::{Guest, GuestSize};
use super::super::runtime::Engine;
use super::super::volumes::InstanceVolumes;
use super::Step;
use crate::blocking::run_blocking;
use crate::store::instances;
use crate::store::tasks::{PriorSize, TaskRow};

/// The disk a resize grows (the instance's one disk, for now).
const DISK_TARGET: &str = "vda";
/// How long the stack's grow command may take (resize2fs of a few GiB).
const GROW_TIMEOUT: Duration = Duration::from_secs(300);

/// What a resize changes, decided at admission: its steps follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResizeShape {
    /// Memory or vCPUs change: a new definition, and a cold boot if it runs.
    pub redefine: bool,
    /// The guest runs now.
    pub running: bool,
    /// The stack can grow a running guest's file system.
    pub grows_online: bool,
}

impl Step {
    /// A resize's steps for what it changes.
    pub fn resize(shape: ResizeShape) -> Vec<Step> {
        let mut steps = Vec::new();
        let reboot = shape.running && shape.redefine;
        if reboot {
            steps.push(Step::StopForResize);
        }
        steps.extend([Step::ApplySize, Step::GrowDisk]);
        if reboot {
            // The file system grows as the guest boots (cloud-init).
            steps.push(Step::Start);
        } else if shape.running && shape.grows_online {
            steps.push(Step::GrowFileSystem);
        }
        steps
    }
}

impl Engine {
    /// Shuts the guest down for its new definition: the power button,
    /// then the plug after the timeout. A guest found off is left so.
    pub(in crate::engine) async fn stop_for_resize(
        &self,
        guest: &Guest,
    ) -> Result<(), EngineError> {
        let power = self.on_host(guest, |h, u| h.domain_power(u)).await?;
        if matches!(power, None | Some(Power::ShutOff)) {
            return Ok(());
        }
        self.shutdown(guest).await?;
        self.wait_off(guest).await
    }

    /// Undoes the stop: the guest runs again (with whatever definition
    /// the undone steps left, the old one).
    pub(in crate::engine) async fn restart_after_resize(
        &self,
        guest: &Guest,
    ) -> Result<(), EngineError> {
        self.start(guest).await?;
        self.show_power(guest).await
    }

    /// The domain defined with the size the record holds (the new one).
    /// A running domain keeps its size until its next cold boot.
    pub(in crate::engine) async fn apply_size(&self, guest: &Guest) -> Result<(), EngineError> {
        self.define(guest).await
    }

    /// Puts the old size back in the record and the definition.
    pub(in crate::engine) async fn unapply_size(
        &self,
        task: &TaskRow,
        id: i64,
        guest: &Guest,
    ) -> Result<(), EngineError> {
        let Some(prior) = task.resize_from.clone() else {
            return Ok(());
        };
        let old = Guest {
            size: GuestSize {
                vcpus: prior.vcpus,
                memory_mib: prior.memory_mib,
                disk_gib: prior.disk_gib,
            },
            ..guest.clone()
        };
        let PriorSize {
            name,
            vcpus,
            memory_mib,
            disk_gib,
        } = prior;
        self.store
            .write(move |tx| instances::set_size(tx, id, &name, vcpus, memory_mib, disk_gib))
            .await?;
        self.define(&old).await
    }

    /// Grows the disk to the record's size, unless it is that large
    /// already (a step resumed after a restart).
    pub(in crate::engine) async fn grow_disk(&self, guest: &Guest) -> Result<(), EngineError> {
        let (host, _) = self.host_for(guest).await?;
        let pool = self.config.storage_pool.clone();
        let disk = InstanceVolumes::of(&guest.volume_stem).disk;
        let (uuid, bytes) = (guest.uuid.clone(), guest.size.disk_gib << 30);
        run_blocking(move || {
            let now = host
                .volume_capacity(&pool, &disk)?
                .ok_or_else(|| EngineError::VolumeMissing(disk.clone()))?;
            if now < bytes {
                host.grow_disk(&uuid, DISK_TARGET, &pool, &disk, bytes)?;
            }
            Ok(())
        })
        .await
    }

    /// Runs the stack's grow command in the running guest.
    pub(in crate::engine) async fn grow_file_system(
        &self,
        guest: &Guest,
    ) -> Result<(), EngineError> {
        let Some(spec) = self.stack.manifest.resize.clone() else {
            return Ok(());
        };
        let argv = spec.grow_filesystem;
        let exit = self
            .on_host(guest, move |h, u| h.guest_exec(u, &argv, b"", GROW_TIMEOUT))
            .await?;
        if exit.code != 0 {
            return Err(EngineError::GuestCommand {
                command: "growing the file system".into(),
                code: exit.code,
                stderr: exit.stderr,
            });
        }
        Ok(())
    }
}
