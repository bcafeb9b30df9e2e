//! The stack's versions: which there are, registering new ones, and
//! which one deploys use.

use async_trait::async_trait;

use crate::error::AppError;
use crate::model::StackVersions;
use crate::policy::{Authorized, rights};

#[async_trait]
pub trait StackVersionService: Send + Sync + 'static {
    /// Every version, newest first (appliance admins).
    async fn stack_versions(
        &self,
        who: Authorized<'_, rights::ManageStackVersions>,
    ) -> Result<StackVersions, AppError>;
    /// Registers the images built in the image directory since the last
    /// look; none is made current.
    async fn scan_stack_versions(
        &self,
        who: Authorized<'_, rights::ManageStackVersions>,
    ) -> Result<StackVersions, AppError>;
    /// Makes the version current: deploys and warm members use it from
    /// now on. Making the current one current again changes nothing.
    async fn make_stack_version_current(
        &self,
        who: Authorized<'_, rights::ManageStackVersions>,
        id: i64,
    ) -> Result<StackVersions, AppError>;
}
