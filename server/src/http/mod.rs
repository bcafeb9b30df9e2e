//! The HTTP edge: one axum router for the portal (pages and server
//! functions), the REST API and the site's static files.
//!
//! Layers, outermost first: tracing → compression → cross-origin guard →
//! sessions → request context (who is asking) → page guard (setup,
//! sign-in) → routes; pages and server functions run in a task of their
//! own, to the end even if the client leaves (`render`). The site's
//! static files sit beside that stack, under tracing and nothing else:
//! they need no session.

pub mod api;
pub mod certificate;
mod console;
mod context;
mod enter;
mod graphics;
mod guard;
pub mod metrics;
mod render;
mod site;
pub mod tls;

use std::sync::Arc;

use app::service::{Capability, SharedService};
use axum::Router;
use axum::body::Body;
use axum::extract::{FromRef, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use leptos::prelude::*;
use leptos_axum::{LeptosRoutes, generate_route_list, handle_server_fns_with_context};
use tower::ServiceBuilder;
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::addressing::origin::PortalOrigin;
use crate::appliance::Appliance;
use crate::config::Config;
use crate::gateway::{self, Gateway};
use crate::store::sessions::SqliteSessionStore;

/// What the edge holds: the service, and its own HTTP settings. Handlers
/// take from it only what they use, through `State`: one capability of the
/// service (`State<Arc<dyn TokenService>>`), or one setting.
#[derive(Clone)]
pub struct HttpState {
    /// Every capability; only the server functions' handler passes it on
    /// whole, as Leptos context, for each server function to narrow.
    pub service: SharedService,
    pub leptos: LeptosOptions,
    pub portal_origin: PortalOrigin,
    pub session_lifetime: SessionLifetime,
    /// The application gateway, for the portal's ticket page.
    pub gateway: Arc<Gateway>,
    /// The portal's requests so far, for `/metrics`.
    pub requests: Arc<metrics::RequestCounts>,
}

impl FromRef<HttpState> for Arc<metrics::RequestCounts> {
    fn from_ref(state: &HttpState) -> Self {
        state.requests.clone()
    }
}

impl FromRef<HttpState> for Arc<Gateway> {
    fn from_ref(state: &HttpState) -> Self {
        state.gateway.clone()
    }
}

/// A signed-in session's absolute lifetime, whatever its use.
#[derive(Clone, Copy, Debug)]
pub struct SessionLifetime {
    pub max_secs: i64,
}

impl FromRef<HttpState> for LeptosOptions {
    fn from_ref(state: &HttpState) -> Self {
        state.leptos.clone()
    }
}

impl FromRef<HttpState> for PortalOrigin {
    fn from_ref(state: &HttpState) -> Self {
        state.portal_origin.clone()
    }
}

impl FromRef<HttpState> for SessionLifetime {
    fn from_ref(state: &HttpState) -> Self {
        state.session_lifetime
    }
}

/// Any one capability of the service, e.g. `State<Arc<dyn HostService>>`.
impl<C: Capability + ?Sized> FromRef<HttpState> for Arc<C> {
    fn from_ref(state: &HttpState) -> Arc<C> {
        C::narrow(state.service.clone())
    }
}

/// The session cookie's name: the `__Host-` prefix makes browsers insist on
/// Secure, Path=/ and no Domain, so no sibling host can plant it.
pub fn session_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-dpe_session"
    } else {
        "dpe_session"
    }
}

async fn server_fns(State(state): State<HttpState>, request: Request<Body>) -> impl IntoResponse {
    let service = state.service.clone();
    handle_server_fns_with_context(move || provide_context(service.clone()), request).await
}

/// The session layer: cookie settings from the configuration, sessions
/// kept in the store.
fn session_layer(appliance: &Appliance) -> SessionManagerLayer<SqliteSessionStore> {
    let config = &appliance.config;
    SessionManagerLayer::new(SqliteSessionStore::new(appliance.store.clone()))
        .with_name(session_cookie_name(config.secure_cookies()))
        .with_secure(config.secure_cookies())
        .with_http_only(true)
        .with_same_site(SameSite::Strict)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(time::Duration::minutes(i64::from(
            config.session_idle_minutes,
        ))))
}

