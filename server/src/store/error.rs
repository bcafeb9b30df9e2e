use std::path::PathBuf;

use app::model::InstanceStatus;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store at {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "the store's schema is version {found}, newer than this binary supports ({supported}); \
         run a newer dpe"
    )]
    SchemaTooNew { found: i64, supported: i64 },
    #[error("migration {version} failed")]
    Migration {
        version: i64,
        #[source]
        source: rusqlite::Error,
    },
    #[error("SQLite error")]
    Sqlite(#[source] rusqlite::Error),
    #[error("cannot start the store's reader threads")]
    Thread(#[source] std::io::Error),
    /// Only while the process ends: the readers' threads are gone.
    #[error("the store's readers have stopped")]
    ReadersGone,
    #[error("cannot write {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The row asked for is not there (or no longer).
    #[error("no such {0}")]
    NotFound(&'static str),
    /// A unique constraint refused the row: the name is taken.
    #[error("{0} already exists")]
    Duplicate(&'static str),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A write of an instance's status that its lifecycle does not allow
    /// ([`InstanceStatus::may_become`]): a bug in the caller, refused
    /// rather than recorded.
    #[error("instance {id} cannot go from {from} to {to}")]
    Transition {
        id: i64,
        from: InstanceStatus,
        to: InstanceStatus,
    },
    #[error("cannot seal a secret for the store")]
    Seal(#[from] crate::auth::secret_box::SealError),
    /// The disk under the store is full: SQLite rolled the write back.
    #[error("the store's disk is full")]
    Full(#[source] rusqlite::Error),
}

impl From<rusqlite::Error> for StoreError {
    /// A column whose text names no state (or role, or kind) is corrupt
    /// data, not a failing database: say so.
    fn from(err: rusqlite::Error) -> StoreError {
        match err {
            rusqlite::Error::FromSqlConversionFailure(column, _, why) => {
                StoreError::Corrupt(format!("column {column}: {why}"))
            }
            full if full.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) => {
                StoreError::Full(full)
            }
            other => StoreError::Sqlite(other),
        }
    }
}

impl StoreError {
    /// Maps a UNIQUE violation to `Duplicate(what)`, other errors unchanged.
    pub fn unique_as(err: rusqlite::Error, what: &'static str) -> StoreError {
        match err.sqlite_error_code() {
            Some(rusqlite::ErrorCode::ConstraintViolation) => StoreError::Duplicate(what),
            _ => StoreError::from(err),
        }
    }
}
