use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::{SetAppsSettings, get_apps_settings};
use crate::components::{ErrorBanner, FieldError, Layout, Loading, error_for_field, general_error};
use crate::model::{AppsAddressing, AppsSettings};

/// Where applications open (admins): the portal's origin, and per-instance
/// ports or a wildcard domain.
#[component]
pub fn AppsSettingsPage() -> impl IntoView {
    let save = ServerAction::<SetAppsSettings>::new();
    let settings = Resource::new(move || save.version().get(), |_| get_apps_settings());
    let general = Signal::derive(move || general_error(&save.value().get()));
    view! {
        <Title text="Applications" />
        <Layout>
            <h1 class="page-title">"Where applications open"</h1>
            <p class="lede">
                "Every instance's application opens through the appliance, at an address of its own, "
                "so that an application's pages cannot act on the portal, or on another application, "
                "as the person viewing them. Browsers share cookies across the ports of one host: "
                "with ports, applications can read each other's (never dpe's own); a wildcard "
                "domain keeps them apart."
            </p>
            <ErrorBanner message=general />
            <Show when=move || matches!(save.value().get(), Some(Ok(_)))>
                <div class="banner success" role="status" id="apps-saved">"Saved."</div>
            </Show>
            <Transition fallback=Loading>
                {move || Suspend::new(async move {
                    match settings.await {
                        Ok(current) => view! { <AppsForm current save /> }.into_any(),
                        Err(e) => {
                            view! { <div class="banner error" role="alert">{e.to_string()}</div> }.into_any()
                        }
                    }
                })}
            </Transition>
            <super::second_factor_policy::SecondFactorRuleCard />
        </Layout>
    }
}

#[component]
fn AppsForm(current: AppsSettings, save: ServerAction<SetAppsSettings>) -> impl IntoView {
    let result = save.value();
    let err = move |f: &'static str| Signal::derive(move || error_for_field(&result.get(), f));
    let origin = current.portal_origin.trim_end_matches('/').to_owned();
    // The fields of the mode not in use start from its default.
    let opens_at = opens_at(&origin, &current.addressing);
    let (ports, domain) = match current.addressing {
        AppsAddressing::Ports { first, last } => ((first, last), None),
        AppsAddressing::Domain { domain } => ((20000, 20999), Some(domain)),
    };
    let by_domain = domain.is_some();
    let field = move |name: &'static str,
                      label: &'static str,
                      hint: &'static str,
                      value: String,
                      errors: Signal<Option<String>>| {
        let error_id = format!("{name}-error");
        let hint_id = format!("{name}-hint");
        view! {
            <label for=name>{label}</label>
            <input id=name name=name type="text" value=value autocomplete="off" spellcheck="false"
                aria-describedby=format!("{hint_id} {error_id}") />
            <p class="hint" id=hint_id>{hint}</p>
            <FieldError id=error_id message=errors />
        }
    };
    view! {
        <section class="card">
            <h2>"Now"</h2>
            <dl class="facts">
                <dt>"Portal"</dt>
                <dd id="apps-portal"><code>{origin.clone()}</code></dd>
                <dt>"Applications open at"</dt>
                <dd id="apps-opens-at"><code>{opens_at}</code></dd>
            </dl>
        </section>
        <section class="card">
            <h2>"Change"</h2>
            <ActionForm action=save attr:class="form-card apps-form" attr:novalidate=true>
                {field("portal_origin", "Portal address",
                    "The portal's origin as people type it, e.g. https://dpe.example.org or https://192.0.2.10, without a path.",
                    origin, err("portal_origin"))}
                <fieldset class="zones" aria-describedby="addressing-error">
                    <legend>"Applications open"</legend>
                    <label class="choice" for="mode-ports">
                        <input type="radio" name="mode" id="mode-ports" value="ports" checked=!by_domain />
                        <span>"On a port of their own, on the portal's host: no DNS needed"</span>
                    </label>
                    <div class="mode-fields ports-fields">
                        <div class="row">
                            <div>
                                {field("first", "First port", "1024 or above.", ports.0.to_string(), err("first"))}
                            </div>
                            <div>
                                {field("last", "Last port", "At most 10,000 ports in all.", ports.1.to_string(), err("last"))}
                            </div>
                        </div>
                        <p class="hint">
                            "Each instance keeps its port until it is deleted: a new range applies "
                            "only to instances deployed after the change. The firewall between people "
                            "and the appliance must let the range through."
                        </p>
                    </div>
                    <label class="choice" for="mode-domain">
                        <input type="radio" name="mode" id="mode-domain" value="domain" checked=by_domain />
                        <span>"At a name of their own under a domain: needs a wildcard DNS record"</span>
                    </label>
                    <div class="mode-fields domain-fields">
                        {field("domain", "Domain",
                            "E.g. apps.dpe.example.org, with a DNS record *.apps.dpe.example.org for this appliance; each application opens at https://NAME.DOMAIN/ on the portal's port. localhost works on your own machine.",
                            domain.unwrap_or_default(), err("domain"))}
                    </div>
                    <FieldError id="addressing-error".into() message=Signal::derive(move || {
                        error_for_field(&result.get(), "addressing")
                            .or_else(|| error_for_field(&result.get(), "mode"))
                    }) />
                </fieldset>
                <p class="hint">
                    "Instances keep their ports when the addressing changes, so their addresses "
                    "come back if it changes back."
                </p>
                <button type="submit" class="button primary" disabled=move || save.pending().get()>
                    "Save"
                </button>
            </ActionForm>
        </section>
    }
}

/// Where applications open, in words, e.g. `https://NAME.apps.example.org/`.
fn opens_at(origin: &str, addressing: &AppsAddressing) -> String {
    let (scheme, host, port) = split_origin(origin);
    match addressing {
        AppsAddressing::Ports { first, last } => {
            format!("{scheme}://{host}:{first}/ to {scheme}://{host}:{last}/, a port each")
        }
        AppsAddressing::Domain { domain } => {
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            format!("{scheme}://NAME.{domain}{port}/")
        }
    }
}

/// An origin's scheme, host and port (None: the scheme's own).
fn split_origin(origin: &str) -> (&str, &str, Option<&str>) {
    let (scheme, rest) = origin.split_once("://").unwrap_or(("https", origin));
    // An IPv6 literal keeps its brackets; a port follows the last colon.
    match rest.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (scheme, host, Some(port)),
        Some(_) | None => (scheme, rest, None),
    }
}

#[cfg(test)]
mod tests {
    use super::opens_at;
    use crate::model::AppsAddressing::{Domain, Ports};

    #[test]
    fn applications_open_on_the_portals_host_or_under_the_domain() {
        let ports = Ports {
            first: 20000,
            last: 20999,
        };
        assert_eq!(
            opens_at("https://dpe.example.org", &ports),
            "https://dpe.example.org:20000/ to https://dpe.example.org:20999/, a port each"
        );
        assert_eq!(
            opens_at("https://[2001:db8::1]:8443", &ports),
            "https://[2001:db8::1]:20000/ to https://[2001:db8::1]:20999/, a port each"
        );
        let domain = Domain {
            domain: "apps.example.org".into(),
        };
        assert_eq!(
            opens_at("https://dpe.example.org", &domain),
            "https://NAME.apps.example.org/"
        );
        assert_eq!(
            opens_at("http://localhost:3000", &domain),
            "http://NAME.apps.example.org:3000/"
        );
        assert_eq!(
            opens_at("https://[2001:db8::1]", &domain),
            "https://NAME.apps.example.org/"
        );
    }
}
