use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::get_me;
use crate::api::org::{CreateDepartment, SetDefaultQuota, get_default_quota, get_departments};
use crate::components::{
    ErrorBanner, FieldError, Layout, Loading, error_for_field, general_error, quota_fields,
};
use crate::model::Role;
use crate::org::{DepartmentView, Quota, Usage};

/// "3 of 10" or "3" when unlimited.
pub fn used_of(used: u64, limit: Option<u64>) -> String {
    match limit {
        Some(l) => format!("{used} of {l}"),
        None => format!("{used}"),
    }
}

/// The four quota figures in one line.
pub fn quota_summary(quota: &Quota, usage: &Usage) -> String {
    format!(
        "{} instances · {} vCPUs · {} MiB · {} GiB",
        used_of(usage.instances.into(), quota.instances.map(u64::from)),
        used_of(usage.vcpus.into(), quota.vcpus.map(u64::from)),
        used_of(usage.memory_mib, quota.memory_mib),
        used_of(usage.disk_gib, quota.disk_gib),
    )
}

/// The departments the signed-in admin administers, and a form for a new
/// one: inside one of them, or (appliance admins) at the top level.
#[component]
pub fn DepartmentsPage() -> impl IntoView {
    let create = ServerAction::<CreateDepartment>::new();
    let data = Resource::new(
        move || create.version().get(),
        |_| async { (get_departments().await, get_me().await) },
    );
    let result = create.value();
    let general = Signal::derive(move || general_error(&result.get()));
    view! {
        <Title text="Departments" />
        <Layout>
            <h1 class="page-title">"Departments"</h1>
            <p class="lede">
                "Departments get a quota and admins of their own; their admins add members, "
                "grant the right to deploy and share out the quota below them."
            </p>
            <ErrorBanner message=general />
            <Transition fallback=Loading>
                {move || Suspend::new(async move {
                    match data.await {
                        (Ok(departments), Ok(me)) => {
                            let admin = me.is_some_and(|m| m.role == Role::Admin);
                            view! {
                                <DepartmentTable departments=departments.clone() />
                                <NewDepartmentForm departments create top_level=admin />
                                {admin.then(|| view! { <DefaultQuotaForm /> })}
                            }.into_any()
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
fn DepartmentTable(departments: Vec<DepartmentView>) -> impl IntoView {
    if departments.is_empty() {
        return view! { <section class="card"><p id="no-departments">"No departments yet."</p></section> }
            .into_any();
    }
    view! {
        <section class="card">
            <table>
                <thead>
                    <tr>
                        <th scope="col">"Department"</th>
                        <th scope="col">"Admins"</th>
                        <th scope="col">"Members"</th>
                        <th scope="col">"In use (of quota)"</th>
                    </tr>
                </thead>
                <tbody>
                    {departments.into_iter().map(|d| {
                        let summary = quota_summary(&d.quota, &d.usage);
                        let admins = if d.admins.is_empty() { "—".to_owned() } else { d.admins.join(", ") };
                        view! {
                            <tr>
                                <td><a href=format!("/departments/{}", d.id)>{d.path}</a></td>
                                <td>{admins}</td>
                                <td>{d.members}</td>
                                <td>{summary}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }
    .into_any()
}

#[component]
fn NewDepartmentForm(
    /// Those it can go inside: the ones the viewer administers.
    departments: Vec<DepartmentView>,
    create: ServerAction<CreateDepartment>,
    /// Whether the viewer may create top-level ones (appliance admins).
    top_level: bool,
) -> impl IntoView {
    let result = create.value();
    let name_error = Signal::derive(move || error_for_field(&result.get(), "name"));
    let parent_error = Signal::derive(move || error_for_field(&result.get(), "parent_id"));
    view! {
        <section class="card">
            <h2>"New department"</h2>
            <ActionForm action=create attr:class="form-card" attr:novalidate=true>
                <label for="department-name">"Name"</label>
                <input id="department-name" name="name" type="text" maxlength="64" required
                    aria-describedby="name-error" />
                <FieldError id="name-error".into() message=name_error />
                <label for="department-parent">"Inside"</label>
                <select id="department-parent" name="parent_id" aria-describedby="parent-error">
                    {top_level.then(|| view! { <option value="">"(top level)"</option> })}
                    {departments.into_iter().map(|d| view! { <option value=d.id>{d.path}</option> }).collect_view()}
                </select>
                <FieldError id="parent-error".into() message=parent_error />
                <button type="submit" class="button primary" disabled=move || create.pending().get()>
                    "Create department"
                </button>
            </ActionForm>
        </section>
    }
}

/// The quota of each account in no department: nobody below the appliance
/// admin answers for those accounts, so by default they deploy nothing.
#[component]
fn DefaultQuotaForm() -> impl IntoView {
    let save = ServerAction::<SetDefaultQuota>::new();
    let current = Resource::new(move || save.version().get(), |_| get_default_quota());
    let result = save.value();
    let err = move |f: &'static str| Signal::derive(move || error_for_field(&result.get(), f));
    let general = Signal::derive(move || general_error(&result.get()));
    view! {
        <section class="card" id="default-quota">
            <h2>"Accounts in no department"</h2>
            <p class="hint">
                "The quota of each account outside every department (appliance admins aside). "
                "Empty means no limit; 0 instances, the default, means they cannot deploy."
            </p>
            <ErrorBanner message=general />
            <Show when=move || matches!(result.get(), Some(Ok(_)))>
                <div class="banner success" role="status">"Saved."</div>
            </Show>
            <Transition fallback=Loading>
                {move || Suspend::new(async move {
                    match current.await {
                        Ok(quota) => view! {
                            <ActionForm action=save attr:class="form-card quota-form" attr:novalidate=true>
                                {quota_fields("default-quota", quota, err)}
                                <button type="submit" class="button primary" disabled=move || save.pending().get()>
                                    "Save default quota"
                                </button>
                            </ActionForm>
                        }.into_any(),
                        Err(e) => view! { <div class="banner error" role="alert">{e.to_string()}</div> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}
