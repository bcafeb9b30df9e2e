//! API tokens: each account's own, created and revoked by itself.

use app::error::AppError;
use app::model::{NewToken, Page, TokenQuery, TokenRequest, TokenScope, TokensView};
use app::policy::{Authorized, authorize, rights};
use app::service::{RequestContext, SecretShown, TokenService};
use app::validate;
use async_trait::async_trait;

use super::errors::{session_err, store_err};
use crate::auth::token;
use crate::store::audit::Audit;
use crate::store::tokens;

use super::{Appliance, paging};

/// The token list's name in its cursors.
const TOKENS: &str = "tokens";

/// The session key under which a new token waits to be shown, once.
const SESSION_NEW_TOKEN: &str = "new_token";

#[async_trait]
impl TokenService for Appliance {
    async fn tokens_view(
        &self,
        ctx: &RequestContext,
        who: Authorized<'_, rights::ManageOwnTokens>,
        query: TokenQuery,
    ) -> Result<TokensView, AppError> {
        let who = who.principal();
        let user_id = who.user_id;
        let limit = paging::limit(query.limit)?;
        let after = match query.cursor.as_deref() {
            Some(cursor) => {
                let (id, created_at) = paging::after_key(TOKENS, cursor)?;
                Some((created_at, id))
            }
            None => None,
        };
        let (rows, more) = self
            .store
            .read(move |c| tokens::page_for_user(c, user_id, after, limit))
            .await
            .map_err(store_err)?;
        let next = paging::next(&rows, more, |last| {
            paging::cursor(TOKENS, last.id, &last.created_at.to_string())
        });
        let tokens = Page { items: rows, next };
        let just_created = match &ctx.session {
            Some(s) => s
                .remove::<NewToken>(SESSION_NEW_TOKEN)
                .await
                .map_err(session_err)?,
            None => None,
        };
        let may_read_metrics = authorize::<rights::ReadMetrics>(Some(who)).is_ok();
        Ok(TokensView {
            tokens,
            just_created,
            may_read_metrics,
        })
    }

    async fn create_token(
        &self,
        ctx: &RequestContext,
        who: Authorized<'_, rights::ManageOwnTokens>,
        request: TokenRequest,
        shown: SecretShown,
    ) -> Result<NewToken, AppError> {
        let who = who.principal();
        let TokenRequest {
            name,
            scope,
            expires_in_days,
            code,
        } = request;
        match scope {
            TokenScope::Full => {}
            // Every instance's figures: for those who may read them.
            TokenScope::Metrics => {
                authorize::<rights::ReadMetrics>(Some(who))?;
            }
        }
        let name = validate::display_name("name", &name)?;
        let expires_at = match expires_in_days {
            None => None,
            Some(days @ 1..=validate::TOKEN_DAYS_MAX) => {
                Some(crate::store::now() + i64::from(days) * 86_400)
            }
            Some(_) => {
                return Err(AppError::invalid(
                    "expires_in_days",
                    format!("from 1 to {} days, or none", validate::TOKEN_DAYS_MAX),
                ));
            }
        };
        self.fresh_second_factor(who, ctx, code).await?;
        let (secret, hash) = token::generate();
        let (user_id, stored_name) = (who.user_id, name.clone());
        let id = self
            .store
            .write(move |tx| tokens::insert(tx, user_id, &stored_name, scope, &hash, expires_at))
            .await
            .map_err(store_err)?;
        let record = Audit::by(who)
            .action("token.create")
            .object(format!("token {name:?} ({scope} scope)"))
            .ok();
        self.audit(record).await;
        let created = NewToken {
            id,
            name,
            scope,
            token: secret,
        };
        match (shown, &ctx.session) {
            (SecretShown::OnTheNextPage, Some(session)) => session
                .insert(SESSION_NEW_TOKEN, &created)
                .await
                .map_err(session_err)?,
            (SecretShown::OnTheNextPage, None) | (SecretShown::InTheAnswer, _) => {}
        }
        Ok(created)
    }

    async fn revoke_token(
        &self,
        who: Authorized<'_, rights::ManageOwnTokens>,
        id: i64,
    ) -> Result<(), AppError> {
        let who = who.principal();
        let user_id = who.user_id;
        let deleted = self
            .store
            .write(move |tx| tokens::delete_for_user(tx, user_id, id))
            .await
            .map_err(store_err)?;
        if deleted {
            let record = Audit::by(who)
                .action("token.revoke")
                .object(format!("token #{id}"))
                .ok();
            self.audit(record).await;
            Ok(())
        } else {
            Err(AppError::NotFound("token".into()))
        }
    }
}
