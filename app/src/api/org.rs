//! Server functions of the delegation pages: departments, members,
//! quotas, the audit log and the directory. Form fields arrive as text so
//! that a typo gets its own message, not a decoding error.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::respond;
use crate::error::AppError;
use crate::model::Page;
use crate::org::{
    AuditEntry, AuditFilter, DepartmentView, DirectoryTest, DirectoryView, MemberQuery, MemberView,
    Quota,
};
#[cfg(feature = "ssr")]
use crate::org::{DepartmentChange, DirectorySettings, MemberChange, NewDepartment, NewMember};
#[cfg(feature = "ssr")]
use crate::policy::{authorize, rights};
#[cfg(feature = "ssr")]
use crate::service::{
    AuditService, DirectoryService, OrganisationService, QuotaService, request_context, service,
};

/// An optional whole number: empty is `None` (no limit).
#[cfg(feature = "ssr")]
fn limit<T: std::str::FromStr>(field: &str, text: &str) -> Result<Option<T>, AppError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| {
        AppError::invalid(
            field,
            "use a whole number of 0 or more, or leave it empty for no limit",
        )
    })
}

/// A quota from its form's four fields.
#[cfg(feature = "ssr")]
fn quota_form(
    instances: &str,
    vcpus: &str,
    memory_mib: &str,
    disk_gib: &str,
) -> Result<Quota, AppError> {
    Ok(Quota {
        instances: limit("instances", instances)?,
        vcpus: limit("vcpus", vcpus)?,
        memory_mib: limit("memory_mib", memory_mib)?,
        disk_gib: limit("disk_gib", disk_gib)?,
    })
}

#[cfg(feature = "ssr")]
fn id(field: &str, text: &str) -> Result<Option<i64>, AppError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| AppError::invalid(field, "choose one from the list"))
}

#[server(prefix = "/fn", endpoint = "departments")]
pub async fn get_departments() -> Result<Vec<DepartmentView>, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageMembers>(ctx.principal.as_ref())?;
            service::<dyn OrganisationService>()?.departments(who).await
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "create_department")]
pub async fn create_department(
    name: String,
    #[server(default)] parent_id: String,
) -> Result<DepartmentView, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageSubDepartments>(ctx.principal.as_ref())?;
            let request = NewDepartment {
                name,
                parent_id: id("parent_id", &parent_id)?,
            };
            service::<dyn OrganisationService>()?
                .create_department(who, request)
                .await
        }
        .await,
    )
}

/// The quota of each account in no department (appliance admins).
#[server(prefix = "/fn", endpoint = "default_quota")]
pub async fn get_default_quota() -> Result<Quota, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageDepartments>(ctx.principal.as_ref())?;
            service::<dyn QuotaService>()?.default_quota(who).await
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "set_default_quota")]
pub async fn set_default_quota(
    #[server(default)] instances: String,
    #[server(default)] vcpus: String,
    #[server(default)] memory_mib: String,
    #[server(default)] disk_gib: String,
) -> Result<Quota, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageDepartments>(ctx.principal.as_ref())?;
            let quota = quota_form(&instances, &vcpus, &memory_mib, &disk_gib)?;
            service::<dyn QuotaService>()?
                .set_default_quota(who, quota)
                .await
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "set_department_quota")]
pub async fn set_department_quota(
    id: i64,
    #[server(default)] instances: String,
    #[server(default)] vcpus: String,
    #[server(default)] memory_mib: String,
    #[server(default)] disk_gib: String,
) -> Result<DepartmentView, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageMembers>(ctx.principal.as_ref())?;
            let quota = quota_form(&instances, &vcpus, &memory_mib, &disk_gib)?;
            let change = DepartmentChange {
                name: None,
                quota: Some(quota),
            };
            service::<dyn OrganisationService>()?
                .update_department(who, id, change)
                .await
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "rename_department")]
pub async fn rename_department(id: i64, name: String) -> Result<DepartmentView, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageMembers>(ctx.principal.as_ref())?;
            let change = DepartmentChange {
                name: Some(name),
                quota: None,
            };
            service::<dyn OrganisationService>()?
                .update_department(who, id, change)
                .await
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "delete_department")]
pub async fn delete_department(id: i64) -> Result<(), AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageSubDepartments>(ctx.principal.as_ref())?;
            service::<dyn OrganisationService>()?
                .delete_department(who, id)
                .await?;
            leptos_axum::redirect("/departments");
            Ok(())
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "members")]
pub async fn get_members(
    // Every field of the query may be absent, and then so is the query.
    #[server(default)] query: MemberQuery,
) -> Result<Page<MemberView>, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageMembers>(ctx.principal.as_ref())?;
            service::<dyn OrganisationService>()?
                .members(who, query)
                .await
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "create_member")]
pub async fn create_member(
    username: String,
    password: String,
    department_id: i64,
    #[server(default)] department_admin: Option<String>,
) -> Result<MemberView, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageMembers>(ctx.principal.as_ref())?;
            let request = NewMember {
                username,
                password,
                department_id: Some(department_id),
                // A checkbox sends its value only when ticked.
                department_admin: department_admin.is_some(),
                may_deploy: true,
            };
            service::<dyn OrganisationService>()?
                .create_member(who, request)
                .await
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "set_may_deploy")]
pub async fn set_may_deploy(id: i64, may_deploy: bool) -> Result<MemberView, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageMembers>(ctx.principal.as_ref())?;
            let change = MemberChange {
                may_deploy: Some(may_deploy),
                ..MemberChange::default()
            };
            service::<dyn OrganisationService>()?
                .update_member(who, id, change)
                .await
        }
        .await,
    )
}

