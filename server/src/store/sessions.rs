//! tower-sessions' store on our SQLite file, so sessions survive a restart
//! and go through the same writer as everything else; with the live ones
//! kept in memory, so a request reads no row and, most of the time,
//! writes none.
//!
//! A session that expires on inactivity is saved by every request only to
//! move its expiry. Moving it by less than [`RESAVE_AFTER`] stays in
//! memory; the row follows once it is that far behind (a restart in
//! between cuts the idle time left by at most that much). A kept session
//! is trusted while no session has ended anywhere in the store
//! ([`Change::SessionEnded`]): sign-out, an admin's, or expiry.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion, SessionStore};

use std::time::Duration;

use super::{Change, Store, StoreError, now};

/// How far a kept session's expiry may run ahead of its row.
const RESAVE_AFTER: time::Duration = time::Duration::minutes(1);
/// Sessions kept in memory at most; the least used beyond go to the row.
const KEPT: u64 = 10_000;
/// A kept session unused this long is let go.
const KEPT_IDLE: Duration = Duration::from_secs(600);

/// A session as last read or written.
#[derive(Clone, Debug)]
struct Kept {
    record: Record,
    /// The expiry its row holds.
    stored_expiry: time::OffsetDateTime,
    /// [`Change::SessionEnded`]'s count when it was read or written.
    ended: u64,
}

/// Ends every session of the account `user_id` (its id is in the record's
/// data, as the HTTP edge stores it); returns how many there were.
pub fn delete_for_user(conn: &rusqlite::Connection, user_id: i64) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "DELETE FROM sessions WHERE json_extract(record, '$.data.user_id') = ?1",
        params![user_id],
    )?)
}

/// Whether the session `id` is still on record (not signed out or ended).
pub fn exists(conn: &rusqlite::Connection, id: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM sessions WHERE id = ?1")?
        .query_row([id], |_| Ok(()))
        .optional()?
        .is_some())
}

#[derive(Clone, Debug)]
pub struct SqliteSessionStore {
    store: Store,
    kept: moka::sync::Cache<Id, Kept>,
}

impl SqliteSessionStore {
    pub fn new(store: Store) -> Self {
        SqliteSessionStore {
            store,
            kept: moka::sync::Cache::builder()
                .max_capacity(KEPT)
                .time_to_idle(KEPT_IDLE)
                .build(),
        }
    }

    fn ended(&self) -> u64 {
        self.store.changes(&[Change::SessionEnded])
    }

    /// `id`'s kept session, while nothing may have ended it.
    fn kept(&self, id: &Id) -> Option<Kept> {
        self.kept.get(id).filter(|k| k.ended == self.ended())
    }

    async fn write_row(&self, record: &Record) -> session_store::Result<()> {
        let (id, json, expires) = (
            record.id.to_string(),
            encode(record)?,
            record.expiry_date.unix_timestamp(),
        );
        self.store
            .write(move |tx| {
                tx.execute(
                    "INSERT INTO sessions (id, record, expires_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (id) DO UPDATE SET record = excluded.record,
                                                    expires_at = excluded.expires_at",
                    params![id, json, expires],
                )?;
                Ok(())
            })
            .await
            .map_err(backend)
    }
}

fn backend(err: StoreError) -> session_store::Error {
    session_store::Error::Backend(err.to_string())
}

fn encode(record: &Record) -> session_store::Result<String> {
    serde_json::to_string(record).map_err(|e| session_store::Error::Encode(e.to_string()))
}

#[async_trait]
impl SessionStore for SqliteSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // Insert, drawing a new id on the (astronomically rare) collision.
        loop {
            let (id, json, expires) = (
                record.id.to_string(),
                encode(record)?,
                record.expiry_date.unix_timestamp(),
            );
            let inserted = self
                .store
                .write(move |tx| {
                    Ok(tx.execute(
                        "INSERT INTO sessions (id, record, expires_at) VALUES (?1, ?2, ?3)
                         ON CONFLICT (id) DO NOTHING",
                        params![id, json, expires],
                    )? == 1)
                })
                .await
                .map_err(backend)?;
            if inserted {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let ended = self.ended();
        if let Some(kept) = self.kept(&record.id)
            && kept.record.data == record.data
            && record.expiry_date - kept.stored_expiry < RESAVE_AFTER
        {
            // Only the expiry moved, and not far: memory is enough.
            self.kept.insert(
                record.id,
                Kept {
                    record: record.clone(),
                    ..kept
                },
            );
            return Ok(());
        }
        self.write_row(record).await?;
        self.kept.insert(
            record.id,
            Kept {
                record: record.clone(),
                stored_expiry: record.expiry_date,
                ended,
            },
        );
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        if let Some(kept) = self.kept(id) {
            return Ok(
                (kept.record.expiry_date > time::OffsetDateTime::now_utc()).then_some(kept.record)
            );
        }
        // Counted before reading: an end committed meanwhile moves the
        // count, so what is read now is never trusted past it.
        let ended = self.ended();
        let key = id.to_string();
        let json: Option<String> = self
            .store
            .read(move |c| {
                Ok(c.prepare_cached(
                    "SELECT record FROM sessions WHERE id = ?1 AND expires_at > ?2",
                )?
                .query_row(params![key, now()], |r| r.get(0))
                .optional()?)
            })
            .await
            .map_err(backend)?;
        let record: Option<Record> = json
            .map(|j| {
                serde_json::from_str(&j).map_err(|e| session_store::Error::Decode(e.to_string()))
            })
            .transpose()?;
        if let Some(record) = &record {
            self.kept.insert(
                *id,
                Kept {
                    record: record.clone(),
                    stored_expiry: record.expiry_date,
                    ended,
                },
            );
        }
        Ok(record)
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.kept.invalidate(id);
        let id = id.to_string();
        self.store
            .write(move |tx| {
                tx.execute("DELETE FROM sessions WHERE id = ?1", [id])?;
                Ok(())
            })
            .await
            .map_err(backend)
    }
}

#[async_trait]
impl ExpiredDeletion for SqliteSessionStore {
    async fn delete_expired(&self) -> session_store::Result<()> {
        self.store
            .write(|tx| {
                tx.execute("DELETE FROM sessions WHERE expires_at <= ?1", [now()])?;
                Ok(())
            })
            .await
            .map_err(backend)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::temp_store;
    use std::collections::HashMap;

    fn record(expires_in: time::Duration) -> Record {
        Record {
            id: Id::default(),
            data: HashMap::from([("user_id".to_string(), serde_json::json!(7))]),
            expiry_date: time::OffsetDateTime::now_utc() + expires_in,
        }
    }

    #[tokio::test]
    async fn sessions_round_trip_and_expire() {
        let (_dir, store) = temp_store();
        let sessions = SqliteSessionStore::new(store);
        let mut live = record(time::Duration::hours(1));
        sessions.create(&mut live).await.unwrap();
        let loaded = sessions.load(&live.id).await.unwrap().unwrap();
        assert_eq!(loaded.data["user_id"], serde_json::json!(7));

        let mut dead = record(time::Duration::seconds(-5));
        sessions.create(&mut dead).await.unwrap();
        assert!(
            sessions.load(&dead.id).await.unwrap().is_none(),
            "expired is not loaded"
        );
        sessions.delete_expired().await.unwrap();

        sessions.delete(&live.id).await.unwrap();
        assert!(sessions.load(&live.id).await.unwrap().is_none());
    }
}
