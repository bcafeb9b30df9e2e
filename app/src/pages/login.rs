use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::SignIn;
use crate::api::second_factor::SignInCode;
use crate::components::{ErrorBanner, general_error};
use crate::error::AppError;

#[component]
pub fn LoginPage() -> impl IntoView {
    let sign_in = ServerAction::<SignIn>::new();
    let code = ServerAction::<SignInCode>::new();
    // Where the visitor was going (opening an application), kept through
    // the sign-in.
    let query = leptos_router::hooks::use_query_map();
    let next = move || query.read().get("next").unwrap_or_default();
    // The password was right and the account has a second factor: the
    // code is asked for next, on this page.
    let wants_code = move || {
        matches!(
            sign_in.value().get(),
            Some(Err(AppError::SecondFactorRequired))
        )
    };
    let error = Signal::derive(move || general_error(&sign_in.value().get()));
    let code_error = Signal::derive(move || general_error(&code.value().get()));
    view! {
        <Title text="Sign in" />
        <main class="centered">
            <section class="card narrow" aria-labelledby="signin-title">
                <h1 id="signin-title">
                    <span class="logo" aria-hidden="true">"◆"</span>
                    " Sign in to dpe"
                </h1>
                <Show
                    when=wants_code
                    fallback=move || view! {
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
                    }
                >
                    <ErrorBanner message=code_error />
                    <ActionForm action=code attr:class="stack">
                        <input type="hidden" name="next" prop:value=next />
                        <label for="code">"Code from your authenticator app"</label>
                        <input
                            id="code"
                            name="code"
                            type="text"
                            inputmode="numeric"
                            autocomplete="one-time-code"
                            maxlength="64"
                            required
                            autofocus
                            aria-describedby="code-hint"
                        />
                        <p class="hint" id="code-hint">
                            "Six digits from the app, or one of your recovery codes if the app is lost."
                        </p>
                        <button type="submit" class="button primary" disabled=move || code.pending().get()>
                            "Verify"
                        </button>
                    </ActionForm>
                </Show>
            </section>
        </main>
    }
}
