//! What changed, for caches: a counter per kind of change that caches
//! read with what they keep, and trust while it has not moved.
//!
//! SQLite's update hook on the writer connection notes each row a
//! statement touches, whoever wrote the statement; the counters move only
//! once the transaction has committed (so a reader that races the commit
//! can never keep the old row under the new count), and not at all when
//! it rolls back. (A `DELETE` with no `WHERE` at all empties the table
//! without passing the hook, so store code always names the rows it
//! deletes.)
//!
//! Another process's writes (the `dpe user disable` command, say) pass no
//! hook of ours: SQLite's `data_version` on the writer connection tells
//! that some were made, and then every counter moves, within
//! [`EXTERNAL_CHECK`]. A command that ends someone's access waits that
//! long before it returns (`Store::noticed_by_others`).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;
use rusqlite::functions::FunctionFlags;
use rusqlite::hooks::Action;

use super::StoreError;
use super::feed::{Feed, Removed, Row};

/// How often the store looks for other processes' writes.
pub(super) const EXTERNAL_CHECK: Duration = Duration::from_millis(100);

/// A kind of change some cache depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// An account changed: role, department, password, disabled...
    Accounts,
    /// A department changed (who administers what below it).
    Departments,
    /// An API token was made, revoked or removed.
    Tokens,
    /// A session ended: signed out, expired, or ended by an admin. (New
    /// and saved sessions are not changes to what a cache holds of
    /// others.)
    SessionEnded,
}

impl Change {
    const ALL: [Change; 4] = [
        Change::Accounts,
        Change::Departments,
        Change::Tokens,
        Change::SessionEnded,
    ];

    fn bit(self) -> u32 {
        match self {
            Change::Accounts => 1,
            Change::Departments => 2,
            Change::Tokens => 4,
            Change::SessionEnded => 8,
        }
    }

    fn index(self) -> usize {
        match self {
            Change::Accounts => 0,
            Change::Departments => 1,
            Change::Tokens => 2,
            Change::SessionEnded => 3,
        }
    }

    /// The change a row of `table` being `action`ed makes, if any.
    fn of(action: Action, table: &str) -> Option<Change> {
        match (table, action) {
            ("users", _) => Some(Change::Accounts),
            ("departments", _) => Some(Change::Departments),
            ("api_tokens", _) => Some(Change::Tokens),
            ("sessions", Action::SQLITE_DELETE) => Some(Change::SessionEnded),
            _ => None,
        }
    }
}

/// The row of the feed a row of `table` being `action`ed is, if any.
/// (Deleted instances are the trigger's: see [`REMOVED_TRIGGER`].)
fn fed(action: Action, table: &str, row: i64) -> Option<Row> {
    match (table, action) {
        ("instances", Action::SQLITE_DELETE) => None,
        ("instances", _) => Some(Row::Instance(row)),
        ("tasks", _) => Some(Row::Task(row)),
        _ => None,
    }
}

/// Deleted instances are told by a trigger of the writer connection's
/// own, which hands this function the row's id, owner and department as
/// the row goes: once the record is gone, nothing else says who may be
/// told it went (the update hook gives only the id).
const REMOVED_FUNCTION: &str = "dpe_instance_removed";
const REMOVED_TRIGGER: &str = "
    CREATE TEMP TRIGGER dpe_instance_removed AFTER DELETE ON main.instances
    BEGIN
        SELECT dpe_instance_removed(old.id, old.owner_id, old.department_id);
    END";

/// The counters and the feed, and the changes of the transaction under way.
pub struct Changes {
    pending: Arc<AtomicU32>,
    pending_rows: Arc<Mutex<Vec<Row>>>,
    counts: [AtomicU64; 4],
    /// Told whenever a count moves, for those who wait on one.
    moved: tokio::sync::watch::Sender<()>,
    pub(super) feed: Feed,
}

impl Default for Changes {
    fn default() -> Self {
        Changes {
            pending: Arc::default(),
            pending_rows: Arc::default(),
            counts: Default::default(),
            moved: tokio::sync::watch::Sender::new(()),
            feed: Feed::default(),
        }
    }
}

impl Changes {
    /// Notes the changes `writer`'s statements make from now on (its
    /// schema is the latest).
    pub(super) fn hook_into(&self, writer: &Connection) -> Result<(), StoreError> {
        let pending = self.pending.clone();
        let rows = self.pending_rows.clone();
        writer.update_hook(Some(move |action, _db: &str, table: &str, row| {
            if let Some(change) = Change::of(action, table) {
                pending.fetch_or(change.bit(), Ordering::Relaxed);
            }
            if let Some(row) = fed(action, table, row) {
                rows.lock().unwrap_or_else(|p| p.into_inner()).push(row);
            }
        }));
        let rows = self.pending_rows.clone();
        writer.create_scalar_function(
            REMOVED_FUNCTION,
            3,
            FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DIRECTONLY,
            move |call| {
                let removed = Removed {
                    id: call.get(0)?,
                    owner: call.get(1)?,
                    department: call.get(2)?,
                };
                let row = Row::InstanceRemoved(removed);
                rows.lock().unwrap_or_else(|p| p.into_inner()).push(row);
                Ok(rusqlite::types::Null)
            },
        )?;
        writer.execute_batch(REMOVED_TRIGGER)?;
        Ok(())
    }

