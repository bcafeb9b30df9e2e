use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::SignIn;
use crate::api::second_factor::{BeginEnrolment, FinishEnrolment, SignInCode};
use crate::components::{ErrorBanner, FieldError, error_for_field, general_error};
use crate::error::AppError;

/// Where the sign-in is, after what the password's answer said.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    Password,
    /// The account has a second factor: its code is asked for.
    Code,
    /// The account must use a second factor and has none: it enrols one.
    Enrol,
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let sign_in = ServerAction::<SignIn>::new();
    // Where the visitor was going (opening an application), kept through
    // the sign-in.
    let query = leptos_router::hooks::use_query_map();
    let next = Signal::derive(move || query.read().get("next").unwrap_or_default());
    let step = move || match sign_in.value().get() {
        Some(Err(AppError::SecondFactorRequired)) => Step::Code,
        Some(Err(AppError::SecondFactorEnrolmentRequired)) => Step::Enrol,
        Some(_) | None => Step::Password,
    };
    let error = Signal::derive(move || general_error(&sign_in.value().get()));
    view! {
        <Title text="Sign in" />
        <main class="centered">
            <section class="card narrow" aria-labelledby="signin-title">
                <h1 id="signin-title">
                    <span class="logo" aria-hidden="true">"◆"</span>
                    " Sign in to dpe"
                </h1>
                {move || match step() {
                    Step::Password => view! {
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
                    }.into_any(),
                    Step::Code => view! { <CodeStep next /> }.into_any(),
                    Step::Enrol => view! { <EnrolStep next /> }.into_any(),
                }}
            </section>
        </main>
    }
}

/// The code from the authenticator app, or a recovery code; or the
/// account's passkey, when it has one.
#[component]
fn CodeStep(next: Signal<String>) -> impl IntoView {
    let code = ServerAction::<SignInCode>::new();
    let error = Signal::derive(move || general_error(&code.value().get()));
    view! {
        <super::passkeys::PasskeySignIn onward=next />
        <ErrorBanner message=error />
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
    }
}

/// Enrolling an authenticator app (or a passkey) before anything else,
/// for an account that must use a second factor: the QR code, a
/// confirming code, then the recovery codes, after which the session is
/// signed in.
#[component]
fn EnrolStep(next: Signal<String>) -> impl IntoView {
    let begin = ServerAction::<BeginEnrolment>::new();
    let finish = ServerAction::<FinishEnrolment>::new();
    let general = Signal::derive(move || general_error(&begin.value().get()));
    let code_error = Signal::derive(move || error_for_field(&finish.value().get(), "code"));
    let onward = move || crate::validate::local_path(&next.get()).to_owned();
    // Set once a passkey is enrolled: the app's offer goes.
    let with_passkey = RwSignal::new(false);
    view! {
        <ErrorBanner message=general />
        {move || match (begin.value().get(), finish.value().get()) {
            (_, Some(Ok(codes))) => view! {
                <div class="banner success" role="status">
                    <p>
                        "Your authenticator app is set up. Keep these recovery codes somewhere "
                        "safe: each signs you in once if the app is lost. They are not shown again."
                    </p>
                    <ul class="recovery-codes" id="recovery-codes">
                        {codes.codes.into_iter().map(|c| view! { <li><code>{c}</code></li> }).collect_view()}
                    </ul>
                </div>
                <a class="button primary" href=onward() rel="external">"Continue"</a>
            }.into_any(),
            (Some(Ok(e)), _) => view! {
                <p>"Scan this code with the app, or type the key in by hand."</p>
                <img class="qr-code" src=e.qr_code width="200" height="200"
                    alt="QR code of the authenticator app's key" />
                <p>"Key: " <code class="secret" id="totp-secret">{e.secret}</code></p>
                <ActionForm action=finish attr:class="stack" attr:novalidate=true>
                    <label for="confirm-code">"Code shown by the app"</label>
                    <input id="confirm-code" name="code" type="text" inputmode="numeric"
                        autocomplete="one-time-code" maxlength="6" required
                        aria-describedby="code-error" />
                    <FieldError id="code-error".into() message=code_error />
                    <button type="submit" class="button primary">"Turn on"</button>
                </ActionForm>
            }.into_any(),
            (Some(Err(_)) | None, _) => view! {
                {move || (!with_passkey.get()).then(|| view! {
                    <p id="must-enrol">
                        "This account must use a second factor: set up an authenticator app, or "
                        "add a passkey, to go on."
                    </p>
                    <ActionForm action=begin>
                        <button type="submit" class="button primary">"Set up an authenticator app"</button>
                    </ActionForm>
                })}
                <super::passkeys::PasskeyEnrol onward=next done=with_passkey />
            }.into_any(),
        }}
    }
}
