use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::get_dashboard;
use crate::api::hosts::{AdoptLeftover, ReleaseLeftovers};
use crate::api::pool::{SetPoolTargets, get_pool};
use crate::components::{
    ErrorBanner, FieldError, Layout, Loading, StateBadge, error_for_field, general_error,
};
use crate::model::{
    Acceleration, ApprovalView, HostStatus, InstanceCounts, InstanceState, InstanceView,
    LeftoverKind, Leftovers, PoolState, PoolView, Power, Role, time_of_day,
};
use crate::org::QuotaUse;

#[component]
pub fn DashboardPage() -> impl IntoView {
    let refreshes = RwSignal::new(0u32);
    let dashboard = Resource::new(move || refreshes.get(), |_| get_dashboard());
    // While a host is still starting (right after a boot), a hydrated page
    // asks again every 3 s, so it turns to "connected" by itself.
    #[cfg(feature = "hydrate")]
    if let Ok(timer) = set_interval_with_handle(
        move || {
            let starting = dashboard
                .get_untracked()
                .and_then(Result::ok)
                .is_some_and(|d| d.hosts.iter().any(|h| h.probe.starting));
            if starting {
                refreshes.try_update(|n| *n += 1);
            }
        },
        std::time::Duration::from_secs(3),
    ) {
        on_cleanup(move || timer.clear());
    }
    view! {
        <Title text="Dashboard" />
        <Layout>
            <Transition fallback=Loading>
                {move || Suspend::new(async move {
                    match dashboard.await {
                        Ok(d) => {
                            let role = d.me.role.label();
                            view! {
                                <h1 class="page-title">{d.appliance_name}</h1>
                                <p class="lede">
                                    "Signed in as " <strong>{d.me.username}</strong> ", " {role} "."
                                </p>
                                <UnreachableHosts hosts=d.hosts.clone() />
                                <KeptLeftovers leftovers=d.leftovers.clone() refreshes=refreshes />
                                <ToAct approvals=d.approvals expiring=d.expiring />
                                <InstanceSummary counts=d.instances />
                                {(!d.quotas.is_empty()).then(|| view! {
                                    <h2>"Quotas"</h2>
                                    <div class="grid">
                                        {d.quotas.into_iter().map(|q| view! { <QuotaCard quota=q /> }).collect_view()}
                                    </div>
                                })}
                                {(d.me.role == Role::Admin).then(|| view! { <PoolCard /> })}
                                <h2>"Hosts"</h2>
                                <div class="grid">
                                    {d.hosts.into_iter().map(|h| view! { <HostCard host=h /> }).collect_view()}
                                </div>
                                <RemovedLeftovers leftovers=d.leftovers />
                            }
                                .into_any()
                        }
                        Err(e) => view! { <div class="banner error" role="alert">{e.to_string()}</div> }.into_any(),
                    }
                })}
            </Transition>
        </Layout>
    }
}

