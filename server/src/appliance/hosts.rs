//! The host pool: each host's live status, adding and removing hosts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use app::error::AppError;
use app::model::{
    AddHost, AdoptRequest, Adopted, HostCredentialsView, HostMode, HostStatus, Leftovers,
    MoveRequest, ServerCertificateBundle, ServerCertificateRequest,
};
use app::policy::{Authorized, rights};
use app::service::HostService;
use app::validate;
use async_trait::async_trait;
use rusqlite::Connection;

use super::Appliance;
use super::errors::{engine_err, store_err};
use super::setup::{Patience, probe_new_host};
use crate::clock::rfc3339;
use crate::store::audit::Audit;
use crate::store::{StoreError, hosts, instances};

/// What the store says each host holds, read once for a list of hosts.
#[derive(Default)]
pub(super) struct HostLoads {
    /// Instances placed on each host, by host id.
    instances: Vec<(i64, i64)>,
    /// (vCPUs, MiB) committed on each host, as placement counts them.
    committed: HashMap<i64, (u64, u64)>,
}

impl HostLoads {
    pub(super) fn read(c: &Connection) -> Result<HostLoads, StoreError> {
        Ok(HostLoads {
            instances: hosts::instance_counts(c)?,
            committed: instances::committed_by_host(c)?,
        })
    }
}

/// The last [`HostLoads`] read, with the store's generation it was read
/// at: it holds while nothing has been written. Summing every instance's
/// size was half of a dashboard's CPU at 10,000 instances
/// (`scripts/bench-portal`), and the dashboard is asked for far more
/// often than instances change.
#[derive(Default)]
pub(super) struct LoadsCache(Mutex<Option<(u64, Arc<HostLoads>)>>);

impl LoadsCache {
    /// The loads read at `generation`, if they are the last read.
    pub(super) fn at(&self, generation: u64) -> Option<Arc<HostLoads>> {
        let kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        kept.as_ref()
            .filter(|(at, _)| *at == generation)
            .map(|(_, loads)| loads.clone())
    }

    /// Keeps `loads`, read at `generation` (read before the loads were).
    pub(super) fn keep(&self, generation: u64, loads: Arc<HostLoads>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some((generation, loads));
    }
}

impl Appliance {
    /// The hosts' loads: the kept ones while nothing has been written,
    /// else read with `c` (on a reader thread, inside a read the caller
    /// makes anyway) and kept by the caller through [`LoadsCache::keep`].
    pub(super) fn kept_loads(&self) -> (u64, Option<Arc<HostLoads>>) {
        // Read before the loads, so a write committed meanwhile is never
        // hidden behind loads that missed it.
        let generation = self.store.generation();
        (generation, self.loads.at(generation))
    }
}

/// `kept`, or the loads read now with `c`.
pub(super) fn loads_or_read(
    kept: Option<Arc<HostLoads>>,
    c: &Connection,
) -> Result<Arc<HostLoads>, StoreError> {
    match kept {
        Some(loads) => Ok(loads),
        None => Ok(Arc::new(HostLoads::read(c)?)),
    }
}

impl Appliance {
    /// A pool host's status at the reconciler's last look (from memory:
    /// no page waits on libvirt); an unreachable one says why and since
    /// when.
    pub(super) fn host_status(&self, row: hosts::HostRow, loads: &HostLoads) -> HostStatus {
        let probe = self.engine.host_probe(&row);
        let instances = loads
            .instances
            .iter()
            .find(|(host, _)| *host == row.id)
            .map_or(0, |(_, n)| *n);
        let committed_mib = loads.committed.get(&row.id).map_or(0, |(_, mib)| *mib);
        HostStatus {
            free_memory_mib: probe.memory_mib.map(|m| m.saturating_sub(committed_mib)),
            probe,
            id: row.id,
            name: row.name,
            storage_dir: row.storage_dir,
            network: row.network,
            mode: row.mode,
            unreachable_since: row.unreachable_since.map(rfc3339),
            instances: Some(instances),
        }
    }
}

#[async_trait]
impl HostService for Appliance {
    async fn hosts(
        &self,
        _who: Authorized<'_, rights::ManageHosts>,
    ) -> Result<Vec<HostStatus>, AppError> {
        let (generation, kept) = self.kept_loads();
        let (rows, loads) = self
            .store
            .read(move |c| Ok((hosts::list(c)?, loads_or_read(kept, c)?)))
            .await
            .map_err(store_err)?;
        self.loads.keep(generation, loads.clone());
        Ok(rows
            .into_iter()
            .map(|r| self.host_status(r, &loads))
            .collect())
    }

