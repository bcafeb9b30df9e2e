//! Delegation through the service layer: departments and their members.
//! The edge has authorized the action; here each object is checked with
//! `may_manage`.

use std::collections::HashMap;

use app::error::AppError;
use app::model::{Page, Principal, Role};
use app::org::{
    DepartmentChange, DepartmentView, MemberChange, MemberQuery, MemberView, NewDepartment,
    NewMember, Usage,
};
use app::policy::{Authorized, may_change_department, may_create_department, may_manage, rights};
use app::service::OrganisationService;
use app::validate;
use async_trait::async_trait;

use super::errors::{internal, store_err};
use super::{Appliance, paging};
use crate::auth::password;
use crate::blocking::run_blocking;
use crate::store::audit::Audit;
use crate::store::departments::DepartmentRow;
use crate::store::second_factors::FactorState;
use crate::store::users::{MemberList, UserRow};
use crate::store::{
    departments, directory as directory_store, quotas, second_factors, tokens, users,
};

/// The member list's name in its cursors.
const MEMBERS: &str = "members";

/// "Science / Physics" for Physics under Science.
fn path_of(id: i64, by_id: &HashMap<i64, DepartmentRow>) -> String {
    let mut names = Vec::new();
    let mut next = Some(id);
    while let Some(id) = next {
        let Some(d) = by_id.get(&id) else { break };
        if names.len() > departments::MAX_DEPTH {
            break;
        }
        names.push(d.name.clone());
        next = d.parent_id;
    }
    names.reverse();
    names.join(" / ")
}

fn member_view(
    row: UserRow,
    usage: Usage,
    department: Option<String>,
    factors: FactorState,
) -> MemberView {
    MemberView {
        id: row.id,
        role: row.effective_role(),
        username: row.username,
        department_id: row.department_id,
        department,
        may_deploy: row.may_deploy,
        disabled: row.disabled,
        source: row.source,
        quota: row.quota,
        usage,
        authenticator_app: factors.app,
        passkeys: factors.passkeys,
        second_factor_locked_until: factors.locked_until.map(crate::clock::rfc3339),
    }
}

/// What a member change did, for the audit record.
fn change_summary(change: &MemberChange, taken_out_from_below: bool) -> String {
    let mut what = Vec::new();
    match change.department_id {
        Some(Some(d)) => what.push(format!("department #{d}")),
        Some(None) => what.push("no department".to_owned()),
        None => {}
    }
    if let Some(a) = change.department_admin {
        what.push(format!("department admin: {a}"));
    }
    if let Some(m) = change.may_deploy {
        what.push(format!("may deploy: {m}"));
    }
    if let Some(q) = change.quota {
        what.push(format!("quota: {q}"));
    }
    if taken_out_from_below {
        what.push("may deploy: false; API tokens revoked".to_owned());
    }
    what.join("; ")
}

impl Appliance {
    pub(super) async fn department_views(
        &self,
        who: &Principal,
    ) -> Result<Vec<DepartmentView>, AppError> {
        let who = who.clone();
        self.store
            .read(move |c| {
                let all = departments::list(c)?;
                let people = users::list(c)?;
                let usage = quotas::usage_by_department(c, &all)?;
                let by_id: HashMap<i64, DepartmentRow> =
                    all.iter().map(|d| (d.id, d.clone())).collect();
                let mut views = Vec::new();
                for d in all.iter().filter(|d| may_manage(&who, Some(d.id))) {
                    let in_dept = people.iter().filter(|u| u.department_id == Some(d.id));
                    views.push(DepartmentView {
                        id: d.id,
                        name: d.name.clone(),
                        parent_id: d.parent_id,
                        path: path_of(d.id, &by_id),
                        quota: d.quota,
                        usage: usage.get(&d.id).copied().unwrap_or_default(),
                        members: in_dept.clone().count() as u32,
                        admins: in_dept
                            .filter(|u| u.department_admin)
                            .map(|u| u.username.clone())
                            .collect(),
                        may_change: may_change_department(&who, d.id),
                    });
                }
                views.sort_by(|a, b| a.path.cmp(&b.path));
                Ok(views)
            })
            .await
            .map_err(store_err)
    }

    async fn department_view(&self, who: &Principal, id: i64) -> Result<DepartmentView, AppError> {
        self.department_views(who)
            .await?
            .into_iter()
            .find(|d| d.id == id)
            .ok_or_else(|| AppError::NotFound("department".into()))
    }

