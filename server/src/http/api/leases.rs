//! Leases: extending an instance's, and the lease policies of departments
//! and the appliance.

use std::sync::Arc;

use app::model::{ExtendRequest, InstanceView, LeasePolicy, LeasePolicyView, SetLeasePolicy};
use app::policy::{authorize, rights};
use app::service::{LeaseService, RequestContext};
use axum::extract::State;
use axum::{Extension, Json};

use super::{ApiJson, ApiResult, IdPath};

/// Sets when the instance's lease ends. The owner and its department's
/// admins may set it as far ahead as the policy allows; appliance admins
/// to any date. An expired instance within its grace period is revived
/// (it stays off until started).
#[utoipa::path(post, path = "/api/v1/instances/{id}/extend", tag = "leases",
    params(("id" = i64, Path)), request_body = ExtendRequest,
    responses((status = 200, body = InstanceView),
        (status = 403, body = super::ErrorBody, description = "The policy allows no extension"),
        (status = 404, body = super::ErrorBody),
        (status = 409, body = super::ErrorBody, description = "The instance is being deleted"),
        (status = 422, body = super::ErrorBody, description = "Not a date in the future, or beyond the policy's reach")),
    security(("session" = []), ("bearer" = [])))]
pub async fn extend(
    State(service): State<Arc<dyn LeaseService>>,
    Extension(ctx): Extension<RequestContext>,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<ExtendRequest>,
) -> ApiResult<Json<InstanceView>> {
    let who = authorize::<rights::ExtendLease>(ctx.principal.as_ref())?;
    Ok(Json(service.extend(who, id, body).await?))
}

/// A department's lease policy: its own, and the one its instances follow
/// (inherited from above when it sets none).
#[utoipa::path(get, path = "/api/v1/departments/{id}/lease-policy", tag = "leases",
    params(("id" = i64, Path)),
    responses((status = 200, body = LeasePolicyView), (status = 403, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn get_policy(
    State(service): State<Arc<dyn LeaseService>>,
    Extension(ctx): Extension<RequestContext>,
    IdPath(id): IdPath,
) -> ApiResult<Json<LeasePolicyView>> {
    let who = authorize::<rights::ManageMembers>(ctx.principal.as_ref())?;
    Ok(Json(service.lease_policy(who, id).await?))
}

/// Sets a department's own lease policy, or clears it (`"policy": null`)
/// to inherit (appliance admins). Running instances keep their expiry.
#[utoipa::path(put, path = "/api/v1/departments/{id}/lease-policy", tag = "leases",
    params(("id" = i64, Path)), request_body = SetLeasePolicy,
    responses((status = 200, body = LeasePolicyView), (status = 403, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody), (status = 422, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn set_policy(
    State(service): State<Arc<dyn LeaseService>>,
    Extension(ctx): Extension<RequestContext>,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<SetLeasePolicy>,
) -> ApiResult<Json<LeasePolicyView>> {
    let who = authorize::<rights::ManageDepartments>(ctx.principal.as_ref())?;
    Ok(Json(service.set_lease_policy(who, id, body).await?))
}

/// The appliance's default lease policy: that of departments that set
/// none up their tree, and of accounts in no department. Unset, instances
/// get no lease.
#[utoipa::path(get, path = "/api/v1/lease-policy", tag = "leases",
    responses((status = 200, body = LeasePolicy), (status = 403, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn get_default_policy(
    State(service): State<Arc<dyn LeaseService>>,
    Extension(ctx): Extension<RequestContext>,
) -> ApiResult<Json<LeasePolicy>> {
    let who = authorize::<rights::ManageMembers>(ctx.principal.as_ref())?;
    Ok(Json(service.default_lease_policy(who).await?))
}

/// Sets the appliance's default lease policy (appliance admins).
#[utoipa::path(put, path = "/api/v1/lease-policy", tag = "leases", request_body = LeasePolicy,
    responses((status = 200, body = LeasePolicy), (status = 403, body = super::ErrorBody),
        (status = 422, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn set_default_policy(
    State(service): State<Arc<dyn LeaseService>>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(body): ApiJson<LeasePolicy>,
) -> ApiResult<Json<LeasePolicy>> {
    let who = authorize::<rights::ManageDepartments>(ctx.principal.as_ref())?;
    Ok(Json(service.set_default_lease_policy(who, body).await?))
}
