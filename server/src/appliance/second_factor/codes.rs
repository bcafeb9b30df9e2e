//! Checking a code: from the authenticator app (each time step once) or
//! a recovery code (each once), with the lock after too many wrong ones;
//! and the proofs asked again before removing a factor or making a token.

use app::error::AppError;
use app::model::{AccountSource, Principal, RecoveryCodes};
use app::service::RequestContext;

use super::{seal_context, who_peer};
use crate::appliance::Appliance;
use crate::appliance::errors::{internal, store_err};
use crate::auth::{password, recovery, totp};
use crate::blocking::run_blocking;
use crate::store::audit::Audit;
use crate::store::{now, second_factors, users};

/// Wrong codes in a row before the second factor locks...
const FAILURES_BEFORE_LOCK: u32 = 8;
/// ...and for how long (seconds).
const LOCK_SECS: i64 = 3_600;

/// Why a code was not accepted.
pub(super) enum CodeRefusal {
    /// Locked until then (Unix seconds).
    Locked(i64),
    /// Wrong, or already used.
    Wrong,
}

impl Appliance {
    /// Whether `user` must give a second factor after the password.
    pub(super) async fn has_second_factor(&self, user_id: i64) -> Result<bool, AppError> {
        let row = self
            .store
            .read(move |c| second_factors::totp(c, user_id))
            .await
            .map_err(store_err)?;
        Ok(row.is_some_and(|r| r.confirmed_at.is_some()))
    }

    /// Checks `code` (from the app, or a recovery code) for the account,
    /// spending it if right and counting it if wrong; audits a lock and a
    /// recovery code used.
    pub(super) async fn check_code(
        &self,
        user_id: i64,
        code: &str,
        audit_as: &Audit,
    ) -> Result<Result<(), CodeRefusal>, AppError> {
        let at = now();
        if let Some(until) = self.locked_until(user_id, at).await? {
            return Ok(Err(CodeRefusal::Locked(until)));
        }
        let accepted = match recovery::digest(code) {
            Some(hash) => {
                let used = self
                    .store
                    .write(move |tx| second_factors::use_recovery_code(tx, user_id, &hash, at))
                    .await
                    .map_err(store_err)?;
                if used {
                    let record = audit_as
                        .clone()
                        .action("second_factor.recovery_code")
                        .detail("a recovery code was used")
                        .ok();
                    self.audit(record).await;
                }
                used
            }
            None => self.check_totp(user_id, code, at).await?,
        };
        if accepted {
            self.store
                .write(move |tx| second_factors::clear_failures(tx, user_id, at))
                .await
                .map_err(store_err)?;
            return Ok(Ok(()));
        }
        Ok(Err(self.count_wrong(user_id, at, audit_as).await?))
    }

    /// Until when the account's second factor is locked, if it is at `at`.
    pub(super) async fn locked_until(
        &self,
        user_id: i64,
        at: i64,
    ) -> Result<Option<i64>, AppError> {
        self.store
            .read(move |c| second_factors::locked_until(c, user_id, at))
            .await
            .map_err(store_err)
    }

    /// Counts a wrong code or a refused key's answer alike; at the limit
    /// the second factor locks, audited.
    pub(super) async fn count_wrong(
        &self,
        user_id: i64,
        at: i64,
        audit_as: &Audit,
    ) -> Result<CodeRefusal, AppError> {
        let locked_now = self
            .store
            .write(move |tx| {
                second_factors::count_failure(tx, user_id, FAILURES_BEFORE_LOCK, at + LOCK_SECS)
            })
            .await
            .map_err(store_err)?;
        if locked_now {
            let record = audit_as
                .clone()
                .action("second_factor.lock")
                .detail(format!(
                    "{FAILURES_BEFORE_LOCK} wrong codes: locked for {} minutes",
                    LOCK_SECS / 60
                ))
                .refused();
            self.audit(record).await;
            return Ok(CodeRefusal::Locked(at + LOCK_SECS));
        }
        Ok(CodeRefusal::Wrong)
    }

