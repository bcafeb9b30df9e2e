//! The stack's versions (appliance admins): each golden image registered,
//! how many instances run it, what it changes against the current one, a
//! look for newly built ones, and which one deploys use.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::versions::{MakeStackVersionCurrent, ScanStackVersions, get_stack_versions};
use crate::components::{Confirm, ErrorBanner, Layout, Loading, general_error};
use crate::model::{StackVersionView, StackVersions};

#[component]
pub fn VersionsPage() -> impl IntoView {
    let scan = ServerAction::<ScanStackVersions>::new();
    let current = ServerAction::<MakeStackVersionCurrent>::new();
    let versions = Resource::new(
        move || (scan.version().get(), current.version().get()),
        |_| get_stack_versions(),
    );
    let general = Signal::derive(move || {
        general_error(&scan.value().get()).or_else(|| general_error(&current.value().get()))
    });
    view! {
        <Title text="Versions" />
        <Layout>
            <h1 class="page-title">"Application versions"</h1>
            <p class="lede">
                "Each golden image of the application is a version. Deploys and the warm pool use the "
                "current one; an instance keeps the version it was made from, and says "
                <strong>"Update available"</strong> " when another is current. An older version than "
                "the current one that no instance, backup, snapshot or warm member uses goes, with "
                "its images on every host; a newer one waits until you make it current."
            </p>
            <ErrorBanner message=general />
            <Show when=move || matches!(current.value().get(), Some(Ok(_)))>
                <div class="banner success" role="status" id="version-made-current">
                    "Deploys now use the version marked current."
                </div>
            </Show>
            <Transition fallback=Loading>
                {move || Suspend::new(async move {
                    match versions.await {
                        Ok(list) => view! { <VersionTable list current /> }.into_any(),
                        Err(e) => view! { <div class="banner error" role="alert">{e.to_string()}</div> }.into_any(),
                    }
                })}
            </Transition>
            <section class="card" aria-labelledby="new-version-title">
                <h2 id="new-version-title">"A new version"</h2>
                <p>
                    "Build it into a new folder of the image directory, for example "
                    <code>"scripts/build-image data/images/dokuwiki/2025-06"</code>
                    ", then look for it here (dpe also looks at every start). "
                    "It is not used until you make it current."
                </p>
                <ActionForm action=scan attr:class="inline">
                    <button type="submit" class="button" id="scan-versions"
                        disabled=move || scan.pending().get()>
                        "Look for new versions"
                    </button>
                </ActionForm>
                {move || match scan.value().get() {
                    Some(Ok(_)) => Some(view! {
                        <p class="hint" role="status" id="scan-done">"Looked: the list above is up to date."</p>
                    }),
                    Some(Err(_)) | None => None,
                }}
            </section>
        </Layout>
    }
}

#[component]
fn VersionTable(
    list: StackVersions,
    current: ServerAction<MakeStackVersionCurrent>,
) -> impl IntoView {
    if list.versions.is_empty() {
        return view! {
            <p class="card" id="no-versions">"No version yet: build the application's image first."</p>
        }
        .into_any();
    }
    view! {
        <section class="card">
            <table class="versions" id="versions" aria-label="Versions">
                <thead>
                    <tr>
                        <th scope="col">"Version"</th>
                        <th scope="col">"Instances"</th>
                        <th scope="col">"Registered"</th>
                        <th scope="col">"Against the current one"</th>
                        <th scope="col"><span class="sr-only">"Actions"</span></th>
                    </tr>
                </thead>
                <tbody>
                    {list.versions.into_iter().map(|v| view! { <VersionRow v current /> }).collect_view()}
                </tbody>
            </table>
        </section>
    }
    .into_any()
}

#[component]
fn VersionRow(
    v: StackVersionView,
    current: ServerAction<MakeStackVersionCurrent>,
) -> impl IntoView {
    let id = v.id;
    let short = v.sha256.get(..12).unwrap_or(&v.sha256).to_owned();
    let changes = if v.current {
        view! { <span class="hint">"—"</span> }.into_any()
    } else if v.changes.is_empty() {
        view! { <span class="hint">"the same packages"</span> }.into_any()
    } else {
        view! {
            <ul class="changes">{v.changes.into_iter().map(|c| view! { <li>{c}</li> }).collect_view()}</ul>
        }
        .into_any()
    };
    view! {
        <tr data-version=id>
            <th scope="row">
                {v.label.clone()}
                {v.current.then(|| view! { <span class="badge current">"current"</span> })}
                // An image without a version file is labelled by this very
                // prefix: not said twice.
                {(v.label != short).then(|| view! {
                    <br />
                    <code class="hint" title=format!("SHA-256 {}", v.sha256)>{short.clone()}</code>
                })}
            </th>
            <td>{v.instances}</td>
            <td>{super::snapshots::taken_at(&v.added_at)}</td>
            <td>{changes}</td>
            <td>
                {(!v.current).then(|| view! {
                    <Confirm key=format!("current-version-{id}") summary="Make current">
                        <p>
                            "New deploys and warm-pool members will use " {v.label.clone()}
                            ". Running instances keep their version and show Update available."
                        </p>
                        <ActionForm action=current attr:class="inline">
                            <input type="hidden" name="id" value=id />
                            <button type="submit" class="button primary"
                                disabled=move || current.pending().get()>
                                "Make current"
                            </button>
                        </ActionForm>
                    </Confirm>
                })}
            </td>
        </tr>
    }
}
