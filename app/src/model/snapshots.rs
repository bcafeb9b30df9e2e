//! An instance's snapshots: what the portal and the REST API show of them
//! and what they take to make one.

use serde::{Deserialize, Serialize};

use super::{SnapshotKind, SnapshotState};

/// How many snapshots an instance may keep, unless an admin sets another
/// number: each one holds the disk's changes since, and the guest's memory
/// when it ran.
pub const DEFAULT_SNAPSHOT_LIMIT: u32 = 5;

/// One snapshot of an instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SnapshotView {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub state: SnapshotState,
    /// `disk_copy`: the disk as it was before a restore over the instance;
    /// reverting to it removes the snapshots taken since (they live in
    /// the disk it replaces).
    pub kind: SnapshotKind,
    /// Whether the guest ran when it was taken: then reverting to it
    /// brings back its memory too, and the instance resumes where it was.
    pub with_memory: bool,
    /// What it takes on the host's disk, charged to the disk quota.
    pub size_bytes: u64,
    /// When it was taken (RFC 3339).
    pub created_at: String,
    /// Who took it, while that account exists.
    pub created_by: Option<String>,
}

/// An instance's snapshots, newest first, and how many it may keep.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SnapshotsView {
    pub snapshots: Vec<SnapshotView>,
    pub limit: u32,
}

/// Takes a snapshot: `POST /api/v1/instances/{id}/snapshots`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SnapshotRequest {
    /// Unique among the instance's snapshots; 1 to 64 characters, no
    /// control characters, trimmed.
    #[cfg_attr(
        feature = "ssr",
        schema(
            pattern = r"^[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]{0,62}[^\s\x00-\x1f\x7f-\x9f]$|^[^\s\x00-\x1f\x7f-\x9f]$"
        )
    )]
    pub name: String,
    /// What it was taken for; at most 500 characters, no control
    /// characters but line breaks.
    #[serde(default)]
    #[cfg_attr(
        feature = "ssr",
        schema(
            max_length = 500,
            pattern = r"^[^\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
        )
    )]
    pub description: String,
}
