//! Instances and their tasks: deploying, the lifecycle actions, and
//! following a task as it runs.

use std::time::Duration;

use app::error::AppError;
use app::model::{
    ApprovalState, AppsSettings, DeployAccepted, DeployRequest, InstanceApproval, InstancePage,
    InstancePatch, InstanceQuery, InstanceState, InstanceStatus, InstanceVersion, InstanceView,
    LeaseView, ParamInfo, Principal, SizeInfo, StackInfo, StepState, StepView, TaskKind, TaskView,
};
use app::policy::{Authorized, DeployPath, authorize, deploy_path, may_use, rights};
use app::service::{InstanceService, TaskUpdates};
use app::validate;
use async_trait::async_trait;

use super::errors::{engine_err, refusal_err, store_err};
use super::instance_query::{cursor_after, list_query};
use super::{Appliance, paging};
use crate::addressing::app_origins::AppOrigins;
use crate::blocking::run_blocking;
use crate::clock::{rfc3339, rfc3339_ms};
use crate::engine::admission::DeployPlan;
use crate::engine::{EngineError, Refusal};
use crate::stack::Stack;
use crate::store::audit::Audit;
use crate::store::instances::{InstanceRow, ListedInstance};
use crate::store::tasks::TaskRow;
use crate::store::{Store, StoreError, approvals, hosts, instance_list, instances, tasks};
use tokio::sync::broadcast;

/// Whether an instance in `status` may start a task of `kind`: every
/// pair is listed, so a new status or kind is a decision here.
pub(super) fn allows(status: InstanceStatus, kind: TaskKind) -> bool {
    use InstanceStatus::{Deleting, Failed, Provisioning, Ready};
    use TaskKind::{
        Backup, Delete, DeleteSnapshot, Deploy, Move, Poweroff, Reboot, Resize, Restore,
        RestoreInPlace, Revert, Shutdown, Snapshot, Start,
    };
    match (status, kind) {
        (
            Ready,
            Start | Shutdown | Reboot | Poweroff | Delete | Snapshot | Revert | Backup
            | RestoreInPlace | Move | Resize,
        )
        | (Ready | Failed, DeleteSnapshot)
        | (Failed, Delete) => true,
        (Ready | Failed | Provisioning | Deleting, Deploy | Restore)
        | (
            Failed,
            Start | Shutdown | Reboot | Poweroff | Snapshot | Revert | Backup | RestoreInPlace
            | Move | Resize,
        )
        | (
            Provisioning | Deleting,
            Start | Shutdown | Reboot | Poweroff | Delete | Snapshot | Revert | DeleteSnapshot
            | Backup | RestoreInPlace | Move | Resize,
        ) => false,
    }
}

/// `Conflict` while the instance's host does not answer: a task would
/// only wait on it, and the instance's state there is not known.
pub(super) fn host_answers(row: &InstanceRow) -> Result<(), AppError> {
    match row.host_unreachable_since {
        None => Ok(()),
        Some(since) => Err(AppError::Conflict(format!(
            "the host {} of {} is unreachable (no answer since {}): try again when it is back",
            row.host.as_deref().unwrap_or("?"),
            row.name,
            rfc3339(since)
        ))),
    }
}

fn task_view(task: TaskRow) -> TaskView {
    let done = task
        .steps
        .iter()
        .filter(|s| s.state == StepState::Done)
        .count();
    let total = task.steps.len().max(1);
    TaskView {
        id: task.id,
        kind: task.kind,
        state: task.state,
        instance_id: task.instance_id,
        progress: u8::try_from(done * 100 / total).unwrap_or(100),
        created_at: rfc3339_ms(task.created_ms),
        finished_at: task.finished_ms.map(rfc3339_ms),
        steps: task
            .steps
            .into_iter()
            .map(|s| StepView {
                name: s.name,
                state: s.state,
                started_at: s.started_ms.map(rfc3339_ms),
                finished_at: s.finished_ms.map(rfc3339_ms),
            })
            .collect(),
        error: task.error,
    }
}

