//! Server functions of an instance's Snapshots section. Each change runs
//! as a task on the instance; its progress shows as the instance's task.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::respond;
use crate::error::AppError;
#[cfg(feature = "ssr")]
use crate::model::SnapshotRequest;
use crate::model::{Accepted, SnapshotsView};
#[cfg(feature = "ssr")]
use crate::policy::{authorize, rights};
#[cfg(feature = "ssr")]
use crate::service::{SnapshotService, request_context, service};

#[server(prefix = "/fn", endpoint = "snapshots")]
pub async fn get_snapshots(id: i64) -> Result<SnapshotsView, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::UseInstances>(ctx.principal.as_ref())?;
            service::<dyn SnapshotService>()?.snapshots(who, id).await
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "take_snapshot")]
pub async fn take_snapshot(
    id: i64,
    name: String,
    #[server(default)] description: String,
) -> Result<Accepted, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::UseInstances>(ctx.principal.as_ref())?;
            service::<dyn SnapshotService>()?
                .take_snapshot(who, id, SnapshotRequest { name, description })
                .await
        }
        .await,
    )
}

/// `action` is `revert` or `delete`.
#[server(prefix = "/fn", endpoint = "snapshot_action")]
pub async fn snapshot_action(id: i64, snapshot: i64, action: String) -> Result<Accepted, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::UseInstances>(ctx.principal.as_ref())?;
            let snapshots = service::<dyn SnapshotService>()?;
            match action.as_str() {
                "revert" => snapshots.revert_snapshot(who, id, snapshot).await,
                "delete" => snapshots.delete_snapshot(who, id, snapshot).await,
                _ => Err(AppError::invalid("action", "revert or delete")),
            }
        }
        .await,
    )
}
