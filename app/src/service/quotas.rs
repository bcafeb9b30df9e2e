//! Quotas as their holders see them, and the default quota of accounts in
//! no department.

use async_trait::async_trait;

use crate::error::AppError;
use crate::org::{Quota, QuotaUse};
use crate::policy::{Authorized, rights};

#[async_trait]
pub trait QuotaService: Send + Sync + 'static {
    /// The quotas that bind `who`: their own, then each department up the
    /// tree, with what is in use. Reads the store only.
    async fn quotas(
        &self,
        who: Authorized<'_, rights::ViewSelf>,
    ) -> Result<Vec<QuotaUse>, AppError>;
    /// The quota of each account in no department (appliance admins aside).
    async fn default_quota(
        &self,
        who: Authorized<'_, rights::ManageDepartments>,
    ) -> Result<Quota, AppError>;
    async fn set_default_quota(
        &self,
        who: Authorized<'_, rights::ManageDepartments>,
        quota: Quota,
    ) -> Result<Quota, AppError>;
}
