//! Backups: an instance's list and "back up now", every backup one may
//! see, a check of one, a restore into a new instance; the backup store
//! and the policies that schedule backups.

use std::sync::Arc;

use app::model::{
    Accepted, BackupFilter, BackupPolicy, BackupStoreSpec, BackupStoreView, BackupView,
    BackupsView, DepartmentBackupPolicy, RestoreInPlaceRequest, RestoreRequest,
};
use app::policy::{authorize, rights};
use app::service::{BackupService, RequestContext};
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};

use super::{ApiJson, ApiQuery, ApiResult, IdPath};

/// The instance's backups, newest first, and the policy that schedules
/// them. Backups of deleted instances are under `GET /api/v1/backups`.
#[utoipa::path(get, path = "/api/v1/instances/{id}/backups", tag = "backups",
    params(("id" = i64, Path)),
    responses((status = 200, body = BackupsView), (status = 404, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn of_instance(
    State(service): State<Arc<dyn BackupService>>,
    Extension(ctx): Extension<RequestContext>,
    IdPath(id): IdPath,
) -> ApiResult<Json<BackupsView>> {
    let who = authorize::<rights::UseInstances>(ctx.principal.as_ref())?;
    Ok(Json(service.instance_backups(who, id).await?))
}

/// Backs the instance up now: incremental after its first full backup
/// (the id is the backup's). 409 while the instance is busy.
#[utoipa::path(post, path = "/api/v1/instances/{id}/backups", tag = "backups",
    params(("id" = i64, Path)),
    responses((status = 202, body = Accepted), (status = 404, body = super::ErrorBody),
              (status = 409, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn start(
    State(service): State<Arc<dyn BackupService>>,
    Extension(ctx): Extension<RequestContext>,
    IdPath(id): IdPath,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let who = authorize::<rights::UseInstances>(ctx.principal.as_ref())?;
    Ok((
        StatusCode::ACCEPTED,
        Json(service.start_backup(who, id).await?),
    ))
}

/// The backups the caller may see (those of deleted instances too),
/// failed and damaged ones first, then newest first; at most 500.
#[utoipa::path(get, path = "/api/v1/backups", tag = "backups", params(BackupFilter),
    responses((status = 200, body = Vec<BackupView>), (status = 404, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn list(
    State(service): State<Arc<dyn BackupService>>,
    Extension(ctx): Extension<RequestContext>,
    ApiQuery(filter): ApiQuery<BackupFilter>,
) -> ApiResult<Json<Vec<BackupView>>> {
    let who = authorize::<rights::UseInstances>(ctx.principal.as_ref())?;
    Ok(Json(service.backups(who, filter).await?))
}

/// Reads the backup's file (and those it builds on) and checks them
/// against their checksums; a mismatch marks it damaged.
#[utoipa::path(post, path = "/api/v1/backups/{id}/verify", tag = "backups",
    params(("id" = i64, Path)),
    responses((status = 200, body = BackupView), (status = 404, body = super::ErrorBody),
              (status = 503, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn verify(
    State(service): State<Arc<dyn BackupService>>,
    Extension(ctx): Extension<RequestContext>,
    IdPath(id): IdPath,
) -> ApiResult<Json<BackupView>> {
    let who = authorize::<rights::UseInstances>(ctx.principal.as_ref())?;
    Ok(Json(service.verify_backup(who, id).await?))
}

/// Makes a new instance from the backup (the id is the new instance's).
/// 409 for a damaged or unfinished backup; 409 `quota_exceeded` as a
/// deploy.
#[utoipa::path(post, path = "/api/v1/backups/{id}/restore", tag = "backups",
    params(("id" = i64, Path)), request_body = RestoreRequest,
    responses((status = 202, body = Accepted), (status = 404, body = super::ErrorBody),
              (status = 409, body = super::ErrorBody), (status = 422, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn restore(
    State(service): State<Arc<dyn BackupService>>,
    Extension(ctx): Extension<RequestContext>,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<RestoreRequest>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let who = authorize::<rights::Deploy>(ctx.principal.as_ref())?;
    Ok((
        StatusCode::ACCEPTED,
        Json(service.restore_backup(who, id, body).await?),
    ))
}

/// Restores one of the instance's backups over it (the id is the
/// instance's): it is shut down, its snapshots go (they live in the disk
/// that is replaced), that disk is kept as a snapshot to go back to, and
/// the instance starts again. 409 for a damaged or unfinished backup,
/// another instance's backup, a busy instance, or the snapshot limit.
#[utoipa::path(post, path = "/api/v1/instances/{id}/restore", tag = "backups",
    params(("id" = i64, Path)), request_body = RestoreInPlaceRequest,
    responses((status = 202, body = Accepted), (status = 404, body = super::ErrorBody),
              (status = 409, body = super::ErrorBody), (status = 422, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn restore_in_place(
    State(service): State<Arc<dyn BackupService>>,
    Extension(ctx): Extension<RequestContext>,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<RestoreInPlaceRequest>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let who = authorize::<rights::UseInstances>(ctx.principal.as_ref())?;
    Ok((
        StatusCode::ACCEPTED,
        Json(service.restore_in_place(who, id, body).await?),
    ))
}

/// Starts a restore drill of the backup: it is restored into a throwaway
/// guest on an isolated network, its application is checked, and the
/// guest is destroyed; `drill` on the backup tells how it went. 409 while
/// another drill runs (one at a time), or for a damaged or unfinished
/// backup.
#[utoipa::path(post, path = "/api/v1/backups/{id}/drill", tag = "backups",
    params(("id" = i64, Path)),
    responses((status = 202, body = BackupView), (status = 404, body = super::ErrorBody),
              (status = 409, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn drill(
    State(service): State<Arc<dyn BackupService>>,
    Extension(ctx): Extension<RequestContext>,
    IdPath(id): IdPath,
) -> ApiResult<(StatusCode, Json<BackupView>)> {
    let who = authorize::<rights::UseInstances>(ctx.principal.as_ref())?;
    Ok((
        StatusCode::ACCEPTED,
        Json(service.drill_backup(who, id).await?),
    ))
}

/// The backup store: its directory and how full it is (admins).
#[utoipa::path(get, path = "/api/v1/backup-store", tag = "backups",
    responses((status = 200, body = BackupStoreView)),
    security(("session" = []), ("bearer" = [])))]
pub async fn store(
    State(service): State<Arc<dyn BackupService>>,
    Extension(ctx): Extension<RequestContext>,
) -> ApiResult<Json<BackupStoreView>> {
    let who = authorize::<rights::ManageBackups>(ctx.principal.as_ref())?;
    Ok(Json(service.backup_store(who).await?))
}

/// Chooses where new backups go, on every host: beside its storage
/// directory (`local`, the default), a `directory` of the admin's, or an
/// `nfs` export each host mounts. Every host must start the store's pool
/// first (422 naming the host otherwise, and nothing changes); backups
/// taken before stay where they are, and restore from there.
#[utoipa::path(put, path = "/api/v1/backup-store", tag = "backups",
    request_body = BackupStoreSpec,
    responses((status = 200, body = BackupStoreView), (status = 422, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn set_store(
    State(service): State<Arc<dyn BackupService>>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(body): ApiJson<BackupStoreSpec>,
) -> ApiResult<Json<BackupStoreView>> {
    let who = authorize::<rights::ManageBackups>(ctx.principal.as_ref())?;
    Ok(Json(service.set_backup_store(who, body).await?))
}

/// The default backup policy: what departments without their own follow.
#[utoipa::path(get, path = "/api/v1/backup-policy", tag = "backups",
    responses((status = 200, body = BackupPolicy)),
    security(("session" = []), ("bearer" = [])))]
pub async fn default_policy(
    State(service): State<Arc<dyn BackupService>>,
    Extension(ctx): Extension<RequestContext>,
) -> ApiResult<Json<BackupPolicy>> {
    let who = authorize::<rights::ManageBackups>(ctx.principal.as_ref())?;
    Ok(Json(service.default_backup_policy(who).await?))
}

/// Sets the default backup policy.
#[utoipa::path(put, path = "/api/v1/backup-policy", tag = "backups",
    request_body = BackupPolicy,
    responses((status = 200, body = BackupPolicy), (status = 422, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn set_default_policy(
    State(service): State<Arc<dyn BackupService>>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(body): ApiJson<BackupPolicy>,
) -> ApiResult<Json<BackupPolicy>> {
    let who = authorize::<rights::ManageBackups>(ctx.principal.as_ref())?;
    Ok(Json(service.set_default_backup_policy(who, body).await?))
}

/// A department's own backup policy and the one that applies to it.
#[utoipa::path(get, path = "/api/v1/departments/{id}/backup-policy", tag = "backups",
    params(("id" = i64, Path)),
    responses((status = 200, body = DepartmentBackupPolicy),
              (status = 404, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn department_policy(
    State(service): State<Arc<dyn BackupService>>,
    Extension(ctx): Extension<RequestContext>,
    IdPath(id): IdPath,
) -> ApiResult<Json<DepartmentBackupPolicy>> {
    let who = authorize::<rights::ManageMembers>(ctx.principal.as_ref())?;
    Ok(Json(service.department_backup_policy(who, id).await?))
}

/// Gives the department a policy of its own (its sub-departments follow
/// it unless they have their own).
#[utoipa::path(put, path = "/api/v1/departments/{id}/backup-policy", tag = "backups",
    params(("id" = i64, Path)), request_body = BackupPolicy,
    responses((status = 200, body = DepartmentBackupPolicy),
              (status = 404, body = super::ErrorBody), (status = 422, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn set_department_policy(
    State(service): State<Arc<dyn BackupService>>,
    Extension(ctx): Extension<RequestContext>,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<BackupPolicy>,
) -> ApiResult<Json<DepartmentBackupPolicy>> {
    let who = authorize::<rights::ManageMembers>(ctx.principal.as_ref())?;
    Ok(Json(
        service
            .set_department_backup_policy(who, id, Some(body))
            .await?,
    ))
}

/// Removes the department's own policy: it follows its parent's again.
#[utoipa::path(delete, path = "/api/v1/departments/{id}/backup-policy", tag = "backups",
    params(("id" = i64, Path)),
    responses((status = 200, body = DepartmentBackupPolicy),
              (status = 404, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn clear_department_policy(
    State(service): State<Arc<dyn BackupService>>,
    Extension(ctx): Extension<RequestContext>,
    IdPath(id): IdPath,
) -> ApiResult<Json<DepartmentBackupPolicy>> {
    let who = authorize::<rights::ManageMembers>(ctx.principal.as_ref())?;
    Ok(Json(
        service.set_department_backup_policy(who, id, None).await?,
    ))
}
