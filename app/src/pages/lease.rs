//! An instance's Lease section: when it expires (or expired, and when it
//! is deleted), and a form to extend it.

use leptos::prelude::*;

use crate::api::leases::ExtendLease;
use crate::components::{FieldError, error_for_field};
use crate::model::{LeaseStage, LeaseView};

/// The date part of an RFC 3339 time, for a date input.
fn day_of(rfc3339: &str) -> String {
    rfc3339.get(..10).unwrap_or_default().to_owned()
}

#[component]
pub fn LeaseSection(
    id: i64,
    lease: Option<LeaseView>,
    extend: ServerAction<ExtendLease>,
) -> impl IntoView {
    let result = extend.value();
    let err = Signal::derive(move || error_for_field(&result.get(), "expires_at"));
    let Some(lease) = lease else {
        return view! {
            <section class="card" aria-labelledby="lease-title">
                <h2 id="lease-title">"Lease"</h2>
                <p id="lease-state">"No lease: the instance stays until it is deleted."</p>
            </section>
        }
        .into_any();
    };
    let state = match lease.stage {
        LeaseStage::Active | LeaseStage::Warned7d | LeaseStage::Warned1d => view! {
            <p id="lease-state">"Expires " <time datetime=lease.expires_at.clone()>{lease.expires_at.clone()}</time>
            ": it is then shut down, and deleted after a grace period unless its lease is extended."</p>
        }
        .into_any(),
        LeaseStage::Expired => view! {
            <div class="banner error" role="status" id="lease-state">
                "The lease expired at " {lease.expires_at.clone()} ": the instance is shut down. It is deleted at "
                {lease.deletes_at.clone().unwrap_or_default()} " unless its lease is extended first."
            </div>
        }
        .into_any(),
        LeaseStage::Deleting => view! {
            <div class="banner error" role="status" id="lease-state">
                "The lease expired and its grace period is over: the instance is being deleted."
            </div>
        }
        .into_any(),
    };
    let extendable = match lease.stage {
        LeaseStage::Active | LeaseStage::Warned7d | LeaseStage::Warned1d | LeaseStage::Expired => {
            true
        }
        LeaseStage::Deleting => false,
    };
    view! {
        <section class="card" aria-labelledby="lease-title">
            <h2 id="lease-title">"Lease"</h2>
            {state}
            <Show when=move || matches!(result.get(), Some(Ok(_)))>
                <div class="banner success" role="status" id="lease-saved">"Extended."</div>
            </Show>
            {extendable.then(|| view! {
                <ActionForm action=extend attr:class="row" attr:novalidate=true>
                    <input type="hidden" name="id" value=id />
                    <label for="lease-until">"Extend until"</label>
                    <input type="date" id="lease-until" name="until" value=day_of(&lease.expires_at)
                        aria-describedby="lease-error" />
                    <button type="submit" class="button" disabled=move || extend.pending().get()>"Extend"</button>
                </ActionForm>
            })}
            <FieldError id="lease-error".into() message=err />
        </section>
    }
    .into_any()
}
