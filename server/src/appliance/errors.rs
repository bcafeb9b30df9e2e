//! The service layer's errors: what a caller may learn of a store, engine,
//! session or throttle error, as an [`AppError`], and why the appliance
//! could not start. Every variant is matched by name, so that a new one is
//! a decision here, not a silent 500.

use std::time::Duration;

use app::error::AppError;

use crate::auth::secret_box::SecretBoxError;
use crate::engine::hypervisor::HostError;
use crate::engine::{EngineError, Refusal};
use crate::error_chain;
use crate::stack::StackError;
use crate::store::StoreError;

/// Logs the whole chain and answers with a message that reveals nothing.
pub(super) fn internal(err: &dyn std::error::Error) -> AppError {
    tracing::error!(error = %error_chain(err), "internal error");
    AppError::Internal
}

pub(super) fn store_err(err: StoreError) -> AppError {
    match err {
        StoreError::Duplicate(what) => AppError::Conflict(format!("{what} already exists")),
        StoreError::NotFound(what) => AppError::NotFound(what.into()),
        e @ StoreError::Full(_) => {
            tracing::error!(error = %error_chain(&e), "the data disk is full");
            AppError::StorageFull {
                store: "the appliance's data disk".into(),
            }
        }
        e @ (StoreError::Open { .. }
        | StoreError::SchemaTooNew { .. }
        | StoreError::Migration { .. }
        | StoreError::Sqlite(_)
        | StoreError::Thread(_)
        | StoreError::ReadersGone
        | StoreError::Io { .. }
        | StoreError::Corrupt(_)
        | StoreError::Transition { .. }
        | StoreError::Seal(_)) => internal(&e),
    }
}

pub(super) fn session_err(err: tower_sessions::session::Error) -> AppError {
    internal(&err)
}

/// What the caller may learn of an engine error. Every variant is listed so
/// that a new one is a decision here, not a silent 500.
pub(super) fn engine_err(err: EngineError) -> AppError {
    match err {
        EngineError::Store(e) => store_err(e),
        EngineError::HostDown(host) => {
            AppError::Unavailable(format!("host {host} is not connected"))
        }
        EngineError::HostStarting(host) => AppError::Unavailable(format!(
            "host {host} is still starting; try again in a few seconds"
        )),
        e @ (EngineError::NoCapacity { .. }
        | EngineError::NotPlaced(_)
        | EngineError::NoStackVersion(_)) => AppError::Unavailable(e.to_string()),
        EngineError::SnapshotGone => AppError::NotFound("snapshot".into()),
        EngineError::BackupGone => AppError::NotFound("backup".into()),
        e @ (EngineError::BackupDamaged(_) | EngineError::DrillFailed(_)) => {
            AppError::Conflict(e.to_string())
        }
        e @ EngineError::BackupStoreFull(_) => {
            tracing::error!(error = %error_chain(&e), "the backup store is full");
            AppError::StorageFull {
                store: "the backup store".into(),
            }
        }
        e @ EngineError::Host(HostError::NoSpace { .. }) => {
            tracing::error!(error = %error_chain(&e), "a host's storage is full");
            AppError::StorageFull {
                store: "the host's storage pool".into(),
            }
        }
        // Host internals (URIs, paths, libvirt's words) stay in the log.
        e @ (EngineError::Host(_)
        | EngineError::Xml(_)
        | EngineError::HttpClient(_)
        | EngineError::VolumeMissing(_)
        | EngineError::Seed(_)
        | EngineError::Image { .. }
        | EngineError::GoldenMismatch { .. }
        | EngineError::VersionImageChanged { .. }
        | EngineError::GuestCommand { .. }
        | EngineError::ClaimInterrupted
        | EngineError::BackupInterrupted
        | EngineError::UnknownStep { .. }
        | EngineError::UserData(_)
        | EngineError::NoPersonalization
        | EngineError::ConsoleThread(_)) => internal(&e),
    }
}

/// What the caller is told of a refused deploy.
pub(super) fn refusal_err(refusal: Refusal) -> AppError {
    match refusal {
        Refusal::Quota(exceeded) => AppError::QuotaExceeded(format!("Deploy refused: {exceeded}")),
        e @ Refusal::NoOutsideZone => AppError::invalid("zone", e.to_string()),
        e @ (Refusal::PoolExhausted { .. }
        | Refusal::PortsExhausted { .. }
        | Refusal::SnapshotLimit { .. }
        | Refusal::BackupUnusable(_)
        | Refusal::HostDraining(_)
        | Refusal::HasSnapshots(_)
        | Refusal::NotMovable { .. }
        | Refusal::NotResizable { .. }
        | Refusal::HostFull { .. }) => AppError::Conflict(e.to_string()),
        e @ (Refusal::SameSize(_) | Refusal::ShrinksDisk { .. }) => {
            AppError::invalid("size", e.to_string())
        }
        e @ (Refusal::AlreadyThere(_) | Refusal::NoMigrationAddress(_)) => {
            AppError::invalid("host", e.to_string())
        }
        Refusal::NotKept => AppError::NotFound("kept guest".into()),
        e @ (Refusal::NoRecord | Refusal::NoSuchSize { .. }) => AppError::Conflict(e.to_string()),
        e @ Refusal::UnknownOwner(_) => AppError::invalid("owner", e.to_string()),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot open the store")]
    Store(#[from] StoreError),
    #[error("cannot load the application stack")]
    Stack(#[from] StackError),
    #[error("cannot start the engine")]
    Engine(#[from] EngineError),
    #[error("cannot make the setup code")]
    SetupCode(#[source] std::io::Error),
    #[error("cannot load the secret key")]
    SecretKey(#[source] SecretBoxError),
    #[error("cannot make the credentials for remote hosts")]
    HostCredentials(#[source] crate::host_credentials::CredentialError),
}

/// The refusal of a throttled attempt, with whole seconds to wait.
pub(super) fn throttled_for(wait: Duration) -> AppError {
    AppError::Throttled {
        retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
    }
}