    /// The transaction committed: its changes count.
    pub(super) fn committed(&self) {
        let done = self.pending.swap(0, Ordering::AcqRel);
        for change in Change::ALL {
            if done & change.bit() != 0 {
                self.counts[change.index()].fetch_add(1, Ordering::Release);
            }
        }
        if done != 0 {
            self.moved.send_replace(());
        }
        let rows = std::mem::take(&mut *self.rows());
        if !rows.is_empty() {
            // Each row once, in the order first touched.
            let mut seen = std::collections::HashSet::new();
            self.feed
                .publish(rows.into_iter().filter(|row| seen.insert(*row)));
        }
    }

    fn rows(&self) -> std::sync::MutexGuard<'_, Vec<Row>> {
        self.pending_rows.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Another process wrote: what, is not known, so everything changed.
    pub(super) fn external(&self) {
        for count in &self.counts {
            count.fetch_add(1, Ordering::Release);
        }
        self.moved.send_replace(());
    }

    /// Told (changed) whenever any count moves.
    pub fn watch(&self) -> tokio::sync::watch::Receiver<()> {
        self.moved.subscribe()
    }

    /// The transaction rolled back: nothing changed.
    pub(super) fn rolled_back(&self) {
        self.pending.store(0, Ordering::Release);
        self.rows().clear();
    }

    /// One number for `changes` together, which moves whenever any of
    /// them is made (each count only grows, so their sum does).
    pub fn count(&self, changes: &[Change]) -> u64 {
        changes
            .iter()
            .map(|c| self.counts[c.index()].load(Ordering::Acquire))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::temp_store;
    use crate::store::{StoreError, users};
    use app::model::Role;

    #[tokio::test]
    async fn commits_count_what_they_changed_and_rollbacks_nothing() {
        let (_dir, store) = temp_store();
        let accounts = || store.changes(&[Change::Accounts]);
        let ended = || store.changes(&[Change::SessionEnded]);
        let before = accounts();
        store
            .write(|tx| users::insert(tx, "ann", None, Role::User).map(drop))
            .await
            .unwrap();
        assert_eq!(accounts(), before + 1);

        let refused: Result<(), StoreError> = store
            .write(|tx| {
                users::insert(tx, "bob", None, Role::User)?;
                Err(StoreError::Duplicate("a made-up refusal"))
            })
            .await;
        assert!(refused.is_err());
        assert_eq!(accounts(), before + 1, "rolled back: nothing changed");

        let sessions = ended();
        store
            .write(|tx| {
                tx.execute(
                    "INSERT INTO sessions (id, record, expires_at) VALUES ('s', '{}', 0)",
                    [],
                )?;
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(ended(), sessions, "a new session ends none");
        store
            .write(|tx| {
                Ok(tx
                    .execute("DELETE FROM sessions WHERE expires_at <= 0", [])
                    .map(drop)?)
            })
            .await
            .unwrap();
        assert_eq!(ended(), sessions + 1);
    }

    #[tokio::test]
    async fn a_deleted_instance_is_fed_with_whose_it_was() {
        use crate::store::feed::{Removed, Row};
        use crate::store::{departments, instances};
        let (_dir, store) = temp_store();
        let (owner, department, id) = store
            .write(|tx| {
                let department = departments::insert(tx, "science", None)?;
                let owner = users::insert(tx, "ann", None, Role::User)?;
                let id = instances::insert(
                    tx,
                    &instances::NewInstance {
                        department_id: Some(department),
                        ..crate::store::test_support::new_instance("u-1", "notes", owner)
                    },
                )?;
                Ok((owner, department, id))
            })
            .await
            .unwrap();
        let (_, mut fed) = store.feed().subscribe(None);
        store
            .write(move |tx| instances::delete(tx, id))
            .await
            .unwrap();
        assert_eq!(
            fed.try_recv().unwrap().row,
            Row::InstanceRemoved(Removed {
                id,
                owner,
                department: Some(department),
            })
        );
        assert!(fed.try_recv().is_err(), "told once");
    }

    #[tokio::test]
    async fn another_process_writing_moves_every_count() {
        let (_dir, store) = temp_store();
        let all = || store.changes(&Change::ALL);
        let before = (all(), store.generation());
        let other = Connection::open(store.path()).unwrap();
        other.busy_timeout(Duration::from_secs(5)).unwrap();
        users::insert(&other, "carol", None, Role::User).unwrap();
        let started = std::time::Instant::now();
        while (all(), store.generation()) == before {
            assert!(started.elapsed() < Duration::from_secs(2), "not noticed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(all() >= before.0 + 4);
    }
}
