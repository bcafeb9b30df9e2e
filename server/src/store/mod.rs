//! The SQLite store: one writer connection, reader connections on threads
//! of their own, WAL, numbered migrations. No call blocks the async
//! runtime: reads are queued to the readers' threads, writes leave through
//! `run_blocking`; every write is one IMMEDIATE transaction.

pub mod approvals;
pub mod audit;
pub mod backups;
mod changes;
pub mod department_usage;
pub mod departments;
pub mod directory;
pub mod drills;
mod error;
pub mod feed;
pub mod gateway;
pub mod host_usage;
pub mod hosts;
pub mod instance_list;
pub mod instances;
mod lease_columns;
pub mod leases;
pub mod metrics;
pub mod migrations;
pub mod notify;
pub mod outbox;
mod paging;
pub mod passkeys;
pub mod pool;
mod quota_columns;
pub mod quotas;
mod readers;
pub mod second_factors;
pub mod sessions;
pub mod settings;
pub mod snapshots;
pub mod stack_versions;
mod states;
pub mod tasks;
mod tiers;
pub mod tokens;
pub mod traffic;
pub mod usage;
pub mod users;
pub mod zones;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use crate::blocking::run_blocking;
pub use changes::Change;
use changes::Changes;
pub use error::StoreError;

/// How long a connection waits for a lock before it gives up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
const READERS: usize = 4;
/// Prepared statements each connection keeps: more than the store has
/// kinds of query (a list's filters and orders make several each), so
/// that none is parsed again per request.
const STATEMENTS_KEPT: usize = 256;

#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: readers::Readers,
    /// The writer's turn, taken before a write leaves the runtime: a burst
    /// of writes waits here, asleep, rather than on a blocking thread
    /// each, parked on the writer's lock.
    write_turn: tokio::sync::Semaphore,
    /// Bumped by each committed write (see [`Store::generation`]).
    generation: AtomicU64,
    /// What the committed writes changed (see [`Store::changes`]).
    changes: Changes,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish()
    }
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(())
}

impl Store {
    /// Opens (creating if needed) the store at `path` and brings its schema
    /// to the latest version. A schema newer than this binary is refused.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.to_owned(),
            source,
        };
        let mut writer = Connection::open(path).map_err(open_err)?;
        // Accounts, sessions and tokens: dpe's alone. SQLite gives the WAL
        // and shared-memory files the database file's mode.
        private(path)?;
        writer
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        for companion in ["-wal", "-shm"] {
            let mut name = path.as_os_str().to_owned();
            name.push(companion);
            if Path::new(&name).exists() {
                private(Path::new(&name))?;
            }
        }
        configure(&writer).map_err(open_err)?;
        migrations::migrate(&mut writer)?;
        let changes = Changes::default();
        changes.hook_into(&writer)?;

        let readers = readers::Readers::start(READERS, || {
            let reader = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(open_err)?;
            reader.set_prepared_statement_cache_capacity(STATEMENTS_KEPT);
            reader.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
            reader
                .pragma_update(None, "foreign_keys", true)
                .map_err(open_err)?;
            Ok(reader)
        })?;
        let inner = Arc::new(Inner {
            path: path.to_owned(),
            writer: Mutex::new(writer),
            readers,
            write_turn: tokio::sync::Semaphore::new(1),
            generation: AtomicU64::new(0),
            changes,
        });
        watch_other_writers(Arc::downgrade(&inner));
        Ok(Store { inner })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// How many write transactions this process has committed: what was
    /// read at one generation still holds while it is unchanged.
    pub fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::Acquire)
    }

    /// Changed (in the `watch` sense) whenever any [`Change`] is made.
    pub fn watch_changes(&self) -> tokio::sync::watch::Receiver<()> {
        self.inner.changes.watch()
    }

    /// The feed of changed instances and tasks, for live pages.
    pub fn feed(&self) -> &feed::Feed {
        &self.inner.changes.feed
    }

    /// Returns once a running server (another process on the same file)
    /// has noticed this process's writes so far: a command that ends
    /// someone's access has ended it when it returns.
    pub async fn noticed_by_others(&self) {
        tokio::time::sleep(changes::EXTERNAL_CHECK * 3).await;
    }

    /// How often `changes` were made by this process's committed writes,
    /// as one number: what was read while it stands still is still true.
    pub fn changes(&self, changes: &[Change]) -> u64 {
        self.inner.changes.count(changes)
    }
}

