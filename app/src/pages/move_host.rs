//! "Move to another host" on the instance page, for the appliance's
//! admins: the hosts that take instances, and the move as a task whose
//! progress the page shows like any other.

use leptos::prelude::*;

use crate::api::get_me;
use crate::api::hosts::{MoveInstance, get_hosts};
use crate::components::{FieldError, error_for_field, general_error};
use crate::model::{HostMode, Role};

#[component]
pub fn MoveSection(
    id: i64,
    /// The host the instance is on, by name.
    host: Option<String>,
    /// Whether a move may start now (ready, idle, running or stopped).
    enabled: bool,
) -> impl IntoView {
    let act = ServerAction::<MoveInstance>::new();
    let result = act.value();
    let err = Signal::derive(move || error_for_field(&result.get(), "host"));
    let general = Signal::derive(move || general_error(&result.get()));
    let hosts = Resource::new(
        || (),
        |()| async {
            match get_me().await {
                Ok(Some(me)) if me.role == Role::Admin => get_hosts().await.ok(),
                Ok(_) | Err(_) => None,
            }
        },
    );
    view! {
        <Transition fallback=|| ()>
            {move || {
                let here = host.clone();
                Suspend::new(async move {
                hosts.await.map(|hosts| {
                    let others: Vec<_> = hosts
                        .into_iter()
                        .filter(|h| Some(&h.name) != here.as_ref() && h.mode == HostMode::Active)
                        .collect();
                    let none = others.is_empty();
                    view! {
                        <section class="card" aria-labelledby="move-title" id="move">
                            <h2 id="move-title">"Move to another host"</h2>
                            <p class="hint" id="move-hint">
                                "A running instance keeps running while its disk is copied; a \
                                 stopped one moves stopped. Its address in the portal stays the \
                                 same. Snapshots cannot move: delete them first."
                            </p>
                            {move || result.get().and_then(Result::ok).map(|_| view! {
                                <div class="banner success" role="status">"The move has started."</div>
                            })}
                            {move || general.get().map(|e| view! {
                                <div class="banner error" role="alert">{e}</div>
                            })}
                            {none.then(|| view! {
                                <p class="hint" id="move-none">
                                    "No other host takes instances now: add one, or resume a \
                                     drained one, under " <a href="/hosts">"Hosts"</a> "."
                                </p>
                            })}
                            // Not rendered at all without a host to pick: a hidden
                            // attribute loses to the inline form's display rule.
                            {(!none).then(move || view! {
                            <ActionForm action=act attr:class="inline" attr:novalidate=true>
                                <input type="hidden" name="id" value=id />
                                <label for="move-host">"Host"</label>
                                <select id="move-host" name="host" aria-describedby="move-hint">
                                    {others.iter().map(|h| view! {
                                        <option value=h.id>
                                            {format!("{} ({} MiB free)", h.name,
                                                h.free_memory_mib.unwrap_or_default())}
                                        </option>
                                    }).collect_view()}
                                </select>
                                <FieldError id="move-host-error".to_owned() message=err />
                                <button type="submit" class="button" id="move-button"
                                    disabled=move || !enabled || act.pending().get()>
                                    "Move"
                                </button>
                            </ActionForm>
                            })}
                        </section>
                    }
                })
            })}}
        </Transition>
    }
}
