//! Live updates: the changes to the instances and tasks a principal may
//! see, as they happen, for the pages that show them.

use async_trait::async_trait;

use crate::error::AppError;
use crate::model::{InstanceView, TaskView};
use crate::policy::{Authorized, rights};

/// How a request's principal proved who they are (the context
/// middleware has checked it). The events stream checks it again as it
/// goes on, so a sign-out, a revoked token or a disabled account ends it,
/// and changed rights change what it carries.
#[derive(Clone)]
pub enum Credential {
    /// The session cookie's session, by id.
    Session(String),
    /// A bearer token's secret.
    Token(String),
}

/// Which kind, never the secret: contexts are logged.
impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Session(_) => f.write_str("Session(..)"),
            Credential::Token(_) => f.write_str("Token(..)"),
        }
    }
}

/// One change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LiveEvent {
    /// An instance as it is now (boxed: the other variants are small).
    Instance(Box<InstanceView>),
    /// An instance that is gone.
    InstanceRemoved(i64),
    /// A task as it is now.
    Task(TaskView),
    /// Instances' use and their applications' traffic were read, at
    /// these unix seconds: charts read theirs again. Every 10 s, and the
    /// same for every reader (it names no instance).
    Readings(i64),
    /// More happened than can be told: read everything again.
    Reset,
}

/// A change with its number, which a reconnecting reader gives back to
/// continue after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Numbered {
    pub id: u64,
    pub event: LiveEvent,
}

#[async_trait]
pub trait EventService: Send + Sync + 'static {
    /// The changes `who` may see from now on, or after event `after`.
    async fn events(
        &self,
        who: Authorized<'_, rights::UseInstances>,
        credential: Credential,
        after: Option<u64>,
    ) -> Result<Box<dyn LiveEvents>, AppError>;
}

/// The changes, one at a time.
#[async_trait]
pub trait LiveEvents: Send {
    /// The next change; `None` once the reader may no longer see any
    /// (signed out, disabled) or the appliance stops.
    async fn next(&mut self) -> Option<Numbered>;
}
