//! The site's static files: the wasm bundle, its JavaScript and the
//! stylesheet that `scripts/build` writes under content-hashed names, each
//! precompressed (brotli, gzip) beside itself, and the icon.

use std::path::Path;

use axum::Router;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use leptos::prelude::LeptosOptions;
use tower_http::services::ServeDir;

/// The file in the site's root that names the hashed files (written by
/// `scripts/build`, read by Leptos's `HydrationScripts` and
/// `HashedStylesheet`).
const HASH_FILE: &str = "hash.txt";

/// A hashed name never changes content, so browsers may keep it a year
/// without asking again.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The portal's icon: browsers ask for one on every page, and a missing
/// one is a 404 in every console.
const ICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#1f5fbf"/><path d="M9 8h7a8 8 0 0 1 0 16H9z" fill="none" stroke="#fff" stroke-width="3"/></svg>"##;

/// Leptos's options for this site. With a hash file the page names the
/// hashed files; Leptos looks for that file beside the running binary
/// unless its path is absolute, and the binary (`/usr/bin/dpe` on the
/// appliance) does not live with its site.
pub fn leptos_options(site_dir: &Path) -> LeptosOptions {
    let hash_file = std::path::absolute(site_dir.join(HASH_FILE)).ok();
    let hashed = hash_file.as_ref().is_some_and(|f| f.is_file());
    let builder = LeptosOptions::builder()
        .output_name("dpe")
        .site_root(site_dir.display().to_string())
        .site_pkg_dir("pkg")
        .hash_files(hashed);
    match hash_file {
        Some(file) if hashed => builder.hash_file(file.display().to_string().into()).build(),
        Some(_) | None => builder.build(),
    }
}

/// Long-lived caching for what was found; errors are not cached.
async fn cache_forever(response: Response) -> Response {
    let mut response = response;
    if response.status() == StatusCode::OK {
        response
            .headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    }
    response
}

async fn icon() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "image/svg+xml"),
            (CACHE_CONTROL, "public, max-age=86400"),
        ],
        ICON,
    )
}

/// `/pkg/…` and `/favicon.svg`, outside the session and page layers.
pub fn router(site_dir: &Path) -> Router {
    let assets = ServeDir::new(site_dir.join("pkg"))
        .precompressed_br()
        .precompressed_gzip();
    Router::new()
        .nest_service("/pkg", assets)
        .layer(axum::middleware::map_response(cache_forever))
        .route("/favicon.svg", get(icon))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_hash_file_the_plain_names_are_used() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!leptos_options(dir.path()).hash_files);
    }

    #[test]
    fn the_hash_file_is_found_in_the_site_wherever_the_binary_is() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(HASH_FILE), "js: a\nwasm: b\ncss: c\n").unwrap();
        let options = leptos_options(dir.path());
        assert!(options.hash_files);
        assert!(Path::new(options.hash_file.as_ref()).is_absolute());
        assert!(Path::new(options.hash_file.as_ref()).is_file());
    }
}
