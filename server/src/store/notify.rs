//! Notifications: the mail server's settings, webhook targets, matchers,
//! each person's mail preferences, and the deliveries the outbox's
//! notices turn into (one per recipient or webhook), with their attempts.

use app::model::{
    DeliveryChannel, DeliveryState, MatcherRequest, MatcherView, NoticeKind, SmtpSecurity,
};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use super::StoreError;
use super::outbox::NoticeRow;
use super::settings;
use super::states::text_column;

/// The settings key of [`SmtpConfig`].
const SMTP: &str = "smtp";

/// The mail server, as kept (the password sealed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: Option<String>,
    /// Sealed by `auth::secret_box` (context [`SMTP_PASSWORD`]).
    pub password_sealed: Option<String>,
    pub from: String,
}

/// What the SMTP password is sealed for.
pub const SMTP_PASSWORD: &str = "smtp password";
/// What webhook secrets are sealed for.
pub const WEBHOOK_SECRET: &str = "webhook secret";

pub fn smtp(conn: &Connection) -> Result<Option<SmtpConfig>, StoreError> {
    match settings::get(conn, SMTP)? {
        None => Ok(None),
        Some(json) => serde_json::from_str(&json)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("setting {SMTP}: {e}"))),
    }
}

pub fn set_smtp(conn: &Connection, config: &SmtpConfig) -> Result<(), StoreError> {
    let json = serde_json::to_string(config)
        .map_err(|e| StoreError::Corrupt(format!("setting {SMTP}: {e}")))?;
    settings::set(conn, SMTP, &json)
}

/// A webhook target; its secrets sealed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookRow {
    pub id: i64,
    pub name: String,
    pub url: String,
    pub department_id: Option<i64>,
    pub secret: String,
    pub old_secret: Option<String>,
    pub old_secret_until: Option<i64>,
}

const WEBHOOK: &str = "SELECT id, name, url, department_id, secret, old_secret, old_secret_until
    FROM webhooks";

fn webhook_row(r: &Row<'_>) -> rusqlite::Result<WebhookRow> {
    Ok(WebhookRow {
        id: r.get(0)?,
        name: r.get(1)?,
        url: r.get(2)?,
        department_id: r.get(3)?,
        secret: r.get(4)?,
        old_secret: r.get(5)?,
        old_secret_until: r.get(6)?,
    })
}

pub fn webhooks(conn: &Connection) -> Result<Vec<WebhookRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("{WEBHOOK} ORDER BY name"))?;
    let rows = stmt.query_map([], webhook_row)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

pub fn webhook(conn: &Connection, id: i64) -> Result<Option<WebhookRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("{WEBHOOK} WHERE id = ?1"))?
        .query_row([id], webhook_row)
        .optional()?)
}

pub fn insert_webhook(
    conn: &Connection,
    name: &str,
    url: &str,
    department_id: Option<i64>,
    sealed_secret: &str,
    now: i64,
) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO webhooks (name, url, department_id, secret, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![name, url, department_id, sealed_secret, now],
    )
    .map_err(|e| StoreError::unique_as(e, "a webhook of that name"))?;
    Ok(conn.last_insert_rowid())
}

/// A new secret; the current one keeps signing until `old_until`.
pub fn rotate_webhook(
    conn: &Connection,
    id: i64,
    sealed_secret: &str,
    old_until: i64,
) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "UPDATE webhooks SET old_secret = secret, old_secret_until = ?3, secret = ?2
         WHERE id = ?1",
        params![id, sealed_secret, old_until],
    )? == 1)
}

/// Removes a webhook; its deliveries go with it (ON DELETE CASCADE).
pub fn delete_webhook(conn: &Connection, id: i64) -> Result<bool, StoreError> {
    Ok(conn.execute("DELETE FROM webhooks WHERE id = ?1", [id])? == 1)
}

fn json_list<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> rusqlite::Result<T> {
    serde_json::from_str(text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("{what}: {e}").into(),
        )
    })
}

fn to_json<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn matcher_row(r: &Row<'_>) -> rusqlite::Result<MatcherView> {
    Ok(MatcherView {
        id: r.get(0)?,
        name: r.get(1)?,
        kinds: json_list(r.get_ref(2)?.as_str()?, "matcher kinds")?,
        min_severity: text_column(r, 3)?,
        department_id: r.get(4)?,
        mail: r.get(5)?,
        webhooks: json_list(r.get_ref(6)?.as_str()?, "matcher webhooks")?,
    })
}

const MATCHER: &str =
    "SELECT id, name, kinds, min_severity, department_id, mail, webhooks FROM notify_matchers";

pub fn matchers(conn: &Connection) -> Result<Vec<MatcherView>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("{MATCHER} ORDER BY id"))?;
    let rows = stmt.query_map([], matcher_row)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

pub fn matcher(conn: &Connection, id: i64) -> Result<Option<MatcherView>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("{MATCHER} WHERE id = ?1"))?
        .query_row([id], matcher_row)
        .optional()?)
}

