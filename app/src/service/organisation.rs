//! Delegation: departments and their members. Each method takes the
//! proof of its right; it checks the object (which department) with
//! [`crate::policy::may_manage`].

use async_trait::async_trait;

use crate::error::AppError;
use crate::model::Page;
use crate::org::{
    DepartmentChange, DepartmentView, MemberChange, MemberQuery, MemberView, NewDepartment,
    NewMember,
};
use crate::policy::{Authorized, rights};

#[async_trait]
pub trait OrganisationService: Send + Sync + 'static {
    /// The departments `who` administers (all for appliance admins).
    async fn departments(
        &self,
        who: Authorized<'_, rights::ManageMembers>,
    ) -> Result<Vec<DepartmentView>, AppError>;
    /// Creates a department: at the top level (appliance admins) or
    /// inside one `who` administers.
    async fn create_department(
        &self,
        who: Authorized<'_, rights::ManageSubDepartments>,
        request: NewDepartment,
    ) -> Result<DepartmentView, AppError>;
    /// Renames it or sets its quota: appliance admins, or the admin of a
    /// department above it.
    async fn update_department(
        &self,
        who: Authorized<'_, rights::ManageMembers>,
        id: i64,
        change: DepartmentChange,
    ) -> Result<DepartmentView, AppError>;
    /// Removes an empty department (appliance admins, or the admin of a
    /// department above it); `Conflict` otherwise.
    async fn delete_department(
        &self,
        who: Authorized<'_, rights::ManageSubDepartments>,
        id: i64,
    ) -> Result<(), AppError>;
    /// A page of the accounts of the departments `who` administers (all
    /// for appliance admins), by name, as `query` filters them.
    async fn members(
        &self,
        who: Authorized<'_, rights::ManageMembers>,
        query: MemberQuery,
    ) -> Result<Page<MemberView>, AppError>;
    async fn create_member(
        &self,
        who: Authorized<'_, rights::ManageMembers>,
        request: NewMember,
    ) -> Result<MemberView, AppError>;
    async fn update_member(
        &self,
        who: Authorized<'_, rights::ManageMembers>,
        id: i64,
        change: MemberChange,
    ) -> Result<MemberView, AppError>;
    /// Moves the account named `username`, one `who` administers, into
    /// `department_id`, as `update_member` would: the portal's form names
    /// the account, where the API gives its id.
    async fn move_member(
        &self,
        who: Authorized<'_, rights::ManageMembers>,
        username: String,
        department_id: i64,
    ) -> Result<MemberView, AppError>;
}