    /// Account `id` as its administrators see it, in one read. Callers
    /// have authorized the caller for it.
    async fn member_view_of(&self, id: i64) -> Result<MemberView, AppError> {
        let now = crate::store::now();
        self.store
            .read(move |c| {
                let Some(row) = users::by_id(c, id)? else {
                    return Ok(None);
                };
                let name = match row.department_id {
                    Some(d) => departments::get(c, d)?.map(|d| d.name),
                    None => None,
                };
                let usage = quotas::user_usage(c, id)?;
                let second = second_factors::states_of(c, &[id], now)?;
                let second = second.get(&id).copied().unwrap_or_default();
                Ok(Some(member_view(row, usage, name, second)))
            })
            .await
            .map_err(store_err)?
            .ok_or_else(|| AppError::NotFound("user".into()))
    }

    /// The account `id` if `who` administers it, else `NotFound`.
    async fn managed_member(&self, who: &Principal, id: i64) -> Result<UserRow, AppError> {
        self.store
            .read(move |c| users::by_id(c, id))
            .await
            .map_err(store_err)?
            .filter(|u| {
                may_manage(who, u.department_id)
                    && (who.role == Role::Admin || u.role != Role::Admin)
            })
            .ok_or_else(|| AppError::NotFound("user".into()))
    }

    /// Whether `who` may make `change` to account `id` (`row`): the
    /// rights it grants and the department it moves to are theirs to give.
    async fn check_member_change(
        &self,
        who: &Principal,
        id: i64,
        row: &UserRow,
        change: &MemberChange,
    ) -> Result<(), AppError> {
        if let Some(q) = &change.quota {
            validate::quota("quota", q)?;
        }
        let appliance_admin = who.role == Role::Admin;
        if change.department_admin.is_some() && !appliance_admin {
            return Err(AppError::Forbidden);
        }
        // A department admin grants rights and quotas to others, never to
        // themselves: their own are set from above.
        if !appliance_admin
            && who.user_id == id
            && (change.may_deploy.is_some() || change.quota.is_some())
        {
            return Err(AppError::Forbidden);
        }
        // Nor do they move or remove a fellow department admin.
        if !appliance_admin
            && who.user_id != id
            && row.department_admin
            && change.department_id.is_some()
        {
            return Err(AppError::Forbidden);
        }
        match change.department_id {
            Some(Some(d)) => {
                self.existing_department("department_id", d).await?;
                if !may_manage(who, Some(d)) {
                    return Err(AppError::Forbidden);
                }
            }
            // Out of its department: a department admin would lose the
            // very rights needed to undo it.
            Some(None) if who.user_id == id && who.role != Role::Admin => {
                return Err(AppError::invalid(
                    "department_id",
                    "you cannot take yourself out of your department; an appliance admin can",
                ));
            }
            Some(None) | None => {}
        }
        Ok(())
    }

    pub(super) async fn existing_department(
        &self,
        field: &str,
        id: i64,
    ) -> Result<DepartmentRow, AppError> {
        self.store
            .read(move |c| departments::get(c, id))
            .await
            .map_err(store_err)?
            .ok_or_else(|| AppError::invalid(field, format!("there is no department #{id}")))
    }
}

#[async_trait]
impl OrganisationService for Appliance {
    async fn departments(
        &self,
        who: Authorized<'_, rights::ManageMembers>,
    ) -> Result<Vec<DepartmentView>, AppError> {
        let who = who.principal();
        self.department_views(who).await
    }

    async fn create_department(
        &self,
        who: Authorized<'_, rights::ManageSubDepartments>,
        request: NewDepartment,
    ) -> Result<DepartmentView, AppError> {
        let who = who.principal();
        let name = validate::display_name("name", &request.name)?;
        match request.parent_id {
            // Departments outside theirs do not exist for a department
            // admin, as everywhere else.
            Some(parent) if !may_manage(who, Some(parent)) => {
                return Err(AppError::invalid(
                    "parent_id",
                    format!("there is no department #{parent}"),
                ));
            }
            Some(parent) => {
                self.existing_department("parent_id", parent).await?;
            }
            None if !may_create_department(who, None) => {
                return Err(AppError::invalid(
                    "parent_id",
                    "choose the department it sits in: only an appliance admin creates top-level ones",
                ));
            }
            None => {}
        }
        let stored = name.clone();
        let id = self
            .store
            .write(move |tx| departments::insert(tx, &stored, request.parent_id))
            .await
            .map_err(store_err)?;
        let record = Audit::by(who)
            .action("department.create")
            .object(format!("department {name}"))
            .department(Some(id))
            .ok();
        self.audit(record).await;
        // The caller's departments were read before this one existed; it
        // is below one of theirs, so theirs too.
        let mut fresh = who.clone();
        if fresh.role == Role::DepartmentAdmin {
            fresh.managed_departments.push(id);
        }
        self.department_view(&fresh, id).await
    }