    async fn add_host(
        &self,
        who: Authorized<'_, rights::ManageHosts>,
        request: AddHost,
    ) -> Result<HostStatus, AppError> {
        let uri = validate::libvirt_uri("uri", &request.uri, self.config.test_driver())?;
        let storage_dir = validate::absolute_dir("storage_dir", &request.storage_dir)?;
        let network = validate::libvirt_name("network", &request.network)?;
        let name = request
            .name
            .map(|n| validate::display_name("name", &n))
            .transpose()?;
        // Pinned before the first connection, which verifies it.
        let pinned = self.pin_new_host_key(&uri, request.ssh_host_key).await?;
        let report = probe_new_host(
            &self.host_credentials,
            "uri",
            &uri,
            &network,
            &storage_dir,
            Patience::None,
        )
        .await?;
        let name =
            name.unwrap_or_else(|| report.probe.hostname.clone().unwrap_or_else(|| uri.clone()));
        let mut record = Audit::by(&who)
            .action("host.add")
            .object(format!("host {uri}"));
        if let Some(pinned) = pinned {
            record = record.detail(format!(
                "host key {} {} pinned",
                pinned.algorithm, pinned.fingerprint
            ));
        }
        let record = record.ok();
        let id = self
            .store
            .write(move |tx| hosts::insert(tx, &name, &uri, &storage_dir, &network))
            .await
            .map_err(store_err)?;
        self.audit(record).await;
        self.engine.sync_hosts().await.map_err(engine_err)?;
        let row = self
            .store
            .read(hosts::list)
            .await
            .map_err(store_err)?
            .into_iter()
            .find(|h| h.id == id)
            .ok_or(AppError::Internal)?;
        Ok(self.host_status(row, &HostLoads::default()))
    }

    async fn remove_host(
        &self,
        who: Authorized<'_, rights::ManageHosts>,
        id: i64,
    ) -> Result<(), AppError> {
        let in_use = self
            .store
            .read(move |c| hosts::instances_on(c, id))
            .await
            .map_err(store_err)?;
        if in_use == 0 {
            // Its warm-pool members go first, while the host is still dpe's.
            self.engine.release_host(id).await.map_err(engine_err)?;
        }
        let removal = self
            .store
            .write(move |tx| hosts::remove_if_unused(tx, id))
            .await
            .map_err(store_err)?;
        match removal {
            hosts::Removal::InUse(used) => Err(AppError::Conflict(format!(
                "the host still holds {used} instance(s)"
            ))),
            hosts::Removal::NoSuchHost => Err(AppError::NotFound("host".into())),
            hosts::Removal::Removed => {
                self.engine.forget_host(id);
                let record = Audit::by(&who)
                    .action("host.remove")
                    .object(format!("host #{id}"))
                    .ok();
                self.audit(record).await;
                Ok(())
            }
        }
    }

    async fn host_credentials(
        &self,
        who: Authorized<'_, rights::ManageHosts>,
    ) -> Result<HostCredentialsView, AppError> {
        self.show_host_credentials(who).await
    }

    async fn issue_server_certificate(
        &self,
        who: Authorized<'_, rights::ManageHosts>,
        request: ServerCertificateRequest,
    ) -> Result<ServerCertificateBundle, AppError> {
        self.issue_host_certificate(who, request).await
    }

    async fn move_instance(
        &self,
        who: Authorized<'_, rights::ManageHosts>,
        instance: i64,
        request: MoveRequest,
    ) -> Result<i64, AppError> {
        self.start_move(who, instance, request).await
    }

    async fn set_host_mode(
        &self,
        who: Authorized<'_, rights::ManageHosts>,
        id: i64,
        mode: HostMode,
    ) -> Result<HostStatus, AppError> {
        self.change_host_mode(who, id, mode).await
    }

    async fn leftovers(
        &self,
        _who: Authorized<'_, rights::ManageHosts>,
    ) -> Result<Leftovers, AppError> {
        self.leftovers_now().await
    }

    async fn adopt_leftover(
        &self,
        who: Authorized<'_, rights::ManageHosts>,
        request: AdoptRequest,
    ) -> Result<Adopted, AppError> {
        self.adopt(who, request).await
    }

    async fn release_leftovers(
        &self,
        who: Authorized<'_, rights::ManageHosts>,
    ) -> Result<Leftovers, AppError> {
        self.let_leftovers_go(who).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_loads_hold_only_at_the_generation_they_were_read_at() {
        let cache = LoadsCache::default();
        assert!(cache.at(7).is_none(), "nothing was read yet");
        let loads = Arc::new(HostLoads {
            instances: vec![(1, 3)],
            committed: HashMap::from([(1, (4, 4096))]),
        });
        cache.keep(7, loads.clone());
        let kept = cache.at(7).expect("kept at the generation it was read at");
        assert!(Arc::ptr_eq(&kept, &loads));
        assert!(cache.at(8).is_none(), "a write since must read them again");
    }
}
