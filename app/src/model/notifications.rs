//! Notifications, routed as Proxmox VE 8.1 does: the outbox's notices go
//! through matchers (event kinds, severity, department) to targets: mail
//! (the appliance's SMTP server, to the people concerned, each filtered
//! by their own preferences) and webhooks (Standard Webhooks, signed).

use serde::{Deserialize, Serialize};

use super::NoticeKind;
use super::states::text_enum;

text_enum! {
    /// How much a notice calls for attention; matchers pick a minimum.
    pub enum Severity {
        /// Something went as planned.
        Info = "info",
        /// Something needs doing soon.
        Warning = "warning",
        /// Something broke.
        Error = "error",
    }
}

impl Severity {
    fn rank(self) -> u8 {
        match self {
            Severity::Info => 0,
            Severity::Warning => 1,
            Severity::Error => 2,
        }
    }

    /// Whether a notice of this severity passes a matcher asking for at
    /// least `minimum`.
    pub fn reaches(self, minimum: Severity) -> bool {
        self.rank() >= minimum.rank()
    }
}

impl NoticeKind {
    pub fn severity(self) -> Severity {
        match self {
            NoticeKind::DeploySucceeded
            | NoticeKind::LeaseExpiresIn7Days
            | NoticeKind::ApprovalDecided => Severity::Info,
            // A request waits for someone to act.
            NoticeKind::LeaseExpiresIn1Day
            | NoticeKind::Expired
            | NoticeKind::Deleted
            | NoticeKind::ApprovalRequested => Severity::Warning,
            NoticeKind::DeployFailed | NoticeKind::HostDown | NoticeKind::BackupFailed => {
                Severity::Error
            }
        }
    }

    /// In words, for subjects and the portal's choices.
    pub fn label(self) -> &'static str {
        match self {
            NoticeKind::DeploySucceeded => "Deploy succeeded",
            NoticeKind::DeployFailed => "Deploy failed",
            NoticeKind::LeaseExpiresIn7Days => "Lease ends in 7 days",
            NoticeKind::LeaseExpiresIn1Day => "Lease ends in 1 day",
            NoticeKind::Expired => "Instance expired",
            NoticeKind::Deleted => "Instance deleted",
            NoticeKind::HostDown => "Host down",
            NoticeKind::BackupFailed => "Backup failed",
            NoticeKind::ApprovalRequested => "Approval requested",
            NoticeKind::ApprovalDecided => "Approval decided",
        }
    }
}

text_enum! {
    /// How mail reaches the SMTP server.
    pub enum SmtpSecurity {
        /// Plain at first, then TLS by STARTTLS (port 587); refused if the
        /// server does not offer it.
        Starttls = "starttls",
        /// TLS from the first byte (port 465).
        Tls = "tls",
        /// No encryption: only to a server on this machine (loopback).
        None = "none",
    }
}

/// `PUT /api/v1/notifications/smtp`: the mail server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    /// Host name or address of the SMTP server.
    #[cfg_attr(feature = "ssr", schema(min_length = 1, max_length = 253))]
    pub host: String,
    #[cfg_attr(feature = "ssr", schema(minimum = 1))]
    pub port: u16,
    pub security: SmtpSecurity,
    /// Sign in as; null: no authentication.
    #[cfg_attr(feature = "ssr", schema(max_length = 320))]
    pub username: Option<String>,
    /// Write-only: null keeps the stored one, "" removes it.
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(max_length = 1024))]
    pub password: Option<String>,
    /// The sender, e.g. `dpe@example.org`.
    #[cfg_attr(feature = "ssr", schema(min_length = 3, max_length = 320))]
    pub from: String,
}

/// The mail server as stored; the password is never shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SmtpView {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: Option<String>,
    /// Whether a password is stored.
    pub has_password: bool,
    pub from: String,
}

/// `POST /api/v1/notifications/test`: a test mail with the saved settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NotifyTestRequest {
    /// The address to send it to.
    #[cfg_attr(feature = "ssr", schema(min_length = 3, max_length = 320))]
    pub to: String,
}

/// What a test send did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NotifyTest {
    pub sent: bool,
    /// What the server said, or why it failed.
    pub message: String,
}

/// `POST /api/v1/notifications/webhooks`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WebhookRequest {
    #[cfg_attr(feature = "ssr", schema(min_length = 1, max_length = 64))]
    pub name: String,
    /// `https://…` (`http://` only to this machine).
    #[cfg_attr(feature = "ssr", schema(min_length = 8, max_length = 2048))]
    pub url: String,
    /// Only this department's (and its sub-departments') notices; null:
    /// the whole appliance's.
    pub department_id: Option<i64>,
}

