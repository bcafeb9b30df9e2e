use std::sync::Arc;

use app::error::AppError;
use app::model::Me;
use app::policy::{authorize, rights};
use app::service::{RequestContext, SessionService};
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;

use super::{ApiJson, ApiResult};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// Signs in and sets the session cookie. Throttled per account and address.
/// An account with a second factor gets 401 `second_factor_required` for a
/// right password: the session then waits for `/api/v1/login/code`.
#[utoipa::path(post, path = "/api/v1/login", tag = "auth", request_body = Credentials,
    responses((status = 200, body = Me),
              (status = 401, body = super::ErrorBody,
               description = "`invalid_credentials`, or `second_factor_required`"),
              (status = 429, body = super::ErrorBody, description = "with Retry-After"),
              (status = 503, body = super::ErrorBody,
               description = "A directory is configured and the name is no local account, \
                              but the directory server cannot be reached")))]
pub async fn login(
    State(service): State<Arc<dyn SessionService>>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(body): ApiJson<Credentials>,
) -> ApiResult<Json<Me>> {
    // Anyone may try to sign in; the service throttles.
    Ok(Json(
        service.sign_in(&ctx, body.username, body.password).await?,
    ))
}

/// Ends the session server-side.
#[utoipa::path(post, path = "/api/v1/logout", tag = "auth",
    responses((status = 204), (status = 401, body = super::ErrorBody)))]
pub async fn logout(
    State(service): State<Arc<dyn SessionService>>,
    Extension(ctx): Extension<RequestContext>,
) -> ApiResult<StatusCode> {
    if ctx.principal.is_none() {
        return Err(AppError::Unauthenticated.into());
    }
    service.sign_out(&ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in account.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth",
    responses((status = 200, body = Me), (status = 401, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn me(Extension(ctx): Extension<RequestContext>) -> ApiResult<Json<Me>> {
    let who = authorize::<rights::ViewSelf>(ctx.principal.as_ref())?;
    Ok(Json(Me::from(who.principal())))
}

/// `POST /api/v1/me/password`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    /// At least 12 characters, and not easy to guess.
    #[schema(min_length = 12, max_length = 1024)]
    pub new_password: String,
}

/// Changes the caller's password (local accounts). Every other session of
/// the account ends and its API tokens are revoked; a session cookie that
/// made the change goes on under a new id. Throttled as sign-ins are.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "auth", request_body = PasswordChange,
    responses((status = 204),
        (status = 409, body = super::ErrorBody, description = "A directory account"),
        (status = 429, body = super::ErrorBody, description = "with Retry-After")),
    security(("session" = []), ("bearer" = [])))]
pub async fn change_password(
    State(service): State<Arc<dyn SessionService>>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(body): ApiJson<PasswordChange>,
) -> ApiResult<StatusCode> {
    let who = authorize::<rights::ViewSelf>(ctx.principal.as_ref())?;
    service
        .change_password(&ctx, who, body.current_password, body.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
