//! Restore drills: a checksum proves that a backup's bytes are unchanged,
//! not that the application comes back from them. A drill restores an
//! instance's newest backup into a throwaway guest on the drills' isolated
//! network, waits for the stack's readiness command and for the
//! application's health page to answer as the instance's did, then
//! destroys the guest and records the outcome on the backup.
//!
//! One drill runs at a time (each boots a whole guest). Its row in
//! `drills` lives as long as its guest: a crash leaves the row, and the
//! next start destroys the guest and fails the drill. The scheduler runs
//! each instance's drill when its policy's drill slot (the backups' hour,
//! daily or on Mondays) has passed since its last one (or since its first
//! backup: a new instance's first drill waits for the next slot).

use std::sync::Arc;
use std::time::{Duration, Instant};

use app::model::BackupPolicy;

use super::EngineError;
use super::admission::new_volume_stem;
use super::backup_schedule::last_slot;
use super::guest::{Guest, random_mac};
use super::health::answers;
use super::readiness::Readiness;
use super::runtime::Engine;
use crate::blocking::run_blocking;
use crate::store::StoreError;
use crate::store::backups;
use crate::store::drills::{self, DrillRow, NewDrill};

/// The libvirt network drills' guests are on, on every host.
pub const DRILL_NETWORK: &str = "dpe-drills";
/// Between two looks at a booting drill guest.
const POLL: Duration = Duration::from_secs(2);

impl Engine {
    /// Starts a drill of backup `backup_id` in the background. `Store(
    /// Duplicate)` while another drill runs; `BackupDamaged` for a backup
    /// that cannot be restored.
    pub async fn submit_drill(self: &Arc<Self>, backup_id: i64) -> Result<(), EngineError> {
        let now = self.clock.now();
        let uuid = uuid::Uuid::new_v4().to_string();
        let stem = new_volume_stem(&self.appliance_id, &uuid);
        let mac = random_mac();
        let stack = self.stack.clone();
        let drill = self
            .store
            .write(move |tx| {
                let chain = backups::chain(tx, backup_id)?;
                let head = chain.last().ok_or(StoreError::NotFound("backup"))?;
                if let Some(bad) = backups::unsound_point(&chain) {
                    return Ok(Err(EngineError::BackupDamaged(bad.id)));
                }
                let Some(host_id) = head.host_id else {
                    return Ok(Err(EngineError::BackupGone));
                };
                // The instance's size, or the stack's first if it is gone.
                let size = stack
                    .manifest
                    .sizes
                    .iter()
                    .find(|s| s.name == head.size)
                    .or(stack.manifest.sizes.first())
                    .ok_or(StoreError::NotFound("size"))?;
                Ok(Ok(drills::start(
                    tx,
                    &NewDrill {
                        backup_id,
                        uuid: &uuid,
                        volume_stem: &stem,
                        host_id,
                        mac: &mac,
                        vcpus: size.vcpus,
                        memory_mib: size.memory_mib,
                        disk_gib: size.disk_gib.max(u64::from(head.disk_gib)),
                        at: now,
                    },
                )?))
            })
            .await??;
        self.show_drill(backup_id).await;
        tokio::spawn(self.clone().run_drill(drill));
        Ok(())
    }

    /// Runs the drill to its end, whatever happens: the guest is
    /// destroyed and the outcome recorded.
    async fn run_drill(self: Arc<Self>, drill: DrillRow) {
        let started = Instant::now();
        let outcome = self.drill(&drill).await;
        let guest = Guest::of_drill(&drill, DRILL_NETWORK);
        if let Err(e) = self.destroy_guest(&guest).await {
            tracing::warn!(drill = drill.id, error = %crate::error_chain(&e),
                "a drill's guest was not destroyed; the reconciler removes it");
        }
        let (passed, note) = match outcome {
            Ok(answered) => (
                true,
                format!(
                    "the application answered {} s after the restore began",
                    answered.as_secs()
                ),
            ),
            Err(e) => {
                tracing::warn!(drill = drill.id, backup = drill.backup_id,
                    error = %crate::error_chain(&e), "a restore drill failed");
                (false, e.for_users())
            }
        };
        tracing::info!(
            backup = drill.backup_id,
            passed,
            secs = started.elapsed().as_secs(),
            "restore drill ended"
        );
        let now = self.clock.now();
        let backup_id = drill.backup_id;
        if let Err(e) = self
            .store
            .write(move |tx| drills::finish(tx, &drill, passed, now, &note))
            .await
        {
            tracing::warn!(error = %crate::error_chain(&e), "a drill's outcome was not recorded");
        }
        self.show_drill(backup_id).await;
    }

