//! Passkeys and security keys (WebAuthn): adding and removing one, and
//! the sign-in's second step with one. Each ceremony is two calls on one
//! cookie session (its state waits there), with the browser's
//! `navigator.credentials` between them.

use std::sync::Arc;

use app::model::{AddedPasskey, Me, PasskeyChallenge, PasskeyKind};
use app::policy::{authorize, rights};
use app::service::{PasskeyService, RequestContext};
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;

use super::{ApiJson, ApiResult, IdPath};

/// The name of a key being added, and its kind.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyName {
    #[schema(min_length = 1, max_length = 64)]
    pub name: String,
    /// A passkey (the default) verifies its holder with a PIN, fingerprint
    /// or face; a security key needs only a touch.
    pub kind: Option<PasskeyKind>,
}

/// The browser's answer to a ceremony: the `PublicKeyCredential` in its
/// JSON form (`toJSON()`), binary fields in base64url.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyAnswer {
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

/// The account's password, to remove a key.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyRemoval {
    #[schema(max_length = 1024)]
    pub password: String,
}

/// Starts adding a passkey or security key: the options for
/// `navigator.credentials.create()`. The relying party is the portal's
/// origin (`public_origin`, else the one addressed), which must be a name,
/// not an IP address.
#[utoipa::path(post, path = "/api/v1/me/passkeys", tag = "auth", request_body = PasskeyName,
    responses((status = 200, body = PasskeyChallenge),
        (status = 409, body = super::ErrorBody,
         description = "No cookie session, or the portal is reached by an IP address"),
        (status = 422, body = super::ErrorBody, description = "A bad or taken name")),
    security(("session" = []), ("bearer" = [])))]
pub async fn begin(
    State(service): State<Arc<dyn PasskeyService>>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(body): ApiJson<PasskeyName>,
) -> ApiResult<Json<PasskeyChallenge>> {
    let who = authorize::<rights::ManageOwnSecondFactors>(ctx.principal.as_ref())?;
    let kind = body.kind.unwrap_or(PasskeyKind::Passkey);
    Ok(Json(
        service.begin_passkey(who, &ctx, body.name, kind).await?,
    ))
}

/// Finishes adding it with the browser's answer. When it is the
/// account's first second factor, its ten recovery codes come with it,
/// shown this once.
#[utoipa::path(post, path = "/api/v1/me/passkeys/finish", tag = "auth", request_body = PasskeyAnswer,
    responses((status = 200, body = AddedPasskey),
        (status = 409, body = super::ErrorBody, description = "No key is being added"),
        (status = 422, body = super::ErrorBody, description = "The answer was refused")),
    security(("session" = []), ("bearer" = [])))]
pub async fn finish(
    State(service): State<Arc<dyn PasskeyService>>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(body): ApiJson<PasskeyAnswer>,
) -> ApiResult<Json<AddedPasskey>> {
    let who = authorize::<rights::ManageOwnSecondFactors>(ctx.principal.as_ref())?;
    Ok(Json(
        service.finish_passkey(who, &ctx, body.credential).await?,
    ))
}

/// Removes one of the caller's keys, given the account's password.
#[utoipa::path(post, path = "/api/v1/me/passkeys/{id}/remove", tag = "auth",
    params(("id" = i64, Path)), request_body = PasskeyRemoval,
    responses((status = 204),
        (status = 404, body = super::ErrorBody, description = "No such key of the caller's"),
        (status = 422, body = super::ErrorBody, description = "Wrong password"),
        (status = 429, body = super::ErrorBody, description = "with Retry-After"),
        (status = 503, body = super::ErrorBody,
         description = "A directory account's password, and the directory cannot be reached")),
    security(("session" = []), ("bearer" = [])))]
pub async fn remove(
    State(service): State<Arc<dyn PasskeyService>>,
    Extension(ctx): Extension<RequestContext>,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<PasskeyRemoval>,
) -> ApiResult<StatusCode> {
    let who = authorize::<rights::ManageOwnSecondFactors>(ctx.principal.as_ref())?;
    service.remove_passkey(who, id, body.password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The sign-in's second step with a passkey, after `/api/v1/login`
/// answered `second_factor_required`: the options for
/// `navigator.credentials.get()` over the account's keys.
#[utoipa::path(post, path = "/api/v1/login/passkey", tag = "auth",
    responses((status = 200, body = PasskeyChallenge),
        (status = 401, body = super::ErrorBody, description = "No sign-in waits for a second factor"),
        (status = 404, body = super::ErrorBody, description = "The account has no passkey"),
        (status = 409, body = super::ErrorBody, description = "No cookie session, or reached by an IP address")))]
pub async fn begin_sign_in(
    State(service): State<Arc<dyn PasskeyService>>,
    Extension(ctx): Extension<RequestContext>,
) -> ApiResult<Json<PasskeyChallenge>> {
    // Public: the session proved the password; the service checks that.
    Ok(Json(service.begin_passkey_sign_in(&ctx).await?))
}

