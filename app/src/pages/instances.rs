use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::list_instances;
use crate::components::{Layout, Loading, StateBadge};

/// "My instances" (every instance, for admins).
#[component]
pub fn InstancesPage() -> impl IntoView {
    let instances = Resource::new(|| (), |_| list_instances());
    view! {
        <Title text="Instances" />
        <Layout>
            <div class="page-head">
                <h1 class="page-title">"Instances"</h1>
                <a class="button primary" href="/deploy">"Deploy"</a>
            </div>
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    match instances.await {
                        Ok(list) if list.is_empty() => view! {
                            <section class="card empty">
                                <p>"Nothing deployed yet."</p>
                                <a class="button primary" href="/deploy">"Deploy your first instance"</a>
                            </section>
                        }.into_any(),
                        Ok(list) => view! {
                            <section class="card">
                                <table>
                                    <thead><tr>
                                        <th scope="col">"Name"</th><th scope="col">"State"</th>
                                        <th scope="col">"Address"</th><th scope="col">"Size"</th>
                                        <th scope="col">"Owner"</th><th scope="col">"Host"</th>
                                        <th scope="col"><span class="sr-only">"Application"</span></th>
                                    </tr></thead>
                                    <tbody>
                                        {list.into_iter().map(|i| view! {
                                            <tr>
                                                <td><a href=format!("/instances/{}", i.id)>{i.name}</a></td>
                                                <td><StateBadge state=i.state /></td>
                                                <td>{i.ip.unwrap_or_else(|| "—".into())}</td>
                                                <td>{i.size}</td>
                                                <td>{i.owner}</td>
                                                <td>{i.host.unwrap_or_else(|| "—".into())}</td>
                                                <td>{i.url.map(|url| view! {
                                                    <a class="button" href=url target="_blank" rel="noopener"
                                                        title="Opens its application in a new tab">"Open"</a>
                                                })}</td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </section>
                        }.into_any(),
                        Err(e) => view! { <div class="banner error" role="alert">{e.to_string()}</div> }.into_any(),
                    }
                })}
            </Suspense>
        </Layout>
    }
}
