//! Second factors: the sign-in's second step, enrolling an authenticator
//! app, recovery codes, and an admin's unlock and reset.

use std::sync::Arc;

use app::model::{Me, RecoveryCodes, SecondFactorPolicy, SecondFactorStatus, TotpEnrolment};
use app::policy::{authorize, rights};
use app::service::{RequestContext, SecondFactorService};
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;

use super::{ApiJson, ApiResult, IdPath};

/// A code from the authenticator app (six digits) or, where it says so, a
/// recovery code.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Code {
    #[schema(max_length = 64)]
    pub code: String,
}

/// What proves the caller may remove the authenticator app: a current
/// code (or a recovery code), or the password; exactly one.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpRemoval {
    #[schema(max_length = 64)]
    pub code: Option<String>,
    #[schema(max_length = 1024)]
    pub password: Option<String>,
}

/// The second step of signing in, after `/api/v1/login` answered
/// `second_factor_required`: a code from the authenticator app or a
/// recovery code. Throttled as sign-ins are; after 8 wrong codes in a row
/// the account's second factor is locked for an hour (429).
#[utoipa::path(post, path = "/api/v1/login/code", tag = "auth", request_body = Code,
    responses((status = 200, body = Me),
        (status = 401, body = super::ErrorBody, description = "No sign-in waits for a code"),
        (status = 422, body = super::ErrorBody, description = "Wrong code, or one already used"),
        (status = 429, body = super::ErrorBody, description = "Throttled or locked, with Retry-After")))]
pub async fn complete_sign_in(
    State(service): State<Arc<dyn SecondFactorService>>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(body): ApiJson<Code>,
) -> ApiResult<Json<Me>> {
    // Public: the session proved the password; the service checks that.
    Ok(Json(service.complete_sign_in(&ctx, body.code).await?))
}

/// Starts enrolling an authenticator app on a session whose password was
/// right and whose account must use a second factor it does not have
/// (`/api/v1/login` answered `second_factor_enrolment_required`).
#[utoipa::path(post, path = "/api/v1/login/totp", tag = "auth",
    responses((status = 200, body = TotpEnrolment),
        (status = 401, body = super::ErrorBody, description = "No sign-in waits for an enrolment"),
        (status = 409, body = super::ErrorBody, description = "One is enrolled already")))]
pub async fn begin_enrolment(
    State(service): State<Arc<dyn SecondFactorService>>,
    Extension(ctx): Extension<RequestContext>,
) -> ApiResult<Json<TotpEnrolment>> {
    // Public: the session proved the password; the service checks that.
    Ok(Json(service.begin_enrolment(&ctx).await?))
}

/// Confirms that enrolment with a code from the app: answers ten recovery
/// codes, shown this once, and signs the session in.
#[utoipa::path(post, path = "/api/v1/login/totp/confirm", tag = "auth", request_body = Code,
    responses((status = 200, body = RecoveryCodes),
        (status = 401, body = super::ErrorBody, description = "No sign-in waits for an enrolment"),
        (status = 409, body = super::ErrorBody, description = "No enrolment waits for a code"),
        (status = 429, body = super::ErrorBody, description = "with Retry-After")))]
pub async fn finish_enrolment(
    State(service): State<Arc<dyn SecondFactorService>>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(body): ApiJson<Code>,
) -> ApiResult<Json<RecoveryCodes>> {
    // Public: as begin_enrolment.
    Ok(Json(service.finish_enrolment(&ctx, body.code).await?))
}

/// Who must use a second factor (appliance admins).
#[utoipa::path(get, path = "/api/v1/settings/second-factor", tag = "auth",
    responses((status = 200, body = SecondFactorPolicy)),
    security(("session" = []), ("bearer" = [])))]
pub async fn policy(
    State(service): State<Arc<dyn SecondFactorService>>,
    Extension(ctx): Extension<RequestContext>,
) -> ApiResult<Json<SecondFactorPolicy>> {
    let who = authorize::<rights::ManageUsers>(ctx.principal.as_ref())?;
    Ok(Json(service.second_factor_policy(who).await?))
}

/// Sets who must use a second factor (appliance admins): from their next
/// sign-in, such an account without one must enrol before anything else.
#[utoipa::path(put, path = "/api/v1/settings/second-factor", tag = "auth",
    request_body = SecondFactorPolicy,
    responses((status = 200, body = SecondFactorPolicy),
        (status = 404, body = super::ErrorBody, description = "A department that is not there")),
    security(("session" = []), ("bearer" = [])))]
pub async fn set_policy(
    State(service): State<Arc<dyn SecondFactorService>>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(body): ApiJson<SecondFactorPolicy>,
) -> ApiResult<Json<SecondFactorPolicy>> {
    let who = authorize::<rights::ManageUsers>(ctx.principal.as_ref())?;
    Ok(Json(service.set_second_factor_policy(who, body).await?))
}

/// The caller's second factors.
#[utoipa::path(get, path = "/api/v1/me/second-factor", tag = "auth",
    responses((status = 200, body = SecondFactorStatus)),
    security(("session" = []), ("bearer" = [])))]