/// How the portal shows an instance; `origins`: where applications open
/// (None: nowhere yet, before the apps are set up).
fn view_of(row: ListedInstance, origins: Option<&AppOrigins<'_>>) -> InstanceView {
    let state = InstanceState::of(row.status, row.power);
    // Stopped or starting, the gateway says so on the page it opens.
    // Nor while its deploy waits for approval: nothing may run yet.
    let waiting = row
        .approval
        .as_ref()
        .is_some_and(|a| a.state == ApprovalState::Pending);
    let url = match row.status {
        InstanceStatus::Provisioning | InstanceStatus::Ready if !waiting => {
            origins.and_then(|o| o.url(&row.name, row.app_port))
        }
        InstanceStatus::Provisioning
        | InstanceStatus::Ready
        | InstanceStatus::Failed
        | InstanceStatus::Deleting => None,
    };
    InstanceView {
        id: row.id,
        name: row.name,
        state,
        host: row.host,
        ip: row.ip,
        url,
        share: row.share,
        owner: row.owner,
        size: row.size,
        created_at: rfc3339(row.created_at),
        task_id: row.running_task,
        error: row.error,
        health: row.health,
        zone: row.zone,
        lease: row.lease.map(|l| LeaseView {
            expires_at: rfc3339(l.expires_at),
            stage: l.stage,
            deletes_at: l.deletes_at.map(rfc3339),
        }),
        approval: row.approval.map(|a| InstanceApproval {
            id: a.id,
            state: a.state,
            decided_by: a.decided_by,
            comment: a.comment,
        }),
        host_unreachable_since: row.host_unreachable_since.map(rfc3339),
        // The changes are filled in by `with_version_changes`.
        version: row.version.map(|v| InstanceVersion {
            id: v.id,
            label: v.label,
            update_available: !v.current,
            changes: Vec::new(),
        }),
    }
}

impl Appliance {
    pub(super) fn instance_view(&self, row: ListedInstance) -> InstanceView {
        let apps = self.apps.borrow();
        view_of(row, apps.as_ref().and_then(AppOrigins::of).as_ref())
    }

    /// Each row as [`Appliance::instance_view`] would give it, with the
    /// apps settings read once for them all (a profile of the list page
    /// had a 50th of its time in reading the portal's origin per row).
    pub(super) fn instance_views(
        &self,
        rows: impl IntoIterator<Item = ListedInstance>,
    ) -> Vec<InstanceView> {
        // The settings stay borrowed only while the rows are mapped.
        let apps = self.apps.borrow();
        let origins = apps.as_ref().and_then(AppOrigins::of);
        rows.into_iter()
            .map(|row| view_of(row, origins.as_ref()))
            .collect()
    }

    /// The instance `id` if `who` may use it, else `NotFound` (never 403:
    /// that would tell that it exists).
    pub(super) async fn visible_instance(
        &self,
        who: &Principal,
        id: i64,
    ) -> Result<InstanceRow, AppError> {
        self.read_visible(who, id, |_, row| Ok(row.clone())).await
    }

    /// `query` of the instance `id` if `who` may use it, else `NotFound`:
    /// the check and the query in one read. An instance's page asks this
    /// for its snapshots, backups and charts, and each read apart was one
    /// more hand-over to a reader thread and back (in a profile of the
    /// page under load, waking the readers was a tenth of dpe's CPU).
    pub(super) async fn read_visible<T: Send + 'static>(
        &self,
        who: &Principal,
        id: i64,
        query: impl FnOnce(&rusqlite::Connection, &InstanceRow) -> Result<T, StoreError>
        + Send
        + 'static,
    ) -> Result<T, AppError> {
        let who = who.clone();
        self.store
            .read(move |c| match instances::by_id(c, id)? {
                Some(row) if may_use(&who, row.owner_id, row.department_id) => {
                    query(c, &row).map(Some)
                }
                Some(_) | None => Ok(None),
            })
            .await
            .map_err(store_err)?
            .ok_or_else(|| AppError::NotFound("instance".into()))
    }
}