/// Adds (`id` None) or replaces a matcher; its id, or None when `id`
/// names none.
pub fn save_matcher(
    conn: &Connection,
    id: Option<i64>,
    m: &MatcherRequest,
) -> Result<Option<i64>, StoreError> {
    let kinds = to_json(&m.kinds)?;
    let webhooks = to_json(&m.webhooks)?;
    let severity = m.min_severity.as_str();
    let unique = |e| StoreError::unique_as(e, "a matcher of that name");
    match id {
        None => {
            conn.execute(
                "INSERT INTO notify_matchers (name, kinds, min_severity, department_id, mail, webhooks)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![m.name, kinds, severity, m.department_id, m.mail, webhooks],
            )
            .map_err(unique)?;
            Ok(Some(conn.last_insert_rowid()))
        }
        Some(id) => {
            let changed = conn
                .execute(
                    "UPDATE notify_matchers SET name = ?1, kinds = ?2, min_severity = ?3,
                     department_id = ?4, mail = ?5, webhooks = ?6 WHERE id = ?7",
                    params![
                        m.name,
                        kinds,
                        severity,
                        m.department_id,
                        m.mail,
                        webhooks,
                        id
                    ],
                )
                .map_err(unique)?;
            Ok((changed == 1).then_some(id))
        }
    }
}

pub fn delete_matcher(conn: &Connection, id: i64) -> Result<bool, StoreError> {
    Ok(conn.execute("DELETE FROM notify_matchers WHERE id = ?1", [id])? == 1)
}

/// A person's mail address and the kinds they get by mail (None: every
/// kind).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailPrefs {
    pub user_id: i64,
    pub email: Option<String>,
    pub kinds: Option<Vec<NoticeKind>>,
}

impl MailPrefs {
    pub fn wants(&self, kind: NoticeKind) -> bool {
        self.kinds.as_ref().is_none_or(|k| k.contains(&kind))
    }
}

fn prefs_row(r: &Row<'_>) -> rusqlite::Result<MailPrefs> {
    let kinds: Option<String> = r.get(2)?;
    Ok(MailPrefs {
        user_id: r.get(0)?,
        email: r.get(1)?,
        kinds: kinds.map(|k| json_list(&k, "mail kinds")).transpose()?,
    })
}

pub fn mail_prefs(conn: &Connection, user: i64) -> Result<Option<MailPrefs>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT id, email, mail_kinds FROM users WHERE id = ?1")?
        .query_row([user], prefs_row)
        .optional()?)
}

pub fn set_mail_prefs(
    conn: &Connection,
    user: i64,
    email: Option<&str>,
    kinds: &[NoticeKind],
) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "UPDATE users SET email = ?2, mail_kinds = ?3 WHERE id = ?1",
        params![user, email, to_json(&kinds)?],
    )? == 1)
}

/// Who may get mail about a notice: the owner, the admins of its
/// department and the departments above, and (for a notice of no
/// department or owner) the appliance's admins; enabled accounts with an
/// address only.
pub fn mail_candidates(
    conn: &Connection,
    notice: &NoticeRow,
) -> Result<Vec<MailPrefs>, StoreError> {
    let departments: Vec<i64> = match notice.department_id {
        Some(d) => super::departments::ancestry(conn, d)?
            .into_iter()
            .map(|d| d.id)
            .collect(),
        None => Vec::new(),
    };
    let nobody = notice.owner_id.is_none() && notice.department_id.is_none();
    let mut stmt = conn.prepare_cached(
        "SELECT id, email, mail_kinds, department_admin, department_id, role FROM users
         WHERE disabled = 0 AND email IS NOT NULL AND email <> ''",
    )?;
    let mut rows = stmt.query([])?;
    let mut found = Vec::new();
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        let department_admin: bool = r.get(3)?;
        let department: Option<i64> = r.get(4)?;
        let role: app::model::Role = text_column(r, 5)?;
        let admin_here = department_admin && department.is_some_and(|d| departments.contains(&d));
        let appliance_admin = nobody && role == app::model::Role::Admin;
        if notice.owner_id == Some(id) || admin_here || appliance_admin {
            found.push(prefs_row(r)?);
        }
    }
    Ok(found)
}

/// Notices not yet routed, oldest first.
pub fn unrouted(conn: &Connection, limit: i64) -> Result<Vec<NoticeRow>, StoreError> {
    super::outbox::unrouted(conn, limit)
}

/// Records one delivery unless the notice already goes to `recipient`
/// on `channel` (two matchers naming the same target send once).
pub fn insert_delivery(
    conn: &Connection,
    notice: i64,
    channel: DeliveryChannel,
    webhook_id: Option<i64>,
    recipient: &str,
    now: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT OR IGNORE INTO deliveries
             (notice_id, channel, webhook_id, recipient, next_attempt_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        params![notice, channel.as_str(), webhook_id, recipient, now],
    )?;
    Ok(())
}

