//! Notifications: the mail server (its password sealed, never shown),
//! webhook targets (their `whsec_` secrets made here, shown once,
//! rotated with the old one kept signing for a day), matchers, the
//! deliveries admins watch for failures, and each person's own mail
//! address and choice of notices. Delivery itself is `notify/`'s.

use app::error::AppError;
use app::model::{
    DeliveryState, DeliveryView, MailPreferences, MatcherRequest, MatcherView, NoticeKind,
    NotifyTest, NotifyTestRequest, SmtpSecurity, SmtpSettings, SmtpView, WebhookCreated,
    WebhookRequest, WebhookView,
};
use app::policy::{Authorized, rights};
use app::service::NotificationService;
use async_trait::async_trait;

use super::Appliance;
use super::errors::{internal, store_err};
use crate::clock::rfc3339;
use crate::notify::reach::{self, Encrypted};
use crate::notify::{NotifyError, mail, webhook};
use crate::store::audit::Audit;
use crate::store::notify::{self, SMTP_PASSWORD, SmtpConfig, WEBHOOK_SECRET, WebhookRow};

/// How long the secret before a rotation keeps signing.
const ROTATION_OVERLAP: i64 = 86_400;
/// Deliveries listed at most.
const LISTED: i64 = 200;

fn smtp_view(c: SmtpConfig) -> SmtpView {
    SmtpView {
        host: c.host,
        port: c.port,
        security: c.security,
        username: c.username,
        has_password: c.password_sealed.is_some(),
        from: c.from,
    }
}

fn webhook_view(w: WebhookRow) -> WebhookView {
    WebhookView {
        id: w.id,
        name: w.name,
        url: w.url,
        department_id: w.department_id,
        old_secret_until: w.old_secret_until.map(rfc3339),
    }
}

/// A rule of `reach` broken by a setting: said about its field.
fn reach_err(field: &str, e: NotifyError) -> AppError {
    AppError::invalid(field, crate::error_chain(&e))
}

fn name_ok(field: &str, name: &str) -> Result<String, AppError> {
    let name = name.trim();
    if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
        return Err(AppError::invalid(
            field,
            "1 to 64 characters, no control characters",
        ));
    }
    Ok(name.to_owned())
}

impl Appliance {
    async fn department_ok(&self, field: &str, id: Option<i64>) -> Result<(), AppError> {
        if let Some(id) = id {
            self.existing_department(field, id).await?;
        }
        Ok(())
    }

    async fn sealed(&self, plain: &str, context: &'static str) -> Result<String, AppError> {
        self.secrets.seal(plain, context).map_err(|e| internal(&e))
    }
}

#[async_trait]
impl NotificationService for Appliance {
    async fn smtp(
        &self,
        _who: Authorized<'_, rights::ManageNotifications>,
    ) -> Result<Option<SmtpView>, AppError> {
        let config = self.store.read(notify::smtp).await.map_err(store_err)?;
        Ok(config.map(smtp_view))
    }