    /// Tells the pages that show the backup's instance that its drill
    /// moved (a backup's row is no instance's or task's, which the feed
    /// carries by itself).
    async fn show_drill(&self, backup_id: i64) {
        if let Ok(Some(instance)) = self
            .store
            .read(move |c| Ok(backups::by_id(c, backup_id)?.and_then(|b| b.instance_id)))
            .await
        {
            self.store
                .feed()
                .publish([crate::store::feed::Row::Instance(instance)]);
        }
    }

    /// Restores, boots and checks the drill's guest: how long until its
    /// application answered.
    async fn drill(&self, drill: &DrillRow) -> Result<Duration, EngineError> {
        let started = Instant::now();
        let deadline = started + self.config.drill_timeout;
        let guest = Guest::of_drill(drill, DRILL_NETWORK);
        let (host, _) = self.host_for(&guest).await?;
        run_blocking(move || host.ensure_drill_network(DRILL_NETWORK)).await?;
        self.restore_disk(&guest, drill.backup_id).await?;
        self.write_seed(&guest, None).await?;
        self.define(&guest).await?;
        self.start(&guest).await?;
        if let Some(spec) = self.personalization() {
            let never = || false;
            match self
                .wait_until_ready(&guest, &spec.ready, deadline, never)
                .await
            {
                Readiness::Ready => {}
                Readiness::Cancelled | Readiness::NeverReady(_) => {
                    return Err(EngineError::DrillFailed(
                        "the restored guest never became ready".into(),
                    ));
                }
            }
        }
        let backup_id = drill.backup_id;
        let expect = self
            .store
            .read(move |c| backups::by_id(c, backup_id))
            .await?
            .ok_or(EngineError::BackupGone)?
            .health_expect;
        let app = &self.stack.manifest.app;
        loop {
            let mac = guest.nic.mac.clone();
            let ip = self
                .on_host(&guest, move |h, _| {
                    Ok(h.dhcp_leases(DRILL_NETWORK)?
                        .into_iter()
                        .find(|l| l.mac.eq_ignore_ascii_case(&mac))
                        .map(|l| l.ip))
                })
                .await?;
            if let Some(ip) = &ip {
                let url = format!("http://{ip}:{}{}", app.port, app.health_path);
                if answers(&self.http, &url, &expect).await {
                    return Ok(started.elapsed());
                }
            }
            if Instant::now() >= deadline {
                return Err(EngineError::DrillFailed(match ip {
                    None => "the restored guest got no address on the drills' network".into(),
                    Some(_) => format!(
                        "the restored application's {} did not answer as the instance's did",
                        app.health_path
                    ),
                }));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Destroys the guests of drills a crash cut off, and fails them.
    pub(super) async fn recover_drills(&self) -> Result<(), EngineError> {
        for drill in self.store.read(drills::list).await? {
            tracing::warn!(
                backup = drill.backup_id,
                "a drill cut off by a restart is failed"
            );
            self.destroy_guest(&Guest::of_drill(&drill, DRILL_NETWORK))
                .await?;
            let now = self.clock.now();
            self.store
                .write(move |tx| {
                    drills::finish(tx, &drill, false, now, "the drill was interrupted")
                })
                .await?;
        }
        Ok(())
    }

    /// One pass of the drill scheduler at `now`: starts the first drill
    /// due, unless one runs. The backup it drills, if any.
    pub async fn schedule_drills(self: &Arc<Self>, now: i64) -> Result<Option<i64>, EngineError> {
        let due = self
            .store
            .read(move |c| {
                if !drills::list(c)?.is_empty() {
                    return Ok(None);
                }
                for candidate in backups::drill_candidates(c)? {
                    let policy = backups::effective_policy(c, candidate.department_id)?;
                    let drill_policy = BackupPolicy {
                        frequency: policy.drill,
                        ..policy
                    };
                    if last_slot(&drill_policy, now).is_some_and(|slot| candidate.since < slot) {
                        return Ok(Some(candidate.backup_id));
                    }
                }
                Ok(None)
            })
            .await?;
        let Some(backup) = due else {
            return Ok(None);
        };
        match self.submit_drill(backup).await {
            Ok(()) => Ok(Some(backup)),
            // Another began meanwhile: the next pass looks again.
            Err(EngineError::Store(StoreError::Duplicate(_))) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
