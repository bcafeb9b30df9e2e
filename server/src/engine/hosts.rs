//! Connections to the hosts of the pool, re-established with backoff when
//! lost.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::EngineError;
use super::connector::Connector;
use super::hypervisor::Hypervisor;

const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// This machine's libvirtd, still starting, is asked again this often: it
/// will answer soon, and the dashboard should say so at once.
const STARTING_RETRY: Duration = Duration::from_secs(2);

struct Slot {
    uri: String,
    conn: Option<Arc<dyn Hypervisor>>,
    failures: u32,
    retry_at: Instant,
    last_error: Option<String>,
    /// Never connected yet, and the last try found libvirtd starting.
    starting: bool,
    ever_connected: bool,
}

/// What the pool knows of a host's connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkState {
    pub connected: bool,
    pub failures: u32,
    pub last_error: Option<String>,
}

pub struct HostPool {
    connector: Arc<dyn Connector>,
    slots: Mutex<HashMap<i64, Slot>>,
}

impl HostPool {
    /// A pool that opens its connections through `connector`.
    pub fn new(connector: Arc<dyn Connector>) -> HostPool {
        HostPool {
            connector,
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// Makes `host_id` known (or updates its URI).
    pub fn register(&self, host_id: i64, uri: &str) {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let slot = slots.entry(host_id).or_insert_with(|| Slot {
            uri: uri.to_owned(),
            conn: None,
            failures: 0,
            retry_at: Instant::now(),
            last_error: None,
            starting: false,
            ever_connected: false,
        });
        if slot.uri != uri {
            slot.uri = uri.to_owned();
            slot.conn = None;
        }
    }

    pub fn forget(&self, host_id: i64) {
        self.slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&host_id);
    }

    pub fn link_state(&self, host_id: i64) -> Option<LinkState> {
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.get(&host_id).map(|s| LinkState {
            connected: s.conn.is_some(),
            failures: s.failures,
            last_error: s.last_error.clone(),
        })
    }

    /// A live connection to `host_id`; blocking. A dead one is dropped and
    /// reopened, but not before its backoff (1, 2, 4 … 60 s) has passed.
    pub fn get(&self, host_id: i64) -> Result<Arc<dyn Hypervisor>, EngineError> {
        let uri = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            let slot = slots
                .get_mut(&host_id)
                .ok_or_else(|| EngineError::HostDown(format!("#{host_id}")))?;
            if let Some(conn) = &slot.conn {
                if conn.is_alive() {
                    return Ok(conn.clone());
                }
                tracing::warn!(uri = %slot.uri, "lost the connection to a host");
                slot.conn = None;
            }
            if Instant::now() < slot.retry_at {
                return Err(if slot.starting {
                    EngineError::HostStarting(slot.uri.clone())
                } else {
                    EngineError::HostDown(slot.uri.clone())
                });
            }
            slot.uri.clone()
        };
        // Connect without holding the lock: it can take seconds.
        let result = self.connector.connect(&uri);
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let slot = slots
            .get_mut(&host_id)
            .ok_or_else(|| EngineError::HostDown(uri.clone()))?;
        match result {
            Ok(host) => {
                if slot.failures > 0 {
                    tracing::info!(uri = %slot.uri, "reconnected to a host");
                }
                let conn: Arc<dyn Hypervisor> = host;
                slot.conn = Some(conn.clone());
                slot.failures = 0;
                slot.last_error = None;
                slot.starting = false;
                slot.ever_connected = true;
                Ok(conn)
            }
            Err(err) => {
                slot.failures = slot.failures.saturating_add(1);
                slot.starting =
                    !slot.ever_connected && super::libvirt::probe::is_starting(&uri, &err);
                let backoff = if slot.starting {
                    STARTING_RETRY
                } else {
                    Duration::from_secs(1 << slot.failures.min(6)).min(MAX_BACKOFF)
                };
                slot.retry_at = Instant::now() + backoff;
                slot.last_error = Some(crate::error_chain(&err));
                Err(err.into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_host_backs_off_then_retries() {
        let dir = tempfile::tempdir().unwrap();
        let credentials = crate::host_credentials::HostCredentials::under(dir.path());
        let pool = HostPool::new(Arc::new(super::super::connector::LibvirtConnector::new(
            credentials,
        )));
        pool.register(1, "qemu+tcp://127.0.0.1:1/system");
        assert!(pool.get(1).is_err());
        // Within the backoff it does not even try.
        assert!(matches!(pool.get(1), Err(EngineError::HostDown(_))));
        let state = pool.link_state(1).unwrap();
        assert!(!state.connected && state.failures == 1 && state.last_error.is_some());

        pool.register(2, "test:///default");
        assert!(pool.get(2).is_ok());
        assert!(pool.link_state(2).unwrap().connected);
    }
}
