use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;
use leptos_router::params::ParamsMap;

use crate::api::list_instances;
use crate::components::{Layout, Loading, Pager, StaleBanner, StateBadge, address_with};
use crate::error::AppError;
use crate::live::{LastGood, Shown};
use crate::model::{
    Health, InstanceQuery, InstanceSort, InstanceState, NetworkZone, Power, time_of_day,
};

/// The states offered as filters, with their labels.
const STATES: [(InstanceState, &str); 6] = [
    (InstanceState::Ready(Power::Running), "Running"),
    (InstanceState::Ready(Power::ShutOff), "Shut off"),
    (InstanceState::Provisioning, "Deploying"),
    (InstanceState::Failed, "Failed"),
    (InstanceState::Deleting, "Deleting"),
    (InstanceState::Ready(Power::Crashed), "Crashed"),
];

fn sort_label(sort: InstanceSort) -> &'static str {
    match sort {
        InstanceSort::Newest => "Newest first",
        InstanceSort::Oldest => "Oldest first",
        InstanceSort::Name => "Name, A to Z",
        InstanceSort::NameDesc => "Name, Z to A",
    }
}

/// The list's query from the address bar. Empty values are no filter, so
/// the form's "any" choices leave the address clean.
fn query_of(params: &ParamsMap) -> Result<InstanceQuery, AppError> {
    let text = |key: &str| params.get(key).filter(|v| !v.is_empty());
    fn parsed<T: std::str::FromStr>(
        key: &str,
        value: Option<String>,
    ) -> Result<Option<T>, AppError> {
        value
            .map(|v| {
                v.parse().map_err(|_| AppError::Invalid {
                    field: key.into(),
                    message: format!("{v:?} is not one of its choices"),
                })
            })
            .transpose()
    }
    Ok(InstanceQuery {
        q: text("q"),
        state: parsed("state", text("state"))?,
        health: parsed("health", text("health"))?,
        zone: text("zone")
            .map(|z| {
                z.parse::<NetworkZone>().map_err(|_| AppError::Invalid {
                    field: "zone".into(),
                    message: format!("{z:?} is not one of its choices"),
                })
            })
            .transpose()?,
        host: text("host"),
        department: parsed("department", text("department"))?,
        sort: parsed("sort", text("sort"))?,
        limit: parsed("limit", text("limit"))?,
        cursor: text("cursor"),
    })
}

/// The address of the list for `params` with `key` set to `value` (or
/// taken out), from its first page unless `key` is the cursor.
fn with(params: &ParamsMap, key: &str, value: Option<&str>) -> String {
    address_with("/instances", params, key, value)
}

