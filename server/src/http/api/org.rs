//! Delegation endpoints: departments, accounts, quotas, the audit log and
//! the directory. Each gets the proof of its right first; the service
//! checks which department the object belongs to.

use std::sync::Arc;

use app::org::{
    AuditEntry, AuditFilter, DepartmentChange, DepartmentView, DirectorySettings, DirectoryTest,
    DirectoryView, MemberChange, MemberQuery, MemberView, NewDepartment, NewMember, Quota,
    QuotaUse,
};
use app::policy::{authorize, rights};
use app::service::{
    AuditService, DirectoryService, OrganisationService, QuotaService, RequestContext,
};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};

use super::{ApiJson, ApiQuery, ApiResult, IdPath};

/// The departments the caller administers, with quota and use.
#[utoipa::path(get, path = "/api/v1/departments", tag = "delegation",
    responses((status = 200, body = [DepartmentView]), (status = 403, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn list_departments(
    State(service): State<Arc<dyn OrganisationService>>,
    Extension(ctx): Extension<RequestContext>,
) -> ApiResult<Json<Vec<DepartmentView>>> {
    let who = authorize::<rights::ManageMembers>(ctx.principal.as_ref())?;
    Ok(Json(service.departments(who).await?))
}

/// Creates a department, top-level or inside another (appliance admins).
#[utoipa::path(post, path = "/api/v1/departments", tag = "delegation", request_body = NewDepartment,
    responses((status = 201, body = DepartmentView), (status = 409, body = super::ErrorBody),
        (status = 422, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn create_department(
    State(service): State<Arc<dyn OrganisationService>>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(body): ApiJson<NewDepartment>,
) -> ApiResult<(StatusCode, Json<DepartmentView>)> {
    let who = authorize::<rights::ManageSubDepartments>(ctx.principal.as_ref())?;
    Ok((
        StatusCode::CREATED,
        Json(service.create_department(who, body).await?),
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
    State(service): State<Arc<dyn OrganisationService>>,
    Extension(ctx): Extension<RequestContext>,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<DepartmentChange>,
) -> ApiResult<Json<DepartmentView>> {
    let who = authorize::<rights::ManageMembers>(ctx.principal.as_ref())?;
    Ok(Json(service.update_department(who, id, body).await?))
}

/// Removes an empty department (appliance admins).
#[utoipa::path(delete, path = "/api/v1/departments/{id}", tag = "delegation",
    params(("id" = i64, Path)),
    responses((status = 204), (status = 409, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn delete_department(
    State(service): State<Arc<dyn OrganisationService>>,
    Extension(ctx): Extension<RequestContext>,
    IdPath(id): IdPath,
) -> ApiResult<StatusCode> {
    let who = authorize::<rights::ManageSubDepartments>(ctx.principal.as_ref())?;
    service.delete_department(who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A page of the accounts of the departments the caller administers
/// (every account, for admins), by name. When more follow, the `Link`
/// header's `rel="next"` address holds the same query with the next
/// page's `cursor`.
#[utoipa::path(get, path = "/api/v1/users", tag = "delegation", params(MemberQuery),
    responses((status = 200, body = [MemberView], headers(("Link" = String,
                description = "`<...&cursor=...>; rel=\"next\"` while more pages follow"))),
              (status = 403, body = super::ErrorBody), (status = 422, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn list_members(
    State(service): State<Arc<dyn OrganisationService>>,
    Extension(ctx): Extension<RequestContext>,
    ApiQuery(query): ApiQuery<MemberQuery>,
) -> ApiResult<(HeaderMap, Json<Vec<MemberView>>)> {
    let who = authorize::<rights::ManageMembers>(ctx.principal.as_ref())?;
    let page = service.members(who, query.clone()).await?;
    Ok(super::paged("/api/v1/users", page, |next| MemberQuery {
        cursor: Some(next),
        ..query
    }))
}

/// Adds a local account to a department; only appliance admins appoint
/// department admins.
#[utoipa::path(post, path = "/api/v1/users", tag = "delegation", request_body = NewMember,
    responses((status = 201, body = MemberView), (status = 403, body = super::ErrorBody),
        (status = 409, body = super::ErrorBody), (status = 422, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn create_member(
    State(service): State<Arc<dyn OrganisationService>>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(body): ApiJson<NewMember>,
) -> ApiResult<(StatusCode, Json<MemberView>)> {
    let who = authorize::<rights::ManageMembers>(ctx.principal.as_ref())?;
    Ok((
        StatusCode::CREATED,
        Json(service.create_member(who, body).await?),
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
    State(service): State<Arc<dyn OrganisationService>>,
    Extension(ctx): Extension<RequestContext>,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<MemberChange>,
) -> ApiResult<Json<MemberView>> {
    let who = authorize::<rights::ManageMembers>(ctx.principal.as_ref())?;
    Ok(Json(service.update_member(who, id, body).await?))
}

/// A page of the audit log, newest first (department admins: their
/// departments'). When more follow, the `Link` header's `rel="next"`
/// address holds the same filters with the next page's `cursor`.
#[utoipa::path(get, path = "/api/v1/audit", tag = "delegation", params(AuditFilter),
    responses((status = 200, body = [AuditEntry], headers(("Link" = String,
                description = "`<...&cursor=...>; rel=\"next\"` while more pages follow"))),
              (status = 403, body = super::ErrorBody), (status = 422, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn audit_log(
    State(service): State<Arc<dyn AuditService>>,
    Extension(ctx): Extension<RequestContext>,
    ApiQuery(filter): ApiQuery<AuditFilter>,
) -> ApiResult<(HeaderMap, Json<Vec<AuditEntry>>)> {
    let who = authorize::<rights::ViewAudit>(ctx.principal.as_ref())?;
    let page = service.audit_log(who, filter.clone()).await?;
    Ok(super::paged("/api/v1/audit", page, |next| AuditFilter {
        cursor: Some(next),
        ..filter
    }))
}

/// The quotas that bind the caller, with their use.
#[utoipa::path(get, path = "/api/v1/quotas", tag = "delegation",
    responses((status = 200, body = [QuotaUse]), (status = 401, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn my_quotas(
    State(service): State<Arc<dyn QuotaService>>,
    Extension(ctx): Extension<RequestContext>,
) -> ApiResult<Json<Vec<QuotaUse>>> {
    let who = authorize::<rights::ViewSelf>(ctx.principal.as_ref())?;
    Ok(Json(service.quotas(who).await?))
}

/// The directory settings, without the bind password (appliance admins).
#[utoipa::path(get, path = "/api/v1/directory", tag = "delegation",
    responses((status = 200, body = DirectoryView), (status = 403, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn get_directory(
    State(service): State<Arc<dyn DirectoryService>>,
    Extension(ctx): Extension<RequestContext>,
) -> ApiResult<Json<DirectoryView>> {
    let who = authorize::<rights::ManageDirectory>(ctx.principal.as_ref())?;
    Ok(Json(service.directory(who).await?))
}

/// Configures directory sign-in (appliance admins). Without
/// `bind_password` the stored one is kept.
#[utoipa::path(put, path = "/api/v1/directory", tag = "delegation",
    request_body = DirectorySettings,
    responses((status = 200, body = DirectoryView), (status = 422, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn set_directory(
    State(service): State<Arc<dyn DirectoryService>>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(body): ApiJson<DirectorySettings>,
) -> ApiResult<Json<DirectoryView>> {
    let who = authorize::<rights::ManageDirectory>(ctx.principal.as_ref())?;
    Ok(Json(service.set_directory(who, body).await?))
}

/// Tries settings without saving them: connects, binds, counts accounts.
#[utoipa::path(post, path = "/api/v1/directory/test", tag = "delegation",
    request_body = DirectorySettings,
    responses((status = 200, body = DirectoryTest), (status = 422, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn test_directory(
    State(service): State<Arc<dyn DirectoryService>>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(body): ApiJson<DirectorySettings>,
) -> ApiResult<Json<DirectoryTest>> {
    let who = authorize::<rights::ManageDirectory>(ctx.principal.as_ref())?;
    Ok(Json(service.test_directory(who, body).await?))
}

/// The quota of each account in no department; appliance admins are not
/// bound by it. Unset, it allows no instances.
#[utoipa::path(get, path = "/api/v1/quotas/default", tag = "delegation",
    responses((status = 200, body = Quota), (status = 403, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn get_default_quota(
    State(service): State<Arc<dyn QuotaService>>,
    Extension(ctx): Extension<RequestContext>,
) -> ApiResult<Json<Quota>> {
    let who = authorize::<rights::ManageDepartments>(ctx.principal.as_ref())?;
    Ok(Json(service.default_quota(who).await?))
}

/// Sets the quota of each account in no department (appliance admins).
/// A field left out has no limit.
#[utoipa::path(put, path = "/api/v1/quotas/default", tag = "delegation", request_body = Quota,
    responses((status = 200, body = Quota), (status = 403, body = super::ErrorBody),
        (status = 422, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn set_default_quota(
    State(service): State<Arc<dyn QuotaService>>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(body): ApiJson<Quota>,
) -> ApiResult<Json<Quota>> {
    let who = authorize::<rights::ManageDepartments>(ctx.principal.as_ref())?;
    Ok(Json(service.set_default_quota(who, body).await?))
}
