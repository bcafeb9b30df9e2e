//! Second factors: enrolling an authenticator app (TOTP), recovery codes,
//! the sign-in's second step, the lock after too many wrong codes, and an
//! admin's unlock and reset.

use std::net::IpAddr;

use app::error::AppError;
use app::model::{
    AccountSource, Me, Principal, RecoveryCodes, Role, SecondFactorPolicy, SecondFactorStatus,
    TotpEnrolment,
};
use app::policy::{Authorized, may_manage, rights};
use app::service::{RequestContext, SecondFactorService};
use async_trait::async_trait;

use super::Appliance;
use super::errors::{internal, session_err, store_err};
use crate::auth::{
    SESSION_MUST_ENROL, SESSION_PENDING_AT, SESSION_PENDING_USER, SESSION_SECOND_FACTOR_AT,
    SESSION_USER, password, recovery, totp,
};
use crate::blocking::run_blocking;
use crate::store::audit::{self, Audit};
use crate::store::users::UserRow;
use crate::store::{now, second_factors, sessions, settings, users};

/// Wrong codes in a row before the second factor locks...
const FAILURES_BEFORE_LOCK: u32 = 8;
/// ...and for how long (seconds).
const LOCK_SECS: i64 = 3_600;
/// How long a session waits for the second factor after the password.
const PENDING_SECS: i64 = 300;

/// What a secret is sealed for: the account, so that a secret copied to
/// another account's row does not open.
fn seal_context(user_id: i64) -> String {
    format!("totp\nuser {user_id}")
}

/// What signing in asks for after a right password.
pub(super) enum NextStep {
    /// Nothing more: the session is signed in.
    SignedIn,
    /// A code from the app, or a recovery code.
    Code,
    /// The account must enrol a second factor first.
    Enrol,
}

/// Why a code was not accepted.
enum CodeRefusal {
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

    /// Whether `user` has a second factor, and else whether it must enrol
    /// one: what the sign-in asks for after the password.
    pub(super) async fn second_factor_step(&self, user: &UserRow) -> Result<NextStep, AppError> {
        let row = user.clone();
        self.store
            .read(move |c| {
                let has =
                    second_factors::totp(c, row.id)?.is_some_and(|r| r.confirmed_at.is_some());
                Ok(match (has, second_factors::required_of(c, &row)?) {
                    (true, _) => NextStep::Code,
                    (false, true) => NextStep::Enrol,
                    (false, false) => NextStep::SignedIn,
                })
            })
            .await
            .map_err(store_err)
    }

    /// Leaves `session` waiting for `user`'s second factor (or, with
    /// `enrol`, its enrolment): not signed in.
    pub(super) async fn await_second_factor(
        &self,
        session: &tower_sessions::Session,
        user: &UserRow,
        peer: IpAddr,
        enrol: bool,
    ) -> Result<(), AppError> {
        session.cycle_id().await.map_err(session_err)?;
        // Whoever the session was signed in as before, it is not now.
        let _: Option<i64> = session.remove(SESSION_USER).await.map_err(session_err)?;
        session
            .insert(SESSION_PENDING_USER, user.id)
            .await
            .map_err(session_err)?;
        session
            .insert(SESSION_PENDING_AT, now())
            .await
            .map_err(session_err)?;
        session
            .insert(SESSION_MUST_ENROL, enrol)
            .await
            .map_err(session_err)?;
        let record = Audit::by_account(user.username.clone(), user.id)
            .department(user.department_id)
            .from_address(peer)
            .action("sign_in.password")
            .detail(if enrol {
                "password right; a second factor must be enrolled first"
            } else {
                "password right; waiting for the second factor"
            })
            .ok();
        self.audit(record).await;
        Ok(())
    }

