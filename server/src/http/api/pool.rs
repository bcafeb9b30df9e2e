use std::sync::Arc;

use app::model::{PoolTargets, PoolView};
use app::policy::{authorize, rights};
use app::service::{PoolService, RequestContext};
use axum::extract::State;
use axum::{Extension, Json};

use super::{ApiJson, ApiResult};

/// The warm pool: how many guests of each size are kept booted ahead of
/// time, and each member with its state (appliance admins).
#[utoipa::path(get, path = "/api/v1/pool", tag = "pool",
    responses((status = 200, body = PoolView), (status = 401, body = super::ErrorBody),
        (status = 403, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn get(
    State(service): State<Arc<dyn PoolService>>,
    Extension(ctx): Extension<RequestContext>,
) -> ApiResult<Json<PoolView>> {
    let who = authorize::<rights::ManagePool>(ctx.principal.as_ref())?;
    Ok(Json(service.pool(who).await?))
}

/// Sets every size's target at once; sizes left out keep none (appliance
/// admins). Members over a target are recycled, missing ones booted one
/// per host at a time.
#[utoipa::path(put, path = "/api/v1/pool", tag = "pool",
    request_body = PoolTargets,
    responses((status = 200, body = PoolView), (status = 403, body = super::ErrorBody),
        (status = 409, body = super::ErrorBody), (status = 422, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn set(
    State(service): State<Arc<dyn PoolService>>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(body): ApiJson<PoolTargets>,
) -> ApiResult<Json<PoolView>> {
    let who = authorize::<rights::ManagePool>(ctx.principal.as_ref())?;
    Ok(Json(service.set_pool_targets(who, body).await?))
}
