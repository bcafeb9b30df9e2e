//! Approvals: deploys that wait for a department admin's yes, the policy
//! that says which, and how a request and its decision are shown.

use serde::{Deserialize, Serialize};

use super::states::text_enum;

/// Days a request waits for a decision when its policy names none; then
/// it lapses and its reservation is released.
pub const DEFAULT_APPROVAL_TIMEOUT_DAYS: u32 = 7;

/// The most vCPUs or MiB a policy's size limit may name.
pub const MAX_APPROVAL_VCPUS: u32 = 1_024;
pub const MAX_APPROVAL_MEMORY_MIB: u64 = 16 * 1024 * 1024;

text_enum! {
    /// Which deploys of a department wait for approval.
    pub enum ApprovalRule {
        /// None: members with the right to deploy deploy, others cannot.
        Never = "never",
        /// Every deploy, by anyone but an appliance admin.
        EveryDeploy = "every_deploy",
        /// Deploys of a size above the policy's `max_vcpus` or
        /// `max_memory_mib`, and every deploy by members without the right
        /// to deploy.
        AboveSize = "above_size",
        /// Only deploys by members without the right to deploy, who may
        /// request one.
        WithoutDeployRight = "without_deploy_right",
    }
}

/// A department's approval policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ApprovalPolicy {
    pub require: ApprovalRule,
    /// With `above_size`: a size with more vCPUs than this needs approval.
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(maximum = 1024))]
    pub max_vcpus: u32,
    /// With `above_size`: a size with more memory (MiB) than this needs
    /// approval.
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(maximum = 16777216))]
    pub max_memory_mib: u64,
    /// Days a request waits for a decision before it lapses (and its
    /// reserved quota is released).
    #[serde(default = "default_timeout_days")]
    #[cfg_attr(feature = "ssr", schema(minimum = 1, maximum = 3650))]
    pub timeout_days: u32,
}

fn default_timeout_days() -> u32 {
    DEFAULT_APPROVAL_TIMEOUT_DAYS
}

impl ApprovalPolicy {
    /// What departments without a policy up their tree follow: no
    /// approvals.
    pub const NONE: ApprovalPolicy = ApprovalPolicy {
        require: ApprovalRule::Never,
        max_vcpus: 0,
        max_memory_mib: 0,
        timeout_days: DEFAULT_APPROVAL_TIMEOUT_DAYS,
    };
}

/// A department's approval policy: its own, if it sets one, and the one
/// that applies (its own, an ancestor's, or none).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ApprovalPolicyView {
    /// Its own policy; null: it inherits.
    pub own: Option<ApprovalPolicy>,
    /// The policy its members' deploys follow.
    pub effective: ApprovalPolicy,
    /// Where `effective` comes from: a department's name, or "no
    /// department's" (no approvals).
    pub from: String,
}

/// `PUT /api/v1/departments/{id}/approval-policy`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SetApprovalPolicy {
    /// The department's own policy; null: inherit its parent's.
    pub policy: Option<ApprovalPolicy>,
}

text_enum! {
    /// Where a deploy request stands.
    pub enum ApprovalState {
        /// Waiting for an approver; its quota is reserved.
        Pending = "pending",
        /// Approved: its deploy task started.
        Approved = "approved",
        /// Rejected: the reservation was released.
        Rejected = "rejected",
        /// Nobody decided in time: the reservation was released.
        Expired = "expired",
    }
}

/// `POST /api/v1/approvals/{id}/approve` and `/reject`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// Why, for the requester (at most 1,000 characters).
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(max_length = 1000))]
    pub comment: String,
}

/// The longest comment a decision may carry.
pub const MAX_COMMENT_CHARS: usize = 1_000;

/// A deploy request, as approvers and its requester see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ApprovalView {
    pub id: i64,
    /// The instance it deploys (kept, reserving its quota, while pending).
    pub instance_id: Option<i64>,
    pub instance_name: String,
    pub requester: String,
    pub department: Option<String>,
    pub size: String,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub state: ApprovalState,
    /// RFC 3339.
    pub requested_at: String,
    /// RFC 3339: when a pending request lapses.
    pub expires_at: String,
    pub decided_by: Option<String>,
    /// RFC 3339.
    pub decided_at: Option<String>,
    pub comment: String,
    /// Whether the caller may approve or reject it now.
    pub may_decide: bool,
}

/// The approval an instance was deployed through, on its page and in the
/// list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct InstanceApproval {
    pub id: i64,
    pub state: ApprovalState,
    pub decided_by: Option<String>,
    pub comment: String,
}

/// `202` of a deploy: started, or waiting for approval.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DeployAccepted {
    /// The instance.
    pub id: i64,
    /// Its deploy task; null while it waits for approval.
    pub task_id: Option<i64>,
    /// The approval request, when the department's policy asks for one.
    pub approval_id: Option<i64>,
}
