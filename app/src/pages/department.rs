use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;
use leptos_router::params::ParamsMap;

use super::dashboard::QuotaCard;
use crate::api::get_me;
use crate::api::org::{
    CreateDepartment, CreateMember, DeleteDepartment, MoveMember, RemoveMember, RenameDepartment,
    SetDepartmentAdmin, SetDepartmentQuota, SetMayDeploy, SetMemberQuota, get_departments,
    get_members,
};
use crate::api::second_factor::{ResetSecondFactors, UnlockSecondFactor};
use crate::components::{
    Confirm, ErrorBanner, FieldError, Layout, Loading, Pager, error_for_field, general_error,
    quota_fields,
};
use crate::model::{Page, Role};
use crate::org::{DepartmentView, MemberQuery, MemberView, QuotaUse};

/// One department: its quota and use, its members and their right to
/// deploy, and forms to add members and set the quota.
#[component]
pub fn DepartmentPage() -> impl IntoView {
    let id = crate::components::use_route_id();
    let quota = ServerAction::<SetDepartmentQuota>::new();
    let add = ServerAction::<CreateMember>::new();
    let grant = ServerAction::<SetMayDeploy>::new();
    let delete = ServerAction::<DeleteDepartment>::new();
    let member_quota = ServerAction::<SetMemberQuota>::new();
    let appoint = ServerAction::<SetDepartmentAdmin>::new();
    let remove = ServerAction::<RemoveMember>::new();
    let unlock = ServerAction::<UnlockSecondFactor>::new();
    let reset = ServerAction::<ResetSecondFactors>::new();
    let shape = Shaping {
        create: ServerAction::<CreateDepartment>::new(),
        rename: ServerAction::<RenameDepartment>::new(),
        delete,
        move_in: ServerAction::<MoveMember>::new(),
    };
    // The members' search and page are in the address bar.
    let query = use_query_map();
    let given = move |key: &str| query.read().get(key).filter(|v| !v.is_empty());
    let data = Resource::new(
        move || {
            (
                MemberQuery {
                    department: Some(id()),
                    q: given("q"),
                    limit: None,
                    cursor: given("cursor"),
                },
                quota.version().get() + add.version().get() + grant.version().get(),
                member_quota.version().get() + appoint.version().get() + remove.version().get(),
                shape.create.version().get()
                    + shape.rename.version().get()
                    + shape.move_in.version().get()
                    + unlock.version().get()
                    + reset.version().get(),
            )
        },
        |(members, _, _, _)| async move {
            (
                get_departments().await,
                get_members(members).await,
                get_me().await,
            )
        },
    );
    let general = Signal::derive(move || {
        general_error(&quota.value().get())
            .or_else(|| general_error(&add.value().get()))
            .or_else(|| general_error(&grant.value().get()))
            .or_else(|| general_error(&delete.value().get()))
            .or_else(|| general_error(&appoint.value().get()))
            .or_else(|| general_error(&remove.value().get()))
            .or_else(|| general_error(&shape.create.value().get()))
            .or_else(|| general_error(&shape.rename.value().get()))
            .or_else(|| general_error(&shape.move_in.value().get()))
            .or_else(|| general_error(&unlock.value().get()))
            .or_else(|| general_error(&reset.value().get()))
            .or_else(|| {
                // The member quota form sits in a table row: its errors
                // are told at the top, with the field's name.
                match member_quota.value().get() {
                    Some(Err(e)) => Some(e.to_string()),
                    Some(Ok(_)) | None => None,
                }
            })
    });
    let actions = MemberActions {
        grant,
        member_quota,
        appoint,
        remove,
        unlock,
        reset,
    };
    view! {
        <Title text="Department" />
        <Layout>
            <ErrorBanner message=general />
            <Transition fallback=Loading>
                {move || Suspend::new(async move {
                    let (departments, members, me) = data.await;
                    let children = match &departments {
                        Ok(all) => all.iter().filter(|d| d.parent_id == Some(id())).cloned().collect(),
                        Err(_) => Vec::new(),
                    };
                    let found = departments.and_then(|all| {
                        all.into_iter()
                            .find(|d| d.id == id())
                            .ok_or(crate::error::AppError::NotFound("department".into()))
                    });
                    match (found, members, me) {
                        (Ok(department), Ok(members), Ok(me)) => {
                            let admin = me.as_ref().is_some_and(|m| m.role == Role::Admin);
                            let viewer = me.map(|m| m.username).unwrap_or_default();
                            let query = query.get();
                            view! { <Department department children members query admin viewer quota add actions shape /> }.into_any()
                        }
                        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                            view! { <div class="banner error" role="alert">{e.to_string()}</div> }.into_any()
                        }
                    }
                })}
            </Transition>
        </Layout>
    }
}

