use std::sync::Arc;

use app::model::StackVersions;
use app::policy::{authorize, rights};
use app::service::{RequestContext, StackVersionService};
use axum::extract::State;
use axum::{Extension, Json};

use super::{ApiResult, IdPath};

/// The stack's versions, newest first: each with its label, checksum,
/// whether it is current, how many instances run it, and what it changes
/// against the current one (appliance admins).
#[utoipa::path(get, path = "/api/v1/stack/versions", tag = "stack",
    responses((status = 200, body = StackVersions), (status = 401, body = super::ErrorBody),
        (status = 403, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn list(
    State(service): State<Arc<dyn StackVersionService>>,
    Extension(ctx): Extension<RequestContext>,
) -> ApiResult<Json<StackVersions>> {
    let who = authorize::<rights::ManageStackVersions>(ctx.principal.as_ref())?;
    Ok(Json(service.stack_versions(who).await?))
}

/// Registers the images built in the image directory (itself and each
/// folder in it) that are not versions yet; none becomes current. 503
/// when the image directory's own image cannot be read (appliance admins).
#[utoipa::path(post, path = "/api/v1/stack/versions/scan", tag = "stack",
    responses((status = 200, body = StackVersions), (status = 401, body = super::ErrorBody),
        (status = 403, body = super::ErrorBody),
        (status = 503, body = super::ErrorBody, description = "The image cannot be read")),
    security(("session" = []), ("bearer" = [])))]
pub async fn scan(
    State(service): State<Arc<dyn StackVersionService>>,
    Extension(ctx): Extension<RequestContext>,
) -> ApiResult<Json<StackVersions>> {
    let who = authorize::<rights::ManageStackVersions>(ctx.principal.as_ref())?;
    Ok(Json(service.scan_stack_versions(who).await?))
}

/// Makes the version current: deploys and new warm-pool members use it
/// from now on, instances on another one show that an update is
/// available. Making the current version current again changes nothing
/// (200). 404: no such version (appliance admins).
#[utoipa::path(post, path = "/api/v1/stack/versions/{id}/current", tag = "stack",
    params(("id" = i64, Path)),
    responses((status = 200, body = StackVersions), (status = 401, body = super::ErrorBody),
        (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn make_current(
    State(service): State<Arc<dyn StackVersionService>>,
    Extension(ctx): Extension<RequestContext>,
    IdPath(id): IdPath,
) -> ApiResult<Json<StackVersions>> {
    let who = authorize::<rights::ManageStackVersions>(ctx.principal.as_ref())?;
    Ok(Json(service.make_stack_version_current(who, id).await?))
}
