use std::convert::Infallible;
use std::sync::Arc;

use app::model::{
    AppsSettings, DeployAccepted, DeployRequest, InstancePatch, InstanceQuery, InstanceView,
    StackInfo, TaskKind, TaskView,
};
use app::policy::{authorize, rights};
use app::service::{InstanceService, RequestContext};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::{Extension, Json};
use futures::Stream;
use serde::Serialize;

use super::{ApiJson, ApiQuery, ApiResult, IdPath};

/// The stack users deploy: sizes and parameters.
#[utoipa::path(get, path = "/api/v1/stack", tag = "instances",
    responses((status = 200, body = StackInfo), (status = 401, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn stack(
    State(service): State<Arc<dyn InstanceService>>,
    Extension(ctx): Extension<RequestContext>,
) -> ApiResult<Json<StackInfo>> {
    let who = authorize::<rights::RequestDeploy>(ctx.principal.as_ref())?;
    Ok(Json(service.stack(who).await?))
}

/// Deploys an instance; the work runs as a task (202 with its id). Where
/// the department's approval policy asks for one, the deploy waits for
/// approval instead (202 with the request's id and no task), its quota
/// reserved.
#[utoipa::path(post, path = "/api/v1/instances", tag = "instances", request_body = DeployRequest,
    responses((status = 202, body = DeployAccepted),
              (status = 403, body = super::ErrorBody, description = "No right to deploy, and no approval offered"),
              (status = 409, body = super::ErrorBody),
              (status = 422, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn deploy(
    State(service): State<Arc<dyn InstanceService>>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(body): ApiJson<DeployRequest>,
) -> ApiResult<(StatusCode, Json<DeployAccepted>)> {
    let who = authorize::<rights::RequestDeploy>(ctx.principal.as_ref())?;
    Ok((StatusCode::ACCEPTED, Json(service.deploy(who, body).await?)))
}

/// One page of your instances (a department admin's departments' too;
/// all of them for admins), filtered, searched and sorted as the query
/// says. When more follow, the `Link` header's `rel="next"` address holds
/// the same query with the next page's `cursor`.
#[utoipa::path(get, path = "/api/v1/instances", tag = "instances", params(InstanceQuery),
    responses((status = 200, body = [InstanceView], headers(("Link" = String,
                description = "`<...&cursor=...>; rel=\"next\"` while more pages follow"))),
              (status = 422, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn list(
    State(service): State<Arc<dyn InstanceService>>,
    Extension(ctx): Extension<RequestContext>,
    ApiQuery(query): ApiQuery<InstanceQuery>,
) -> ApiResult<(HeaderMap, Json<Vec<InstanceView>>)> {
    let who = authorize::<rights::UseInstances>(ctx.principal.as_ref())?;
    let page = service.instances(who, query.clone()).await?;
    Ok(super::paged("/api/v1/instances", page, |next| {
        InstanceQuery {
            cursor: Some(next),
            ..query
        }
    }))
}

#[utoipa::path(get, path = "/api/v1/instances/{id}", tag = "instances",
    params(("id" = i64, Path)), responses((status = 200, body = InstanceView), (status = 404, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn get(
    State(service): State<Arc<dyn InstanceService>>,
    Extension(ctx): Extension<RequestContext>,
    IdPath(id): IdPath,
) -> ApiResult<Json<InstanceView>> {
    let who = authorize::<rights::UseInstances>(ctx.principal.as_ref())?;
    Ok(Json(service.instance(who, id).await?))
}

/// Changes an instance: who may open its application (`share`).
#[utoipa::path(patch, path = "/api/v1/instances/{id}", tag = "instances",
    params(("id" = i64, Path)), request_body = InstancePatch,
    responses((status = 200, body = InstanceView), (status = 404, body = super::ErrorBody),
              (status = 422, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn patch(
    State(service): State<Arc<dyn InstanceService>>,
    Extension(ctx): Extension<RequestContext>,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<InstancePatch>,
) -> ApiResult<Json<InstanceView>> {
    let who = authorize::<rights::UseInstances>(ctx.principal.as_ref())?;
    Ok(Json(service.patch(who, id, body).await?))
}

/// Where applications open: the portal's origin and the addressing.
#[utoipa::path(get, path = "/api/v1/settings/apps", tag = "instances",
    responses((status = 200, body = AppsSettings), (status = 401, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn apps_settings(
    State(service): State<Arc<dyn InstanceService>>,
    Extension(ctx): Extension<RequestContext>,
) -> ApiResult<Json<AppsSettings>> {
    let who = authorize::<rights::ViewSelf>(ctx.principal.as_ref())?;
    Ok(Json(service.apps_settings(who).await?))
}

/// Changes where applications open (admins); instances keep their ports.
#[utoipa::path(put, path = "/api/v1/settings/apps", tag = "instances",
    request_body = AppsSettings,
    responses((status = 200, body = AppsSettings), (status = 403, body = super::ErrorBody),
              (status = 422, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn set_apps_settings(
    State(service): State<Arc<dyn InstanceService>>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(body): ApiJson<AppsSettings>,
) -> ApiResult<Json<AppsSettings>> {
    let who = authorize::<rights::ConfigureGateway>(ctx.principal.as_ref())?;
    Ok(Json(service.set_apps_settings(who, body).await?))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TaskStarted {
    pub task_id: i64,
}

async fn act(
    service: Arc<dyn InstanceService>,
    ctx: RequestContext,
    id: i64,
    kind: TaskKind,
) -> ApiResult<(StatusCode, Json<TaskStarted>)> {
    let who = authorize::<rights::UseInstances>(ctx.principal.as_ref())?;
    let task_id = service.act(who, id, kind).await?;
    Ok((StatusCode::ACCEPTED, Json(TaskStarted { task_id })))
}

/// Powers the instance on.
#[utoipa::path(post, path = "/api/v1/instances/{id}/start", tag = "instances", params(("id" = i64, Path)),
    responses((status = 202, body = TaskStarted), (status = 409, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn start(
    State(service): State<Arc<dyn InstanceService>>,
    Extension(c): Extension<RequestContext>,
    IdPath(id): IdPath,
) -> ApiResult<(StatusCode, Json<TaskStarted>)> {
    act(service, c, id, TaskKind::Start).await
}

/// ACPI shutdown, forced off after the configured timeout.
#[utoipa::path(post, path = "/api/v1/instances/{id}/shutdown", tag = "instances", params(("id" = i64, Path)),
    responses((status = 202, body = TaskStarted), (status = 409, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn shutdown(
    State(service): State<Arc<dyn InstanceService>>,
    Extension(c): Extension<RequestContext>,
    IdPath(id): IdPath,
) -> ApiResult<(StatusCode, Json<TaskStarted>)> {
    act(service, c, id, TaskKind::Shutdown).await
}

#[utoipa::path(post, path = "/api/v1/instances/{id}/reboot", tag = "instances", params(("id" = i64, Path)),
    responses((status = 202, body = TaskStarted), (status = 409, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn reboot(
    State(service): State<Arc<dyn InstanceService>>,
    Extension(c): Extension<RequestContext>,
    IdPath(id): IdPath,
) -> ApiResult<(StatusCode, Json<TaskStarted>)> {
    act(service, c, id, TaskKind::Reboot).await
}

/// Pulls the plug.
#[utoipa::path(post, path = "/api/v1/instances/{id}/poweroff", tag = "instances", params(("id" = i64, Path)),
    responses((status = 202, body = TaskStarted), (status = 409, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn poweroff(
    State(service): State<Arc<dyn InstanceService>>,
    Extension(c): Extension<RequestContext>,
    IdPath(id): IdPath,
) -> ApiResult<(StatusCode, Json<TaskStarted>)> {
    act(service, c, id, TaskKind::Poweroff).await
}

/// Deletes the domain, its disk and its seed: nothing is left.
#[utoipa::path(delete, path = "/api/v1/instances/{id}", tag = "instances", params(("id" = i64, Path)),
    responses((status = 202, body = TaskStarted), (status = 409, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn delete(
    State(service): State<Arc<dyn InstanceService>>,
    Extension(c): Extension<RequestContext>,
    IdPath(id): IdPath,
) -> ApiResult<(StatusCode, Json<TaskStarted>)> {
    act(service, c, id, TaskKind::Delete).await
}

#[utoipa::path(get, path = "/api/v1/tasks/{id}", tag = "instances", params(("id" = i64, Path)),
    responses((status = 200, body = TaskView), (status = 404, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn task(
    State(service): State<Arc<dyn InstanceService>>,
    Extension(ctx): Extension<RequestContext>,
    IdPath(id): IdPath,
) -> ApiResult<Json<TaskView>> {
    let who = authorize::<rights::UseInstances>(ctx.principal.as_ref())?;
    Ok(Json(service.task(who, id).await?))
}

/// The task as Server-Sent Events: one `task` event with the whole
/// TaskView on every change, until it ends.
#[utoipa::path(get, path = "/api/v1/tasks/{id}/events", tag = "instances", params(("id" = i64, Path)),
    responses((status = 200, content_type = "text/event-stream", description = "TaskView events")),
    security(("session" = []), ("bearer" = [])))]
pub async fn task_events(
    State(service): State<Arc<dyn InstanceService>>,
    Extension(ctx): Extension<RequestContext>,
    IdPath(id): IdPath,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let who = authorize::<rights::UseInstances>(ctx.principal.as_ref())?;
    // An unknown task fails here (404), not inside the stream.
    let mut updates = service.subscribe_task(who, id).await?;
    let stream = async_stream::stream! {
        while let Some(view) = updates.next().await {
            if let Ok(json) = serde_json::to_string(&view) {
                yield Ok(Event::default().event("task").data(json));
            }
        }
    };
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
