//! Resizing an instance: a task (202, with the instance's id and the
//! task's).

use std::sync::Arc;

use app::model::{Accepted, ResizeRequest};
use app::policy::{authorize, rights};
use app::service::{RequestContext, ResizeService};
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};

use super::{ApiJson, ApiResult, IdPath};

/// Changes the instance's size to another of the stack's sizes: memory
/// and vCPUs with a reboot of a running instance (a graceful shutdown,
/// forced after the timeout, then a start), the disk grown while it runs.
/// 422 for an unknown size, the size it has, or one with a smaller disk
/// (a disk never shrinks); 409 while another task runs on it, when it is
/// not ready, when its host has no room for more memory or vCPUs, or past
/// a quota (`quota_exceeded`); 404 for an instance the caller may not use.
#[utoipa::path(post, path = "/api/v1/instances/{id}/resize", tag = "instances",
    params(("id" = i64, Path)), request_body = ResizeRequest,
    responses((status = 202, body = Accepted), (status = 404, body = super::ErrorBody),
              (status = 409, body = super::ErrorBody), (status = 422, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn resize(
    State(service): State<Arc<dyn ResizeService>>,
    Extension(ctx): Extension<RequestContext>,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<ResizeRequest>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let who = authorize::<rights::ResizeInstances>(ctx.principal.as_ref())?;
    Ok((
        StatusCode::ACCEPTED,
        Json(service.resize(who, id, body).await?),
    ))
}
