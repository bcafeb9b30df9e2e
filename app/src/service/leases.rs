//! Leases: extending an instance's, and the policies that bound them.

use async_trait::async_trait;

use crate::error::AppError;
use crate::model::{ExtendRequest, InstanceView, LeasePolicy, LeasePolicyView, SetLeasePolicy};
use crate::policy::{Authorized, rights};

#[async_trait]
pub trait LeaseService: Send + Sync + 'static {
    /// Sets when the instance's lease ends, as far as
    /// [`crate::policy::lease_extension`] lets `who`; an expired instance
    /// in its grace period is revived (it stays off until started).
    /// Audited.
    async fn extend(
        &self,
        who: Authorized<'_, rights::ExtendLease>,
        id: i64,
        request: ExtendRequest,
    ) -> Result<InstanceView, AppError>;
    /// A department's lease policy, its own and the one that applies;
    /// `NotFound` for a department `who` does not administer.
    async fn lease_policy(
        &self,
        who: Authorized<'_, rights::ManageMembers>,
        department: i64,
    ) -> Result<LeasePolicyView, AppError>;
    /// Sets or clears (inherit) a department's own policy. Instances keep
    /// the expiry they have; new deploys follow the new policy. Audited.
    async fn set_lease_policy(
        &self,
        who: Authorized<'_, rights::ManageDepartments>,
        department: i64,
        request: SetLeasePolicy,
    ) -> Result<LeasePolicyView, AppError>;
    /// The policy of departments that set none up their tree, and of
    /// accounts in no department.
    async fn default_lease_policy(
        &self,
        who: Authorized<'_, rights::ManageMembers>,
    ) -> Result<LeasePolicy, AppError>;
    async fn set_default_lease_policy(
        &self,
        who: Authorized<'_, rights::ManageDepartments>,
        policy: LeasePolicy,
    ) -> Result<LeasePolicy, AppError>;
}
