//! `/api/v1/events`: live updates for the signed-in reader, as
//! Server-Sent Events.

use std::convert::Infallible;
use std::sync::Arc;

use app::policy::{authorize, rights};
use app::service::{EventService, LiveEvent, RequestContext};
use axum::Extension;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde_json::json;

use super::ApiResult;

/// The changes to the instances and tasks you may see, as they happen:
/// `instance` (an InstanceView), `instance_removed` (`{"id"}`), `task` (a
/// TaskView), `readings` (`{"at"}`: instances' use was read, every 10 s;
/// charts read theirs again), and `reset` (more happened than can be
/// told: read your lists again). Each event has an id; a client that reconnects with
/// `Last-Event-ID` (as browsers' EventSource does) continues after it.
/// The stream ends when you sign out or lose your account.
#[utoipa::path(get, path = "/api/v1/events", tag = "instances",
    params(("Last-Event-ID" = Option<String>, Header, description = "The last event's id")),
    responses((status = 200, content_type = "text/event-stream",
               description = "instance, instance_removed, task, readings and reset events"),
              (status = 401, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn events(
    State(service): State<Arc<dyn EventService>>,
    Extension(ctx): Extension<RequestContext>,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let who = authorize::<rights::UseInstances>(ctx.principal.as_ref())?;
    let Some(credential) = ctx.credential.clone() else {
        return Err(app::error::AppError::Unauthenticated.into());
    };
    // An id that is not ours is no position: the client starts now.
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let mut live = service.events(who, credential, after).await?;
    let stream = async_stream::stream! {
        while let Some(numbered) = live.next().await {
            let (name, data) = match numbered.event {
                LiveEvent::Instance(view) => ("instance", serde_json::to_string(&view)),
                LiveEvent::InstanceRemoved(id) => ("instance_removed", Ok(json!({"id": id}).to_string())),
                LiveEvent::Task(view) => ("task", serde_json::to_string(&view)),
                LiveEvent::Readings(at) => ("readings", Ok(json!({"at": at}).to_string())),
                LiveEvent::Reset => ("reset", Ok("{}".to_owned())),
            };
            if let Ok(data) = data {
                yield Ok(Event::default().event(name).id(numbered.id.to_string()).data(data));
            }
        }
    };
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
