//! Delegation endpoints: departments, accounts, quotas, the audit log and
//! the directory. Each authorizes the action first; the service checks
//! which department the object belongs to.

use app::org::{
    AuditEntry, AuditFilter, DepartmentChange, DepartmentView, DirectorySettings, DirectoryTest,
    DirectoryView, MemberChange, MemberView, NewDepartment, NewMember, Quota, QuotaUse,
};
use app::policy::{Action, authorize};
use app::service::RequestContext;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};

use super::{ApiJson, ApiQuery, ApiResult, IdPath};
use crate::http::HttpState;

/// `?department=ID` on the accounts list.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct MemberQuery {
    /// Only this department's accounts.
    pub department: Option<i64>,
}

/// The departments the caller administers, with quota and use.
#[utoipa::path(get, path = "/api/v1/departments", tag = "delegation",
    responses((status = 200, body = [DepartmentView]), (status = 403, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn list_departments(
    State(state): State<HttpState>,
    Extension(ctx): Extension<RequestContext>,
) -> ApiResult<Json<Vec<DepartmentView>>> {
    let who = authorize(ctx.principal.as_ref(), Action::ManageMembers)?;
    Ok(Json(state.service.departments(who).await?))
}

/// Creates a department, top-level or inside another (appliance admins).
#[utoipa::path(post, path = "/api/v1/departments", tag = "delegation", request_body = NewDepartment,
    responses((status = 201, body = DepartmentView), (status = 409, body = super::ErrorBody),
        (status = 422, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn create_department(
    State(state): State<HttpState>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(body): ApiJson<NewDepartment>,
) -> ApiResult<(StatusCode, Json<DepartmentView>)> {
    let who = authorize(ctx.principal.as_ref(), Action::ManageDepartments)?;
    Ok((
        StatusCode::CREATED,
        Json(state.service.create_department(who, body).await?),
    ))
}

/// Renames a department (appliance admins) or sets its quota (appliance
/// admins, or the admin of a department above it).
#[utoipa::path(patch, path = "/api/v1/departments/{id}", tag = "delegation",
    params(("id" = i64, Path)), request_body = DepartmentChange,
    responses((status = 200, body = DepartmentView), (status = 403, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody),
        (status = 409, body = super::ErrorBody, description = "A department with that name exists")),
    security(("session" = []), ("bearer" = [])))]
pub async fn update_department(
    State(state): State<HttpState>,
    Extension(ctx): Extension<RequestContext>,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<DepartmentChange>,
) -> ApiResult<Json<DepartmentView>> {
    let who = authorize(ctx.principal.as_ref(), Action::ManageMembers)?;
    Ok(Json(state.service.update_department(who, id, body).await?))
}

/// Removes an empty department (appliance admins).
#[utoipa::path(delete, path = "/api/v1/departments/{id}", tag = "delegation",
    params(("id" = i64, Path)),
    responses((status = 204), (status = 409, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn delete_department(
    State(state): State<HttpState>,
    Extension(ctx): Extension<RequestContext>,
    IdPath(id): IdPath,
) -> ApiResult<StatusCode> {
    let who = authorize(ctx.principal.as_ref(), Action::ManageDepartments)?;
    state.service.delete_department(who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The accounts of the departments the caller administers.
#[utoipa::path(get, path = "/api/v1/users", tag = "delegation", params(MemberQuery),
    responses((status = 200, body = [MemberView]), (status = 403, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn list_members(
    State(state): State<HttpState>,
    Extension(ctx): Extension<RequestContext>,
    ApiQuery(query): ApiQuery<MemberQuery>,
) -> ApiResult<Json<Vec<MemberView>>> {
    let who = authorize(ctx.principal.as_ref(), Action::ManageMembers)?;
    Ok(Json(state.service.members(who, query.department).await?))
}

/// Adds a local account to a department; only appliance admins appoint
/// department admins.
#[utoipa::path(post, path = "/api/v1/users", tag = "delegation", request_body = NewMember,
    responses((status = 201, body = MemberView), (status = 403, body = super::ErrorBody),
        (status = 409, body = super::ErrorBody), (status = 422, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn create_member(
    State(state): State<HttpState>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(body): ApiJson<NewMember>,
) -> ApiResult<(StatusCode, Json<MemberView>)> {
    let who = authorize(ctx.principal.as_ref(), Action::ManageMembers)?;
    Ok((
        StatusCode::CREATED,
        Json(state.service.create_member(who, body).await?),
    ))
}

/// Moves an account, grants or withdraws the right to deploy, sets its
/// quota; appoints or removes a department admin (appliance admins).
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "delegation",
    params(("id" = i64, Path)), request_body = MemberChange,
    responses((status = 200, body = MemberView), (status = 403, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn update_member(
    State(state): State<HttpState>,
    Extension(ctx): Extension<RequestContext>,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<MemberChange>,
) -> ApiResult<Json<MemberView>> {
    let who = authorize(ctx.principal.as_ref(), Action::ManageMembers)?;
    Ok(Json(state.service.update_member(who, id, body).await?))
}

/// The audit log, newest first (department admins: their departments').
#[utoipa::path(get, path = "/api/v1/audit", tag = "delegation", params(AuditFilter),
    responses((status = 200, body = [AuditEntry]), (status = 403, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn audit_log(
    State(state): State<HttpState>,
    Extension(ctx): Extension<RequestContext>,
    ApiQuery(filter): ApiQuery<AuditFilter>,
) -> ApiResult<Json<Vec<AuditEntry>>> {
    let who = authorize(ctx.principal.as_ref(), Action::ViewAudit)?;
    Ok(Json(state.service.audit_log(who, filter).await?))
}

/// The quotas that bind the caller, with their use.
#[utoipa::path(get, path = "/api/v1/quotas", tag = "delegation",
    responses((status = 200, body = [QuotaUse]), (status = 401, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn my_quotas(
    State(state): State<HttpState>,
    Extension(ctx): Extension<RequestContext>,
) -> ApiResult<Json<Vec<QuotaUse>>> {
    let who = authorize(ctx.principal.as_ref(), Action::ViewSelf)?;
    Ok(Json(state.service.dashboard(who).await?.quotas))
}

/// The directory settings, without the bind password (appliance admins).
#[utoipa::path(get, path = "/api/v1/directory", tag = "delegation",
    responses((status = 200, body = DirectoryView), (status = 403, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn get_directory(
    State(state): State<HttpState>,
    Extension(ctx): Extension<RequestContext>,
) -> ApiResult<Json<DirectoryView>> {
    authorize(ctx.principal.as_ref(), Action::ManageDirectory)?;
    Ok(Json(state.service.directory().await?))
}

/// Configures directory sign-in (appliance admins). Without
/// `bind_password` the stored one is kept.
#[utoipa::path(put, path = "/api/v1/directory", tag = "delegation",
    request_body = DirectorySettings,
    responses((status = 200, body = DirectoryView), (status = 422, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn set_directory(
    State(state): State<HttpState>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(body): ApiJson<DirectorySettings>,
) -> ApiResult<Json<DirectoryView>> {
    let who = authorize(ctx.principal.as_ref(), Action::ManageDirectory)?;
    Ok(Json(state.service.set_directory(who, body).await?))
}

/// Tries settings without saving them: connects, binds, counts accounts.
#[utoipa::path(post, path = "/api/v1/directory/test", tag = "delegation",
    request_body = DirectorySettings,
    responses((status = 200, body = DirectoryTest), (status = 422, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn test_directory(
    State(state): State<HttpState>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(body): ApiJson<DirectorySettings>,
) -> ApiResult<Json<DirectoryTest>> {
    authorize(ctx.principal.as_ref(), Action::ManageDirectory)?;
    Ok(Json(state.service.test_directory(body).await?))
}

/// The quota of each account in no department; appliance admins are not
/// bound by it. Unset, it allows no instances.
#[utoipa::path(get, path = "/api/v1/quotas/default", tag = "delegation",
    responses((status = 200, body = Quota), (status = 403, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn get_default_quota(
    State(state): State<HttpState>,
    Extension(ctx): Extension<RequestContext>,
) -> ApiResult<Json<Quota>> {
    authorize(ctx.principal.as_ref(), Action::ManageDepartments)?;
    Ok(Json(state.service.default_quota().await?))
}

/// Sets the quota of each account in no department (appliance admins).
/// A field left out has no limit.
#[utoipa::path(put, path = "/api/v1/quotas/default", tag = "delegation", request_body = Quota,
    responses((status = 200, body = Quota), (status = 403, body = super::ErrorBody),
        (status = 422, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn set_default_quota(
    State(state): State<HttpState>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(body): ApiJson<Quota>,
) -> ApiResult<Json<Quota>> {
    let who = authorize(ctx.principal.as_ref(), Action::ManageDepartments)?;
    Ok(Json(state.service.set_default_quota(who, body).await?))
}
