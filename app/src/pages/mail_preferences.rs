use leptos::prelude::*;

use crate::api::notifications::{SaveMailPreferences, get_mail_preferences};
use crate::components::{ErrorBanner, FieldError, Loading, error_for_field, general_error};
use crate::model::{MailPreferences, NoticeKind};

/// The account page's mail preferences: one's address, and which notices
/// (about one's instances, or one's departments' for their admins) one
/// gets by mail.
#[component]
pub fn MailPreferencesCard() -> impl IntoView {
    let save = ServerAction::<SaveMailPreferences>::new();
    let saved = super::notifications::saved!(save);
    let current = Resource::new(move || saved.get(), |_| get_mail_preferences());
    let result = save.value();
    let general = Signal::derive(move || general_error(&result.get()));
    let email_error = Signal::derive(move || error_for_field(&result.get(), "email"));
    view! {
        <section class="card" id="mail-preferences">
            <h2>"Notifications by mail"</h2>
            <p class="hint">
                "About your instances, and, if you administer a department, about its instances. "
                "Leave the address empty for no mail."
            </p>
            <ErrorBanner message=general />
            <Show when=move || matches!(result.get(), Some(Ok(_)))>
                <div class="banner success" role="status" id="preferences-saved">"Saved."</div>
            </Show>
            <Transition fallback=Loading>
                {move || Suspend::new(async move {
                    match current.await {
                        Ok(MailPreferences { email, kinds }) => {
                            let boxes = NoticeKind::ALL.iter().enumerate().map(|(i, k)| {
                                let id = format!("pref-{}", k.as_str());
            let label_for = id.clone();
                                view! {
                                    <label class="choice" for=label_for>
                                        <input id=id type="checkbox" name=format!("kinds[{i}]")
                                            value=k.as_str() checked=kinds.contains(k) />
                                        <span>{k.label()}</span>
                                    </label>
                                }
                            }).collect_view();
                            view! {
                                <ActionForm action=save attr:class="form-card" attr:novalidate=true>
                                    <label for="pref-email">"Mail address"</label>
                                    <input id="pref-email" name="email" type="email" autocomplete="email"
                                        value=email.unwrap_or_default() aria-describedby="pref-email-error" />
                                    <FieldError id="pref-email-error".into() message=email_error />
                                    <fieldset class="choices">
                                        <legend>"Send me mail when"</legend>
                                        {boxes}
                                    </fieldset>
                                    <button type="submit" class="button primary" disabled=move || save.pending().get()>
                                        "Save"
                                    </button>
                                </ActionForm>
                            }.into_any()
                        }
                        Err(e) => view! { <div class="banner error" role="alert">{e.to_string()}</div> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}