/// Takes a member out of its department (the account stays).
#[server(prefix = "/fn", endpoint = "remove_member")]
pub async fn remove_member(id: i64) -> Result<MemberView, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageMembers>(ctx.principal.as_ref())?;
            let change = MemberChange {
                department_id: Some(None),
                ..MemberChange::default()
            };
            service::<dyn OrganisationService>()?
                .update_member(who, id, change)
                .await
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "move_member")]
pub async fn move_member(username: String, department_id: i64) -> Result<MemberView, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageMembers>(ctx.principal.as_ref())?;
            service::<dyn OrganisationService>()?
                .move_member(who, username, department_id)
                .await
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "audit")]
pub async fn get_audit(
    #[server(default)] filter: AuditFilter,
) -> Result<Page<AuditEntry>, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ViewAudit>(ctx.principal.as_ref())?;
            service::<dyn AuditService>()?.audit_log(who, filter).await
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "directory")]
pub async fn get_directory() -> Result<DirectoryView, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageDirectory>(ctx.principal.as_ref())?;
            service::<dyn DirectoryService>()?.directory(who).await
        }
        .await,
    )
}

/// The directory page's form, every field as typed.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct DirectoryForm {
    pub url: String,
    /// A checkbox: present ("on") when ticked.
    #[serde(default)]
    pub starttls: Option<String>,
    /// A checkbox: present ("on") when ticked.
    #[serde(default)]
    pub allow_cleartext: Option<String>,
    #[serde(default)]
    pub bind_dn: String,
    #[serde(default)]
    pub bind_password: String,
    pub user_base: String,
    pub user_filter: String,
    pub username_attribute: String,
    #[serde(default)]
    pub group_base: String,
    /// One a line: `GROUP DN | DEPARTMENT NAME | user or department_admin`.
    #[serde(default)]
    pub mappings: String,
    #[serde(default)]
    pub ca_certificate: String,
}

/// Saves the directory form.
#[server(prefix = "/fn", endpoint = "save_directory")]
pub async fn save_directory(form: DirectoryForm) -> Result<DirectoryView, AppError> {
    respond(
        async move {
            let DirectoryForm {
                url,
                starttls,
                allow_cleartext,
                bind_dn,
                bind_password,
                user_base,
                user_filter,
                username_attribute,
                group_base,
                mappings,
                ca_certificate,
            } = form;
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageDirectory>(ctx.principal.as_ref())?;
            // The mappings name departments as the caller sees them; the
            // service resolves them (crate::org::group_mappings_from_lines).
            let settings = DirectorySettings {
                url,
                starttls: starttls.is_some(),
                allow_cleartext: allow_cleartext.is_some(),
                bind_dn,
                bind_password: (!bind_password.is_empty()).then_some(bind_password),
                user_base,
                user_filter,
                username_attribute,
                group_base,
                group_mappings: Vec::new(),
                ca_certificate: (!ca_certificate.trim().is_empty()).then_some(ca_certificate),
            };
            service::<dyn DirectoryService>()?
                .set_directory_from_form(who, settings, mappings)
                .await
        }
        .await,
    )
}

/// Tests the saved directory settings.
#[server(prefix = "/fn", endpoint = "test_directory")]
pub async fn test_directory() -> Result<DirectoryTest, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageDirectory>(ctx.principal.as_ref())?;
            service::<dyn DirectoryService>()?
                .test_saved_directory(who)
                .await
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "set_member_quota")]
pub async fn set_member_quota(
    id: i64,
    #[server(default)] instances: String,
    #[server(default)] vcpus: String,
    #[server(default)] memory_mib: String,
    #[server(default)] disk_gib: String,
) -> Result<MemberView, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageMembers>(ctx.principal.as_ref())?;
            let quota = quota_form(&instances, &vcpus, &memory_mib, &disk_gib)?;
            let change = MemberChange {
                quota: Some(quota),
                ..MemberChange::default()
            };
            service::<dyn OrganisationService>()?
                .update_member(who, id, change)
                .await
        }
        .await,
    )
}

/// Appoints or removes a department admin (appliance admins; the
/// service refuses others).
#[server(prefix = "/fn", endpoint = "set_department_admin")]
pub async fn set_department_admin(id: i64, department_admin: bool) -> Result<MemberView, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageMembers>(ctx.principal.as_ref())?;
            let change = MemberChange {
                department_admin: Some(department_admin),
                ..MemberChange::default()
            };
            service::<dyn OrganisationService>()?
                .update_member(who, id, change)
                .await
        }
        .await,
    )
}