#[async_trait]
impl InstanceService for Appliance {
    async fn stack(
        &self,
        who: Authorized<'_, rights::RequestDeploy>,
    ) -> Result<StackInfo, AppError> {
        // The form is for those who may deploy or request one: whether
        // they may does not depend on the size.
        let department = who.department_id;
        let (approval, _) = self
            .store
            .read(move |c| approvals::effective(c, department))
            .await
            .map_err(store_err)?;
        match deploy_path(&who, &approval, 0, 0) {
            DeployPath::Refused => return Err(AppError::Forbidden),
            DeployPath::Direct | DeployPath::NeedsApproval => {}
        }
        let m = &self.engine.stack().manifest;
        Ok(StackInfo {
            name: m.name.clone(),
            title: m.title.clone(),
            description: m.description.clone(),
            sizes: m
                .sizes
                .iter()
                .map(|s| SizeInfo {
                    name: s.name.clone(),
                    label: s.label.clone(),
                    vcpus: s.vcpus,
                    memory_mib: s.memory_mib,
                    disk_gib: s.disk_gib,
                })
                .collect(),
            params: m
                .params
                .iter()
                .map(|p| ParamInfo {
                    name: p.name.clone(),
                    label: p.label.clone(),
                    kind: p.kind,
                    help: p.help.clone(),
                    required: p.required,
                    default: p.default.clone(),
                    max_length: p.max_length,
                })
                .collect(),
        })
    }

    // Which way the deploy goes is `deploy_path`'s: a direct one needs the
    // proof of `rights::Deploy` (the rule table's check of `may_deploy`),
    // which only `authorize` makes.
    async fn deploy(
        &self,
        who: Authorized<'_, rights::RequestDeploy>,
        request: DeployRequest,
    ) -> Result<DeployAccepted, AppError> {
        let name = validate::dns_label("name", &request.name)?;
        let stack = self.engine.stack().clone();
        let size = stack.size(&request.size)?.clone();
        let department = who.department_id;
        let (approval, _) = self
            .store
            .read(move |c| approvals::effective(c, department))
            .await
            .map_err(store_err)?;
        let direct = match deploy_path(&who, &approval, size.vcpus, size.memory_mib) {
            DeployPath::Direct => Some(authorize::<rights::Deploy>(Some(who.principal()))?),
            DeployPath::NeedsApproval => None,
            DeployPath::Refused => return Err(AppError::Forbidden),
        };
        let network = request
            .network
            .as_deref()
            .map(|n| validate::libvirt_name("network", n))
            .transpose()?;
        if let Some(n) = &network {
            let known = self.store.read(hosts::list).await.map_err(store_err)?;
            if !known.iter().any(|h| &h.network == n) {
                return Err(AppError::invalid(
                    "network",
                    format!("no host offers the network {n:?}"),
                ));
            }
        }
        // bcrypt is slow on purpose: off the runtime.
        let params = request.params;
        let hostname = name.clone();
        let checked = run_blocking(move || {
            let mut checked = stack.check_params(&params)?;
            checked.template.insert("hostname".into(), hostname);
            Ok::<_, AppError>(checked)
        })
        .await?;
        let health_expect = Stack::fill(
            &self.engine.stack().manifest.app.health_expect,
            &checked.template,
        );
        let plan = DeployPlan {
            name,
            size,
            public_params: checked.public,
            template: checked.template,
            network,
            zone: request.zone.unwrap_or_default(),
            health_expect,
        };
        let size = plan.size.name.clone();
        let object = format!("instance {}", plan.name);
        let submitted = match direct {
            Some(deployer) => self
                .engine
                .submit_deploy(deployer, plan)
                .await
                .map_err(engine_err)?
                .map(|a| (a.id, Some(a.task_id), None)),
            None => self
                .engine
                .submit_deploy_request(who, plan, approval.timeout_days)
                .await
                .map_err(engine_err)?
                .map(|(id, approval)| (id, None, Some(approval))),
        };
        let record = Audit::by(&who)
            .action(match direct {
                Some(_) => "instance.deploy",
                None => "approval.request",
            })
            .object(object);
        match submitted {
            Ok((id, task_id, approval_id)) => {
                let detail = match approval_id {
                    Some(_) => format!("size {size}, waiting for approval"),
                    None => format!("size {size}"),
                };
                self.audit(record.detail(detail).ok()).await;
                Ok(DeployAccepted {
                    id,
                    task_id,
                    approval_id,
                })
            }
            Err(Refusal::Quota(exceeded)) => {
                self.audit(record.detail(exceeded.to_string()).refused())
                    .await;
                Err(refusal_err(Refusal::Quota(exceeded)))
            }
            Err(refusal) => Err(refusal_err(refusal)),
        }
    }

