//! What each host was like at the reconciler's last look: connected or
//! not, versions, size and errors. Pages read it from memory; only the
//! reconciler, and adding a host, ask libvirt (a page render never does,
//! so a slow or dead host never slows a page).

use std::collections::HashMap;
use std::sync::Mutex;

use app::model::{Acceleration, HostProbe};

/// The last look at each host, by id.
#[derive(Default)]
pub struct HostStatuses(Mutex<HashMap<i64, HostProbe>>);

impl HostStatuses {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<i64, HostProbe>> {
        // A panic elsewhere cannot leave a map of whole entries half-made.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn record(&self, host_id: i64, probe: HostProbe) {
        self.map().insert(host_id, probe);
    }

    pub(super) fn forget(&self, host_id: i64) {
        self.map().remove(&host_id);
    }

    pub(super) fn has(&self, host_id: i64) -> bool {
        self.map().contains_key(&host_id)
    }

    /// Whether every host whose acceleration is known emulates its guests
    /// (QEMU's TCG: no usable KVM), and there is at least one: a guest
    /// booting there takes whole cores for minutes.
    pub(super) fn all_emulated(&self) -> bool {
        let map = self.map();
        let mut known = map
            .values()
            .filter_map(|probe| probe.acceleration)
            .peekable();
        known.peek().is_some()
            && known.all(|accel| match accel {
                Acceleration::Tcg => true,
                Acceleration::Kvm | Acceleration::Test => false,
            })
    }

    pub(super) fn get(&self, host_id: i64) -> Option<HostProbe> {
        self.map().get(&host_id).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(acceleration: Option<Acceleration>) -> HostProbe {
        HostProbe {
            acceleration,
            ..HostProbe::without_facts("test:///default".into(), true, false, None)
        }
    }

    #[test]
    fn hosts_all_emulate_only_when_every_known_one_uses_tcg() {
        let statuses = HostStatuses::default();
        assert!(!statuses.all_emulated(), "no host known");
        statuses.record(1, probe(Some(Acceleration::Tcg)));
        statuses.record(2, probe(None));
        assert!(statuses.all_emulated(), "an unreachable host says nothing");
        statuses.record(3, probe(Some(Acceleration::Kvm)));
        assert!(!statuses.all_emulated());
    }
}
