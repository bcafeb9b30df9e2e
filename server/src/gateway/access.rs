//! What the gateway asks of the appliance, as one narrow capability: which
//! instance an origin names, who the visitor is, and the tickets that carry
//! a portal sign-in to an application's origin.

use std::sync::Arc;

use app::model::{AppsSettings, Principal};
use async_trait::async_trait;

use super::error::GatewayError;
use crate::addressing::app_origins::Target;
use crate::store::instances::InstanceRow;

/// A ticket made for a visitor: where to send them with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ticketed {
    /// `https://APP-ORIGIN/.well-known/dpe/enter?ticket=…&next=…`
    pub redirect: String,
}

#[async_trait]
pub trait GatewayAccess: Send + Sync + 'static {
    /// Where applications open; `NotSetUp` before setup.
    fn apps(&self) -> Result<AppsSettings, GatewayError>;
    /// The instance `target` names; `Gone` when none does.
    async fn instance(&self, target: &Target) -> Result<Arc<InstanceRow>, GatewayError>;
    /// The portal's side of signing in to an application: checks that `to`
    /// is an existing application's address that `who` may open, and makes
    /// a single-use ticket tied to the portal session `portal_session`.
    async fn ticket(
        &self,
        who: &Principal,
        portal_session: &str,
        to: &str,
    ) -> Result<Ticketed, GatewayError>;
    /// The application's side: takes the ticket and returns the secret of
    /// a new gateway session on `instance`'s origin.
    async fn redeem(&self, instance: &InstanceRow, ticket: &str) -> Result<String, GatewayError>;
    /// Who holds the gateway session `secret` on `instance`'s origin, while
    /// its portal session lives and the account is enabled.
    async fn visitor(
        &self,
        instance: &InstanceRow,
        secret: &str,
    ) -> Result<Option<Principal>, GatewayError>;
    /// Tells that `visitor`, signed in, uses `instance`'s application:
    /// where its lease policy lets use extend the lease, the first use of
    /// a day does (one store write an instance a day at most).
    async fn used(&self, instance: &InstanceRow, visitor: &Principal);
}
