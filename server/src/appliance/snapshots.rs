//! `SnapshotService`: an instance's snapshots, for whoever may use the
//! instance. Each change is a task on the instance, audited.

use app::error::AppError;
use app::model::{
    Accepted, Principal, SnapshotRequest, SnapshotState, SnapshotView, SnapshotsView, TaskKind,
};
use app::policy::{Authorized, rights};
use app::service::SnapshotService;
use app::validate;
use async_trait::async_trait;

use super::Appliance;
use super::errors::{engine_err, store_err};
use super::instances::{allows, host_answers};
use crate::clock::rfc3339;
use crate::engine::EngineError;
use crate::engine::Refusal;
use crate::engine::snapshot_admission::{SnapshotPlan, SnapshotTask};
use crate::store::StoreError;
use crate::store::audit::Audit;
use crate::store::instances::InstanceRow;
use crate::store::snapshots::{self, SnapshotRow};

fn view_of(row: SnapshotRow) -> SnapshotView {
    SnapshotView {
        id: row.id,
        name: row.name,
        description: row.description,
        state: row.state,
        kind: row.kind,
        with_memory: row.with_memory,
        size_bytes: row.size_bytes,
        created_at: rfc3339(row.created_at),
        created_by: row.created_by,
    }
}

impl Appliance {
    /// The instance, when `who` may use it and it may start a task of
    /// `kind` now; `Conflict` saying why not.
    pub(super) async fn instance_for(
        &self,
        who: &Principal,
        instance: i64,
        kind: TaskKind,
    ) -> Result<InstanceRow, AppError> {
        let row = self.visible_instance(who, instance).await?;
        if row.running_task.is_some() {
            return Err(busy(&row));
        }
        host_answers(&row)?;
        if !allows(row.status, kind) {
            return Err(AppError::Conflict(format!(
                "{} cannot {} while it is {}",
                row.name,
                kind.as_str().replace('_', " "),
                row.status
            )));
        }
        Ok(row)
    }

    async fn audit_snapshot(&self, who: &Principal, row: &InstanceRow, action: &str, name: &str) {
        let record = Audit::by(who)
            .action(format!("instance.{action}"))
            .object(format!("instance {}, snapshot {name}", row.name))
            .department(row.department_id)
            .ok();
        self.audit(record).await;
    }

    /// Starts a revert or a delete of one of the instance's snapshots.
    async fn snapshot_task(
        &self,
        who: &Principal,
        instance: i64,
        snapshot: i64,
        task: SnapshotTask,
    ) -> Result<Accepted, AppError> {
        let kind = match task {
            SnapshotTask::Revert => TaskKind::Revert,
            SnapshotTask::Delete => TaskKind::DeleteSnapshot,
        };
        let row = self.instance_for(who, instance, kind).await?;
        let snapshot_row = self
            .store
            .read(move |c| snapshots::by_id(c, snapshot))
            .await
            .map_err(store_err)?
            .filter(|s| s.instance_id == row.id)
            .ok_or_else(|| AppError::NotFound("snapshot".into()))?;
        if snapshot_row.state != SnapshotState::Ready {
            return Err(AppError::Conflict(format!(
                "snapshot {} is {}; try again when it is ready",
                snapshot_row.name, snapshot_row.state
            )));
        }
        match self
            .engine
            .submit_snapshot_task(row.id, snapshot, task)
            .await
        {
            Ok(task_id) => {
                self.audit_snapshot(who, &row, kind.as_str(), &snapshot_row.name)
                    .await;
                Ok(Accepted {
                    id: snapshot,
                    task_id,
                })
            }
            Err(EngineError::Store(StoreError::Duplicate(_))) => Err(busy(&row)),
            Err(e) => Err(engine_err(e)),
        }
    }
}

fn busy(row: &InstanceRow) -> AppError {
    AppError::Conflict(format!(
        "{} is busy with another task; try again when it ends",
        row.name
    ))
}

#[async_trait]
impl SnapshotService for Appliance {
    async fn snapshots(
        &self,
        who: Authorized<'_, rights::UseInstances>,
        instance: i64,
    ) -> Result<SnapshotsView, AppError> {
        let rows = self
            .read_visible(&who, instance, |c, row| snapshots::of_instance(c, row.id))
            .await?;
        Ok(SnapshotsView {
            snapshots: rows.into_iter().map(view_of).collect(),
            limit: self.config.snapshot_limit,
        })
    }

    async fn take_snapshot(
        &self,
        who: Authorized<'_, rights::UseInstances>,
        instance: i64,
        request: SnapshotRequest,
    ) -> Result<Accepted, AppError> {
        let who = who.principal();
        // Whose instance first: one that `who` may not use is a 404
        // whatever the request says.
        let row = self.instance_for(who, instance, TaskKind::Snapshot).await?;
        let name = validate::display_name("name", &request.name)?;
        let description = validate::description("description", &request.description)?;
        let plan = SnapshotPlan {
            instance_id: row.id,
            name: name.clone(),
            description,
            by: who.user_id,
            limit: self.config.snapshot_limit,
        };
        match self.engine.submit_snapshot(plan).await {
            Ok(Ok(accepted)) => {
                self.audit_snapshot(who, &row, "snapshot", &name).await;
                Ok(accepted)
            }
            Ok(Err(Refusal::Quota(exceeded))) => Err(AppError::QuotaExceeded(format!(
                "Snapshot refused: {exceeded}"
            ))),
            Ok(Err(refusal)) => Err(super::errors::refusal_err(refusal)),
            Err(EngineError::Store(StoreError::Duplicate(snapshots::NAME_TAKEN))) => {
                Err(AppError::invalid(
                    "name",
                    format!("{} already has a snapshot named {name}", row.name),
                ))
            }
            Err(EngineError::Store(StoreError::Duplicate(_))) => Err(busy(&row)),
            Err(e) => Err(engine_err(e)),
        }
    }

    async fn revert_snapshot(
        &self,
        who: Authorized<'_, rights::UseInstances>,
        instance: i64,
        snapshot: i64,
    ) -> Result<Accepted, AppError> {
        self.snapshot_task(who.principal(), instance, snapshot, SnapshotTask::Revert)
            .await
    }

    async fn delete_snapshot(
        &self,
        who: Authorized<'_, rights::UseInstances>,
        instance: i64,
        snapshot: i64,
    ) -> Result<Accepted, AppError> {
        self.snapshot_task(who.principal(), instance, snapshot, SnapshotTask::Delete)
            .await
    }
}