    /// Whether `code` is the confirmed app's for a step not used yet; if
    /// so the step is spent.
    async fn check_totp(&self, user_id: i64, code: &str, at: i64) -> Result<bool, AppError> {
        let Some(row) = self
            .store
            .read(move |c| second_factors::totp(c, user_id))
            .await
            .map_err(store_err)?
            .filter(|r| r.confirmed_at.is_some())
        else {
            return Ok(false);
        };
        let secret = self.open_secret(user_id, &row.sealed_secret)?;
        let step = totp::verify(&secret, code, u64::try_from(at).unwrap_or(0), row.last_step)
            .map_err(|e| internal(&e))?;
        let Some(step) = step else {
            return Ok(false);
        };
        self.store
            .write(move |tx| second_factors::use_step(tx, user_id, step))
            .await
            .map_err(store_err)
    }

    pub(super) fn open_secret(&self, user_id: i64, sealed: &str) -> Result<String, AppError> {
        self.secrets
            .open(sealed, &seal_context(user_id))
            .map_err(|e| internal(&e))
    }

    /// The refusal as callers see it.
    pub(super) fn refusal(refusal: CodeRefusal) -> AppError {
        match refusal {
            CodeRefusal::Locked(until) => AppError::Throttled {
                retry_after_secs: u64::try_from(until - now()).unwrap_or(1).max(1),
            },
            CodeRefusal::Wrong => AppError::invalid("code", "wrong code, or one already used"),
        }
    }

    /// Ten new recovery codes for the account, replacing any it had.
    pub(super) async fn new_recovery_codes(&self, user_id: i64) -> Result<RecoveryCodes, AppError> {
        let made = recovery::generate();
        let hashes: Vec<Vec<u8>> = made.iter().map(|(_, h)| h.clone()).collect();
        self.store
            .write(move |tx| second_factors::replace_recovery_codes(tx, user_id, &hashes))
            .await
            .map_err(store_err)?;
        Ok(RecoveryCodes {
            codes: made.into_iter().map(|(c, _)| c).collect(),
        })
    }

    /// For what a stolen session must not do alone (creating an API
    /// token): an account with an authenticator app proves it again with
    /// a current code from it (not a recovery code), or with a passkey
    /// confirmation the session holds (spent here); an account with only
    /// passkeys with such a confirmation. Others pass.
    pub(in crate::appliance) async fn fresh_second_factor(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        code: Option<String>,
    ) -> Result<(), AppError> {
        // A confirmation by a passkey serves once, whatever else is asked.
        if self.take_fresh_passkey(ctx, who.user_id).await? {
            return Ok(());
        }
        if !self.has_second_factor(who.user_id).await? {
            return if self.has_passkey(who.user_id).await? {
                Err(AppError::invalid(
                    "code",
                    "confirm with one of your passkeys first",
                ))
            } else {
                Ok(())
            };
        }
        let code = code.filter(|c| !c.trim().is_empty()).ok_or_else(|| {
            AppError::invalid(
                "code",
                "a current code from your authenticator app is needed",
            )
        })?;
        if recovery::looks_like(&code) {
            return Err(AppError::invalid(
                "code",
                "a code from the app, not a recovery code",
            ));
        }
        self.throttled(&who.username, who_peer(who))?;
        let record = Audit::by(who).object(format!("user {}", who.username));
        if let Err(refusal) = self.check_code(who.user_id, &code, &record).await? {
            let entry = record
                .action("second_factor.verify")
                .detail("wrong code")
                .failed();
            self.audit(entry).await;
            return Err(Self::refusal(refusal));
        }
        Ok(())
    }

    /// Whether `password` is the account's: its hash for a local account,
    /// the directory's word for a directory account.
    pub(super) async fn password_is_right(
        &self,
        user_id: i64,
        password: String,
    ) -> Result<bool, AppError> {
        if password.is_empty() || password.len() > password::MAX_LENGTH {
            return Ok(false);
        }
        let user = self
            .store
            .read(move |c| users::by_id(c, user_id))
            .await
            .map_err(store_err)?
            .ok_or(AppError::Unauthenticated)?;
        match user.source {
            AccountSource::Local => {
                let stored = user.password_hash.clone();
                Ok(run_blocking(move || password::verify(stored.as_deref(), &password)).await)
            }
            AccountSource::Directory => Ok(self
                .directory_sign_in(&user.username, &password)
                .await?
                .is_some_and(|u| u.id == user.id)),
        }
    }
}