/// The forms that shape the department tree and move accounts in it.
#[derive(Clone, Copy)]
struct Shaping {
    create: ServerAction<CreateDepartment>,
    rename: ServerAction<RenameDepartment>,
    delete: ServerAction<DeleteDepartment>,
    move_in: ServerAction<MoveMember>,
}

#[component]
fn Department(
    department: DepartmentView,
    /// The departments right below it.
    children: Vec<DepartmentView>,
    /// A page of its members, as `query` searched them.
    members: Page<MemberView>,
    query: ParamsMap,
    admin: bool,
    /// The signed-in account: a department admin cannot remove itself.
    viewer: String,
    quota: ServerAction<SetDepartmentQuota>,
    add: ServerAction<CreateMember>,
    actions: MemberActions,
    shape: Shaping,
) -> impl IntoView {
    let id = department.id;
    let usage = QuotaUse {
        scope: "In use, with its sub-departments".into(),
        quota: department.quota,
        usage: department.usage,
    };
    view! {
        <Title text=department.name.clone() />
        <h1 class="page-title">{department.path.clone()}</h1>
        <div class="grid">
            <QuotaCard quota=usage />
        </div>
        {department.may_change.then(|| view! { <QuotaForm department=department.clone() quota /> })}
        <super::department_usage::DepartmentUsageSection id />
        <super::lease_policy::LeasePolicyCard id admin />
        <super::approval_policy::ApprovalPolicyCard id admin />
        {admin.then(|| view! { <super::second_factor_policy::DepartmentSecondFactorCard id /> })}
        <section class="card">
            <h2>"Members"</h2>
            <MemberSearch query=query.clone() />
            <MemberTable members=members.items searched=query.get("q").is_some_and(|q| !q.is_empty()) admin viewer actions />
            <Pager path=format!("/departments/{id}") params=query next=members.next />
        </section>
        <AddMemberForm id admin add />
        <MoveMemberForm id move_in=shape.move_in />
        <SubDepartments id children create=shape.create />
        {department.may_change.then(|| view! { <ChangeDepartment department=department.clone() shape /> })}
    }
}

/// Moves an account the viewer administers (from another of their
/// departments; appliance admins: from anywhere) into this one.
#[component]
fn MoveMemberForm(id: i64, move_in: ServerAction<MoveMember>) -> impl IntoView {
    let result = move_in.value();
    let err = Signal::derive(move || error_for_field(&result.get(), "username"));
    view! {
        <section class="card" id="move-member">
            <h2>"Move an account here"</h2>
            <p class="hint">"An account of another department you administer; it keeps its instances."</p>
            <Show when=move || matches!(result.get(), Some(Ok(_)))>
                <div class="banner success" role="status">
                    {move || match result.get() {
                        Some(Ok(m)) => format!("{} moved here.", m.username),
                        Some(Err(_)) | None => String::new(),
                    }}
                </div>
            </Show>
            <ActionForm action=move_in attr:class="form-card" attr:novalidate=true>
                <input type="hidden" name="department_id" value=id />
                <label for="move-username">"Account to move"</label>
                <input id="move-username" name="username" type="text" maxlength="64"
                    autocomplete="off" aria-describedby="move-username-error" />
                <FieldError id="move-username-error".into() message=err />
                <button type="submit" class="button primary" disabled=move || move_in.pending().get()>
                    "Move here"
                </button>
            </ActionForm>
        </section>
    }
}

