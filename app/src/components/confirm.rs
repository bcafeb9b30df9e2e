//! A confirmation behind a `<details>`: the action's button shows only once
//! the person opened it, and it works without JavaScript.
//!
//! Lists on live pages are rendered anew on every tick of the live feed, and
//! a `<details>` rendered anew is closed: a confirmation the person had just
//! opened would shut under their cursor. So which confirmations are open is
//! kept above the pages, by key, and each rendering opens its own again.

use std::collections::HashSet;

use leptos::html;
use leptos::prelude::*;

/// The keys of the confirmations that are open, for the whole tab.
#[derive(Clone, Copy)]
pub struct OpenConfirms(RwSignal<HashSet<String>>);

impl OpenConfirms {
    /// Called once, by the app, above the router.
    pub fn provide() {
        provide_context(Self(RwSignal::new(HashSet::new())));
    }

    fn get() -> Self {
        // Rendered outside the app (a component test): each confirmation
        // then keeps its own state.
        use_context::<Self>().unwrap_or_else(|| Self(RwSignal::new(HashSet::new())))
    }
}

/// `key` names the confirmation across renderings (e.g. `delete-snapshot-7`);
/// `summary` is the label of the button that opens it, `class` its style.
/// A confirmation that holds a `form` with fields stays open after a
/// submit, so that what is wrong shows beside them.
#[component]
pub fn Confirm(
    #[prop(into)] key: String,
    #[prop(into)] summary: String,
    #[prop(optional)] class: &'static str,
    #[prop(optional)] id: Option<&'static str>,
    #[prop(optional)] form: bool,
    children: Children,
) -> impl IntoView {
    let open = OpenConfirms::get().0;
    let node = NodeRef::<html::Details>::new();
    let is_open = {
        let key = key.clone();
        move || open.with(|keys| keys.contains(&key))
    };
    let on_toggle = {
        let key = key.clone();
        move |_| {
            if let Some(details) = node.get_untracked() {
                let now_open = details.open();
                open.update(|keys| {
                    if now_open {
                        keys.insert(key.clone());
                    } else {
                        keys.remove(&key);
                    }
                });
            }
        }
    };
    // Once the action is sent, the confirmation has done its work: the row
    // may stay (a revert) and should not greet the next look open.
    let on_submit = move |_| {
        if !form {
            open.update(|keys| _ = keys.remove(&key));
        }
    };
    view! {
        <details class="confirm" id=id node_ref=node open=is_open
            on:toggle=on_toggle on:submit=on_submit>
            <summary class=format!("button {class}")>{summary}"…"</summary>
            {children()}
        </details>
    }
}
