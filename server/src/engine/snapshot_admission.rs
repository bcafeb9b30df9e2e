//! Snapshot work becomes tasks: taking one is checked against the
//! instance's snapshot limit and its owner's disk quota, and recorded with
//! its task in one transaction; reverting and deleting are tasks on a
//! snapshot the instance has. The steps are in `steps/snapshots.rs`.

use std::sync::Arc;

use app::model::{Accepted, SnapshotState, TaskKind};
use app::org::Usage;

use super::runtime::Engine;
use super::steps::Step;
use super::{EngineError, Refusal};
use crate::store::{StoreError, instances, quotas, snapshots, tasks};

/// A snapshot to take.
pub struct SnapshotPlan {
    pub instance_id: i64,
    pub name: String,
    pub description: String,
    /// Who asks: the snapshot is recorded as theirs.
    pub by: i64,
    /// How many the instance may keep.
    pub limit: u32,
}

/// What a snapshot takes of the disk quota before it is taken: a whole
/// GiB, so that a full quota refuses it; once taken, its actual size.
pub(super) const SNAPSHOT_QUOTA_CHECK: Usage = Usage {
    instances: 0,
    vcpus: 0,
    memory_mib: 0,
    disk_gib: 1,
};

impl Engine {
    /// Records the snapshot and its task, and starts it; a refusal
    /// (limit, quota) records nothing. `Store(Duplicate)` when the name is
    /// taken or the instance is busy.
    pub async fn submit_snapshot(
        self: &Arc<Self>,
        plan: SnapshotPlan,
    ) -> Result<Result<Accepted, Refusal>, EngineError> {
        let admitted = self
            .store
            .write(move |tx| {
                let inst = instances::by_id(tx, plan.instance_id)?
                    .ok_or(StoreError::NotFound("instance"))?;
                if snapshots::count(tx, inst.id)? >= plan.limit {
                    return Ok(Err(Refusal::SnapshotLimit { limit: plan.limit }));
                }
                if let Some(exceeded) = quotas::check_deploy(
                    tx,
                    inst.owner_id,
                    inst.department_id,
                    &SNAPSHOT_QUOTA_CHECK,
                )? {
                    return Ok(Err(Refusal::Quota(exceeded)));
                }
                let snapshot =
                    snapshots::insert(tx, inst.id, &plan.name, &plan.description, plan.by)?;
                let task = tasks::insert(
                    tx,
                    inst.id,
                    &inst.uuid,
                    inst.owner_id,
                    TaskKind::Snapshot,
                    &Step::names(TaskKind::Snapshot),
                    None,
                )?;
                tasks::set_snapshot(tx, task, snapshot)?;
                Ok(Ok((snapshot, task)))
            })
            .await?;
        let (id, task_id) = match admitted {
            Ok(ids) => ids,
            Err(refusal) => return Ok(Err(refusal)),
        };
        tokio::spawn(self.clone().run_task(task_id));
        Ok(Ok(Accepted { id, task_id }))
    }

    /// Starts reverting the instance to `snapshot_id`, or deleting it
    /// (`kind`); `Store(NotFound)` when the instance has no such ready
    /// snapshot, `Store(Duplicate)` while the instance is busy.
    pub async fn submit_snapshot_task(
        self: &Arc<Self>,
        instance_id: i64,
        snapshot_id: i64,
        kind: SnapshotTask,
    ) -> Result<i64, EngineError> {
        let kind = kind.task_kind();
        let task_id = self
            .store
            .write(move |tx| {
                let inst =
                    instances::by_id(tx, instance_id)?.ok_or(StoreError::NotFound("instance"))?;
                let snapshot = snapshots::by_id(tx, snapshot_id)?
                    .filter(|s| s.instance_id == instance_id && s.state == SnapshotState::Ready)
                    .ok_or(StoreError::NotFound("snapshot"))?;
                let task = tasks::insert(
                    tx,
                    inst.id,
                    &inst.uuid,
                    inst.owner_id,
                    kind,
                    &Step::names(kind),
                    None,
                )?;
                tasks::set_snapshot(tx, task, snapshot.id)?;
                Ok(task)
            })
            .await?;
        tokio::spawn(self.clone().run_task(task_id));
        Ok(task_id)
    }
}

/// A task on a snapshot that exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapshotTask {
    Revert,
    Delete,
}

impl SnapshotTask {
    fn task_kind(self) -> TaskKind {
        match self {
            SnapshotTask::Revert => TaskKind::Revert,
            SnapshotTask::Delete => TaskKind::DeleteSnapshot,
        }
    }
}
