use leptos::prelude::*;
use leptos_meta::{MetaTags, Title, provide_meta_context};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{Lazy, SsrMode, path};

use crate::pages::{
    AccountRoute, ApprovalsRoute, AppsSettingsRoute, AuditRoute, BackupsRoute, ConsoleRoute,
    DashboardPage, DepartmentRoute, DepartmentsRoute, DeployRoute, DirectoryRoute, GraphicsRoute,
    HostsRoute, InstanceRoute, InstancesRoute, LoginPage, NetworksRoute, NotFoundPage,
    NotificationsRoute, SetupRoute, TokensRoute, VersionsRoute,
};

/// The Content-Security-Policy of a page: its scripts are the site's own
/// files and the inline ones that carry this response's nonce (the
/// hydration loader and the resources Leptos serializes); the wasm may be
/// compiled; nothing may frame it. Style elements may carry the nonce
/// too: the console page's terminal (xterm.js) makes its own, and the
/// page's script gives them the nonce. The graphics page's noVNC is ES
/// modules from the site's own files, and its WebSocket is the portal's
/// (`connect-src 'self'`). Images may be `data:` URLs too, for
/// the authenticator app's QR code (an SVG made on the server; an SVG
/// shown as an image runs no script and loads nothing).
#[cfg(feature = "ssr")]
fn content_security_policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self' 'nonce-{nonce}'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// The stylesheet's address, found once: Leptos's `HashedStylesheet`
/// reads the hash file from disk for every page it renders.
fn stylesheet_href(options: &LeptosOptions) -> &'static str {
    static HREF: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HREF.get_or_init(|| {
        let hash = options
            .hash_files
            .then(|| std::fs::read_to_string(options.hash_file.as_ref()).ok())
            .flatten()
            .and_then(|hashes| {
                hashes.lines().find_map(|line| {
                    let (file, hash) = line.split_once(':')?;
                    (file.trim() == "css").then(|| hash.trim().to_owned())
                })
            });
        let name = match hash {
            Some(hash) => format!("{}.{hash}", options.output_name),
            None => options.output_name.to_string(),
        };
        format!("/{}/{name}.css", options.site_pkg_dir)
    })
}

/// The HTML document the server renders around the app.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let (Some(nonce), Some(response)) = (
        leptos::nonce::use_nonce(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) && let Ok(value) =
        axum::http::HeaderValue::from_str(&content_security_policy(&nonce.to_string()))
    {
        response.insert_header(axum::http::header::CONTENT_SECURITY_POLICY, value);
    }
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <AutoReload options=options.clone() />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <link id="leptos" rel="stylesheet" href=stylesheet_href(&options) />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    crate::live::LiveFeed::provide();
    crate::components::OpenConfirms::provide();
    view! {
        <Title formatter=|title: String| format!("{title} · dpe") />
        // Async rendering: pages arrive complete, so they read well with
        // JavaScript off (out-of-order streaming needs JS to place content).
        <Router>
            <Routes fallback=NotFoundPage>
                <Route path=path!("/") ssr=SsrMode::Async view=DashboardPage />
                <Route path=path!("/setup") ssr=SsrMode::Async view={Lazy::<SetupRoute>::new()} />
                <Route path=path!("/login") ssr=SsrMode::Async view=LoginPage />
                <Route path=path!("/tokens") ssr=SsrMode::Async view={Lazy::<TokensRoute>::new()} />
                <Route path=path!("/account") ssr=SsrMode::Async view={Lazy::<AccountRoute>::new()} />
                <Route path=path!("/instances") ssr=SsrMode::Async view={Lazy::<InstancesRoute>::new()} />
                <Route path=path!("/instances/:id") ssr=SsrMode::Async view={Lazy::<InstanceRoute>::new()} />
                <Route path=path!("/instances/:id/console") ssr=SsrMode::Async view={Lazy::<ConsoleRoute>::new()} />
                <Route path=path!("/instances/:id/graphics") ssr=SsrMode::Async view={Lazy::<GraphicsRoute>::new()} />
                <Route path=path!("/deploy") ssr=SsrMode::Async view={Lazy::<DeployRoute>::new()} />
                <Route path=path!("/networks") ssr=SsrMode::Async view={Lazy::<NetworksRoute>::new()} />
                <Route path=path!("/hosts") ssr=SsrMode::Async view={Lazy::<HostsRoute>::new()} />
                <Route path=path!("/departments") ssr=SsrMode::Async view={Lazy::<DepartmentsRoute>::new()} />
                <Route path=path!("/departments/:id") ssr=SsrMode::Async view={Lazy::<DepartmentRoute>::new()} />
                <Route path=path!("/audit") ssr=SsrMode::Async view={Lazy::<AuditRoute>::new()} />
                <Route path=path!("/approvals") ssr=SsrMode::Async view={Lazy::<ApprovalsRoute>::new()} />
                <Route path=path!("/backups") ssr=SsrMode::Async view={Lazy::<BackupsRoute>::new()} />
                <Route path=path!("/directory") ssr=SsrMode::Async view={Lazy::<DirectoryRoute>::new()} />
                <Route path=path!("/settings/apps") ssr=SsrMode::Async view={Lazy::<AppsSettingsRoute>::new()} />
                <Route path=path!("/settings/versions") ssr=SsrMode::Async view={Lazy::<VersionsRoute>::new()} />
                <Route path=path!("/settings/notifications") ssr=SsrMode::Async view={Lazy::<NotificationsRoute>::new()} />
            </Routes>
        </Router>
    }
}
