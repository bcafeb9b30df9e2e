//! The audit log: reading it (scoped to the departments a department
//! admin administers), and recording what the edge refused.

use std::net::IpAddr;

use app::error::AppError;
use app::model::{AuditOutcome, Principal, Role};
use app::org::{AuditEntry, AuditFilter};
use app::service::AuditService;
use async_trait::async_trait;

use super::errors::store_err;
use super::{Appliance, rfc3339_ms};
use crate::store::audit::{self, Audit};

#[async_trait]
impl AuditService for Appliance {
    async fn audit_log(
        &self,
        who: &Principal,
        filter: AuditFilter,
    ) -> Result<Vec<AuditEntry>, AppError> {
        // Empty is no filter, as an HTML form's "any" sends it.
        let outcome = match filter.outcome.as_deref().filter(|o| !o.is_empty()) {
            Some(text) => Some(
                text.parse::<AuditOutcome>()
                    .map_err(|_| AppError::invalid("outcome", "use ok, refused or failed"))?,
            ),
            None => None,
        };
        let scope = match who.role {
            Role::Admin => None,
            Role::DepartmentAdmin | Role::User => Some(who.managed_departments.clone()),
        };
        let rows = self
            .store
            .read(move |c| audit::list(c, &filter, outcome, scope.as_deref()))
            .await
            .map_err(store_err)?;
        Ok(rows
            .into_iter()
            .map(|r| AuditEntry {
                id: r.id,
                at: rfc3339_ms(r.at_ms),
                actor: r.actor,
                address: r.address,
                action: r.action,
                object: r.object,
                outcome: r.outcome,
                detail: r.detail,
            })
            .collect())
    }

    /// Records a request the edge refused (403).
    async fn record_refusal(&self, who: Option<&Principal>, peer: IpAddr, what: String) {
        let actor = match who {
            Some(who) => Audit::by(who),
            None => Audit::anonymous(),
        };
        let record = actor
            .from_address(peer)
            .action("refused")
            .object(what)
            .refused();
        self.audit(record).await;
    }
}
