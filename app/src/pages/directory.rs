use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::org::{SaveDirectory, TestDirectory, get_departments, get_directory};
use crate::components::{ErrorBanner, FieldError, Layout, Loading, error_for_field, general_error};
use crate::model::Role;
use crate::org::{DepartmentView, DirectoryView};

/// Directory (LDAP) sign-in settings, with a button that tries them.
#[component]
pub fn DirectoryPage() -> impl IntoView {
    let save = ServerAction::<SaveDirectory>::new();
    let try_it = ServerAction::<TestDirectory>::new();
    let data = Resource::new(
        move || save.version().get(),
        |_| async { (get_directory().await, get_departments().await) },
    );
    let general = Signal::derive(move || {
        general_error(&save.value().get()).or_else(|| general_error(&try_it.value().get()))
    });
    view! {
        <Title text="Directory" />
        <Layout>
            <h1 class="page-title">"Directory sign-in"</h1>
            <p class="lede">
                "Accounts of an LDAP directory sign in with their directory password. They are created "
                "at their first sign-in; their groups set their department and role at every sign-in. "
                "Local accounts keep working."
            </p>
            <ErrorBanner message=general />
            <Show when=move || matches!(save.value().get(), Some(Ok(_)))>
                <div class="banner success" role="status">"Saved."</div>
            </Show>
            {move || try_it.value().get().and_then(Result::ok).map(|t| {
                let class = if t.ok { "banner success" } else { "banner error" };
                view! { <div class=class role="status" id="directory-test">{t.message}</div> }
            })}
            <Transition fallback=Loading>
                {move || Suspend::new(async move {
                    match data.await {
                        (Ok(view), Ok(departments)) => {
                            view! { <DirectoryForm view departments save try_it /> }.into_any()
                        }
                        (Err(e), _) | (_, Err(e)) => {
                            view! { <div class="banner error" role="alert">{e.to_string()}</div> }.into_any()
                        }
                    }
                })}
            </Transition>
        </Layout>
    }
}

#[component]
fn DirectoryForm(
    view: DirectoryView,
    departments: Vec<DepartmentView>,
    save: ServerAction<SaveDirectory>,
    try_it: ServerAction<TestDirectory>,
) -> impl IntoView {
    let result = save.value();
    let err = move |f: &'static str| Signal::derive(move || error_for_field(&result.get(), f));
    let configured = view.settings.is_some();
    let s = view
        .settings
        .unwrap_or_else(|| crate::org::DirectorySettings {
            url: String::new(),
            starttls: false,
            allow_cleartext: false,
            bind_dn: String::new(),
            bind_password: None,
            user_base: String::new(),
            user_filter: "(objectClass=inetOrgPerson)".into(),
            username_attribute: "uid".into(),
            group_base: String::new(),
            group_mappings: Vec::new(),
            ca_certificate: None,
        });
    let name_of = |id: i64| {
        departments
            .iter()
            .find(|d| d.id == id)
            .map(|d| d.path.clone())
            .unwrap_or_else(|| format!("#{id}"))
    };
    let mappings = s
        .group_mappings
        .iter()
        .map(|m| {
            // As the form reads it back, which knows no admin mapping.
            let role = match m.role {
                Role::DepartmentAdmin | Role::User => m.role,
                Role::Admin => Role::User,
            };
            format!("{} | {} | {role}", m.group_dn, name_of(m.department_id))
        })
        .collect::<Vec<_>>()
        .join("\n");
    let password_hint = if view.bind_password_set {
        "Set. Leave empty to keep it."
    } else {
        "Not set."
    };
    let field = move |name: &'static str,
                      label: &'static str,
                      hint: &'static str,
                      value: String,
                      kind: &'static str| {
        let id = format!("dir-{name}");
        let error_id = format!("dir-{name}-error");
        let hint_id = format!("dir-{name}-hint");
        view! {
            <label for=id.clone()>{label}</label>
            <input id=id name=format!("form[{name}]") type=kind value=value autocomplete="off"
                aria-describedby=format!("{hint_id} {error_id}") />
            <p class="hint" id=hint_id>{hint}</p>
            <FieldError id=error_id message=err(name) />
        }
    };
    view! {
        <section class="card">
            <ActionForm action=save attr:class="form-card" attr:novalidate=true>
                {field("url", "Server URL", "ldaps://host:636, or ldap://host:389 with StartTLS", s.url.clone(), "text")}
                <label class="choice" for="dir-starttls">
                    <input id="dir-starttls" type="checkbox" name="form[starttls]" value="on" checked=s.starttls />
                    <span>"Use StartTLS (for ldap:// URLs)"</span>
                </label>
                <label class="choice" for="dir-cleartext">
                    <input id="dir-cleartext" type="checkbox" name="form[allow_cleartext]" value="on"
                        checked=s.allow_cleartext />
                    <span>"Allow cleartext: send passwords over ldap:// without TLS"</span>
                </label>
                {field("bind_dn", "Bind DN", "The service account that searches; empty for anonymous.", s.bind_dn.clone(), "text")}
                {field("bind_password", "Bind password", password_hint, String::new(), "password")}
                {field("user_base", "User base", "Where accounts live, e.g. ou=people,dc=example,dc=org", s.user_base.clone(), "text")}
                {field("user_filter", "User filter", "Which entries are accounts.", s.user_filter.clone(), "text")}
                {field("username_attribute", "Name attribute", "The attribute people sign in with, e.g. uid.", s.username_attribute.clone(), "text")}
                {field("group_base", "Group base", "Where groups (groupOfNames) live.", s.group_base.clone(), "text")}
                <label for="dir-mappings">"Group mappings"</label>
                <textarea id="dir-mappings" name="form[mappings]" rows="4"
                    aria-describedby="dir-mappings-hint dir-mappings-error">{mappings}</textarea>
                <p class="hint" id="dir-mappings-hint">
                    "One a line: GROUP DN | DEPARTMENT | user or department_admin. "
                    "With mappings, only members of a mapped group may sign in."
                </p>
                <FieldError id="dir-mappings-error".into() message=err("mappings") />
                <label for="dir-ca">"CA certificate for ldaps or StartTLS (optional, PEM)"</label>
                <textarea id="dir-ca" name="form[ca_certificate]" rows="3">{s.ca_certificate.unwrap_or_default()}</textarea>
                <button type="submit" class="button primary" disabled=move || save.pending().get()>
                    "Save"
                </button>
            </ActionForm>
            {configured.then(|| view! {
                <ActionForm action=try_it attr:class="inline">
                    <button type="submit" class="button" disabled=move || try_it.pending().get()>
                        "Test the saved settings"
                    </button>
                </ActionForm>
            })}
        </section>
    }
}
