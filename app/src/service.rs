//! The narrow interface through which server functions reach the server
//! (engine, store, authentication). The `server` crate implements it and
//! provides an [`SharedService`] as Leptos context to both the page renderer
//! and the server-function handler.

use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;
use tower_sessions::Session;

use crate::error::AppError;
use crate::model::{
    Accepted, AddHost, Dashboard, DeployRequest, HostProbe, HostStatus, InstanceView, Me, NewToken,
    OutsideZoneSettings, Principal, SetupRequest, SetupStatus, StackInfo, TaskKind, TaskView,
    TokensView, ZonesView,
};
use crate::org::{
    AuditEntry, AuditFilter, DepartmentChange, DepartmentView, DirectorySettings, DirectoryTest,
    DirectoryView, MemberChange, MemberView, NewDepartment, NewMember, Quota,
};

/// Marks a refused no-JavaScript form post (whose answer is a redirect,
/// not a 403) for the server's audit layer, which removes it.
pub const REFUSED_HEADER: &str = "x-dpe-refused";

/// Who is asking, resolved once per request by the server's middleware.
#[derive(Clone, Debug)]
pub struct RequestContext {
    /// The signed-in account, from the session cookie or a bearer token.
    pub principal: Option<Principal>,
    /// The peer's address, for throttling and the audit trail.
    pub peer: IpAddr,
    /// The cookie session; absent on requests authenticated by a token.
    pub session: Option<Session>,
}

#[async_trait]
pub trait PortalService: OrgService + Send + Sync + 'static {
    async fn setup_status(&self) -> Result<SetupStatus, AppError>;
    /// Completes the first-boot setup atomically; `Conflict` once done.
    async fn complete_setup(
        &self,
        ctx: &RequestContext,
        request: SetupRequest,
    ) -> Result<(), AppError>;
    /// A live look at a host; before setup only with the setup code.
    async fn probe_host(
        &self,
        ctx: &RequestContext,
        uri: String,
        setup_code: Option<String>,
    ) -> Result<HostProbe, AppError>;
    /// Checks the credentials (throttled), then rotates the session id and
    /// binds the session to the account.
    async fn sign_in(
        &self,
        ctx: &RequestContext,
        username: String,
        password: String,
    ) -> Result<Me, AppError>;
    /// Deletes the session server-side.
    async fn sign_out(&self, ctx: &RequestContext) -> Result<(), AppError>;
    /// Changes the signed-in local account's password. Its other sessions
    /// end and its API tokens are revoked; this session goes on under a
    /// new id.
    async fn change_password(
        &self,
        ctx: &RequestContext,
        current_password: String,
        new_password: String,
    ) -> Result<(), AppError>;
    async fn dashboard(&self, who: &Principal) -> Result<Dashboard, AppError>;
    /// The caller's tokens, and the one created just before (shown once).
    async fn tokens_view(
        &self,
        ctx: &RequestContext,
        who: &Principal,
    ) -> Result<TokensView, AppError>;
    /// A new token of the caller's, working for `expires_in_days` (none:
    /// until revoked).
    async fn create_token(
        &self,
        ctx: &RequestContext,
        who: &Principal,
        name: String,
        expires_in_days: Option<u32>,
    ) -> Result<NewToken, AppError>;
    /// Revokes one of the caller's own tokens; others' are `NotFound`.
    async fn revoke_token(&self, who: &Principal, id: i64) -> Result<(), AppError>;
    /// The stack users deploy, for the deploy form.
    async fn stack(&self) -> Result<StackInfo, AppError>;
    /// Validates and accepts a deploy; the work runs as a task.
    async fn deploy(&self, who: &Principal, request: DeployRequest) -> Result<Accepted, AppError>;
    /// The instances `who` may see: their own, or all for admins.
    async fn instances(&self, who: &Principal) -> Result<Vec<InstanceView>, AppError>;
    /// One instance; `NotFound` when `who` may not see it.
    async fn instance(&self, who: &Principal, id: i64) -> Result<InstanceView, AppError>;
    /// Starts a lifecycle task; `Conflict` while another one runs.
    async fn act(&self, who: &Principal, id: i64, kind: TaskKind) -> Result<i64, AppError>;
    /// One task; `NotFound` when `who` may not see it.
    async fn task(&self, who: &Principal, id: i64) -> Result<TaskView, AppError>;
    /// The hosts with their live status (admins only, checked by callers).
    async fn hosts(&self) -> Result<Vec<HostStatus>, AppError>;
    async fn add_host(&self, who: &Principal, request: AddHost) -> Result<HostStatus, AppError>;
    /// Removes a host that holds no instances.
    async fn remove_host(&self, who: &Principal, id: i64) -> Result<(), AppError>;
    /// dpe leftovers (domains, volumes) with no record, which the
    /// reconciler found and removed (admins only, checked by callers).
    async fn cleaned_orphans(&self) -> Result<Vec<String>, AppError>;
    /// The network zones, for the deploy form and the networks page.
    async fn zones(&self) -> Result<ZonesView, AppError>;
    /// Configures the outside zone (admins only, checked by callers).
    async fn set_outside_zone(
        &self,
        who: &Principal,
        settings: OutsideZoneSettings,
    ) -> Result<ZonesView, AppError>;
    /// Removes the outside zone; `Conflict` while instances use it.
    async fn clear_outside_zone(&self, who: &Principal) -> Result<(), AppError>;
}

