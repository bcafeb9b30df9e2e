//! The engine: accepts deploys and actions as persisted tasks, runs their
//! steps (each idempotent, recorded before and after), rolls a failed
//! deploy back, resumes what a crash cut off, and reconciles the store with
//! libvirt, which is the truth for power state.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::model::{Acceleration, Accepted, NetworkZone, Power, Principal, TaskKind};
use app::org::Usage;
use rand::Rng;
use tokio::sync::broadcast;

use super::EngineError;
use super::golden::{self, GoldenVolumes, ImageIdentity};
use super::hosts::HostPool;
use super::hypervisor::Hypervisor;
use super::seed::{self, Addressing, SeedContent, StaticAddressing};
use super::steps::Step;
use super::xml::domain as dx;
use super::xml::to_xml;
use crate::blocking::run_blocking;
use crate::stack::{Size, Stack};
use crate::store::instances::{InstanceRow, NewInstance};
use crate::store::tasks::TaskRow;
use crate::store::{Store, StoreError, hosts, instances, quotas, settings, tasks, zones};

/// Guests get up to this many vCPUs per host CPU.
const VCPU_OVERCOMMIT: u64 = 4;
const POLL: Duration = Duration::from_millis(500);

#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// The libvirt storage pool dpe manages on every host.
    pub pool: String,
    /// How long a guest may take to power off after the ACPI button.
    pub shutdown_timeout: Duration,
    pub reconcile_interval: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            pool: "dpe".into(),
            shutdown_timeout: Duration::from_secs(60),
            reconcile_interval: Duration::from_secs(3),
        }
    }
}

/// A deploy request after validation by the service layer.
#[derive(Clone, Debug)]
pub struct DeployPlan {
    pub name: String,
    pub size: Size,
    /// Parameters without secrets, stored with the instance.
    pub public_params: BTreeMap<String, String>,
    /// The rendered cloud-config (secrets only as hashes).
    pub user_data: String,
    /// The inside zone's NAT network; the host's own when absent.
    pub network: Option<String>,
    pub zone: NetworkZone,
    /// The text the application's health answer must contain.
    pub health_expect: String,
}

pub struct Engine {
    /// Written into every domain: the reconciler only ever removes domains
    /// of its own appliance.
    pub appliance_id: String,
    pub store: Store,
    pub stack: Arc<Stack>,
    pub hosts: Arc<HostPool>,
    pub config: EngineConfig,
    /// One placement at a time, so concurrent deploys cannot overcommit.
    placement: tokio::sync::Mutex<()>,
    /// One golden upload at a time per appliance.
    golden_lock: tokio::sync::Mutex<()>,
    identity: tokio::sync::OnceCell<ImageIdentity>,
    events: broadcast::Sender<i64>,
    fault: Mutex<Option<&'static str>>,
    orphans: Mutex<Vec<String>>,
    http: reqwest::Client,
}

/// An instance's volumes: its disk, its cloud-init seed, its console log.
fn volume_names(stem: &str) -> [String; 3] {
    [
        format!("{stem}.qcow2"),
        format!("{stem}-seed.img"),
        format!("{stem}.log"),
    ]
}

/// What this appliance's volume names start with: `dpe-` and the first 12
/// hex digits of its id. Another appliance sharing the pool has another.
fn volume_prefix(appliance_id: &str) -> String {
    let digits: String = appliance_id
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(12)
        .collect();
    format!("dpe-{digits}-")
}

/// The stem of a volume this appliance named, when `volume` is one.
fn own_volume_stem<'v>(prefix: &str, volume: &'v str) -> Option<&'v str> {
    let rest = volume.strip_prefix(prefix)?;
    let uuid = rest.get(..36)?;
    let suffix = &rest[36..];
    matches!(suffix, ".qcow2" | "-seed.img" | ".log")
        .then(|| uuid::Uuid::parse_str(uuid).is_ok())
        .filter(|ok| *ok)
        .map(|_| &volume[..prefix.len() + 36])
}

fn random_mac() -> String {
    let mut rng = rand::rng();
    format!(
        "52:54:00:{:02x}:{:02x}:{:02x}",
        rng.random::<u8>(),
        rng.random::<u8>(),
        rng.random::<u8>()
    )
}

