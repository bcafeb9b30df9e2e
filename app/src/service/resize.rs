//! Resizing an instance to another of the stack's sizes, as a task.

use async_trait::async_trait;

use crate::error::AppError;
use crate::model::{Accepted, ResizeOptions, ResizeRequest};
use crate::policy::{Authorized, rights};

#[async_trait]
pub trait ResizeService: Send + Sync + 'static {
    /// The sizes the instance could take, each with why not when it
    /// cannot (a smaller disk, a quota, no room on its host); `NotFound`
    /// when `who` may not use the instance.
    async fn resize_options(
        &self,
        who: Authorized<'_, rights::ResizeInstances>,
        instance: i64,
    ) -> Result<ResizeOptions, AppError>;
    /// Starts resizing the instance: its id and the task's. `Invalid` for
    /// an unknown size, its own size or a smaller disk; `QuotaExceeded`
    /// past a quota; `Conflict` while it is busy or not ready, or when its
    /// host has no room for more memory or vCPUs.
    async fn resize(
        &self,
        who: Authorized<'_, rights::ResizeInstances>,
        instance: i64,
        request: ResizeRequest,
    ) -> Result<Accepted, AppError>;
}
