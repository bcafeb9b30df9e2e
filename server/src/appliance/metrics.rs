//! `MetricsService`: the store's figures for one scrape of `/metrics`.

use app::error::AppError;
use app::model::MetricsSnapshot;
use app::policy::{Authorized, rights};
use app::service::MetricsService;
use async_trait::async_trait;

use super::Appliance;
use super::errors::store_err;
use crate::store::metrics;

#[async_trait]
impl MetricsService for Appliance {
    async fn metrics_snapshot(
        &self,
        _who: Authorized<'_, rights::ReadMetrics>,
    ) -> Result<MetricsSnapshot, AppError> {
        // The engine's clock, which the usage loop stamps readings with.
        let now = self.engine.now();
        self.store
            .read(move |c| metrics::snapshot(c, now))
            .await
            .map_err(store_err)
    }
}
