use std::sync::Arc;

use app::model::{
    AddHost, AdoptRequest, Adopted, HostCredentialsView, HostMode, HostStatus, Leftovers,
    MoveRequest, ServerCertificateBundle, ServerCertificateRequest,
};
use app::policy::{authorize, rights};
use app::service::{HostService, RequestContext};
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};

use super::{ApiJson, ApiResult, IdPath};

/// The host pool with each host's live status (admins).
#[utoipa::path(get, path = "/api/v1/hosts", tag = "hosts",
    responses((status = 200, body = [HostStatus]), (status = 403, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn list(
    State(service): State<Arc<dyn HostService>>,
    Extension(ctx): Extension<RequestContext>,
) -> ApiResult<Json<Vec<HostStatus>>> {
    let who = authorize::<rights::ManageHosts>(ctx.principal.as_ref())?;
    Ok(Json(service.hosts(who).await?))
}

/// Adds a libvirt host after probing it (admins).
#[utoipa::path(post, path = "/api/v1/hosts", tag = "hosts", request_body = AddHost,
    responses((status = 201, body = HostStatus),
        (status = 409, body = super::ErrorBody, description = "A host with that name or URI exists"),
        (status = 422, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn add(
    State(service): State<Arc<dyn HostService>>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(body): ApiJson<AddHost>,
) -> ApiResult<(StatusCode, Json<HostStatus>)> {
    let who = authorize::<rights::ManageHosts>(ctx.principal.as_ref())?;
    Ok((
        StatusCode::CREATED,
        Json(service.add_host(who, body).await?),
    ))
}

/// dpe's own CA certificate and SSH public key: what a remote host
/// installs to let dpe in (admins).
#[utoipa::path(get, path = "/api/v1/hosts/credentials", tag = "hosts",
    responses((status = 200, body = HostCredentialsView), (status = 403, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn credentials(
    State(service): State<Arc<dyn HostService>>,
    Extension(ctx): Extension<RequestContext>,
) -> ApiResult<Json<HostCredentialsView>> {
    let who = authorize::<rights::ManageHosts>(ctx.principal.as_ref())?;
    Ok(Json(service.host_credentials(who).await?))
}

/// Issues a `qemu+tls` host's server certificate and key from dpe's CA,
/// with the files to install and the steps on the host; the key is shown
/// this once (admins).
#[utoipa::path(post, path = "/api/v1/hosts/server-certificate", tag = "hosts",
    request_body = ServerCertificateRequest,
    responses((status = 201, body = ServerCertificateBundle), (status = 403, body = super::ErrorBody),
        (status = 422, body = super::ErrorBody, description = "Not a host name or address")),
    security(("session" = []), ("bearer" = [])))]
pub async fn server_certificate(
    State(service): State<Arc<dyn HostService>>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(body): ApiJson<ServerCertificateRequest>,
) -> ApiResult<(StatusCode, Json<ServerCertificateBundle>)> {
    let who = authorize::<rights::ManageHosts>(ctx.principal.as_ref())?;
    Ok((
        StatusCode::CREATED,
        Json(service.issue_server_certificate(who, body).await?),
    ))
}

/// Removes a host that holds no instances (admins).
#[utoipa::path(delete, path = "/api/v1/hosts/{id}", tag = "hosts", params(("id" = i64, Path)),
    responses((status = 204), (status = 409, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn remove(
    State(service): State<Arc<dyn HostService>>,
    Extension(ctx): Extension<RequestContext>,
    IdPath(id): IdPath,
) -> ApiResult<StatusCode> {
    let who = authorize::<rights::ManageHosts>(ctx.principal.as_ref())?;
    service.remove_host(who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Moves the instance to another host, as a task (202 with its id): live
/// when it runs (it keeps running while its disk is copied), stopped when
/// it is stopped. Refused (409) while it has snapshots (libvirt cannot move
/// them), is busy or is not ready, or when the host is being drained or
/// has no room; 422 when the host is the one it is on, or one reached
/// through a local socket (admins).
#[utoipa::path(post, path = "/api/v1/instances/{id}/move", tag = "hosts",
    params(("id" = i64, Path)), request_body = MoveRequest,
    responses((status = 202, body = super::instances::TaskStarted),
        (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody),
        (status = 409, body = super::ErrorBody), (status = 422, body = super::ErrorBody),
        (status = 503, body = super::ErrorBody, description = "A host does not answer")),
    security(("session" = []), ("bearer" = [])))]
pub async fn move_instance(
    State(service): State<Arc<dyn HostService>>,
    Extension(ctx): Extension<RequestContext>,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<MoveRequest>,
) -> ApiResult<(StatusCode, Json<super::instances::TaskStarted>)> {
    let who = authorize::<rights::ManageHosts>(ctx.principal.as_ref())?;
    let task_id = service.move_instance(who, id, body).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(super::instances::TaskStarted { task_id }),
    ))
}

/// Drains the host: it takes no new instances or warm-pool members, its
/// members are removed and its instances moved to other hosts one at a
/// time (each where a deploy would go). Drained once it holds none
/// (admins).
#[utoipa::path(post, path = "/api/v1/hosts/{id}/drain", tag = "hosts", params(("id" = i64, Path)),
    responses((status = 200, body = HostStatus), (status = 403, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn drain(
    State(service): State<Arc<dyn HostService>>,
    Extension(ctx): Extension<RequestContext>,
    IdPath(id): IdPath,
) -> ApiResult<Json<HostStatus>> {
    let who = authorize::<rights::ManageHosts>(ctx.principal.as_ref())?;
    Ok(Json(
        service.set_host_mode(who, id, HostMode::Draining).await?,
    ))
}

/// Ends a drain: the host takes new instances again; what was moved
/// stays where it went (admins).
#[utoipa::path(post, path = "/api/v1/hosts/{id}/resume", tag = "hosts", params(("id" = i64, Path)),
    responses((status = 200, body = HostStatus), (status = 403, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn resume(
    State(service): State<Arc<dyn HostService>>,
    Extension(ctx): Extension<RequestContext>,
    IdPath(id): IdPath,
) -> ApiResult<Json<HostStatus>> {
    let who = authorize::<rights::ManageHosts>(ctx.principal.as_ref())?;
    Ok(Json(
        service.set_host_mode(who, id, HostMode::Active).await?,
    ))
}

/// dpe's own leftovers with no record (domains, volumes): those the
/// reconciler keeps while the store is a restored one (`dpe
/// restore-store`), and those it removed (admins).
#[utoipa::path(get, path = "/api/v1/orphans", tag = "hosts",
    responses((status = 200, body = Leftovers), (status = 403, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn orphans(
    State(service): State<Arc<dyn HostService>>,
    Extension(ctx): Extension<RequestContext>,
) -> ApiResult<Json<Leftovers>> {
    let who = authorize::<rights::ManageHosts>(ctx.principal.as_ref())?;
    Ok(Json(service.leftovers(who).await?))
}

/// Records a guest kept after a restored store as an instance again, of
/// the owner its metadata names or of `owner`, ready on its host (admins).
/// 404: no kept guest has that UUID; 409: it carries no record, its size
/// is none of the stack's, its name is taken, or the quota is full; 422:
/// no such owner.
#[utoipa::path(post, path = "/api/v1/orphans/adopt", tag = "hosts", request_body = AdoptRequest,
    responses((status = 200, body = Adopted), (status = 403, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody),
        (status = 422, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn adopt_orphan(
    State(service): State<Arc<dyn HostService>>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(request): ApiJson<AdoptRequest>,
) -> ApiResult<Json<Adopted>> {
    let who = authorize::<rights::ManageHosts>(ctx.principal.as_ref())?;
    Ok(Json(service.adopt_leftover(who, request).await?))
}

/// Lets the reconciler remove what it keeps after a restored store: from
/// its next pass, at once, they are gone for good (admins). 409 when
/// nothing is kept.
#[utoipa::path(post, path = "/api/v1/orphans/release", tag = "hosts",
    responses((status = 200, body = Leftovers), (status = 403, body = super::ErrorBody),
        (status = 409, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn release_orphans(
    State(service): State<Arc<dyn HostService>>,
    Extension(ctx): Extension<RequestContext>,
) -> ApiResult<Json<Leftovers>> {
    let who = authorize::<rights::ManageHosts>(ctx.principal.as_ref())?;
    Ok(Json(service.release_leftovers(who).await?))
}
