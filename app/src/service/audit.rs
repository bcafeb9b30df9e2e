//! The audit log: reading it, and recording the refusals the edge sees.

use std::net::IpAddr;

use async_trait::async_trait;

use crate::error::AppError;
use crate::model::{Page, Principal};
use crate::org::{AuditEntry, AuditFilter};
use crate::policy::{Authorized, rights};

#[async_trait]
pub trait AuditService: Send + Sync + 'static {
    /// A page of the records, newest first; department admins see their
    /// departments' records.
    async fn audit_log(
        &self,
        who: Authorized<'_, rights::ViewAudit>,
        filter: AuditFilter,
    ) -> Result<Page<AuditEntry>, AppError>;
    /// Records a request the edge refused (403, or a refused form post);
    /// a failure to record is logged, never answered.
    async fn record_refusal(&self, who: Option<&Principal>, peer: IpAddr, what: String);
}
