//! A department's approval policy on its page: the one that applies and
//! where it comes from, and for appliance admins a form to set its own or
//! to inherit.

use leptos::prelude::*;

use crate::api::approvals::{SaveApprovalPolicy, get_approval_policy};
use crate::components::{FieldError, error_for_field, general_error};
use crate::model::{ApprovalPolicy, ApprovalPolicyView, ApprovalRule};

/// A policy in words.
fn described(p: &ApprovalPolicy) -> String {
    let which = match p.require {
        ApprovalRule::Never => {
            return "Deploys need no approval; members without the right to deploy cannot deploy."
                .into();
        }
        ApprovalRule::EveryDeploy => "Every deploy waits for approval".to_owned(),
        ApprovalRule::AboveSize => format!(
            "Deploys of more than {} vCPUs or {} MiB wait for approval, as do all of members without the right to deploy",
            p.max_vcpus, p.max_memory_mib
        ),
        ApprovalRule::WithoutDeployRight => {
            "Members without the right to deploy may request a deploy, which waits for approval"
                .to_owned()
        }
    };
    format!(
        "{which}; a request nobody decides within {} days lapses.",
        p.timeout_days
    )
}

/// Each rule's label in the form.
fn label(rule: ApprovalRule) -> &'static str {
    match rule {
        ApprovalRule::Never => "Never",
        ApprovalRule::EveryDeploy => "Every deploy",
        ApprovalRule::AboveSize => "Deploys above a size",
        ApprovalRule::WithoutDeployRight => "Deploys by members without the right to deploy",
    }
}

#[component]
pub fn ApprovalPolicyCard(id: i64, admin: bool) -> impl IntoView {
    let save = ServerAction::<SaveApprovalPolicy>::new();
    let policy = Resource::new(
        move || (id, save.version().get()),
        |(id, _)| get_approval_policy(id),
    );
    let result = save.value();
    let err = move |f: &'static str| Signal::derive(move || error_for_field(&result.get(), f));
    view! {
        <section class="card" aria-labelledby="approval-policy-title">
            <h2 id="approval-policy-title">"Approval policy"</h2>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match policy.await {
                        Err(e) => view! { <div class="banner error" role="alert">{e.to_string()}</div> }.into_any(),
                        Ok(view) => view! { <ApprovalPolicyBody id admin view save err /> }.into_any(),
                    }
                })}
            </Transition>
            {move || general_error(&result.get()).map(|e| view! { <div class="banner error" role="alert">{e}</div> })}
            <Show when=move || matches!(result.get(), Some(Ok(_)))>
                <div class="banner success" role="status" id="approval-policy-saved">"Saved."</div>
            </Show>
        </section>
    }
}

#[component]
fn ApprovalPolicyBody(
    id: i64,
    admin: bool,
    view: ApprovalPolicyView,
    save: ServerAction<SaveApprovalPolicy>,
    err: impl Fn(&'static str) -> Signal<Option<String>> + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let from = match view.own {
        Some(_) => "its own".to_string(),
        None => format!("inherited from {}", view.from),
    };
    let shown = view.own.unwrap_or(view.effective);
    view! {
        <p id="approval-policy">{described(&view.effective)} " (" {from} ")"</p>
        {admin.then(|| view! {
            <ActionForm action=save attr:class="form-card" attr:novalidate=true>
                <input type="hidden" name="id" value=id />
                <label class="check">
                    <input type="checkbox" name="inherit" value="on" checked=view.own.is_none() />
                    " Inherit (from the department above; none: no approvals)"
                </label>
                <fieldset>
                    <legend>"Ask for approval of"</legend>
                    {ApprovalRule::ALL.iter().map(|rule| {
                        let id = format!("approval-{}", rule.as_str());
                        let label_for = id.clone();
                        view! {
                            <label class="choice" for=label_for>
                                <input type="radio" name="require" id=id value=rule.as_str()
                                    checked=shown.require == *rule />
                                <span>{label(*rule)}</span>
                            </label>
                        }
                    }).collect_view()}
                </fieldset>
                <FieldError id="approval-require-error".into() message=err("require") />
                <label for="approval-max-vcpus">"Above a size: more vCPUs than"</label>
                <input id="approval-max-vcpus" name="max_vcpus" inputmode="numeric"
                    value=shown.max_vcpus.to_string() aria-describedby="approval-max-vcpus-error" />
                <FieldError id="approval-max-vcpus-error".into() message=err("max_vcpus") />
                <label for="approval-max-memory">"or more memory than, MiB"</label>
                <input id="approval-max-memory" name="max_memory_mib" inputmode="numeric"
                    value=shown.max_memory_mib.to_string() aria-describedby="approval-max-memory-error" />
                <FieldError id="approval-max-memory-error".into() message=err("max_memory_mib") />
                <label for="approval-timeout">"A request lapses after, days"</label>
                <input id="approval-timeout" name="timeout_days" inputmode="numeric"
                    value=shown.timeout_days.to_string() aria-describedby="approval-timeout-error" />
                <FieldError id="approval-timeout-error".into() message=err("timeout_days") />
                <button type="submit" class="button primary" disabled=move || save.pending().get()>"Save approval policy"</button>
            </ActionForm>
            <FieldError id="approval-policy-error".into() message=err("policy") />
        })}
    }
}
