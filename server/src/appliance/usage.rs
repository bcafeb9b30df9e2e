//! `UsageService`: an instance's use over time, for whoever may use it.

use app::error::AppError;
use app::model::{UsageRange, UsageSeries};
use app::policy::{Authorized, rights};
use app::service::UsageService;
use async_trait::async_trait;

use super::Appliance;
use super::errors::store_err;
use crate::store::{traffic, usage};

#[async_trait]
impl UsageService for Appliance {
    async fn instance_usage(
        &self,
        who: Authorized<'_, rights::UseInstances>,
        instance: i64,
        range: UsageRange,
    ) -> Result<UsageSeries, AppError> {
        let row = self.visible_instance(&who, instance).await?;
        let until = self.engine.now();
        let (points, traffic) = self
            .store
            .read(move |c| {
                Ok((
                    usage::series(c, row.id, range, until)?,
                    traffic::series(c, row.id, range, until)?,
                ))
            })
            .await
            .map_err(store_err)?;
        Ok(UsageSeries {
            range,
            tier_seconds: range.tier_seconds(),
            until,
            points,
            traffic,
        })
    }
}