    /// Checks `code` (from the app, or a recovery code) for the account,
    /// spending it if right and counting it if wrong; audits a lock and a
    /// recovery code used.
    async fn check_code(
        &self,
        user_id: i64,
        code: &str,
        audit_as: &Audit,
    ) -> Result<Result<(), CodeRefusal>, AppError> {
        let at = now();
        let locked = self
            .store
            .read(move |c| second_factors::locked_until(c, user_id, at))
            .await
            .map_err(store_err)?;
        if let Some(until) = locked {
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
            return Ok(Err(CodeRefusal::Locked(at + LOCK_SECS)));
        }
        Ok(Err(CodeRefusal::Wrong))
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

    fn open_secret(&self, user_id: i64, sealed: &str) -> Result<String, AppError> {
        self.secrets
            .open(sealed, &seal_context(user_id))
            .map_err(|e| internal(&e))
    }

    /// The refusal as callers see it.
    fn refusal(refusal: CodeRefusal) -> AppError {
        match refusal {
            CodeRefusal::Locked(until) => AppError::Throttled {
                retry_after_secs: u64::try_from(until - now()).unwrap_or(1).max(1),
            },
            CodeRefusal::Wrong => AppError::invalid("code", "wrong code, or one already used"),
        }
    }

    /// Ten new recovery codes for the account, replacing any it had.
    async fn new_recovery_codes(&self, user_id: i64) -> Result<RecoveryCodes, AppError> {
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

    /// The account `user_id`, if `who` may reset its second factors:
    /// appliance admins any, department admins the local accounts of
    /// their subtree. Others' are `NotFound`, as if there were none.
    async fn resettable(&self, who: &Principal, user_id: i64) -> Result<UserRow, AppError> {
        let user = self
            .store
            .read(move |c| users::by_id(c, user_id))
            .await
            .map_err(store_err)?;
        let allowed = |u: &UserRow| match who.role {
            Role::Admin => true,
            Role::DepartmentAdmin => {
                u.source == AccountSource::Local
                    && u.role != Role::Admin
                    && may_manage(who, u.department_id)
            }
            Role::User => false,
        };
        user.filter(allowed)
            .ok_or_else(|| AppError::NotFound("account".into()))
    }
}

impl Appliance {
    /// The account whose password `session` proved a moment ago and that
    /// waits for its second factor (`enrol`: for its enrolment);
    /// `Unauthenticated` when there is none, or it waited too long.
    async fn pending_user(
        &self,
        session: &tower_sessions::Session,
        enrol: bool,
    ) -> Result<UserRow, AppError> {
        let pending = session
            .get::<i64>(SESSION_PENDING_USER)
            .await
            .map_err(session_err)?;
        let since = session
            .get::<i64>(SESSION_PENDING_AT)
            .await
            .map_err(session_err)?;
        let must_enrol = session
            .get::<bool>(SESSION_MUST_ENROL)
            .await
            .map_err(session_err)?
            .unwrap_or(false);
        let (Some(user_id), Some(since)) = (pending, since) else {
            return Err(AppError::Unauthenticated);
        };
        if now() - since > PENDING_SECS {
            session.flush().await.map_err(session_err)?;
            return Err(AppError::Unauthenticated);
        }
        if must_enrol != enrol {
            return Err(AppError::Unauthenticated);
        }
        self.store
            .read(move |c| users::by_id(c, user_id))
            .await
            .map_err(store_err)?
            .filter(|u| !u.disabled)
            .ok_or(AppError::Unauthenticated)
    }

    /// Signs in the session that waited for `user`'s second factor.
    async fn finish_pending(
        &self,
        session: &tower_sessions::Session,
        user: &UserRow,
        peer: IpAddr,
    ) -> Result<(), AppError> {
        self.bind_session(session, user, peer).await?;
        session
            .insert(SESSION_SECOND_FACTOR_AT, now())
            .await
            .map_err(session_err)
    }

    /// Starts enrolling an authenticator app for the account.
    async fn begin_totp_for(
        &self,
        user_id: i64,
        username: &str,
        record: Audit,
    ) -> Result<TotpEnrolment, AppError> {
        let secret = totp::new_secret();
        let sealed = self
            .secrets
            .seal(&secret, &seal_context(user_id))
            .map_err(|e| internal(&e))?;
        let (begun, issuer) = self
            .store
            .write(move |tx| {
                let begun = second_factors::begin_totp(tx, user_id, &sealed)?;
                Ok((begun, settings::get(tx, settings::APPLIANCE_NAME)?))
            })
            .await
            .map_err(store_err)?;
        if !begun {
            return Err(AppError::Conflict(
                "an authenticator app is already enrolled: remove it first".into(),
            ));
        }
        let issuer = issuer.unwrap_or_else(|| "dpe".to_owned());
        let otpauth_uri = totp::uri(&secret, &issuer, username).map_err(|e| internal(&e))?;
        let qr_code = totp::qr_data_url(&otpauth_uri).ok_or(AppError::Internal)?;
        self.audit(record.action("second_factor.totp.begin").ok())
            .await;
        Ok(TotpEnrolment {
            secret,
            otpauth_uri,
            qr_code,
        })
    }

    /// Confirms the account's pending enrolment with `code`; answers its
    /// new recovery codes.
    async fn confirm_totp_for(
        &self,
        user_id: i64,
        code: &str,
        record: Audit,
    ) -> Result<RecoveryCodes, AppError> {
        let row = self
            .store
            .read(move |c| second_factors::totp(c, user_id))
            .await
            .map_err(store_err)?;
        let Some(row) = row.filter(|r| r.confirmed_at.is_none()) else {
            return Err(AppError::Conflict(
                "no enrolment is waiting for its code: start one first".into(),
            ));
        };
        let secret = self.open_secret(user_id, &row.sealed_secret)?;
        let at = now();
        let step = totp::verify(&secret, code, u64::try_from(at).unwrap_or(0), None)
            .map_err(|e| internal(&e))?
            .ok_or_else(|| AppError::invalid("code", "wrong code: check the app's clock"))?;
        let confirmed = self
            .store
            .write(move |tx| second_factors::confirm_totp(tx, user_id, step, at))
            .await
            .map_err(store_err)?;
        if !confirmed {
            return Err(AppError::Conflict(
                "the enrolment was confirmed already".into(),
            ));
        }
        let codes = self.new_recovery_codes(user_id).await?;
        let record = record
            .action("second_factor.totp.enrol")
            .detail("authenticator app enrolled; ten recovery codes made")
            .ok();
        self.audit(record).await;
        Ok(codes)
    }
}

#[async_trait]
impl SecondFactorService for Appliance {
    async fn complete_sign_in(&self, ctx: &RequestContext, code: String) -> Result<Me, AppError> {
        let session = ctx.session.as_ref().ok_or(AppError::Internal)?;
        let user = self.pending_user(session, false).await?;
        let attempt = Audit::by_account(user.username.clone(), user.id)
            .department(user.department_id)
            .from_address(ctx.peer)
            .action("sign_in");
        if let Err(e) = self.throttled(&user.username, ctx.peer) {
            self.audit_throttled(ctx.peer, attempt).await;
            return Err(e);
        }
        if let Err(refusal) = self.check_code(user.id, &code, &attempt).await? {
            let detail = match refusal {
                CodeRefusal::Locked(_) => "second factor locked",
                CodeRefusal::Wrong => "wrong second-factor code",
            };
            self.audit(attempt.detail(detail).failed()).await;
            return Err(Self::refusal(refusal));
        }
        self.finish_pending(session, &user, ctx.peer).await?;
        Ok(Me {
            role: user.effective_role(),
            username: user.username,
        })
    }

    async fn begin_enrolment(&self, ctx: &RequestContext) -> Result<TotpEnrolment, AppError> {
        let session = ctx.session.as_ref().ok_or(AppError::Internal)?;
        let user = self.pending_user(session, true).await?;
        let record = Audit::by_account(user.username.clone(), user.id)
            .department(user.department_id)
            .from_address(ctx.peer)
            .object(format!("user {}", user.username));
        self.begin_totp_for(user.id, &user.username, record).await
    }

    async fn finish_enrolment(
        &self,
        ctx: &RequestContext,
        code: String,
    ) -> Result<RecoveryCodes, AppError> {
        let session = ctx.session.as_ref().ok_or(AppError::Internal)?;
        let user = self.pending_user(session, true).await?;
        self.throttled(&user.username, ctx.peer)?;
        let record = Audit::by_account(user.username.clone(), user.id)
            .department(user.department_id)
            .from_address(ctx.peer)
            .object(format!("user {}", user.username));
        let codes = self.confirm_totp_for(user.id, &code, record).await?;
        self.finish_pending(session, &user, ctx.peer).await?;
        Ok(codes)
    }

    async fn second_factor_policy(
        &self,
        _who: Authorized<'_, rights::ManageUsers>,
    ) -> Result<SecondFactorPolicy, AppError> {
        self.store
            .read(second_factors::policy)
            .await
            .map_err(store_err)
    }

    async fn set_second_factor_policy(
        &self,
        who: Authorized<'_, rights::ManageUsers>,
        mut policy: SecondFactorPolicy,
    ) -> Result<SecondFactorPolicy, AppError> {
        policy.departments.sort_unstable();
        policy.departments.dedup();
        let entry = Audit::by(who.principal())
            .action("second_factor.policy")
            .detail(format!(
                "required of {}; departments {:?}",
                policy.required_of, policy.departments
            ))
            .ok();
        let stored = policy.clone();
        self.store
            .write(move |tx| {
                second_factors::set_policy(tx, &stored)?;
                audit::record(tx, &entry)
            })
            .await
            .map_err(store_err)?;
        Ok(policy)
    }

    async fn second_factor_status(
        &self,
        who: Authorized<'_, rights::ManageOwnSecondFactors>,
    ) -> Result<SecondFactorStatus, AppError> {
        let user_id = who.user_id;
        let at = now();
        self.store
            .read(move |c| {
                Ok(SecondFactorStatus {
                    totp: second_factors::totp(c, user_id)?
                        .is_some_and(|r| r.confirmed_at.is_some()),
                    recovery_codes_left: second_factors::recovery_codes_left(c, user_id)?,
                    locked_until: second_factors::locked_until(c, user_id, at)?,
                })
            })
            .await
            .map_err(store_err)
    }

    async fn begin_totp(
        &self,
        who: Authorized<'_, rights::ManageOwnSecondFactors>,
    ) -> Result<TotpEnrolment, AppError> {
        let who = who.principal();
        let record = Audit::by(who).object(format!("user {}", who.username));
        self.begin_totp_for(who.user_id, &who.username, record)
            .await
    }

    async fn confirm_totp(
        &self,
        who: Authorized<'_, rights::ManageOwnSecondFactors>,
        code: String,
    ) -> Result<RecoveryCodes, AppError> {
        let who = who.principal();
        self.throttled(&who.username, who_peer(who))?;
        let record = Audit::by(who).object(format!("user {}", who.username));
        self.confirm_totp_for(who.user_id, &code, record).await
    }

    async fn remove_totp(
        &self,
        who: Authorized<'_, rights::ManageOwnSecondFactors>,
        code: Option<String>,
        password: Option<String>,
    ) -> Result<(), AppError> {
        let who = who.principal();
        let user_id = who.user_id;
        let peer = who_peer(who);
        self.throttled(&who.username, peer)?;
        let record = Audit::by(who)
            .action("second_factor.totp.remove")
            .object(format!("user {}", who.username));
        if !self.has_second_factor(user_id).await? {
            return Err(AppError::NotFound("authenticator app".into()));
        }
        let proven = match (code, password) {
            (Some(code), None) => match self.check_code(user_id, &code, &record).await? {
                Ok(()) => true,
                Err(refusal) => {
                    self.audit(record.detail("wrong code").failed()).await;
                    return Err(Self::refusal(refusal));
                }
            },
            (None, Some(password)) => self.password_is_right(user_id, password).await?,
            (Some(_), Some(_)) | (None, None) => {
                return Err(AppError::invalid(
                    "code",
                    "give either a current code or the password",
                ));
            }
        };
        if !proven {
            self.audit(record.detail("wrong password").failed()).await;
            return Err(AppError::invalid("password", "is not your password"));
        }
        let entry = record.ok();
        self.store
            .write(move |tx| {
                second_factors::remove_all(tx, user_id)?;
                audit::record(tx, &entry)
            })
            .await
            .map_err(store_err)?;
        Ok(())
    }

    async fn renew_recovery_codes(
        &self,
        who: Authorized<'_, rights::ManageOwnSecondFactors>,
        code: String,
    ) -> Result<RecoveryCodes, AppError> {
        let who = who.principal();
        let user_id = who.user_id;
        self.throttled(&who.username, who_peer(who))?;
        let record = Audit::by(who)
            .action("second_factor.recovery_codes")
            .object(format!("user {}", who.username));
        if !self.has_second_factor(user_id).await? {
            return Err(AppError::NotFound("authenticator app".into()));
        }
        // Only the app: a recovery code must not mint ten more.
        if recovery::looks_like(&code) {
            return Err(AppError::invalid(
                "code",
                "a code from the app, not a recovery code",
            ));
        }
        if let Err(refusal) = self.check_code(user_id, &code, &record).await? {
            self.audit(record.detail("wrong code").failed()).await;
            return Err(Self::refusal(refusal));
        }
        let codes = self.new_recovery_codes(user_id).await?;
        self.audit(record.detail("ten new recovery codes").ok())
            .await;
        Ok(codes)
    }

    async fn unlock_second_factor(
        &self,
        who: Authorized<'_, rights::ResetSecondFactors>,
        user_id: i64,
    ) -> Result<(), AppError> {
        let who = who.principal();
        let user = self.resettable(who, user_id).await?;
        let at = now();
        let was_locked = self
            .store
            .write(move |tx| second_factors::clear_failures(tx, user_id, at))
            .await
            .map_err(store_err)?;
        let record = Audit::by(who)
            .action("second_factor.unlock")
            .object(format!("user {}", user.username))
            .department(user.department_id)
            .detail(if was_locked {
                "lock lifted"
            } else {
                "was not locked"
            })
            .ok();
        self.audit(record).await;
        Ok(())
    }

    async fn reset_second_factors(
        &self,
        who: Authorized<'_, rights::ResetSecondFactors>,
        user_id: i64,
    ) -> Result<(), AppError> {
        let who = who.principal();
        let user = self.resettable(who, user_id).await?;
        let entry = Audit::by(who)
            .action("second_factor.reset")
            .object(format!("user {}", user.username))
            .department(user.department_id)
            .detail("second factors removed; sessions ended")
            .ok();
        self.store
            .write(move |tx| {
                second_factors::remove_all(tx, user_id)?;
                sessions::delete_for_user(tx, user_id)?;
                audit::record(tx, &entry)
            })
            .await
            .map_err(store_err)?;
        Ok(())
    }
}

impl Appliance {
    /// For what a stolen session must not do alone (creating an API
    /// token): an account with an authenticator app proves it again with
    /// a current code from it (not a recovery code). Others pass.
    pub(super) async fn fresh_second_factor(
        &self,
        who: &Principal,
        code: Option<String>,
    ) -> Result<(), AppError> {
        if !self.has_second_factor(who.user_id).await? {
            return Ok(());
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
    async fn password_is_right(&self, user_id: i64, password: String) -> Result<bool, AppError> {
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

/// The caller's address for the throttle (the edge sets it on every
/// principal it resolves).
fn who_peer(who: &Principal) -> IpAddr {
    who.address
        .as_deref()
        .and_then(|a| a.parse().ok())
        .unwrap_or(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED))
}