/// Delegation: departments, members, quotas, the audit log and the
/// directory. Callers authorize the action first; these check the object
/// (which department) with [`crate::policy::may_manage`].
#[async_trait]
pub trait OrgService: Send + Sync + 'static {
    /// The departments `who` administers (all for appliance admins).
    async fn departments(&self, who: &Principal) -> Result<Vec<DepartmentView>, AppError>;
    async fn create_department(
        &self,
        who: &Principal,
        request: NewDepartment,
    ) -> Result<DepartmentView, AppError>;
    /// Renames (appliance admins) or sets the quota (appliance admins, or
    /// the admin of a department above it).
    async fn update_department(
        &self,
        who: &Principal,
        id: i64,
        change: DepartmentChange,
    ) -> Result<DepartmentView, AppError>;
    /// Removes an empty department; `Conflict` otherwise.
    async fn delete_department(&self, who: &Principal, id: i64) -> Result<(), AppError>;
    /// The accounts of the departments `who` administers (all for
    /// appliance admins), optionally of one department only.
    async fn members(
        &self,
        who: &Principal,
        department: Option<i64>,
    ) -> Result<Vec<MemberView>, AppError>;
    async fn create_member(
        &self,
        who: &Principal,
        request: NewMember,
    ) -> Result<MemberView, AppError>;
    async fn update_member(
        &self,
        who: &Principal,
        id: i64,
        change: MemberChange,
    ) -> Result<MemberView, AppError>;
    /// Newest first; department admins see their departments' records.
    async fn audit_log(
        &self,
        who: &Principal,
        filter: AuditFilter,
    ) -> Result<Vec<AuditEntry>, AppError>;
    async fn directory(&self) -> Result<DirectoryView, AppError>;
    async fn set_directory(
        &self,
        who: &Principal,
        settings: DirectorySettings,
    ) -> Result<DirectoryView, AppError>;
    /// Binds and searches with `settings` (the stored password when none
    /// is given) and says what happened.
    async fn test_directory(&self, settings: DirectorySettings) -> Result<DirectoryTest, AppError>;
    /// The quota of each account in no department (appliance admins aside).
    async fn default_quota(&self) -> Result<Quota, AppError>;
    async fn set_default_quota(&self, who: &Principal, quota: Quota) -> Result<Quota, AppError>;
}

pub type SharedService = Arc<dyn PortalService>;

/// The service provided as context by the server.
pub fn service() -> Result<SharedService, AppError> {
    leptos::prelude::use_context::<SharedService>().ok_or(AppError::Internal)
}

/// The request's context, put in the request extensions by the server.
pub async fn request_context() -> Result<RequestContext, AppError> {
    leptos_axum::extract::<axum::Extension<RequestContext>>()
        .await
        .map(|axum::Extension(ctx)| ctx)
        .map_err(|_| AppError::Internal)
}
