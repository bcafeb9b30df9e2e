//! The console page's WebSocket (`/instances/{id}/console/ws`): the
//! guest's serial line, both ways. Binary frames carry bytes (keystrokes
//! in, output out); text frames carry [`ConsoleControl`] requests.
//!
//! A WebSocket opens with a GET, which the cross-origin guard lets
//! through (GETs change nothing, elsewhere), and browsers send cookies
//! with it whatever its origin: so this handler insists on the portal's
//! own `Origin` itself before anything else.

use std::sync::Arc;
use std::time::Duration;

use app::error::AppError;
use app::model::ConsoleControl;
use app::policy::{authorize, rights};
use app::service::{ConsoleService, ConsoleSession, RequestContext};
use axum::Extension;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{Path, State};
use axum::http::header::ORIGIN;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};

use super::api::ApiError;
use crate::addressing::origin::{PortalOrigin, WebOrigin};

/// How often a quiet console is pinged, so that a proxy's read timeout
/// (often 60 s) does not cut it.
pub(super) const KEEPALIVE: Duration = Duration::from_secs(25);

/// Whether the request comes from a page of the portal itself: it must
/// say so (browsers always send `Origin` with a WebSocket).
fn from_portal(portal: &PortalOrigin, uri: &Uri, headers: &HeaderMap) -> bool {
    let origin = headers
        .get(ORIGIN)
        .and_then(|o| o.to_str().ok())
        .and_then(WebOrigin::parse);
    match (origin, portal.for_request(uri, headers)) {
        (Some(origin), Some(portal)) => origin == portal,
        (None, _) | (_, None) => false,
    }
}

/// A WebSocket request from a page of the portal, whose session `open`
/// opens (authorizing first), handed to `relay`; a foreign origin, or a
/// refusal, is answered as the API answers it. The serial console's and
/// the display's sockets (`graphics.rs`) both open this way.
pub(super) async fn upgrade_from_portal<S, R>(
    portal: &PortalOrigin,
    uri: &Uri,
    headers: &HeaderMap,
    upgrade: WebSocketUpgrade,
    open: impl Future<Output = Result<S, AppError>>,
    relay: impl FnOnce(WebSocket, S) -> R + Send + 'static,
) -> Response
where
    S: Send + 'static,
    R: Future<Output = ()> + Send + 'static,
{
    if !from_portal(portal, uri, headers) {
        tracing::warn!(origin = ?headers.get(ORIGIN), path = uri.path(),
            "WebSocket from another origin refused");
        return ApiError(AppError::CrossOrigin).into_response();
    }
    match open.await {
        Ok(session) => upgrade
            .on_upgrade(move |socket| relay(socket, session))
            .into_response(),
        Err(e) => ApiError(e).into_response(),
    }
}

/// Ends a relay: a normal close saying why.
pub(super) async fn close(mut socket: WebSocket, why: &'static str) {
    let frame = CloseFrame {
        code: close_code::NORMAL,
        reason: why.into(),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

pub async fn socket(
    State(service): State<Arc<dyn ConsoleService>>,
    State(portal): State<PortalOrigin>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<i64>,
    uri: Uri,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let open = async {
        let who = authorize::<rights::UseInstances>(ctx.principal.as_ref())?;
        service.open_console(who, id).await
    };
    upgrade_from_portal(&portal, &uri, &headers, upgrade, open, relay).await
}

/// Carries bytes between the browser and the line until either ends.
async fn relay(mut socket: WebSocket, mut session: Box<dyn ConsoleSession>) {
    let scrollback = session.take_scrollback();
    if !scrollback.is_empty()
        && socket
            .send(Message::Binary(scrollback.into()))
            .await
            .is_err()
    {
        return;
    }
    let mut keepalive = tokio::time::interval(KEEPALIVE);
    keepalive.tick().await;
    let ended = loop {
        tokio::select! {
            out = session.output() => match out {
                Some(bytes) => {
                    if socket.send(Message::Binary(bytes.into())).await.is_err() {
                        return;
                    }
                }
                None => break "the console ended",
            },
            message = socket.recv() => match message {
                Some(Ok(Message::Binary(bytes))) => {
                    if session.input(bytes.to_vec()).await.is_err() {
                        break "the console cannot be written";
                    }
                }
                Some(Ok(Message::Text(text))) => {
                    match serde_json::from_str::<ConsoleControl>(&text) {
                        Ok(ConsoleControl::Resize { rows, cols }) => {
                            // An impossible size is ignored: it was never typed.
                            if let Err(e) = session.resize(rows, cols).await {
                                tracing::debug!(error = %e, "console resize refused");
                            }
                        }
                        Err(_) => break "unknown request",
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
            },
            _ = keepalive.tick() => {
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    return;
                }
            }
        }
    };
    close(socket, ended).await;
}