impl Engine {
    pub async fn new(
        store: Store,
        stack: Arc<Stack>,
        config: EngineConfig,
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
            hosts: Arc::new(HostPool::default()),
            config,
            placement: tokio::sync::Mutex::new(()),
            golden_lock: tokio::sync::Mutex::new(()),
            identity: tokio::sync::OnceCell::new(),
            events: broadcast::channel(1024).0,
            fault: Mutex::new(None),
            orphans: Mutex::new(Vec::new()),
            http: super::health::client()?,
        });
        engine.sync_hosts().await?;
        Ok(engine)
    }

    /// Registers the store's hosts with the connection pool.
    pub async fn sync_hosts(&self) -> Result<(), EngineError> {
        for h in self.store.read(hosts::list).await? {
            self.hosts.register(h.id, &h.uri);
        }
        Ok(())
    }

    /// Resumes cut-off tasks and starts the reconcile loop.
    pub async fn start_background(self: &Arc<Self>) -> Result<(), EngineError> {
        for task_id in self.store.read(tasks::running).await? {
            tracing::info!(task_id, "resuming a task cut off by a restart");
            tokio::spawn(self.clone().run_task(task_id));
        }
        let engine = Arc::downgrade(self);
        let interval = self.config.reconcile_interval;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(engine) = engine.upgrade() else {
                    break;
                };
                if let Err(e) = engine.reconcile_once().await {
                    tracing::warn!(error = %crate::error_chain(&e), "reconcile failed");
                }
            }
        });
        Ok(())
    }

    /// Task ids whose state changed: for live progress.
    pub fn subscribe(&self) -> broadcast::Receiver<i64> {
        self.events.subscribe()
    }

    /// Makes the next run of step `name` fail (tests of rollback).
    pub fn inject_fault(&self, step: Option<&'static str>) {
        *self.fault.lock().unwrap_or_else(|p| p.into_inner()) = step;
    }

    /// Orphans the reconciler found and removed, newest last.
    /// What the volume names of this appliance's new instances start with.
    pub fn volume_prefix(&self) -> String {
        volume_prefix(&self.appliance_id)
    }

    pub fn cleaned_orphans(&self) -> Vec<String> {
        self.orphans
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn notify(&self, task_id: i64) {
        let _ = self.events.send(task_id);
    }

    /// Records the instance and its deploy task, and starts it.
    pub async fn submit_deploy(
        self: &Arc<Self>,
        owner: &Principal,
        plan: DeployPlan,
    ) -> Result<Accepted, EngineError> {
        let uuid = uuid::Uuid::new_v4().to_string();
        let volume_stem = format!("{}{uuid}", self.volume_prefix());
        let mac = random_mac();
        let owner_id = owner.user_id;
        let department_id = owner.department_id;
        let wanted = Usage {
            instances: 1,
            vcpus: plan.size.vcpus,
            memory_mib: plan.size.memory_mib,
            disk_gib: plan.size.disk_gib,
        };
        let network = match plan.network.clone() {
            Some(n) => n,
            None => self
                .store
                .read(hosts::list)
                .await?
                .first()
                .map(|h| h.network.clone())
                .unwrap_or_else(|| "default".into()),
        };
        let params_json =
            serde_json::to_string(&plan.public_params).unwrap_or_else(|_| "{}".into());
        let (id, task_id) = self
            .store
            .write(move |tx| {
                // Quotas are checked in the transaction that records the
                // instance: with one writer, check-and-insert is atomic.
                // Refusals commit an empty transaction: nothing was written.
                if let Some(exceeded) = quotas::check_deploy(tx, owner_id, department_id, &wanted)?
                {
                    return Ok(Err(EngineError::QuotaExceeded(exceeded.to_string())));
                }
                // The address is chosen in the same transaction, so
                // concurrent deploys never share one.
                let (network, fixed) = match plan.zone {
                    NetworkZone::Inside => (network, None),
                    NetworkZone::Outside => {
                        let Some(zone) = zones::outside(tx)? else {
                            return Ok(Err(EngineError::NoOutsideZone));
                        };
                        let Some(address) = zones::free_address(tx, &zone)? else {
                            return Ok(Err(EngineError::PoolExhausted {
                                first: zone.first,
                                last: zone.last,
                            }));
                        };
                        let fixed = StaticAddressing {
                            address,
                            prefix_len: zone.prefix_len,
                            gateway: zone.gateway,
                            dns: zone.dns,
                        };
                        (zone.bridge, Some(fixed))
                    }
                };
                let static_address = fixed.as_ref().map(|f| f.address.to_string());
                let static_network = fixed
                    .as_ref()
                    .map(|f| serde_json::to_string(f).unwrap_or_default());
                let id = instances::insert(
                    tx,
                    &NewInstance {
                        volume_stem: &volume_stem,
                        uuid: &uuid,
                        name: &plan.name,
                        owner_id,
                        size: &plan.size.name,
                        vcpus: plan.size.vcpus,
                        memory_mib: plan.size.memory_mib,
                        disk_gib: plan.size.disk_gib,
                        network: &network,
                        mac: &mac,
                        params_json: &params_json,
                        health_expect: &plan.health_expect,
                        zone: plan.zone,
                        static_address: static_address.as_deref(),
                        static_network: static_network.as_deref(),
                        department_id,
                    },
                )?;
                let task = tasks::insert(
                    tx,
                    id,
                    &uuid,
                    owner_id,
                    TaskKind::Deploy,
                    &Step::names(TaskKind::Deploy),
                    Some(&plan.user_data),
                )?;
                Ok(Ok((id, task)))
            })
            .await??;
        tokio::spawn(self.clone().run_task(task_id));
        Ok(Accepted { id, task_id })
    }

    /// Starts a lifecycle task; `Store(Duplicate)` when the instance is busy.
    pub async fn submit_action(
        self: &Arc<Self>,
        instance_id: i64,
        kind: TaskKind,
    ) -> Result<i64, EngineError> {
        let task_id = self
            .store
            .write(move |tx| {
                let inst = instances::by_id(tx, instance_id)?
                    .ok_or(StoreError::Duplicate("no such instance"))?;
                if kind == TaskKind::Delete {
                    instances::set_status(tx, instance_id, "deleting", None)?;
                }
                tasks::insert(
                    tx,
                    instance_id,
                    &inst.uuid,
                    inst.owner_id,
                    kind,
                    &Step::names(kind),
                    None,
                )
            })
            .await?;
        tokio::spawn(self.clone().run_task(task_id));
        Ok(task_id)
    }

    async fn host_for(
        &self,
        inst: &InstanceRow,
    ) -> Result<(Arc<dyn Hypervisor>, hosts::HostRow), EngineError> {
        let host_id = inst
            .host_id
            .ok_or_else(|| EngineError::HostDown("(not placed)".into()))?;
        let row = self
            .store
            .read(hosts::list)
            .await?
            .into_iter()
            .find(|h| h.id == host_id)
            .ok_or_else(|| EngineError::HostDown(format!("#{host_id}")))?;
        let conn = self.connect(host_id).await?;
        Ok((conn, row))
    }

    /// A live connection to the host (connecting blocks).
    pub async fn connect(&self, host_id: i64) -> Result<Arc<dyn Hypervisor>, EngineError> {
        let pool = self.hosts.clone();
        run_blocking(move || pool.get(host_id)).await
    }

    /// Runs (or resumes) a task to its end.
    pub async fn run_task(self: Arc<Self>, task_id: i64) {
        if let Err(e) = self.clone().drive(task_id).await {
            tracing::error!(task_id, error = %crate::error_chain(&e), "task could not be recorded");
        }
        self.notify(task_id);
    }

    async fn drive(self: Arc<Self>, task_id: i64) -> Result<(), EngineError> {
        let Some(task) = self.store.read(move |c| tasks::get(c, task_id)).await? else {
            return Ok(());
        };
        let steps = Step::of(task.kind);
        let mut failure: Option<(usize, EngineError)> = None;
        for (pos, step) in steps.iter().enumerate() {
            if task.steps.get(pos).is_some_and(|s| s.state == "done") {
                continue;
            }
            self.mark(task_id, pos, "running").await?;
            tracing::debug!(task_id, step = step.name(), "step started");
            let result = match self.take_fault(step.name()) {
                true => Err(EngineError::Injected(step.name())),
                false => self.do_step(&task, *step).await,
            };
            match result {
                Ok(()) => self.mark(task_id, pos, "done").await?,
                Err(e) => {
                    self.mark(task_id, pos, "failed").await?;
                    failure = Some((pos, e));
                    break;
                }
            }
        }
        let Some((failed_at, error)) = failure else {
            if task.kind == TaskKind::Deploy
                && let Some(id) = task.instance_id
            {
                self.store
                    .write(move |tx| instances::set_status(tx, id, "ready", None))
                    .await?;
            }
            self.store
                .write(move |tx| tasks::finish(tx, task_id, None))
                .await?;
            tracing::info!(task_id, kind = task.kind.as_str(), "task succeeded");
            return Ok(());
        };
        // The chain to the log; a clean message to the people who see it.
        tracing::warn!(task_id, kind = task.kind.as_str(), error = %crate::error_chain(&error),
            "task failed");
        let message = error.for_users();
        if task.kind == TaskKind::Deploy {
            // Undo everything the deploy may have created, newest first.
            for pos in (0..=failed_at).rev() {
                if let Err(e) = self.undo(&task, steps[pos]).await {
                    tracing::warn!(task_id, step = steps[pos].name(), error = %crate::error_chain(&e),
                        "rollback step failed; the reconciler will finish it");
                }
                self.mark(task_id, pos, "undone").await?;
            }
        }
        let (instance_id, msg) = (task.instance_id, message.clone());
        self.store
            .write(move |tx| {
                if let Some(id) = instance_id {
                    let status = match task.kind {
                        TaskKind::Deploy => Some("failed"),
                        // A failed delete leaves the instance to be deleted again.
                        TaskKind::Delete => Some("failed"),
                        TaskKind::Start
                        | TaskKind::Shutdown
                        | TaskKind::Reboot
                        | TaskKind::Poweroff => None,
                    };
                    match status {
                        Some(s) => instances::set_status(tx, id, s, Some(&msg))?,
                        None => {
                            tx.execute(
                                "UPDATE instances SET error = ?2 WHERE id = ?1",
                                rusqlite::params![id, msg],
                            )?;
                        }
                    }
                }
                tasks::finish(tx, task_id, Some(&msg))
            })
            .await?;
        Ok(())
    }

    fn take_fault(&self, step: &str) -> bool {
        let mut fault = self.fault.lock().unwrap_or_else(|p| p.into_inner());
        if *fault == Some(step) {
            *fault = None;
            return true;
        }
        false
    }

    async fn mark(&self, task_id: i64, pos: usize, state: &'static str) -> Result<(), EngineError> {
        self.store
            .write(move |tx| tasks::set_step(tx, task_id, pos as i64, state))
            .await?;
        self.notify(task_id);
        Ok(())
    }

    async fn instance(&self, task: &TaskRow) -> Result<Option<InstanceRow>, EngineError> {
        let uuid = task.instance_uuid.clone();
        Ok(self
            .store
            .read(move |c| instances::by_uuid(c, &uuid))
            .await?)
    }

    async fn identity(&self) -> Result<&ImageIdentity, EngineError> {
        let disk = self.stack.image_file(&self.stack.manifest.image.disk);
        self.identity
            .get_or_try_init(|| async move { run_blocking(move || golden::identify(&disk)).await })
            .await
    }

    async fn golden(
        &self,
        host: Arc<dyn Hypervisor>,
        storage_dir: String,
    ) -> Result<GoldenVolumes, EngineError> {
        let identity = self.identity().await?.clone();
        let _one_at_a_time = self.golden_lock.lock().await;
        let stack = self.stack.clone();
        let pool = self.config.pool.clone();
        run_blocking(move || {
            host.ensure_pool(&pool, &storage_dir)?;
            let image = &stack.manifest.image;
            let kernel = image.kernel.as_ref().map(|k| stack.image_file(k));
            let initrd = image.initrd.as_ref().map(|i| stack.image_file(i));
            golden::ensure(
                host.as_ref(),
                &pool,
                &stack.manifest.name,
                &identity,
                &stack.image_file(&image.disk),
                kernel.as_deref(),
                initrd.as_deref(),
            )
        })
        .await
    }

    async fn do_step(&self, task: &TaskRow, step: Step) -> Result<(), EngineError> {
        let Some(inst) = self.instance(task).await? else {
            // The record is gone: only a delete's last step can get here.
            return Ok(());
        };
        let pool = self.config.pool.clone();
        let uuid = inst.uuid.clone();
        let [overlay, seed_name, log_name] = volume_names(&inst.volume_stem);
        match step {
            Step::Place => self.place(&inst).await,
            Step::Clone => {
                let (host, row) = self.host_for(&inst).await?;
                let golden = self.golden(host.clone(), row.storage_dir.clone()).await?;
                let capacity = inst.disk_gib << 30;
                run_blocking(move || {
                    if host.volume_path(&pool, &overlay)?.is_none() {
                        host.create_overlay(
                            &pool,
                            &overlay,
                            capacity,
                            &golden.disk,
                            golden.format,
                        )?;
                    }
                    Ok(())
                })
                .await
            }
            Step::Seed => {
                let (host, _) = self.host_for(&inst).await?;
                let user_data = task
                    .user_data
                    .clone()
                    .unwrap_or_else(|| "#cloud-config\n{}\n".into());
                let (name, mac) = (inst.name.clone(), inst.mac.clone());
                let fixed = static_addressing(&inst)?;
                run_blocking(move || {
                    if host.volume_path(&pool, &seed_name)?.is_some() {
                        return Ok(());
                    }
                    let bytes = seed::build(&SeedContent {
                        instance_id: &uuid,
                        hostname: &name,
                        mac: &mac,
                        addressing: addressing(fixed.as_ref()),
                        user_data: &user_data,
                    })?;
                    host.upload_volume(
                        &pool,
                        &seed_name,
                        "raw",
                        &mut bytes.as_slice(),
                        bytes.len() as u64,
                    )?;
                    Ok(())
                })
                .await
            }
            Step::Define => {
                let (host, row) = self.host_for(&inst).await?;
                let golden = self.golden(host.clone(), row.storage_dir.clone()).await?;
                let cmdline = self.stack.manifest.image.cmdline.clone();
                let appliance = self.appliance_id.clone();
                let inst = inst.clone();
                run_blocking(move || {
                    let accel = host.acceleration()?;
                    let disk = host
                        .volume_path(&pool, &overlay)?
                        .ok_or_else(|| EngineError::NoDomain(overlay.clone()))?;
                    let seed = host
                        .volume_path(&pool, &seed_name)?
                        .ok_or_else(|| EngineError::NoDomain(seed_name.clone()))?;
                    let console = Path::new(&row.storage_dir)
                        .join(&log_name)
                        .display()
                        .to_string();
                    let xml = domain_xml(&DomainInputs {
                        appliance: &appliance,
                        inst: &inst,
                        accel,
                        golden: &golden,
                        disk: &disk,
                        seed: &seed,
                        console: &console,
                        cmdline: cmdline.as_deref(),
                    })?;
                    host.define_domain(&xml)
                })
                .await
            }
            Step::Start => self.on_host(&inst, |h, u| h.start_domain(u)).await,
            Step::Shutdown => self.on_host(&inst, |h, u| h.shutdown_domain(u)).await,
            Step::WaitOff => {
                let deadline = Instant::now() + self.config.shutdown_timeout;
                loop {
                    let power = self.on_host(&inst, |h, u| h.domain_power(u)).await?;
                    if matches!(power, None | Some(Power::ShutOff)) {
                        break Ok(());
                    }
                    if Instant::now() >= deadline {
                        tracing::warn!(
                            instance = inst.name,
                            "guest ignored the power button; forcing it off"
                        );
                        break self.on_host(&inst, |h, u| h.destroy_domain(u)).await;
                    }
                    tokio::time::sleep(POLL).await;
                }
            }
            Step::Reboot => self.on_host(&inst, |h, u| h.reboot_domain(u)).await,
            Step::PowerOff => match inst.host_id {
                None => Ok(()),
                Some(_) => self.on_host(&inst, |h, u| h.destroy_domain(u)).await,
            },
            Step::Undefine => match inst.host_id {
                None => Ok(()),
                Some(_) => self.on_host(&inst, |h, u| h.undefine_domain(u)).await,
            },
            Step::DeleteVolumes => match inst.host_id {
                None => Ok(()),
                Some(_) => {
                    let (host, _) = self.host_for(&inst).await?;
                    run_blocking(move || {
                        // Refresh first: the console log appears only on disk.
                        let _ = host.list_volumes(&pool);
                        for name in [&overlay, &seed_name, &log_name] {
                            host.delete_volume(&pool, name)?;
                        }
                        Ok(())
                    })
                    .await
                }
            },
            Step::Forget => {
                let id = inst.id;
                self.store
                    .write(move |tx| instances::delete(tx, id))
                    .await?;
                Ok(())
            }
        }?;
        if matches!(
            step,
            Step::Start | Step::Shutdown | Step::WaitOff | Step::Reboot | Step::PowerOff
        ) {
            // Show the new power state now rather than at the next reconcile.
            if let Ok(Some(power)) = self.on_host(&inst, |h, u| h.domain_power(u)).await {
                let id = inst.id;
                self.store
                    .write(move |tx| instances::observe(tx, id, power, None))
                    .await?;
            }
        }
        Ok(())
    }

    async fn on_host<T: Send + 'static>(
        &self,
        inst: &InstanceRow,
        call: impl FnOnce(&dyn Hypervisor, &str) -> Result<T, EngineError> + Send + 'static,
    ) -> Result<T, EngineError> {
        let (host, _) = self.host_for(inst).await?;
        let uuid = inst.uuid.clone();
        run_blocking(move || call(host.as_ref(), &uuid)).await
    }

    async fn undo(&self, task: &TaskRow, step: Step) -> Result<(), EngineError> {
        let Some(inst) = self.instance(task).await? else {
            return Ok(());
        };
        let pool = self.config.pool.clone();
        let [overlay, seed_name, log_name] = volume_names(&inst.volume_stem);
        match step {
            Step::Place => {
                let id = inst.id;
                self.store
                    .write(move |tx| instances::set_host(tx, id, None))
                    .await?;
                Ok(())
            }
            Step::Clone | Step::Seed if inst.host_id.is_none() => Ok(()),
            Step::Clone => {
                let (host, _) = self.host_for(&inst).await?;
                run_blocking(move || {
                    let _ = host.list_volumes(&pool);
                    host.delete_volume(&pool, &log_name)?;
                    host.delete_volume(&pool, &overlay)
                })
                .await
            }
            Step::Seed => {
                let (host, _) = self.host_for(&inst).await?;
                run_blocking(move || host.delete_volume(&pool, &seed_name)).await
            }
            Step::Define | Step::Start if inst.host_id.is_none() => Ok(()),
            Step::Define => self.on_host(&inst, |h, u| h.undefine_domain(u)).await,
            Step::Start => self.on_host(&inst, |h, u| h.destroy_domain(u)).await,
            Step::Shutdown
            | Step::WaitOff
            | Step::Reboot
            | Step::PowerOff
            | Step::Undefine
            | Step::DeleteVolumes
            | Step::Forget => Ok(()),
        }
    }

    /// Placement policy: among connected hosts where the instance fits
    /// (memory not overcommitted, vCPUs at most 4 per CPU), the one with the
    /// most free memory; ties go to the older host.
    async fn place(&self, inst: &InstanceRow) -> Result<(), EngineError> {
        if inst.host_id.is_some() {
            return Ok(());
        }
        let _one_at_a_time = self.placement.lock().await;
        let hosts = self.store.read(hosts::list).await?;
        let committed = self.store.read(instances::committed_by_host).await?;
        let mut best: Option<(i64, u64)> = None;
        for h in &hosts {
            let Ok(conn) = self.connect(h.id).await else {
                continue;
            };
            let Ok(cap) = run_blocking(move || conn.capacity()).await else {
                continue;
            };
            let (used_cpu, used_mem) = committed.get(&h.id).copied().unwrap_or((0, 0));
            let free_mem = cap.memory_mib.saturating_sub(used_mem);
            let cpu_room = u64::from(cap.cpus) * VCPU_OVERCOMMIT;
            if free_mem >= inst.memory_mib
                && used_cpu + u64::from(inst.vcpus) <= cpu_room
                && best.is_none_or(|(_, m)| free_mem > m)
            {
                best = Some((h.id, free_mem));
            }
        }
        let (host_id, _) = best.ok_or(EngineError::NoCapacity {
            vcpus: inst.vcpus,
            memory_mib: inst.memory_mib,
        })?;
        let id = inst.id;
        self.store
            .write(move |tx| instances::set_host(tx, id, Some(host_id)))
            .await?;
        Ok(())
    }

    /// One pass: power states and addresses from libvirt; orphans removed.
    pub async fn reconcile_once(&self) -> Result<(), EngineError> {
        let host_rows = self.store.read(hosts::list).await?;
        let prefix = self.volume_prefix();
        for h in host_rows {
            let Ok(conn) = self.connect(h.id).await else {
                continue;
            };
            let on_host = self
                .store
                .read(move |c| instances::on_host(c, h.id))
                .await?;
            let (network, pool_name) = (h.network.clone(), self.config.pool.clone());
            let conn2 = conn.clone();
            let (domains, leases, volumes) = run_blocking(move || {
                let domains = conn2.dpe_domains()?;
                let leases = conn2.dhcp_leases(&network).unwrap_or_default();
                let volumes = conn2.list_volumes(&pool_name).unwrap_or_default();
                Ok::<_, EngineError>((domains, leases, volumes))
            })
            .await?;
            // Read after listing the host, never before: a deploy records
            // its instance before it makes a volume or a domain, so
            // whatever the listing saw is explained by this reading.
            let known = self.store.read(instances::on_record).await?;
            let mut checks = Vec::new();
            for inst in &on_host {
                if inst.status == "deleting" || inst.running_task.is_some() {
                    continue;
                }
                let power = domains
                    .iter()
                    .find(|d| d.instance_uuid == inst.uuid)
                    .map_or(Power::ShutOff, |d| d.power);
                let ip = leases
                    .iter()
                    .find(|l| l.mac == inst.mac)
                    .map(|l| l.ip.clone());
                let id = inst.id;
                let lease = ip.clone();
                self.store
                    .write(move |tx| instances::observe(tx, id, power, lease.as_deref()))
                    .await?;
                if inst.status == "ready" {
                    match (power, ip.or_else(|| inst.ip.clone())) {
                        (Power::Running, Some(ip)) => {
                            checks.push(self.check_health(inst.clone(), ip, conn.clone()))
                        }
                        (Power::Running, None) => self.record_health(inst.id, "starting").await?,
                        (_, _) => self.record_health(inst.id, "unknown").await?,
                    }
                }
            }
            for result in futures::future::join_all(checks).await {
                if let Err(e) = result {
                    tracing::warn!(error = %crate::error_chain(&e), "health check bookkeeping failed");
                }
            }
            // dpe's own leftovers that no record explains: remove them.
            let orphan_domains: Vec<_> = domains
                .into_iter()
                .filter(|d| {
                    d.appliance == self.appliance_id && !known.uuids.contains(&d.instance_uuid)
                })
                .collect();
            // Only volumes this appliance named: the pool may be shared.
            let orphan_volumes: Vec<String> = volumes
                .into_iter()
                .filter(|v| {
                    own_volume_stem(&prefix, v).is_some_and(|s| !known.volume_stems.contains(s))
                })
                .collect();
            if orphan_domains.is_empty() && orphan_volumes.is_empty() {
                continue;
            }
            let pool_name = self.config.pool.clone();
            let cleaned = run_blocking(move || {
                let mut cleaned = Vec::new();
                for d in orphan_domains {
                    conn.destroy_domain(&d.uuid)?;
                    conn.undefine_domain(&d.uuid)?;
                    cleaned.push(format!("domain {} ({})", d.name, d.uuid));
                }
                for v in orphan_volumes {
                    conn.delete_volume(&pool_name, &v)?;
                    cleaned.push(format!("volume {v}"));
                }
                Ok::<_, EngineError>(cleaned)
            })
            .await?;
            for what in &cleaned {
                tracing::warn!(host = h.name, what, "removed an orphan");
            }
            self.orphans
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend(cleaned);
        }
        Ok(())
    }
}

