use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;

use crate::api::org::get_audit;
use crate::components::{Layout, Loading, Pager};
use crate::model::AuditOutcome;
use crate::org::AuditFilter;

/// The audit log with filters in the query string, so a filtered view is
/// a link, and the form works without JavaScript.
#[component]
pub fn AuditPage() -> impl IntoView {
    let query = use_query_map();
    let param = move |key: &'static str| move || query.read().get(key).filter(|v| !v.is_empty());
    let (actor, action, outcome) = (param("actor"), param("action"), param("outcome"));
    let cursor = param("cursor");
    let entries = Resource::new(
        move || AuditFilter {
            actor: actor(),
            action: action(),
            outcome: outcome(),
            limit: None,
            cursor: cursor(),
        },
        get_audit,
    );
    let selected = move |value: &'static str| outcome().as_deref() == Some(value);
    view! {
        <Title text="Audit log" />
        <Layout>
            <h1 class="page-title">"Audit log"</h1>
            <p class="lede">"Every sign-in, every change and every refused request: who, what, when and from where."</p>
            <Form method="GET" action="" attr:class="card row filters">
                <label for="filter-actor">"Account"</label>
                <input id="filter-actor" name="actor" type="text" value=actor().unwrap_or_default() />
                <label for="filter-action">"Action starts with"</label>
                <input id="filter-action" name="action" type="text" placeholder="e.g. instance."
                    value=action().unwrap_or_default() />
                <label for="filter-outcome">"Outcome"</label>
                <select id="filter-outcome" name="outcome">
                    <option value="" selected=move || outcome().is_none()>"any"</option>
                    {AuditOutcome::ALL.iter().map(|&o| view! {
                        <option value=o.as_str() selected=move || selected(o.as_str())>{o.as_str()}</option>
                    }).collect_view()}
                </select>
                <button type="submit" class="button">"Filter"</button>
            </Form>
            <Transition fallback=Loading>
                {move || Suspend::new(async move {
                    match entries.await {
                        Ok(page) if page.items.is_empty() => view! {
                            <section class="card"><p>"Nothing matches."</p></section>
                        }.into_any(),
                        Ok(page) => view! {
                            <section class="card">
                                <table class="audit">
                                    <thead>
                                        <tr>
                                            <th scope="col">"When (UTC)"</th>
                                            <th scope="col">"Who"</th>
                                            <th scope="col">"From"</th>
                                            <th scope="col">"Action"</th>
                                            <th scope="col">"Object"</th>
                                            <th scope="col">"Outcome"</th>
                                            <th scope="col">"Detail"</th>
                                        </tr>
                                    </thead>
                                    <tbody>
                                        {page.items.into_iter().map(|e| {
                                            let badge = match e.outcome {
                                                AuditOutcome::Ok => "badge ok",
                                                AuditOutcome::Refused | AuditOutcome::Failed => "badge bad",
                                            };
                                            // Seconds are enough to read; the attribute keeps the rest.
                                            let when: String = e.at.replace('T', " ").chars().take(19).collect();
                                            view! {
                                                <tr>
                                                    <td><time datetime=e.at.clone()>{when}</time></td>
                                                    <td>{e.actor.unwrap_or_else(|| "—".into())}</td>
                                                    <td>{e.address.unwrap_or_default()}</td>
                                                    <td><code>{e.action}</code></td>
                                                    <td>{e.object.unwrap_or_default()}</td>
                                                    <td><span class=badge>{e.outcome.as_str()}</span></td>
                                                    <td>{e.detail.unwrap_or_default()}</td>
                                                </tr>
                                            }
                                        }).collect_view()}
                                    </tbody>
                                </table>
                                <Pager path="/audit".into() params=query.get() next=page.next />
                            </section>
                        }.into_any(),
                        Err(e) => view! { <div class="banner error" role="alert">{e.to_string()}</div> }.into_any(),
                    }
                })}
            </Transition>
        </Layout>
    }
}
