//! What each host was like at the reconciler's last look: connected or
//! not, versions, size and errors. Pages read it from memory; only the
//! reconciler, and adding a host, ask libvirt (a page render never does,
//! so a slow or dead host never slows a page).

use std::collections::HashMap;
use std::sync::Mutex;

use app::model::HostProbe;

use super::probe;
use super::runtime::Engine;
use crate::blocking::run_blocking;
use crate::store::hosts::HostRow;

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

    fn get(&self, host_id: i64) -> Option<HostProbe> {
        self.map().get(&host_id).cloned()
    }
}

impl Engine {
    /// Looks at `host` through the pool's connection and records what it
    /// saw; the connection when there is one.
    pub(super) async fn look_at(
        &self,
        host: &HostRow,
    ) -> Option<std::sync::Arc<dyn super::hypervisor::Hypervisor>> {
        let (probe, conn) = match self.connect(host.id).await {
            Ok(conn) => {
                let facts = conn.clone();
                match run_blocking(move || facts.facts()).await {
                    Ok(probe) => (probe, Some(conn)),
                    Err(e) => (probe::disconnected(&host.uri, &e), None),
                }
            }
            Err(e) => (probe::disconnected(&host.uri, &e), None),
        };
        self.host_statuses.record(host.id, probe);
        conn
    }

    /// `host` as last seen; before anyone has looked, "not checked yet".
    pub fn host_probe(&self, host: &HostRow) -> HostProbe {
        self.host_statuses.get(host.id).unwrap_or_else(|| {
            HostProbe::without_facts(
                host.uri.clone(),
                false,
                true,
                Some("not checked yet".into()),
            )
        })
    }
}