impl Engine {
    async fn record_health(&self, id: i64, health: &'static str) -> Result<(), EngineError> {
        self.store
            .write(move |tx| instances::set_health(tx, id, health))
            .await?;
        Ok(())
    }

    /// Asks the application for its health page; on its first success,
    /// rewrites the seed without the user-data (and so without secrets).
    async fn check_health(
        &self,
        inst: InstanceRow,
        ip: String,
        host: Arc<dyn Hypervisor>,
    ) -> Result<(), EngineError> {
        let app = &self.stack.manifest.app;
        let url = format!("http://{ip}:{}{}", app.port, app.health_path);
        let expect = inst.health_expect.clone().unwrap_or_default();
        let healthy = super::health::answers(&self.http, &url, &expect).await;
        let health = match (healthy, inst.healthy_ms) {
            (true, _) => "healthy",
            (false, None) => "starting",
            (false, Some(_)) => "unhealthy",
        };
        self.record_health(inst.id, health).await?;
        if healthy && !inst.seed_scrubbed {
            let pool = self.config.pool.clone();
            let (uuid, name, mac) = (inst.uuid.clone(), inst.name.clone(), inst.mac.clone());
            let [_, seed_name, _] = volume_names(&inst.volume_stem);
            let fixed = static_addressing(&inst)?;
            run_blocking(move || {
                let bytes = seed::build(&SeedContent {
                    instance_id: &uuid,
                    hostname: &name,
                    mac: &mac,
                    addressing: addressing(fixed.as_ref()),
                    user_data: "#cloud-config\n{}\n",
                })?;
                host.overwrite_volume(&pool, &seed_name, &bytes)
            })
            .await?;
            let id = inst.id;
            self.store
                .write(move |tx| instances::set_seed_scrubbed(tx, id))
                .await?;
            tracing::info!(
                instance = inst.name,
                "healthy; the seed no longer holds user-data"
            );
        }
        Ok(())
    }
}

