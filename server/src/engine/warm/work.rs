//! What the engine keeps in memory about the warm pool's work in flight:
//! a field of the `Engine`, so a leaf that imports nothing of the engine.

use std::collections::HashSet;
use std::time::{Duration, Instant};

/// What the engine keeps in memory about the pool's work in flight.
#[derive(Default)]
pub struct PoolWork {
    /// Members whose build or recycling runs now.
    pub(super) busy: std::sync::Mutex<HashSet<i64>>,
    /// Members being built that are no longer wanted: their build stops
    /// at its next readiness check and destroys them.
    pub(super) cancelled: std::sync::Mutex<HashSet<i64>>,
    /// When a member last failed to build.
    pub(super) failed: Stamp,
    /// When the golden image last could not be read (not built yet).
    pub(super) unreadable: Stamp,
    /// When a claim last ended: the new instance's first pages get the
    /// host's CPU before a refill boots beside them.
    pub(super) claimed: Stamp,
}

/// When something last happened, if it has.
#[derive(Default)]
pub(super) struct Stamp(std::sync::Mutex<Option<Instant>>);

impl Stamp {
    /// It happened now.
    pub(super) fn note(&self) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    }

    /// Whether it happened less than `span` ago.
    pub(super) fn within(&self, span: Duration) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|at| at.elapsed() < span)
    }
}

impl PoolWork {
    /// Marks `id` busy; false when it already was.
    pub(super) fn take(&self, id: i64) -> bool {
        self.busy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id)
    }

    pub(super) fn release(&self, id: i64) {
        self.busy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        self.cancelled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }

    pub(super) fn cancel(&self, id: i64) {
        self.cancelled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id);
    }

    pub(super) fn is_cancelled(&self, id: i64) -> bool {
        self.cancelled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&id)
    }

    pub(super) fn is_busy(&self, id: i64) -> bool {
        self.busy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&id)
    }
}
