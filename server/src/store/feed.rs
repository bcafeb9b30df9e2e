//! The feed of changed rows that live pages follow (`/api/v1/events`):
//! every committed change to an instance or a task, numbered, from the
//! store's update hook (whoever wrote it) and from the engine (a task's
//! steps, and each round of usage readings). The last [`KEPT`] are kept, so a client that reconnects can
//! be told what it missed; one that missed more is told to start over.

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::broadcast;

/// Changes kept for clients that reconnect.
const KEPT: usize = 4096;

/// A row that changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Row {
    /// An instance was made or changed.
    Instance(i64),
    /// An instance's record is gone: who may have seen it goes with it.
    InstanceRemoved(Removed),
    /// A task was made, progressed or ended.
    Task(i64),
    /// Instances' use and their applications' traffic were read and
    /// stored, at these unix seconds (every 10 s, one row for them all).
    Readings(i64),
}

/// A removed instance, and whose it was (read from the row as it was
/// deleted): what readers' rights are checked against once it is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Removed {
    pub id: i64,
    pub owner: i64,
    pub department: Option<i64>,
}

/// A change with its number, which only grows (across restarts too: it
/// starts from the clock).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fed {
    pub seq: u64,
    pub row: Row,
}

/// More was missed than is kept: start over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Missed;

pub struct Feed {
    sender: broadcast::Sender<Fed>,
    /// The last changes, and the next number; one lock, so a subscriber
    /// sees each change once: in what it is given, or in its receiver.
    kept: Mutex<(VecDeque<Fed>, u64)>,
}

impl Default for Feed {
    fn default() -> Self {
        let start = u64::try_from(super::now_ms()).unwrap_or(0) * 1000;
        Feed {
            sender: broadcast::channel(KEPT).0,
            kept: Mutex::new((VecDeque::with_capacity(KEPT), start)),
        }
    }
}

impl Feed {
    fn kept(&self) -> std::sync::MutexGuard<'_, (VecDeque<Fed>, u64)> {
        self.kept.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Numbers and sends `rows`, each once.
    pub fn publish(&self, rows: impl IntoIterator<Item = Row>) {
        let mut kept = self.kept();
        for row in rows {
            let seq = kept.1;
            kept.1 += 1;
            let fed = Fed { seq, row };
            if kept.0.len() == KEPT {
                kept.0.pop_front();
            }
            kept.0.push_back(fed);
            // No receiver is no one listening: nothing to do.
            let _ = self.sender.send(fed);
        }
    }

    /// What came after change `after` (none: nothing, the client starts
    /// now), and everything from now on.
    pub fn subscribe(
        &self,
        after: Option<u64>,
    ) -> (Result<Vec<Fed>, Missed>, broadcast::Receiver<Fed>) {
        let kept = self.kept();
        let receiver = self.sender.subscribe();
        let missed = match after {
            None => Ok(Vec::new()),
            // Nothing new since.
            Some(after) if after + 1 == kept.1 => Ok(Vec::new()),
            Some(after) => match kept.0.front() {
                Some(first) if first.seq <= after + 1 && after < kept.1 => {
                    Ok(kept.0.iter().filter(|f| f.seq > after).copied().collect())
                }
                Some(_) | None => Err(Missed),
            },
        };
        (missed, receiver)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subscriber_gets_what_it_missed_or_is_told_to_start_over() {
        let feed = Feed::default();
        feed.publish([Row::Instance(1), Row::Task(2)]);
        let (nothing, _) = feed.subscribe(None);
        assert_eq!(nothing, Ok(vec![]));
        let first = {
            let (_, mut rx) = feed.subscribe(None);
            feed.publish([Row::Instance(3)]);
            rx.try_recv().unwrap()
        };
        assert_eq!(first.row, Row::Instance(3));
        let (since, _) = feed.subscribe(Some(first.seq - 2));
        let rows: Vec<Row> = since.unwrap().iter().map(|f| f.row).collect();
        assert_eq!(rows, [Row::Task(2), Row::Instance(3)]);
        assert_eq!(feed.subscribe(Some(first.seq)).0, Ok(vec![]));
        // Older than anything kept, or from the future (another run).
        assert_eq!(feed.subscribe(Some(first.seq - 100)).0, Err(Missed));
        assert_eq!(feed.subscribe(Some(first.seq + 100)).0, Err(Missed));
        // Everything after `first` is still kept after KEPT more...
        for n in 0..KEPT {
            feed.publish([Row::Instance(i64::try_from(n).unwrap())]);
        }
        let kept = feed.subscribe(Some(first.seq)).0.unwrap();
        assert_eq!(kept.len(), KEPT);
        // ...and no longer after one more.
        feed.publish([Row::Task(0)]);
        assert_eq!(feed.subscribe(Some(first.seq)).0, Err(Missed));
    }
}
