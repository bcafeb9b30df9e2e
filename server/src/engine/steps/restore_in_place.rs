//! The steps of a restore over an existing instance, once it is off: the
//! disk it replaces is copied beside it as a snapshot (internal snapshots
//! and checkpoints live in that disk, so they go first), then the disk is
//! made anew from the backup. Undoing the restore puts the copy back; the
//! copy itself stays, as the only one of the disk should that fail.
//!
//! The disk is never deleted before its copy is complete and recorded:
//! `restore_over` checks for the ready snapshot first, and a crash during
//! the copy leaves a snapshot still `creating`, whose copy is made again.

use app::model::{SnapshotKind, SnapshotState};

use super::super::EngineError;
use super::super::guest::Guest;
use super::super::runtime::Engine;
use super::super::volumes::InstanceVolumes;
use crate::blocking::run_blocking;
use crate::store::snapshots;
use crate::store::stack_versions::{self, DiskSource};

impl Engine {
    /// The keep-disk step.
    pub(in crate::engine) async fn keep_disk(
        &self,
        guest: &Guest,
        snapshot_id: i64,
    ) -> Result<(), EngineError> {
        let row = self
            .store
            .read(move |c| snapshots::by_id(c, snapshot_id))
            .await?
            .ok_or(EngineError::SnapshotGone)?;
        if row.state == SnapshotState::Ready {
            return Ok(());
        }
        self.drop_internal_snapshots(guest).await?;
        let (host, _) = self.host_for(guest).await?;
        let pool = self.config.storage_pool.clone();
        let disk = InstanceVolumes::of(&guest.volume_stem).disk;
        let kept = InstanceVolumes::kept_disk(&guest.volume_stem, snapshot_id);
        let (uuid, capacity) = (guest.uuid.clone(), guest.size.disk_gib << 30);
        let size = run_blocking(move || {
            // The backup chain's bitmaps are in the disk that goes: the
            // next backup is a full one, and says why.
            host.delete_checkpoints(&uuid, None)?;
            // A copy a crash cut short is made again, whole.
            host.delete_volume(&pool, &kept)?;
            host.copy_volume(&pool, &disk, &pool, &kept, capacity)?;
            Ok::<_, EngineError>(host.volume_allocation(&pool, &kept)?.unwrap_or(0))
        })
        .await?;
        self.store
            .write(move |tx| snapshots::set_taken(tx, snapshot_id, false, size))
            .await?;
        Ok(())
    }

    /// The instance's internal snapshots, from its host and the store:
    /// they live in the disk that is about to be replaced.
    pub(in crate::engine) async fn drop_internal_snapshots(
        &self,
        guest: &Guest,
    ) -> Result<(), EngineError> {
        let Some(instance_id) = guest.instance_id() else {
            return Ok(());
        };
        let internal: Vec<i64> = self
            .store
            .read(move |c| snapshots::of_instance(c, instance_id))
            .await?
            .into_iter()
            .filter(|s| s.kind == SnapshotKind::Internal)
            .map(|s| s.id)
            .collect();
        for id in internal {
            let name = snapshots::libvirt_name(id);
            self.on_host(guest, move |h, u| h.delete_snapshot(u, &name))
                .await?;
            self.store
                .write(move |tx| snapshots::delete(tx, id))
                .await?;
        }
        Ok(())
    }

    /// The restore-over step: the disk made anew from the backup.
    pub(in crate::engine) async fn restore_over(
        &self,
        guest: &Guest,
        backup_id: i64,
        snapshot_id: i64,
    ) -> Result<(), EngineError> {
        let kept = self
            .store
            .read(move |c| snapshots::by_id(c, snapshot_id))
            .await?;
        if !matches!(kept, Some(s) if s.state == SnapshotState::Ready) {
            return Err(EngineError::SnapshotGone);
        }
        let head = self.restorable_head(backup_id).await?;
        let (host, _) = self.host_for(guest).await?;
        let (pool, backup_pool) = (self.config.storage_pool.clone(), self.pool_of(&head));
        let disk = InstanceVolumes::of(&guest.volume_stem).disk;
        let capacity = (guest.size.disk_gib << 30).max(u64::from(head.disk_gib) << 30);
        run_blocking(move || {
            host.delete_volume(&pool, &disk)?;
            host.copy_volume(&backup_pool, &head.volume, &pool, &disk, capacity)?;
            Ok::<_, EngineError>(())
        })
        .await?;
        // The disk now holds the backup's version.
        self.disk_replaced(guest, DiskSource::Backup(backup_id))
            .await
    }

    /// Puts the disk kept as snapshot `snapshot_id` back as the instance's
    /// disk (the guest is off): the undo of a restore over it, and a
    /// revert to that snapshot.
    pub(in crate::engine) async fn put_back_disk(
        &self,
        guest: &Guest,
        snapshot_id: i64,
    ) -> Result<(), EngineError> {
        let (host, _) = self.host_for(guest).await?;
        let pool = self.config.storage_pool.clone();
        let disk = InstanceVolumes::of(&guest.volume_stem).disk;
        let kept = InstanceVolumes::kept_disk(&guest.volume_stem, snapshot_id);
        let capacity = guest.size.disk_gib << 30;
        run_blocking(move || {
            if host.volume_path(&pool, &kept)?.is_none() {
                return Err(EngineError::VolumeMissing(kept));
            }
            host.delete_volume(&pool, &disk)?;
            host.copy_volume(&pool, &kept, &pool, &disk, capacity)?;
            Ok::<_, EngineError>(())
        })
        .await?;
        self.disk_replaced(guest, DiskSource::Snapshot(snapshot_id))
            .await
    }

    /// Records the version the instance's disk now holds, its source's,
    /// and says whether that changed it; nothing for a guest that is not
    /// an instance.
    pub(in crate::engine) async fn pin_version(
        &self,
        guest: &Guest,
        source: DiskSource,
    ) -> Result<bool, EngineError> {
        let Some(instance_id) = guest.instance_id() else {
            return Ok(false);
        };
        Ok(self
            .store
            .write(move |tx| stack_versions::pin_to(tx, instance_id, source))
            .await?)
    }

    /// A disk put in place of the guest's (it is off): the version it
    /// holds is recorded, and when that is another version the domain is
    /// defined again, to boot that version's kernel, if it has one.
    async fn disk_replaced(&self, guest: &Guest, source: DiskSource) -> Result<(), EngineError> {
        if self.pin_version(guest, source).await? {
            self.define(guest).await?;
        }
        Ok(())
    }
}
