//! The network zones: the hosts' NAT networks and the outside zone.

use async_trait::async_trait;

use crate::error::AppError;
use crate::model::{OutsideZoneSettings, ZonesView};
use crate::policy::{Authorized, rights};

#[async_trait]
pub trait ZoneService: Send + Sync + 'static {
    /// The network zones, for the deploy form and the networks page.
    async fn zones(
        &self,
        who: Authorized<'_, rights::ViewDashboard>,
    ) -> Result<ZonesView, AppError>;
    /// Configures the outside zone (appliance admins).
    async fn set_outside_zone(
        &self,
        who: Authorized<'_, rights::ManageNetworks>,
        settings: OutsideZoneSettings,
    ) -> Result<ZonesView, AppError>;
    /// Removes the outside zone; `Conflict` while instances use it.
    async fn clear_outside_zone(
        &self,
        who: Authorized<'_, rights::ManageNetworks>,
    ) -> Result<(), AppError>;
}
