//! The steps of a move to another host: the new host gets the golden
//! image, an empty overlay of it and a copy of the seed; libvirt moves the
//! guest there (live, or started paused when it is stopped) while QEMU
//! copies the overlay's own clusters; the old host's volumes go last.
//! Each step finds out first how far an earlier try got, so that a restart
//! anywhere ends with exactly one copy of the guest, and the store names
//! its host.

use std::sync::Arc;
use std::time::Duration;

use app::model::Power;

use super::super::EngineError;
use super::super::guest::Guest;
use super::super::hypervisor::{HostError, Hypervisor, JobProgress, Migration};
use super::super::runtime::Engine;
use super::super::volumes::InstanceVolumes;
use crate::blocking::run_blocking;
use crate::store::hosts::HostRow;
use crate::store::instances;
use crate::store::tasks::TaskRow;

/// A seed is a few KB of cloud-init; one this long is not a seed.
const SEED_MAX: u64 = 16 << 20;
/// How often a running move's progress is logged.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);
/// The disk QEMU copies: the overlay (the seed is read-only and copied
/// by the prepare step).
const OVERLAY_TARGET: &str = "vda";

/// Where a guest is, seen from both hosts of a move.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Whereabouts {
    /// Only on the old host: the move is still to do.
    Old,
    /// Only on the new host: libvirt finished it, the store must follow.
    New,
    /// On both: the new host's copy is an unfinished one (removed, and
    /// the move done again), unless a live move finished there and the
    /// old host's is the paused original libvirt had not yet removed.
    Both {
        old: Power,
        new: Power,
    },
    Nowhere,
}

impl Engine {
    /// The prepare step of a move: the golden image on the new host (once
    /// per host), an empty overlay of it for QEMU to copy into, and the
    /// seed, copied whole (its user-data was dropped when the deploy
    /// ended, so it cannot be built again).
    pub(in crate::engine) async fn prepare_target(
        &self,
        task: &TaskRow,
        guest: &Guest,
    ) -> Result<(), EngineError> {
        let to_id = target_of(task)?;
        if guest.host_id == Some(to_id) {
            return Ok(());
        }
        let (from, _) = self.host_for(guest).await?;
        let (to, to_row) = self.host_by_id(to_id).await?;
        let golden = self
            .golden(to.clone(), to_row.storage_dir.clone(), guest)
            .await?;
        let capacity = guest.size.disk_gib << 30;
        let pool = self.config.storage_pool.clone();
        let volumes = InstanceVolumes::of(&guest.volume_stem);
        run_blocking(move || {
            if to.volume_path(&pool, &volumes.disk)?.is_none() {
                to.create_overlay(&pool, &volumes.disk, capacity, &golden.disk, golden.format)?;
            }
            let seed = from
                .volume_tail(&pool, &volumes.seed, SEED_MAX)?
                .filter(|bytes| (bytes.len() as u64) < SEED_MAX)
                .ok_or_else(|| EngineError::VolumeMissing(volumes.seed.clone()))?;
            // A seed found there is an earlier try's, perhaps cut short.
            to.delete_volume(&pool, &volumes.seed)?;
            let len = seed.len() as u64;
            to.upload_volume(&pool, &volumes.seed, "raw", &mut seed.as_slice(), len)?;
            Ok(())
        })
        .await
    }

    /// Undoes the prepare step while the guest is still on the old host:
    /// whatever the new host holds of it goes (a domain an interrupted
    /// move left there too). Once moved, those are the instance's own.
    pub(in crate::engine) async fn unprepare_target(
        &self,
        task: &TaskRow,
        guest: &Guest,
    ) -> Result<(), EngineError> {
        let to_id = target_of(task)?;
        if guest.host_id == Some(to_id) {
            return Ok(());
        }
        let (from, _) = self.host_for(guest).await?;
        let (to, _) = self.host_by_id(to_id).await?;
        let pool = self.config.storage_pool.clone();
        let volumes = InstanceVolumes::of(&guest.volume_stem);
        let uuid = guest.uuid.clone();
        run_blocking(move || {
            // Only while the old host still has the guest: should libvirt
            // have finished the move, the new host's copy is the only one,
            // and a resumed move step records it.
            if from.domain_power(&uuid)?.is_none() {
                return Err(EngineError::Host(HostError::NoDomain(uuid)));
            }
            to.destroy_domain(&uuid)?;
            to.undefine_domain(&uuid)?;
            // Refresh first: the console log appears only on disk.
            let _ = to.list_volumes(&pool);
            for name in [&volumes.disk, &volumes.seed, &volumes.console_log] {
                to.delete_volume(&pool, name)?;
            }
            Ok(())
        })
        .await
    }

