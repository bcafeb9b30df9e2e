//! The engine itself: what it holds. It accepts deploys and actions as
//! persisted tasks (`admission`), runs their steps (`driver`, `steps`),
//! places instances (`placement`), and reconciles the store with libvirt,
//! which is the truth for power state (`reconcile`, `health`); what runs
//! on its own starts in `background`. Each of those rooms adds an
//! `impl Engine` block of its own; the fields stay private to the engine,
//! and their types come from leaf files, so that this file imports none
//! of the rooms that use it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;

use super::EngineError;
use super::connector::Connector;
use super::console::broker::Consoles;
use super::host_status::HostStatuses;
use super::hosts::HostPool;
use super::hypervisor::Hypervisor;
use super::leftovers::LeftoverLog;
use super::pass_times::PassTimes;
use super::usage::host_rates::LastHostReadings;
use super::usage::rates::LastReadings;
use super::usage::traffic::TrafficMeter;
use super::volumes;
use super::warm::work::PoolWork;
use crate::blocking::run_blocking;
use crate::clock::Clock;
use crate::stack::Stack;
use crate::store::{Store, hosts, settings};

#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// The libvirt storage pool dpe manages on every host.
    pub storage_pool: String,
    /// The libvirt storage pool of the backup store on every host.
    pub backup_pool: String,
    /// How long a guest may take to power off after the ACPI button.
    pub shutdown_timeout: Duration,
    pub reconcile_interval: Duration,
    /// How often the lease pass looks for warnings, expiries and
    /// deletions due.
    pub lease_interval: Duration,
    /// How often what instances use is read.
    pub usage_interval: Duration,
    /// How long a restore drill's guest may take to come up and answer
    /// (under software emulation the DokuWiki image needs one to two
    /// minutes).
    pub drill_timeout: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            storage_pool: "dpe".into(),
            backup_pool: "dpe-backups".into(),
            shutdown_timeout: Duration::from_secs(60),
            reconcile_interval: Duration::from_secs(3),
            lease_interval: Duration::from_secs(60),
            usage_interval: Duration::from_secs(10),
            drill_timeout: Duration::from_secs(15 * 60),
        }
    }
}

pub struct Engine {
    /// Written into every domain: the reconciler only ever removes domains
    /// of its own appliance.
    pub(super) appliance_id: String,
    pub(super) store: Store,
    pub(super) stack: Arc<Stack>,
    pub(super) hosts: Arc<HostPool>,
    pub(super) config: EngineConfig,
    /// One placement at a time, so concurrent deploys cannot overcommit.
    pub(super) placement: tokio::sync::Mutex<()>,
    /// One golden upload at a time per appliance.
    pub(super) golden_lock: tokio::sync::Mutex<()>,
    pub(super) events: broadcast::Sender<i64>,
    /// What the reconciler found that no record explains.
    pub(super) leftovers: LeftoverLog,
    /// Each host at the reconciler's last look.
    pub(super) host_statuses: HostStatuses,
    pub(super) http: reqwest::Client,
    /// The warm pool's builds and recyclings in flight.
    pub(super) pool_work: PoolWork,
    /// Wakes the reconciler before its next tick: a deploy that just
    /// finished is health-checked at once, not up to a pass later (a warm
    /// deploy's application answers within seconds).
    pub(super) reconcile_now: Arc<tokio::sync::Notify>,
    /// What leases run by (tests move it on by days).
    pub(super) clock: Arc<dyn Clock>,
    /// The serial consoles open in the portal.
    pub(super) consoles: Arc<Consoles>,
    /// Each running domain's last usage reading, for the next one's rates.
    pub(super) last_readings: LastReadings,
    /// Each host's last reading of its own figures, likewise.
    pub(super) last_host_readings: LastHostReadings,
    /// Each application's traffic, counted by the gateway.
    pub traffic: Arc<TrafficMeter>,
    /// How long the reconciler's passes took.
    pub pass_times: PassTimes,
}