/// An outside instance's fixed address, from its record.
fn static_addressing(inst: &InstanceRow) -> Result<Option<StaticAddressing>, EngineError> {
    inst.static_network
        .as_deref()
        .map(|json| {
            serde_json::from_str(json).map_err(|e| {
                EngineError::Store(StoreError::Corrupt(format!(
                    "static network of {}: {e}",
                    inst.name
                )))
            })
        })
        .transpose()
}

fn addressing(fixed: Option<&StaticAddressing>) -> Addressing<'_> {
    match fixed {
        Some(f) => Addressing::Static(f),
        None => Addressing::Dhcp,
    }
}

/// Everything a domain definition is made from.
struct DomainInputs<'a> {
    appliance: &'a str,
    inst: &'a InstanceRow,
    accel: Acceleration,
    golden: &'a GoldenVolumes,
    /// Paths of the overlay, the seed and the console log on the host.
    disk: &'a str,
    seed: &'a str,
    console: &'a str,
    cmdline: Option<&'a str>,
}

/// The domain definition of an instance.
fn domain_xml(inputs: &DomainInputs<'_>) -> Result<String, EngineError> {
    let DomainInputs {
        appliance,
        inst,
        accel,
        golden,
        disk,
        seed,
        console,
        cmdline,
    } = *inputs;
    let fixed_ip = static_addressing(inst)?.map(|f| f.address.to_string());
    let kind = match accel {
        Acceleration::Kvm => "kvm",
        Acceleration::Tcg => "qemu",
        Acceleration::Test => "test",
    };
    let name = format!("dpe-{}-{}", inst.name, &inst.uuid[..8]);
    let domain = dx::Domain {
        kind,
        name: &name,
        uuid: &inst.uuid,
        title: &inst.name,
        metadata: dx::Metadata {
            instance: dx::DpeInstance {
                xmlns: dx::DPE_NS,
                appliance,
                id: &inst.uuid,
                owner: &inst.owner,
            },
        },
        memory: dx::Memory {
            unit: "MiB",
            value: inst.memory_mib,
        },
        vcpu: inst.vcpus,
        os: dx::Os {
            kind: dx::OsType {
                arch: "x86_64",
                machine: "pc",
                value: "hvm",
            },
            kernel: golden.kernel.as_deref(),
            initrd: golden.initrd.as_deref(),
            cmdline: golden.kernel.as_ref().and(cmdline),
        },
        features: dx::Features {
            acpi: dx::Empty {},
            apic: dx::Empty {},
        },
        cpu: dx::Cpu {
            mode: (accel == Acceleration::Kvm).then_some("host-passthrough"),
        },
        on_poweroff: "destroy",
        on_reboot: "restart",
        on_crash: "destroy",
        devices: dx::Devices {
            disk: vec![
                dx::Disk {
                    kind: "file",
                    device: "disk",
                    driver: dx::DiskDriver {
                        name: "qemu",
                        format: "qcow2",
                    },
                    source: dx::FileSource { file: disk },
                    target: dx::DiskTarget {
                        dev: "vda",
                        bus: "virtio",
                    },
                    readonly: None,
                },
                dx::Disk {
                    kind: "file",
                    device: "disk",
                    driver: dx::DiskDriver {
                        name: "qemu",
                        format: "raw",
                    },
                    source: dx::FileSource { file: seed },
                    target: dx::DiskTarget {
                        dev: "vdb",
                        bus: "virtio",
                    },
                    readonly: Some(dx::Empty {}),
                },
            ],
            interface: vec![dx::Interface {
                kind: match inst.zone {
                    NetworkZone::Inside => "network",
                    NetworkZone::Outside => "bridge",
                },
                mac: dx::Mac { address: &inst.mac },
                source: match inst.zone {
                    NetworkZone::Inside => dx::InterfaceSource {
                        network: Some(&inst.network),
                        bridge: None,
                    },
                    NetworkZone::Outside => dx::InterfaceSource {
                        network: None,
                        bridge: Some(&inst.network),
                    },
                },
                model: dx::Model { kind: "virtio" },
                filterref: dx::FilterRef {
                    filter: "clean-traffic",
                    parameter: fixed_ip
                        .as_deref()
                        .map(|ip| dx::FilterParameter {
                            name: "IP",
                            value: ip,
                        })
                        .into_iter()
                        .collect(),
                },
            }],
            serial: dx::Serial {
                kind: "file",
                source: dx::SerialSource {
                    path: console,
                    append: "on",
                },
                target: dx::PortTarget { port: 0 },
            },
            console: dx::Console {
                kind: "file",
                target: dx::ConsoleTarget {
                    kind: "serial",
                    port: 0,
                },
            },
            rng: dx::Rng {
                model: "virtio",
                backend: dx::RngBackend {
                    model: "random",
                    device: "/dev/urandom",
                },
            },
        },
    };
    to_xml(&domain).map_err(EngineError::Xml)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_volumes_named_by_this_appliance_have_a_stem_here() {
        let prefix = volume_prefix("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
        assert_eq!(prefix, "dpe-0f1e2d3c4b5a-");
        let uuid = "6a1f2c3d-0000-4000-8000-00000000beef";
        let stem = format!("{prefix}{uuid}");
        for name in [
            format!("{stem}.qcow2"),
            format!("{stem}-seed.img"),
            format!("{stem}.log"),
        ] {
            assert_eq!(own_volume_stem(&prefix, &name), Some(stem.as_str()));
        }
        for foreign in [
            format!("dpe-{uuid}.qcow2"),
            format!("dpe-0123456789ab-{uuid}.qcow2"),
            format!("{stem}.qcow2.bak"),
            format!("{prefix}not-a-uuid-at-all-but-36-characters.qcow2"),
            format!("{prefix}{uuid}"),
            "golden.qcow2".to_owned(),
        ] {
            assert_eq!(own_volume_stem(&prefix, &foreign), None, "{foreign}");
        }
    }
}
