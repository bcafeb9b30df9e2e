use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::{ClearOutsideZone, SetOutsideZone, get_me, get_zones};
use crate::components::{ErrorBanner, FieldError, Layout, Loading, error_for_field, general_error};
use crate::model::{OutsideZoneSettings, Role, ZonesView};

/// The network zones: what each offers, and for admins the outside zone's
/// bridge and address pool.
#[component]
pub fn NetworksPage() -> impl IntoView {
    let save = ServerAction::<SetOutsideZone>::new();
    let clear = ServerAction::<ClearOutsideZone>::new();
    let data = Resource::new(
        move || (save.version().get(), clear.version().get()),
        |_| async { (get_zones().await, get_me().await) },
    );
    let general = Signal::derive(move || {
        general_error(&save.value().get()).or_else(|| general_error(&clear.value().get()))
    });
    view! {
        <Title text="Networks" />
        <Layout>
            <h1 class="page-title">"Networks"</h1>
            <p class="lede">"Each instance joins one zone, chosen in the deploy form."</p>
            <ErrorBanner message=general />
            <Show when=move || matches!(save.value().get(), Some(Ok(_)))>
                <div class="banner success" role="status">"The outside zone is saved."</div>
            </Show>
            <Transition fallback=Loading>
                {move || Suspend::new(async move {
                    match data.await {
                        (Ok(zones), Ok(me)) => {
                            let admin = me.is_some_and(|m| m.role == Role::Admin);
                            view! { <Zones zones admin save clear /> }.into_any()
                        }
                        (Err(e), _) | (_, Err(e)) => {
                            view! { <div class="banner error" role="alert">{e.to_string()}</div> }.into_any()
                        }
                    }
                })}
            </Transition>
        </Layout>
    }
}

#[component]
fn Zones(
    zones: ZonesView,
    admin: bool,
    save: ServerAction<SetOutsideZone>,
    clear: ServerAction<ClearOutsideZone>,
) -> impl IntoView {
    let networks = zones.inside_networks.join(", ");
    let current = zones.outside.clone();
    view! {
        <section class="card">
            <h2>"Inside"</h2>
            <p>
                "A private network behind the appliance (libvirt NAT network "
                <code>{networks}</code>
                "). Instances get their address by DHCP; the appliance reads it from the leases. "
                "Reachable from the appliance, not from the LAN."
            </p>
        </section>
        <section class="card">
            <h2>"Outside"</h2>
            {match current.clone() {
                Some(z) => {
                    let total = z.in_use + z.free;
                    view! {
                        <p>
                            "Instances join the LAN through the bridge " <code>{z.settings.bridge.clone()}</code>
                            " and get a fixed address from the pool, handed to them in their seed."
                        </p>
                        <dl class="facts">
                            <dt>"Pool"</dt>
                            <dd id="outside-pool">{format!("{} – {} /{}", z.settings.first_address, z.settings.last_address, z.settings.prefix_len)}</dd>
                            <dt>"Router"</dt>
                            <dd>{z.settings.gateway.clone().unwrap_or_else(|| "none".into())}</dd>
                            <dt>"Name servers"</dt>
                            <dd>{if z.settings.dns.is_empty() { "none".to_owned() } else { z.settings.dns.join(", ") }}</dd>
                            <dt>"In use"</dt>
                            <dd>
                                <meter min="0" max=total value=z.in_use aria-label="Addresses in use"></meter>
                                " " <span id="outside-usage">{format!("{} of {total} addresses", z.in_use)}</span>
                            </dd>
                        </dl>
                    }.into_any()
                }
                None => view! {
                    <p id="outside-none">
                        "Not configured. An admin gives the bridge that every host has to the LAN, "
                        "and a range of free LAN addresses for instances."
                    </p>
                }.into_any(),
            }}
            {admin.then(|| view! { <OutsideForm current=current.map(|z| z.settings) save clear /> })}
        </section>
    }
}

#[component]
fn OutsideForm(
    current: Option<OutsideZoneSettings>,
    save: ServerAction<SetOutsideZone>,
    clear: ServerAction<ClearOutsideZone>,
) -> impl IntoView {
    let result = save.value();
    let err =
        move |field: &'static str| Signal::derive(move || error_for_field(&result.get(), field));
    let configured = current.is_some();
    let value = |f: fn(&OutsideZoneSettings) -> String| current.as_ref().map(f).unwrap_or_default();
    let bridge = value(|s| s.bridge.clone());
    let first = value(|s| s.first_address.clone());
    let last = value(|s| s.last_address.clone());
    let prefix = value(|s| s.prefix_len.to_string());
    let gateway = value(|s| s.gateway.clone().unwrap_or_default());
    let dns = value(|s| s.dns.join(", "));
    let field =
        move |id: &'static str, label: &'static str, hint: &'static str, initial: String| {
            let error_id = format!("{id}-error");
            let hint_id = format!("{id}-hint");
            view! {
                <label for=id>{label}</label>
                <input id=id name=id type="text" value=initial autocomplete="off"
                    aria-describedby=format!("{hint_id} {error_id}") />
                <p class="hint" id=hint_id>{hint}</p>
                <FieldError id=error_id message=err(id) />
            }
        };
    view! {
        <h3>{if configured { "Change the outside zone" } else { "Set up the outside zone" }}</h3>
        <ActionForm action=save attr:class="form-card" attr:novalidate=true>
            {field("bridge", "Bridge", "The Linux bridge to the LAN on every host, e.g. br0.",
                bridge)}
            {field("first_address", "First address", "The pool's first IPv4 address.",
                first)}
            {field("last_address", "Last address", "The pool's last address, in the same subnet.",
                last)}
            {field("prefix_len", "Prefix length", "The LAN's netmask as a prefix, e.g. 24.",
                prefix)}
            {field("gateway", "Router (optional)", "The LAN's default gateway, outside the pool.",
                gateway)}
            {field("dns", "Name servers (optional)", "Up to three, separated by commas.",
                dns)}
            <button type="submit" class="button primary" disabled=move || save.pending().get()>
                "Save outside zone"
            </button>
        </ActionForm>
        {configured.then(|| view! {
            <ActionForm action=clear attr:class="inline">
                <button type="submit" class="button danger" disabled=move || clear.pending().get()>
                    "Remove outside zone"
                </button>
            </ActionForm>
        })}
    }
}
