//! The steps of a backup (copy, checksum, retention) and of a restore's
//! disk. A backup job copies the instance's disk into a volume of the
//! backup store's pool on the instance's host: all of it (a full backup)
//! or, over the previous backup as qcow2 backing, the blocks changed
//! since that backup's checkpoint (an incremental one). When the chain
//! cannot go on (no checkpoint, the instance off, libvirt refusing the
//! incremental copy), the backup becomes a full one that starts a new
//! chain, and says why.

use std::path::Path;
use std::time::{Duration, Instant};

use app::model::{BackupKind, BackupState, Power};

use super::super::EngineError;
use super::super::guest::Guest;
use super::super::hypervisor::{BackupJob, HostError, Hypervisor, JobProgress};
use super::super::runtime::Engine;
use super::super::volumes::InstanceVolumes;
use crate::blocking::run_blocking;
use crate::store::StoreError;
use crate::store::backups::{self, BackupRow};
use crate::store::hosts::HostRow;
use crate::store::stack_versions::DiskSource;

/// How often a running backup job is asked how far it got.
const JOB_POLL: Duration = Duration::from_millis(300);

/// The backup store's directory on a host: beside its storage directory
/// (on the appliance, both on its data disk), named as its pool.
pub(in crate::engine) fn backup_dir(host: &HostRow, pool: &str) -> String {
    Path::new(&host.storage_dir)
        .parent()
        .unwrap_or_else(|| Path::new("/"))
        .join(pool)
        .display()
        .to_string()
}

/// How the copy step went: where the chain starts over, and its figures.
struct Copied {
    /// Why the backup became a full one, if it was due as incremental.
    restarted: Option<String>,
    frozen_ms: Option<u64>,
}

/// Copies the disk as `job` says, the guest's filesystems frozen only
/// while the job starts (QEMU then copies a point-in-time view).
fn run_job(host: &dyn Hypervisor, uuid: &str, job: &BackupJob) -> Result<Option<u64>, EngineError> {
    let frozen = host.freeze_filesystems(uuid)?;
    let started = Instant::now();
    let begun = host.begin_backup(uuid, job);
    let frozen_ms = frozen.then(|| started.elapsed().as_millis() as u64);
    if frozen {
        host.thaw_filesystems(uuid)?;
    }
    begun?;
    Ok(frozen_ms)
}

/// Waits for the domain's backup job to end.
fn wait_job(host: &dyn Hypervisor, uuid: &str) -> Result<(), EngineError> {
    loop {
        match host.backup_progress(uuid)? {
            JobProgress::Idle => return Ok(()),
            JobProgress::Running { .. } => std::thread::sleep(JOB_POLL),
        }
    }
}

/// A copy that found its storage full is the backup store's fault (the
/// instance's own disk is only read), and says so.
fn store_full(e: EngineError) -> EngineError {
    match e {
        EngineError::Host(e @ HostError::NoSpace { .. }) => EngineError::BackupStoreFull(e),
        EngineError::Host(HostError::BackupJob { uuid, reason })
            if reason.contains("No space left on device") =>
        {
            EngineError::BackupStoreFull(HostError::BackupJob { uuid, reason })
        }
        other => other,
    }
}

impl Engine {
    pub(in crate::engine) async fn backup_row(&self, id: i64) -> Result<BackupRow, EngineError> {
        self.store
            .read(move |c| backups::by_id(c, id))
            .await?
            .ok_or(EngineError::BackupGone)
    }