pub async fn status(
    State(service): State<Arc<dyn SecondFactorService>>,
    Extension(ctx): Extension<RequestContext>,
) -> ApiResult<Json<SecondFactorStatus>> {
    let who = authorize::<rights::ManageOwnSecondFactors>(ctx.principal.as_ref())?;
    Ok(Json(service.second_factor_status(who).await?))
}

/// Starts enrolling an authenticator app: a new secret and its QR code.
/// It counts once confirmed; starting again replaces an unconfirmed one.
#[utoipa::path(post, path = "/api/v1/me/totp", tag = "auth",
    responses((status = 200, body = TotpEnrolment),
        (status = 409, body = super::ErrorBody, description = "One is enrolled already")),
    security(("session" = []), ("bearer" = [])))]
pub async fn begin_totp(
    State(service): State<Arc<dyn SecondFactorService>>,
    Extension(ctx): Extension<RequestContext>,
) -> ApiResult<Json<TotpEnrolment>> {
    let who = authorize::<rights::ManageOwnSecondFactors>(ctx.principal.as_ref())?;
    Ok(Json(service.begin_totp(who).await?))
}

/// Confirms the enrolment with a code from the app. Answers ten recovery
/// codes, shown this once.
#[utoipa::path(post, path = "/api/v1/me/totp/confirm", tag = "auth", request_body = Code,
    responses((status = 200, body = RecoveryCodes),
        (status = 409, body = super::ErrorBody, description = "No enrolment waits for a code"),
        (status = 429, body = super::ErrorBody, description = "with Retry-After")),
    security(("session" = []), ("bearer" = [])))]
pub async fn confirm_totp(
    State(service): State<Arc<dyn SecondFactorService>>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(body): ApiJson<Code>,
) -> ApiResult<Json<RecoveryCodes>> {
    let who = authorize::<rights::ManageOwnSecondFactors>(ctx.principal.as_ref())?;
    Ok(Json(service.confirm_totp(who, body.code).await?))
}

/// Removes the authenticator app and the recovery codes, given a current
/// code or the password.
#[utoipa::path(post, path = "/api/v1/me/totp/remove", tag = "auth", request_body = TotpRemoval,
    responses((status = 204),
        (status = 404, body = super::ErrorBody, description = "None is enrolled"),
        (status = 429, body = super::ErrorBody, description = "with Retry-After"),
        (status = 503, body = super::ErrorBody,
         description = "A directory account's password, and the directory cannot be reached")),
    security(("session" = []), ("bearer" = [])))]
pub async fn remove_totp(
    State(service): State<Arc<dyn SecondFactorService>>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(body): ApiJson<TotpRemoval>,
) -> ApiResult<StatusCode> {
    let who = authorize::<rights::ManageOwnSecondFactors>(ctx.principal.as_ref())?;
    service.remove_totp(who, body.code, body.password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replaces the recovery codes with ten new ones, given a current code
/// from the app (not a recovery code).
#[utoipa::path(post, path = "/api/v1/me/recovery-codes", tag = "auth", request_body = Code,
    responses((status = 200, body = RecoveryCodes),
        (status = 404, body = super::ErrorBody, description = "No authenticator app is enrolled"),
        (status = 429, body = super::ErrorBody, description = "with Retry-After")),
    security(("session" = []), ("bearer" = [])))]
pub async fn renew_recovery_codes(
    State(service): State<Arc<dyn SecondFactorService>>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(body): ApiJson<Code>,
) -> ApiResult<Json<RecoveryCodes>> {
    let who = authorize::<rights::ManageOwnSecondFactors>(ctx.principal.as_ref())?;
    Ok(Json(service.renew_recovery_codes(who, body.code).await?))
}

/// Lifts the lock on an account's second factor (appliance admins, or
/// the department admin of a local account).
#[utoipa::path(post, path = "/api/v1/users/{id}/second-factor/unlock", tag = "delegation",
    params(("id" = i64, Path)),
    responses((status = 204)),
    security(("session" = []), ("bearer" = [])))]
pub async fn unlock(
    State(service): State<Arc<dyn SecondFactorService>>,
    Extension(ctx): Extension<RequestContext>,
    IdPath(id): IdPath,
) -> ApiResult<StatusCode> {
    let who = authorize::<rights::ResetSecondFactors>(ctx.principal.as_ref())?;
    service.unlock_second_factor(who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes every second factor of an account and ends its sessions, as
/// for a lost phone (appliance admins, or the department admin of a local
/// account).
#[utoipa::path(post, path = "/api/v1/users/{id}/second-factor/reset", tag = "delegation",
    params(("id" = i64, Path)),
    responses((status = 204)),
    security(("session" = []), ("bearer" = [])))]
pub async fn reset(
    State(service): State<Arc<dyn SecondFactorService>>,
    Extension(ctx): Extension<RequestContext>,
    IdPath(id): IdPath,
) -> ApiResult<StatusCode> {
    let who = authorize::<rights::ResetSecondFactors>(ctx.principal.as_ref())?;
    service.reset_second_factors(who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
