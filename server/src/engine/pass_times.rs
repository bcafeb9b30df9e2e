//! How long the reconciler's passes take: a leaf the engine holds and
//! `reconcile_once` counts into, read by `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How long the reconciler's passes take, for `/metrics`: a pass that
/// grows with the hosts is the first sign of an appliance outgrowing them.
#[derive(Default)]
pub struct PassTimes {
    passes: AtomicU64,
    micros: AtomicU64,
    last_micros: AtomicU64,
}

/// [`PassTimes`] read at once.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PassFigures {
    pub passes: u64,
    pub seconds: f64,
    pub last_seconds: f64,
}

impl PassTimes {
    pub(super) fn passed(&self, took: Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.passes.fetch_add(1, Ordering::Relaxed);
        self.micros.fetch_add(micros, Ordering::Relaxed);
        self.last_micros.store(micros, Ordering::Relaxed);
    }

    pub fn figures(&self) -> PassFigures {
        let seconds = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64 / 1e6;
        PassFigures {
            passes: self.passes.load(Ordering::Relaxed),
            seconds: seconds(&self.micros),
            last_seconds: seconds(&self.last_micros),
        }
    }
}
