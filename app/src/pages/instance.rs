use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::leases::ExtendLease;
use crate::api::{InstanceAction, PatchInstance, get_instance, get_task};
use crate::components::{
    Confirm, ErrorBanner, FieldError, Layout, Loading, StaleBanner, StateBadge, error_for_field,
    general_error,
};
use crate::live::{LastGood, Shown};
use crate::model::{
    ApprovalState, Health, InstanceApproval, InstanceState, InstanceStatus, InstanceView, Power,
    Share, StepState, TaskView, time_of_day,
};

/// One instance: state, address, the application's URL and who may open
/// it, the running task's progress (live), and the lifecycle buttons.
#[component]
pub fn InstancePage() -> impl IntoView {
    let id = crate::components::use_route_id();
    let act = ServerAction::<InstanceAction>::new();
    let patch = ServerAction::<PatchInstance>::new();
    let extend = ServerAction::<ExtendLease>::new();
    // Bumped when a live task ends, to reload the instance.
    let finished = RwSignal::new(0u32);
    // And reloaded as the live feed tells of changes (no polling).
    let live = crate::live::LiveFeed::get();
    let last_good = LastGood::new();
    let instance = Resource::new(
        move || {
            (
                id(),
                act.version().get(),
                patch.version().get(),
                extend.version().get(),
                finished.get(),
                live.tick(),
            )
        },
        |(id, ..)| get_instance(id),
    );
    let snapshots = super::snapshots::Snapshots::new(Signal::derive(id), finished);
    let backups = super::backups::Backups::new(Signal::derive(id), finished);
    let general = Signal::derive(move || {
        general_error(&act.value().get()).or_else(|| general_error(&patch.value().get()))
    });
    view! {
        <Title text="Instance" />
        <Layout>
            <ErrorBanner message=general />
            <Transition fallback=Loading>
                {move || Suspend::new(async move {
                    match last_good.show(live, id(), instance.await) {
                        Shown::Fresh(inst) => view! { <InstanceDetail inst act patch extend finished snapshots backups /> }.into_any(),
                        Shown::Stale(inst, error) => view! {
                            <StaleBanner error />
                            <InstanceDetail inst act patch extend finished snapshots backups />
                        }.into_any(),
                        Shown::Failed(e) => view! { <div class="banner error" role="alert">{e.to_string()}</div> }.into_any(),
                    }
                })}
            </Transition>
        </Layout>
    }
}

