//! Approvals: deploy requests and their decisions, and the departments'
//! approval policies.

use std::sync::Arc;

use app::model::{ApprovalPolicyView, ApprovalView, Decision, SetApprovalPolicy};
use app::policy::{authorize, rights};
use app::service::{ApprovalService, RequestContext};
use axum::extract::State;
use axum::{Extension, Json};

use super::{ApiJson, ApiResult, IdPath};

/// Deploy requests: those you may decide (as a department admin of their
/// department or above, or an appliance admin) and your own; pending ones
/// first, then the latest decided (at most 200).
#[utoipa::path(get, path = "/api/v1/approvals", tag = "approvals",
    responses((status = 200, body = [ApprovalView])),
    security(("session" = []), ("bearer" = [])))]
pub async fn list(
    State(service): State<Arc<dyn ApprovalService>>,
    Extension(ctx): Extension<RequestContext>,
) -> ApiResult<Json<Vec<ApprovalView>>> {
    let who = authorize::<rights::ViewApprovals>(ctx.principal.as_ref())?;
    Ok(Json(service.approvals(who).await?))
}

/// Approves a pending deploy request: its deploy task starts.
#[utoipa::path(post, path = "/api/v1/approvals/{id}/approve", tag = "approvals",
    params(("id" = i64, Path)), request_body = Decision,
    responses((status = 200, body = ApprovalView),
        (status = 403, body = super::ErrorBody, description = "Not an approver, or your own request (`own_request`)"),
        (status = 404, body = super::ErrorBody),
        (status = 409, body = super::ErrorBody, description = "Decided already"),
        (status = 422, body = super::ErrorBody, description = "A comment too long")),
    security(("session" = []), ("bearer" = [])))]
pub async fn approve(
    State(service): State<Arc<dyn ApprovalService>>,
    Extension(ctx): Extension<RequestContext>,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<Decision>,
) -> ApiResult<Json<ApprovalView>> {
    let who = authorize::<rights::DecideApprovals>(ctx.principal.as_ref())?;
    Ok(Json(service.approve(who, id, body).await?))
}

/// Rejects a pending deploy request: its instance fails, and the quota it
/// held is released.
#[utoipa::path(post, path = "/api/v1/approvals/{id}/reject", tag = "approvals",
    params(("id" = i64, Path)), request_body = Decision,
    responses((status = 200, body = ApprovalView),
        (status = 403, body = super::ErrorBody, description = "Not an approver, or your own request (`own_request`)"),
        (status = 404, body = super::ErrorBody),
        (status = 409, body = super::ErrorBody, description = "Decided already"),
        (status = 422, body = super::ErrorBody, description = "A comment too long")),
    security(("session" = []), ("bearer" = [])))]
pub async fn reject(
    State(service): State<Arc<dyn ApprovalService>>,
    Extension(ctx): Extension<RequestContext>,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<Decision>,
) -> ApiResult<Json<ApprovalView>> {
    let who = authorize::<rights::DecideApprovals>(ctx.principal.as_ref())?;
    Ok(Json(service.reject(who, id, body).await?))
}

/// A department's approval policy: its own, and the one its members'
/// deploys follow (inherited from above when it sets none).
#[utoipa::path(get, path = "/api/v1/departments/{id}/approval-policy", tag = "approvals",
    params(("id" = i64, Path)),
    responses((status = 200, body = ApprovalPolicyView), (status = 403, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn get_policy(
    State(service): State<Arc<dyn ApprovalService>>,
    Extension(ctx): Extension<RequestContext>,
    IdPath(id): IdPath,
) -> ApiResult<Json<ApprovalPolicyView>> {
    let who = authorize::<rights::ManageMembers>(ctx.principal.as_ref())?;
    Ok(Json(service.approval_policy(who, id).await?))
}

/// Sets a department's own approval policy, or clears it (`"policy":
/// null`) to inherit (appliance admins). Pending requests keep theirs.
#[utoipa::path(put, path = "/api/v1/departments/{id}/approval-policy", tag = "approvals",
    params(("id" = i64, Path)), request_body = SetApprovalPolicy,
    responses((status = 200, body = ApprovalPolicyView), (status = 403, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody), (status = 422, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn set_policy(
    State(service): State<Arc<dyn ApprovalService>>,
    Extension(ctx): Extension<RequestContext>,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<SetApprovalPolicy>,
) -> ApiResult<Json<ApprovalPolicyView>> {
    let who = authorize::<rights::ManageDepartments>(ctx.principal.as_ref())?;
    Ok(Json(service.set_approval_policy(who, id, body).await?))
}
