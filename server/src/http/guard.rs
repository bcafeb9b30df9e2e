//! Request guards: no cross-site state changes, and pages that send the
//! visitor where they have to go (setup first, then sign-in).

use app::error::AppError;
use app::service::RequestContext;
use axum::extract::{Request, State};
use axum::http::header::{HOST, ORIGIN};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use super::HttpState;
use super::api::ApiError;

/// The authority (`host[:port]`) of an Origin header value.
fn origin_authority(origin: &str) -> Option<&str> {
    origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .map(|rest| rest.trim_end_matches('/'))
}

/// Whether a state-changing request comes from another site. Browsers send
/// `Origin` on every POST, PUT, PATCH and DELETE; clients without one
/// (curl, scripts with a token) are not browsers and carry no ambient
/// credentials to abuse.
fn is_cross_origin(headers: &HeaderMap) -> bool {
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"cross-site")
    {
        return true;
    }
    let Some(origin) = headers.get(ORIGIN) else {
        return false;
    };
    let host = headers.get(HOST).and_then(|h| h.to_str().ok());
    let origin = origin.to_str().ok().and_then(origin_authority);
    match (origin, host) {
        (Some(origin), Some(host)) => !origin.eq_ignore_ascii_case(host),
        // "null", garbage, or no Host to compare with
        _ => true,
    }
}

pub async fn same_origin(request: Request, next: Next) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if !safe && is_cross_origin(request.headers()) {
        tracing::warn!(path = %request.uri().path(), "cross-origin request refused");
        return ApiError(AppError::CrossOrigin).into_response();
    }
    next.run(request).await
}

/// Paths that are not pages: assets, server functions, the API.
fn is_page(path: &str) -> bool {
    !(path.starts_with("/pkg/")
        || path.starts_with("/fn/")
        || path.starts_with("/api/")
        || path == "/favicon.ico")
}

/// API endpoints that work before setup.
fn open_before_setup(path: &str) -> bool {
    matches!(
        path,
        "/api/v1/health" | "/api/v1/setup" | "/api/v1/openapi.json"
    )
}

pub async fn pages(State(state): State<HttpState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let set_up = state.appliance.is_set_up();
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

    #[test]
    fn origins_must_match_the_host() {
        assert!(!is_cross_origin(&headers(&[("host", "dpe.lan:8443")])));
        assert!(!is_cross_origin(&headers(&[
            ("host", "dpe.lan:8443"),
            ("origin", "https://dpe.lan:8443")
        ])));
        assert!(is_cross_origin(&headers(&[
            ("host", "dpe.lan"),
            ("origin", "https://evil.example")
        ])));
        assert!(is_cross_origin(&headers(&[
            ("host", "dpe.lan"),
            ("origin", "null")
        ])));
        assert!(is_cross_origin(&headers(&[
            ("host", "dpe.lan"),
            ("sec-fetch-site", "cross-site")
        ])));
    }
}
