use leptos::html;
use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::{CompleteSetup, get_setup_status, probe_host};
use crate::components::{ErrorBanner, FieldError, error_for_field, general_error};
use crate::model::{Acceleration, HostProbe, SetupDefaults};

/// The first-boot wizard: five numbered steps on one page, so that it works
/// the same with and without JavaScript, and completes in one request.
#[component]
pub fn SetupPage() -> impl IntoView {
    let status = Resource::new(|| (), |_| get_setup_status());
    view! {
        <Title text="Set up the appliance" />
        <main class="centered">
            <section class="card wide" aria-labelledby="setup-title">
                <h1 id="setup-title">
                    <span class="logo" aria-hidden="true">"◆"</span>
                    " Welcome to dpe"
                </h1>
                <p class="lede">
                    "Five steps make this appliance ready: name it, create the first administrator, "
                    "connect the first KVM host, and choose where instances live and where their applications open."
                </p>
                <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        match status.await {
                            Ok(s) if s.complete => view! {
                                <div class="banner" role="status">
                                    "This appliance is already set up. "
                                    <a href="/login">"Sign in"</a>
                                </div>
                            }
                                .into_any(),
                            Ok(s) => view! { <SetupForm defaults=s.defaults /> }.into_any(),
                            Err(e) => view! { <div class="banner error" role="alert">{e.to_string()}</div> }.into_any(),
                        }
                    })}
                </Suspense>
            </section>
        </main>
    }
}

