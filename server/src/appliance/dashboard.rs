//! The dashboard: the appliance's name, its hosts as the caller may see
//! them, what the reconciler cleaned, and the quotas that bind the caller.

use app::error::AppError;
use app::model::{Dashboard, HostProbe, HostStatus, Me, Principal, Role};
use app::service::DashboardService;
use async_trait::async_trait;

use super::Appliance;
use super::errors::store_err;
use crate::store::{hosts, settings};

/// A host as members see it: its name, and whether it is available.
fn availability_only(host: HostStatus) -> HostStatus {
    HostStatus {
        id: host.id,
        name: host.name,
        storage_dir: String::new(),
        network: String::new(),
        probe: HostProbe::without_facts(
            String::new(),
            host.probe.connected,
            host.probe.starting,
            None,
        ),
    }
}

#[async_trait]
impl DashboardService for Appliance {
    async fn dashboard(&self, who: &Principal) -> Result<Dashboard, AppError> {
        let (name, host_rows) = self
            .store
            .read(|c| Ok((settings::get(c, settings::APPLIANCE_NAME)?, hosts::list(c)?)))
            .await
            .map_err(store_err)?;
        let hosts: Vec<HostStatus> = host_rows.into_iter().map(|h| self.host_status(h)).collect();
        // Only the appliance admin sees how hosts are reached: URIs,
        // storage paths and libvirt's words are the infrastructure's.
        let hosts = match who.role {
            Role::Admin => hosts,
            Role::DepartmentAdmin | Role::User => {
                hosts.into_iter().map(availability_only).collect()
            }
        };
        Ok(Dashboard {
            appliance_name: name.unwrap_or_else(|| "dpe".to_owned()),
            me: Me::from(who),
            hosts,
            cleaned_orphans: match who.role {
                Role::Admin => self.engine.cleaned_orphans(),
                Role::DepartmentAdmin | Role::User => Vec::new(),
            },
            quotas: self.quota_uses(who).await?,
        })
    }
}
