//! The host pool (admins only, checked by callers).

use async_trait::async_trait;

use crate::error::AppError;
use crate::model::{AddHost, HostStatus, Principal};

#[async_trait]
pub trait HostService: Send + Sync + 'static {
    /// The hosts with their live status.
    async fn hosts(&self) -> Result<Vec<HostStatus>, AppError>;
    async fn add_host(&self, who: &Principal, request: AddHost) -> Result<HostStatus, AppError>;
    /// Removes a host that holds no instances.
    async fn remove_host(&self, who: &Principal, id: i64) -> Result<(), AppError>;
    /// dpe leftovers (domains, volumes) with no record, which the
    /// reconciler found and removed.
    async fn cleaned_orphans(&self) -> Result<Vec<String>, AppError>;
}