/// The departments right below this one, and a form for a new one.
#[component]
fn SubDepartments(
    id: i64,
    children: Vec<DepartmentView>,
    create: ServerAction<CreateDepartment>,
) -> impl IntoView {
    let result = create.value();
    let err = Signal::derive(move || error_for_field(&result.get(), "name"));
    view! {
        <section class="card" id="sub-departments">
            <h2>"Sub-departments"</h2>
            {if children.is_empty() {
                view! { <p>"None yet."</p> }.into_any()
            } else {
                view! {
                    <ul>
                        {children.into_iter().map(|d| view! {
                            <li><a href=format!("/departments/{}", d.id)>{d.name}</a></li>
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
            <ActionForm action=create attr:class="form-card" attr:novalidate=true>
                <input type="hidden" name="parent_id" value=id />
                <label for="sub-name">"New sub-department"</label>
                <input id="sub-name" name="name" type="text" maxlength="64"
                    aria-describedby="sub-name-error" />
                <FieldError id="sub-name-error".into() message=err />
                <button type="submit" class="button primary" disabled=move || create.pending().get()>
                    "Create sub-department"
                </button>
            </ActionForm>
        </section>
    }
}

/// Renames or removes the department: for an appliance admin, or the
/// admin of a department above it.
#[component]
fn ChangeDepartment(department: DepartmentView, shape: Shaping) -> impl IntoView {
    let result = shape.rename.value();
    let err = Signal::derive(move || error_for_field(&result.get(), "name"));
    let id = department.id;
    view! {
        <section class="card" id="change-department">
            <h2>"Name and removal"</h2>
            <ActionForm action=shape.rename attr:class="form-card" attr:novalidate=true>
                <input type="hidden" name="id" value=id />
                <label for="department-rename">"Name"</label>
                <input id="department-rename" name="name" type="text" maxlength="64"
                    value=department.name.clone() aria-describedby="department-rename-error" />
                <FieldError id="department-rename-error".into() message=err />
                <button type="submit" class="button" disabled=move || shape.rename.pending().get()>
                    "Rename"
                </button>
            </ActionForm>
            <Confirm key=format!("remove-department-{id}") summary="Remove this department" class="danger">
                <p>"Only an empty department can go: no members, instances or sub-departments."</p>
                <ActionForm action=shape.delete attr:class="inline">
                    <input type="hidden" name="id" value=id />
                    <button type="submit" class="button danger">"Remove it"</button>
                </ActionForm>
            </Confirm>
        </section>
    }
}

#[component]
fn QuotaForm(department: DepartmentView, quota: ServerAction<SetDepartmentQuota>) -> impl IntoView {
    let result = quota.value();
    let err = move |f: &'static str| Signal::derive(move || error_for_field(&result.get(), f));
    view! {
        <section class="card">
            <h2>"Quota"</h2>
            <p class="hint">"Empty means no limit. It covers the sub-departments too."</p>
            <ActionForm action=quota attr:class="form-card quota-form" attr:novalidate=true>
                <input type="hidden" name="id" value=department.id />
                {quota_fields("quota", department.quota, err)}
                <button type="submit" class="button primary" disabled=move || quota.pending().get()>
                    "Save quota"
                </button>
            </ActionForm>
        </section>
    }
}

/// The per-member buttons and forms.
#[derive(Clone, Copy)]
struct MemberActions {
    grant: ServerAction<SetMayDeploy>,
    member_quota: ServerAction<SetMemberQuota>,
    appoint: ServerAction<SetDepartmentAdmin>,
    remove: ServerAction<RemoveMember>,
    unlock: ServerAction<UnlockSecondFactor>,
    reset: ServerAction<ResetSecondFactors>,
}

/// Finds members by the start of their name; works without JavaScript.
#[component]
fn MemberSearch(query: ParamsMap) -> impl IntoView {
    let text = query.get("q").unwrap_or_default();
    let searched = !text.is_empty();
    view! {
        <Form method="GET" action="" attr:class="row filters" attr:role="search">
            <label for="member-q" class="sr-only">"Find a member"</label>
            <input id="member-q" name="q" type="search" value=text.clone() prop:value=text
                placeholder="Account name: its start" />
            <button type="submit" class="button">"Find"</button>
            {searched.then(|| view! { <a href="?">"Show all"</a> })}
        </Form>
    }
}

#[component]
fn MemberTable(
    members: Vec<MemberView>,
    /// Whether a search chose them: an empty list then means no match.
    searched: bool,
    admin: bool,
    viewer: String,
    actions: MemberActions,
) -> impl IntoView {
    if members.is_empty() {
        let none = if searched {
            "No member matches."
        } else {
            "No members yet."
        };
        return view! { <p>{none}</p> }.into_any();
    }
    let MemberActions {
        grant,
        member_quota,
        appoint,
        remove,
        unlock,
        reset,
    } = actions;
    view! {
        <table>
            <thead>
                <tr>
                    <th scope="col">"Account"</th>
                    <th scope="col">"Role"</th>
                    <th scope="col">"From"</th>
                    <th scope="col">"In use (of quota)"</th>
                    <th scope="col">"May deploy"</th>
                    <th scope="col">"Second factor"</th>
                    <th scope="col">"Membership"</th>
                </tr>
            </thead>
            <tbody>
                {members.into_iter().map(|m| {
                    let (label, next, button) = if m.may_deploy {
                        ("yes", false, "Withdraw")
                    } else {
                        ("no", true, "Grant")
                    };
                    let aria = format!("{button} the right to deploy for {}", m.username);
                    let summary = super::departments::quota_summary(&m.quota, &m.usage);
                    let is_admin = m.role == Role::DepartmentAdmin;
                    let appoint_label = if is_admin { "Remove as admin" } else { "Make admin" };
                    let appoint_aria = format!("{appoint_label}: {}", m.username);
                    let quota_label = format!("Quota of {}", m.username);
                    let remove_label = format!("Take {} out of the department", m.username);
                    let removable = admin || m.username != viewer;
                    let factor = second_factor_cell(&m, unlock, reset);
                    let q = m.quota;
                    let text = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
                    view! {
                        <tr>
                            <td>{m.username.clone()}</td>
                            <td>
                                {m.role.label()}
                                {admin.then(|| view! {
                                    " "
                                    <ActionForm action=appoint attr:class="inline">
                                        <input type="hidden" name="id" value=m.id />
                                        <input type="hidden" name="department_admin" value=(!is_admin).to_string() />
                                        <button type="submit" class="button subtle" aria-label=appoint_aria>{appoint_label}</button>
                                    </ActionForm>
                                })}
                            </td>
                            <td>{m.source.as_str()}</td>
                            <td>
                                {summary}
                                <details>
                                    <summary>"Set quota"</summary>
                                    <ActionForm action=member_quota attr:class="quota-form" attr:aria-label=quota_label>
                                        <input type="hidden" name="id" value=m.id />
                                        <label>"Instances" <input name="instances" type="text" inputmode="numeric" value=text(q.instances.map(u64::from)) placeholder="no limit" /></label>
                                        <label>"vCPUs" <input name="vcpus" type="text" inputmode="numeric" value=text(q.vcpus.map(u64::from)) placeholder="no limit" /></label>
                                        <label>"Memory (MiB)" <input name="memory_mib" type="text" inputmode="numeric" value=text(q.memory_mib) placeholder="no limit" /></label>
                                        <label>"Disk (GiB)" <input name="disk_gib" type="text" inputmode="numeric" value=text(q.disk_gib) placeholder="no limit" /></label>
                                        <button type="submit" class="button" aria-label=format!("Save the quota of {}", m.username)>"Save"</button>
                                    </ActionForm>
                                </details>
                            </td>
                            <td>
                                <span class="may-deploy">{label}</span> " "
                                <ActionForm action=grant attr:class="inline">
                                    <input type="hidden" name="id" value=m.id />
                                    <input type="hidden" name="may_deploy" value=next.to_string() />
                                    <button type="submit" class="button subtle" aria-label=aria>{button}</button>
                                </ActionForm>
                            </td>
                            <td>{factor}</td>
                            <td>
                                // Two steps, without JavaScript too: only an
                                // appliance admin can bring the account back.
                                {removable.then(|| view! {
                                    <details>
                                        <summary>"Remove…"</summary>
                                        <ActionForm action=remove attr:class="inline">
                                            <input type="hidden" name="id" value=m.id />
                                            <button type="submit" class="button danger">{remove_label}</button>
                                        </ActionForm>
                                    </details>
                                })}
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

/// A member's second factor, and what an admin can do about it: lift its
/// lock, or reset it when the phone is lost.
fn second_factor_cell(
    m: &MemberView,
    unlock: ServerAction<UnlockSecondFactor>,
    reset: ServerAction<ResetSecondFactors>,
) -> impl IntoView + use<> {
    let state = match (
        m.authenticator_app,
        m.passkeys,
        &m.second_factor_locked_until,
    ) {
        (_, _, Some(until)) => format!("locked until {}", until.replacen('T', " ", 1)),
        (true, true, None) => "app and passkey".to_owned(),
        (true, false, None) => "app".to_owned(),
        (false, true, None) => "passkey".to_owned(),
        (false, false, None) => "none".to_owned(),
    };
    let id = m.id;
    let lift_label = format!("Lift the second-factor lock of {}", m.username);
    let warning = format!(
        "{} loses the authenticator app, recovery codes and passkeys and is signed out everywhere; \
         they sign in with their password, then enrol again.",
        m.username
    );
    let reset_label = format!("Reset the second factor of {}", m.username);
    let locked = m.second_factor_locked_until.is_some();
    let enrolled = m.authenticator_app || m.passkeys;
    view! {
        <span class="second-factor">{state}</span>
        {locked.then(|| view! {
            " "
            <ActionForm action=unlock attr:class="inline">
                <input type="hidden" name="user_id" value=id />
                <button type="submit" class="button subtle"
                    aria-label=lift_label>"Lift the lock"</button>
            </ActionForm>
        })}
        {enrolled.then(|| view! {
            <Confirm key=format!("reset-second-factor-{id}") summary="Reset" class="subtle">
                <p>{warning}</p>
                <ActionForm action=reset attr:class="inline">
                    <input type="hidden" name="user_id" value=id />
                    <button type="submit" class="button danger">{reset_label}</button>
                </ActionForm>
            </Confirm>
        })}
    }
}

#[component]
fn AddMemberForm(id: i64, admin: bool, add: ServerAction<CreateMember>) -> impl IntoView {
    let result = add.value();
    let err = move |f: &'static str| Signal::derive(move || error_for_field(&result.get(), f));
    view! {
        <section class="card">
            <h2>"Add a member"</h2>
            <Show when=move || matches!(result.get(), Some(Ok(_)))>
                <div class="banner success" role="status">
                    {move || match result.get() {
                        Some(Ok(m)) => format!("{} added.", m.username),
                        Some(Err(_)) | None => String::new(),
                    }}
                </div>
            </Show>
            <ActionForm action=add attr:class="form-card" attr:novalidate=true>
                <input type="hidden" name="department_id" value=id />
                <label for="member-username">"User name"</label>
                <input id="member-username" name="username" type="text" maxlength="64"
                    autocomplete="off" aria-describedby="member-username-error" />
                <FieldError id="member-username-error".into() message=err("username") />
                <label for="member-password">"Initial password"</label>
                <input id="member-password" name="password" type="password" autocomplete="new-password"
                    aria-describedby="member-password-error" />
                <FieldError id="member-password-error".into() message=err("password") />
                {admin.then(|| view! {
                    <label class="choice" for="member-admin">
                        <input id="member-admin" type="checkbox" name="department_admin" value="on" />
                        <span>"Department admin"</span>
                    </label>
                })}
                <button type="submit" class="button primary" disabled=move || add.pending().get()>
                    "Add member"
                </button>
            </ActionForm>
        </section>
    }
}
