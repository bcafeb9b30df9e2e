use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::ChangePassword;
use crate::components::{ErrorBanner, FieldError, Layout, error_for_field, general_error};

/// The signed-in person's own account: their password.
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
        </Layout>
    }
}
