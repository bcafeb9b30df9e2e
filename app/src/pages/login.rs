use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::SignIn;
use crate::components::{ErrorBanner, general_error};

#[component]
pub fn LoginPage() -> impl IntoView {
    let sign_in = ServerAction::<SignIn>::new();
    // Where the visitor was going (opening an application), kept through
    // the sign-in.
    let query = leptos_router::hooks::use_query_map();
    let next = move || query.read().get("next").unwrap_or_default();
    let error = Signal::derive(move || general_error(&sign_in.value().get()));
    view! {
        <Title text="Sign in" />
        <main class="centered">
            <section class="card narrow" aria-labelledby="signin-title">
                <h1 id="signin-title">
                    <span class="logo" aria-hidden="true">"◆"</span>
                    " Sign in to dpe"
                </h1>
                <ErrorBanner message=error />
                <ActionForm action=sign_in attr:class="stack">
                    <input type="hidden" name="next" prop:value=next />
                    <label for="username">"User name"</label>
                    <input
                        id="username"
                        name="username"
                        type="text"
                        autocomplete="username"
                        required
                        autofocus
                    />
                    <label for="password">"Password"</label>
                    <input
                        id="password"
                        name="password"
                        type="password"
                        autocomplete="current-password"
                        required
                    />
                    <button type="submit" class="button primary" disabled=move || sign_in.pending().get()>
                        {move || if sign_in.pending().get() { "Signing in…" } else { "Sign in" }}
                    </button>
                </ActionForm>
            </section>
        </main>
    }
}
