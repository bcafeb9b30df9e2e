//! What the reconciler found that no record explains, for the portal: a
//! leaf the engine holds and `reconcile` fills.

use std::collections::BTreeMap;
use std::sync::Mutex;

use app::model::HeldLeftover;

/// The leftovers removed since dpe started, and those kept at each host's
/// last look while the store is a restored one.
#[derive(Default)]
pub struct LeftoverLog {
    cleaned: Mutex<Vec<String>>,
    /// By host id: each pass replaces its host's list, so one that was
    /// adopted or went away leaves the list at the next look.
    held: Mutex<BTreeMap<i64, Vec<HeldLeftover>>>,
}

impl LeftoverLog {
    pub(super) fn removed(&self, what: impl IntoIterator<Item = String>) {
        lock(&self.cleaned).extend(what);
    }

    pub(super) fn kept(&self, host: i64, what: Vec<HeldLeftover>) {
        let mut held = lock(&self.held);
        if what.is_empty() {
            held.remove(&host);
        } else {
            held.insert(host, what);
        }
    }

    pub(super) fn forget_held(&self) {
        lock(&self.held).clear();
    }

    /// Removed, oldest first.
    pub fn cleaned(&self) -> Vec<String> {
        lock(&self.cleaned).clone()
    }

    /// Kept, host by host.
    pub fn held(&self) -> Vec<HeldLeftover> {
        lock(&self.held).values().flatten().cloned().collect()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere while holding it leaves a list still worth reading.
    m.lock().unwrap_or_else(|p| p.into_inner())
}
