use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::{DeployInstance, get_stack, get_zones};
use crate::components::{ErrorBanner, FieldError, Layout, Loading, error_for_field, general_error};
use crate::model::{ParamKind, StackInfo, ZonesView};

/// The deploy form, generated from the stack's manifest.
#[component]
pub fn DeployPage() -> impl IntoView {
    let stack = Resource::new(|| (), |_| async { (get_stack().await, get_zones().await) });
    view! {
        <Title text="Deploy" />
        <Layout>
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    match stack.await {
                        (Ok(stack), Ok(zones)) => view! { <DeployForm stack zones /> }.into_any(),
                        (Err(e), _) | (_, Err(e)) => view! { <div class="banner error" role="alert">{e.to_string()}</div> }.into_any(),
                    }
                })}
            </Suspense>
        </Layout>
    }
}

#[component]
fn DeployForm(stack: StackInfo, zones: ZonesView) -> impl IntoView {
    let deploy = ServerAction::<DeployInstance>::new();
    let result = deploy.value();
    let err = move |field: String| Signal::derive(move || error_for_field(&result.get(), &field));
    let general = Signal::derive(move || general_error(&result.get()));
    let first_size = stack
        .sizes
        .first()
        .map(|s| s.name.clone())
        .unwrap_or_default();
    view! {
        <h1 class="page-title">"Deploy " {stack.title.clone()}</h1>
        <p class="lede">{stack.description.clone()}</p>
        <ErrorBanner message=general />
        <ActionForm action=deploy attr:class="card form-card" attr:novalidate=true>
            <label for="name">"Instance name"</label>
            <input id="name" name="name" type="text" required maxlength="63" autocomplete="off"
                pattern="[a-z0-9]([a-z0-9-]*[a-z0-9])?" aria-describedby="name-hint name-error" />
            <p class="hint" id="name-hint">"Lower-case letters, digits and '-': it becomes the host name."</p>
            <FieldError id="name-error".into() message=err("name".into()) />

            <fieldset class="sizes">
                <legend>"Size"</legend>
                {stack.sizes.into_iter().map(|s| {
                    let id = format!("size-{}", s.name);
                    let label_for = id.clone();
                    let checked = s.name == first_size;
                    view! {
                        <label class="choice" for=label_for>
                            <input type="radio" name="size" id=id value=s.name checked=checked />
                            <span>{s.label}</span>
                        </label>
                    }
                }).collect_view()}
            </fieldset>
            <FieldError id="size-error".into() message=err("size".into()) />

            <fieldset class="zones">
                <legend>"Network zone"</legend>
                <label class="choice" for="zone-inside">
                    <input type="radio" name="zone" id="zone-inside" value="inside" checked=true />
                    <span>"Inside: private, behind the appliance"</span>
                </label>
                {match zones.outside {
                    Some(z) => {
                        let full = z.free == 0;
                        let text = format!(
                            "Outside: on the LAN ({}), {} of {} addresses free",
                            z.settings.bridge, z.free, z.free + z.in_use
                        );
                        view! {
                            <label class="choice" for="zone-outside">
                                <input type="radio" name="zone" id="zone-outside" value="outside" disabled=full />
                                <span>{text}</span>
                            </label>
                            <p class="hint">
                                "An outside deploy always boots its own guest: about a minute, where an "
                                "inside one may take a guest the appliance booted ahead and answer in seconds."
                            </p>
                        }.into_any()
                    }
                    None => view! {
                        <p class="hint">"Outside (on the LAN): not set up by an admin yet."</p>
                    }.into_any(),
                }}
            </fieldset>
            <FieldError id="zone-error".into() message=err("zone".into()) />

            {stack.params.into_iter().map(|p| {
                let field = format!("params.{}", p.name);
                let id = format!("param-{}", p.name);
                let (input_type, autocomplete) = match p.kind {
                    ParamKind::Password => ("password", "new-password"),
                    ParamKind::Email => ("email", "off"),
                    ParamKind::Text | ParamKind::Username => ("text", "off"),
                };
                let error_id = format!("{id}-error");
                let hint_id = format!("{id}-hint");
                let described_by = format!("{hint_id} {error_id}");
                let label_for = id.clone();
                view! {
                    <label for=label_for>{p.label.clone()}{(!p.required).then_some(" (optional)")}</label>
                    <input id=id type=input_type name=format!("params[{}]", p.name)
                        value=p.default.clone().unwrap_or_default() required=p.required
                        maxlength=p.max_length.map(|m| m.to_string()) autocomplete=autocomplete
                        aria-describedby=described_by />
                    {p.help.map(|h| view! { <p class="hint" id=hint_id>{h}</p> })}
                    <FieldError id=error_id message=err(field) />
                }
            }).collect_view()}

            <button type="submit" class="button primary" disabled=move || deploy.pending().get()>
                {move || if deploy.pending().get() { "Deploying…" } else { "Deploy" }}
            </button>
        </ActionForm>
    }
}
