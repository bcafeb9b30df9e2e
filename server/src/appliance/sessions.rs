//! Sessions: signing in (local or directory accounts) and out, and the
//! principal behind a session or a bearer token.

use std::net::IpAddr;

use app::error::AppError;
use app::model::{AccountSource, Me, Principal};
use app::policy::{Authorized, rights};
use app::service::{RequestContext, SessionService};
use app::validate;
use async_trait::async_trait;

use super::errors::{session_err, store_err};
use super::second_factor::NextStep;
use super::{Appliance, principal_of};
use crate::auth::{
    SESSION_MUST_ENROL, SESSION_PENDING_AT, SESSION_PENDING_USER, SESSION_SIGNED_IN_AT,
    SESSION_USER, password, token,
};
use crate::blocking::run_blocking;
use crate::store::audit::Audit;
use crate::store::users::UserRow;
use crate::store::{tokens, users};
use tower_sessions::Session;

impl Appliance {
    /// Binds `session` to `user`, who has just proven who they are, and
    /// records the sign-in.
    pub(super) async fn bind_session(
        &self,
        session: &Session,
        user: &UserRow,
        peer: IpAddr,
    ) -> Result<(), AppError> {
        // A new id at the privilege change defeats session fixation.
        session.cycle_id().await.map_err(session_err)?;
        // Whatever sign-in waited on this session for a second factor is
        // over.
        for key in [SESSION_PENDING_USER, SESSION_PENDING_AT, SESSION_MUST_ENROL] {
            let _: Option<serde_json::Value> = session.remove(key).await.map_err(session_err)?;
        }
        session
            .insert(SESSION_USER, user.id)
            .await
            .map_err(session_err)?;
        session
            .insert(SESSION_SIGNED_IN_AT, crate::store::now())
            .await
            .map_err(session_err)?;
        let record = Audit::by_account(user.username.clone(), user.id)
            .department(user.department_id)
            .from_address(peer)
            .action("sign_in")
            .detail(format!("{} account", user.source))
            .ok();
        self.audit(record).await;
        Ok(())
    }
}

#[async_trait]
impl SessionService for Appliance {
    async fn sign_in(
        &self,
        ctx: &RequestContext,
        username: String,
        password: String,
    ) -> Result<Me, AppError> {
        let session = ctx.session.as_ref().ok_or(AppError::Internal)?;
        // A name that could be no account's is refused before it reaches
        // the log or the audit, and counts against its address only.
        let well_formed = validate::username("username", &username).ok();
        let account = well_formed
            .clone()
            .unwrap_or_else(|| "(malformed name)".to_owned());
        let attempt = || {
            Audit::by_name(well_formed.clone())
                .from_address(ctx.peer)
                .action("sign_in")
        };
        if let Err(e) = self.throttled(&account, ctx.peer) {
            self.audit_throttled(ctx.peer, attempt()).await;
            return Err(e);
        }
        if well_formed.is_none() {
            self.audit(attempt().detail("malformed user name").failed())
                .await;
            return Err(AppError::InvalidCredentials);
        }
        if password.is_empty() || password.len() > password::MAX_LENGTH {
            self.audit(attempt().detail("empty or oversized password").failed())
                .await;
            return Err(AppError::InvalidCredentials);
        }
        let lookup = account.clone();
        let user = self
            .store
            .read(move |c| users::by_name(c, &lookup))
            .await
            .map_err(store_err)?;
        // A local account answers for its name; directory accounts, and
        // names unknown here, go to the directory when one is configured.
        let verified = match user {
            Some(u) if u.source == AccountSource::Local => {
                let stored = u.password_hash.clone();
                let ok = run_blocking(move || password::verify(stored.as_deref(), &password)).await;
                ok.then_some(u)
            }
            Some(_) | None => match self.directory_sign_in(&account, &password).await {
                Ok(found) => found,
                Err(e) => {
                    self.audit(attempt().detail("directory unreachable").failed())
                        .await;
                    return Err(e);
                }
            },
        };
        let Some(user) = verified.filter(|u| !u.disabled) else {
            tracing::info!(account, peer = %ctx.peer, "sign-in refused");
            self.audit(attempt().detail("unknown user or wrong password").failed())
                .await;
            return Err(AppError::InvalidCredentials);
        };
        match self.second_factor_step(&user).await? {
            NextStep::SignedIn => {}
            NextStep::Code => {
                self.await_second_factor(session, &user, ctx.peer, false)
                    .await?;
                tracing::info!(account, peer = %ctx.peer, "password right; second factor next");
                return Err(AppError::SecondFactorRequired);
            }
            NextStep::Enrol => {
                self.await_second_factor(session, &user, ctx.peer, true)
                    .await?;
                tracing::info!(account, peer = %ctx.peer, "password right; must enrol a second factor");
                return Err(AppError::SecondFactorEnrolmentRequired);
            }
        }
        self.bind_session(session, &user, ctx.peer).await?;
        tracing::info!(account, peer = %ctx.peer, "signed in");
        Ok(Me {
            role: user.effective_role(),
            username: user.username,
        })
    }

    async fn change_password(
        &self,
        ctx: &RequestContext,
        who: Authorized<'_, rights::ViewSelf>,
        current_password: String,
        new_password: String,
    ) -> Result<(), AppError> {
        self.change_own_password(ctx, who, current_password, new_password)
            .await
    }

    async fn sign_out(&self, ctx: &RequestContext) -> Result<(), AppError> {
        if let Some(session) = &ctx.session {
            session.flush().await.map_err(session_err)?;
        }
        Ok(())
    }

    /// The account bound to a session, unless it was disabled since.
    async fn principal_for_user(&self, user_id: i64) -> Result<Option<Principal>, AppError> {
        let lookup = match self.principals.by_account.get(&self.store, &user_id) {
            Ok(kept) => return Ok(kept),
            Err(lookup) => lookup,
        };
        let principal = self
            .store
            .read(move |c| match users::by_id(c, user_id)? {
                Some(u) if !u.disabled => Ok(Some(principal_of(c, u)?)),
                Some(_) | None => Ok(None),
            })
            .await
            .map_err(store_err)?;
        self.principals.by_account.keep(lookup, principal.clone());
        Ok(principal)
    }

    /// The account behind a bearer token, unless unknown or disabled.
    async fn principal_for_token(&self, secret: &str) -> Result<Option<Principal>, AppError> {
        let hash = token::digest(secret);
        let lookup = match self.principals.by_token.get(&self.store, &hash) {
            Ok(kept) => return Ok(kept),
            Err(lookup) => lookup,
        };
        let found = self
            .store
            .read(move |c| users::owning_token(c, &hash))
            .await
            .map_err(store_err)?;
        let Some((token_id, scope, user)) = found.filter(|(_, _, u)| !u.disabled) else {
            return Ok(None);
        };
        // A token outlives sessions: the directory is asked again whether
        // it still vouches for its account, once the last answer is old.
        let user = match self.recheck_if_stale(user).await? {
            Some(user) => user,
            None => return Ok(None),
        };
        let principal = self
            .store
            .read(move |c| principal_of(c, user))
            .await
            .map_err(store_err)?;
        // The token's scope, not the account's: a metrics token of an
        // admin reads the metrics and nothing else.
        let principal = Principal { scope, ..principal };
        self.store
            .write(move |tx| tokens::touch(tx, token_id))
            .await
            .map_err(store_err)?;
        // Only a token that works is kept: guesses must not fill the cache.
        self.principals
            .by_token
            .keep(lookup, Some(principal.clone()));
        Ok(Some(principal))
    }
}
