//! The dpe portal: the Leptos UI, the server-function declarations and the
//! types shared between the browser and the server.
//!
//! The server crate depends on this one, never the other way round: server
//! functions reach the engine and the store through the narrow capability
//! traits of [`service`] (one each), which the server implements and
//! provides as context.

// The optimized wasm build computes the layout of deeply nested view types.
#![recursion_limit = "256"]

pub mod api;
mod components;
pub mod error;
mod live;
pub mod model;
pub mod org;
mod pages;
mod passkeys;
pub mod policy;
pub mod quota;
#[cfg(feature = "ssr")]
pub mod service;
mod shell;
pub mod validate;

pub use shell::{App, shell};

/// Entry point of the wasm bundle: hydrates the server-rendered page once
/// the chunks of its lazy route (if it is one) have arrived, as
/// `leptos::mount::hydrate_lazy` does, then marks the page live.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    use leptos::prelude::document;
    console_error_panic_hook::set_once();
    // hydrate_from_async starts Leptos's executor; until then, the
    // browser's microtask queue runs this.
    wasm_bindgen_futures::spawn_local(async {
        let Some(body) = document().body() else {
            return;
        };
        leptos::mount::hydrate_from_async(body, App).await.forget();
        // A mark that the page is live, for tests and for anyone who asks.
        if let Some(root) = document().document_element() {
            // Setting an attribute on <html> cannot fail.
            let _ = root.set_attribute("data-hydrated", "");
        }
    });
}
