//! What the reconciler found that no record explains, for the portal: a
//! leaf the engine holds and `reconcile` fills.

use std::collections::BTreeMap;
use std::sync::Mutex;

use app::model::{HeldLeftover, Power};

use super::xml::domain::GuestRecord;

/// A kept domain an admin may adopt: where it is and what its metadata
/// says of it.
#[derive(Clone, Debug)]
pub struct Adoptable {
    pub host_id: i64,
    pub owner: String,
    /// Its power state at that look: the adopted instance shows it at
    /// once, before the reconciler's next pass looks again.
    pub power: Power,
    pub record: GuestRecord,
}

/// A kept leftover as the portal lists it, with what adopting it takes.
pub(super) type Kept = (HeldLeftover, Option<Adoptable>);

/// The leftovers removed since dpe started, and those kept at each host's
/// last look while the store is a restored one.
#[derive(Default)]
pub struct LeftoverLog {
    cleaned: Mutex<Vec<String>>,
    /// By host id: each pass replaces its host's list, so one that was
    /// adopted or went away leaves the list at the next look.
    held: Mutex<BTreeMap<i64, Vec<Kept>>>,
}

impl LeftoverLog {
    pub(super) fn removed(&self, what: impl IntoIterator<Item = String>) {
        lock(&self.cleaned).extend(what);
    }

    pub(super) fn kept(&self, host: i64, what: Vec<Kept>) {
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

    /// Forgets a kept domain once adopted, before the next look.
    pub(super) fn adopted(&self, instance_uuid: &str) {
        for list in lock(&self.held).values_mut() {
            list.retain(|(h, _)| h.instance_uuid.as_deref() != Some(instance_uuid));
        }
    }

    /// Removed, oldest first.
    pub fn cleaned(&self) -> Vec<String> {
        lock(&self.cleaned).clone()
    }

    /// Kept, host by host.
    pub fn held(&self) -> Vec<HeldLeftover> {
        lock(&self.held)
            .values()
            .flatten()
            .map(|(h, _)| h.clone())
            .collect()
    }

    /// The kept domain of instance `uuid`: `None` if none is kept, `Some(None)`
    /// if it is but carries no record to adopt it from.
    pub(super) fn adoptable(&self, instance_uuid: &str) -> Option<Option<Adoptable>> {
        lock(&self.held)
            .values()
            .flatten()
            .find(|(h, _)| h.instance_uuid.as_deref() == Some(instance_uuid))
            .map(|(_, a)| a.clone())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere while holding it leaves a list still worth reading.
    m.lock().unwrap_or_else(|p| p.into_inner())
}
