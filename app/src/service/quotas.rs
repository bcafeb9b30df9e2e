//! Quotas as their holders see them, and the default quota of accounts in
//! no department.

use async_trait::async_trait;

use crate::error::AppError;
use crate::model::Principal;
use crate::org::{Quota, QuotaUse};

#[async_trait]
pub trait QuotaService: Send + Sync + 'static {
    /// The quotas that bind `who`: their own, then each department up the
    /// tree, with what is in use. Reads the store only.
    async fn quotas(&self, who: &Principal) -> Result<Vec<QuotaUse>, AppError>;
    /// The quota of each account in no department (appliance admins aside).
    async fn default_quota(&self) -> Result<Quota, AppError>;
    async fn set_default_quota(&self, who: &Principal, quota: Quota) -> Result<Quota, AppError>;
}
