//! The graphics page's WebSocket (`/instances/{id}/vnc/ws`): the guest's
//! display, RFB carried byte for byte in binary frames (noVNC speaks RFB
//! over a WebSocket itself). Same origin check and keepalive as the
//! serial console's (`console.rs`).

use std::sync::Arc;

use app::policy::{authorize, rights};
use app::service::{ConsoleService, GraphicsSession, RequestContext};
use axum::Extension;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;

use super::console::{KEEPALIVE, close, upgrade_from_portal};
use crate::addressing::origin::PortalOrigin;

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
        service.open_graphics(who, id).await
    };
    upgrade_from_portal(&portal, &uri, &headers, upgrade, open, relay).await
}

/// Carries bytes between the browser and the display until either ends.
async fn relay(mut socket: WebSocket, mut display: Box<dyn GraphicsSession>) {
    let mut keepalive = tokio::time::interval(KEEPALIVE);
    keepalive.tick().await;
    let ended = loop {
        tokio::select! {
            out = display.output() => match out {
                Some(bytes) => {
                    if socket.send(Message::Binary(bytes.into())).await.is_err() {
                        return;
                    }
                }
                None => break "the display closed",
            },
            message = socket.recv() => match message {
                Some(Ok(Message::Binary(bytes))) => {
                    if display.input(&bytes).await.is_err() {
                        break "the display cannot be written";
                    }
                }
                // RFB is bytes: a text frame is no part of it.
                Some(Ok(Message::Text(_))) => break "unknown request",
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
