//! The "First page" and "Next page" links of a paged list whose query is
//! in the address bar, so each page is a link and works without
//! JavaScript.

use leptos::prelude::*;
use leptos_router::params::ParamsMap;

/// The address `path` with the query `params`, `key` set to `value` (or
/// taken out), empty values dropped; from the first page unless `key` is
/// the cursor itself.
pub fn address_with(path: &str, params: &ParamsMap, key: &str, value: Option<&str>) -> String {
    let mut next: ParamsMap = params
        .into_iter()
        .filter(|(k, v)| k.as_ref() != key && k.as_ref() != "cursor" && !v.is_empty())
        .map(|(k, v)| (k.clone(), v.to_owned()))
        .collect();
    if let Some(value) = value {
        next.insert(key.to_owned(), value.to_owned());
    }
    format!("{path}{}", next.to_query_string())
}

/// Links to the first page (when this is not it) and to the page after
/// `next` (when there is one), for the list at `path` with `params`.
#[component]
pub fn Pager(path: String, params: ParamsMap, next: Option<String>) -> impl IntoView {
    let paged = params.get("cursor").is_some_and(|c| !c.is_empty());
    let first = paged.then(|| address_with(&path, &params, "cursor", None));
    let next = next.map(|cursor| address_with(&path, &params, "cursor", Some(&cursor)));
    view! {
        <nav class="pager" aria-label="Pages">
            {first.map(|first| view! { <a class="button" href=first>"First page"</a> })}
            {next.map(|next| view! { <a class="button" rel="next" href=next>"Next page"</a> })}
        </nav>
    }
}
