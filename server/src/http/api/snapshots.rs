//! An instance's snapshots: list, take, revert, delete. Each change is a
//! task (202, with the snapshot's id and the task's).

use std::sync::Arc;

use app::model::{Accepted, SnapshotRequest, SnapshotsView};
use app::policy::{authorize, rights};
use app::service::{RequestContext, SnapshotService};
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};

use super::{ApiJson, ApiResult, IdPath, IdsPath};

/// The instance's snapshots, newest first, and how many it may keep.
#[utoipa::path(get, path = "/api/v1/instances/{id}/snapshots", tag = "snapshots",
    params(("id" = i64, Path)),
    responses((status = 200, body = SnapshotsView), (status = 404, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn list(
    State(service): State<Arc<dyn SnapshotService>>,
    Extension(ctx): Extension<RequestContext>,
    IdPath(id): IdPath,
) -> ApiResult<Json<SnapshotsView>> {
    let who = authorize::<rights::UseInstances>(ctx.principal.as_ref())?;
    Ok(Json(service.snapshots(who, id).await?))
}

/// Takes a snapshot of the instance's disks (and of its memory, when it
/// runs). 409 at the instance's limit, while it is busy, or when its
/// owner's disk quota is full (`quota_exceeded`).
#[utoipa::path(post, path = "/api/v1/instances/{id}/snapshots", tag = "snapshots",
    params(("id" = i64, Path)), request_body = SnapshotRequest,
    responses((status = 202, body = Accepted), (status = 404, body = super::ErrorBody),
              (status = 409, body = super::ErrorBody), (status = 422, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn take(
    State(service): State<Arc<dyn SnapshotService>>,
    Extension(ctx): Extension<RequestContext>,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<SnapshotRequest>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let who = authorize::<rights::UseInstances>(ctx.principal.as_ref())?;
    Ok((
        StatusCode::ACCEPTED,
        Json(service.take_snapshot(who, id, body).await?),
    ))
}

/// Brings the instance back to the snapshot; it runs afterwards if it ran.
#[utoipa::path(post, path = "/api/v1/instances/{id}/snapshots/{sid}/revert", tag = "snapshots",
    params(("id" = i64, Path), ("sid" = i64, Path)),
    responses((status = 202, body = Accepted), (status = 404, body = super::ErrorBody),
              (status = 409, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn revert(
    State(service): State<Arc<dyn SnapshotService>>,
    Extension(ctx): Extension<RequestContext>,
    IdsPath(id, sid): IdsPath,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let who = authorize::<rights::UseInstances>(ctx.principal.as_ref())?;
    Ok((
        StatusCode::ACCEPTED,
        Json(service.revert_snapshot(who, id, sid).await?),
    ))
}

/// Removes the snapshot.
#[utoipa::path(delete, path = "/api/v1/instances/{id}/snapshots/{sid}", tag = "snapshots",
    params(("id" = i64, Path), ("sid" = i64, Path)),
    responses((status = 202, body = Accepted), (status = 404, body = super::ErrorBody),
              (status = 409, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn delete(
    State(service): State<Arc<dyn SnapshotService>>,
    Extension(ctx): Extension<RequestContext>,
    IdsPath(id, sid): IdsPath,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let who = authorize::<rights::UseInstances>(ctx.principal.as_ref())?;
    Ok((
        StatusCode::ACCEPTED,
        Json(service.delete_snapshot(who, id, sid).await?),
    ))
}
