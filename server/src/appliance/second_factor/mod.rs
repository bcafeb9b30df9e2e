//! Second factors: enrolling an authenticator app (TOTP, `enrolment`),
//! passkeys and security keys (`passkeys`), recovery codes and the lock
//! after too many wrong codes (`codes`), the
//! sign-in's second step (`pending`), the admin's rule of who must use
//! one, and an admin's unlock and reset.

mod codes;
mod enrolment;
mod passkeys;
mod pending;

use std::net::IpAddr;

use app::error::AppError;
use app::model::{
    AccountSource, Me, Principal, RecoveryCodes, Role, SecondFactorPolicy, SecondFactorRule,
    SecondFactorStatus, TotpEnrolment,
};
use app::policy::{Authorized, may_manage, rights};
use app::service::{RequestContext, SecondFactorService};
use async_trait::async_trait;

use self::codes::CodeRefusal;
pub(super) use self::pending::NextStep;
use super::Appliance;
use super::errors::store_err;
use crate::auth::recovery;
use crate::store::audit::{self, Audit};
use crate::store::users::UserRow;
use crate::store::{now, passkeys as passkey_rows, second_factors, sessions, users};

/// What a secret is sealed for: the account, so that a secret copied to
/// another account's row does not open.
fn seal_context(user_id: i64) -> String {
    format!("totp\nuser {user_id}")
}

impl Appliance {
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
        policy: SecondFactorPolicy,
    ) -> Result<SecondFactorPolicy, AppError> {
        self.change_second_factor_policy(who.principal(), move |p| *p = policy)
            .await
    }

    async fn set_second_factor_rule(
        &self,
        who: Authorized<'_, rights::ManageUsers>,
        rule: SecondFactorRule,
    ) -> Result<SecondFactorPolicy, AppError> {
        self.change_second_factor_policy(who.principal(), move |p| p.required_of = rule)
            .await
    }

    async fn require_second_factor_in(
        &self,
        who: Authorized<'_, rights::ManageUsers>,
        department_id: i64,
        required: bool,
    ) -> Result<SecondFactorPolicy, AppError> {
        self.existing_department("department_id", department_id)
            .await?;
        self.change_second_factor_policy(who.principal(), move |p| {
            p.departments.retain(|&d| d != department_id);
            if required {
                p.departments.push(department_id);
            }
        })
        .await
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
                    passkeys: passkeys::listed(&passkey_rows::of_user(c, user_id)?),
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
        // Its keys stay; with the last factor go the recovery codes.
        self.store
            .write(move |tx| {
                second_factors::remove_totp(tx, user_id)?;
                let forgotten = second_factors::forget_codes_without_factor(tx, user_id)?;
                let detail = with_codes_forgotten("authenticator app removed", forgotten);
                audit::record(tx, &record.detail(detail).ok())
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
    /// Changes who must use a second factor as `change` says, read and
    /// written in one transaction with its audit record (two admins at
    /// once lose neither's change).
    async fn change_second_factor_policy(
        &self,
        who: &Principal,
        change: impl FnOnce(&mut SecondFactorPolicy) + Send + 'static,
    ) -> Result<SecondFactorPolicy, AppError> {
        let mut entry = Audit::by(who).action("second_factor.policy");
        self.store
            .write(move |tx| {
                let mut policy = second_factors::policy(tx)?;
                change(&mut policy);
                policy.departments.sort_unstable();
                policy.departments.dedup();
                second_factors::set_policy(tx, &policy)?;
                entry = entry.detail(format!(
                    "required of {}; departments {:?}",
                    policy.required_of, policy.departments
                ));
                audit::record(tx, &entry.ok())?;
                Ok(policy)
            })
            .await
            .map_err(store_err)
    }
}

/// An audit detail for a factor's removal, saying so when the account's
/// last factor took its recovery codes with it.
pub(super) fn with_codes_forgotten(removed: &str, forgotten: u32) -> String {
    if forgotten == 0 {
        removed.to_owned()
    } else {
        format!("{removed}; its {forgotten} recovery codes deleted with the last second factor")
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