    async fn set_smtp(
        &self,
        who: Authorized<'_, rights::ManageNotifications>,
        settings: SmtpSettings,
    ) -> Result<SmtpView, AppError> {
        let host = settings.host.trim().to_owned();
        if host.is_empty() || host.len() > 253 || host.contains(char::is_whitespace) {
            return Err(AppError::invalid("host", "a host name or address"));
        }
        if settings.port == 0 {
            return Err(AppError::invalid("port", "a port from 1 to 65535"));
        }
        let from = mail::address(&settings.from)
            .map_err(|_| AppError::invalid("from", "a mail address, such as dpe@example.org"))?;
        let encrypted = match settings.security {
            SmtpSecurity::Starttls | SmtpSecurity::Tls => Encrypted::Yes,
            SmtpSecurity::None => Encrypted::No,
        };
        reach::check(
            &host,
            settings.port,
            encrypted,
            self.config.notify_loopback_only,
        )
        .await
        .map_err(|e| reach_err("host", e))?;
        let username = settings
            .username
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty());
        if username.as_ref().is_some_and(|u| u.len() > 320) {
            return Err(AppError::invalid("username", "at most 320 characters"));
        }
        let old = self.store.read(notify::smtp).await.map_err(store_err)?;
        let password_sealed = match settings.password.as_deref() {
            None => old.and_then(|o| o.password_sealed),
            Some("") => None,
            Some(p) if p.len() > 1024 => {
                return Err(AppError::invalid("password", "at most 1024 characters"));
            }
            Some(p) => Some(self.sealed(p, SMTP_PASSWORD).await?),
        };
        let config = SmtpConfig {
            host,
            port: settings.port,
            security: settings.security,
            username,
            password_sealed,
            from: from.to_string(),
        };
        let stored = config.clone();
        self.store
            .write(move |tx| notify::set_smtp(tx, &stored))
            .await
            .map_err(store_err)?;
        let record = Audit::by(who.principal())
            .action("notifications.smtp")
            .object(format!("mail server {}:{}", config.host, config.port))
            .detail(format!("security {}", config.security))
            .ok();
        self.audit(record).await;
        Ok(smtp_view(config))
    }

    async fn test_smtp(
        &self,
        who: Authorized<'_, rights::ManageNotifications>,
        request: NotifyTestRequest,
    ) -> Result<NotifyTest, AppError> {
        let to = mail::address(&request.to)
            .map_err(|_| AppError::invalid("to", "a mail address, such as you@example.org"))?;
        let config = self
            .store
            .read(notify::smtp)
            .await
            .map_err(store_err)?
            .ok_or_else(|| AppError::Conflict("no mail server is set up yet".into()))?;
        let password = match &config.password_sealed {
            Some(sealed) => Some(
                self.secrets
                    .open(sealed, SMTP_PASSWORD)
                    .map_err(|e| internal(&e))?,
            ),
            None => None,
        };
        let test = mail::Mail {
            to: to.to_string(),
            subject: "dpe: test mail".into(),
            text: "This is a test mail from dpe's notification settings.\n".into(),
            message_id: format!("<dpe.test.{}@{}>", uuid::Uuid::new_v4(), to.domain()),
        };
        let outcome = mail::send(&config, password, test, self.config.notify_loopback_only).await;
        let result = match outcome {
            Ok(said) => NotifyTest {
                sent: true,
                message: format!("Sent to {to}. The server said: {said}"),
            },
            Err(e) => NotifyTest {
                sent: false,
                message: crate::error_chain(&e),
            },
        };
        let record = Audit::by(who.principal())
            .action("notifications.test")
            .object(format!("mail to {to}"))
            .detail(result.message.clone());
        self.audit(if result.sent {
            record.ok()
        } else {
            record.failed()
        })
        .await;
        Ok(result)
    }

    async fn webhooks(
        &self,
        _who: Authorized<'_, rights::ManageNotifications>,
    ) -> Result<Vec<WebhookView>, AppError> {
        let rows = self.store.read(notify::webhooks).await.map_err(store_err)?;
        Ok(rows.into_iter().map(webhook_view).collect())
    }

    async fn create_webhook(
        &self,
        who: Authorized<'_, rights::ManageNotifications>,
        request: WebhookRequest,
    ) -> Result<WebhookCreated, AppError> {
        let name = name_ok("name", &request.name)?;
        let url = request.url.trim().to_owned();
        if url.len() > 2048 {
            return Err(AppError::invalid("url", "at most 2048 characters"));
        }
        webhook::check_url(&url, self.config.notify_loopback_only)
            .await
            .map_err(|e| reach_err("url", e))?;
        self.department_ok("department_id", request.department_id)
            .await?;
        let secret = webhook::new_secret();
        let sealed = self.sealed(&secret, WEBHOOK_SECRET).await?;
        let now = self.engine.now();
        let (n, u, d) = (name.clone(), url.clone(), request.department_id);
        let id = self
            .store
            .write(move |tx| notify::insert_webhook(tx, &n, &u, d, &sealed, now))
            .await
            .map_err(store_err)?;
        let record = Audit::by(who.principal())
            .action("notifications.webhook.create")
            .object(format!("webhook {name}"))
            .department(request.department_id)
            .detail(url.clone())
            .ok();
        self.audit(record).await;
        Ok(WebhookCreated {
            webhook: WebhookView {
                id,
                name,
                url,
                department_id: request.department_id,
                old_secret_until: None,
            },
            secret,
        })
    }

    async fn rotate_webhook_secret(
        &self,
        who: Authorized<'_, rights::ManageNotifications>,
        id: i64,
    ) -> Result<WebhookCreated, AppError> {
        let secret = webhook::new_secret();
        let sealed = self.sealed(&secret, WEBHOOK_SECRET).await?;
        let until = self.engine.now() + ROTATION_OVERLAP;
        let row = self
            .store
            .write(move |tx| {
                if notify::rotate_webhook(tx, id, &sealed, until)? {
                    notify::webhook(tx, id)
                } else {
                    Ok(None)
                }
            })
            .await
            .map_err(store_err)?
            .ok_or_else(|| AppError::NotFound("webhook".into()))?;
        let record = Audit::by(who.principal())
            .action("notifications.webhook.rotate")
            .object(format!("webhook {}", row.name))
            .department(row.department_id)
            .detail("new secret; the old one signs too for a day")
            .ok();
        self.audit(record).await;
        Ok(WebhookCreated {
            webhook: webhook_view(row),
            secret,
        })
    }

    async fn delete_webhook(
        &self,
        who: Authorized<'_, rights::ManageNotifications>,
        id: i64,
    ) -> Result<(), AppError> {
        let row = self
            .store
            .write(move |tx| {
                let row = notify::webhook(tx, id)?;
                notify::delete_webhook(tx, id)?;
                Ok(row)
            })
            .await
            .map_err(store_err)?
            .ok_or_else(|| AppError::NotFound("webhook".into()))?;
        let record = Audit::by(who.principal())
            .action("notifications.webhook.delete")
            .object(format!("webhook {}", row.name))
            .department(row.department_id)
            .ok();
        self.audit(record).await;
        Ok(())
    }

    async fn matchers(
        &self,
        _who: Authorized<'_, rights::ManageNotifications>,
    ) -> Result<Vec<MatcherView>, AppError> {
        self.store.read(notify::matchers).await.map_err(store_err)
    }

    async fn save_matcher(
        &self,
        who: Authorized<'_, rights::ManageNotifications>,
        id: Option<i64>,
        mut request: MatcherRequest,
    ) -> Result<MatcherView, AppError> {
        request.name = name_ok("name", &request.name)?;
        request.kinds.sort_by_key(|k| k.as_str());
        request.kinds.dedup();
        request.webhooks.sort_unstable();
        request.webhooks.dedup();
        if request.kinds.len() > 32 || request.webhooks.len() > 32 {
            return Err(AppError::invalid("webhooks", "at most 32 webhooks"));
        }
        self.department_ok("department_id", request.department_id)
            .await?;
        let hooks = self.store.read(notify::webhooks).await.map_err(store_err)?;
        if let Some(missing) = request
            .webhooks
            .iter()
            .find(|w| !hooks.iter().any(|h| h.id == **w))
        {
            return Err(AppError::invalid(
                "webhooks",
                format!("there is no webhook #{missing}"),
            ));
        }
        let saved = request.clone();
        let id = self
            .store
            .write(move |tx| notify::save_matcher(tx, id, &saved))
            .await
            .map_err(store_err)?
            .ok_or_else(|| AppError::NotFound("matcher".into()))?;
        let record = Audit::by(who.principal())
            .action("notifications.matcher.save")
            .object(format!("matcher {}", request.name))
            .department(request.department_id)
            .ok();
        self.audit(record).await;
        Ok(MatcherView::of(id, request))
    }

    async fn delete_matcher(
        &self,
        who: Authorized<'_, rights::ManageNotifications>,
        id: i64,
    ) -> Result<(), AppError> {
        let row = self
            .store
            .write(move |tx| {
                let row = notify::matcher(tx, id)?;
                notify::delete_matcher(tx, id)?;
                Ok(row)
            })
            .await
            .map_err(store_err)?
            .ok_or_else(|| AppError::NotFound("matcher".into()))?;
        let record = Audit::by(who.principal())
            .action("notifications.matcher.delete")
            .object(format!("matcher {}", row.name))
            .ok();
        self.audit(record).await;
        Ok(())
    }

    async fn deliveries(
        &self,
        _who: Authorized<'_, rights::ManageNotifications>,
        state: Option<DeliveryState>,
    ) -> Result<Vec<DeliveryView>, AppError> {
        let rows = self
            .store
            .read(move |c| notify::deliveries(c, state, LISTED))
            .await
            .map_err(store_err)?;
        Ok(rows
            .into_iter()
            .map(|d| DeliveryView {
                id: d.id,
                notice_id: d.notice_id,
                kind: d.kind,
                channel: d.channel,
                recipient: d.recipient,
                state: d.state,
                attempts: d.attempts,
                at: rfc3339(match d.state {
                    DeliveryState::Pending | DeliveryState::Sending => d.next_attempt_at,
                    DeliveryState::Sent | DeliveryState::Failed => d.updated_at,
                }),
                last_error: d.last_error,
                detail: d.detail,
            })
            .collect())
    }

    async fn mail_preferences(
        &self,
        who: Authorized<'_, rights::ManageOwnNotifications>,
    ) -> Result<MailPreferences, AppError> {
        let id = who.principal().user_id;
        let prefs = self
            .store
            .read(move |c| notify::mail_prefs(c, id))
            .await
            .map_err(store_err)?
            .ok_or(AppError::Unauthenticated)?;
        Ok(MailPreferences {
            email: prefs.email,
            kinds: prefs.kinds.unwrap_or_else(|| NoticeKind::ALL.to_vec()),
        })
    }

    async fn set_mail_preferences(
        &self,
        who: Authorized<'_, rights::ManageOwnNotifications>,
        mut preferences: MailPreferences,
    ) -> Result<MailPreferences, AppError> {
        let email = match preferences.email.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(
                mail::address(text)
                    .map_err(|_| {
                        AppError::invalid("email", "a mail address, such as you@example.org")
                    })?
                    .to_string(),
            ),
        };
        preferences.kinds.sort_by_key(|k| k.as_str());
        preferences.kinds.dedup();
        let id = who.principal().user_id;
        let (e, kinds) = (email.clone(), preferences.kinds.clone());
        self.store
            .write(move |tx| notify::set_mail_prefs(tx, id, e.as_deref(), &kinds))
            .await
            .map_err(store_err)?;
        let record = Audit::by(who.principal())
            .action("account.notifications")
            .object(format!("account {}", who.principal().username))
            .detail(format!(
                "mail {}; kinds: {}",
                if email.is_some() { "on" } else { "off" },
                preferences
                    .kinds
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .ok();
        self.audit(record).await;
        Ok(MailPreferences {
            email,
            kinds: preferences.kinds,
        })
    }
}
