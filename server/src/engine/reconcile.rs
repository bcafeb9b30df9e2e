//! The reconciler: one pass per host takes power states and DHCP addresses
//! from libvirt (the truth), runs the health checks of ready instances, and
//! removes domains and volumes of this appliance that no record explains:
//! leftovers of a crash. While the store is one restored from a copy,
//! which knows nothing deployed after it, it keeps them instead and lists
//! them for an admin. Foreign domains, and volumes this appliance did not
//! name, are never touched.

use std::sync::Arc;
use std::time::Instant;

use app::model::{
    Health, HeldLeftover, HostProbe, InstanceStatus, LeftoverKind, NoticeKind, Power,
};

use super::EngineError;
use super::guest::Tracked;
use super::hypervisor::{DpeDomain, Hypervisor, Lease};
use super::leftovers::Adoptable;
use super::libvirt::probe;
use super::runtime::Engine;
use super::volumes;
use crate::blocking::run_blocking;
use crate::store::hosts::HostRow;
use crate::store::instances::{self, OnRecord};
use crate::store::{hosts, outbox, settings};

/// What a pass does with what no record explains.
#[derive(Clone, Copy)]
enum Leftovers {
    Remove,
    /// The store was restored from a copy: they may be instances deployed
    /// after it.
    Keep,
}

/// What one host holds of dpe's, listed in one go.
struct Listing {
    domains: Vec<DpeDomain>,
    leases: Vec<Lease>,
    volumes: Vec<String>,
}

impl Engine {
    /// One pass: each host's status, power states and addresses from
    /// libvirt; orphans removed.
    pub async fn reconcile_once(&self) -> Result<(), EngineError> {
        let started = Instant::now();
        let leftovers = match self.leftovers_held_since().await? {
            Some(_) => Leftovers::Keep,
            None => Leftovers::Remove,
        };
        let mut reached = Vec::new();
        let mut every_host = true;
        for h in self.store.read(crate::store::hosts::list).await? {
            let Some(conn) = self.look_at(&h).await else {
                every_host = false;
                continue;
            };
            self.reconcile_host(&h, conn.clone(), leftovers).await?;
            reached.push(conn);
        }
        // An unused version goes only when each host can drop its golden
        // volumes, so none is left behind on a host that was down.
        if every_host {
            self.remove_unused_versions(&reached).await?;
        }
        let took = started.elapsed();
        self.pass_times.passed(took);
        // Read by scripts/bench-hosts: the pass is one host after another,
        // so it grows with the pool (docs/scaling.md).
        tracing::debug!(seconds = took.as_secs_f64(), "reconcile pass");
        Ok(())
    }

    /// Since when leftovers are kept (a restored store), if they are.
    pub async fn leftovers_held_since(&self) -> Result<Option<i64>, EngineError> {
        Ok(self.store.read(settings::leftovers_held_since).await?)
    }

    /// Lets the reconciler remove leftovers again, at once: those it kept
    /// are gone for good at its next pass.
    pub async fn release_leftovers(&self) -> Result<(), EngineError> {
        self.store
            .write(|tx| settings::release_leftovers(tx))
            .await?;
        self.leftovers.forget_held();
        self.reconcile_now.notify_one();
        Ok(())
    }

    async fn reconcile_host(
        &self,
        h: &HostRow,
        conn: Arc<dyn Hypervisor>,
        leftovers: Leftovers,
    ) -> Result<(), EngineError> {
        let host_id = h.id;
        let rows = self
            .store
            .read(move |c| instances::on_host(c, host_id))
            .await?;
        // One unreadable record must not stop the pass for the others.
        let on_host: Vec<Tracked> = rows
            .iter()
            .filter_map(|row| match Tracked::of_instance(row) {
                Ok(tracked) => Some(tracked),
                Err(e) => {
                    tracing::warn!(instance = row.name, error = %crate::error_chain(&e),
                        "not observed");
                    None
                }
            })
            .collect();
        let listing = self.list_host(h, conn.clone()).await?;
        // Read after listing the host, never before: a deploy records
        // its instance before it makes a volume or a domain, so
        // whatever the listing saw is explained by this reading.
        let known = self.store.read(instances::on_record).await?;
        self.observe(&on_host, &listing, &conn).await?;
        self.write_missing_records(&on_host, &listing, &conn).await;
        self.remove_orphans(h, conn, listing, &known, leftovers)
            .await
    }

