//! Server functions of second factors: the sign-in's code step, enrolling
//! and removing an authenticator app on the account page, and the admins'
//! part: who must use one, and lifting locks and resetting lost ones.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::respond;
use crate::error::AppError;
#[cfg(feature = "ssr")]
use crate::model::SecondFactorRule;
use crate::model::{Me, RecoveryCodes, SecondFactorPolicy, SecondFactorStatus, TotpEnrolment};
#[cfg(feature = "ssr")]
use crate::policy::{authorize, rights};
#[cfg(feature = "ssr")]
use crate::service::{SecondFactorService, request_context, service};

/// The sign-in's second step: a code from the app or a recovery code.
#[server(prefix = "/fn", endpoint = "sign_in_code")]
pub async fn sign_in_code(code: String, #[server(default)] next: String) -> Result<Me, AppError> {
    respond(
        async move {
            // Anyone may try; the service checks that the session's
            // password was right, throttles and locks.
            let ctx = request_context().await?;
            let me = service::<dyn SecondFactorService>()?
                .complete_sign_in(&ctx, code)
                .await?;
            leptos_axum::redirect(crate::validate::local_path(&next));
            Ok(me)
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "second_factor")]
pub async fn get_second_factor() -> Result<SecondFactorStatus, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageOwnSecondFactors>(ctx.principal.as_ref())?;
            service::<dyn SecondFactorService>()?
                .second_factor_status(who)
                .await
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "begin_totp")]
pub async fn begin_totp() -> Result<TotpEnrolment, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageOwnSecondFactors>(ctx.principal.as_ref())?;
            service::<dyn SecondFactorService>()?.begin_totp(who).await
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "confirm_totp")]
pub async fn confirm_totp(code: String) -> Result<RecoveryCodes, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageOwnSecondFactors>(ctx.principal.as_ref())?;
            service::<dyn SecondFactorService>()?
                .confirm_totp(who, code)
                .await
        }
        .await,
    )
}

/// Removes the app given the password (the form's one field).
#[server(prefix = "/fn", endpoint = "remove_totp")]
pub async fn remove_totp(password: String) -> Result<(), AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageOwnSecondFactors>(ctx.principal.as_ref())?;
            service::<dyn SecondFactorService>()?
                .remove_totp(who, None, Some(password))
                .await
        }
        .await,
    )
}

/// Enrolment right after the password, for an account that must use a
/// second factor and has none.
#[server(prefix = "/fn", endpoint = "begin_enrolment")]
pub async fn begin_enrolment() -> Result<TotpEnrolment, AppError> {
    respond(
        async move {
            // Anyone may try; the service checks that the session's
            // password was right and that it waits for an enrolment.
            let ctx = request_context().await?;
            service::<dyn SecondFactorService>()?
                .begin_enrolment(&ctx)
                .await
        }
        .await,
    )
}

/// Confirms it: the session is signed in, and the recovery codes shown.
#[server(prefix = "/fn", endpoint = "finish_enrolment")]
pub async fn finish_enrolment(code: String) -> Result<RecoveryCodes, AppError> {
    respond(
        async move {
            // As begin_enrolment.
            let ctx = request_context().await?;
            service::<dyn SecondFactorService>()?
                .finish_enrolment(&ctx, code)
                .await
        }
        .await,
    )
}

/// Who must use a second factor (appliance admins).
#[server(prefix = "/fn", endpoint = "second_factor_policy")]
pub async fn get_second_factor_policy() -> Result<SecondFactorPolicy, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageUsers>(ctx.principal.as_ref())?;
            service::<dyn SecondFactorService>()?
                .second_factor_policy(who)
                .await
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "set_second_factor_rule")]
pub async fn set_second_factor_rule(required_of: String) -> Result<SecondFactorPolicy, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageUsers>(ctx.principal.as_ref())?;
            let rule: SecondFactorRule = required_of
                .parse()
                .map_err(|_| AppError::invalid("required_of", "choose one of the three"))?;
            service::<dyn SecondFactorService>()?
                .set_second_factor_rule(who, rule)
                .await
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "require_second_factor_in")]
pub async fn require_second_factor_in(
    department_id: i64,
    required: bool,
) -> Result<SecondFactorPolicy, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageUsers>(ctx.principal.as_ref())?;
            service::<dyn SecondFactorService>()?
                .require_second_factor_in(who, department_id, required)
                .await
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "unlock_second_factor")]
pub async fn unlock_second_factor(user_id: i64) -> Result<(), AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ResetSecondFactors>(ctx.principal.as_ref())?;
            service::<dyn SecondFactorService>()?
                .unlock_second_factor(who, user_id)
                .await
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "reset_second_factors")]
pub async fn reset_second_factors(user_id: i64) -> Result<(), AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ResetSecondFactors>(ctx.principal.as_ref())?;
            service::<dyn SecondFactorService>()?
                .reset_second_factors(who, user_id)
                .await
        }
        .await,
    )
}