#[component]
fn InstanceDetail(
    inst: InstanceView,
    act: ServerAction<InstanceAction>,
    patch: ServerAction<PatchInstance>,
    extend: ServerAction<ExtendLease>,
    finished: RwSignal<u32>,
    snapshots: super::snapshots::Snapshots,
    backups: super::backups::Backups,
) -> impl IntoView {
    let status = inst.state.status();
    let ready = status == InstanceStatus::Ready;
    let running = inst.state == InstanceState::Ready(Power::Running);
    // An expired instance stays off until its lease is extended.
    let expired = inst.lease.as_ref().is_some_and(|l| l.stage.is_expired());
    // Delete is offered unless a task already has the instance.
    let deletable = match status {
        InstanceStatus::Ready | InstanceStatus::Failed => true,
        InstanceStatus::Provisioning | InstanceStatus::Deleting => false,
    };
    // No action runs while its host does not answer (the server refuses
    // them too): the state shown is the last one seen.
    let busy = inst.task_id.is_some() || inst.host_unreachable_since.is_some();
    let unsettled = inst.unsettled();
    let id = inst.id;
    let button = move |action: &'static str,
                       label: &'static str,
                       enabled: bool,
                       class: &'static str| {
        view! {
            <ActionForm action=act attr:class="inline">
                <input type="hidden" name="id" value=id />
                <input type="hidden" name="action" value=action />
                <button type="submit" class=format!("button {class}") disabled=move || !enabled || act.pending().get()>{label}</button>
            </ActionForm>
        }
    };
    view! {
        <Title text=inst.name.clone() />
        <div class="page-head">
            <div class="title-line">
                <h1 class="page-title">{inst.name.clone()}</h1>
                <StateBadge state=inst.state approval=inst.approval.as_ref().map(|a| a.state) />
            </div>
            // A full load (external): the console page's scripts run as
            // the server renders them.
            {running.then(|| view! {
                <a class="button" id="open-console" href=format!("/instances/{id}/console") rel="external">
                    "Console"
                </a>
                <a class="button" id="open-display" href=format!("/instances/{id}/graphics") rel="external">
                    "Display"
                </a>
            })}
            {inst.url.clone().map(|url| view! {
                <a class="button primary" id="open-app" href=url target="_blank" rel="noopener">
                    "Open"<span class="sr-only">" the application (in a new tab)"</span>
                </a>
            })}
        </div>
        {inst.task_id.map(|task_id| view! { <TaskProgress task_id finished /> })}
        {inst.error.clone().map(|e| view! { <div class="banner error" role="status">{e}</div> })}
        {inst.host_unreachable_since.clone().map(|since| view! {
            <div class="banner error" role="status" id="host-unreachable">
                "Host unreachable: " {inst.host.clone().unwrap_or_default()}
                " has not answered since " {time_of_day(&since)}
                ". The state shown is the last one seen; actions wait until the host is back, and nothing is lost."
            </div>
        })}
        {inst.version.clone().filter(|v| v.update_available).map(|v| view! {
            <div class="banner info" role="status" id="update-available">
                <p><strong>"Update available"</strong> ": a newer version of the application is current. It runs "
                    {v.label} "."</p>
                {(!v.changes.is_empty()).then(|| view! {
                    <p>"What the update changes:"</p>
                    <ul class="changes">{v.changes.into_iter().map(|c| view! { <li>{c}</li> }).collect_view()}</ul>
                })}
            </div>
        })}
        {inst.approval.clone().map(|a| view! { <ApprovalFact approval=a /> })}
        <section class="card">
            <dl class="facts">
                <dt>"Health"</dt>
                <dd><HealthBadge health=inst.health /></dd>
                <dt>"Application"</dt>
                <dd>{match inst.url.clone() {
                    Some(url) => {
                        let href = url.clone();
                        view! { <a href=href target="_blank" rel="noopener" id="app-url">{url}</a> }.into_any()
                    }
                    None => view! { <span>"not reachable yet"</span> }.into_any(),
                }}</dd>
                <dt>"Zone"</dt>
                <dd>{match inst.zone {
                    crate::model::NetworkZone::Inside => "inside (behind the appliance)",
                    crate::model::NetworkZone::Outside => "outside (on the LAN)",
                }}</dd>
                <dt>"Guest address"</dt>
                <dd>{inst.ip.clone().unwrap_or_else(|| "waiting for DHCP…".into())}</dd>
                <dt>"Size"</dt><dd>{inst.size.clone()}</dd>
                <dt>"Version"</dt>
                <dd id="version">{match inst.version.clone() {
                    Some(v) if v.update_available => view! {
                        {v.label} " " <span class="badge update">"Update available"</span>
                    }.into_any(),
                    Some(v) => view! { {v.label} " (current)" }.into_any(),
                    None => "—".into_any(),
                }}</dd>
                <dt>"Host"</dt><dd>{inst.host.clone().unwrap_or_else(|| "—".into())}</dd>
                <dt>"Owner"</dt><dd>{inst.owner.clone()}</dd>
                <dt>"Created"</dt><dd>{inst.created_at.clone()}</dd>
            </dl>
        </section>
        <super::lease::LeaseSection id lease=inst.lease.clone() extend />
        <ShareForm id share=inst.share patch />
        <section class="card actions" aria-label="Actions">
            {button("start", "Start", ready && !running && !busy && !expired, "")}
            {button("shutdown", "Shut down", running && !busy, "")}
            {button("reboot", "Reboot", running && !busy, "")}
            {button("poweroff", "Power off", running && !busy, "")}
            <Confirm key=format!("delete-instance-{id}") summary="Delete" class="danger"
                id="delete-instance">
                <p>{format!(
                    "Delete {}? Its disk and snapshots are removed. Its backups are kept until \
                     their retention removes them: Backups can restore it.",
                    inst.name
                )}</p>
                {button("delete", "Delete", !busy && deletable, "danger")}
            </Confirm>
        </section>
        <super::move_host::MoveSection id host=inst.host.clone()
            enabled=ready && !busy && matches!(inst.state,
                InstanceState::Ready(Power::Running | Power::ShutOff)) />
        <super::resize::ResizeSection id size=inst.size.clone()
            enabled=ready && !busy && matches!(inst.state,
                InstanceState::Ready(Power::Running | Power::ShutOff)) />
        <super::usage::UsageSection id />
        <super::snapshots::SnapshotsSection id enabled=ready && !busy snapshots />
        <super::backups::BackupsSection id enabled=ready && !busy backups />
        // Without JavaScript the page reloads itself while unsettled (it is
        // rendered whole on the server). Only without: a refresh tag seen by
        // a hydrated page would reload this URL even after the app has moved
        // on (to the list, after Delete); the hydrated page follows the live feed instead.
        {unsettled.then(|| view! { <noscript inner_html=r#"<meta http-equiv="refresh" content="3">"# /> })}
    }
}

/// "Who may open it": the instance's share, changed by a form that posts
/// without JavaScript too.
#[component]
fn ShareForm(id: i64, share: Share, patch: ServerAction<PatchInstance>) -> impl IntoView {
    let result = patch.value();
    let err = Signal::derive(move || error_for_field(&result.get(), "share"));
    view! {
        <section class="card" aria-labelledby="share-title">
            <h2 id="share-title">"Who may open it"</h2>
            <p class="hint" id="share-hint">
                "Who may open the application through the appliance. Whoever may manage the "
                "instance (its owner, its department's admins and the appliance's admins) always may."
            </p>
            <Show when=move || matches!(result.get(), Some(Ok(_)))>
                <div class="banner success" role="status" id="share-saved">"Saved."</div>
            </Show>
            <ActionForm action=patch attr:class="row share-form" attr:novalidate=true>
                <input type="hidden" name="id" value=id />
                <label class="sr-only" for="share">"Who may open it"</label>
                <select id="share" name="share" aria-describedby="share-hint share-error">
                    {Share::ALL.iter().map(|&s| view! {
                        <option value=s.as_str() selected=s == share>{share_label(s)}</option>
                    }).collect_view()}
                </select>
                <button type="submit" class="button" disabled=move || patch.pending().get()>"Save"</button>
            </ActionForm>
            <FieldError id="share-error".into() message=err />
        </section>
    }
}

/// A share in plain words.
fn share_label(share: Share) -> &'static str {
    match share {
        Share::Owner => "Only me and the admins",
        Share::Department => "Everyone in its department",
        Share::SignedIn => "Everyone who can sign in",
        Share::Public => "Anyone, without signing in",
    }
}

/// The application's health check, in words.
#[component]
fn HealthBadge(health: Health) -> impl IntoView {
    let (class, text) = match health {
        Health::Healthy => ("badge ok", "healthy: the application answers"),
        Health::Starting => ("badge busy", "starting: waiting for the application"),
        Health::Unhealthy => ("badge bad", "unhealthy: the application stopped answering"),
        Health::Unknown => ("badge", "not checked yet"),
    };
    view! { <span class=class id="health">{text}</span> }
}

/// A progress bar with the current step, fed live by Server-Sent Events.
#[component]
fn TaskProgress(task_id: i64, finished: RwSignal<u32>) -> impl IntoView {
    let initial = Resource::new(move || task_id, get_task);
    let live: RwSignal<Option<TaskView>> = RwSignal::new(None);
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        use wasm_bindgen::closure::Closure;
        Effect::new(move |_| {
            let Ok(source) = web_sys::EventSource::new(&format!("/api/v1/tasks/{task_id}/events"))
            else {
                return;
            };
            let on_task = Closure::<dyn FnMut(web_sys::MessageEvent)>::new({
                let source = source.clone();
                move |event: web_sys::MessageEvent| {
                    let Some(text) = event.data().as_string() else {
                        return;
                    };
                    if let Ok(view) = serde_json::from_str::<TaskView>(&text) {
                        let done = view.state.has_ended();
                        live.set(Some(view));
                        if done {
                            source.close();
                            finished.update(|n| *n += 1);
                        }
                    }
                }
            });
            let _ =
                source.add_event_listener_with_callback("task", on_task.as_ref().unchecked_ref());
            on_task.forget();
            on_cleanup(move || source.close());
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = finished;
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let first = initial.await.ok();
                view! {
                    {move || live.get().or_else(|| first.clone()).map(|t| {
                        let current = t.steps.iter().find(|s| s.state.is_current())
                            .or_else(|| t.steps.iter().find(|s| s.state == StepState::Pending))
                            .map(|s| s.name.clone())
                            .unwrap_or_else(|| "finishing".into());
                        view! {
                            <section class="card progress" aria-live="polite">
                                <p><strong>{t.kind.as_str()}</strong> ": " {current}</p>
                                <progress max="100" value=t.progress aria-label="Progress">{t.progress}"%"</progress>
                                <ol class="steps">
                                    {t.steps.iter().map(|s| view! {
                                        <li class=format!("step-{}", s.state)>{s.name.clone()}</li>
                                    }).collect_view()}
                                </ol>
                            </section>
                        }
                    })}
                }
            })}
        </Suspense>
    }
}

/// Where the approval of the instance's deploy stands: waiting (with its
/// quota held), or who decided and why (a rejection or a lapse is the
/// instance's error, which says so).
#[component]
fn ApprovalFact(approval: InstanceApproval) -> impl IntoView {
    let by = approval.decided_by.unwrap_or_else(|| "nobody".into());
    let why = match approval.comment.as_str() {
        "" => String::new(),
        said => format!(": “{said}”"),
    };
    let (class, text) = match approval.state {
        ApprovalState::Pending => (
            "banner info",
            "This deploy waits for a department admin's approval; its quota is reserved meanwhile."
                .to_owned(),
        ),
        ApprovalState::Approved => ("banner success", format!("Approved by {by}{why}")),
        ApprovalState::Rejected | ApprovalState::Expired => return ().into_any(),
    };
    view! { <div class=class role="status" id="approval-state">{text}</div> }.into_any()
}
