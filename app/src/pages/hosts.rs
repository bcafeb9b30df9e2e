//! The Hosts page (appliance admins): the pool's hosts and how each is
//! doing, and adding a host, led through what the remote machine needs
//! for `qemu+tls` (dpe's CA, a server certificate dpe issues) or
//! `qemu+ssh` (dpe's key in authorized_keys, its host key pinned here).

use leptos::prelude::*;
use leptos_meta::Title;

use super::host_usage::HostUsageSection;
use crate::api::hosts::{
    AddPoolHost, IssueHostCertificate, SetHostMode, get_host_credentials, get_hosts,
};
use crate::components::{ErrorBanner, FieldError, Layout, Loading, error_for_field, general_error};
use crate::error::AppError;
use crate::model::{
    Acceleration, HostCredentialsView, HostMode, HostProbe, HostStatus, ServerCertificateBundle,
    time_of_day,
};

#[component]
pub fn HostsPage() -> impl IntoView {
    let add = ServerAction::<AddPoolHost>::new();
    let issue = ServerAction::<IssueHostCertificate>::new();
    let mode = ServerAction::<SetHostMode>::new();
    // Reloaded as the live feed tells of changes: a drain's moves.
    let live = crate::live::LiveFeed::get();
    let data = Resource::new(
        move || (add.version().get(), mode.version().get(), live.tick()),
        |_| async { (get_hosts().await, get_host_credentials().await) },
    );
    let general = Signal::derive(move || {
        general_error(&add.value().get()).or_else(|| general_error(&mode.value().get()))
    });
    view! {
        <Title text="Hosts" />
        <Layout>
            <h1 class="page-title">"Hosts"</h1>
            <p class="lede">
                "The libvirt hosts instances are placed on: each deploy goes to a host with KVM when one has room (an emulating TCG host only otherwise), the one with the most free memory."
            </p>
            <ErrorBanner message=general />
            {move || add.value().get().and_then(Result::ok).map(|h| view! {
                <div class="banner success" role="status">"Host " {h.name} " added."</div>
            })}
            <Transition fallback=Loading>
                {move || Suspend::new(async move {
                    match data.await {
                        (Ok(hosts), Ok(_)) => view! { <HostTable hosts mode /> }.into_any(),
                        (Err(e), _) | (_, Err(e)) => {
                            view! { <div class="banner error" role="alert">{e.to_string()}</div> }.into_any()
                        }
                    }
                })}
            </Transition>
            // Between the table and the guide, and outside the table's
            // reloads: the charts follow readings, not every change.
            <HostUsageSection />
            <Transition fallback=Loading>
                {move || Suspend::new(async move {
                    match data.await {
                        (Ok(_), Ok(credentials)) => view! {
                            <AddHostGuide credentials add issue />
                        }.into_any(),
                        (Err(_), _) | (_, Err(_)) => ().into_any(),
                    }
                })}
            </Transition>
        </Layout>
    }
}

/// How a host is reached, from its URI's scheme.
fn transport(uri: &str) -> &'static str {
    match uri.split_once("://").map(|(scheme, _)| scheme) {
        Some("qemu+tls") => "TLS",
        Some("qemu+ssh" | "qemu+libssh") => "SSH",
        Some("test") => "test driver",
        Some(_) | None => "local",
    }
}

/// How the host runs guests: the badge's text and what it means.
fn acceleration(probe: &HostProbe) -> impl IntoView + use<> {
    match probe.acceleration {
        Some(Acceleration::Kvm) => {
            view! { <span class="badge ok" title="hardware virtualization: preferred by placement">"KVM"</span> }.into_any()
        }
        Some(Acceleration::Tcg) => view! {
            <span class="badge busy" title="software emulation: takes instances only when no KVM host has room">"TCG"</span>
        }.into_any(),
        Some(Acceleration::Test) => {
            view! { <span class="badge" title="nothing runs: for tests and demos">"test driver"</span> }.into_any()
        }
        None => "—".into_any(),
    }
}

/// The hypervisor's and libvirt's versions, e.g. "QEMU 7.2.0" and
/// "libvirt 9.0.0", one a line.
fn versions(probe: &HostProbe) -> impl IntoView + use<> {
    let hypervisor = match (&probe.hypervisor, &probe.hypervisor_version) {
        (Some(name), Some(version)) => Some(format!("{name} {version}")),
        (Some(name), None) => Some(name.clone()),
        (None, _) => None,
    };
    let libvirt = probe
        .libvirt_version
        .as_ref()
        .map(|v| format!("libvirt {v}"));
    let both: Vec<String> = hypervisor.into_iter().chain(libvirt).collect();
    match both.is_empty() {
        true => "—".into_any(),
        false => both
            .into_iter()
            .map(|v| view! { <span class="version">{v}</span> })
            .collect_view()
            .into_any(),
    }
}