    async fn list_host(
        &self,
        h: &HostRow,
        conn: Arc<dyn Hypervisor>,
    ) -> Result<Listing, EngineError> {
        let (network, pool) = (h.network.clone(), self.config.storage_pool.clone());
        run_blocking(move || {
            Ok(Listing {
                domains: conn.dpe_domains()?,
                leases: conn.dhcp_leases(&network).unwrap_or_default(),
                volumes: conn.list_volumes(&pool).unwrap_or_default(),
            })
        })
        .await
    }

    /// Records each idle instance's power state and address, and checks
    /// the health of the ready ones (all of a host's checks at once).
    async fn observe(
        &self,
        on_host: &[Tracked],
        listing: &Listing,
        conn: &Arc<dyn Hypervisor>,
    ) -> Result<(), EngineError> {
        let mut checks = Vec::new();
        for inst in on_host {
            if inst.status == InstanceStatus::Deleting || inst.running_task.is_some() {
                continue;
            }
            let power = listing
                .domains
                .iter()
                .find(|d| d.instance_uuid == inst.guest.uuid)
                .map_or(Power::ShutOff, |d| d.power);
            let ip = listing
                .leases
                .iter()
                .find(|l| l.mac == inst.guest.nic.mac)
                .map(|l| l.ip.clone());
            let (id, lease) = (inst.id, ip.clone());
            self.store
                .write(move |tx| instances::observe(tx, id, power, lease.as_deref()))
                .await?;
            if inst.status == InstanceStatus::Ready {
                match (power, ip.or_else(|| inst.ip.clone())) {
                    (Power::Running, Some(ip)) => {
                        checks.push(self.check_health(inst.clone(), ip, conn.clone()))
                    }
                    (Power::Running, None) => self.record_health(inst.id, Health::Starting).await?,
                    (
                        Power::Paused
                        | Power::ShuttingDown
                        | Power::ShutOff
                        | Power::Crashed
                        | Power::Unknown,
                        _,
                    ) => self.record_health(inst.id, Health::Unknown).await?,
                }
            }
        }
        for result in futures::future::join_all(checks).await {
            if let Err(e) = result {
                tracing::warn!(error = %crate::error_chain(&e), "health check bookkeeping failed");
            }
        }
        Ok(())
    }

    /// Writes the record a restored store adopts an instance from into the
    /// metadata of each idle instance's domain that lacks it (defined by
    /// an older dpe): once each, as the listing then has it.
    async fn write_missing_records(
        &self,
        on_host: &[Tracked],
        listing: &Listing,
        conn: &Arc<dyn Hypervisor>,
    ) {
        for inst in on_host {
            let idle = inst.status == InstanceStatus::Ready && inst.running_task.is_none();
            let lacks = listing
                .domains
                .iter()
                .any(|d| d.instance_uuid == inst.guest.uuid && d.record.is_none());
            if !idle || !lacks {
                continue;
            }
            let metadata = match inst.guest.metadata_element(&self.appliance_id) {
                Ok(metadata) => metadata,
                Err(e) => {
                    tracing::warn!(instance = inst.guest.name, error = %e, "no record written");
                    continue;
                }
            };
            let (conn, uuid, title) = (
                conn.clone(),
                inst.guest.uuid.clone(),
                inst.guest.name.clone(),
            );
            if let Err(e) =
                run_blocking(move || conn.relabel_domain(&uuid, &title, &metadata)).await
            {
                tracing::warn!(instance = inst.guest.name, error = %crate::error_chain(&e),
                    "the domain's record was not written");
            }
        }
    }

