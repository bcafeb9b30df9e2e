//! Server functions of passkeys and security keys: adding, listing (in
//! the second-factor status) and removing them on the account page, and
//! signing in with one. The browser's part (`navigator.credentials`) is
//! `pages/passkeys.js`; its answers come here as JSON text.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::respond;
use crate::error::AppError;
use crate::model::{AddedPasskey, Me, PasskeyChallenge, PasskeyKind};
#[cfg(feature = "ssr")]
use crate::policy::{authorize, rights};
#[cfg(feature = "ssr")]
use crate::service::{PasskeyService, request_context, service};

/// The browser's answer, as JSON text, read as JSON.
#[cfg(feature = "ssr")]
fn json(text: &str) -> Result<serde_json::Value, AppError> {
    serde_json::from_str(text)
        .map_err(|_| AppError::invalid("credential", "is not a WebAuthn credential's answer"))
}

#[server(prefix = "/fn", endpoint = "begin_passkey")]
pub async fn begin_passkey(name: String, kind: PasskeyKind) -> Result<PasskeyChallenge, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageOwnSecondFactors>(ctx.principal.as_ref())?;
            service::<dyn PasskeyService>()?
                .begin_passkey(who, &ctx, name, kind)
                .await
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "finish_passkey")]
pub async fn finish_passkey(credential: String) -> Result<AddedPasskey, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageOwnSecondFactors>(ctx.principal.as_ref())?;
            service::<dyn PasskeyService>()?
                .finish_passkey(who, &ctx, json(&credential)?)
                .await
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "remove_passkey")]
pub async fn remove_passkey(id: i64, password: String) -> Result<(), AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageOwnSecondFactors>(ctx.principal.as_ref())?;
            service::<dyn PasskeyService>()?
                .remove_passkey(who, id, password)
                .await
        }
        .await,
    )
}

/// The sign-in's enrolment step with a passkey: adding one...
#[server(prefix = "/fn", endpoint = "begin_passkey_enrolment")]
pub async fn begin_passkey_enrolment(
    name: String,
    kind: PasskeyKind,
) -> Result<PasskeyChallenge, AppError> {
    respond(
        async move {
            // Anyone may try; the service checks that the session's
            // password was right and that it must enrol.
            let ctx = request_context().await?;
            service::<dyn PasskeyService>()?
                .begin_passkey_enrolment(&ctx, name, kind)
                .await
        }
        .await,
    )
}

/// ...and the key's answer, which signs the session in.
#[server(prefix = "/fn", endpoint = "finish_passkey_enrolment")]
pub async fn finish_passkey_enrolment(credential: String) -> Result<AddedPasskey, AppError> {
    respond(
        async move {
            // As begin_passkey_enrolment; the service throttles.
            let ctx = request_context().await?;
            service::<dyn PasskeyService>()?
                .finish_passkey_enrolment(&ctx, json(&credential)?)
                .await
        }
        .await,
    )
}

/// The sign-in's second step with a passkey: its challenge...
#[server(prefix = "/fn", endpoint = "begin_passkey_sign_in")]
pub async fn begin_passkey_sign_in() -> Result<PasskeyChallenge, AppError> {
    respond(
        async move {
            // Anyone may try; the service checks that the session's
            // password was right.
            let ctx = request_context().await?;
            service::<dyn PasskeyService>()?
                .begin_passkey_sign_in(&ctx)
                .await
        }
        .await,
    )
}

/// ...and the key's answer, which signs the session in.
#[server(prefix = "/fn", endpoint = "finish_passkey_sign_in")]
pub async fn finish_passkey_sign_in(credential: String) -> Result<Me, AppError> {
    respond(
        async move {
            // As begin_passkey_sign_in; the service throttles and locks.
            let ctx = request_context().await?;
            service::<dyn PasskeyService>()?
                .finish_passkey_sign_in(&ctx, json(&credential)?)
                .await
        }
        .await,
    )
}

/// Confirming the second factor with a passkey before creating a token:
/// its challenge...
#[server(prefix = "/fn", endpoint = "begin_passkey_confirmation")]
pub async fn begin_passkey_confirmation() -> Result<PasskeyChallenge, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageOwnSecondFactors>(ctx.principal.as_ref())?;
            service::<dyn PasskeyService>()?
                .begin_passkey_confirmation(who, &ctx)
                .await
        }
        .await,
    )
}

/// ...and the key's answer, which the next token's creation spends.
#[server(prefix = "/fn", endpoint = "finish_passkey_confirmation")]
pub async fn finish_passkey_confirmation(credential: String) -> Result<(), AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageOwnSecondFactors>(ctx.principal.as_ref())?;
            service::<dyn PasskeyService>()?
                .finish_passkey_confirmation(who, &ctx, json(&credential)?)
                .await
        }
        .await,
    )
}