/// Moves every change counter, and the generation, when another process
/// has committed to the database: the writer's `data_version` moves then
/// (its own commits leave it be). Ends with the store.
fn watch_other_writers(inner: std::sync::Weak<Inner>) {
    let version = |inner: &Inner| -> Option<i64> {
        let writer = inner.writer.lock().unwrap_or_else(|p| p.into_inner());
        writer
            .pragma_query_value(None, "data_version", |r| r.get(0))
            .ok()
    };
    let Some(mut last) = inner.upgrade().and_then(|i| version(&i)) else {
        return;
    };
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(changes::EXTERNAL_CHECK);
            let Some(inner) = inner.upgrade() else {
                return;
            };
            let now = version(&inner);
            if let Some(now) = now
                && now != last
            {
                last = now;
                inner.generation.fetch_add(1, Ordering::Release);
                inner.changes.external();
            }
        }
    });
}

/// Makes `file` readable and writable by its owner only.
fn private(file: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600)).map_err(|source| {
        StoreError::Io {
            path: file.to_owned(),
            source,
        }
    })
}

impl Store {
    /// Runs `query` on a reader connection.
    pub async fn read<T, F>(&self, query: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        self.inner.readers.run(query).await
    }

    /// Runs `change` in one IMMEDIATE transaction on the writer connection,
    /// committed when it returns `Ok`, rolled back otherwise.
    pub async fn write<T, F>(&self, change: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        // The semaphore is never closed, so a permit always comes.
        let _turn = self.inner.write_turn.acquire().await.ok();
        let inner = self.inner.clone();
        run_blocking(move || {
            // A panic in an earlier writer poisons the lock but leaves the
            // connection sound: its transaction was rolled back on unwind.
            let mut conn = inner.writer.lock().unwrap_or_else(|p| p.into_inner());
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let committed = change(&tx).and_then(|value| {
                tx.commit()?;
                Ok(value)
            });
            match committed {
                Ok(value) => {
                    inner.generation.fetch_add(1, Ordering::Release);
                    inner.changes.committed();
                    Ok(value)
                }
                // Dropping the transaction (in `change`'s error) rolled it back.
                Err(e) => {
                    inner.changes.rolled_back();
                    Err(e)
                }
            }
        })
        .await
    }

    /// Copies the live database to `target` with SQLite's online backup, so
    /// that writers go on meanwhile. The copy appears whole or not at all.
    pub async fn backup_to(&self, target: PathBuf) -> Result<(), StoreError> {
        self.read(move |conn| {
            let partial = target.with_extension("partial");
            let mut dest = Connection::open(&partial)?;
            {
                let backup = rusqlite::backup::Backup::new(conn, &mut dest)?;
                backup.run_to_completion(256, Duration::from_millis(5), None)?;
            }
            drop(dest);
            std::fs::rename(&partial, &target).map_err(|source| StoreError::Io {
                path: target.clone(),
                source,
            })
        })
        .await
    }
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Unix seconds now.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// A store in a fresh temporary directory, kept alive with it.
    pub fn temp_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(&dir.path().join("dpe.sqlite3")).expect("open store");
        (dir, store)
    }

    /// A small inside instance named `name`, owned by `owner_id`; its
    /// UUID, volume stem and MAC are `uuid` (each must be unique).
    pub fn new_instance<'a>(
        uuid: &'a str,
        name: &'a str,
        owner_id: i64,
    ) -> super::instances::NewInstance<'a> {
        super::instances::NewInstance {
            uuid,
            name,
            owner_id,
            size: "small",
            vcpus: 1,
            memory_mib: 512,
            disk_gib: 1,
            network: "default",
            mac: uuid,
            params_json: "{}",
            health_expect: "",
            zone: app::model::NetworkZone::Inside,
            static_address: None,
            static_network: None,
            department_id: None,
            volume_stem: uuid,
            app_port: None,
            lease_expires_at: None,
        }
    }

    /// An in-memory connection with the latest schema.
    pub fn memory_store() -> rusqlite::Connection {
        let mut conn = rusqlite::Connection::open_in_memory().expect("memory store");
        super::migrations::migrate(&mut conn).expect("migrate");
        conn
    }
}
