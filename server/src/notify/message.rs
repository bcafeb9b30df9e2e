//! What a notice says: a mail's subject and text, a webhook's JSON. Each
//! links to the portal's page of the object (from the portal's origin in
//! the settings) and holds no secret: the notice's sentence, names, ids.

use crate::clock::rfc3339;
use app::model::NoticeKind;
use serde::Serialize;

use crate::store::outbox::NoticeRow;

/// The portal's page of what the notice is about.
pub fn link(portal: &str, notice: &NoticeRow) -> String {
    let portal = portal.trim_end_matches('/');
    match (notice.kind, notice.instance_id) {
        (NoticeKind::Deleted, _) | (NoticeKind::HostDown, _) | (_, None) => format!("{portal}/"),
        // Those who may decide it act on the Approvals page.
        (NoticeKind::ApprovalRequested, Some(_)) => format!("{portal}/approvals"),
        (
            NoticeKind::DeploySucceeded
            | NoticeKind::ApprovalDecided
            | NoticeKind::DeployFailed
            | NoticeKind::LeaseExpiresIn7Days
            | NoticeKind::LeaseExpiresIn1Day
            | NoticeKind::Expired
            | NoticeKind::BackupFailed,
            Some(id),
        ) => format!("{portal}/instances/{id}"),
    }
}

pub fn subject(appliance: &str, notice: &NoticeRow) -> String {
    match &notice.instance_name {
        Some(name) => format!("[{appliance}] {}: {name}", notice.kind.label()),
        None => format!("[{appliance}] {}", notice.kind.label()),
    }
}

pub fn mail_text(appliance: &str, portal: &str, notice: &NoticeRow) -> String {
    let portal = portal.trim_end_matches('/');
    format!(
        "{}\n\nOpen it in the portal: {}\n\n-- \n{appliance}. Choose which notices you get \
         by mail on your account page: {portal}/account\n",
        notice.detail,
        link(portal, notice)
    )
}

/// The JSON a webhook receives (Standard Webhooks' `type`, `timestamp`,
/// `data`).
#[derive(Serialize)]
struct Payload<'a> {
    r#type: NoticeKind,
    /// When it happened, RFC 3339.
    timestamp: String,
    data: Data<'a>,
}

#[derive(Serialize)]
struct Data<'a> {
    notice_id: i64,
    severity: app::model::Severity,
    instance_id: Option<i64>,
    instance_name: Option<&'a str>,
    department_id: Option<i64>,
    detail: &'a str,
    url: String,
}

pub fn webhook_body(portal: &str, notice: &NoticeRow) -> String {
    let payload = Payload {
        r#type: notice.kind,
        timestamp: rfc3339(notice.at),
        data: Data {
            notice_id: notice.id,
            severity: notice.kind.severity(),
            instance_id: notice.instance_id,
            instance_name: notice.instance_name.as_deref(),
            department_id: notice.department_id,
            detail: &notice.detail,
            url: link(portal, notice),
        },
    };
    // Plain data: serializing it cannot fail.
    serde_json::to_string(&payload).unwrap_or_default()
}
