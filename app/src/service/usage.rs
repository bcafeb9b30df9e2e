//! What an instance uses over time (CPU, memory, disk and network, and
//! its application's traffic), and a department's use of its quota.

use async_trait::async_trait;

use crate::error::AppError;
use crate::model::{DepartmentUsageSeries, UsageRange, UsageSeries};
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

    /// The department's use of its quota over `range`, oldest first;
    /// `NotFound` when `who` may not manage the department.
    async fn department_usage(
        &self,
        who: Authorized<'_, rights::ManageMembers>,
        department: i64,
        range: UsageRange,
    ) -> Result<DepartmentUsageSeries, AppError>;
}