    async fn instances(
        &self,
        who: Authorized<'_, rights::UseInstances>,
        query: InstanceQuery,
    ) -> Result<InstancePage, AppError> {
        let who = who.principal();
        let sort = query.sort.unwrap_or_default();
        let list = list_query(who, query)?;
        let (rows, more) = self
            .store
            .read(move |c| instance_list::page(c, &list))
            .await
            .map_err(store_err)?;
        let next = paging::next(&rows, more, |last| cursor_after(sort, last));
        Ok(InstancePage {
            // The query already keeps to what `who` may see; this is the
            // rule itself, should the two ever part.
            items: self
                .with_version_changes(
                    self.instance_views(
                        rows.into_iter()
                            .filter(|r| may_use(who, r.owner_id, r.department_id)),
                    ),
                )
                .await?,
            next,
        })
    }

    async fn instance(
        &self,
        who: Authorized<'_, rights::UseInstances>,
        id: i64,
    ) -> Result<InstanceView, AppError> {
        let view = self.instance_view(self.visible_instance(&who, id).await?.into());
        let mut views = self.with_version_changes(vec![view]).await?;
        views
            .pop()
            .ok_or_else(|| AppError::NotFound("instance".into()))
    }

    async fn patch(
        &self,
        who: Authorized<'_, rights::UseInstances>,
        id: i64,
        patch: InstancePatch,
    ) -> Result<InstanceView, AppError> {
        self.patch_instance(who, id, patch).await
    }

    async fn apps_settings(
        &self,
        _who: Authorized<'_, rights::ViewSelf>,
    ) -> Result<AppsSettings, AppError> {
        self.apps()
            .ok_or_else(|| AppError::NotFound("apps settings (set up the appliance)".into()))
    }

    async fn set_apps_settings(
        &self,
        who: Authorized<'_, rights::ConfigureGateway>,
        settings: AppsSettings,
    ) -> Result<AppsSettings, AppError> {
        self.change_apps_settings(&who, settings).await
    }

    async fn act(
        &self,
        who: Authorized<'_, rights::UseInstances>,
        id: i64,
        kind: TaskKind,
    ) -> Result<i64, AppError> {
        match kind {
            TaskKind::Start
            | TaskKind::Shutdown
            | TaskKind::Reboot
            | TaskKind::Poweroff
            | TaskKind::Delete => {}
            // Each has its own way in, which records what it works on.
            TaskKind::Deploy
            | TaskKind::Snapshot
            | TaskKind::Revert
            | TaskKind::DeleteSnapshot
            | TaskKind::Backup
            | TaskKind::Restore
            | TaskKind::RestoreInPlace
            | TaskKind::Move
            | TaskKind::Resize => {
                return Err(AppError::invalid("action", "not a lifecycle action"));
            }
        }
        let row = self.visible_instance(&who, id).await?;
        let busy = || {
            AppError::Conflict(format!(
                "{} is busy with another task; try again when it ends",
                row.name
            ))
        };
        if row.running_task.is_some() {
            return Err(busy());
        }
        host_answers(&row)?;
        // An expired instance stays off until its lease is extended.
        let expired = row.lease.is_some_and(|l| l.stage.is_expired());
        if expired && matches!(kind, TaskKind::Start | TaskKind::Reboot) {
            return Err(AppError::Conflict(format!(
                "the lease of {} has expired; extend it to start the instance again",
                row.name
            )));
        }
        if !allows(row.status, kind) {
            return Err(AppError::Conflict(format!(
                "{} cannot {} while it is {}",
                row.name,
                kind.as_str(),
                row.status
            )));
        }
        match self.engine.submit_action(id, kind).await {
            Err(EngineError::Store(StoreError::Duplicate(_))) => Err(busy()),
            Ok(task) => {
                let record = Audit::by(&who)
                    .action(format!("instance.{}", kind.as_str()))
                    .object(format!("instance {}", row.name))
                    .department(row.department_id)
                    .ok();
                self.audit(record).await;
                Ok(task)
            }
            Err(e) => Err(engine_err(e)),
        }
    }

