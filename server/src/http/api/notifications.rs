//! Notifications: the mail server and its test, webhook targets, the
//! matchers that route notices to them, the deliveries (failures among
//! them), and each person's own mail preferences.

use std::sync::Arc;

use app::error::AppError;
use app::model::{
    DeliveryFilter, DeliveryView, MailPreferences, MatcherRequest, MatcherView, NotifyTest,
    NotifyTestRequest, SmtpSettings, SmtpView, WebhookCreated, WebhookRequest, WebhookView,
};
use app::policy::{authorize, rights};
use app::service::{NotificationService, RequestContext};
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};

use super::{ApiJson, ApiQuery, ApiResult, IdPath};

type Service = State<Arc<dyn NotificationService>>;

/// The mail server notifications go through (admins); 404 until one is
/// set. The password is never shown.
#[utoipa::path(get, path = "/api/v1/notifications/smtp", tag = "notifications",
    responses((status = 200, body = SmtpView), (status = 403, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody, description = "No mail server is set up")),
    security(("session" = []), ("bearer" = [])))]
pub async fn smtp(
    State(service): Service,
    Extension(ctx): Extension<RequestContext>,
) -> ApiResult<Json<SmtpView>> {
    let who = authorize::<rights::ManageNotifications>(ctx.principal.as_ref())?;
    let view = service.smtp(who).await?;
    Ok(Json(
        view.ok_or_else(|| AppError::NotFound("mail server".into()))?,
    ))
}

/// Sets the mail server (admins): STARTTLS or TLS, or none to a server on
/// this machine only. A null password keeps the stored one, "" removes it.
#[utoipa::path(put, path = "/api/v1/notifications/smtp", tag = "notifications",
    request_body = SmtpSettings,
    responses((status = 200, body = SmtpView), (status = 403, body = super::ErrorBody),
        (status = 422, body = super::ErrorBody, description = "A bad address, or a server the rules do not allow")),
    security(("session" = []), ("bearer" = [])))]
pub async fn set_smtp(
    State(service): Service,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(body): ApiJson<SmtpSettings>,
) -> ApiResult<Json<SmtpView>> {
    let who = authorize::<rights::ManageNotifications>(ctx.principal.as_ref())?;
    Ok(Json(service.set_smtp(who, body).await?))
}

