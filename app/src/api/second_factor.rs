//! Server functions of second factors: the sign-in's code step, and
//! enrolling and removing an authenticator app on the account page.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::respond;
use crate::error::AppError;
use crate::model::{Me, RecoveryCodes, SecondFactorStatus, TotpEnrolment};
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