/// The key's answer, which signs the session in. A refused answer counts
/// towards the lock as a wrong code does.
#[utoipa::path(post, path = "/api/v1/login/passkey/finish", tag = "auth",
    request_body = PasskeyAnswer,
    responses((status = 200, body = Me),
        (status = 401, body = super::ErrorBody, description = "No sign-in waits for a second factor"),
        (status = 409, body = super::ErrorBody, description = "No passkey sign-in was started"),
        (status = 422, body = super::ErrorBody, description = "The answer was refused"),
        (status = 429, body = super::ErrorBody, description = "Throttled or locked, with Retry-After")))]
pub async fn finish_sign_in(
    State(service): State<Arc<dyn PasskeyService>>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(body): ApiJson<PasskeyAnswer>,
) -> ApiResult<Json<Me>> {
    // Public: as begin_sign_in.
    Ok(Json(
        service
            .finish_passkey_sign_in(&ctx, body.credential)
            .await?,
    ))
}

/// Starts confirming the caller's second factor with a key, for an action
/// that needs a fresh one (creating an API token): the options for
/// `navigator.credentials.get()`.
#[utoipa::path(post, path = "/api/v1/me/passkeys/confirm", tag = "auth",
    responses((status = 200, body = PasskeyChallenge),
        (status = 404, body = super::ErrorBody, description = "The account has no passkey"),
        (status = 409, body = super::ErrorBody,
         description = "No cookie session, or the portal is reached by an IP address")),
    security(("session" = []), ("bearer" = [])))]
pub async fn begin_confirmation(
    State(service): State<Arc<dyn PasskeyService>>,
    Extension(ctx): Extension<RequestContext>,
) -> ApiResult<Json<PasskeyChallenge>> {
    let who = authorize::<rights::ManageOwnSecondFactors>(ctx.principal.as_ref())?;
    Ok(Json(service.begin_passkey_confirmation(who, &ctx).await?))
}

/// The key's answer: the session then holds a confirmation, spent by the
/// next action that needs it within five minutes. A refused answer counts
/// towards the lock as a wrong code does.
#[utoipa::path(post, path = "/api/v1/me/passkeys/confirm/finish", tag = "auth",
    request_body = PasskeyAnswer,
    responses((status = 204),
        (status = 409, body = super::ErrorBody, description = "No confirmation was started"),
        (status = 422, body = super::ErrorBody, description = "The answer was refused"),
        (status = 429, body = super::ErrorBody, description = "Throttled or locked, with Retry-After")),
    security(("session" = []), ("bearer" = [])))]
pub async fn finish_confirmation(
    State(service): State<Arc<dyn PasskeyService>>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(body): ApiJson<PasskeyAnswer>,
) -> ApiResult<StatusCode> {
    let who = authorize::<rights::ManageOwnSecondFactors>(ctx.principal.as_ref())?;
    service
        .finish_passkey_confirmation(who, &ctx, body.credential)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The sign-in's enrolment step with a passkey, after `/api/v1/login`
/// answered `second_factor_enrolment_required`: starts adding a key, as
/// `/api/v1/me/passkeys`.
#[utoipa::path(post, path = "/api/v1/login/passkey/enrol", tag = "auth", request_body = PasskeyName,
    responses((status = 200, body = PasskeyChallenge),
        (status = 401, body = super::ErrorBody, description = "No sign-in waits for an enrolment"),
        (status = 409, body = super::ErrorBody,
         description = "No cookie session, or the portal is reached by an IP address"),
        (status = 422, body = super::ErrorBody, description = "A bad name")))]
pub async fn begin_enrolment(
    State(service): State<Arc<dyn PasskeyService>>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(body): ApiJson<PasskeyName>,
) -> ApiResult<Json<PasskeyChallenge>> {
    // Public: the session proved the password; the service checks that.
    let kind = body.kind.unwrap_or(PasskeyKind::Passkey);
    Ok(Json(
        service
            .begin_passkey_enrolment(&ctx, body.name, kind)
            .await?,
    ))
}

/// Finishes adding the key, which signs the session in; the answer holds
/// the ten recovery codes, shown this once.
#[utoipa::path(post, path = "/api/v1/login/passkey/enrol/finish", tag = "auth",
    request_body = PasskeyAnswer,
    responses((status = 200, body = AddedPasskey),
        (status = 401, body = super::ErrorBody, description = "No sign-in waits for an enrolment"),
        (status = 409, body = super::ErrorBody, description = "No key is being added"),
        (status = 422, body = super::ErrorBody, description = "The answer was refused"),
        (status = 429, body = super::ErrorBody, description = "Throttled, with Retry-After")))]
pub async fn finish_enrolment(
    State(service): State<Arc<dyn PasskeyService>>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(body): ApiJson<PasskeyAnswer>,
) -> ApiResult<Json<AddedPasskey>> {
    // Public: as begin_enrolment.
    Ok(Json(
        service
            .finish_passkey_enrolment(&ctx, body.credential)
            .await?,
    ))
}