/// A webhook target; its secret is never shown again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct WebhookView {
    pub id: i64,
    pub name: String,
    pub url: String,
    pub department_id: Option<i64>,
    /// Until when (RFC 3339) the secret before the last rotation still
    /// signs too; null: no rotation under way.
    pub old_secret_until: Option<String>,
}

/// A webhook with its secret, shown this once (made or rotated).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct WebhookCreated {
    pub webhook: WebhookView,
    /// `whsec_` and the key in base64: receivers verify the
    /// `webhook-signature` header with it.
    pub secret: String,
}

/// `POST /api/v1/notifications/matchers` and `PUT …/{id}`: which notices
/// go to which targets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MatcherRequest {
    #[cfg_attr(feature = "ssr", schema(min_length = 1, max_length = 64))]
    pub name: String,
    /// The kinds it matches; empty: every kind.
    #[cfg_attr(feature = "ssr", schema(max_items = 32))]
    pub kinds: Vec<NoticeKind>,
    /// The least severity it matches.
    pub min_severity: Severity,
    /// Only this department's (and its sub-departments') notices; null:
    /// every notice.
    pub department_id: Option<i64>,
    /// Mail to the people concerned (owner, department admins up the
    /// tree; appliance admins for notices of no department), each as
    /// their preferences say.
    pub mail: bool,
    /// Webhook targets by id.
    #[cfg_attr(feature = "ssr", schema(max_items = 32))]
    pub webhooks: Vec<i64>,
}

/// A matcher, as saved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct MatcherView {
    pub id: i64,
    pub name: String,
    /// Empty: every kind.
    pub kinds: Vec<NoticeKind>,
    pub min_severity: Severity,
    pub department_id: Option<i64>,
    pub mail: bool,
    pub webhooks: Vec<i64>,
}

impl MatcherView {
    pub fn of(id: i64, m: MatcherRequest) -> MatcherView {
        MatcherView {
            id,
            name: m.name,
            kinds: m.kinds,
            min_severity: m.min_severity,
            department_id: m.department_id,
            mail: m.mail,
            webhooks: m.webhooks,
        }
    }
}

text_enum! {
    /// How a delivery goes out.
    pub enum DeliveryChannel {
        /// By mail, to one person's address.
        Mail = "mail",
        /// To one webhook target.
        Webhook = "webhook",
    }
}

text_enum! {
    /// Where one delivery (a notice to one recipient or webhook) stands.
    pub enum DeliveryState {
        /// Waiting for its (next) attempt.
        Pending = "pending",
        /// Claimed by the worker; if dpe stops now, tried again later
        /// (with the same webhook-id or Message-ID).
        Sending = "sending",
        Sent = "sent",
        /// Given up after its last attempt.
        Failed = "failed",
    }
}

/// `GET /api/v1/notifications/deliveries` query.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
pub struct DeliveryFilter {
    /// Only deliveries in this state (`failed`: those given up).
    #[serde(default)]
    pub state: Option<DeliveryState>,
}

/// One notice to one recipient (a mail address) or one webhook.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DeliveryView {
    pub id: i64,
    pub notice_id: i64,
    pub kind: NoticeKind,
    pub channel: DeliveryChannel,
    /// The mail address or the webhook's URL.
    pub recipient: String,
    pub state: DeliveryState,
    pub attempts: u32,
    /// RFC 3339: the next attempt (pending), or the last change.
    pub at: String,
    pub last_error: Option<String>,
    /// The notice in words.
    pub detail: String,
}

/// `GET/PUT /api/v1/me/notification-preferences`: one's mail address and
/// which notices one gets by mail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MailPreferences {
    /// Null: no mail at all.
    #[cfg_attr(feature = "ssr", schema(max_length = 320))]
    pub email: Option<String>,
    /// The kinds one gets by mail.
    #[cfg_attr(feature = "ssr", schema(max_items = 32))]
    pub kinds: Vec<NoticeKind>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_severity_reaches_its_own_level_and_those_below() {
        assert!(Severity::Error.reaches(Severity::Warning));
        assert!(Severity::Warning.reaches(Severity::Warning));
        assert!(!Severity::Info.reaches(Severity::Warning));
    }
}