    /// The back-up step: the copy, as the chain allows.
    pub(in crate::engine) async fn back_up(
        &self,
        guest: &Guest,
        backup_id: i64,
    ) -> Result<(), EngineError> {
        let row = self.backup_row(backup_id).await?;
        let parent = match row.parent_id {
            Some(id) => self
                .store
                .read(move |c| backups::by_id(c, id))
                .await?
                .filter(|p| p.state == BackupState::Ready && !p.damaged),
            None => None,
        };
        let (host, host_row) = self.host_for(guest).await?;
        self.ensure_backup_pool(host.clone(), &host_row, row.pool.as_deref())
            .await
            .map_err(store_full)?;
        let (pool, backup_pool) = (self.config.storage_pool.clone(), self.pool_of(&row));
        let disk = InstanceVolumes::of(&guest.volume_stem).disk;
        let uuid = guest.uuid.clone();
        let capacity = u64::from(row.disk_gib) << 30;
        let started = Instant::now();
        let copied = run_blocking(move || -> Result<Copied, EngineError> {
            // A target left by an earlier attempt is not trusted.
            host.delete_volume(&backup_pool, &row.volume)?;
            if host.domain_power(&uuid)? != Some(Power::Running) {
                // Off: libvirt's jobs need a running guest, and a copy of
                // the disk at rest is consistent as it is.
                host.copy_volume(&pool, &disk, &backup_pool, &row.volume, capacity)?;
                return Ok::<_, EngineError>(Copied {
                    restarted: parent
                        .is_some()
                        .then(|| "the instance was off: its disk was copied whole".to_owned()),
                    frozen_ms: None,
                });
            }
            let mut job = BackupJob {
                disk: "vda".into(),
                skip: vec!["vdb".into()],
                target: String::new(),
                since: None,
                checkpoint: Some(row.checkpoint.clone()),
            };
            let mut restarted = None;
            if let Some(parent) = &parent {
                let base = host.volume_path(&backup_pool, &parent.volume)?;
                match (host.has_checkpoint(&uuid, &parent.checkpoint)?, base) {
                    (true, Some(base)) => {
                        job.target = host.create_overlay(
                            &backup_pool,
                            &row.volume,
                            capacity,
                            &base,
                            "qcow2",
                        )?;
                        job.since = Some(parent.checkpoint.clone());
                        match run_job(host.as_ref(), &uuid, &job) {
                            Ok(frozen_ms) => {
                                wait_job(host.as_ref(), &uuid)?;
                                return Ok(Copied {
                                    restarted: None,
                                    frozen_ms,
                                });
                            }
                            Err(e) => {
                                tracing::warn!(uuid, error = %crate::error_chain(&e),
                                    "the incremental backup was refused; taking a full one");
                                restarted = Some(format!(
                                    "the incremental copy since backup #{} was refused ({}): \
                                     a full backup starts a new chain",
                                    parent.id,
                                    e.for_users()
                                ));
                                host.delete_volume(&backup_pool, &row.volume)?;
                            }
                        }
                    }
                    (false, _) => {
                        restarted = Some(format!(
                            "the checkpoint of backup #{} is missing on the host (a revert, a \
                             restore, a restart or a crash removes it): a full backup starts a \
                             new chain",
                            parent.id
                        ));
                    }
                    (true, None) => {
                        restarted = Some(format!(
                            "the file of backup #{} is missing: a full backup starts a new chain",
                            parent.id
                        ));
                    }
                }
                // The chain is broken: its bitmaps only cost writes now.
                host.delete_checkpoints(&uuid, None)?;
            }
            job.since = None;
            job.target = host.create_empty_volume(&backup_pool, &row.volume, "qcow2", capacity)?;
            let frozen_ms = match run_job(host.as_ref(), &uuid, &job) {
                Ok(frozen_ms) => frozen_ms,
                Err(e) => {
                    // A disk that cannot keep a bitmap (qcow2 v2, made
                    // before dpe asked for v3) is copied without a
                    // checkpoint: each of its backups is a full one.
                    tracing::warn!(uuid, error = %crate::error_chain(&e),
                        "the full backup with a checkpoint was refused; copying without one");
                    host.delete_volume(&backup_pool, &row.volume)?;
                    job.target =
                        host.create_empty_volume(&backup_pool, &row.volume, "qcow2", capacity)?;
                    job.checkpoint = None;
                    restarted = Some(format!(
                        "the disk cannot keep a checkpoint ({}): every backup of it is a full one",
                        e.for_users()
                    ));
                    run_job(host.as_ref(), &uuid, &job)?
                }
            };
            wait_job(host.as_ref(), &uuid)?;
            Ok(Copied {
                restarted,
                frozen_ms,
            })
        })
        .await
        .map_err(store_full)?;
        let duration_ms = started.elapsed().as_millis() as u64;
        self.store
            .write(move |tx| {
                if let Some(reason) = &copied.restarted {
                    backups::make_full(tx, backup_id, Some(reason))?;
                }
                backups::set_copied(tx, backup_id, duration_ms, copied.frozen_ms)
            })
            .await?;
        Ok(())
    }

