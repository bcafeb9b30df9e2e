//! Server functions of the Notifications settings page (admins) and of
//! the account page's mail preferences. Form fields arrive as text and
//! are read here; the service validates what they mean.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::respond;
use crate::error::AppError;
#[cfg(feature = "ssr")]
use crate::model::{
    DeliveryFilter, MatcherRequest, NotifyTestRequest, Severity, SmtpSecurity, SmtpSettings,
    WebhookRequest,
};
use crate::model::{
    DeliveryView, MailPreferences, MatcherView, NoticeKind, NotifyTest, SmtpView, WebhookCreated,
    WebhookView,
};
#[cfg(feature = "ssr")]
use crate::policy::{authorize, rights};
#[cfg(feature = "ssr")]
use crate::service::{NotificationService, request_context, service};

#[cfg(feature = "ssr")]
async fn caller() -> Result<
    (
        crate::service::RequestContext,
        std::sync::Arc<dyn NotificationService>,
    ),
    AppError,
> {
    Ok((
        request_context().await?,
        service::<dyn NotificationService>()?,
    ))
}

/// A department select's value: empty for none.
#[cfg(feature = "ssr")]
fn department(text: &str) -> Result<Option<i64>, AppError> {
    match text.trim() {
        "" => Ok(None),
        id => id
            .parse()
            .map(Some)
            .map_err(|_| AppError::invalid("department_id", "choose a department")),
    }
}

#[server(prefix = "/fn", endpoint = "notification_smtp")]
pub async fn get_smtp() -> Result<Option<SmtpView>, AppError> {
    respond(
        async move {
            let (ctx, service) = caller().await?;
            let who = authorize::<rights::ManageNotifications>(ctx.principal.as_ref())?;
            service.smtp(who).await
        }
        .await,
    )
}

