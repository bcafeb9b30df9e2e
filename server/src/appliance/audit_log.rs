//! The audit log: reading it (scoped to the departments a department
//! admin administers), and recording what the edge refused.

use std::net::IpAddr;

use app::error::AppError;
use app::model::{AuditOutcome, Page, Principal};
use app::org::{AuditEntry, AuditFilter};
use app::policy::{Authorized, rights};
use app::service::AuditService;
use async_trait::async_trait;

use super::errors::store_err;
use super::{Appliance, paging};
use crate::clock::rfc3339_ms;
use crate::store::audit::{self, Audit, AuditList};

/// The audit log's name in its cursors.
const AUDIT: &str = "audit";

#[async_trait]
impl AuditService for Appliance {
    async fn audit_log(
        &self,
        who: Authorized<'_, rights::ViewAudit>,
        filter: AuditFilter,
    ) -> Result<Page<AuditEntry>, AppError> {
        // Empty is no filter, as an HTML form's "any" sends it.
        let given = |text: Option<String>| text.filter(|t| !t.is_empty());
        let outcome = match given(filter.outcome) {
            Some(text) => Some(
                text.parse::<AuditOutcome>()
                    .map_err(|_| AppError::invalid("outcome", "use ok, refused or failed"))?,
            ),
            None => None,
        };
        let before = match filter.cursor.as_deref() {
            Some(cursor) => Some(paging::after(AUDIT, cursor)?.0),
            None => None,
        };
        let list = AuditList {
            actor: given(filter.actor),
            action: given(filter.action),
            outcome,
            scope: super::department_scope(&who),
            before,
            limit: paging::limit(filter.limit)?,
        };
        let (rows, more) = self
            .store
            .read(move |c| audit::page(c, &list))
            .await
            .map_err(store_err)?;
        // The id alone places a record in the log's order.
        let next = paging::next(&rows, more, |last| paging::cursor(AUDIT, last.id, ""));
        let items = rows
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
            .collect();
        Ok(Page { items, next })
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
