//! "Resize" on the instance page: the stack's other sizes with what each
//! gives, those the instance cannot take shown as such with why (a smaller
//! disk, a quota), and the resize as a task whose progress the page shows
//! like any other.

use leptos::prelude::*;

use crate::api::resize::{ResizeInstance, get_resize_options};
use crate::components::{FieldError, error_for_field, general_error};
use crate::model::ResizeChoice;

/// What a size gives, in a few words.
fn gives(c: &ResizeChoice) -> String {
    let vcpus = if c.vcpus == 1 { "vCPU" } else { "vCPUs" };
    let memory = if c.memory_mib.is_multiple_of(1024) {
        format!("{} GiB", c.memory_mib / 1024)
    } else {
        format!("{} MiB", c.memory_mib)
    };
    format!(
        "{} {vcpus}, {memory} memory, {} GiB disk",
        c.vcpus, c.disk_gib
    )
}

#[component]
pub fn ResizeSection(
    id: i64,
    /// The instance's size, by name (the offer is read again when it
    /// changes).
    size: String,
    /// Whether a resize may start now (ready, idle, running or stopped).
    enabled: bool,
) -> impl IntoView {
    let act = ServerAction::<ResizeInstance>::new();
    let result = act.value();
    let err = Signal::derive(move || error_for_field(&result.get(), "size"));
    let general = Signal::derive(move || general_error(&result.get()));
    let options = Resource::new(move || (id, size.clone()), |(id, _)| get_resize_options(id));
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                options.await.ok().map(|options| {
                    let any = options.choices.iter().any(|c| c.refused.is_none());
                    view! {
                        <section class="card" aria-labelledby="resize-title" id="resize">
                            <h2 id="resize-title">"Resize"</h2>
                            <p class="hint" id="resize-hint">
                                "Now " <strong>{options.current.clone()}</strong> ". New memory \
                                 and vCPUs take a reboot of a running instance (a clean \
                                 shutdown, forced if the guest does not stop in time); a \
                                 larger disk grows while it runs, its file system with it. \
                                 A disk never shrinks."
                            </p>
                            {move || result.get().and_then(Result::ok).map(|_| view! {
                                <div class="banner success" role="status">"The resize has started."</div>
                            })}
                            {move || general.get().map(|e| view! {
                                <div class="banner error" role="alert">{e}</div>
                            })}
                            <ActionForm action=act attr:novalidate=true>
                                <input type="hidden" name="id" value=id />
                                <fieldset class="choices" aria-describedby="resize-hint">
                                    <legend class="sr-only">"New size"</legend>
                                    {options.choices.iter().map(|c| {
                                        let input_id = format!("resize-{}", c.name);
                                        let label_for = input_id.clone();
                                        let reason_id = format!("resize-{}-why", c.name);
                                        let refused = c.refused.clone();
                                        let possible = refused.is_none();
                                        view! {
                                            <label class=if possible { "choice" } else { "choice refused" }
                                                for=label_for>
                                                <input type="radio" name="size" id=input_id
                                                    value=c.name.clone() disabled=!possible
                                                    aria-describedby=reason_id.clone() />
                                                <span>
                                                    <strong>{c.name.clone()}</strong>
                                                    ": " {gives(c)}
                                                    {(c.reboots && possible).then(|| view! {
                                                        <span class="hint">" (reboots it)"</span>
                                                    })}
                                                    <br />
                                                    <span class="hint" id=reason_id>
                                                        {refused.map(|why| format!("Not possible: {why}"))}
                                                    </span>
                                                </span>
                                            </label>
                                        }
                                    }).collect_view()}
                                </fieldset>
                                <FieldError id="resize-size-error".to_owned() message=err />
                                <button type="submit" class="button" id="resize-button"
                                    disabled=move || !enabled || !any || act.pending().get()>
                                    "Resize"
                                </button>
                            </ActionForm>
                        </section>
                    }
                })
            })}
        </Transition>
    }
}
