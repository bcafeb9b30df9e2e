use leptos::prelude::*;
use leptos_router::hooks::use_location;

use crate::api::approvals::get_pending_approvals;
use crate::api::{SignOut, get_me};
use crate::model::{ApprovalState, InstanceState, Power, Role};

/// The frame of every signed-in page: header, navigation, content.
#[component]
pub fn Layout(children: Children) -> impl IntoView {
    let sign_out = ServerAction::<SignOut>::new();
    let me = Resource::new(|| (), |_| get_me());
    let live = crate::live::LiveFeed::get();
    // The Approvals link's count. Made here, beside `me`, and read in the
    // navigation's one Suspend (a Transition of its own there did not
    // hydrate). A new request or a decision is an instance's change: the
    // live feed ticks.
    let pending = Resource::new(move || live.tick(), |_| get_pending_approvals());
    // Signed in: the tab follows its live feed; signing out closes it first.
    Effect::new(move |_| {
        if sign_out.pending().get() {
            live.stop();
        } else if matches!(me.get(), Some(Ok(Some(_)))) {
            live.start();
        }
    });
    view! {
        <a class="skip-link" href="#main">"Skip to content"</a>
        <header class="topbar">
            <a class="brand" href="/">
                <span class="logo" aria-hidden="true">"◆"</span>
                " dpe"
            </a>
            <nav aria-label="Main">
                <NavLink href="/" exact=true>"Dashboard"</NavLink>
                <NavLink href="/instances">"Instances"</NavLink>
                <NavLink href="/deploy">"Deploy"</NavLink>
                <NavLink href="/backups">"Backups"</NavLink>
                <NavLink href="/networks">"Networks"</NavLink>
                <NavLink href="/tokens">"API tokens"</NavLink>
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        let role = me.await.ok().flatten().map(|m| m.role);
                        let waiting = match role {
                            Some(Role::Admin | Role::DepartmentAdmin) => pending.await.unwrap_or(0),
                            Some(Role::User) | None => 0,
                        };
                        view! {
                            {matches!(role, Some(Role::Admin | Role::DepartmentAdmin)).then(|| view! {
                                <NavLink href="/approvals">"Approvals"{pending_badge(waiting)}</NavLink>
                                <NavLink href="/departments">"Departments"</NavLink>
                                <NavLink href="/audit">"Audit log"</NavLink>
                            })}
                            {matches!(role, Some(Role::Admin)).then(|| view! {
                                <NavLink href="/hosts">"Hosts"</NavLink>
                                <NavLink href="/directory">"Directory"</NavLink>
                                <NavLink href="/settings/apps">"Settings"</NavLink>
                                <NavLink href="/settings/versions">"Versions"</NavLink>
                                <NavLink href="/settings/notifications">"Notifications"</NavLink>
                            })}
                        }
                    })}
                </Suspense>
            </nav>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match me.await {
                        Ok(Some(me)) => {
                            let role = me.role.label();
                            view! {
                                <div class="who">
                                    <a class="username" href="/account" title="Your account">{me.username}</a>
                                    <span class="role">{role}</span>
                                    <ActionForm action=sign_out attr:class="inline">
                                        <button type="submit" class="button subtle">"Sign out"</button>
                                    </ActionForm>
                                </div>
                            }
                                .into_any()
                        }
                        Ok(None) | Err(_) => view! { <a href="/login">"Sign in"</a> }.into_any(),
                    }
                })}
            </Suspense>
        </header>
        <main id="main" class="content">{children()}</main>
    }
}

/// How many deploy requests wait for the signed-in approver, beside the
/// Approvals link (nothing when none).
fn pending_badge(waiting: u32) -> Option<impl IntoView> {
    (waiting > 0).then(|| {
        let label = format!("{waiting} waiting");
        view! { <span class="count" id="approvals-count" aria-label=label>{waiting}</span> }
    })
}

/// A link of the main navigation, marked as the current page while the
/// address is at it or under it (`exact`: only at it). The router follows
/// it like any link. Leptos's `<A>` does the same with what relative links
/// need besides, and nine of them took 3% of a page's render.
#[component]
fn NavLink(href: &'static str, #[prop(optional)] exact: bool, children: Children) -> impl IntoView {
    let path = use_location().pathname;
    let current = move || path.with(|path| is_at(path, href, exact)).then_some("page");
    view! { <a href=href aria-current=current>{children()}</a> }
}

/// Whether the address `path` is `href`'s page or (unless `exact`) one
/// under it.
fn is_at(path: &str, href: &str, exact: bool) -> bool {
    let path = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    path == href
        || (!exact
            && path
                .strip_prefix(href)
                .is_some_and(|rest| rest.starts_with('/')))
}

/// An instance's state as a colored badge; a deploy waiting for approval
/// says so rather than `provisioning`.
#[component]
pub fn StateBadge(
    state: InstanceState,
    #[prop(default = None)] approval: Option<ApprovalState>,
) -> impl IntoView {
    if approval == Some(ApprovalState::Pending) {
        return view! { <span class="badge busy">"pending approval"</span> }.into_any();
    }
    let class = match state {
        InstanceState::Ready(Power::Running) => "badge ok",
        InstanceState::Failed | InstanceState::Ready(Power::Crashed) => "badge bad",
        InstanceState::Provisioning
        | InstanceState::Deleting
        | InstanceState::Ready(Power::ShuttingDown) => "badge busy",
        InstanceState::Ready(Power::Paused | Power::ShutOff | Power::Unknown) => "badge",
    };
    let label = state.as_str().replace('_', " ");
    view! { <span class=class>{label}</span> }.into_any()
}

/// Shown while a page's data loads.
#[component]
pub fn Loading() -> impl IntoView {
    view! { <p class="loading" aria-live="polite">"Loading…"</p> }
}

/// Above a live page whose reload failed: what it shows is from before,
/// and it is being tried again.
#[component]
pub fn StaleBanner(error: crate::error::AppError) -> impl IntoView {
    view! {
        <div class="banner stale" role="status">
            "Not up to date: "{error.to_string()}". Trying again…"
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::is_at;

    #[test]
    fn a_navigation_link_is_current_at_its_page_and_the_pages_under_it() {
        assert!(is_at("/instances", "/instances", false));
        assert!(is_at("/instances/", "/instances", false));
        assert!(is_at("/instances/42", "/instances", false));
        assert!(
            !is_at("/instances-old", "/instances", false),
            "a segment, not text"
        );
        assert!(!is_at("/deploy", "/instances", false));
        assert!(is_at("/", "/", true));
        assert!(!is_at("/instances", "/", true), "the dashboard only at /");
        assert!(!is_at("/instances/42", "/instances", true));
    }
}
