//! An instance's snapshots: list them, take one, revert to one, delete
//! one. Each change runs as a task on the instance (one at a time).

use async_trait::async_trait;

use crate::error::AppError;
use crate::model::{Accepted, SnapshotRequest, SnapshotsView};
use crate::policy::{Authorized, rights};

#[async_trait]
pub trait SnapshotService: Send + Sync + 'static {
    /// The instance's snapshots, newest first; `NotFound` when `who` may
    /// not use the instance.
    async fn snapshots(
        &self,
        who: Authorized<'_, rights::UseInstances>,
        instance: i64,
    ) -> Result<SnapshotsView, AppError>;
    /// Takes a snapshot as a task: the snapshot's id and the task's.
    /// `Conflict` at the instance's limit or while it is busy,
    /// `QuotaExceeded` when its owner's disk quota is full.
    async fn take_snapshot(
        &self,
        who: Authorized<'_, rights::UseInstances>,
        instance: i64,
        request: SnapshotRequest,
    ) -> Result<Accepted, AppError>;
    /// Brings the instance back to the snapshot as a task (running again
    /// if it ran): the snapshot's id and the task's.
    async fn revert_snapshot(
        &self,
        who: Authorized<'_, rights::UseInstances>,
        instance: i64,
        snapshot: i64,
    ) -> Result<Accepted, AppError>;
    /// Removes the snapshot as a task: the snapshot's id and the task's.
    async fn delete_snapshot(
        &self,
        who: Authorized<'_, rights::UseInstances>,
        instance: i64,
        snapshot: i64,
    ) -> Result<Accepted, AppError>;
}
