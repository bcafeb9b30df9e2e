//! The dashboard: one page's worth of everything, probes of every host
//! included, so nothing else should be built from it.

use async_trait::async_trait;

use crate::error::AppError;
use crate::model::Dashboard;
use crate::policy::{Authorized, rights};

#[async_trait]
pub trait DashboardService: Send + Sync + 'static {
    /// The appliance's name, the hosts as `who` may see them, what the
    /// reconciler cleaned (admins) and the quotas that bind `who`.
    async fn dashboard(
        &self,
        who: Authorized<'_, rights::ViewDashboard>,
    ) -> Result<Dashboard, AppError>;
}
