//! A department's lease policy on its page: the one that applies and where
//! it comes from, and for appliance admins a form to set its own or to
//! inherit.

use leptos::prelude::*;

use crate::api::leases::{SaveLeasePolicy, get_lease_policy};
use crate::components::{FieldError, error_for_field, general_error};
use crate::model::{LeasePolicy, LeasePolicyView};

/// A policy in words.
fn described(p: &LeasePolicy) -> String {
    let lease = match p.lease_days {
        Some(d) => format!("Instances live {d} days"),
        None => "Instances have no lease".into(),
    };
    let extend = match p.extendable {
        true => format!(
            "their owners and the department's admins may extend it up to {} days ahead",
            p.max_days
        ),
        false => "only appliance admins may extend it".into(),
    };
    let follow = match p.follow_use_days {
        0 => String::new(),
        days => format!(" Each day of use extends it to {days} days ahead."),
    };
    format!(
        "{lease}; {extend}. An expired instance is kept, shut down, {} days before it is deleted.{follow}",
        p.grace_days
    )
}

#[component]
pub fn LeasePolicyCard(id: i64, admin: bool) -> impl IntoView {
    let save = ServerAction::<SaveLeasePolicy>::new();
    let policy = Resource::new(
        move || (id, save.version().get()),
        |(id, _)| get_lease_policy(id),
    );
    let result = save.value();
    let err = move |f: &'static str| Signal::derive(move || error_for_field(&result.get(), f));
    view! {
        <section class="card" aria-labelledby="lease-policy-title">
            <h2 id="lease-policy-title">"Lease policy"</h2>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match policy.await {
                        Err(e) => view! { <div class="banner error" role="alert">{e.to_string()}</div> }.into_any(),
                        Ok(view) => view! { <LeasePolicyBody id admin view save err /> }.into_any(),
                    }
                })}
            </Transition>
            {move || general_error(&result.get()).map(|e| view! { <div class="banner error" role="alert">{e}</div> })}
            <Show when=move || matches!(result.get(), Some(Ok(_)))>
                <div class="banner success" role="status" id="lease-policy-saved">"Saved."</div>
            </Show>
        </section>
    }
}

#[component]
fn LeasePolicyBody(
    id: i64,
    admin: bool,
    view: LeasePolicyView,
    save: ServerAction<SaveLeasePolicy>,
    err: impl Fn(&'static str) -> Signal<Option<String>> + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let from = match view.own {
        Some(_) => "its own".to_string(),
        None => format!("inherited from {}", view.from),
    };
    let shown = view.own.unwrap_or(view.effective);
    let number = |n: Option<u32>| n.map(|n| n.to_string()).unwrap_or_default();
    view! {
        <p id="lease-policy">{described(&view.effective)} " (" {from} ")"</p>
        {admin.then(|| view! {
            <ActionForm action=save attr:class="form-card" attr:novalidate=true>
                <input type="hidden" name="id" value=id />
                <label class="check">
                    <input type="checkbox" name="inherit" value="on" checked=view.own.is_none() />
                    " Inherit (from the department above, or the appliance's default)"
                </label>
                <label for="lease-days">"Lease, days (empty: no lease)"</label>
                <input id="lease-days" name="lease_days" inputmode="numeric" value=number(shown.lease_days)
                    aria-describedby="lease-days-error" />
                <FieldError id="lease-days-error".into() message=err("lease_days") />
                <label class="check">
                    <input type="checkbox" name="extendable" value="on" checked=shown.extendable />
                    " Owners and department admins may extend"
                </label>
                <label for="lease-max-days">"Extend up to, days ahead"</label>
                <input id="lease-max-days" name="max_days" inputmode="numeric" value=shown.max_days.to_string()
                    aria-describedby="lease-max-days-error" />
                <FieldError id="lease-max-days-error".into() message=err("max_days") />
                <label for="lease-grace-days">"Grace period, days"</label>
                <input id="lease-grace-days" name="grace_days" inputmode="numeric" value=shown.grace_days.to_string() />
                <label for="lease-follow-use">"Each day of use extends to, days ahead (0: use does not)"</label>
                <input id="lease-follow-use" name="follow_use_days" inputmode="numeric"
                    value=shown.follow_use_days.to_string() aria-describedby="lease-follow-use-error" />
                <FieldError id="lease-follow-use-error".into() message=err("follow_use_days") />
                <button type="submit" class="button primary" disabled=move || save.pending().get()>"Save lease policy"</button>
            </ActionForm>
            <FieldError id="lease-policy-error".into() message=err("policy") />
        })}
    }
}
