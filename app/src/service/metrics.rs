//! dpe's figures for a Prometheus server (`/metrics`).

use async_trait::async_trait;

use crate::error::AppError;
use crate::model::MetricsSnapshot;
use crate::policy::{Authorized, rights};

#[async_trait]
pub trait MetricsService: Send + Sync + 'static {
    /// What the store and the engine hold now: counts by state, task
    /// totals, the store's size, each instance's and host's latest use.
    async fn metrics_snapshot(
        &self,
        who: Authorized<'_, rights::ReadMetrics>,
    ) -> Result<MetricsSnapshot, AppError>;
}
