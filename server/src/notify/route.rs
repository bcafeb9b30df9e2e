//! Routing: a notice becomes its deliveries, one per person's address
//! (mail) and one per webhook, as the matchers say, in one transaction
//! that also marks it routed, so a notice is routed once, whole.

use app::model::DeliveryChannel;
use rusqlite::Connection;

use crate::store::outbox::{self, NoticeRow};
use crate::store::{StoreError, departments, notify};

/// Whether the notice's department is `department` or below it.
fn within(conn: &Connection, notice: &NoticeRow, department: i64) -> Result<bool, StoreError> {
    Ok(match notice.department_id {
        Some(d) => departments::subtree(conn, department)?.contains(&d),
        None => false,
    })
}

/// Routes one notice at `now`; how many deliveries it made. Mail goes
/// only once a mail server is set up (notices before that are not
/// mailed).
pub fn route(conn: &Connection, notice: &NoticeRow, now: i64) -> Result<usize, StoreError> {
    let mail_server = notify::smtp(conn)?.is_some();
    let mut made = 0;
    let mut mailed = false;
    for matcher in notify::matchers(conn)? {
        let in_subtree = match matcher.department_id {
            Some(d) => within(conn, notice, d)?,
            None => true,
        };
        if !notify::matches(&matcher, notice.kind, in_subtree) {
            continue;
        }
        if matcher.mail && mail_server && !mailed {
            mailed = true;
            for person in notify::mail_candidates(conn, notice)? {
                if let (true, Some(address)) = (person.wants(notice.kind), &person.email) {
                    notify::insert_delivery(
                        conn,
                        notice.id,
                        DeliveryChannel::Mail,
                        None,
                        address,
                        now,
                    )?;
                    made += 1;
                }
            }
        }
        for id in matcher.webhooks {
            let Some(hook) = notify::webhook(conn, id)? else {
                continue;
            };
            let in_scope = match hook.department_id {
                Some(d) => within(conn, notice, d)?,
                None => true,
            };
            if in_scope {
                notify::insert_delivery(
                    conn,
                    notice.id,
                    DeliveryChannel::Webhook,
                    Some(hook.id),
                    &hook.url,
                    now,
                )?;
                made += 1;
            }
        }
    }
    outbox::mark_routed(conn, notice.id)?;
    Ok(made)
}
