//! The LDAP directory accounts sign in with (appliance admins).

use async_trait::async_trait;

use crate::error::AppError;
use crate::org::{DirectorySettings, DirectoryTest, DirectoryView};
use crate::policy::{Authorized, rights};

#[async_trait]
pub trait DirectoryService: Send + Sync + 'static {
    async fn directory(
        &self,
        who: Authorized<'_, rights::ManageDirectory>,
    ) -> Result<DirectoryView, AppError>;
    async fn set_directory(
        &self,
        who: Authorized<'_, rights::ManageDirectory>,
        settings: DirectorySettings,
    ) -> Result<DirectoryView, AppError>;
    /// As [`DirectoryService::set_directory`], with the group mappings as
    /// the portal's form writes them, one `GROUP DN | DEPARTMENT | ROLE` a
    /// line, departments named as `who` sees them (see
    /// [`crate::org::group_mappings_from_lines`]).
    async fn set_directory_from_form(
        &self,
        who: Authorized<'_, rights::ManageDirectory>,
        settings: DirectorySettings,
        mapping_lines: String,
    ) -> Result<DirectoryView, AppError>;
    /// Binds and searches with `settings` (the stored password when none
    /// is given) and says what happened.
    async fn test_directory(
        &self,
        who: Authorized<'_, rights::ManageDirectory>,
        settings: DirectorySettings,
    ) -> Result<DirectoryTest, AppError>;
    /// Tests the saved settings; `Conflict` when there are none.
    async fn test_saved_directory(
        &self,
        who: Authorized<'_, rights::ManageDirectory>,
    ) -> Result<DirectoryTest, AppError>;
}
