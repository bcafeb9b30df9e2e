//! Request guards: no cross-site state changes, and pages that send the
//! visitor where they have to go (setup first, then sign-in).

use app::error::AppError;
use std::sync::Arc;

use app::service::{RequestContext, SetupService};
use axum::extract::{Request, State};
use axum::http::header::ORIGIN;
use axum::http::{HeaderMap, Method, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use super::api::ApiError;
use crate::addressing::origin::{PortalOrigin, WebOrigin};

/// Whether a state-changing request comes from another site. Browsers send
/// `Origin` on every POST, PUT, PATCH and DELETE; clients without one
/// (curl, scripts with a token) are not browsers and carry no ambient
/// credentials to abuse.
fn is_cross_origin(portal: &PortalOrigin, uri: &Uri, headers: &HeaderMap) -> bool {
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"cross-site")
    {
        return true;
    }
    let Some(origin) = headers.get(ORIGIN) else {
        return false;
    };
    let origin = origin.to_str().ok().and_then(WebOrigin::parse);
    match (origin, portal.for_request(uri, headers)) {
        (Some(origin), Some(portal)) => origin != portal,
        // "null", garbage, or no authority to compare with
        (None, _) | (_, None) => true,
    }
}

pub async fn same_origin(
    State(portal): State<PortalOrigin>,
    request: Request,
    next: Next,
) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if !safe && is_cross_origin(&portal, request.uri(), request.headers()) {
        tracing::warn!(
            path = %request.uri().path(),
            origin = ?request.headers().get(ORIGIN),
            "cross-origin request refused"
        );
        return ApiError(AppError::CrossOrigin).into_response();
    }
    next.run(request).await
}

/// Paths that are not pages: assets, server functions, the API.
fn is_page(path: &str) -> bool {
    !(path.starts_with("/pkg/")
        || path.starts_with("/fn/")
        || path.starts_with("/api/")
        || path == "/favicon.ico"
        || path == super::metrics::PATH)
}

/// API endpoints that work before setup.
fn open_before_setup(path: &str) -> bool {
    matches!(
        path,
        "/api/v1/health" | "/api/v1/setup" | "/api/v1/openapi.json"
    )
}

pub async fn pages(
    State(setup): State<Arc<dyn SetupService>>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let set_up = setup.is_set_up();
    if path.starts_with("/api/") && !set_up && !open_before_setup(path) {
        return ApiError(AppError::SetupRequired).into_response();
    }
    if request.method() != Method::GET || !is_page(path) {
        return next.run(request).await;
    }
    let signed_in = request
        .extensions()
        .get::<RequestContext>()
        .is_some_and(|c| c.principal.is_some());
    let target = match (set_up, path, signed_in) {
        (false, "/setup", _) => None,
        (false, _, _) => Some("/setup"),
        (true, "/setup", true) | (true, "/login", true) => Some("/"),
        (true, "/setup", false) => Some("/login"),
        (true, "/login", false) => None,
        (true, _, false) => Some("/login"),
        (true, _, true) => None,
    };
    match target {
        // Opening an application comes back here once signed in.
        Some("/login") if path == crate::gateway::PORTAL_ENTER_PATH => {
            let here = request.uri().path_and_query().map_or(path, |p| p.as_str());
            let query = serde_urlencoded::to_string([("next", here)]).unwrap_or_default();
            Redirect::to(&format!("/login?{query}")).into_response()
        }
        Some(to) => Redirect::to(to).into_response(),
        None => next.run(request).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    const LISTENER: PortalOrigin = PortalOrigin::Listener { secure: true };

    fn cross(portal: &PortalOrigin, uri: &str, pairs: &[(&'static str, &'static str)]) -> bool {
        is_cross_origin(portal, &uri.parse().unwrap(), &headers(pairs))
    }

    #[test]
    fn origins_must_match_the_host() {
        assert!(!cross(&LISTENER, "/", &[("host", "dpe.lan:8443")]));
        assert!(!cross(
            &LISTENER,
            "/",
            &[("host", "dpe.lan:8443"), ("origin", "https://dpe.lan:8443")]
        ));
        assert!(cross(
            &LISTENER,
            "/",
            &[("host", "dpe.lan"), ("origin", "https://evil.example")]
        ));
        assert!(cross(
            &LISTENER,
            "/",
            &[("host", "dpe.lan"), ("origin", "null")]
        ));
        assert!(cross(
            &LISTENER,
            "/",
            &[("host", "dpe.lan"), ("sec-fetch-site", "cross-site")]
        ));
    }

    #[test]
    fn an_http2_post_from_the_portals_own_page_is_allowed() {
        // HTTP/2: the authority is in the URI and there is no Host header.
        let uri = "https://127.0.0.1:18443/api/v1/setup";
        assert!(!cross(
            &LISTENER,
            uri,
            &[("origin", "https://127.0.0.1:18443")]
        ));
        assert!(cross(
            &LISTENER,
            uri,
            &[("origin", "https://127.0.0.1:8443")]
        ));
        assert!(cross(
            &LISTENER,
            uri,
            &[("origin", "http://127.0.0.1:18443")]
        ));
        assert!(cross(
            &LISTENER,
            uri,
            &[("origin", "https://localhost:18443")]
        ));
    }

    #[test]
    fn the_scheme_and_default_ports_count() {
        assert!(!cross(
            &LISTENER,
            "/",
            &[("host", "dpe.lan"), ("origin", "https://dpe.lan")]
        ));
        assert!(cross(
            &LISTENER,
            "/",
            &[("host", "dpe.lan"), ("origin", "http://dpe.lan")]
        ));
        let plain = PortalOrigin::Listener { secure: false };
        assert!(!cross(
            &plain,
            "/",
            &[("host", "dpe.lan"), ("origin", "http://dpe.lan:80")]
        ));
        assert!(cross(
            &plain,
            "/",
            &[("host", "dpe.lan"), ("origin", "https://dpe.lan")]
        ));
    }

    #[test]
    fn a_configured_public_origin_overrides_the_host() {
        let behind_proxy =
            PortalOrigin::Configured(WebOrigin::parse("https://dpe.example.org").unwrap());
        assert!(!cross(
            &behind_proxy,
            "/",
            &[
                ("host", "127.0.0.1:8080"),
                ("origin", "https://dpe.example.org")
            ]
        ));
        assert!(cross(
            &behind_proxy,
            "/",
            &[
                ("host", "127.0.0.1:8080"),
                ("origin", "http://127.0.0.1:8080")
            ]
        ));
    }
}
