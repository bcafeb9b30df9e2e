//! The network zones: the hosts' NAT networks and the outside zone.

use async_trait::async_trait;

use crate::error::AppError;
use crate::model::{OutsideZoneSettings, Principal, ZonesView};

#[async_trait]
pub trait ZoneService: Send + Sync + 'static {
    /// The network zones, for the deploy form and the networks page.
    async fn zones(&self) -> Result<ZonesView, AppError>;
    /// Configures the outside zone (admins only, checked by callers).
    async fn set_outside_zone(
        &self,
        who: &Principal,
        settings: OutsideZoneSettings,
    ) -> Result<ZonesView, AppError>;
    /// Removes the outside zone; `Conflict` while instances use it.
    async fn clear_outside_zone(&self, who: &Principal) -> Result<(), AppError>;
}
