//! The steps of the snapshot tasks: take one, revert to one, delete one,
//! each on the guest's host, and what each leaves in the store. Undoing a
//! take removes what it made; undoing a revert or a delete only marks the
//! snapshot ready again (neither removed anything that stays missing).

use app::model::{Power, SnapshotKind, SnapshotState};

use super::super::EngineError;
use super::super::guest::Guest;
use super::super::runtime::Engine;
use super::super::volumes::InstanceVolumes;
use crate::blocking::run_blocking;
use crate::store::snapshots::{self, SnapshotRow};
use crate::store::stack_versions::DiskSource;

impl Engine {
    async fn snapshot_row(&self, snapshot_id: i64) -> Result<SnapshotRow, EngineError> {
        Ok(self
            .store
            .read(move |c| snapshots::by_id(c, snapshot_id))
            .await?
            .ok_or(crate::store::StoreError::NotFound("snapshot"))?)
    }

    /// The take-snapshot step. Resumed after a crash, a snapshot libvirt
    /// already has is kept (its size is then not known: 0).
    pub(in crate::engine) async fn take_snapshot(
        &self,
        guest: &Guest,
        snapshot_id: i64,
    ) -> Result<(), EngineError> {
        let row = self.snapshot_row(snapshot_id).await?;
        let (host, _) = self.host_for(guest).await?;
        let pool = self.config.storage_pool.clone();
        let disk = InstanceVolumes::of(&guest.volume_stem).disk;
        let (uuid, name) = (guest.uuid.clone(), snapshots::libvirt_name(snapshot_id));
        let (with_memory, size) = run_blocking(move || {
            if host.has_snapshot(&uuid, &name)? {
                let running = host.domain_power(&uuid)? == Some(Power::Running);
                return Ok::<_, EngineError>((running, 0));
            }
            // What the snapshot adds to the disk is what it holds now: the
            // memory of a running guest. The clusters it shares with the
            // disk are charged as they diverge, by the disk's own size.
            let before = host.volume_allocation(&pool, &disk)?.unwrap_or(0);
            let with_memory = host.create_snapshot(&uuid, &name, &row.description)?;
            let after = host.volume_allocation(&pool, &disk)?.unwrap_or(before);
            Ok((with_memory, after.saturating_sub(before)))
        })
        .await?;
        self.store
            .write(move |tx| snapshots::set_taken(tx, snapshot_id, with_memory, size))
            .await?;
        Ok(())
    }

    /// Undoes a take: the snapshot, if libvirt has it, and its record.
    pub(in crate::engine) async fn untake_snapshot(
        &self,
        guest: &Guest,
        snapshot_id: i64,
    ) -> Result<(), EngineError> {
        self.remove_snapshot(guest, snapshot_id).await
    }

    /// Removes the snapshot from the host (an unplaced guest has none)
    /// and then its record: a crash in between leaves a record whose
    /// removal runs again.
    async fn remove_snapshot(&self, guest: &Guest, snapshot_id: i64) -> Result<(), EngineError> {
        let kind = self
            .store
            .read(move |c| snapshots::by_id(c, snapshot_id))
            .await?
            .map(|s| s.kind);
        match (guest.host_id, kind) {
            (None, _) | (Some(_), None) => {}
            (Some(_), Some(SnapshotKind::Internal)) => {
                let name = snapshots::libvirt_name(snapshot_id);
                self.on_host(guest, move |h, u| h.delete_snapshot(u, &name))
                    .await?;
            }
            (Some(_), Some(SnapshotKind::DiskCopy)) => {
                let (host, _) = self.host_for(guest).await?;
                let pool = self.config.storage_pool.clone();
                let kept = InstanceVolumes::kept_disk(&guest.volume_stem, snapshot_id);
                run_blocking(move || host.delete_volume(&pool, &kept)).await?;
            }
        }
        self.store
            .write(move |tx| snapshots::delete(tx, snapshot_id))
            .await?;
        Ok(())
    }

    /// The revert step: the guest runs afterwards if it ran before.
    pub(in crate::engine) async fn revert(
        &self,
        guest: &Guest,
        snapshot_id: i64,
    ) -> Result<(), EngineError> {
        let row = self.snapshot_row(snapshot_id).await?;
        self.mark_snapshot(snapshot_id, SnapshotState::Reverting)
            .await?;
        if row.kind == SnapshotKind::DiskCopy {
            return self.revert_to_disk_copy(guest, snapshot_id).await;
        }
        let name = snapshots::libvirt_name(snapshot_id);
        self.on_host(guest, move |h, u| {
            let running = h.domain_power(u)? == Some(Power::Running);
            // QEMU refuses to revert a disk with dirty bitmaps: the backup
            // chain's checkpoints go (the next backup is a full one, and
            // says why), as the revert makes them untrue anyway.
            h.delete_checkpoints(u, None)?;
            h.revert_snapshot(u, &name, running)
        })
        .await?;
        self.pin_version(guest, DiskSource::Snapshot(snapshot_id))
            .await?;
        self.mark_snapshot(snapshot_id, SnapshotState::Ready).await
    }

    /// A revert to a kept disk: the disk is replaced by the copy (its
    /// internal snapshots go with it), and the guest runs again if it ran.
    async fn revert_to_disk_copy(
        &self,
        guest: &Guest,
        snapshot_id: i64,
    ) -> Result<(), EngineError> {
        let running = self
            .on_host(guest, |h, u| {
                let running = h.domain_power(u)? == Some(Power::Running);
                h.destroy_domain(u)?;
                h.delete_checkpoints(u, None)?;
                Ok(running)
            })
            .await?;
        self.drop_internal_snapshots(guest).await?;
        self.put_back_disk(guest, snapshot_id).await?;
        if running {
            self.start(guest).await?;
        }
        self.mark_snapshot(snapshot_id, SnapshotState::Ready).await
    }

    /// The delete-snapshot step; a snapshot libvirt no longer has is gone
    /// all the same.
    pub(in crate::engine) async fn delete_snapshot(
        &self,
        guest: &Guest,
        snapshot_id: i64,
    ) -> Result<(), EngineError> {
        self.mark_snapshot(snapshot_id, SnapshotState::Deleting)
            .await?;
        self.remove_snapshot(guest, snapshot_id).await
    }

    /// Marks the snapshot `state` (the undo of a revert or a delete: ready).
    pub(in crate::engine) async fn mark_snapshot(
        &self,
        snapshot_id: i64,
        state: SnapshotState,
    ) -> Result<(), EngineError> {
        self.store
            .write(move |tx| snapshots::set_state(tx, snapshot_id, state))
            .await?;
        Ok(())
    }
}