    /// Removes dpe's own leftovers that no record explains, or keeps and
    /// lists them.
    async fn remove_orphans(
        &self,
        h: &HostRow,
        conn: Arc<dyn Hypervisor>,
        listing: Listing,
        known: &OnRecord,
        leftovers: Leftovers,
    ) -> Result<(), EngineError> {
        let orphan_domains: Vec<_> = listing
            .domains
            .into_iter()
            .filter(|d| d.appliance == self.appliance_id && !known.uuids.contains(&d.instance_uuid))
            .collect();
        // Only volumes this appliance named: the pool may be shared.
        let prefix = self.volume_prefix();
        let orphan_volumes: Vec<String> = listing
            .volumes
            .into_iter()
            .filter(|v| {
                volumes::own_stem(&prefix, v).is_some_and(|s| !known.volume_stems.contains(s))
            })
            .collect();
        match leftovers {
            Leftovers::Remove => self.leftovers.kept(h.id, Vec::new()),
            Leftovers::Keep => {
                // A guest's volumes are listed with it: adopting it
                // explains them.
                let stem_of = |v: &String| volumes::own_stem(&prefix, v).map(str::to_owned);
                let domains: Vec<_> = orphan_domains
                    .into_iter()
                    .map(|d| {
                        let adoptable = d.record.map(|record| Adoptable {
                            host_id: h.id,
                            owner: d.owner.clone(),
                            power: d.power,
                            record,
                        });
                        let volumes: Vec<String> = adoptable
                            .as_ref()
                            .map(|a| {
                                orphan_volumes
                                    .iter()
                                    .filter(|v| {
                                        stem_of(v).as_deref() == Some(&a.record.volume_stem)
                                    })
                                    .cloned()
                                    .collect()
                            })
                            .unwrap_or_default();
                        let held = HeldLeftover {
                            host: h.name.clone(),
                            kind: LeftoverKind::Domain,
                            name: adoptable.as_ref().map_or(d.name, |a| a.record.name.clone()),
                            instance_uuid: Some(d.instance_uuid),
                            owner: Some(d.owner),
                            power: Some(d.power),
                            adoptable: adoptable.is_some(),
                            volumes,
                        };
                        (held, adoptable)
                    })
                    .collect();
                let with_a_guest: std::collections::HashSet<&String> =
                    domains.iter().flat_map(|(d, _)| &d.volumes).collect();
                let volumes: Vec<_> = orphan_volumes
                    .iter()
                    .filter(|v| !with_a_guest.contains(v))
                    .map(|v| {
                        let held = HeldLeftover {
                            host: h.name.clone(),
                            kind: LeftoverKind::Volume,
                            name: v.clone(),
                            instance_uuid: None,
                            owner: None,
                            power: None,
                            adoptable: false,
                            volumes: Vec::new(),
                        };
                        (held, None)
                    })
                    .collect();
                self.leftovers
                    .kept(h.id, domains.into_iter().chain(volumes).collect());
                return Ok(());
            }
        }
        if orphan_domains.is_empty() && orphan_volumes.is_empty() {
            return Ok(());
        }
        let pool = self.config.storage_pool.clone();
        let cleaned = run_blocking(move || {
            let mut cleaned = Vec::new();
            for d in orphan_domains {
                conn.destroy_domain(&d.uuid)?;
                conn.undefine_domain(&d.uuid)?;
                cleaned.push(format!("domain {} ({})", d.name, d.uuid));
            }
            for v in orphan_volumes {
                conn.delete_volume(&pool, &v)?;
                cleaned.push(format!("volume {v}"));
            }
            Ok::<_, EngineError>(cleaned)
        })
        .await?;
        for what in &cleaned {
            tracing::warn!(host = h.name, what, "removed an orphan");
        }
        self.leftovers.removed(cleaned);
        Ok(())
    }
}

impl Engine {
    /// Whether every known host emulates its guests (see
    /// [`HostStatuses::all_emulated`]).
    pub fn hosts_all_emulate(&self) -> bool {
        self.host_statuses.all_emulated()
    }

    /// Looks at `host` through the pool's connection and records what it
    /// saw; the connection when there is one.
    pub(super) async fn look_at(&self, host: &HostRow) -> Option<Arc<dyn Hypervisor>> {
        let (probe, conn) = match self.connect(host.id).await {
            Ok(conn) => {
                let facts = conn.clone();
                match run_blocking(move || facts.facts()).await {
                    Ok(probe) => (probe, Some(conn)),
                    Err(e) => (probe::disconnected(&host.uri, &e, false), None),
                }
            }
            Err(e) => {
                let starting = matches!(e, EngineError::HostStarting(_));
                (probe::disconnected(&host.uri, &e, starting), None)
            }
        };
        // A libvirtd still starting is not down; a fall is told once.
        if !probe.starting {
            let (id, reachable, now) = (host.id, probe.connected, self.clock.now());
            let detail = format!(
                "The host {} cannot be reached: {}",
                host.name,
                probe.error.clone().unwrap_or_default()
            );
            let told = self
                .store
                .write(move |tx| {
                    let fell = hosts::set_reachable(tx, id, reachable, now)?;
                    if fell {
                        outbox::queue(tx, NoticeKind::HostDown, now, None, &detail)?;
                    }
                    Ok(fell)
                })
                .await;
            match told {
                Ok(true) => tracing::warn!(host = host.name, "host down: notice queued"),
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %crate::error_chain(&e), "host status not recorded")
                }
            }
        }
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