/// "My instances" (a department's, or every instance, for admins): a page
/// at a time, searched, filtered and sorted from the address bar, so any
/// view is a link and the form works without JavaScript; kept up to date
/// by the live feed.
#[component]
pub fn InstancesPage() -> impl IntoView {
    let params = use_query_map();
    let query = Memo::new(move |_| query_of(&params.read()));
    // Reloaded as the live feed tells of changes.
    let live = crate::live::LiveFeed::get();
    let last_good = LastGood::new();
    let page = Resource::new(
        move || (query.get(), live.tick()),
        |(query, _)| async move {
            match query {
                Ok(query) => list_instances(query).await,
                Err(e) => Err(e),
            }
        },
    );
    // The form shows the address's query: as attributes for the server's
    // page, as properties once hydrated (an attribute no longer moves a
    // field the user has touched, so "Clear" would leave old text).
    let value = move |key: &'static str| move || params.read().get(key).unwrap_or_default();
    let chosen = move |key: &'static str, text: &'static str| {
        move || params.read().get(key).as_deref() == Some(text)
    };
    let filtered = move || {
        ["q", "state", "health", "zone", "host", "department"]
            .iter()
            .any(|k| params.read().get(k).is_some_and(|v| !v.is_empty()))
    };
    view! {
        <Title text="Instances" />
        <Layout>
            <div class="page-head">
                <h1 class="page-title">"Instances"</h1>
                <a class="button primary" href="/deploy">"Deploy"</a>
            </div>
            <Form method="GET" action="" attr:class="card filters list-filters" attr:role="search">
                <label for="filter-q" class="sr-only">"Search"</label>
                <input id="filter-q" name="q" type="search" value=value("q") prop:value=value("q")
                    placeholder="Name, owner or department: its start" />
                <label for="filter-state" class="sr-only">"State"</label>
                <select id="filter-state" name="state" prop:value=value("state")>
                    <option value="" selected=move || value("state")().is_empty()>"Any state"</option>
                    {STATES.iter().map(|&(state, label)| view! {
                        <option value=state.as_str() selected=chosen("state", state.as_str())>{label}</option>
                    }).collect_view()}
                </select>
                <label for="filter-health" class="sr-only">"Health"</label>
                <select id="filter-health" name="health" prop:value=value("health")>
                    <option value="" selected=move || value("health")().is_empty()>"Any health"</option>
                    {Health::ALL.iter().map(|&h| view! {
                        <option value=h.as_str() selected=chosen("health", h.as_str())>{h.as_str()}</option>
                    }).collect_view()}
                </select>
                <label for="filter-zone" class="sr-only">"Network"</label>
                <select id="filter-zone" name="zone" prop:value=value("zone")>
                    <option value="" selected=move || value("zone")().is_empty()>"Any network"</option>
                    <option value="inside" selected=chosen("zone", "inside")>"Inside"</option>
                    <option value="outside" selected=chosen("zone", "outside")>"Outside"</option>
                </select>
                <label for="filter-sort" class="sr-only">"Order"</label>
                <select id="filter-sort" name="sort" prop:value=move || {
                    let sort = value("sort")();
                    if sort.is_empty() { InstanceSort::default().as_str().to_owned() } else { sort }
                }>
                    {InstanceSort::ALL.iter().map(|&s| view! {
                        <option value=s.as_str() selected=chosen("sort", s.as_str())>{sort_label(s)}</option>
                    }).collect_view()}
                </select>
                {move || params.read().get("host").filter(|h| !h.is_empty()).map(|host| view! {
                    <input type="hidden" name="host" value=host.clone() />
                    <a class="chip" href=with(&params.read(), "host", None)
                        title="Show every host">"Host: "{host}" ✕"</a>
                })}
                {move || params.read().get("department").filter(|d| !d.is_empty()).map(|d| view! {
                    <input type="hidden" name="department" value=d.clone() />
                    <a class="chip" href=with(&params.read(), "department", None)
                        title="Show every department">"Department "{d}" ✕"</a>
                })}
                <button type="submit" class="button">"Search"</button>
                {move || filtered().then(|| view! { <a href="/instances">"Clear"</a> })}
            </Form>
            <Transition fallback=Loading>
                {move || Suspend::new(async move {
                    let (loaded, stale) = match last_good.show(live, query.get_untracked(), page.await) {
                        Shown::Fresh(page) => (Ok(page), None),
                        Shown::Stale(page, e) => (Ok(page), Some(e)),
                        Shown::Failed(e) => (Err(e), None),
                    };
                    let stale = stale.map(|e| view! { <StaleBanner error=e /> });
                    let shown = match loaded {
                        Ok(page) if page.items.is_empty() && !filtered() && params.read().get("cursor").is_none() => view! {
                            <section class="card empty">
                                <p>"Nothing deployed yet."</p>
                                <a class="button primary" href="/deploy">"Deploy your first instance"</a>
                            </section>
                        }.into_any(),
                        Ok(page) if page.items.is_empty() => view! {
                            <section class="card empty">
                                <p>"No instance matches."</p>
                                <a class="button" href="/instances">"Show all instances"</a>
                            </section>
                        }.into_any(),
                        Ok(page) => {
                            let next = page.next;
                            view! {
                                <section class="card">
                                    <table class="instances">
                                        <thead><tr>
                                            <th scope="col">"Name"</th><th scope="col">"State"</th>
                                            <th scope="col">"Address"</th><th scope="col">"Size"</th>
                                            <th scope="col">"Version"</th>
                                            <th scope="col">"Owner"</th><th scope="col">"Host"</th>
                                            <th scope="col">"Expires"</th>
                                            <th scope="col"><span class="sr-only">"Application"</span></th>
                                        </tr></thead>
                                        <tbody>
                                            {page.items.into_iter().map(|i| view! {
                                                <tr>
                                                    <td><a href=format!("/instances/{}", i.id)>{i.name}</a></td>
                                                    <td>
                                                        <StateBadge state=i.state approval=i.approval />
                                                        {i.host_unreachable_since.map(|since| view! {
                                                            " " <span class="badge bad" title=format!("no answer from its host since {}", time_of_day(&since))>"host unreachable"</span>
                                                        })}
                                                    </td>
                                                    <td>{i.ip.unwrap_or_else(|| "—".into())}</td>
                                                    <td>{i.size}</td>
                                                    <td>{match i.version {
                                                        Some(v) => view! {
                                                            {v.label}
                                                            {v.update_available.then(|| view! {
                                                                " " <span class="badge update" title=format!("What the update changes:\n{}", v.changes.join("\n"))>"Update available"</span>
                                                            })}
                                                        }.into_any(),
                                                        None => "—".into_any(),
                                                    }}</td>
                                                    <td>{i.owner}</td>
                                                    <td>{match i.host {
                                                        Some(host) => { let only = with(&params.read(), "host", Some(&host)); view! {
                                                            <a href=only
                                                                title="Only this host's instances">{host}</a>
                                                        }.into_any() },
                                                        None => "—".into_any(),
                                                    }}</td>
                                                    <td class="lease">{match (i.expires_at, i.expired) {
                                                        (None, _) => "—".into_any(),
                                                        (Some(at), false) => view! { <time datetime=at.clone()>{at.get(..10).unwrap_or_default().to_owned()}</time> }.into_any(),
                                                        (Some(_), true) => view! { <span class="badge bad">"expired"</span> }.into_any(),
                                                    }}</td>
                                                    <td>{i.url.map(|url| view! {
                                                        <a class="button" href=url target="_blank" rel="noopener"
                                                            title="Opens its application in a new tab">"Open"</a>
                                                    })}</td>
                                                </tr>
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                    <Pager path="/instances".into() params=params.get() next />
                                </section>
                            }.into_any()
                        }
                        Err(e) => view! { <div class="banner error" role="alert">{e.to_string()}</div> }.into_any(),
                    };
                    view! { {stale} {shown} }
                })}
            </Transition>
        </Layout>
    }
}
