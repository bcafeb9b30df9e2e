//! The reader connections, each on a thread of its own for the store's
//! life. A read is queued to whichever is free and its caller waits,
//! asleep, for the answer.
//!
//! Why not tokio's blocking pool: a pool thread is handed back a moment
//! after its result, so under load each burst found none idle and started
//! more (about thirty, where four connections can only ever run four
//! reads), and the threads that were let go after their idle time left
//! behind allocator pages the rest of the process still pointed into.
//! Four threads that never end cost four stacks, and nothing else.
//!
//! Why a mutex and a condition variable, not a channel: crossbeam's (and
//! so std's) blocking receive spins, then yields the CPU a few times
//! before it sleeps. An idle reader woken for one read thus made some ten
//! `sched_yield` calls; in a profile of the dashboard under load (three
//! reads a page then), the reader threads' spinning and switching were
//! about a tenth of dpe's CPU. Waiting on a `Condvar` sleeps at once and
//! wakes for the next job.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;

use rusqlite::Connection;

use super::StoreError;

type Job = Box<dyn FnOnce(&Connection) + Send>;

/// The jobs waiting for a reader, and whether more may come.
#[derive(Default)]
struct Queue {
    jobs: Mutex<Waiting>,
    /// Signalled when a job is queued, or the queue closes.
    queued: Condvar,
}

#[derive(Default)]
struct Waiting {
    jobs: VecDeque<Job>,
    closed: bool,
}

impl Queue {
    fn push(&self, job: Job) -> Result<(), StoreError> {
        let mut waiting = self.jobs.lock().unwrap_or_else(PoisonError::into_inner);
        if waiting.closed {
            return Err(StoreError::ReadersGone);
        }
        waiting.jobs.push_back(job);
        drop(waiting);
        self.queued.notify_one();
        Ok(())
    }

    /// The next job; None once the queue is closed and empty.
    fn next(&self) -> Option<Job> {
        let mut waiting = self.jobs.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(job) = waiting.jobs.pop_front() {
                return Some(job);
            }
            if waiting.closed {
                return None;
            }
            waiting = self
                .queued
                .wait(waiting)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn close(&self) {
        self.jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .closed = true;
        self.queued.notify_all();
    }
}

pub(super) struct Readers {
    /// Closed when the store is dropped, which ends the threads once the
    /// reads already queued are done.
    queue: Arc<Queue>,
}

impl Drop for Readers {
    fn drop(&mut self) {
        self.queue.close();
    }
}

impl Readers {
    /// Opens `count` connections with `open` (here, so that a failure is
    /// the caller's error) and starts a thread for each.
    pub(super) fn start(
        count: usize,
        open: impl Fn() -> Result<Connection, StoreError>,
    ) -> Result<Readers, StoreError> {
        let readers = Readers {
            queue: Arc::default(),
        };
        for n in 0..count {
            let conn = open()?;
            let queue = readers.queue.clone();
            thread::Builder::new()
                .name(format!("store-reader-{n}"))
                .spawn(move || {
                    while let Some(job) = queue.next() {
                        job(&conn);
                    }
                })
                .map_err(StoreError::Thread)?;
        }
        Ok(readers)
    }

    /// Runs `query` on the next free reader connection.
    ///
    /// A panic inside `query` is resumed in the caller, as if it had run
    /// inline; the reader's thread goes on to the next.
    pub(super) async fn run<T, F>(&self, query: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let outcome = catch_unwind(AssertUnwindSafe(|| query(conn)));
            // Nobody listens when the caller was dropped (a closed request).
            let _ = answer.send(outcome);
        });
        self.queue.push(job)?;
        match answered.await {
            Ok(Ok(result)) => result,
            Ok(Err(panic)) => resume_unwind(panic),
            Err(_) => Err(StoreError::ReadersGone),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readers(count: usize) -> Readers {
        Readers::start(count, || Ok(Connection::open_in_memory()?)).expect("readers")
    }

    #[tokio::test]
    async fn a_read_answers_from_a_reader_thread() {
        let readers = readers(2);
        let (name, one) = readers
            .run(|conn| {
                let one: i64 = conn.query_row("SELECT 1", [], |r| r.get(0))?;
                Ok((thread::current().name().map(str::to_owned), one))
            })
            .await
            .expect("read");
        assert_eq!(one, 1);
        assert!(name.is_some_and(|n| n.starts_with("store-reader-")));
    }

    #[tokio::test]
    async fn many_reads_at_once_use_only_the_readers_threads() {
        let readers = std::sync::Arc::new(readers(4));
        let reads = (0..200).map(|_| {
            let readers = readers.clone();
            tokio::spawn(async move {
                readers
                    .run(|_| Ok(thread::current().name().map(str::to_owned)))
                    .await
            })
        });
        let mut names = std::collections::BTreeSet::new();
        for read in reads {
            names.insert(read.await.expect("task").expect("read"));
        }
        assert!(names.len() <= 4, "{names:?}");
    }

    #[tokio::test]
    async fn a_panicking_read_panics_its_caller_and_the_reader_goes_on() {
        let readers = std::sync::Arc::new(readers(1));
        let panicking = readers.clone();
        let outcome = tokio::spawn(async move {
            panicking
                .run(|_| -> Result<(), StoreError> { panic!("a bug in a query") })
                .await
        })
        .await;
        assert!(outcome.is_err_and(|e| e.is_panic()));
        let after = readers
            .run(|_| Ok(7))
            .await
            .expect("the reader still reads");
        assert_eq!(after, 7);
    }

    #[test]
    fn a_reader_that_cannot_open_is_the_callers_error() {
        let refused = Readers::start(2, || Err(StoreError::NotFound("database")));
        assert!(matches!(refused, Err(StoreError::NotFound("database"))));
    }
}
