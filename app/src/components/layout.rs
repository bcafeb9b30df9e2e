use leptos::prelude::*;
use leptos_router::components::A;

use crate::api::{SignOut, get_me};
use crate::model::{InstanceState, Power, Role};

/// The frame of every signed-in page: header, navigation, content.
#[component]
pub fn Layout(children: Children) -> impl IntoView {
    let sign_out = ServerAction::<SignOut>::new();
    let me = Resource::new(|| (), |_| get_me());
    let live = crate::live::LiveFeed::get();
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
                <A href="/" exact=true>"Dashboard"</A>
                <A href="/instances">"Instances"</A>
                <A href="/deploy">"Deploy"</A>
                <A href="/networks">"Networks"</A>
                <A href="/tokens">"API tokens"</A>
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        let role = me.await.ok().flatten().map(|m| m.role);
                        view! {
                            {matches!(role, Some(Role::Admin | Role::DepartmentAdmin)).then(|| view! {
                                <A href="/departments">"Departments"</A>
                                <A href="/audit">"Audit log"</A>
                            })}
                            {matches!(role, Some(Role::Admin)).then(|| view! {
                                <A href="/directory">"Directory"</A>
                                <A href="/settings/apps">"Settings"</A>
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

/// An instance's state as a colored badge.
#[component]
pub fn StateBadge(state: InstanceState) -> impl IntoView {
    let class = match state {
        InstanceState::Ready(Power::Running) => "badge ok",
        InstanceState::Failed | InstanceState::Ready(Power::Crashed) => "badge bad",
        InstanceState::Provisioning
        | InstanceState::Deleting
        | InstanceState::Ready(Power::ShuttingDown) => "badge busy",
        InstanceState::Ready(Power::Paused | Power::ShutOff | Power::Unknown) => "badge",
    };
    let label = state.as_str().replace('_', " ");
    view! { <span class=class>{label}</span> }
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