    async fn update_department(
        &self,
        who: Authorized<'_, rights::ManageMembers>,
        id: i64,
        change: DepartmentChange,
    ) -> Result<DepartmentView, AppError> {
        let who = who.principal();
        if !may_manage(who, Some(id)) {
            return Err(AppError::NotFound("department".into()));
        }
        let current = self
            .existing_department("id", id)
            .await
            .map_err(|_| AppError::NotFound("department".into()))?;
        let name = change
            .name
            .as_deref()
            .map(|n| validate::display_name("name", n))
            .transpose()?;
        if let Some(q) = &change.quota {
            validate::quota("quota", q)?;
        }
        if (name.is_some() || change.quota.is_some()) && !may_change_department(who, id) {
            return Err(AppError::Forbidden);
        }
        let quota = change.quota;
        let new_name = name.clone();
        self.store
            .write(move |tx| {
                if let Some(n) = &new_name {
                    departments::rename(tx, id, n)?;
                }
                if let Some(q) = &quota {
                    quotas::set(tx, quotas::Holder::Department(id), q)?;
                }
                Ok(())
            })
            .await
            .map_err(store_err)?;
        let mut changes = Vec::new();
        if let Some(n) = name {
            changes.push(format!("renamed to {n}"));
        }
        if let Some(q) = quota {
            changes.push(format!("quota: {q}"));
        }
        let record = Audit::by(who)
            .action("department.update")
            .object(format!("department {}", current.name))
            .department(Some(id))
            .detail(changes.join("; "))
            .ok();
        self.audit(record).await;
        self.department_view(who, id).await
    }

    async fn delete_department(
        &self,
        who: Authorized<'_, rights::ManageSubDepartments>,
        id: i64,
    ) -> Result<(), AppError> {
        let who = who.principal();
        if !may_manage(who, Some(id)) {
            return Err(AppError::NotFound("department".into()));
        }
        if !may_change_department(who, id) {
            return Err(AppError::Forbidden);
        }
        let secrets = self.secrets.clone();
        let outcome = self
            .store
            .write(move |tx| {
                let Some(d) = departments::get(tx, id)? else {
                    return Ok(Err(AppError::NotFound("department".into())));
                };
                let mapped = directory_store::get(tx, &secrets)?
                    .is_some_and(|s| s.group_mappings.iter().any(|m| m.department_id == id));
                let why = match departments::in_use(tx, id)? {
                    Some(why) => Some(why),
                    None if mapped => Some("a directory group maps to it"),
                    None => None,
                };
                if let Some(why) = why {
                    return Ok(Err(AppError::Conflict(format!(
                        "department {} cannot be removed: {why}",
                        d.name
                    ))));
                }
                departments::delete(tx, id)?;
                Ok(Ok(d.name))
            })
            .await
            .map_err(store_err)??;
        let record = Audit::by(who)
            .action("department.delete")
            .object(format!("department {outcome}"))
            .department(Some(id))
            .ok();
        self.audit(record).await;
        Ok(())
    }

    async fn members(
        &self,
        who: Authorized<'_, rights::ManageMembers>,
        query: MemberQuery,
    ) -> Result<Page<MemberView>, AppError> {
        let who = who.principal();
        if let Some(d) = query.department
            && !may_manage(who, Some(d))
        {
            return Err(AppError::NotFound("department".into()));
        }
        let list = MemberList {
            scope: super::department_scope(who),
            department: query.department,
            text: paging::search("q", query.q)?,
            after: match query.cursor.as_deref() {
                Some(cursor) => Some(paging::after(MEMBERS, cursor)?.1),
                None => None,
            },
            limit: paging::limit(query.limit)?,
        };
        // One read for the page: the accounts, their usage, their
        // departments and second factors.
        let now = crate::store::now();
        self.store
            .read(move |c| {
                let (rows, more) = users::page(c, &list)?;
                let ids: Vec<i64> = rows.iter().map(|u| u.id).collect();
                let usage = quotas::usage_of_users(c, &ids)?;
                let second = second_factors::states_of(c, &ids, now)?;
                let names: HashMap<i64, String> = departments::list(c)?
                    .into_iter()
                    .map(|d| (d.id, d.name))
                    .collect();
                let next = paging::next(&rows, more, |last| {
                    paging::cursor(MEMBERS, last.id, &last.username)
                });
                let items = rows
                    .into_iter()
                    .map(|row| {
                        let used = usage.get(&row.id).copied().unwrap_or_default();
                        let name = row.department_id.and_then(|d| names.get(&d).cloned());
                        let factor = second.get(&row.id).copied().unwrap_or_default();
                        member_view(row, used, name, factor)
                    })
                    .collect();
                Ok(Page { items, next })
            })
            .await
            .map_err(store_err)
    }

