//! What an instance uses over time (CPU, memory, disk and network, and
//! its application's traffic), a department's use of its quota, and what
//! each host's machine uses.

use async_trait::async_trait;

use crate::error::AppError;
use crate::model::{DepartmentUsageSeries, HostUsageSeries, UsageRange, UsageSeries};
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

    /// Each host's own figures over `range` (its CPUs, memory, dpe's
    /// storage pool and its guests' network), oldest first, hosts by name.
    async fn hosts_usage(
        &self,
        who: Authorized<'_, rights::ManageHosts>,
        range: UsageRange,
    ) -> Result<Vec<HostUsageSeries>, AppError>;
}
