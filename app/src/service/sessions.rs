//! Who is signed in: signing in and out, changing one's password, and
//! resolving a session or a bearer token to the principal behind it.

use async_trait::async_trait;

use super::RequestContext;
use crate::error::AppError;
use crate::model::{Me, Principal};
use crate::policy::{Authorized, rights};

#[async_trait]
pub trait SessionService: Send + Sync + 'static {
    /// Anyone may try: checks the credentials (throttled), then rotates the session id and
    /// binds the session to the account.
    async fn sign_in(
        &self,
        ctx: &RequestContext,
        username: String,
        password: String,
    ) -> Result<Me, AppError>;
    /// Deletes the session server-side; ending one's own session needs
    /// no right beyond holding it.
    async fn sign_out(&self, ctx: &RequestContext) -> Result<(), AppError>;
    /// Changes the signed-in local account's password. Its other sessions
    /// end and its API tokens are revoked; this session goes on under a
    /// new id.
    async fn change_password(
        &self,
        ctx: &RequestContext,
        who: Authorized<'_, rights::ViewSelf>,
        current_password: String,
        new_password: String,
    ) -> Result<(), AppError>;
    /// The account bound to a session, unless it was disabled since.
    async fn principal_for_user(&self, user_id: i64) -> Result<Option<Principal>, AppError>;
    /// The account behind a bearer token, unless unknown or disabled (or,
    /// for a directory account, no longer vouched for by the directory).
    async fn principal_for_token(&self, secret: &str) -> Result<Option<Principal>, AppError>;
}
