//! The caller's own API tokens.

use async_trait::async_trait;

use super::RequestContext;
use crate::error::AppError;
use crate::model::{NewToken, TokenQuery, TokenRequest, TokensView};
use crate::policy::{Authorized, rights};

/// Where a new token's secret is shown (once).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretShown {
    /// Only in the call's answer (the REST API).
    InTheAnswer,
    /// Also by the tokens page's next view, kept in the session meanwhile
    /// (the portal, with and without JavaScript).
    OnTheNextPage,
}

#[async_trait]
pub trait TokenService: Send + Sync + 'static {
    /// A page of the caller's tokens, newest first, and the one created
    /// just before (shown once).
    async fn tokens_view(
        &self,
        ctx: &RequestContext,
        who: Authorized<'_, rights::ManageOwnTokens>,
        query: TokenQuery,
    ) -> Result<TokensView, AppError>;
    /// A new token of the caller's for its `scope`, working for its
    /// `expires_in_days` (none: until revoked). Only those who may read
    /// the metrics get a metrics token. An account with an authenticator app gives a
    /// current `code` from it, or the session holds a confirmation by a
    /// passkey (which an account with only passkeys needs): a stolen
    /// session must not mint tokens.
    async fn create_token(
        &self,
        ctx: &RequestContext,
        who: Authorized<'_, rights::ManageOwnTokens>,
        request: TokenRequest,
        shown: SecretShown,
    ) -> Result<NewToken, AppError>;
    /// Revokes one of the caller's own tokens; others' are `NotFound`.
    async fn revoke_token(
        &self,
        who: Authorized<'_, rights::ManageOwnTokens>,
        id: i64,
    ) -> Result<(), AppError>;
}
