//! Delegation: departments and their members. Callers authorize the
//! action first; these check the object (which department) with
//! [`crate::policy::may_manage`].

use async_trait::async_trait;

use crate::error::AppError;
use crate::model::{Page, Principal};
use crate::org::{
    DepartmentChange, DepartmentView, MemberChange, MemberQuery, MemberView, NewDepartment,
    NewMember,
};

#[async_trait]
pub trait OrganisationService: Send + Sync + 'static {
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
    /// A page of the accounts of the departments `who` administers (all
    /// for appliance admins), by name, as `query` filters them.
    async fn members(
        &self,
        who: &Principal,
        query: MemberQuery,
    ) -> Result<Page<MemberView>, AppError>;
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
}
