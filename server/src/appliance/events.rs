//! Live updates: the store's feed of changed instances and tasks, as each
//! reader may see them, their rights checked again whenever anything they
//! depend on changes (and at least every [`RECHECK`] while it is quiet).

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use app::error::AppError;
use app::model::Principal;
use app::policy::{Authorized, authorize, may_use, rights};
use app::service::{
    Credential, EventService, InstanceService, LiveEvent, LiveEvents, Numbered, SessionService,
};
use async_trait::async_trait;
use tokio::sync::broadcast;

use super::Appliance;
use super::errors::store_err;
use crate::store::feed::{Fed, Row};
use crate::store::{Change, instances, sessions};

/// What a reader's rights depend on.
const RIGHTS: &[Change] = &[
    Change::Accounts,
    Change::Departments,
    Change::Tokens,
    Change::SessionEnded,
];

/// A quiet stream checks its reader's rights this often anyway (and its
/// connection: the keep-alive goes out as often).
const RECHECK: Duration = Duration::from_secs(15);

impl Appliance {
    /// Who `credential` is now: `None` once signed out, revoked or
    /// disabled.
    async fn still(
        &self,
        credential: &Credential,
        user_id: i64,
    ) -> Result<Option<Principal>, AppError> {
        match credential {
            Credential::Token(secret) => self.principal_for_token(secret).await,
            Credential::Session(id) => {
                let id = id.clone();
                let alive = self
                    .store
                    .read(move |c| sessions::exists(c, &id))
                    .await
                    .map_err(store_err)?;
                if !alive {
                    return Ok(None);
                }
                self.principal_for_user(user_id).await
            }
        }
    }
}

#[async_trait]
impl EventService for Appliance {
    async fn events(
        &self,
        who: Authorized<'_, rights::UseInstances>,
        credential: Credential,
        after: Option<u64>,
    ) -> Result<Box<dyn LiveEvents>, AppError> {
        let appliance = self.me.upgrade().ok_or(AppError::Internal)?;
        let (missed, receiver) = self.store.feed().subscribe(after);
        let (backlog, reset) = match missed {
            Ok(missed) => (missed.into_iter().collect(), false),
            Err(_) => (VecDeque::new(), true),
        };
        Ok(Box::new(Live {
            checked: self.store.changes(RIGHTS),
            moved: self.store.watch_changes(),
            appliance,
            who: who.principal().clone(),
            credential,
            backlog,
            receiver,
            reset,
            last: after.unwrap_or(0),
            shown: HashSet::new(),
            ended: false,
        }))
    }
}

/// One reader's stream.
struct Live {
    appliance: Arc<Appliance>,
    who: Principal,
    credential: Credential,
    /// Changes to tell before the receiver's.
    backlog: VecDeque<Fed>,
    receiver: broadcast::Receiver<Fed>,
    /// The reader must start over (it missed more than is kept).
    reset: bool,
    /// The number of the last change told.
    last: u64,
    /// The rights' change count when last checked.
    checked: u64,
    /// Wakes the stream when anything its rights depend on may have moved.
    moved: tokio::sync::watch::Receiver<()>,
    /// Instances this stream has told of: their removal is told too.
    shown: HashSet<i64>,
    ended: bool,
}

/// What the next step of a stream is.
enum Step {
    Tell(Fed),
    Quiet,
    Lagged,
    Closed,
}

impl Live {
    async fn step(&mut self) -> Step {
        if let Some(fed) = self.backlog.pop_front() {
            return Step::Tell(fed);
        }
        tokio::select! {
            received = tokio::time::timeout(RECHECK, self.receiver.recv()) => match received {
                Err(_) => Step::Quiet,
                Ok(Ok(fed)) => Step::Tell(fed),
                Ok(Err(broadcast::error::RecvError::Lagged(_))) => Step::Lagged,
                Ok(Err(broadcast::error::RecvError::Closed)) => Step::Closed,
            },
            // A count moved: the recheck that follows every step sees it.
            _ = self.moved.changed() => Step::Quiet,
        }
    }

    /// Checks the reader's rights again if anything they depend on
    /// changed: false once they have none; a reset when they changed.
    async fn recheck(&mut self) -> bool {
        let now = self.appliance.store.changes(RIGHTS);
        if now == self.checked {
            return true;
        }
        self.checked = now;
        match self
            .appliance
            .still(&self.credential, self.who.user_id)
            .await
        {
            Ok(Some(principal)) => {
                if principal.role != self.who.role
                    || principal.managed_departments != self.who.managed_departments
                {
                    // What the reader may see changed: all of it is news.
                    self.reset = true;
                }
                self.who = Principal {
                    address: self.who.address.clone(),
                    ..principal
                };
                true
            }
            Ok(None) => false,
            Err(e) => {
                tracing::warn!(error = %e, "cannot recheck a live reader; ending its stream");
                false
            }
        }
    }

    /// The event `row` is for this reader, if any.
    async fn event_of(&mut self, row: Row) -> Option<LiveEvent> {
        match row {
            Row::Instance(id) => {
                let found = self
                    .appliance
                    .store
                    .read(move |c| instances::by_id(c, id))
                    .await
                    .ok()
                    .flatten()
                    .filter(|r| may_use(&self.who, r.owner_id, r.department_id));
                match found {
                    Some(row) => {
                        self.shown.insert(id);
                        let view = self.appliance.instance_view(row.into());
                        // A live update shows what an update would change,
                        // as the page's first answer did.
                        let view = self
                            .appliance
                            .with_version_changes(vec![view])
                            .await
                            .ok()
                            .and_then(|mut v| v.pop())?;
                        Some(LiveEvent::Instance(Box::new(view)))
                    }
                    None if self.shown.remove(&id) => Some(LiveEvent::InstanceRemoved(id)),
                    None => None,
                }
            }
            // Told to whoever may have seen it: this stream told of it,
            // or the reader may use what its owner and department were.
            Row::InstanceRemoved(gone) => {
                let told = self.shown.remove(&gone.id);
                (told || may_use(&self.who, gone.owner, gone.department))
                    .then_some(LiveEvent::InstanceRemoved(gone.id))
            }
            Row::Task(id) => {
                // Asked again as the reader is now (rechecked as it goes).
                let who = authorize::<rights::UseInstances>(Some(&self.who)).ok()?;
                let task = self.appliance.task(who, id).await.ok()?;
                // Its instance shows whether a task runs on it: tell it next.
                if let Some(instance) = task.instance_id {
                    self.backlog.push_front(Fed {
                        seq: self.last,
                        row: Row::Instance(instance),
                    });
                }
                Some(LiveEvent::Task(task))
            }
            Row::Readings(at) => Some(LiveEvent::Readings(at)),
        }
    }
}

#[async_trait]
impl LiveEvents for Live {
    async fn next(&mut self) -> Option<Numbered> {
        loop {
            if self.ended {
                return None;
            }
            if self.reset {
                self.reset = false;
                self.backlog.clear();
                return Some(Numbered {
                    id: self.last,
                    event: LiveEvent::Reset,
                });
            }
            let step = self.step().await;
            if !self.recheck().await {
                self.ended = true;
                return None;
            }
            match step {
                Step::Tell(fed) => {
                    self.last = self.last.max(fed.seq);
                    if let Some(event) = self.event_of(fed.row).await {
                        return Some(Numbered {
                            id: self.last,
                            event,
                        });
                    }
                }
                Step::Quiet => {}
                Step::Lagged => self.reset = true,
                Step::Closed => self.ended = true,
            }
        }
    }
}
