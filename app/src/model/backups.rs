//! Instances' backups: what the portal and the REST API show of them, the
//! policies that schedule them, and what a restore asks for.

use serde::{Deserialize, Serialize};

use super::{BackupFrequency, BackupKind, BackupState, DrillState};

/// How many restore points a policy keeps unless it says otherwise.
pub const DEFAULT_BACKUP_KEEP: u32 = 7;

/// One backup of an instance: a restore point.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct BackupView {
    pub id: i64,
    /// The instance it was taken of, while that instance exists: a
    /// deleted instance's backups stay until retention removes them.
    pub instance_id: Option<i64>,
    /// The instance's name when it was taken.
    pub instance_name: String,
    pub kind: BackupKind,
    pub state: BackupState,
    /// The backup an incremental one builds on.
    pub parent_id: Option<i64>,
    /// Why a full backup was taken where an incremental one was due (the
    /// chain was broken: no checkpoint, a revert, an interrupted backup).
    pub reason: Option<String>,
    /// What it takes in the backup store.
    pub size_bytes: u64,
    /// How long the copy took.
    pub duration_ms: Option<u64>,
    /// How long the guest's filesystems were frozen for it (absent when
    /// the guest was off or its agent cannot freeze them).
    pub frozen_ms: Option<u64>,
    /// The SHA-256 of its file when it was taken.
    pub sha256: Option<String>,
    /// Its file no longer matches its checksum: restore refuses it and
    /// every backup that builds on it.
    pub damaged: bool,
    /// When its checksum was last checked against its file (RFC 3339).
    pub verified_at: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// When it was started (RFC 3339).
    pub created_at: String,
    pub finished_at: Option<String>,
    /// Who started it; absent for scheduled backups.
    pub created_by: Option<String>,
    /// Its last restore drill, if it had one.
    pub drill: Option<DrillView>,
}

/// A restore drill: the backup restored into a throwaway guest on an
/// isolated network, its application checked, the guest destroyed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DrillView {
    pub state: DrillState,
    /// When it started, or ended once it has (RFC 3339).
    pub at: String,
    /// What was checked, or why it failed.
    pub note: Option<String>,
}

/// Backups, newest first; with the policy that applies, when listed for
/// one instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct BackupsView {
    pub backups: Vec<BackupView>,
    /// The policy that schedules the instance's backups.
    pub policy: Option<BackupPolicy>,
}

/// `GET /api/v1/backups` query. All given filters apply.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
pub struct BackupFilter {
    /// Only the backups of this instance (its id).
    #[serde(default)]
    pub instance: Option<i64>,
    #[serde(default)]
    pub state: Option<BackupState>,
    /// Only damaged backups (`true`) or only sound ones (`false`).
    #[serde(default)]
    pub damaged: Option<bool>,
}

/// When a department's instances (or, as the default, every instance)
/// are backed up, and how many restore points each keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BackupPolicy {
    pub frequency: BackupFrequency,
    /// The hour of the day (appliance time, UTC) the backups start.
    #[cfg_attr(feature = "ssr", schema(minimum = 0, maximum = 23))]
    pub hour: u8,
    /// How many restore points each instance keeps (1 to 100); older ones
    /// are merged into the next or deleted, never breaking a chain.
    #[cfg_attr(feature = "ssr", schema(minimum = 1, maximum = 100))]
    pub keep: u32,
    /// How often each instance's newest backup is restored into a
    /// throwaway guest and checked (at the same hour); weekly when absent.
    #[serde(default = "weekly")]
    pub drill: BackupFrequency,
}

fn weekly() -> BackupFrequency {
    BackupFrequency::Weekly
}

impl Default for BackupPolicy {
    fn default() -> Self {
        BackupPolicy {
            frequency: BackupFrequency::Daily,
            hour: 2,
            keep: DEFAULT_BACKUP_KEEP,
            drill: BackupFrequency::Weekly,
        }
    }
}

/// A department's backup policy: its own, if it has one, and the one that
/// applies (its own, its nearest ancestor's, or the default).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DepartmentBackupPolicy {
    pub own: Option<BackupPolicy>,
    pub effective: BackupPolicy,
}

/// Makes a new instance from a backup:
/// `POST /api/v1/backups/{bid}/restore`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RestoreRequest {
    /// The new instance's name: a DNS label.
    #[cfg_attr(
        feature = "ssr",
        schema(pattern = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
    )]
    pub name: String,
    /// One of the stack's sizes; the backed-up instance's when absent (a
    /// size with a smaller disk than the backup's is refused).
    #[serde(default)]
    pub size: Option<String>,
    /// Whose instance it becomes (an account name): the caller's own when
    /// absent; admins may name anyone, department admins a member of
    /// their departments.
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(pattern = r"^[A-Za-z0-9._@-]{1,64}$"))]
    pub owner: Option<String>,
}

/// Restores one of the instance's backups over it:
/// `POST /api/v1/instances/{id}/restore`. The instance's snapshots go
/// (they live in the disk the restore replaces), and that disk is kept as
/// a snapshot to go back to; the instance runs afterwards.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RestoreInPlaceRequest {
    /// A backup of this instance, kept on its host.
    pub backup_id: i64,
}

/// Where new backups go, on every host: `PUT /api/v1/backup-store`.
/// Backups taken before a change stay where they were, and restore from
/// there; the first backup of each instance in a new store is a full one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum BackupStoreSpec {
    /// A directory beside each host's storage directory, on the same
    /// disk: the default.
    #[default]
    Local,
    /// A directory on each host, such as a disk of its own mounted there.
    Directory {
        /// An absolute path.
        #[cfg_attr(feature = "ssr", schema(pattern = r"^/[^\x00-\x1f]{0,254}$"))]
        path: String,
    },
    /// An NFS export that each host mounts: copies off the hosts.
    Nfs {
        /// The NFS server's host name or address.
        #[cfg_attr(feature = "ssr", schema(pattern = r"^[A-Za-z0-9.:-]{1,253}$"))]
        server: String,
        /// The exported directory: an absolute path.
        #[cfg_attr(feature = "ssr", schema(pattern = r"^/[^\x00-\x1f]{0,254}$"))]
        export: String,
    },
}

/// The backup store: where it is, and how full.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct BackupStoreView {
    /// What the admin chose.
    pub spec: BackupStoreSpec,
    /// The directory of its libvirt storage pool on each host (where an
    /// NFS store is mounted).
    pub dir: String,
    /// What the backups take in it.
    pub used_bytes: u64,
    /// Free space on the first host's pool, when it answers.
    pub free_bytes: Option<u64>,
    pub capacity_bytes: Option<u64>,
}
