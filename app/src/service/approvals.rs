//! Approvals: deploy requests, their decisions, and the policies that ask
//! for them.

use async_trait::async_trait;

use crate::error::AppError;
use crate::model::{ApprovalPolicyView, ApprovalView, Decision, SetApprovalPolicy};
use crate::policy::{Authorized, rights};

#[async_trait]
pub trait ApprovalService: Send + Sync + 'static {
    /// The requests `who` may decide and their own, pending ones first
    /// (at most 200).
    async fn approvals(
        &self,
        who: Authorized<'_, rights::ViewApprovals>,
    ) -> Result<Vec<ApprovalView>, AppError>;
    /// How many pending requests `who` may decide, for the navigation.
    async fn pending_approvals(
        &self,
        who: Authorized<'_, rights::ViewApprovals>,
    ) -> Result<u32, AppError>;
    /// Approves a pending request: its deploy task starts. Refused for
    /// the requester (`OwnRequest`) and for whom
    /// [`crate::policy::may_decide`] says no (`NotFound`); `Conflict` once
    /// decided. Audited.
    async fn approve(
        &self,
        who: Authorized<'_, rights::DecideApprovals>,
        id: i64,
        decision: Decision,
    ) -> Result<ApprovalView, AppError>;
    /// Rejects a pending request: its instance fails, releasing the
    /// quota it held. Refused as [`ApprovalService::approve`]. Audited.
    async fn reject(
        &self,
        who: Authorized<'_, rights::DecideApprovals>,
        id: i64,
        decision: Decision,
    ) -> Result<ApprovalView, AppError>;
    /// A department's approval policy, its own and the one that applies;
    /// `NotFound` for a department `who` does not administer.
    async fn approval_policy(
        &self,
        who: Authorized<'_, rights::ManageMembers>,
        department: i64,
    ) -> Result<ApprovalPolicyView, AppError>;
    /// Sets or clears (inherit) a department's own policy; requests
    /// already pending keep theirs. Audited.
    async fn set_approval_policy(
        &self,
        who: Authorized<'_, rights::ManageDepartments>,
        department: i64,
        request: SetApprovalPolicy,
    ) -> Result<ApprovalPolicyView, AppError>;
}
