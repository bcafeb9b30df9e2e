//! The first-boot setup: whether it is done, the wizard, and the host
//! probe the wizard (and later the admin) uses.

use async_trait::async_trait;

use super::RequestContext;
use crate::error::AppError;
use crate::model::{HostProbe, SetupRequest, SetupStatus};

#[async_trait]
pub trait SetupService: Send + Sync + 'static {
    /// Whether setup is done; cheap enough for every request's guard.
    fn is_set_up(&self) -> bool;
    async fn setup_status(&self) -> Result<SetupStatus, AppError>;
    /// Completes the first-boot setup atomically; `Conflict` once done.
    async fn complete_setup(
        &self,
        ctx: &RequestContext,
        request: SetupRequest,
    ) -> Result<(), AppError>;
    /// A live look at a host. Its authorization depends on the state it
    /// reads, so it is checked here: before setup the setup code stands in
    /// for an account, afterwards only admins probe.
    async fn probe_host(
        &self,
        ctx: &RequestContext,
        uri: String,
        setup_code: Option<String>,
    ) -> Result<HostProbe, AppError>;
}
