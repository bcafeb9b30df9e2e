//! Second factors: enrolling an authenticator app, recovery codes, the
//! second step of signing in, and an admin's unlock and reset.

use async_trait::async_trait;

use super::RequestContext;
use crate::error::AppError;
use crate::model::{
    Me, RecoveryCodes, SecondFactorPolicy, SecondFactorRule, SecondFactorStatus, TotpEnrolment,
};
use crate::policy::{Authorized, rights};

#[async_trait]
pub trait SecondFactorService: Send + Sync + 'static {
    /// Anyone may try, on a session whose password was right and that
    /// waits for its second factor: checks a code from the authenticator
    /// app or a recovery code (throttled; locked after too many wrong
    /// ones), then signs the session in.
    async fn complete_sign_in(&self, ctx: &RequestContext, code: String) -> Result<Me, AppError>;
    /// Anyone may try, on a session whose password was right and whose
    /// account must enrol a second factor first: starts enrolling an
    /// authenticator app, as [`SecondFactorService::begin_totp`].
    async fn begin_enrolment(&self, ctx: &RequestContext) -> Result<TotpEnrolment, AppError>;
    /// Anyone may try, on such a session: confirms the enrolment with a
    /// code from the app (throttled), answers the recovery codes and signs
    /// the session in.
    async fn finish_enrolment(
        &self,
        ctx: &RequestContext,
        code: String,
    ) -> Result<RecoveryCodes, AppError>;
    /// Who must use a second factor.
    async fn second_factor_policy(
        &self,
        who: Authorized<'_, rights::ManageUsers>,
    ) -> Result<SecondFactorPolicy, AppError>;
    /// Sets who must use a second factor; takes effect at their next
    /// sign-in.
    async fn set_second_factor_policy(
        &self,
        who: Authorized<'_, rights::ManageUsers>,
        policy: SecondFactorPolicy,
    ) -> Result<SecondFactorPolicy, AppError>;
    /// Sets which accounts beyond the chosen departments must use a second
    /// factor, keeping the departments.
    async fn set_second_factor_rule(
        &self,
        who: Authorized<'_, rights::ManageUsers>,
        rule: SecondFactorRule,
    ) -> Result<SecondFactorPolicy, AppError>;
    /// Requires a second factor of department `department_id`'s members
    /// (and those below), or stops requiring it.
    async fn require_second_factor_in(
        &self,
        who: Authorized<'_, rights::ManageUsers>,
        department_id: i64,
        required: bool,
    ) -> Result<SecondFactorPolicy, AppError>;
    /// The caller's second factors.
    async fn second_factor_status(
        &self,
        who: Authorized<'_, rights::ManageOwnSecondFactors>,
    ) -> Result<SecondFactorStatus, AppError>;
    /// Starts enrolling an authenticator app (again, while unconfirmed):
    /// a new secret and its QR code. `Conflict` when one is enrolled.
    async fn begin_totp(
        &self,
        who: Authorized<'_, rights::ManageOwnSecondFactors>,
    ) -> Result<TotpEnrolment, AppError>;
    /// Confirms the enrolment with a code from the app; answers ten new
    /// recovery codes, shown this once.
    async fn confirm_totp(
        &self,
        who: Authorized<'_, rights::ManageOwnSecondFactors>,
        code: String,
    ) -> Result<RecoveryCodes, AppError>;
    /// Removes the authenticator app and the recovery codes, given a
    /// current code (or recovery code) or the account's password.
    async fn remove_totp(
        &self,
        who: Authorized<'_, rights::ManageOwnSecondFactors>,
        code: Option<String>,
        password: Option<String>,
    ) -> Result<(), AppError>;
    /// Replaces the recovery codes, given a current code from the app.
    async fn renew_recovery_codes(
        &self,
        who: Authorized<'_, rights::ManageOwnSecondFactors>,
        code: String,
    ) -> Result<RecoveryCodes, AppError>;
    /// Lifts the lock on the account `user_id`'s second factor.
    async fn unlock_second_factor(
        &self,
        who: Authorized<'_, rights::ResetSecondFactors>,
        user_id: i64,
    ) -> Result<(), AppError>;
    /// Removes every second factor of the account `user_id` and ends its
    /// sessions (a lost phone): it signs in with its password alone.
    async fn reset_second_factors(
        &self,
        who: Authorized<'_, rights::ResetSecondFactors>,
        user_id: i64,
    ) -> Result<(), AppError>;
}
