//! The backup store the admin chooses (`app::model::BackupStoreSpec`):
//! a libvirt storage pool on every host, beside its storage directory by
//! default, in a directory of the admin's, or on an NFS export each host
//! mounts. Each backup records its pool (`None`: the default one), so a
//! new store takes the new backups while the earlier ones stay, and
//! restore, where they are. A store other than the default has a pool
//! named after it (`STORAGE_POOL-backups-` and 8 hex digits of its
//! SHA-256), so choosing it again finds its backups again.

use std::sync::Arc;

use app::model::{BackupStoreSpec, BackupStoreView};
use sha2::{Digest, Sha256};

use super::EngineError;
use super::hypervisor::Hypervisor;
use super::runtime::Engine;
use super::steps::backup_dir;
use crate::blocking::run_blocking;
use crate::store::backups::{self, BackupRow};
use crate::store::hosts::{self, HostRow};
use crate::store::{StoreError, settings};

impl Engine {
    /// The pool that keeps `row`'s file.
    pub(in crate::engine) fn pool_of(&self, row: &BackupRow) -> String {
        row.pool
            .clone()
            .unwrap_or_else(|| self.config.backup_pool.clone())
    }

    /// The pool a store keeps its backups in; `None` for the default one.
    pub fn pool_for(&self, spec: &BackupStoreSpec) -> Option<String> {
        match spec {
            BackupStoreSpec::Local => None,
            BackupStoreSpec::Directory { .. } | BackupStoreSpec::Nfs { .. } => {
                let json = serde_json::to_vec(spec).unwrap_or_default();
                let digest = hex::encode(Sha256::digest(json));
                Some(format!("{}-{}", self.config.backup_pool, &digest[..8]))
            }
        }
    }

    /// The store new backups go to.
    pub(in crate::engine) async fn store_spec(&self) -> Result<BackupStoreSpec, EngineError> {
        self.store
            .read(|c| {
                settings::get(c, settings::BACKUP_STORE)?
                    .map(|json| {
                        serde_json::from_str(&json).map_err(|e| {
                            StoreError::Corrupt(format!("the backup store's setting: {e}"))
                        })
                    })
                    .transpose()
                    .map(Option::unwrap_or_default)
            })
            .await
            .map_err(EngineError::from)
    }

    /// Makes sure the pool `pool` (`None`: the default) is there and
    /// started on the host, where its store says; its directory there. A
    /// pool of a store chosen before is left as libvirt keeps it.
    pub(in crate::engine) async fn ensure_backup_pool(
        &self,
        host: Arc<dyn Hypervisor>,
        row: &HostRow,
        pool: Option<&str>,
    ) -> Result<String, EngineError> {
        let spec = match pool {
            None => BackupStoreSpec::Local,
            Some(name) => {
                let spec = self.store_spec().await?;
                if self.pool_for(&spec).as_deref() != Some(name) {
                    return Ok(String::new());
                }
                spec
            }
        };
        self.ensure_store_on(host, row, &spec).await
    }

    /// Makes sure the store's pool is there and started on the host: its
    /// directory there.
    async fn ensure_store_on(
        &self,
        host: Arc<dyn Hypervisor>,
        row: &HostRow,
        spec: &BackupStoreSpec,
    ) -> Result<String, EngineError> {
        let name = self
            .pool_for(spec)
            .unwrap_or_else(|| self.config.backup_pool.clone());
        let (dir, spec) = match spec {
            BackupStoreSpec::Local => (backup_dir(row, &name), spec.clone()),
            BackupStoreSpec::Directory { path } => (path.clone(), spec.clone()),
            // Mounted beside the storage directory, as the default store.
            BackupStoreSpec::Nfs { .. } => (backup_dir(row, &name), spec.clone()),
        };
        let d = dir.clone();
        run_blocking(move || match &spec {
            BackupStoreSpec::Local | BackupStoreSpec::Directory { .. } => {
                host.ensure_pool(&name, &d)
            }
            BackupStoreSpec::Nfs { server, export } => {
                host.ensure_nfs_pool(&name, server, export, &d)
            }
        })
        .await?;
        Ok(dir)
    }

    /// Chooses the store new backups go to, once every host has its pool
    /// started: a host that cannot (an NFS export it cannot mount, a
    /// directory it cannot make) refuses the change, which then changes
    /// nothing. The host that refused, and why.
    pub async fn set_backup_store(
        &self,
        spec: BackupStoreSpec,
    ) -> Result<Result<(), (String, EngineError)>, EngineError> {
        for row in self.store.read(hosts::list).await? {
            let outcome = match self.connect(row.id).await {
                Ok(host) => self.ensure_store_on(host, &row, &spec).await.map(drop),
                Err(e) => Err(e),
            };
            if let Err(e) = outcome {
                return Ok(Err((row.name, e)));
            }
        }
        let json = serde_json::to_string(&spec)
            .map_err(|e| StoreError::Corrupt(format!("the backup store's setting: {e}")))?;
        self.store
            .write(move |tx| settings::set(tx, settings::BACKUP_STORE, &json))
            .await?;
        Ok(Ok(()))
    }

    /// The backup store on the first host: what was chosen, its
    /// directory and how full.
    pub async fn backup_store(&self) -> Result<BackupStoreView, EngineError> {
        let spec = self.store_spec().await?;
        let (hosts, used_bytes) = self
            .store
            .read(|c| Ok((hosts::list(c)?, backups::used_bytes(c)?)))
            .await?;
        let Some(first) = hosts.into_iter().next() else {
            return Ok(BackupStoreView {
                spec,
                dir: String::new(),
                used_bytes,
                free_bytes: None,
                capacity_bytes: None,
            });
        };
        let name = self
            .pool_for(&spec)
            .unwrap_or_else(|| self.config.backup_pool.clone());
        let (dir, space) = match self.connect(first.id).await {
            Ok(host) => match self.ensure_store_on(host.clone(), &first, &spec).await {
                Ok(dir) => (dir, run_blocking(move || host.pool_space(&name)).await.ok()),
                Err(_) => (String::new(), None),
            },
            Err(_) => (String::new(), None),
        };
        Ok(BackupStoreView {
            spec,
            dir,
            used_bytes,
            free_bytes: space.map(|(free, _)| free),
            capacity_bytes: space.map(|(_, total)| total),
        })
    }
}