    async fn create_member(
        &self,
        who: Authorized<'_, rights::ManageMembers>,
        request: NewMember,
    ) -> Result<MemberView, AppError> {
        let who = who.principal();
        let username = validate::username("username", &request.username)?;
        if request.department_admin && who.role != Role::Admin {
            return Err(AppError::Forbidden);
        }
        if request.department_admin && request.department_id.is_none() {
            return Err(AppError::invalid(
                "department_id",
                "a department admin needs a department",
            ));
        }
        match request.department_id {
            Some(d) => {
                let dept = self.existing_department("department_id", d).await?;
                if !may_manage(who, Some(dept.id)) {
                    return Err(AppError::Forbidden);
                }
            }
            None if who.role != Role::Admin => {
                return Err(AppError::invalid(
                    "department_id",
                    "choose one of your departments",
                ));
            }
            None => {}
        }
        if let Some(why) = password::weakness(&request.password, &[&username]) {
            return Err(AppError::invalid("password", why));
        }
        let secret = request.password;
        let hash = run_blocking(move || password::hash(&secret))
            .await
            .map_err(|e| internal(&e))?;
        let stored = username.clone();
        let id = self
            .store
            .write(move |tx| {
                users::insert_member(
                    tx,
                    &stored,
                    &hash,
                    request.department_id,
                    request.department_admin,
                    request.may_deploy,
                )
            })
            .await
            .map_err(store_err)?;
        let role = if request.department_admin {
            "department admin"
        } else {
            "member"
        };
        let record = Audit::by(who)
            .action("user.create")
            .object(format!("user {username}"))
            .department(request.department_id)
            .detail(format!("as {role}, may deploy: {}", request.may_deploy))
            .ok();
        self.audit(record).await;
        self.member_view_of(id).await
    }

    async fn move_member(
        &self,
        who: Authorized<'_, rights::ManageMembers>,
        username: String,
        department_id: i64,
    ) -> Result<MemberView, AppError> {
        let name = username.trim().to_owned();
        if name.is_empty() {
            return Err(AppError::invalid("username", "is required"));
        }
        let principal = who.principal();
        let looked_up = name.clone();
        let found = self
            .store
            .read(move |c| users::by_name(c, &looked_up))
            .await
            .map_err(store_err)?
            .filter(|u| {
                may_manage(principal, u.department_id)
                    && (principal.role == Role::Admin || u.role != Role::Admin)
            });
        let Some(account) = found else {
            return Err(AppError::invalid(
                "username",
                format!("there is no account {name} that you administer"),
            ));
        };
        let change = MemberChange {
            department_id: Some(Some(department_id)),
            ..MemberChange::default()
        };
        self.update_member(who, account.id, change).await
    }

    async fn update_member(
        &self,
        who: Authorized<'_, rights::ManageMembers>,
        id: i64,
        change: MemberChange,
    ) -> Result<MemberView, AppError> {
        let who = who.principal();
        let row = self.managed_member(who, id).await?;
        self.check_member_change(who, id, &row, &change).await?;
        let appliance_admin = who.role == Role::Admin;
        let department = change.department_id.unwrap_or(row.department_id);
        // An admin role belongs to its department: moving or leaving ends it
        // unless the new department's is asked for.
        let department_admin = change
            .department_admin
            .unwrap_or(row.department_admin && department == row.department_id);
        // Taken out by a department admin, an account keeps nothing it had
        // there: no right to deploy (outside any quota), no API tokens.
        let taken_out_from_below = change.department_id == Some(None) && !appliance_admin;
        if department_admin && department.is_none() {
            return Err(AppError::invalid(
                "department_id",
                "a department admin needs a department",
            ));
        }
        let c = change.clone();
        self.store
            .write(move |tx| {
                if c.department_id.is_some() || c.department_admin.is_some() {
                    users::set_department(tx, id, department, department_admin)?;
                }
                if let Some(may) = c.may_deploy {
                    users::set_may_deploy(tx, id, may)?;
                }
                if taken_out_from_below {
                    users::set_may_deploy(tx, id, false)?;
                    tokens::delete_all_for_user(tx, id)?;
                }
                if let Some(q) = &c.quota {
                    quotas::set(tx, quotas::Holder::User(id), q)?;
                }
                Ok(())
            })
            .await
            .map_err(store_err)?;
        // The department it left keeps the record, so its admins see it.
        let record = Audit::by(who)
            .action("user.update")
            .object(format!("user {}", row.username))
            .department(department.or(row.department_id))
            .detail(change_summary(&change, taken_out_from_below))
            .ok();
        self.audit(record).await;
        // Authorized above; a member taken out is no longer the caller's
        // to look up, yet the answer shows the result.
        self.member_view_of(id).await
    }
}