/// The mail server form; an empty password keeps the stored one.
#[server(prefix = "/fn", endpoint = "save_smtp")]
pub async fn save_smtp(
    host: String,
    port: String,
    security: String,
    #[server(default)] username: String,
    #[server(default)] password: String,
    from: String,
) -> Result<SmtpView, AppError> {
    respond(
        async move {
            let (ctx, service) = caller().await?;
            let who = authorize::<rights::ManageNotifications>(ctx.principal.as_ref())?;
            let port = port
                .trim()
                .parse()
                .map_err(|_| AppError::invalid("port", "a port from 1 to 65535"))?;
            let security: SmtpSecurity = security
                .parse()
                .map_err(|_| AppError::invalid("security", "choose how to connect"))?;
            let username = Some(username).filter(|u| !u.trim().is_empty());
            let password = Some(password).filter(|p| !p.is_empty());
            let settings = SmtpSettings {
                host,
                port,
                security,
                username,
                password,
                from,
            };
            service.set_smtp(who, settings).await
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "send_test_mail")]
pub async fn send_test_mail(to: String) -> Result<NotifyTest, AppError> {
    respond(
        async move {
            let (ctx, service) = caller().await?;
            let who = authorize::<rights::ManageNotifications>(ctx.principal.as_ref())?;
            service.test_smtp(who, NotifyTestRequest { to }).await
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "notification_webhooks")]
pub async fn get_webhooks() -> Result<Vec<WebhookView>, AppError> {
    respond(
        async move {
            let (ctx, service) = caller().await?;
            let who = authorize::<rights::ManageNotifications>(ctx.principal.as_ref())?;
            service.webhooks(who).await
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "create_webhook")]
pub async fn create_webhook(
    name: String,
    url: String,
    #[server(default)] department_id: String,
) -> Result<WebhookCreated, AppError> {
    respond(
        async move {
            let (ctx, service) = caller().await?;
            let who = authorize::<rights::ManageNotifications>(ctx.principal.as_ref())?;
            let request = WebhookRequest {
                name,
                url,
                department_id: department(&department_id)?,
            };
            service.create_webhook(who, request).await
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "rotate_webhook")]
pub async fn rotate_webhook(id: i64) -> Result<WebhookCreated, AppError> {
    respond(
        async move {
            let (ctx, service) = caller().await?;
            let who = authorize::<rights::ManageNotifications>(ctx.principal.as_ref())?;
            service.rotate_webhook_secret(who, id).await
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "delete_webhook")]
pub async fn delete_webhook(id: i64) -> Result<(), AppError> {
    respond(
        async move {
            let (ctx, service) = caller().await?;
            let who = authorize::<rights::ManageNotifications>(ctx.principal.as_ref())?;
            service.delete_webhook(who, id).await
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "notification_matchers")]
pub async fn get_matchers() -> Result<Vec<MatcherView>, AppError> {
    respond(
        async move {
            let (ctx, service) = caller().await?;
            let who = authorize::<rights::ManageNotifications>(ctx.principal.as_ref())?;
            service.matchers(who).await
        }
        .await,
    )
}

/// The new matcher form: `kinds[N]` and `webhooks[N]` are its checked
/// boxes (none checked: every kind, no webhook).
#[server(prefix = "/fn", endpoint = "add_matcher")]
pub async fn add_matcher(
    name: String,
    #[server(default)] kinds: Vec<NoticeKind>,
    min_severity: String,
    #[server(default)] department_id: String,
    #[server(default)] mail: Option<String>,
    #[server(default)] webhooks: Vec<i64>,
) -> Result<MatcherView, AppError> {
    respond(
        async move {
            let (ctx, service) = caller().await?;
            let who = authorize::<rights::ManageNotifications>(ctx.principal.as_ref())?;
            let min_severity: Severity = min_severity
                .parse()
                .map_err(|_| AppError::invalid("min_severity", "choose a severity"))?;
            let request = MatcherRequest {
                name,
                kinds,
                min_severity,
                department_id: department(&department_id)?,
                mail: mail.is_some(),
                webhooks,
            };
            service.save_matcher(who, None, request).await
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "delete_matcher")]
pub async fn delete_matcher(id: i64) -> Result<(), AppError> {
    respond(
        async move {
            let (ctx, service) = caller().await?;
            let who = authorize::<rights::ManageNotifications>(ctx.principal.as_ref())?;
            service.delete_matcher(who, id).await
        }
        .await,
    )
}

/// The latest deliveries; `failed_only`: those given up.
#[server(prefix = "/fn", endpoint = "notification_deliveries")]
pub async fn get_deliveries(failed_only: bool) -> Result<Vec<DeliveryView>, AppError> {
    respond(
        async move {
            let (ctx, service) = caller().await?;
            let who = authorize::<rights::ManageNotifications>(ctx.principal.as_ref())?;
            let filter = DeliveryFilter {
                state: failed_only.then_some(crate::model::DeliveryState::Failed),
            };
            service.deliveries(who, filter.state).await
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "mail_preferences")]
pub async fn get_mail_preferences() -> Result<MailPreferences, AppError> {
    respond(
        async move {
            let (ctx, service) = caller().await?;
            let who = authorize::<rights::ManageOwnNotifications>(ctx.principal.as_ref())?;
            service.mail_preferences(who).await
        }
        .await,
    )
}

/// The account page's form: the address (empty: no mail) and the
/// checked kinds (`kinds[N]`).
#[server(prefix = "/fn", endpoint = "save_mail_preferences")]
pub async fn save_mail_preferences(
    #[server(default)] email: String,
    #[server(default)] kinds: Vec<NoticeKind>,
) -> Result<MailPreferences, AppError> {
    respond(
        async move {
            let (ctx, service) = caller().await?;
            let who = authorize::<rights::ManageOwnNotifications>(ctx.principal.as_ref())?;
            let email = Some(email).filter(|e| !e.trim().is_empty());
            service
                .set_mail_preferences(who, MailPreferences { email, kinds })
                .await
        }
        .await,
    )
}