/// The host's CPUs: how many, and of what model, e.g. "8 × Intel
/// Skylake-Client-IBRS, x86_64".
fn cpus(probe: &HostProbe) -> String {
    match (probe.cpus, &probe.cpu_model) {
        (Some(n), Some(model)) => format!("{n} × {model}"),
        (Some(n), None) => n.to_string(),
        (None, _) => "—".to_owned(),
    }
}

/// What a host takes, and the button that changes it: a draining host
/// is drained once it holds no instance.
fn placement_cell(h: &HostStatus, mode: ServerAction<SetHostMode>) -> impl IntoView + use<> {
    let (label, class, next, button) = match (h.mode, h.instances.unwrap_or_default()) {
        (HostMode::Active, _) => (
            "takes new instances",
            "badge ok",
            HostMode::Draining,
            "Drain",
        ),
        (HostMode::Draining, 0) => ("drained", "badge", HostMode::Active, "Resume"),
        (HostMode::Draining, _) => ("draining", "badge busy", HostMode::Active, "Resume"),
    };
    let id = h.id;
    let name = h.name.clone();
    view! {
        <span class=class>{label}</span>
        <ActionForm action=mode attr:class="inline">
            <input type="hidden" name="id" value=id />
            <input type="hidden" name="mode" value=next.as_str() />
            <button type="submit" class="button" disabled=move || mode.pending().get()
                aria-label=format!("{button} {name}")>{button}</button>
        </ActionForm>
    }
}