    /// The move step: libvirt moves the guest, then the store names its
    /// new host. A guest that ran moves live and runs on; a stopped one
    /// stays stopped (its power is the store's, which the reconciler
    /// leaves alone while the task runs: libvirt's may be the paused copy
    /// of an interrupted try).
    pub(in crate::engine) async fn migrate_guest(
        &self,
        task: &TaskRow,
        id: i64,
        guest: &Guest,
    ) -> Result<(), EngineError> {
        let to_id = target_of(task)?;
        if guest.host_id == Some(to_id) {
            return Ok(());
        }
        let (from, _) = self.host_for(guest).await?;
        let (to, to_row) = self.host_by_id(to_id).await?;
        let keep_running = self
            .store
            .read(move |c| instances::by_id(c, id))
            .await?
            .is_some_and(|row| row.power == Power::Running);
        let whereabouts = {
            let (from, to, uuid) = (from.clone(), to.clone(), guest.uuid.clone());
            run_blocking(move || {
                Ok::<_, EngineError>(match (from.domain_power(&uuid)?, to.domain_power(&uuid)?) {
                    (Some(_), None) => Whereabouts::Old,
                    (None, Some(_)) => Whereabouts::New,
                    (Some(old), Some(new)) => Whereabouts::Both { old, new },
                    (None, None) => Whereabouts::Nowhere,
                })
            })
            .await?
        };
        match whereabouts {
            Whereabouts::Old => {}
            Whereabouts::New => return self.moved(id, guest, to_id, keep_running).await,
            Whereabouts::Both { old, new } => {
                let (from, to, uuid) = (from.clone(), to.clone(), guest.uuid.clone());
                let finished_there = keep_running && new == Power::Running && old != Power::Running;
                run_blocking(move || {
                    let stale = if finished_there { &from } else { &to };
                    stale.destroy_domain(&uuid)?;
                    stale.undefine_domain(&uuid)
                })
                .await?;
                if finished_there {
                    return self.moved(id, guest, to_id, keep_running).await;
                }
            }
            Whereabouts::Nowhere => {
                return Err(EngineError::Host(HostError::NoDomain(guest.uuid.clone())));
            }
        }
        let plan = self
            .migration_plan(guest, &from, &to, &to_row, keep_running)
            .await?;
        let uuid = guest.uuid.clone();
        let mut moving = {
            let (from, to, uuid) = (from.clone(), to.clone(), uuid.clone());
            tokio::spawn(run_blocking(move || {
                // libvirt cannot move checkpoints: the next backup is a
                // full one, its chain started afresh on the new host.
                from.delete_checkpoints(&uuid, None)?;
                from.migrate(&uuid, to.as_ref(), &plan)
            }))
        };
        let started = std::time::Instant::now();
        let result = loop {
            tokio::select! {
                done = &mut moving => break done,
                () = tokio::time::sleep(PROGRESS_EVERY) => {
                    let (from, uuid) = (from.clone(), uuid.clone());
                    if let Ok(JobProgress::Running { processed, total }) =
                        run_blocking(move || from.job_progress(&uuid)).await
                    {
                        tracing::info!(guest = guest.name, processed, total,
                            seconds = started.elapsed().as_secs(), "moving");
                    }
                }
            }
        };
        match result {
            Ok(moved) => moved?,
            Err(join) => {
                tracing::error!(error = %join, "the move's thread ended without an answer");
                return Err(EngineError::Host(HostError::Timeout {
                    uri: to_row.uri.clone(),
                    seconds: started.elapsed().as_secs(),
                }));
            }
        }
        tracing::info!(
            guest = guest.name,
            to = to_row.name,
            seconds = started.elapsed().as_secs_f64(),
            live = keep_running,
            "moved"
        );
        self.moved(id, guest, to_id, keep_running).await
    }

    /// Records the guest's new host. A stopped guest is defined there once
    /// more, for that host: it moved with the old host's acceleration
    /// (QEMU cannot change it under a process), and starts with the new
    /// one's.
    async fn moved(
        &self,
        id: i64,
        guest: &Guest,
        to_id: i64,
        keep_running: bool,
    ) -> Result<(), EngineError> {
        self.store
            .write(move |tx| instances::set_host(tx, id, Some(to_id)))
            .await?;
        if !keep_running {
            let there = Guest {
                host_id: Some(to_id),
                ..guest.clone()
            };
            self.define(&there).await?;
        }
        self.reconcile_now.notify_one();
        Ok(())
    }

    /// The guest's definition on the new host, and where QEMU there
    /// listens.
    async fn migration_plan(
        &self,
        guest: &Guest,
        from: &Arc<dyn Hypervisor>,
        to: &Arc<dyn Hypervisor>,
        to_row: &HostRow,
        keep_running: bool,
    ) -> Result<Migration, EngineError> {
        let golden = self
            .golden(to.clone(), to_row.storage_dir.clone(), guest)
            .await?;
        let inputs = self.definition_inputs(guest, to_row, golden);
        let (from, to) = (from.clone(), to.clone());
        run_blocking(move || {
            let uri = to.migration_uri()?;
            // The domain keeps its kind (KVM or TCG) while its process lives.
            let accel = from.acceleration()?;
            let dest_xml = inputs.xml_on(to.as_ref(), accel)?;
            Ok(Migration {
                dest_xml,
                uri,
                disks: vec![OVERLAY_TARGET.to_owned()],
                keep_running,
            })
        })
        .await
    }

    /// The last step of a move: the old host's volumes go (the domain
    /// went with the move).
    pub(in crate::engine) async fn clean_source(
        &self,
        task: &TaskRow,
        guest: &Guest,
    ) -> Result<(), EngineError> {
        let Some(from_id) = task.source_host_id else {
            return Ok(());
        };
        if guest.host_id == Some(from_id) {
            return Ok(());
        }
        let (from, _) = self.host_by_id(from_id).await?;
        let pool = self.config.storage_pool.clone();
        let volumes = InstanceVolumes::of(&guest.volume_stem);
        run_blocking(move || {
            let _ = from.list_volumes(&pool);
            for name in [&volumes.disk, &volumes.seed, &volumes.console_log] {
                from.delete_volume(&pool, name)?;
            }
            Ok(())
        })
        .await
    }
}

/// The host a move task goes to.
fn target_of(task: &TaskRow) -> Result<i64, EngineError> {
    task.target_host_id
        .ok_or_else(|| EngineError::HostDown("the move's target (removed)".into()))
}
