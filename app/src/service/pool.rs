//! The warm pool: how many guests to keep booted ahead of time, and what
//! it holds now.

use async_trait::async_trait;

use crate::error::AppError;
use crate::model::{PoolTargets, PoolView, Principal};

#[async_trait]
pub trait PoolService: Send + Sync + 'static {
    /// The targets and the members (appliance admins; checked by callers).
    async fn pool(&self) -> Result<PoolView, AppError>;
    /// Sets every size's target at once; sizes left out keep none.
    async fn set_pool_targets(
        &self,
        who: &Principal,
        targets: PoolTargets,
    ) -> Result<PoolView, AppError>;
}