impl Engine {
    /// An engine whose hosts `connector` opens: `LibvirtConnector` in
    /// production, fake hosts in tests.
    pub async fn new(
        store: Store,
        stack: Arc<Stack>,
        config: EngineConfig,
        connector: Arc<dyn Connector>,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Engine>, EngineError> {
        let appliance_id = store
            .write(|tx| {
                if let Some(id) = settings::get(tx, settings::APPLIANCE_ID)? {
                    return Ok(id);
                }
                let id = uuid::Uuid::new_v4().to_string();
                settings::set(tx, settings::APPLIANCE_ID, &id)?;
                Ok(id)
            })
            .await?;
        let engine = Arc::new(Engine {
            appliance_id,
            store,
            stack,
            hosts: Arc::new(HostPool::new(connector)),
            config,
            placement: tokio::sync::Mutex::new(()),
            golden_lock: tokio::sync::Mutex::new(()),
            events: broadcast::channel(1024).0,
            leftovers: LeftoverLog::default(),
            host_statuses: HostStatuses::default(),
            http: super::health_client::client()?,
            pool_work: Default::default(),
            reconcile_now: Arc::new(tokio::sync::Notify::new()),
            clock,
            consoles: Arc::default(),
            last_readings: LastReadings::default(),
            last_host_readings: LastHostReadings::default(),
            traffic: Arc::default(),
            pass_times: PassTimes::default(),
        });
        // No look at the hosts yet: the reconciler's first pass does that
        // at once, and a host that does not answer must not hold up start.
        engine.register_hosts().await?;
        Ok(engine)
    }

    /// Registers the store's hosts with the connection pool.
    async fn register_hosts(&self) -> Result<Vec<hosts::HostRow>, EngineError> {
        let rows = self.store.read(hosts::list).await?;
        for h in &rows {
            self.hosts.register(h.id, &h.uri);
        }
        Ok(rows)
    }

    /// Registers hosts just added to the store, and looks at them (so
    /// their page shows them at once, not after the next pass).
    pub async fn sync_hosts(&self) -> Result<(), EngineError> {
        for h in self.register_hosts().await? {
            if !self.host_statuses.has(h.id) {
                self.look_at(&h).await;
            }
        }
        Ok(())
    }

    /// Drops a removed host's connection and status.
    pub fn forget_host(&self, host_id: i64) {
        self.hosts.forget(host_id);
        self.host_statuses.forget(host_id);
    }

    /// Task ids whose state changed: for live progress.
    pub fn subscribe(&self) -> broadcast::Receiver<i64> {
        self.events.subscribe()
    }

    pub(super) fn notify(&self, task_id: i64) {
        let _ = self.events.send(task_id);
        // Step progress touches no row of `tasks`: the feed hears it here.
        self.store
            .feed()
            .publish([crate::store::feed::Row::Task(task_id)]);
    }

    /// Unix seconds now, by the engine's clock.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// The appliance id written into every domain this engine defines.
    pub fn appliance_id(&self) -> &str {
        &self.appliance_id
    }

    /// The application stack this appliance deploys.
    pub fn stack(&self) -> &Arc<Stack> {
        &self.stack
    }

    /// What the volume names of this appliance's new instances start with.
    pub fn volume_prefix(&self) -> String {
        volumes::prefix(&self.appliance_id)
    }

    /// Orphans the reconciler found and removed, newest last.
    pub fn cleaned_orphans(&self) -> Vec<String> {
        self.leftovers.cleaned()
    }

    /// What the reconciler kept while the store is a restored one.
    pub fn held_leftovers(&self) -> Vec<app::model::HeldLeftover> {
        self.leftovers.held()
    }

    /// A live connection to the host (connecting blocks).
    pub async fn connect(&self, host_id: i64) -> Result<Arc<dyn Hypervisor>, EngineError> {
        let pool = self.hosts.clone();
        run_blocking(move || pool.get(host_id)).await
    }
}
