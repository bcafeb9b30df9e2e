//! Where applications open: the apps settings, each instance's share, and
//! the application URL shown with it.

use app::error::AppError;
use app::model::{AppsAddressing, AppsSettings, InstancePatch, InstanceView, Principal};
use app::policy::{Authorized, rights};
use app::service::InstanceService;
use app::validate;

use super::Appliance;
use super::errors::store_err;
use crate::addressing::origin::WebOrigin;
use crate::store::audit::Audit;
use crate::store::{StoreError, instances, settings};

impl Appliance {
    /// The apps settings as they are now (None before setup).
    pub fn apps(&self) -> Option<AppsSettings> {
        self.apps.borrow().clone()
    }

    /// Follows changes of the apps settings (the port listeners do).
    pub fn watch_apps(&self) -> tokio::sync::watch::Receiver<Option<AppsSettings>> {
        self.apps.subscribe()
    }

    /// Takes `apps` as the settings in force: with ports, every instance
    /// without one gets one first (instances from before the gateway, or
    /// deployed while the apps had a domain).
    pub(super) async fn apps_changed(&self, apps: Option<AppsSettings>) -> Result<(), StoreError> {
        if let Some(AppsSettings {
            addressing: AppsAddressing::Ports { first, last },
            ..
        }) = apps
        {
            let assigned = self
                .store
                .write(move |tx| instances::assign_app_ports(tx, first, last))
                .await?;
            if assigned > 0 {
                tracing::info!(instances = assigned, "gave application ports");
            }
        }
        self.apps.send_replace(apps);
        Ok(())
    }

    pub(super) async fn patch_instance(
        &self,
        who: Authorized<'_, rights::UseInstances>,
        id: i64,
        patch: InstancePatch,
    ) -> Result<InstanceView, AppError> {
        let row = self.visible_instance(&who, id).await?;
        let InstancePatch { share } = patch;
        if let Some(share) = share.filter(|s| *s != row.share) {
            self.store
                .write(move |tx| instances::set_share(tx, id, share))
                .await
                .map_err(store_err)?;
            let record = Audit::by(&who)
                .action("instance.share")
                .object(format!("instance {}", row.name))
                .department(row.department_id)
                .detail(format!("from {} to {share}", row.share))
                .ok();
            self.audit(record).await;
        }
        self.instance(who, id).await
    }

    pub(super) async fn change_apps_settings(
        &self,
        who: &Principal,
        wanted: AppsSettings,
    ) -> Result<AppsSettings, AppError> {
        let addressing = validate::apps_addressing("addressing", &wanted.addressing)?;
        let portal = WebOrigin::parse(wanted.portal_origin.trim()).ok_or_else(|| {
            AppError::invalid(
                "portal_origin",
                "an origin such as https://dpe.example.org, without a path",
            )
        })?;
        let apps = AppsSettings {
            portal_origin: portal.to_string(),
            addressing,
        };
        let stored = apps.clone();
        self.store
            .write(move |tx| settings::set_apps(tx, &stored))
            .await
            .map_err(store_err)?;
        self.apps_changed(Some(apps.clone()))
            .await
            .map_err(store_err)?;
        let detail = match &apps.addressing {
            AppsAddressing::Ports { first, last } => format!("ports {first} to {last}"),
            AppsAddressing::Domain { domain } => format!("domain {domain}"),
        };
        let record = Audit::by(who)
            .action("settings.apps")
            .detail(format!("{detail}, portal {}", apps.portal_origin))
            .ok();
        self.audit(record).await;
        Ok(apps)
    }
}
