//! The steps that make and remove a guest's volumes: its disk (a qcow2
//! overlay of the stack's golden image, uploaded once per host), its
//! cloud-init seed, and at the end all of them with the console log.

use std::sync::Arc;

use super::super::EngineError;
use super::super::definition::{EMPTY_USER_DATA, seed_image};
use super::super::golden::GoldenVolumes;
use super::super::guest::Guest;
use super::super::hypervisor::Hypervisor;
use super::super::runtime::Engine;
use super::super::volumes::InstanceVolumes;
use crate::blocking::run_blocking;

impl Engine {
    /// The golden volumes of the guest's version on `host`, uploaded
    /// first if they are not there.
    pub(in crate::engine) async fn golden(
        &self,
        host: Arc<dyn Hypervisor>,
        storage_dir: String,
        guest: &Guest,
    ) -> Result<GoldenVolumes, EngineError> {
        let version = self.version_of(guest).await?;
        self.golden_of(host, storage_dir, version).await
    }

    /// The clone step: the instance's disk, an overlay of the golden image.
    pub(in crate::engine) async fn clone_disk(&self, guest: &Guest) -> Result<(), EngineError> {
        let (host, row) = self.host_for(guest).await?;
        let golden = self
            .golden(host.clone(), row.storage_dir.clone(), guest)
            .await?;
        let capacity = guest.size.disk_gib << 30;
        let pool = self.config.storage_pool.clone();
        let disk = InstanceVolumes::of(&guest.volume_stem).disk;
        run_blocking(move || {
            if host.volume_path(&pool, &disk)?.is_none() {
                host.create_overlay(&pool, &disk, capacity, &golden.disk, golden.format)?;
            }
            Ok(())
        })
        .await
    }

    /// Undoes the clone step: the console log a start made, and the disk.
    pub(in crate::engine) async fn unclone_disk(&self, guest: &Guest) -> Result<(), EngineError> {
        let volumes = InstanceVolumes::of(&guest.volume_stem);
        self.remove_volumes(guest, [volumes.console_log, volumes.disk])
            .await
    }

    /// The seed step: the NoCloud seed with the task's user-data.
    pub(in crate::engine) async fn write_seed(
        &self,
        guest: &Guest,
        user_data: Option<String>,
    ) -> Result<(), EngineError> {
        let (host, _) = self.host_for(guest).await?;
        let user_data = user_data.unwrap_or_else(|| EMPTY_USER_DATA.into());
        let guest = guest.clone();
        let pool = self.config.storage_pool.clone();
        let seed_name = InstanceVolumes::of(&guest.volume_stem).seed;
        run_blocking(move || {
            // A seed found here is an earlier try's, perhaps cut off mid
            // upload by a crash: it is written again (it is a few KB).
            host.delete_volume(&pool, &seed_name)?;
            let bytes = seed_image(&guest, &user_data)?;
            let len = bytes.len() as u64;
            host.upload_volume(&pool, &seed_name, "raw", &mut bytes.as_slice(), len)?;
            Ok(())
        })
        .await
    }

    /// Undoes the seed step.
    pub(in crate::engine) async fn remove_seed(&self, guest: &Guest) -> Result<(), EngineError> {
        if guest.host_id.is_none() {
            return Ok(());
        }
        let (host, _) = self.host_for(guest).await?;
        let pool = self.config.storage_pool.clone();
        let seed_name = InstanceVolumes::of(&guest.volume_stem).seed;
        run_blocking(move || host.delete_volume(&pool, &seed_name)).await?;
        Ok(())
    }

    /// The delete-volumes step: disk, seed and console log, and the disks
    /// kept as snapshots (found by name: a crash may have left one whose
    /// record is gone).
    pub(in crate::engine) async fn delete_volumes(&self, guest: &Guest) -> Result<(), EngineError> {
        let volumes = InstanceVolumes::of(&guest.volume_stem);
        self.remove_volumes(guest, [volumes.disk, volumes.seed, volumes.console_log])
            .await?;
        if guest.host_id.is_none() {
            return Ok(());
        }
        let (host, _) = self.host_for(guest).await?;
        let pool = self.config.storage_pool.clone();
        let stem = guest.volume_stem.clone();
        run_blocking(move || {
            for name in host.list_volumes(&pool)? {
                if InstanceVolumes::is_kept_disk_of(&stem, &name) {
                    host.delete_volume(&pool, &name)?;
                }
            }
            Ok(())
        })
        .await
    }

    /// Removes the instance's volumes `names`, in order, from its host; an
    /// instance never placed has none.
    async fn remove_volumes<const N: usize>(
        &self,
        guest: &Guest,
        names: [String; N],
    ) -> Result<(), EngineError> {
        if guest.host_id.is_none() {
            return Ok(());
        }
        let (host, _) = self.host_for(guest).await?;
        let pool = self.config.storage_pool.clone();
        run_blocking(move || {
            // Refresh first: the console log appears only on disk.
            let _ = host.list_volumes(&pool);
            for name in &names {
                host.delete_volume(&pool, name)?;
            }
            Ok(())
        })
        .await
    }
}
