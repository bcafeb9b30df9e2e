use std::sync::Arc;

use app::model::{OutsideZoneSettings, ZonesView};
use app::policy::{authorize, rights};
use app::service::{RequestContext, ZoneService};
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};

use super::{ApiJson, ApiResult};

/// The network zones a deploy may choose: the hosts' NAT networks
/// (inside) and, when configured, the LAN bridge with its pool (outside).
#[utoipa::path(get, path = "/api/v1/zones", tag = "networks",
    responses((status = 200, body = ZonesView), (status = 401, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn list(
    State(service): State<Arc<dyn ZoneService>>,
    Extension(ctx): Extension<RequestContext>,
) -> ApiResult<Json<ZonesView>> {
    let who = authorize::<rights::ViewDashboard>(ctx.principal.as_ref())?;
    Ok(Json(service.zones(who).await?))
}

/// Configures the outside zone: the bridge every host has to the LAN and
/// the IPv4 pool dpe assigns from (admins). Instances keep their address
/// when the pool changes.
#[utoipa::path(put, path = "/api/v1/zones/outside", tag = "networks",
    request_body = OutsideZoneSettings,
    responses((status = 200, body = ZonesView), (status = 403, body = super::ErrorBody),
        (status = 422, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn set_outside(
    State(service): State<Arc<dyn ZoneService>>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(body): ApiJson<OutsideZoneSettings>,
) -> ApiResult<Json<ZonesView>> {
    let who = authorize::<rights::ManageNetworks>(ctx.principal.as_ref())?;
    Ok(Json(service.set_outside_zone(who, body).await?))
}

/// Removes the outside zone when no instance uses it (admins).
#[utoipa::path(delete, path = "/api/v1/zones/outside", tag = "networks",
    responses((status = 204), (status = 409, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn clear_outside(
    State(service): State<Arc<dyn ZoneService>>,
    Extension(ctx): Extension<RequestContext>,
) -> ApiResult<StatusCode> {
    let who = authorize::<rights::ManageNetworks>(ctx.principal.as_ref())?;
    service.clear_outside_zone(who).await?;
    Ok(StatusCode::NO_CONTENT)
}