/// The deliveries due at `now`: pending ones whose time came, and claimed
/// ones whose claim ran out (dpe stopped during the attempt).
pub fn due(conn: &Connection, now: i64, limit: i64) -> Result<Vec<i64>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM deliveries WHERE state IN ('pending', 'sending')
         AND next_attempt_at <= ?1 ORDER BY next_attempt_at, id LIMIT ?2",
    )?;
    let ids = stmt
        .query_map(params![now, limit], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(ids)
}

/// A delivery claimed for an attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claimed {
    pub id: i64,
    pub channel: DeliveryChannel,
    pub webhook_id: Option<i64>,
    pub recipient: String,
    /// Including this one.
    pub attempts: u32,
    pub notice: NoticeRow,
}

/// Claims a due delivery for one attempt until `until`: None when it is
/// no longer due (sent, or claimed by another pass).
pub fn claim(
    conn: &Connection,
    id: i64,
    now: i64,
    until: i64,
) -> Result<Option<Claimed>, StoreError> {
    let changed = conn.execute(
        "UPDATE deliveries SET state = 'sending', attempts = attempts + 1,
             next_attempt_at = ?3, updated_at = ?2
         WHERE id = ?1 AND state IN ('pending', 'sending') AND next_attempt_at <= ?2",
        params![id, now, until],
    )?;
    if changed == 0 {
        return Ok(None);
    }
    let (channel, webhook_id, recipient, attempts, notice_id) = conn
        .prepare_cached(
            "SELECT channel, webhook_id, recipient, attempts, notice_id FROM deliveries
             WHERE id = ?1",
        )?
        .query_row([id], |r| {
            Ok((
                text_column::<DeliveryChannel>(r, 0)?,
                r.get::<_, Option<i64>>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, u32>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })?;
    let notice = super::outbox::get(conn, notice_id)?.ok_or(StoreError::NotFound("notice"))?;
    Ok(Some(Claimed {
        id,
        channel,
        webhook_id,
        recipient,
        attempts,
        notice,
    }))
}

/// The attempt succeeded.
pub fn sent(conn: &Connection, id: i64, now: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE deliveries SET state = 'sent', last_error = NULL, updated_at = ?2 WHERE id = ?1",
        params![id, now],
    )?;
    Ok(())
}

/// The attempt failed: tried again at `retry_at`, or given up (None).
pub fn attempt_failed(
    conn: &Connection,
    id: i64,
    now: i64,
    error: &str,
    retry_at: Option<i64>,
) -> Result<(), StoreError> {
    let (state, next) = match retry_at {
        Some(at) => (DeliveryState::Pending, at),
        None => (DeliveryState::Failed, now),
    };
    conn.execute(
        "UPDATE deliveries SET state = ?2, next_attempt_at = ?3, last_error = ?4, updated_at = ?5
         WHERE id = ?1",
        params![id, state.as_str(), next, error, now],
    )?;
    Ok(())
}

/// One delivery, with its notice's kind and words, for admins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryRow {
    pub id: i64,
    pub notice_id: i64,
    pub kind: NoticeKind,
    pub channel: DeliveryChannel,
    pub recipient: String,
    pub state: DeliveryState,
    pub attempts: u32,
    pub next_attempt_at: i64,
    pub updated_at: i64,
    pub last_error: Option<String>,
    pub detail: String,
}

/// The latest deliveries, newest first; of one state if given.
pub fn deliveries(
    conn: &Connection,
    state: Option<DeliveryState>,
    limit: i64,
) -> Result<Vec<DeliveryRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT d.id, d.notice_id, o.kind, d.channel, d.recipient, d.state, d.attempts,
                d.next_attempt_at, d.updated_at, d.last_error, o.detail
         FROM deliveries d JOIN outbox o ON o.id = d.notice_id
         WHERE ?1 IS NULL OR d.state = ?1 ORDER BY d.id DESC LIMIT ?2",
    )?;
    let rows = stmt
        .query_map(params![state.map(DeliveryState::as_str), limit], |r| {
            Ok(DeliveryRow {
                id: r.get(0)?,
                notice_id: r.get(1)?,
                kind: text_column(r, 2)?,
                channel: text_column(r, 3)?,
                recipient: r.get(4)?,
                state: text_column(r, 5)?,
                attempts: r.get(6)?,
                next_attempt_at: r.get(7)?,
                updated_at: r.get(8)?,
                last_error: r.get(9)?,
                detail: r.get(10)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Whether a notice of `kind` about `department` passes `m` (a matcher's
/// department takes its sub-departments along: `subtree`).
pub fn matches(m: &MatcherView, kind: NoticeKind, in_subtree: bool) -> bool {
    (m.kinds.is_empty() || m.kinds.contains(&kind))
        && kind.severity().reaches(m.min_severity)
        && (m.department_id.is_none() || in_subtree)
}