#[component]
fn SetupForm(defaults: SetupDefaults) -> impl IntoView {
    let complete = ServerAction::<CompleteSetup>::new();
    let result = complete.value();
    let err =
        move |field: &'static str| Signal::derive(move || error_for_field(&result.get(), field));
    let general = Signal::derive(move || general_error(&result.get()));

    let host_uri: NodeRef<html::Input> = NodeRef::new();
    let setup_code: NodeRef<html::Input> = NodeRef::new();
    let probe =
        Action::new(|(uri, code): &(String, String)| probe_host(uri.clone(), Some(code.clone())));
    let test_connection = move || {
        if let (Some(uri), Some(code)) = (host_uri.get_untracked(), setup_code.get_untracked()) {
            probe.dispatch((uri.value(), code.value()));
        }
    };
    // Right after a boot this machine's libvirtd is still starting: ask
    // again until it answers, as a person would.
    Effect::new(move |_| {
        if let Some(Ok(report)) = probe.value().get()
            && report.starting
        {
            set_timeout(test_connection, std::time::Duration::from_secs(2));
        }
    });

    view! {
        <ErrorBanner message=general />
        <ActionForm action=complete attr:class="wizard" attr:novalidate=true>
            <fieldset>
                <legend><span class="step">"1"</span>" Appliance"</legend>
                <label for="setup_code">"Setup code"</label>
                <input id="setup_code" name="setup_code" type="text" required node_ref=setup_code
                    autocomplete="off" autocapitalize="characters" spellcheck="false"
                    placeholder="XXXX-XXXX-XXXX-XXXX" aria-describedby="setup_code-hint setup_code-error" />
                <p class="hint" id="setup_code-hint">
                    "Shown on the appliance's console and login prompt; in a shell there, "
                    <code>"dpe setup-code"</code> " prints it."
                </p>
                <FieldError id="setup_code-error".into() message=err("setup_code") />
                <label for="appliance_name">"Appliance name"</label>
                <input id="appliance_name" name="appliance_name" type="text" required maxlength="64"
                    placeholder="Physics department" aria-describedby="appliance_name-error" />
                <FieldError id="appliance_name-error".into() message=err("appliance_name") />
            </fieldset>

            <fieldset>
                <legend><span class="step">"2"</span>" First administrator"</legend>
                <label for="admin_username">"User name"</label>
                <input id="admin_username" name="admin_username" type="text" required
                    autocomplete="username" aria-describedby="admin_username-hint admin_username-error" />
                <p class="hint" id="admin_username-hint">"Lower-case letters, digits, dot, dash and underscore."</p>
                <FieldError id="admin_username-error".into() message=err("admin_username") />
                <label for="admin_password">"Password"</label>
                <input id="admin_password" name="admin_password" type="password" required
                    autocomplete="new-password" aria-describedby="admin_password-hint admin_password-error" />
                <p class="hint" id="admin_password-hint">"At least 12 characters and hard to guess."</p>
                <FieldError id="admin_password-error".into() message=err("admin_password") />
                <label for="admin_password_repeat">"Password again"</label>
                <input id="admin_password_repeat" name="admin_password_repeat" type="password" required
                    autocomplete="new-password" aria-describedby="admin_password_repeat-error" />
                <FieldError id="admin_password_repeat-error".into() message=err("admin_password_repeat") />
            </fieldset>

            <fieldset>
                <legend><span class="step">"3"</span>" First KVM host"</legend>
                <label for="host_uri">"libvirt URI"</label>
                <div class="row">
                    <input id="host_uri" name="host_uri" type="text" required node_ref=host_uri
                        value=defaults.host_uri aria-describedby="host_uri-error host_probe" />
                    <button type="button" class="button" disabled=move || probe.pending().get()
                        on:click=move |_| test_connection()>
                        {move || if probe.pending().get() { "Testing…" } else { "Test connection" }}
                    </button>
                </div>
                <FieldError id="host_uri-error".into() message=err("host_uri") />
                <div id="host_probe" aria-live="polite">
                    {move || probe.value().get().map(|r| match r {
                        Ok(p) => view! { <ProbeReport probe=p /> }.into_any(),
                        Err(e) => view! { <p class="field-error">{e.to_string()}</p> }.into_any(),
                    })}
                </div>
            </fieldset>

            <fieldset>
                <legend><span class="step">"4"</span>" Storage"</legend>
                <label for="storage_dir">"Directory for images and instances"</label>
                <input id="storage_dir" name="storage_dir" type="text" required value=defaults.storage_dir
                    aria-describedby="storage_dir-error" />
                <FieldError id="storage_dir-error".into() message=err("storage_dir") />
            </fieldset>

            <fieldset>
                <legend><span class="step">"5"</span>" Network"</legend>
                <label for="network">"libvirt network for instances"</label>
                <input id="network" name="network" type="text" required value=defaults.network
                    aria-describedby="network-error" />
                <FieldError id="network-error".into() message=err("network") />
                <label for="apps_domain">"Applications' domain (optional)"</label>
                <input id="apps_domain" name="apps_domain" type="text" value=defaults.apps_domain
                    autocomplete="off" autocapitalize="none" spellcheck="false"
                    placeholder="apps.dpe.example.org" aria-describedby="apps_domain-hint apps_domain-error" />
                <div class="hint" id="apps_domain-hint">
                    <p>
                        "Every instance's application opens through this appliance, at an address of its own. "
                        "Left empty, each opens on a port of its own on the portal's host (20000 to 20999): "
                        "no DNS needed."
                    </p>
                    <p>
                        "With a domain such as " <code>"apps.dpe.example.org"</code>
                        " (and a wildcard DNS record " <code>"*.apps.dpe.example.org"</code>
                        " for this appliance), each opens at " <code>"https://NAME.DOMAIN/"</code> ". "
                        <code>"localhost"</code> " works on your own machine, without DNS."
                    </p>
                </div>
                <FieldError id="apps_domain-error".into() message=Signal::derive(move || {
                    error_for_field(&result.get(), "apps").or_else(|| error_for_field(&result.get(), "apps_domain"))
                }) />
            </fieldset>

            <button type="submit" class="button primary" disabled=move || complete.pending().get()>
                {move || if complete.pending().get() { "Setting up…" } else { "Complete setup" }}
            </button>
        </ActionForm>
    }
}

#[component]
fn ProbeReport(probe: HostProbe) -> impl IntoView {
    if probe.starting {
        return view! {
            <p class="probe starting" role="status">
                "libvirt on this machine is still starting (after a boot it first checks QEMU). Trying again…"
            </p>
        }
        .into_any();
    }
    if !probe.connected {
        return view! {
            <p class="probe bad">
                "Could not connect: " {probe.error.unwrap_or_default()}
            </p>
        }
        .into_any();
    }
    let accel = match probe.acceleration {
        Some(Acceleration::Kvm) => "KVM is usable",
        Some(Acceleration::Tcg) => {
            "KVM is not usable: guests will run under TCG (software emulation)"
        }
        Some(Acceleration::Test) => "libvirt test driver: nothing really runs",
        None => "acceleration unknown",
    };
    view! {
        <ul class="probe ok">
            <li>"Connected to " {probe.hostname.unwrap_or_default()}</li>
            <li>"libvirt " {probe.libvirt_version.unwrap_or_default()}</li>
            <li>{probe.hypervisor.unwrap_or_default()} " " {probe.hypervisor_version.unwrap_or_default()}</li>
            <li>{probe.cpus.unwrap_or_default()} " CPUs, " {probe.memory_mib.unwrap_or_default()} " MiB memory"</li>
            <li>{accel}</li>
        </ul>
    }
    .into_any()
}
