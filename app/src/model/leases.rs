//! Leases: how long an instance lives unless someone extends it, the
//! policy that says so (per department, inherited, or the appliance's
//! default), and the notices people are told of what happens.

use serde::{Deserialize, Serialize};

use super::states::text_enum;

/// Seconds in a day: leases count in whole days.
pub const DAY: i64 = 86_400;

/// The grace period when a policy names none: an expired instance is kept,
/// shut down, this many days before it is deleted.
pub const DEFAULT_GRACE_DAYS: u32 = 7;

/// The longest lease or grace any policy may set (ten years).
pub const MAX_POLICY_DAYS: u32 = 3_650;

/// A lease policy: a department's own, or the appliance's default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LeasePolicy {
    /// Days a new instance's lease runs; null: instances get no lease.
    #[cfg_attr(feature = "ssr", schema(minimum = 1, maximum = 3650))]
    pub lease_days: Option<u32>,
    /// Whether owners and department admins may extend a lease (appliance
    /// admins always may, to any date).
    pub extendable: bool,
    /// How far from now they may set the expiry, in days; at least
    /// `lease_days`.
    #[cfg_attr(feature = "ssr", schema(minimum = 1, maximum = 3650))]
    pub max_days: u32,
    /// Days an expired instance is kept, shut down, before it is deleted;
    /// extending its lease in that time revives it.
    #[serde(default = "default_grace_days")]
    #[cfg_attr(feature = "ssr", schema(maximum = 3650))]
    pub grace_days: u32,
    /// Leases that follow use: each day someone signed in uses the
    /// application (through the gateway), the expiry moves to at least
    /// this many days from then, never beyond `max_days`; 0: use does not
    /// extend it.
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(maximum = 3650))]
    pub follow_use_days: u32,
}

fn default_grace_days() -> u32 {
    DEFAULT_GRACE_DAYS
}

impl LeasePolicy {
    /// The appliance's default until an admin sets one: no lease.
    pub const NONE: LeasePolicy = LeasePolicy {
        lease_days: None,
        extendable: true,
        max_days: 90,
        grace_days: DEFAULT_GRACE_DAYS,
        follow_use_days: 0,
    };

    /// Where a day of use at `now` moves a lease that ends at
    /// `expires_at`: to `follow_use_days` from now, never beyond
    /// `max_days` from now, and never back; None when it stays.
    pub fn after_use(&self, expires_at: i64, now: i64) -> Option<i64> {
        if self.follow_use_days == 0 {
            return None;
        }
        let bump = self.follow_use_days.min(self.max_days);
        let wanted = now + i64::from(bump) * DAY;
        (wanted > expires_at).then_some(wanted)
    }
}

/// A department's lease policy: its own, if it sets one, and the one that
/// applies (its own, an ancestor's or the appliance's default).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct LeasePolicyView {
    /// Its own policy; null: it inherits.
    pub own: Option<LeasePolicy>,
    /// The policy its instances follow.
    pub effective: LeasePolicy,
    /// Where `effective` comes from: a department's name, or
    /// "the appliance's default".
    pub from: String,
}

/// `PUT /api/v1/departments/{id}/lease-policy`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SetLeasePolicy {
    /// The department's own policy; null: inherit its parent's.
    pub policy: Option<LeasePolicy>,
}

/// `POST /api/v1/instances/{id}/extend`: the new expiry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ExtendRequest {
    /// RFC 3339, in the future. Owners and department admins may set it
    /// at most the policy's `max_days` from now; appliance admins, any.
    #[cfg_attr(feature = "ssr", schema(format = DateTime))]
    pub expires_at: String,
}

/// An instance's lease, as the portal and the API show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct LeaseView {
    /// When the instance is (or was) shut down (RFC 3339).
    pub expires_at: String,
    pub stage: LeaseStage,
    /// Once expired: when it is deleted unless its lease is extended first.
    pub deletes_at: Option<String>,
}

text_enum! {
    /// How far an instance's lease has run its course. Each step forward
    /// queues its notice in the same transaction.
    pub enum LeaseStage {
        /// Running its term; no notice yet.
        Active = "active",
        /// Told that it expires within 7 days.
        Warned7d = "warned_7d",
        /// Told that it expires within a day.
        Warned1d = "warned_1d",
        /// Expired: shut down, deleted at the end of the grace period
        /// unless extended.
        Expired = "expired",
        /// Told that it is deleted; its delete task runs.
        Deleting = "deleting",
    }
}

impl LeaseStage {
    /// Whether the lease has run out (the instance stays off).
    pub fn is_expired(self) -> bool {
        match self {
            LeaseStage::Expired | LeaseStage::Deleting => true,
            LeaseStage::Active | LeaseStage::Warned7d | LeaseStage::Warned1d => false,
        }
    }
}

text_enum! {
    /// What a notice is about: each is queued in the outbox with the
    /// change it tells of. New kinds are added here (and to their texts).
    pub enum NoticeKind {
        DeploySucceeded = "deploy_succeeded",
        DeployFailed = "deploy_failed",
        /// The lease ends within 7 days.
        LeaseExpiresIn7Days = "lease_expires_7d",
        /// The lease ends within a day.
        LeaseExpiresIn1Day = "lease_expires_1d",
        /// The lease ended: the instance is shut down.
        Expired = "expired",
        /// The grace period ended: the instance is deleted.
        Deleted = "deleted",
        HostDown = "host_down",
        /// A backup task failed (scheduled or asked for).
        BackupFailed = "backup_failed",
        /// A deploy waits for approval.
        ApprovalRequested = "approval_requested",
        /// A deploy request was approved, rejected, or lapsed.
        ApprovalDecided = "approval_decided",
    }
}

/// One notice of the outbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NoticeView {
    pub id: i64,
    pub kind: NoticeKind,
    /// RFC 3339.
    pub at: String,
    pub instance_id: Option<i64>,
    pub instance_name: Option<String>,
    pub detail: String,
}