    /// Undoes a back-up step (failed, or cut off by a restart): the job
    /// aborted, its checkpoint and its file removed, so that nothing of
    /// it counts and the chain goes on from the backup before.
    pub(in crate::engine) async fn unback_up(
        &self,
        guest: &Guest,
        backup_id: i64,
    ) -> Result<(), EngineError> {
        let row = self.backup_row(backup_id).await?;
        if guest.host_id.is_none() {
            return Ok(());
        }
        let (host, _) = self.host_for(guest).await?;
        let backup_pool = self.pool_of(&row);
        let uuid = guest.uuid.clone();
        run_blocking(move || {
            host.abort_job(&uuid)?;
            host.delete_checkpoint(&uuid, &row.checkpoint)?;
            host.delete_volume(&backup_pool, &row.volume)?;
            Ok::<_, EngineError>(())
        })
        .await
    }

    /// The checksum step: the copy read back through libvirt; the backup
    /// is ready, and the checkpoints before its own are dropped (the next
    /// incremental backup starts from its own).
    pub(in crate::engine) async fn checksum(
        &self,
        guest: &Guest,
        backup_id: i64,
    ) -> Result<(), EngineError> {
        let row = self.backup_row(backup_id).await?;
        let (host, _) = self.host_for(guest).await?;
        let backup_pool = self.pool_of(&row);
        let uuid = guest.uuid.clone();
        let (sha256, size_bytes) = run_blocking(move || {
            let (sha256, len) = host
                .volume_sha256(&backup_pool, &row.volume)?
                .ok_or_else(|| EngineError::VolumeMissing(row.volume.clone()))?;
            let size = host
                .volume_allocation(&backup_pool, &row.volume)?
                .unwrap_or(len);
            if let Err(e) = host.delete_checkpoints(&uuid, Some(&row.checkpoint)) {
                tracing::warn!(uuid, error = %crate::error_chain(&e),
                    "older checkpoints could not be removed");
            }
            Ok::<_, EngineError>((sha256, size))
        })
        .await?;
        self.store
            .write(move |tx| backups::set_ready(tx, backup_id, size_bytes, &sha256))
            .await?;
        Ok(())
    }

    /// The retention step: never fails the backup it follows (a backup
    /// taken is kept even when old ones cannot be removed now; the next
    /// backup tries again).
    pub(in crate::engine) async fn prune(&self, guest: &Guest) -> Result<(), EngineError> {
        if let Err(e) = self.apply_retention(&guest.uuid).await {
            tracing::warn!(uuid = guest.uuid, error = %crate::error_chain(&e),
                "retention could not remove old backups");
        }
        Ok(())
    }

    /// The newest point of the backup's chain, checked again at the step
    /// (a verify may have found it damaged since it was accepted).
    pub(in crate::engine) async fn restorable_head(
        &self,
        backup_id: i64,
    ) -> Result<BackupRow, EngineError> {
        let chain = self
            .store
            .read(move |c| backups::chain(c, backup_id))
            .await
            .map_err(|e| match e {
                StoreError::NotFound(_) => EngineError::BackupGone,
                other => EngineError::Store(other),
            })?;
        if let Some(bad) = backups::unsound_point(&chain) {
            return Err(EngineError::BackupDamaged(bad.id));
        }
        chain.last().cloned().ok_or(EngineError::BackupGone)
    }

    /// The restore-disk step: the backup's chain, flattened into the new
    /// instance's disk on the backup's host.
    pub(in crate::engine) async fn restore_disk(
        &self,
        guest: &Guest,
        backup_id: i64,
    ) -> Result<(), EngineError> {
        let head = self.restorable_head(backup_id).await?;
        // The restored instance runs the version its backup was taken of.
        self.pin_version(guest, DiskSource::Backup(backup_id))
            .await?;
        let (host, _) = self.host_for(guest).await?;
        let (pool, backup_pool) = (self.config.storage_pool.clone(), self.pool_of(&head));
        let disk = InstanceVolumes::of(&guest.volume_stem).disk;
        let capacity = (guest.size.disk_gib << 30).max(u64::from(head.disk_gib) << 30);
        run_blocking(move || {
            // A disk found here is an earlier try's, cut off by a crash at
            // any point of its copy: it is made again, whole (the delete
            // waits for a copy libvirtd is still making).
            host.delete_volume(&pool, &disk)?;
            host.copy_volume(&backup_pool, &head.volume, &pool, &disk, capacity)?;
            Ok::<_, EngineError>(())
        })
        .await
    }