/// After a restored store, what the hosts hold that it does not know:
/// kept, first on the page, until the admin lets the reconciler remove it.
#[component]
fn KeptLeftovers(leftovers: Leftovers, refreshes: RwSignal<u32>) -> impl IntoView {
    let release = ServerAction::<ReleaseLeftovers>::new();
    let adopt = ServerAction::<AdoptLeftover>::new();
    Effect::new(move |_| {
        let released = matches!(release.value().get(), Some(Ok(_)));
        let adopted = matches!(adopt.value().get(), Some(Ok(_)));
        if released || adopted {
            refreshes.update(|n| *n += 1);
        }
    });
    let general = Signal::derive(move || {
        general_error(&release.value().get()).or_else(|| general_error(&adopt.value().get()))
    });
    leftovers.held_notice().map(|notice| {
        let release_label = match leftovers.held.is_empty() {
            true => "Done: remove leftovers as found again",
            false => "Remove them for good",
        };
        let rows = leftovers
            .held
            .into_iter()
            .map(|h| {
                let what = match h.kind {
                    LeftoverKind::Domain => "guest",
                    LeftoverKind::Volume => "volume",
                };
                let adopt_form = match (h.adoptable, h.instance_uuid) {
                    (true, Some(uuid)) => view! {
                        <ActionForm action=adopt attr:class="inline">
                            <input type="hidden" name="instance_uuid" value=uuid />
                            <button type="submit" class="button">"Adopt"</button>
                        </ActionForm>
                    }
                    .into_any(),
                    (true | false, _) => ().into_any(),
                };
                let with = match h.volumes.len() {
                    0 => String::new(),
                    1 => " (and its volume)".to_owned(),
                    n => format!(" (and its {n} volumes)"),
                };
                view! {
                    <tr>
                        <td>{what}{with}</td>
                        <td><code>{h.name}</code></td>
                        <td>{h.host}</td>
                        <td>{h.owner.unwrap_or_default()}</td>
                        <td>{h.power.map(|p| p.to_string()).unwrap_or_default()}</td>
                        <td>{adopt_form}</td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <section class="card attention kept-leftovers" id="kept-leftovers" aria-labelledby="kept-title">
                <h2 id="kept-title">"Kept after the store was restored"</h2>
                <p>{notice}</p>
                <p>
                    "They may be instances deployed after the copy was made. Nothing is removed until you say so. "
                    "Adopt a guest to make it its owner's instance again, with its disk as it is; "
                    "what you do not adopt goes when you remove the rest."
                </p>
                <table class="kept-table">
                    <thead>
                        <tr><th scope="col">"What"</th><th scope="col">"Name"</th><th scope="col">"Host"</th><th scope="col">"Owner"</th><th scope="col">"Power"</th><th scope="col"><span class="sr-only">"Adopt"</span></th></tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
                <ErrorBanner message=general />
                <ActionForm action=release attr:class="inline">
                    <button type="submit" class="button danger" id="release-leftovers">{release_label}</button>
                </ActionForm>
            </section>
        }
    })
}

/// What the reconciler removed since dpe started (appliance admins).
#[component]
fn RemovedLeftovers(leftovers: Leftovers) -> impl IntoView {
    (!leftovers.cleaned.is_empty()).then(|| view! {
        <h2>"Leftovers removed"</h2>
        <section class="card">
            <p class="lede">"dpe domains and volumes that no record explained, removed by the reconciler:"</p>
            <ul>{leftovers.cleaned.into_iter().map(|o| view! { <li><code>{o}</code></li> }).collect_view()}</ul>
        </section>
    })
}

/// Hosts that do not answer, first on the page: their instances are
/// shown as last seen and take no action until the host is back.
#[component]
fn UnreachableHosts(hosts: Vec<HostStatus>) -> impl IntoView {
    let notices: Vec<String> = hosts
        .iter()
        .filter_map(HostStatus::unreachable_notice)
        .collect();
    (!notices.is_empty()).then(|| {
        view! {
            <div class="banner error" role="alert" id="hosts-unreachable">
                {notices.into_iter().map(|n| view! { <p>{n}</p> }).collect_view()}
            </div>
        }
    })
}

/// What waits for the signed-in account, first on the page: requests it
/// may decide, and instances whose lease ends soon (or has ended).
#[component]
fn ToAct(approvals: Vec<ApprovalView>, expiring: Vec<InstanceView>) -> impl IntoView {
    if approvals.is_empty() && expiring.is_empty() {
        return ().into_any();
    }
    view! {
        <section class="card attention" aria-labelledby="to-act-title" id="to-act">
            <h2 id="to-act-title">"Waiting for you"</h2>
            {(!approvals.is_empty()).then(|| view! {
                <p class="lede"><a href="/approvals">"Deploys waiting for approval"</a></p>
                <ul class="attention-list">
                    {approvals.into_iter().map(|a| view! {
                        <li>
                            {a.instance_name} " " <span class="badge busy">"pending approval"</span>
                            " " <span class="muted">{format!("{}, {}", a.requester, a.size)}</span>
                        </li>
                    }).collect_view()}
                </ul>
            })}
            {(!expiring.is_empty()).then(|| view! {
                <p class="lede">"Leases ending soon: extend them, or let them go"</p>
                <ul class="attention-list">
                    {expiring.into_iter().map(|i| {
                        let expired = i.lease.as_ref().is_some_and(|l| l.stage.is_expired());
                        let until = i.lease.map(|l| l.expires_at).unwrap_or_default();
                        view! {
                            <li>
                                <a href=format!("/instances/{}", i.id)>{i.name}</a> " "
                                {if expired {
                                    view! { <span class="badge bad">"expired"</span> }.into_any()
                                } else {
                                    view! { <span class="badge busy">"expires " {until}</span> }.into_any()
                                }}
                                " " <span class="muted">{i.owner}</span>
                            </li>
                        }
                    }).collect_view()}
                </ul>
            })}
        </section>
    }
    .into_any()
}

/// The instances counted: those needing attention first (failed deploys
/// and applications that stopped answering), then how many are in each
/// state, each a link to the list of them.
#[component]
fn InstanceSummary(counts: InstanceCounts) -> impl IntoView {
    let problems = counts.failed + counts.unhealthy;
    let attention = (problems > 0).then(|| {
        let more = problems > counts.attention.len() as u64;
        view! {
            <section class="card attention" aria-labelledby="attention-title">
                <h2 id="attention-title">"Needs attention"</h2>
                <p class="lede">
                    {(counts.failed > 0).then(|| view! {
                        <a href="/instances?state=failed">{plural(counts.failed, ("failed deploy", "failed deploys"))}</a>
                    })}
                    {(counts.failed > 0 && counts.unhealthy > 0).then_some(" · ")}
                    {(counts.unhealthy > 0).then(|| view! {
                        <a href="/instances?health=unhealthy">{plural(counts.unhealthy, ("application not answering", "applications not answering"))}</a>
                    })}
                </p>
                <ul class="attention-list">
                    {counts.attention.into_iter().map(|i| view! {
                        <li>
                            <a href=format!("/instances/{}", i.id)>{i.name}</a> " "
                            <StateBadge state=i.state />
                            {(i.health == crate::model::Health::Unhealthy).then(|| view! {
                                " " <span class="badge bad">"not answering"</span>
                            })}
                            " " <span class="muted">{i.owner}</span>
                        </li>
                    }).collect_view()}
                </ul>
                {more.then(|| view! { <p class="hint">"The newest are shown; the links above list them all."</p> })}
            </section>
        }
    });
    view! {
        {attention}
        <section class="card counts" aria-labelledby="counts-title">
            <h2 id="counts-title">
                <a href="/instances">{plural(counts.total, ("instance", "instances"))}</a>
            </h2>
            {if counts.by_state.is_empty() {
                view! { <p>"Nothing deployed yet. " <a href="/deploy">"Deploy"</a></p> }.into_any()
            } else {
                view! {
                    <ul class="state-counts">
                        {counts.by_state.into_iter().map(|c| view! {
                            <li>
                                <a href=format!("/instances?state={}", c.state.as_str())>
                                    <strong>{c.count}</strong> " " {state_label(c.state)}
                                </a>
                            </li>
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
    }
}

/// The warm pool at a glance, and how many of each size to keep ready
/// (appliance admins).
#[component]
fn PoolCard() -> impl IntoView {
    let save = ServerAction::<SetPoolTargets>::new();
    let refreshes = RwSignal::new(0u32);
    let pool = Resource::new(
        move || (save.version().get(), refreshes.get()),
        |_| get_pool(),
    );
    // While a member boots or goes, a hydrated page asks again every 5 s.
    #[cfg(feature = "hydrate")]
    if let Ok(timer) = set_interval_with_handle(
        move || {
            let moving = pool
                .get_untracked()
                .and_then(Result::ok)
                .is_some_and(|p| p.members.iter().any(|m| m.state != PoolState::Ready));
            if moving {
                refreshes.try_update(|n| *n += 1);
            }
        },
        std::time::Duration::from_secs(5),
    ) {
        on_cleanup(move || timer.clear());
    }
    let result = save.value();
    let general = Signal::derive(move || general_error(&result.get()));
    view! {
        <section class="card pool" aria-labelledby="pool-title">
            <h2 id="pool-title">"Warm pool"</h2>
            <Transition fallback=Loading>
                {move || Suspend::new(async move {
                    match pool.await {
                        Ok(p) if !p.supported => view! {
                            <p class="hint">"This stack cannot be personalized in place: every deploy boots its own guest."</p>
                        }.into_any(),
                        Ok(p) => view! { <PoolForm pool=p save=save general=general /> }.into_any(),
                        Err(e) => view! { <div class="banner error" role="alert">{e.to_string()}</div> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn PoolForm(
    pool: PoolView,
    save: ServerAction<SetPoolTargets>,
    general: Signal<Option<String>>,
) -> impl IntoView {
    let result = save.value();
    let rows = pool
        .sizes
        .iter()
        .map(|info| {
            let size = &info.name;
            let target = pool.targets.get(size).copied().unwrap_or(0);
            let field = format!("targets.{size}");
            let error_id = format!("pool-{size}-error");
            let message = Signal::derive(move || error_for_field(&result.get(), &field));
            view! {
                <tr>
                    <th scope="row">{info.label.clone()}</th>
                    <td>{pool.count(size, PoolState::Ready)}</td>
                    <td>{pool.count(size, PoolState::Booting)}</td>
                    <td>
                        <input type="number" min="0" max="16" inputmode="numeric"
                            name=format!("targets[{size}]") value=target.to_string()
                            aria-label=format!("Keep ready: {size}")
                            aria-describedby=error_id.clone() />
                        <FieldError id=error_id message=message />
                    </td>
                </tr>
            }
        })
        .collect_view();
    let emulated = pool.emulated.then(|| view! {
        <p class="hint">
            "Every host emulates its guests (no usable KVM), so none is kept ready unless you ask: "
            "a guest booting there takes whole cores for minutes."
        </p>
    });
    view! {
        <p class="hint">
            "Guests booted ahead of time. A deploy to the inside zone claims a ready one of its size "
            "and its application answers in seconds; without one, or to the outside zone, it boots its own."
        </p>
        {emulated}
        <ErrorBanner message=general />
        <ActionForm action=save attr:class="pool-form" attr:novalidate=true>
            <table class="pool-table">
                <thead>
                    <tr><th scope="col">"Size"</th><th scope="col">"Ready"</th><th scope="col">"Booting"</th><th scope="col">"Keep ready"</th></tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
            <button type="submit" class="button primary" disabled=move || save.pending().get()>
                "Save pool targets"
            </button>
        </ActionForm>
    }
}

/// "1 instance", "3 instances": `words` is the singular and the plural.
fn plural(n: u64, (one, many): (&str, &str)) -> String {
    match n {
        1 => format!("1 {one}"),
        n => format!("{n} {many}"),
    }
}

/// A state in words, as the instance list's filter names it.
fn state_label(state: InstanceState) -> &'static str {
    match state {
        InstanceState::Provisioning => "deploying",
        InstanceState::Failed => "failed",
        InstanceState::Deleting => "deleting",
        InstanceState::Ready(Power::Running) => "running",
        InstanceState::Ready(Power::Paused) => "paused",
        InstanceState::Ready(Power::ShuttingDown) => "shutting down",
        InstanceState::Ready(Power::ShutOff) => "shut off",
        InstanceState::Ready(Power::Crashed) => "crashed",
        InstanceState::Ready(Power::Unknown) => "state unknown",
    }
}

/// One quota as bars: how much of each limit is in use.
#[component]
pub fn QuotaCard(quota: QuotaUse) -> impl IntoView {
    let q = quota.quota;
    let u = quota.usage;
    let rows: Vec<(&'static str, u64, Option<u64>)> = vec![
        ("Instances", u.instances.into(), q.instances.map(u64::from)),
        ("vCPUs", u.vcpus.into(), q.vcpus.map(u64::from)),
        ("Memory (MiB)", u.memory_mib, q.memory_mib),
        ("Disk (GiB)", u.disk_gib, q.disk_gib),
    ];
    view! {
        <section class="card quota" aria-label=quota.scope.clone()>
            <h3>{quota.scope.clone()}</h3>
            <dl class="facts">
                {rows.into_iter().map(|(label, used, limit)| {
                    let text = match limit {
                        Some(l) => format!("{used} of {l}"),
                        None => format!("{used}, no limit"),
                    };
                    view! {
                        <dt>{label}</dt>
                        <dd>
                            {limit.map(|l| view! {
                                <meter min="0" max=l.max(1) value=used high=l.max(1) * 9 / 10 aria-label=label></meter>
                            })}
                            " " {text}
                        </dd>
                    }
                }).collect_view()}
            </dl>
        </section>
    }
}

#[component]
fn HostCard(host: HostStatus) -> impl IntoView {
    let p = host.probe;
    let (badge_class, badge) = match (p.connected, p.starting) {
        (true, _) => ("badge ok", "connected".to_owned()),
        (false, true) => ("badge", "starting".to_owned()),
        (false, false) => (
            "badge bad",
            match &host.unreachable_since {
                Some(since) => format!("unreachable since {}", time_of_day(since)),
                None => "unreachable".to_owned(),
            },
        ),
    };
    let accel = p.acceleration.map(|a| match a {
        Acceleration::Kvm => ("KVM", "hardware virtualization"),
        Acceleration::Tcg => ("TCG", "software emulation: KVM is not usable on this host"),
        Acceleration::Test => ("test driver", "nothing runs: for tests and demos"),
    });
    let dash = || "—".to_string();
    let label = format!("Host {}", host.name);
    // Members see whether a host is available, not how it is reached.
    if p.uri.is_empty() {
        return view! {
            <article class="card host" aria-label=label>
                <header class="card-head">
                    <h3>{host.name}</h3>
                    <span class=badge_class>{badge}</span>
                </header>
                <p>"Host available: " {if p.connected { "yes" } else { "no" }}</p>
            </article>
        }
        .into_any();
    }
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
            {if p.starting {
                view! {
                    <p class="hint" role="status">
                        "libvirt on this machine is still starting (after a boot it first checks QEMU); this page updates when it answers."
                    </p>
                }.into_any()
            } else {
                p.error.map(|e| view! { <p class="field-error" role="status">{e}</p> }).into_any()
            }}
        </article>
    }
    .into_any()
}

fn format_mib(mib: u64) -> String {
    if mib >= 1024 {
        format!("{:.1} GiB", mib as f64 / 1024.0)
    } else {
        format!("{mib} MiB")
    }
}