    async fn task(
        &self,
        who: Authorized<'_, rights::UseInstances>,
        id: i64,
    ) -> Result<TaskView, AppError> {
        visible_task(&self.store, &who, id).await
    }

    async fn subscribe_task(
        &self,
        who: Authorized<'_, rights::UseInstances>,
        id: i64,
    ) -> Result<Box<dyn TaskUpdates>, AppError> {
        // Read now, so that an unknown task is a 404 rather than an empty
        // stream.
        let first = visible_task(&self.store, &who, id).await?;
        let changes = self.engine.subscribe();
        Ok(Box::new(TaskFeed {
            store: self.store.clone(),
            who: who.principal().clone(),
            id,
            changes,
            first: Some(first),
            ended: false,
        }))
    }
}

/// How long a follower waits for a notice of change before it reads the
/// task again anyway: the safety net for a missed or lagged notice.
const TASK_REREAD: Duration = Duration::from_secs(1);

/// Task `id` if `who` may see it, else `NotFound`.
async fn visible_task(store: &Store, who: &Principal, id: i64) -> Result<TaskView, AppError> {
    let task = store
        .read(move |c| {
            let Some(task) = tasks::get(c, id)? else {
                return Ok(None);
            };
            // The instance may be gone (a finished delete): then only
            // its owner and appliance admins see the task.
            let department =
                instances::by_uuid(c, &task.instance_uuid)?.and_then(|i| i.department_id);
            Ok(Some((task, department)))
        })
        .await
        .map_err(store_err)?
        .filter(|(t, department)| may_use(who, t.owner_id, *department))
        .map(|(t, _)| t)
        .ok_or_else(|| AppError::NotFound("task".into()))?;
    Ok(task_view(task))
}

/// One task followed for one caller: its views as the engine announces
/// changes, until a view shows it ended.
struct TaskFeed {
    store: Store,
    who: Principal,
    id: i64,
    changes: broadcast::Receiver<i64>,
    /// The view read at subscription, handed out first.
    first: Option<TaskView>,
    /// A view showed the task ended: nothing follows it.
    ended: bool,
}

impl TaskFeed {
    /// Until this task's next change is announced, or `TASK_REREAD` passes.
    async fn wait_for_change(&mut self) {
        let id = self.id;
        let changes = &mut self.changes;
        // Timing out is the safety net working, not a failure.
        let _ = tokio::time::timeout(TASK_REREAD, async {
            loop {
                match changes.recv().await {
                    Ok(changed) if changed == id => break,
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => break,
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        })
        .await;
    }
}

#[async_trait]
impl TaskUpdates for TaskFeed {
    async fn next(&mut self) -> Option<TaskView> {
        let view = match self.first.take() {
            Some(first) => first,
            None if self.ended => return None,
            None => {
                self.wait_for_change().await;
                visible_task(&self.store, &self.who, self.id).await.ok()?
            }
        };
        self.ended = view.state.has_ended();
        Some(view)
    }
}