    /// Keeps the newest `keep` ready backups of the instance (its policy's),
    /// oldest removed first: a full backup that newer ones build on is
    /// merged into the next one, which becomes full in the same file.
    pub(in crate::engine) async fn apply_retention(&self, uuid: &str) -> Result<(), EngineError> {
        let u = uuid.to_owned();
        let (rows, keep) = self
            .store
            .read(move |c| {
                let rows = backups::of_instance(c, &u)?;
                let department = rows.first().and_then(|r| r.department_id);
                Ok((rows, backups::effective_policy(c, department)?.keep))
            })
            .await?;
        let mut ready: Vec<BackupRow> = rows
            .into_iter()
            .filter(|b| b.state == BackupState::Ready)
            .collect();
        ready.sort_by_key(|b| b.id);
        while ready.len() > keep as usize {
            let oldest = ready.remove(0);
            self.remove_point(&oldest).await?;
        }
        if let Some(oldest_kept) = ready.first().map(|b| b.id) {
            let u = uuid.to_owned();
            self.store
                .write(move |tx| backups::delete_failed_before(tx, &u, oldest_kept))
                .await?;
        }
        Ok(())
    }

    /// Removes one restore point without breaking what builds on it.
    async fn remove_point(&self, point: &BackupRow) -> Result<(), EngineError> {
        let id = point.id;
        let children = self.store.read(move |c| backups::children(c, id)).await?;
        let host_id = point.host_id.ok_or(EngineError::BackupGone)?;
        let host = self.connect(host_id).await?;
        let backup_pool = self.pool_of(point);
        match children.as_slice() {
            [] => {}
            [child] if child.kind == BackupKind::Incremental => {
                // The child's file becomes the flattened chain up to it, in
                // place: those that build on it name its path as backing.
                let (child, capacity) = (child.clone(), u64::from(child.disk_gib) << 30);
                let merged = format!("{}.merging", child.volume);
                let child_id = child.id;
                let (sha256, size) = run_blocking(move || {
                    host.delete_volume(&backup_pool, &merged)?;
                    host.copy_volume(&backup_pool, &child.volume, &backup_pool, &merged, capacity)?;
                    host.replace_volume_bytes(&backup_pool, &merged, &child.volume)?;
                    host.delete_volume(&backup_pool, &merged)?;
                    let (sha256, len) = host
                        .volume_sha256(&backup_pool, &child.volume)?
                        .ok_or_else(|| EngineError::VolumeMissing(child.volume.clone()))?;
                    let size = host
                        .volume_allocation(&backup_pool, &child.volume)?
                        .unwrap_or(len);
                    Ok::<_, EngineError>((sha256, size))
                })
                .await?;
                let volume = point.volume.clone();
                let host = self.connect(host_id).await?;
                let backup_pool = self.pool_of(point);
                self.store
                    .write(move |tx| {
                        backups::replace_point(tx, child_id, size, &sha256)?;
                        backups::delete(tx, id)
                    })
                    .await?;
                run_blocking(move || host.delete_volume(&backup_pool, &volume)).await?;
                return Ok(());
            }
            [_, ..] => {
                // More than one child (or a full one): leave the point;
                // an admin's look at the chain is due, not a guess.
                tracing::warn!(backup = id, "a restore point with several children is kept");
                return Ok(());
            }
        }
        let volume = point.volume.clone();
        run_blocking(move || host.delete_volume(&backup_pool, &volume)).await?;
        self.store.write(move |tx| backups::delete(tx, id)).await?;
        Ok(())
    }

    /// Checks the backup's file, and those it builds on, against their
    /// checksums, and records the outcome; the ids found damaged. A file
    /// that is gone is damaged too.
    pub async fn verify_backup(&self, id: i64) -> Result<Vec<i64>, EngineError> {
        let chain = self.store.read(move |c| backups::chain(c, id)).await?;
        let mut damaged = Vec::new();
        for point in chain.into_iter().filter(|b| b.state == BackupState::Ready) {
            let host_id = point.host_id.ok_or(EngineError::BackupGone)?;
            let host = self.connect(host_id).await?;
            let backup_pool = self.pool_of(&point);
            let volume = point.volume.clone();
            let found = run_blocking(move || host.volume_sha256(&backup_pool, &volume)).await?;
            let sound =
                matches!((&found, &point.sha256), (Some((now, _)), Some(then)) if now == then);
            if !sound {
                tracing::warn!(backup = point.id, "a backup no longer matches its checksum");
                damaged.push(point.id);
            }
            let point_id = point.id;
            self.store
                .write(move |tx| backups::set_verified(tx, point_id, !sound))
                .await?;
        }
        Ok(damaged)
    }
}
