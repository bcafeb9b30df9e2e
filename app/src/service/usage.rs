//! What an instance uses over time: CPU, memory, disk and network.

use async_trait::async_trait;

use crate::error::AppError;
use crate::model::{UsageRange, UsageSeries};
use crate::policy::{Authorized, rights};

#[async_trait]
pub trait UsageService: Send + Sync + 'static {
    /// The instance's use over `range`, oldest first; `NotFound` when
    /// `who` may not use the instance.
    async fn instance_usage(
        &self,
        who: Authorized<'_, rights::UseInstances>,
        instance: i64,
        range: UsageRange,
    ) -> Result<UsageSeries, AppError>;
}
