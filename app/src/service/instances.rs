//! Instances and their tasks: the stack to deploy, deploying, the
//! lifecycle actions, and following a task as it runs.

use async_trait::async_trait;

use crate::error::AppError;
use crate::model::{
    AppsSettings, DeployAccepted, DeployRequest, InstancePage, InstancePatch, InstanceQuery,
    InstanceView, StackInfo, TaskKind, TaskView,
};
use crate::policy::{Authorized, rights};

#[async_trait]
pub trait InstanceService: Send + Sync + 'static {
    /// The stack users deploy, for the deploy form.
    async fn stack(
        &self,
        who: Authorized<'_, rights::RequestDeploy>,
    ) -> Result<StackInfo, AppError>;
    /// Validates and accepts a deploy: its task starts, or, as the
    /// department's approval policy says ([`crate::policy::deploy_path`]),
    /// it waits for approval with its quota reserved; an account without
    /// the right to deploy where no approval is offered is `Forbidden`.
    async fn deploy(
        &self,
        who: Authorized<'_, rights::RequestDeploy>,
        request: DeployRequest,
    ) -> Result<DeployAccepted, AppError>;
    /// One page of the instances `who` may see (their own; a department
    /// admin's departments' too; all for admins) that `query` names.
    async fn instances(
        &self,
        who: Authorized<'_, rights::UseInstances>,
        query: InstanceQuery,
    ) -> Result<InstancePage, AppError>;
    /// One instance; `NotFound` when `who` may not see it.
    async fn instance(
        &self,
        who: Authorized<'_, rights::UseInstances>,
        id: i64,
    ) -> Result<InstanceView, AppError>;
    /// Changes what `patch` names (who may open it); audited.
    async fn patch(
        &self,
        who: Authorized<'_, rights::UseInstances>,
        id: i64,
        patch: InstancePatch,
    ) -> Result<InstanceView, AppError>;
    /// Where applications open (any signed-in account may read it).
    async fn apps_settings(
        &self,
        who: Authorized<'_, rights::ViewSelf>,
    ) -> Result<AppsSettings, AppError>;
    /// Changes where applications open; instances keep their ports.
    async fn set_apps_settings(
        &self,
        who: Authorized<'_, rights::ConfigureGateway>,
        settings: AppsSettings,
    ) -> Result<AppsSettings, AppError>;
    /// Starts a lifecycle task; `Conflict` while another one runs.
    async fn act(
        &self,
        who: Authorized<'_, rights::UseInstances>,
        id: i64,
        kind: TaskKind,
    ) -> Result<i64, AppError>;
    /// One task; `NotFound` when `who` may not see it.
    async fn task(
        &self,
        who: Authorized<'_, rights::UseInstances>,
        id: i64,
    ) -> Result<TaskView, AppError>;
    /// Follows one task as it changes; `NotFound` (at once, not later)
    /// when `who` may not see it.
    async fn subscribe_task(
        &self,
        who: Authorized<'_, rights::UseInstances>,
        id: i64,
    ) -> Result<Box<dyn TaskUpdates>, AppError>;
}

/// The views of one task as it runs, from [`InstanceService::subscribe_task`].
#[async_trait]
pub trait TaskUpdates: Send {
    /// The task as it is now on the first call, then as it is after its
    /// next change; `None` once it has ended (after the view that shows
    /// the end) or can no longer be read.
    async fn next(&mut self) -> Option<TaskView>;
}