/// The headers every answer carries, pages, API and static files alike.
fn with_security_headers(router: Router, config: &Config) -> Router {
    router.layer(
        ServiceBuilder::new()
            .layer(SetResponseHeaderLayer::overriding(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ))
            .layer(SetResponseHeaderLayer::overriding(
                header::REFERRER_POLICY,
                HeaderValue::from_static("same-origin"),
            ))
            .layer(SetResponseHeaderLayer::overriding(
                header::X_FRAME_OPTIONS,
                HeaderValue::from_static("DENY"),
            ))
            // Browsers that once reached the portal over HTTPS never fall back.
            .layer(SetResponseHeaderLayer::if_not_present(
                header::STRICT_TRANSPORT_SECURITY,
                config
                    .serves_tls()
                    .then(|| HeaderValue::from_static("max-age=31536000")),
            )),
    )
}

/// The gateway for `appliance`: its applications' port from the stack,
/// the scheme of the portal's listener. A process builds one and shares
/// it between [`router`] and the applications' port listeners: it holds
/// the upstream connection pool and the `Via` pseudonym, which are the
/// gateway's, not one listener's.
pub fn gateway_of(appliance: &Arc<Appliance>) -> Arc<Gateway> {
    Gateway::new(
        appliance.clone(),
        appliance.engine.traffic.clone(),
        appliance.engine.stack().manifest.app.port,
        appliance.config.serves_tls(),
    )
}

/// The portal's router, which hands requests for an application's host
/// to `gateway` (made by [`gateway_of`]).
pub fn router(appliance: Arc<Appliance>, gateway: Arc<Gateway>) -> Router {
    let config = &appliance.config;
    let leptos = site::leptos_options(&config.site_dir);
    let service: SharedService = appliance.clone();
    let state = HttpState {
        service: service.clone(),
        leptos: leptos.clone(),
        portal_origin: config.portal_origin(),
        session_lifetime: SessionLifetime {
            max_secs: i64::from(config.session_max_hours) * 3600,
        },
        gateway: gateway.clone(),
        requests: Arc::default(),
    };
    let sessions = session_layer(&appliance);
    let routes = generate_route_list(app::App);
    let page_context = move || provide_context(service.clone());

    // Pages and server functions: what runs under a reactive Owner.
    let pages = Router::new().leptos_routes_with_context(&state, routes, page_context, {
        let leptos = leptos.clone();
        move || app::shell(leptos.clone())
    });
    let functions = Router::new().route("/fn/{*name}", post(server_fns).get(server_fns));
    let rendered = render::rendered(pages, functions);
    let portal = Router::new()
        .route(gateway::PORTAL_ENTER_PATH, get(enter::enter))
        .route("/instances/{id}/console/ws", get(console::socket))
        .route("/instances/{id}/vnc/ws", get(graphics::socket))
        .route(metrics::PATH, get(metrics::metrics))
        .merge(rendered)
        .nest("/api/v1", api::router())
        .fallback(leptos_axum::file_and_error_handler::<HttpState, _>(
            app::shell,
        ))
        // One layer of many: `Router::layer` boxes each route's service
        // once per call, and every request clones each level's box again.
        // As one stack (and the two below), a health check's CPU fell from
        // 27 to 19 µs; pages (350 to 500 µs) save as much, within noise.
        .layer(
            ServiceBuilder::new()
                // Outermost, to count every answer, refusals too.
                .layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    metrics::count,
                ))
                // HTML and JSON; event streams and the precompressed
                // assets are left as they are. At the fastest level:
                // at brotli's usual 4, compressing took as much CPU as
                // rendering, and halved the pages a second a browser
                // was served (`scripts/bench-portal`); a page is still a
                // tenth of its size.
                .layer(CompressionLayer::new().quality(CompressionLevel::Fastest))
                // Pages and API answers carry personal data and secrets.
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("no-store"),
                ))
                // Pages set their own policy, with the nonce of their one
                // script (app::shell); every other answer may load and be
                // framed by nothing.
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
                ))
                .layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    guard::same_origin,
                ))
                .layer(sessions)
                .layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    context::resolve,
                ))
                .layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    guard::pages,
                )),
        )
        .with_state(state)
        .merge(site::router(&config.site_dir));
    // Requests for an application's host skip every layer of the portal's.
    with_security_headers(portal, config).layer(
        ServiceBuilder::new()
            .layer(TraceLayer::new_for_http())
            .layer(axum::middleware::from_fn_with_state(
                gateway,
                gateway::dispatch,
            )),
    )
}
