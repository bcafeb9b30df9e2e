//! The `:id` of a page's route, as a number.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

/// The route's `id` as it changes with navigation; 0 when it is not a
/// number (no record has it, so the page says "not found").
pub fn use_route_id() -> impl Fn() -> i64 + Copy + Send + Sync + 'static {
    let params = use_params_map();
    move || {
        params
            .read()
            .get("id")
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(0)
    }
}
