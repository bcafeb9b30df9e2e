use std::sync::Arc;

use app::model::{NewToken, TokenInfo, TokenQuery, TokenRequest, TokenScope};
use app::policy::{authorize, rights};
use app::service::{RequestContext, SecretShown, TokenService};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use serde::Deserialize;

use super::{ApiJson, ApiQuery, ApiResult, IdPath};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// What the token is for.
    #[schema(
        pattern = r"^[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]{0,62}[^\s\x00-\x1f\x7f-\x9f]$|^[^\s\x00-\x1f\x7f-\x9f]$"
    )]
    pub name: String,
    /// Days it works, 1 to 3650; left out, until revoked. The portal
    /// suggests 90.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 3650)]
    pub expires_in_days: Option<u32>,
    /// What it may be used for: `full` (everything the account may do, the
    /// default) or `metrics` (reading `/metrics` and nothing else; appliance
    /// admins only).
    #[serde(default = "TokenScope::full")]
    pub scope: TokenScope,
    /// A current code from the authenticator app: needed when the account
    /// has one.
    #[serde(default)]
    #[schema(max_length = 64)]
    pub code: Option<String>,
}

/// A page of the caller's tokens, newest first (never their secrets).
/// When more follow, the `Link` header's `rel="next"` address holds the
/// next page's `cursor`.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", params(TokenQuery),
    responses((status = 200, body = [TokenInfo], headers(("Link" = String,
                description = "`<...&cursor=...>; rel=\"next\"` while more pages follow"))),
              (status = 401, body = super::ErrorBody), (status = 422, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn list(
    State(service): State<Arc<dyn TokenService>>,
    Extension(ctx): Extension<RequestContext>,
    ApiQuery(query): ApiQuery<TokenQuery>,
) -> ApiResult<(HeaderMap, Json<Vec<TokenInfo>>)> {
    let who = authorize::<rights::ManageOwnTokens>(ctx.principal.as_ref())?;
    // Not through the session: an API listing must not consume the
    // portal's one-time display of a new secret.
    let api_ctx = RequestContext {
        session: None,
        ..ctx.clone()
    };
    let page = service
        .tokens_view(&api_ctx, who, query.clone())
        .await?
        .tokens;
    Ok(super::paged("/api/v1/tokens", page, |next| TokenQuery {
        cursor: Some(next),
        ..query
    }))
}

/// Creates a token; its secret is in this answer and never again. An
/// account with an authenticator app gives a current `code` from it, or
/// confirms with a passkey first (`/api/v1/me/passkeys/confirm`) on the
/// same cookie session, as an account with only passkeys must.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = CreateToken,
    responses((status = 201, body = NewToken), (status = 401, body = super::ErrorBody),
              (status = 403, body = super::ErrorBody,
               description = "A `metrics` token asked for by a non-admin, or by a metrics token"),
              (status = 422, body = super::ErrorBody),
              (status = 429, body = super::ErrorBody,
               description = "Codes throttled or locked, with Retry-After")),
    security(("session" = []), ("bearer" = [])))]
pub async fn create(
    State(service): State<Arc<dyn TokenService>>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(body): ApiJson<CreateToken>,
) -> ApiResult<(StatusCode, Json<NewToken>)> {
    let who = authorize::<rights::ManageOwnTokens>(ctx.principal.as_ref())?;
    // The session is passed for a passkey's confirmation; the secret is
    // only in this answer.
    let created = service
        .create_token(
            &ctx,
            who,
            TokenRequest {
                name: body.name,
                scope: body.scope,
                expires_in_days: body.expires_in_days,
                code: body.code,
            },
            SecretShown::InTheAnswer,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Revokes one of the caller's tokens.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens",
    params(("id" = i64, Path, description = "token id")),
    responses((status = 204), (status = 404, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn revoke(
    State(service): State<Arc<dyn TokenService>>,
    Extension(ctx): Extension<RequestContext>,
    IdPath(id): IdPath,
) -> ApiResult<StatusCode> {
    let who = authorize::<rights::ManageOwnTokens>(ctx.principal.as_ref())?;
    service.revoke_token(who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
