//! The gateway's tickets and sessions. A ticket carries a portal sign-in
//! to one application's origin once; the session it becomes lasts as long
//! as the portal session it came from. Only hashes of secrets are kept.

use rusqlite::{Connection, OptionalExtension, params};

use super::{StoreError, now};

/// Seconds a ticket may take from the portal to the application's origin.
pub const TICKET_SECS: i64 = 60;

/// What a ticket or a session stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Visit {
    pub instance_id: i64,
    pub user_id: i64,
    pub portal_session: String,
}

pub fn insert_ticket(
    conn: &Connection,
    secret_hash: &[u8],
    visit: &Visit,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO gateway_tickets (secret_hash, instance_id, user_id, portal_session, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            secret_hash,
            visit.instance_id,
            visit.user_id,
            visit.portal_session,
            now() + TICKET_SECS
        ],
    )?;
    Ok(())
}

/// Takes the ticket (it is deleted whatever it says) and, if it is for
/// `instance_id`, unexpired, and its portal session still lives, makes it a
/// gateway session under `session_hash`.
pub fn redeem_ticket(
    conn: &Connection,
    ticket_hash: &[u8],
    instance_id: i64,
    session_hash: &[u8],
) -> Result<Option<Visit>, StoreError> {
    let visit = conn
        .prepare_cached(
            "DELETE FROM gateway_tickets WHERE secret_hash = ?1
             RETURNING instance_id, user_id, portal_session, expires_at",
        )?
        .query_row([ticket_hash], |r| {
            Ok((
                Visit {
                    instance_id: r.get(0)?,
                    user_id: r.get(1)?,
                    portal_session: r.get(2)?,
                },
                r.get::<_, i64>(3)?,
            ))
        })
        .optional()?;
    let Some((visit, expires_at)) = visit else {
        return Ok(None);
    };
    if visit.instance_id != instance_id
        || expires_at < now()
        || !portal_session_lives(conn, &visit.portal_session)?
    {
        return Ok(None);
    }
    conn.execute(
        "INSERT INTO gateway_sessions (secret_hash, instance_id, user_id, portal_session, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            session_hash,
            visit.instance_id,
            visit.user_id,
            visit.portal_session,
            now()
        ],
    )?;
    Ok(Some(visit))
}

fn portal_session_lives(conn: &Connection, id: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM sessions WHERE id = ?1 AND expires_at > ?2")?
        .query_row(params![id, now()], |_| Ok(()))
        .optional()?
        .is_some())
}

/// The account behind a gateway session on `instance_id`, while the portal
/// session it came from lives: signing out of the portal ends it.
pub fn session_user(
    conn: &Connection,
    secret_hash: &[u8],
    instance_id: i64,
) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT g.user_id FROM gateway_sessions g
             JOIN sessions s ON s.id = g.portal_session AND s.expires_at > ?3
             WHERE g.secret_hash = ?1 AND g.instance_id = ?2",
        )?
        .query_row(params![secret_hash, instance_id, now()], |r| r.get(0))
        .optional()?)
}

/// Deletes expired tickets and the sessions whose portal session is gone;
/// returns how many.
pub fn prune(conn: &Connection) -> Result<usize, StoreError> {
    let tickets = conn.execute("DELETE FROM gateway_tickets WHERE expires_at < ?1", [now()])?;
    let sessions = conn.execute(
        "DELETE FROM gateway_sessions WHERE portal_session NOT IN (SELECT id FROM sessions)",
        [],
    )?;
    Ok(tickets + sessions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::migrations;

    fn store() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        c.pragma_update(None, "foreign_keys", true).unwrap();
        migrations::migrate(&mut c).unwrap();
        c.execute_batch(
            "INSERT INTO users (id, username, role, created_at) VALUES (1, 'ann', 'user', 0);
             INSERT INTO instances (id, uuid, name, owner_id, size, vcpus, memory_mib, disk_gib,
                                    network, mac, params, status, created_at)
             VALUES (7, 'u7', 'wiki', 1, 'small', 1, 1, 1, 'default', 'm7', '{}', 'ready', 0),
                    (8, 'u8', 'blog', 1, 'small', 1, 1, 1, 'default', 'm8', '{}', 'ready', 0);",
        )
        .unwrap();
        c.execute(
            "INSERT INTO sessions (id, record, expires_at) VALUES ('portal', '{}', ?1)",
            [now() + 3600],
        )
        .unwrap();
        c
    }

    fn visit(instance_id: i64) -> Visit {
        Visit {
            instance_id,
            user_id: 1,
            portal_session: "portal".into(),
        }
    }

    #[test]
    fn a_ticket_works_once_for_its_instance_and_its_session_ends_with_the_portal_s() {
        let c = store();
        insert_ticket(&c, b"t1", &visit(7)).unwrap();
        assert_eq!(
            redeem_ticket(&c, b"t1", 8, b"s0").unwrap(),
            None,
            "another instance"
        );
        insert_ticket(&c, b"t2", &visit(7)).unwrap();
        assert_eq!(redeem_ticket(&c, b"t2", 7, b"s1").unwrap(), Some(visit(7)));
        assert_eq!(
            redeem_ticket(&c, b"t2", 7, b"s2").unwrap(),
            None,
            "used once"
        );
        assert_eq!(session_user(&c, b"s1", 7).unwrap(), Some(1));
        assert_eq!(session_user(&c, b"s1", 8).unwrap(), None, "one origin only");
        c.execute("DELETE FROM sessions WHERE id = 'portal'", [])
            .unwrap();
        assert_eq!(session_user(&c, b"s1", 7).unwrap(), None, "signed out");
        assert_eq!(prune(&c).unwrap(), 1);
    }

    #[test]
    fn an_expired_ticket_is_refused() {
        let c = store();
        insert_ticket(&c, b"t", &visit(7)).unwrap();
        c.execute("UPDATE gateway_tickets SET expires_at = 0", [])
            .unwrap();
        assert_eq!(redeem_ticket(&c, b"t", 7, b"s").unwrap(), None);
    }
}
