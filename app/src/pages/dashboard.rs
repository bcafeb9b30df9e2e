use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::get_dashboard;
use crate::components::{Layout, Loading};
use crate::model::{Acceleration, HostStatus, Role};

#[component]
pub fn DashboardPage() -> impl IntoView {
    let dashboard = Resource::new(|| (), |_| get_dashboard());
    view! {
        <Title text="Dashboard" />
        <Layout>
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    match dashboard.await {
                        Ok(d) => {
                            let role = match d.me.role {
                                Role::Admin => "appliance administrator",
                                Role::User => "user",
                            };
                            view! {
                                <h1 class="page-title">{d.appliance_name}</h1>
                                <p class="lede">
                                    "Signed in as " <strong>{d.me.username}</strong> ", " {role} "."
                                </p>
                                <h2>"Hosts"</h2>
                                <div class="grid">
                                    {d.hosts.into_iter().map(|h| view! { <HostCard host=h /> }).collect_view()}
                                </div>
                                {(!d.cleaned_orphans.is_empty()).then(|| view! {
                                    <h2>"Leftovers removed"</h2>
                                    <section class="card">
                                        <p class="lede">"dpe domains and volumes that no record explained, removed by the reconciler:"</p>
                                        <ul>{d.cleaned_orphans.into_iter().map(|o| view! { <li><code>{o}</code></li> }).collect_view()}</ul>
                                    </section>
                                })}
                            }
                                .into_any()
                        }
                        Err(e) => view! { <div class="banner error" role="alert">{e.to_string()}</div> }.into_any(),
                    }
                })}
            </Suspense>
        </Layout>
    }
}

#[component]
fn HostCard(host: HostStatus) -> impl IntoView {
    let p = host.probe;
    let (badge_class, badge) = if p.connected {
        ("badge ok", "connected")
    } else {
        ("badge bad", "unreachable")
    };
    let accel = p.acceleration.map(|a| match a {
        Acceleration::Kvm => ("KVM", "hardware virtualization"),
        Acceleration::Tcg => ("TCG", "software emulation: KVM is not usable on this host"),
        Acceleration::Test => ("test driver", "nothing runs: for tests and demos"),
    });
    let dash = || "—".to_string();
    let label = format!("Host {}", host.name);
    view! {
        <article class="card host" aria-label=label>
            <header class="card-head">
                <h3>{host.name}</h3>
                <span class=badge_class>{badge}</span>
            </header>
            <dl class="facts">
                <dt>"URI"</dt>
                <dd><code>{p.uri}</code></dd>
                <dt>"libvirt"</dt>
                <dd>{p.libvirt_version.unwrap_or_else(dash)}</dd>
                <dt>"Hypervisor"</dt>
                <dd>
                    {match (p.hypervisor, p.hypervisor_version) {
                        (Some(h), Some(v)) => format!("{h} {v}"),
                        (Some(h), None) => h,
                        (None, _) => dash(),
                    }}
                </dd>
                <dt>"Acceleration"</dt>
                <dd>
                    {match accel {
                        Some((name, why)) => view! { <span title=why>{name}</span> " " <small>{why}</small> }.into_any(),
                        None => dash().into_any(),
                    }}
                </dd>
                <dt>"CPUs"</dt>
                <dd>{p.cpus.map(|c| c.to_string()).unwrap_or_else(dash)}</dd>
                <dt>"Memory"</dt>
                <dd>{p.memory_mib.map(format_mib).unwrap_or_else(dash)}</dd>
                <dt>"Storage"</dt>
                <dd><code>{host.storage_dir}</code></dd>
                <dt>"Network"</dt>
                <dd>{host.network}</dd>
            </dl>
            {p.error.map(|e| view! { <p class="field-error" role="status">{e}</p> })}
        </article>
    }
}

fn format_mib(mib: u64) -> String {
    if mib >= 1024 {
        format!("{:.1} GiB", mib as f64 / 1024.0)
    } else {
        format!("{mib} MiB")
    }
}
