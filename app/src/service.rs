//! The narrow interface through which server functions reach the server
//! (engine, store, authentication). The `server` crate implements it and
//! provides an [`SharedService`] as Leptos context to both the page renderer
//! and the server-function handler.

use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;
use tower_sessions::Session;

use crate::error::AppError;
use crate::model::{
    Dashboard, HostProbe, Me, NewToken, Principal, SetupRequest, SetupStatus, TokensView,
};

/// Who is asking, resolved once per request by the server's middleware.
#[derive(Clone, Debug)]
pub struct RequestContext {
    /// The signed-in account, from the session cookie or a bearer token.
    pub principal: Option<Principal>,
    /// The peer's address, for throttling and the audit trail.
    pub peer: IpAddr,
    /// The cookie session; absent on requests authenticated by a token.
    pub session: Option<Session>,
}

#[async_trait]
pub trait PortalService: Send + Sync + 'static {
    async fn setup_status(&self) -> Result<SetupStatus, AppError>;
    /// Completes the first-boot setup atomically; `Conflict` once done.
    async fn complete_setup(&self, request: SetupRequest) -> Result<(), AppError>;
    async fn probe_host(&self, uri: String) -> Result<HostProbe, AppError>;
    /// Checks the credentials (throttled), then rotates the session id and
    /// binds the session to the account.
    async fn sign_in(
        &self,
        ctx: &RequestContext,
        username: String,
        password: String,
    ) -> Result<Me, AppError>;
    /// Deletes the session server-side.
    async fn sign_out(&self, ctx: &RequestContext) -> Result<(), AppError>;
    async fn dashboard(&self, who: &Principal) -> Result<Dashboard, AppError>;
    /// The caller's tokens, and the one created just before (shown once).
    async fn tokens_view(
        &self,
        ctx: &RequestContext,
        who: &Principal,
    ) -> Result<TokensView, AppError>;
    async fn create_token(
        &self,
        ctx: &RequestContext,
        who: &Principal,
        name: String,
    ) -> Result<NewToken, AppError>;
    /// Revokes one of the caller's own tokens; others' are `NotFound`.
    async fn revoke_token(&self, who: &Principal, id: i64) -> Result<(), AppError>;
}

pub type SharedService = Arc<dyn PortalService>;

/// The service provided as context by the server.
pub fn service() -> Result<SharedService, AppError> {
    leptos::prelude::use_context::<SharedService>().ok_or(AppError::Internal)
}

/// The request's context, put in the request extensions by the server.
pub async fn request_context() -> Result<RequestContext, AppError> {
    leptos_axum::extract::<axum::Extension<RequestContext>>()
        .await
        .map(|axum::Extension(ctx)| ctx)
        .map_err(|_| AppError::Internal)
}
