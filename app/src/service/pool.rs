//! The warm pool: how many guests to keep booted ahead of time, and what
//! it holds now.

use async_trait::async_trait;

use crate::error::AppError;
use crate::model::{PoolTargets, PoolView};
use crate::policy::{Authorized, rights};

#[async_trait]
pub trait PoolService: Send + Sync + 'static {
    /// The targets and the members (appliance admins).
    async fn pool(&self, who: Authorized<'_, rights::ManagePool>) -> Result<PoolView, AppError>;
    /// Sets every size's target at once; sizes left out keep none.
    async fn set_pool_targets(
        &self,
        who: Authorized<'_, rights::ManagePool>,
        targets: PoolTargets,
    ) -> Result<PoolView, AppError>;
}