#[component]
fn HostTable(hosts: Vec<HostStatus>, mode: ServerAction<SetHostMode>) -> impl IntoView {
    view! {
        <table class="hosts" aria-label="Hosts">
            <thead><tr>
                <th scope="col">"Name and URI"</th>
                <th scope="col">"Transport"</th><th scope="col">"State"</th>
                <th scope="col">"Acceleration"</th><th scope="col">"Versions"</th>
                <th scope="col">"CPUs"</th>
                <th scope="col">"Free memory"</th><th scope="col">"Instances"</th>
                <th scope="col">"Placement"</th>
            </tr></thead>
            <tbody>
                {hosts.into_iter().map(|h| {
                    let state = match (&h.unreachable_since, h.probe.connected, h.probe.starting) {
                        (Some(since), _, _) => view! {
                            <span class="badge bad" title=h.probe.error.clone().unwrap_or_default()>
                                "unreachable since " {time_of_day(since)}
                            </span>
                        }.into_any(),
                        (None, true, _) => view! { <span class="badge ok">"reachable"</span> }.into_any(),
                        (None, false, true) => view! { <span class="badge">"starting"</span> }.into_any(),
                        (None, false, false) => view! { <span class="badge">"not checked yet"</span> }.into_any(),
                    };
                    let placement = placement_cell(&h, mode);
                    view! {
                        <tr>
                            <th scope="row">{h.name}<br /><code class="uri">{h.probe.uri.clone()}</code></th>
                            <td>{transport(&h.probe.uri)}</td>
                            <td>{state}</td>
                            <td class="acceleration">{acceleration(&h.probe)}</td>
                            <td class="versions">{versions(&h.probe)}</td>
                            <td class="cpus">{cpus(&h.probe)}</td>
                            <td>{match (h.free_memory_mib, h.probe.memory_mib) {
                                (Some(free), Some(total)) => format!("{} of {} MiB", free, total),
                                (None, Some(total)) => format!("{} MiB", total),
                                (Some(_) | None, None) => "—".to_owned(),
                            }}</td>
                            <td>{h.instances.unwrap_or_default()}</td>
                            <td class="placement">{placement}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// Adding a host: what to prepare on it, by transport, then the form.
#[component]
fn AddHostGuide(
    credentials: HostCredentialsView,
    add: ServerAction<AddPoolHost>,
    issue: ServerAction<IssueHostCertificate>,
) -> impl IntoView {
    let issued = issue.value();
    // Any refusal shows at the one field: it is the form's only one.
    let cert_error = Signal::derive(move || match issued.get() {
        Some(Err(AppError::Invalid { message, .. })) => Some(message),
        Some(Err(e)) => Some(e.to_string()),
        Some(Ok(_)) | None => None,
    });
    view! {
        <h2>"Add a host"</h2>
        <p class="lede">"Prepare the machine for one of the two transports, then add it below."</p>
        <div class="host-guides">
            <section class="card" aria-labelledby="tls-title">
                <h3 id="tls-title">"Over TLS (qemu+tls)"</h3>
                <ol>
                    <li>"On the host, install dpe's CA certificate as " <code>"/etc/pki/CA/cacert.pem"</code> ":"</li>
                </ol>
                <pre id="ca-certificate" class="key">{credentials.ca_certificate_pem}</pre>
                <ol start="2">
                    <li>"Issue the host's server certificate here (its name exactly as in the URI), and install the files it gives:"</li>
                </ol>
                <ActionForm action=issue attr:class="form-card" attr:novalidate=true>
                    <label for="cert-host">"Host name or address"</label>
                    <input id="cert-host" name="host" type="text" autocomplete="off"
                        placeholder="kvm2.example.org" aria-describedby="cert-host-error" />
                    <FieldError id="cert-host-error".to_owned() message=cert_error />
                    <button type="submit" class="button" disabled=move || issue.pending().get()>
                        "Issue a server certificate"
                    </button>
                </ActionForm>
                {move || issued.get().and_then(Result::ok).map(|bundle| view! { <Bundle bundle /> })}
                <ol start="3">
                    <li>"Follow the steps the certificate lists (libvirtd listening for TLS on port 16514), then add " <code>"qemu+tls://HOST/system"</code> " below. dpe's client certificate is its own: nothing more to copy."</li>
                </ol>
            </section>
            <section class="card" aria-labelledby="ssh-title">
                <h3 id="ssh-title">"Over SSH (qemu+ssh)"</h3>
                <ol>
                    <li>"Add dpe's public key to " <code>"~/.ssh/authorized_keys"</code> " of the account named in the URI (one that may use libvirt):"</li>
                </ol>
                <pre id="ssh-public-key" class="key">{credentials.ssh_public_key}</pre>
                <ol start="2">
                    <li>"Copy the host's own key (" <code>"/etc/ssh/ssh_host_ed25519_key.pub"</code> ", or what " <code>"ssh-keyscan -t ed25519 HOST"</code> " prints, checked on the host) into the host key field below: dpe pins it, and refuses a host that shows another."</li>
                    <li>"Add " <code>"qemu+ssh://USER@HOST/system"</code> " below."</li>
                </ol>
            </section>
        </div>
        <AddHostForm add />
    }
}

/// A server certificate just issued: each file with where it goes.
#[component]
fn Bundle(bundle: ServerCertificateBundle) -> impl IntoView {
    view! {
        <div class="banner info" role="status" id="server-certificate">
            <p>"For " <strong>{bundle.host}</strong> ". The key is shown once: dpe keeps no copy."</p>
            {bundle.files.into_iter().map(|f| view! {
                <p><code>{f.path}</code> " (mode " {f.mode} ")"</p>
                <pre class="key">{f.contents}</pre>
            }).collect_view()}
            <ol>{bundle.steps.into_iter().map(|s| view! { <li>{s}</li> }).collect_view()}</ol>
        </div>
    }
}

#[component]
fn AddHostForm(add: ServerAction<AddPoolHost>) -> impl IntoView {
    let result = add.value();
    let err =
        move |field: &'static str| Signal::derive(move || error_for_field(&result.get(), field));
    let field =
        move |id: &'static str, label: &'static str, hint: &'static str, initial: &'static str| {
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
        <h3>"The host's details"</h3>
        <ActionForm action=add attr:class="form-card" attr:novalidate=true>
            {field("uri", "URI", "qemu+tls://HOST/system or qemu+ssh://USER@HOST/system; no parameters.", "")}
            {field("name", "Name (optional)", "Shown in the portal; the host's own name when empty.", "")}
            {field("storage_dir", "Storage folder", "An absolute folder on the host for the instances' disks.", "/var/lib/dpe")}
            {field("network", "Network", "A libvirt network on the host.", "default")}
            <label for="ssh_host_key">"SSH host key (for qemu+ssh)"</label>
            <textarea id="ssh_host_key" name="ssh_host_key" rows="2"
                aria-describedby="ssh_host_key-hint ssh_host_key-error"></textarea>
            <p class="hint" id="ssh_host_key-hint">"One line, e.g. ssh-ed25519 AAAA…: dpe pins it."</p>
            <FieldError id="ssh_host_key-error".to_owned() message=err("ssh_host_key") />
            <button type="submit" class="button primary" disabled=move || add.pending().get()>
                "Add host"
            </button>
        </ActionForm>
    }
}
