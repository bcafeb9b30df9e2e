use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::ChangePassword;
use crate::api::second_factor::{BeginTotp, ConfirmTotp, RemoveTotp, get_second_factor};
use crate::components::{ErrorBanner, FieldError, Layout, Loading, error_for_field, general_error};

/// The signed-in person's own account: their password and second factor.
#[component]
pub fn AccountPage() -> impl IntoView {
    let change = ServerAction::<ChangePassword>::new();
    let result = change.value();
    let err = move |f: &'static str| Signal::derive(move || error_for_field(&result.get(), f));
    let general = Signal::derive(move || general_error(&result.get()));
    let field = move |name: &'static str, label: &'static str, autocomplete: &'static str| {
        let error_id = format!("{name}-error");
        view! {
            <label for=name>{label}</label>
            <input id=name name=name type="password" autocomplete=autocomplete required
                aria-describedby=error_id.clone() />
            <FieldError id=error_id message=err(name) />
        }
    };
    view! {
        <Title text="Your account" />
        <Layout>
            <h1 class="page-title">"Your account"</h1>
            <section class="card">
                <h2>"Change your password"</h2>
                <p class="hint">
                    "Your other sessions end and your API tokens are revoked: make new ones "
                    "for what used them. A directory account's password is changed in the directory."
                </p>
                <ErrorBanner message=general />
                <Show when=move || matches!(result.get(), Some(Ok(())))>
                    <div class="banner success" role="status" id="password-changed">
                        "Your password is changed."
                    </div>
                </Show>
                <ActionForm action=change attr:class="form-card" attr:novalidate=true>
                    {field("current_password", "Current password", "current-password")}
                    {field("new_password", "New password", "new-password")}
                    {field("repeated", "New password, again", "new-password")}
                    <button type="submit" class="button primary" disabled=move || change.pending().get()>
                        "Change password"
                    </button>
                </ActionForm>
            </section>
            <SecondFactorCard />
            <super::passkeys::PasskeysCard />
            <super::mail_preferences::MailPreferencesCard />
        </Layout>
    }
}

/// Enrolling an authenticator app (QR code, then a confirming code, then
/// the recovery codes shown once), or removing it with the password.
#[component]
fn SecondFactorCard() -> impl IntoView {
    let begin = ServerAction::<BeginTotp>::new();
    let confirm = ServerAction::<ConfirmTotp>::new();
    let remove = ServerAction::<RemoveTotp>::new();
    let status = Resource::new(
        move || (confirm.version().get(), remove.version().get()),
        |_| get_second_factor(),
    );
    let general = Signal::derive(move || {
        general_error(&begin.value().get()).or_else(|| general_error(&remove.value().get()))
    });
    let code_error = Signal::derive(move || error_for_field(&confirm.value().get(), "code"));
    let password_error = Signal::derive(move || error_for_field(&remove.value().get(), "password"));
    // A finished enrolment (confirmed, or removed since) shows no more.
    Effect::new(move || {
        let confirmed = matches!(confirm.value().get(), Some(Ok(_)));
        let removed = matches!(remove.value().get(), Some(Ok(())));
        if confirmed || removed {
            begin.value().set(None);
        }
    });
    let enrolment = move || begin.value().get().and_then(Result::ok);
    let recovery = move || confirm.value().get().and_then(Result::ok);
    view! {
        <section class="card" aria-labelledby="second-factor-title">
            <h2 id="second-factor-title">"Two-factor sign-in"</h2>
            <ErrorBanner message=general />
            {move || recovery().map(|codes| view! {
                <div class="banner success" role="status">
                    <p>
                        "Your authenticator app is set up. Keep these recovery codes somewhere "
                        "safe: each signs you in once if the app is lost. They are not shown again."
                    </p>
                    <ul class="recovery-codes" id="recovery-codes">
                        {codes.codes.into_iter().map(|c| view! { <li><code>{c}</code></li> }).collect_view()}
                    </ul>
                </div>
            })}
            <Transition fallback=Loading>
                {move || Suspend::new(async move {
                    match status.await {
                        Ok(s) if s.totp => view! {
                            <p id="second-factor-on">
                                "An authenticator app is asked for a code after your password. "
                                {format!("Recovery codes left: {}.", s.recovery_codes_left)}
                            </p>
                            <ActionForm action=remove attr:class="form-card" attr:novalidate=true>
                                <label for="remove-password">"Password, to remove the app"</label>
                                <input id="remove-password" name="password" type="password"
                                    autocomplete="current-password" required
                                    aria-describedby="password-error" />
                                <FieldError id="password-error".into() message=password_error />
                                <button type="submit" class="button danger">"Remove the app"</button>
                            </ActionForm>
                        }.into_any(),
                        Ok(_) => view! {
                            <p class="hint">
                                "With an authenticator app, signing in asks for a code from your "
                                "phone after your password."
                            </p>
                            {move || match enrolment() {
                                None => view! {
                                    <ActionForm action=begin>
                                        <button type="submit" class="button primary">
                                            "Set up an authenticator app"
                                        </button>
                                    </ActionForm>
                                }.into_any(),
                                Some(e) => view! {
                                    <p>"Scan this code with the app, or type the key in by hand."</p>
                                    <img class="qr-code" src=e.qr_code width="200" height="200"
                                        alt="QR code of the authenticator app's key" />
                                    <p>"Key: " <code class="secret" id="totp-secret">{e.secret}</code></p>
                                    <ActionForm action=confirm attr:class="form-card" attr:novalidate=true>
                                        <label for="confirm-code">"Code shown by the app"</label>
                                        <input id="confirm-code" name="code" type="text"
                                            inputmode="numeric" autocomplete="one-time-code"
                                            maxlength="6" required aria-describedby="code-error" />
                                        <FieldError id="code-error".into() message=code_error />
                                        <button type="submit" class="button primary">"Turn on"</button>
                                    </ActionForm>
                                }.into_any(),
                            }}
                        }.into_any(),
                        Err(e) => view! { <p class="banner error">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}
