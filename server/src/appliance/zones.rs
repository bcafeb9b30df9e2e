//! The network zones: the hosts' NAT networks (inside) and the LAN bridge
//! with its address pool (outside).

use app::error::AppError;
use app::model::{OutsideZoneSettings, OutsideZoneView, ZonesView};
use app::policy::{Authorized, rights};
use app::service::ZoneService;
use app::validate;
use async_trait::async_trait;

use super::Appliance;
use super::errors::store_err;
use crate::store::audit::Audit;
use crate::store::{hosts, zones};

impl Appliance {
    /// The zones as they are: what reading them, and each change, answers.
    async fn zones_view(&self) -> Result<ZonesView, AppError> {
        self.store
            .read(|c| {
                let mut inside_networks: Vec<String> =
                    hosts::list(c)?.into_iter().map(|h| h.network).collect();
                inside_networks.sort();
                inside_networks.dedup();
                let outside = match zones::outside(c)? {
                    Some(zone) => {
                        let in_use = zones::pool_usage(c, &zone)?;
                        Some(OutsideZoneView {
                            settings: zone.settings(),
                            in_use,
                            free: zone.size() - in_use,
                        })
                    }
                    None => None,
                };
                Ok(ZonesView {
                    inside_networks,
                    outside,
                })
            })
            .await
            .map_err(store_err)
    }
}

#[async_trait]
impl ZoneService for Appliance {
    async fn zones(
        &self,
        _who: Authorized<'_, rights::ViewDashboard>,
    ) -> Result<ZonesView, AppError> {
        self.zones_view().await
    }

    async fn set_outside_zone(
        &self,
        who: Authorized<'_, rights::ManageNetworks>,
        settings: OutsideZoneSettings,
    ) -> Result<ZonesView, AppError> {
        let zone = validate::outside_zone(&settings)?;
        let detail = format!("bridge {}, {} to {}", zone.bridge, zone.first, zone.last);
        tracing::info!(bridge = zone.bridge, first = %zone.first, last = %zone.last, "outside zone set");
        self.store
            .write(move |tx| zones::set_outside(tx, &zone))
            .await
            .map_err(store_err)?;
        let record = Audit::by(&who)
            .action("zone.set")
            .object("outside zone")
            .detail(detail)
            .ok();
        self.audit(record).await;
        self.zones_view().await
    }

    async fn clear_outside_zone(
        &self,
        who: Authorized<'_, rights::ManageNetworks>,
    ) -> Result<(), AppError> {
        let cleared = self
            .store
            .write(|tx| zones::clear_outside(tx))
            .await
            .map_err(store_err)?;
        if cleared {
            let record = Audit::by(&who)
                .action("zone.clear")
                .object("outside zone")
                .ok();
            self.audit(record).await;
            Ok(())
        } else {
            Err(AppError::Conflict(
                "instances still use the outside zone; delete them first".into(),
            ))
        }
    }
}
