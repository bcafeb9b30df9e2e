//! Who is asking: resolves the bearer token or the session to a principal
//! and hands a `RequestContext` to the handlers.

use std::net::SocketAddr;
use std::sync::Arc;

use app::error::AppError;
use app::model::TokenScope;
use app::service::{AuditService, Credential, REFUSED_HEADER, RequestContext, SessionService};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_sessions::Session;

use super::SessionLifetime;
use super::api::ApiError;
use crate::addressing::origin::PortalOrigin;

use crate::auth::{SESSION_SIGNED_IN_AT, SESSION_USER};

/// Whether a signed-in session is younger than `max_secs`. A session from
/// before sign-in times were kept starts its clock now.
async fn within_lifetime(session: &Session, max_secs: i64) -> bool {
    let now = crate::store::now();
    match session.get::<i64>(SESSION_SIGNED_IN_AT).await {
        Ok(Some(at)) => now - at < max_secs,
        Ok(None) => session.insert(SESSION_SIGNED_IN_AT, now).await.is_ok(),
        Err(_) => false,
    }
}

// One argument per extractor, as axum middleware takes them.
#[allow(clippy::too_many_arguments)]
pub async fn resolve(
    State(sessions): State<Arc<dyn SessionService>>,
    State(audit): State<Arc<dyn AuditService>>,
    State(lifetime): State<SessionLifetime>,
    State(portal): State<PortalOrigin>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    session: Session,
    mut request: Request,
    next: Next,
) -> Response {
    // An Authorization header that is there must be a bearer token; any
    // other (Basic, garbage) is refused rather than passed over in favour
    // of the session cookie.
    let bearer = match request.headers().get(AUTHORIZATION) {
        None => None,
        Some(value) => match value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            Some(token) => Some(token.to_owned()),
            None => return ApiError(AppError::Unauthenticated).into_response(),
        },
    };
    let principal = match &bearer {
        Some(secret) => match sessions.principal_for_token(secret).await {
            Ok(Some(p)) => Some(p),
            // A wrong token is an error, never a silent fall back to anonymous.
            Ok(None) => return ApiError(AppError::Unauthenticated).into_response(),
            Err(e) => return ApiError(e).into_response(),
        },
        None => match session.get::<i64>(SESSION_USER).await {
            Ok(Some(_)) if !within_lifetime(&session, lifetime.max_secs).await => {
                // Past its absolute lifetime: signed out, whatever its use.
                if let Err(e) = session.flush().await {
                    tracing::warn!(error = %e, "could not end an expired session");
                }
                None
            }
            Ok(Some(user_id)) => match sessions.principal_for_user(user_id).await {
                Ok(p) => p,
                Err(e) => return ApiError(e).into_response(),
            },
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "unreadable session; treating as signed out");
                None
            }
        },
    };
    let principal = principal.map(|mut p| {
        p.address = Some(peer.ip().to_string());
        p
    });
    let what = format!("{} {}", request.method(), request.uri().path());
    // A metrics token opens nothing else, not even what needs no right
    // (pages, the health check): it is refused here, once for all.
    if let Some(p) = principal
        .as_ref()
        .filter(|p| p.scope == TokenScope::Metrics)
        && request.uri().path() != super::metrics::PATH
    {
        audit.record_refusal(Some(p), peer.ip(), what).await;
        return ApiError(AppError::MetricsOnly).into_response();
    }
    let portal_origin = portal
        .for_request(request.uri(), request.headers())
        .map(|o| o.to_string());
    let credential = match (&principal, bearer) {
        (None, _) => None,
        (Some(_), Some(secret)) => Some(Credential::Token(secret)),
        (Some(_), None) => session.id().map(|id| Credential::Session(id.to_string())),
    };
    let actor = principal.clone();
    request.extensions_mut().insert(RequestContext {
        principal,
        credential,
        peer: peer.ip(),
        session: Some(session),
        portal_origin,
    });
    let mut response = next.run(request).await;
    // Every refusal is audited here, once, whichever handler refused.
    let marked = response.headers_mut().remove(REFUSED_HEADER).is_some();
    if response.status() == StatusCode::FORBIDDEN || marked {
        audit.record_refusal(actor.as_ref(), peer.ip(), what).await;
    }
    response
}
