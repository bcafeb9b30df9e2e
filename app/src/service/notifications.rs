//! Notifications: the mail server, webhook targets, the matchers that
//! route notices to them, what was delivered, and each person's own mail
//! preferences.

use async_trait::async_trait;

use crate::error::AppError;
use crate::model::{
    DeliveryState, DeliveryView, MailPreferences, MatcherRequest, MatcherView, NotifyTest,
    NotifyTestRequest, SmtpSettings, SmtpView, WebhookCreated, WebhookRequest, WebhookView,
};
use crate::policy::{Authorized, rights};

#[async_trait]
pub trait NotificationService: Send + Sync + 'static {
    /// The mail server; None until one is set.
    async fn smtp(
        &self,
        who: Authorized<'_, rights::ManageNotifications>,
    ) -> Result<Option<SmtpView>, AppError>;
    /// Sets the mail server (a null password keeps the stored one).
    /// Audited, without the password.
    async fn set_smtp(
        &self,
        who: Authorized<'_, rights::ManageNotifications>,
        settings: SmtpSettings,
    ) -> Result<SmtpView, AppError>;
    /// Sends a test mail with the saved settings, and says what happened.
    /// Audited.
    async fn test_smtp(
        &self,
        who: Authorized<'_, rights::ManageNotifications>,
        request: NotifyTestRequest,
    ) -> Result<NotifyTest, AppError>;
    async fn webhooks(
        &self,
        who: Authorized<'_, rights::ManageNotifications>,
    ) -> Result<Vec<WebhookView>, AppError>;
    /// A new webhook target, with its secret shown this once. Audited.
    async fn create_webhook(
        &self,
        who: Authorized<'_, rights::ManageNotifications>,
        request: WebhookRequest,
    ) -> Result<WebhookCreated, AppError>;
    /// A new secret, shown this once; the old one keeps signing beside it
    /// for a day, so receivers can switch without losing a message.
    /// Audited.
    async fn rotate_webhook_secret(
        &self,
        who: Authorized<'_, rights::ManageNotifications>,
        id: i64,
    ) -> Result<WebhookCreated, AppError>;
    /// Removes a webhook target and its pending deliveries. Audited.
    async fn delete_webhook(
        &self,
        who: Authorized<'_, rights::ManageNotifications>,
        id: i64,
    ) -> Result<(), AppError>;
    async fn matchers(
        &self,
        who: Authorized<'_, rights::ManageNotifications>,
    ) -> Result<Vec<MatcherView>, AppError>;
    /// Adds (None) or replaces a matcher. Audited.
    async fn save_matcher(
        &self,
        who: Authorized<'_, rights::ManageNotifications>,
        id: Option<i64>,
        request: MatcherRequest,
    ) -> Result<MatcherView, AppError>;
    async fn delete_matcher(
        &self,
        who: Authorized<'_, rights::ManageNotifications>,
        id: i64,
    ) -> Result<(), AppError>;
    /// The latest deliveries (newest first), of one state if given.
    async fn deliveries(
        &self,
        who: Authorized<'_, rights::ManageNotifications>,
        state: Option<DeliveryState>,
    ) -> Result<Vec<DeliveryView>, AppError>;
    /// The caller's mail address and the kinds they get by mail.
    async fn mail_preferences(
        &self,
        who: Authorized<'_, rights::ManageOwnNotifications>,
    ) -> Result<MailPreferences, AppError>;
    /// Sets them. Audited.
    async fn set_mail_preferences(
        &self,
        who: Authorized<'_, rights::ManageOwnNotifications>,
        preferences: MailPreferences,
    ) -> Result<MailPreferences, AppError>;
}
