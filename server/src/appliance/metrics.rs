//! `MetricsService`: the store's figures for one scrape of `/metrics`.

use app::error::AppError;
use std::collections::HashSet;

use app::model::{AppTraffic, InstanceLabels, MetricsSnapshot};
use app::policy::{Authorized, rights};
use app::service::MetricsService;
use async_trait::async_trait;

use super::Appliance;
use super::errors::store_err;
use crate::engine::traffic::{LATENCY_BOUNDS, StatusClass, Totals};
use crate::store::metrics;

#[async_trait]
impl MetricsService for Appliance {
    async fn metrics_snapshot(
        &self,
        _who: Authorized<'_, rights::ReadMetrics>,
    ) -> Result<MetricsSnapshot, AppError> {
        // The engine's clock, which the usage loop stamps readings with.
        let now = self.engine.now();
        let traffic = self.engine.traffic.totals();
        let ids: HashSet<i64> = traffic.iter().map(|(id, _)| *id).collect();
        let (mut snapshot, labels) = self
            .store
            .read(move |c| Ok((metrics::snapshot(c, now)?, metrics::labels_of(c, &ids)?)))
            .await
            .map_err(store_err)?;
        let passes = self.engine.pass_times.figures();
        snapshot.reconcile_passes = passes.passes;
        snapshot.reconcile_seconds = passes.seconds;
        snapshot.reconcile_last_seconds = passes.last_seconds;
        snapshot.app_traffic = traffic
            .into_iter()
            .filter_map(|(id, totals)| Some(app_traffic(labels.get(&id)?.clone(), &totals)))
            .collect();
        Ok(snapshot)
    }
}

fn app_traffic(labels: InstanceLabels, totals: &Totals) -> AppTraffic {
    let bounds = LATENCY_BOUNDS.iter().copied().chain([f64::INFINITY]);
    AppTraffic {
        labels,
        requests: StatusClass::ALL
            .map(|class| (class.label(), totals.of_class(class)))
            .to_vec(),
        latency_buckets: bounds.zip(totals.latency.iter().copied()).collect(),
        latency_seconds_sum: totals.latency_seconds,
        bytes_in: totals.bytes_in,
        bytes_out: totals.bytes_out,
    }
}