/// Sends a test mail with the saved settings (admins) and says how it
/// went: a failure to send is `"sent": false` with the reason.
#[utoipa::path(post, path = "/api/v1/notifications/test", tag = "notifications",
    request_body = NotifyTestRequest,
    responses((status = 200, body = NotifyTest), (status = 403, body = super::ErrorBody),
        (status = 409, body = super::ErrorBody, description = "No mail server is set up"),
        (status = 422, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn test(
    State(service): Service,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(body): ApiJson<NotifyTestRequest>,
) -> ApiResult<Json<NotifyTest>> {
    let who = authorize::<rights::ManageNotifications>(ctx.principal.as_ref())?;
    Ok(Json(service.test_smtp(who, body).await?))
}

/// The webhook targets (admins); their secrets are never shown again.
#[utoipa::path(get, path = "/api/v1/notifications/webhooks", tag = "notifications",
    responses((status = 200, body = Vec<WebhookView>), (status = 403, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn webhooks(
    State(service): Service,
    Extension(ctx): Extension<RequestContext>,
) -> ApiResult<Json<Vec<WebhookView>>> {
    let who = authorize::<rights::ManageNotifications>(ctx.principal.as_ref())?;
    Ok(Json(service.webhooks(who).await?))
}

/// Adds a webhook target (admins); the answer holds its `whsec_` secret,
/// shown this once.
#[utoipa::path(post, path = "/api/v1/notifications/webhooks", tag = "notifications",
    request_body = WebhookRequest,
    responses((status = 201, body = WebhookCreated), (status = 403, body = super::ErrorBody),
        (status = 409, body = super::ErrorBody, description = "The name is taken"),
        (status = 422, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn create_webhook(
    State(service): Service,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(body): ApiJson<WebhookRequest>,
) -> ApiResult<(StatusCode, Json<WebhookCreated>)> {
    let who = authorize::<rights::ManageNotifications>(ctx.principal.as_ref())?;
    Ok((
        StatusCode::CREATED,
        Json(service.create_webhook(who, body).await?),
    ))
}

/// A new secret for the webhook (admins), shown this once; the old one
/// keeps signing beside it for a day.
#[utoipa::path(post, path = "/api/v1/notifications/webhooks/{id}/rotate", tag = "notifications",
    params(("id" = i64, Path)),
    responses((status = 200, body = WebhookCreated), (status = 403, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn rotate_webhook(
    State(service): Service,
    Extension(ctx): Extension<RequestContext>,
    IdPath(id): IdPath,
) -> ApiResult<Json<WebhookCreated>> {
    let who = authorize::<rights::ManageNotifications>(ctx.principal.as_ref())?;
    Ok(Json(service.rotate_webhook_secret(who, id).await?))
}

/// Removes a webhook target and what it had still to deliver (admins).
#[utoipa::path(delete, path = "/api/v1/notifications/webhooks/{id}", tag = "notifications",
    params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn delete_webhook(
    State(service): Service,
    Extension(ctx): Extension<RequestContext>,
    IdPath(id): IdPath,
) -> ApiResult<StatusCode> {
    let who = authorize::<rights::ManageNotifications>(ctx.principal.as_ref())?;
    service.delete_webhook(who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The matchers: which notices go to which targets (admins).
#[utoipa::path(get, path = "/api/v1/notifications/matchers", tag = "notifications",
    responses((status = 200, body = Vec<MatcherView>), (status = 403, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn matchers(
    State(service): Service,
    Extension(ctx): Extension<RequestContext>,
) -> ApiResult<Json<Vec<MatcherView>>> {
    let who = authorize::<rights::ManageNotifications>(ctx.principal.as_ref())?;
    Ok(Json(service.matchers(who).await?))
}

/// Adds a matcher (admins).
#[utoipa::path(post, path = "/api/v1/notifications/matchers", tag = "notifications",
    request_body = MatcherRequest,
    responses((status = 201, body = MatcherView), (status = 403, body = super::ErrorBody),
        (status = 409, body = super::ErrorBody, description = "The name is taken"),
        (status = 422, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn create_matcher(
    State(service): Service,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(body): ApiJson<MatcherRequest>,
) -> ApiResult<(StatusCode, Json<MatcherView>)> {
    let who = authorize::<rights::ManageNotifications>(ctx.principal.as_ref())?;
    Ok((
        StatusCode::CREATED,
        Json(service.save_matcher(who, None, body).await?),
    ))
}

/// Replaces a matcher (admins).
#[utoipa::path(put, path = "/api/v1/notifications/matchers/{id}", tag = "notifications",
    params(("id" = i64, Path)), request_body = MatcherRequest,
    responses((status = 200, body = MatcherView), (status = 403, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody),
        (status = 409, body = super::ErrorBody, description = "The name is taken"),
        (status = 422, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn update_matcher(
    State(service): Service,
    Extension(ctx): Extension<RequestContext>,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<MatcherRequest>,
) -> ApiResult<Json<MatcherView>> {
    let who = authorize::<rights::ManageNotifications>(ctx.principal.as_ref())?;
    Ok(Json(service.save_matcher(who, Some(id), body).await?))
}

/// Removes a matcher (admins).
#[utoipa::path(delete, path = "/api/v1/notifications/matchers/{id}", tag = "notifications",
    params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn delete_matcher(
    State(service): Service,
    Extension(ctx): Extension<RequestContext>,
    IdPath(id): IdPath,
) -> ApiResult<StatusCode> {
    let who = authorize::<rights::ManageNotifications>(ctx.principal.as_ref())?;
    service.delete_matcher(who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The latest deliveries, newest first, at most 200 (admins): with
/// `state=failed`, those given up after their last attempt.
#[utoipa::path(get, path = "/api/v1/notifications/deliveries", tag = "notifications",
    params(DeliveryFilter),
    responses((status = 200, body = Vec<DeliveryView>), (status = 403, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn deliveries(
    State(service): Service,
    Extension(ctx): Extension<RequestContext>,
    ApiQuery(filter): ApiQuery<DeliveryFilter>,
) -> ApiResult<Json<Vec<DeliveryView>>> {
    let who = authorize::<rights::ManageNotifications>(ctx.principal.as_ref())?;
    Ok(Json(service.deliveries(who, filter.state).await?))
}

/// The caller's mail address and the notices they get by mail.
#[utoipa::path(get, path = "/api/v1/me/notification-preferences", tag = "notifications",
    responses((status = 200, body = MailPreferences)),
    security(("session" = []), ("bearer" = [])))]
pub async fn preferences(
    State(service): Service,
    Extension(ctx): Extension<RequestContext>,
) -> ApiResult<Json<MailPreferences>> {
    let who = authorize::<rights::ManageOwnNotifications>(ctx.principal.as_ref())?;
    Ok(Json(service.mail_preferences(who).await?))
}

/// Sets the caller's mail address (null: no mail) and the notices they
/// get by mail.
#[utoipa::path(put, path = "/api/v1/me/notification-preferences", tag = "notifications",
    request_body = MailPreferences,
    responses((status = 200, body = MailPreferences), (status = 422, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn set_preferences(
    State(service): Service,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(body): ApiJson<MailPreferences>,
) -> ApiResult<Json<MailPreferences>> {
    let who = authorize::<rights::ManageOwnNotifications>(ctx.principal.as_ref())?;
    Ok(Json(service.set_mail_preferences(who, body).await?))
}
