//! Who must use a second factor, set by appliance admins: the rule for the
//! whole appliance (on the settings page) and each department's own (on
//! its page). An account that must and has none is led to enrol right
//! after its password.

use leptos::prelude::*;

use crate::api::second_factor::{
    RequireSecondFactorIn, SetSecondFactorRule, get_second_factor_policy,
};
use crate::components::{ErrorBanner, FieldError, error_for_field, general_error};
use crate::model::SecondFactorRule;

/// Each rule in words, in the form's order.
const RULES: [(SecondFactorRule, &str); 3] = [
    (
        SecondFactorRule::Departments,
        "Only the members of departments that require it",
    ),
    (
        SecondFactorRule::Admins,
        "Appliance and department admins, and those departments",
    ),
    (SecondFactorRule::Everyone, "Every account"),
];

/// The appliance-wide rule.
#[component]
pub fn SecondFactorRuleCard() -> impl IntoView {
    let save = ServerAction::<SetSecondFactorRule>::new();
    let policy = Resource::new(move || save.version().get(), |_| get_second_factor_policy());
    let result = save.value();
    let general = Signal::derive(move || general_error(&result.get()));
    let err = Signal::derive(move || error_for_field(&result.get(), "required_of"));
    view! {
        <section class="card" id="second-factor-rule" aria-labelledby="second-factor-title">
            <h2 id="second-factor-title">"Second factor at sign-in"</h2>
            <p class="hint">
                "Who must sign in with an authenticator app or a recovery code after the password. "
                "Departments can require it of their members on their own page. API tokens are not affected."
            </p>
            <ErrorBanner message=general />
            <Show when=move || matches!(result.get(), Some(Ok(_)))>
                <div class="banner success" role="status">"Saved: it applies from each account's next sign-in."</div>
            </Show>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match policy.await {
                        Err(e) => view! { <div class="banner error" role="alert">{e.to_string()}</div> }.into_any(),
                        Ok(current) => view! {
                            <ActionForm action=save attr:class="form-card" attr:novalidate=true>
                                <label for="second-factor-required-of">"Required of"</label>
                                <select id="second-factor-required-of" name="required_of"
                                    aria-describedby="second-factor-required-of-error">
                                    {RULES.into_iter().map(|(rule, text)| view! {
                                        <option value=rule.as_str() selected=rule == current.required_of>{text}</option>
                                    }).collect_view()}
                                </select>
                                <FieldError id="second-factor-required-of-error".into() message=err />
                                <button type="submit" class="button primary" disabled=move || save.pending().get()>
                                    "Save"
                                </button>
                            </ActionForm>
                        }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// A department's own requirement, which covers the departments below it.
#[component]
pub fn DepartmentSecondFactorCard(id: i64) -> impl IntoView {
    let toggle = ServerAction::<RequireSecondFactorIn>::new();
    let policy = Resource::new(
        move || toggle.version().get(),
        |_| get_second_factor_policy(),
    );
    let general = Signal::derive(move || general_error(&toggle.value().get()));
    view! {
        <section class="card" id="department-second-factor" aria-labelledby="department-second-factor-title">
            <h2 id="department-second-factor-title">"Second factor"</h2>
            <ErrorBanner message=general />
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match policy.await {
                        Err(e) => view! { <div class="banner error" role="alert">{e.to_string()}</div> }.into_any(),
                        Ok(current) => {
                            let required = current.departments.contains(&id);
                            let (said, button) = if required {
                                ("Its members, and those of the departments below, must use a second factor.", "Stop requiring it")
                            } else {
                                ("Its members need no second factor, unless the appliance's rule asks one of them.", "Require a second factor")
                            };
                            view! {
                                <p id="department-second-factor-state">{said}</p>
                                <ActionForm action=toggle attr:class="inline">
                                    <input type="hidden" name="department_id" value=id />
                                    <input type="hidden" name="required" value=(!required).to_string() />
                                    <button type="submit" class="button">{button}</button>
                                </ActionForm>
                            }.into_any()
                        }
                    }
                })}
            </Transition>
        </section>
    }
}
