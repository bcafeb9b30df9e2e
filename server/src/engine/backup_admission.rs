//! Backup work becomes tasks: a backup is recorded (incremental when the
//! instance has a sound backup to build on) with its task in one
//! transaction; a restore records a new instance, placed on the backup's
//! host, with its quota checked as a deploy's. The steps are in
//! `steps/backups.rs`.

use crate::clock::minute_utc;
use std::sync::Arc;

use app::model::{Accepted, BackupKind, InstanceStatus, NetworkZone, SnapshotKind, TaskKind};
use app::org::Usage;

use super::admission::{app_port, new_volume_stem};
use super::runtime::Engine;
use super::steps::Step;
use super::{EngineError, Refusal};
use crate::stack::Size;
use crate::store::backups::{self, BackupRow, NewBackup};
use crate::store::instances::{self, NewInstance};
use crate::store::{StoreError, hosts, leases, quotas, snapshots, tasks};

/// A restore over an existing instance.
pub struct RestoreInPlacePlan {
    pub instance_id: i64,
    pub backup_id: i64,
    /// Who asks: the snapshot of the replaced disk is recorded as theirs.
    pub by: i64,
    /// How many snapshots the instance may keep.
    pub snapshot_limit: u32,
}

/// A restore into a new instance.
pub struct RestorePlan {
    pub backup_id: i64,
    pub name: String,
    pub size: Size,
    /// Whose instance it becomes, and the department it is charged to.
    pub owner_id: i64,
    pub department_id: Option<i64>,
}

/// The newest point of the backup's chain, when every point of it is
/// ready and sound; the refusal saying why not otherwise.
fn restorable(chain: &[BackupRow]) -> Result<Result<&BackupRow, Refusal>, StoreError> {
    let Some(head) = chain.last() else {
        return Err(StoreError::NotFound("backup"));
    };
    Ok(match backups::unsound_point(chain) {
        None => Ok(head),
        Some(bad) if bad.damaged => Err(Refusal::BackupUnusable(format!(
            "backup #{} is damaged (its file no longer matches its checksum)",
            bad.id
        ))),
        Some(bad) => Err(Refusal::BackupUnusable(format!(
            "backup #{} is {}; only a ready backup can be restored",
            bad.id, bad.state
        ))),
    })
}

impl Engine {
    /// Records a restore of one of the instance's backups over it, and
    /// its task, and starts it: the instance's internal snapshots go (they
    /// live in the disk the restore replaces), and the disk as it is now
    /// is kept as a snapshot to go back to. A refusal records nothing;
    /// `Store(Duplicate)` while the instance is busy.
    pub async fn submit_restore_in_place(
        self: &Arc<Self>,
        plan: RestoreInPlacePlan,
    ) -> Result<Result<Accepted, Refusal>, EngineError> {
        let now = self.clock.now();
        let admitted = self
            .store
            .write(move |tx| {
                let inst = instances::by_id(tx, plan.instance_id)?
                    .ok_or(StoreError::NotFound("instance"))?;
                let chain = backups::chain(tx, plan.backup_id)?;
                let head = match restorable(&chain)? {
                    Ok(head) => head,
                    Err(refusal) => return Ok(Err(refusal)),
                };
                if head.instance_uuid != inst.uuid {
                    return Ok(Err(Refusal::BackupUnusable(format!(
                        "backup #{} is of {}, not of {}: restore it into a new instance",
                        head.id, head.instance_name, inst.name
                    ))));
                }
                if head.host_id != inst.host_id {
                    return Ok(Err(Refusal::BackupUnusable(format!(
                        "backup #{} is kept on another host than {}'s: restore it into a new \
                         instance",
                        head.id, inst.name
                    ))));
                }
                if u64::from(head.disk_gib) > inst.disk_gib {
                    return Ok(Err(Refusal::BackupUnusable(format!(
                        "backup #{} has a {} GiB disk, larger than {}'s {} GiB",
                        head.id, head.disk_gib, inst.name, inst.disk_gib
                    ))));
                }
                let kept = snapshots::of_instance(tx, inst.id)?
                    .iter()
                    .filter(|s| s.kind == SnapshotKind::DiskCopy)
                    .count();
                if kept >= plan.snapshot_limit as usize {
                    return Ok(Err(Refusal::SnapshotLimit {
                        limit: plan.snapshot_limit,
                    }));
                }
                if let Some(exceeded) = quotas::check_deploy(
                    tx,
                    inst.owner_id,
                    inst.department_id,
                    &super::snapshot_admission::SNAPSHOT_QUOTA_CHECK,
                )? {
                    return Ok(Err(Refusal::Quota(exceeded)));
                }
                let snapshot = snapshots::insert_disk_copy(
                    tx,
                    inst.id,
                    // Unique: one restore at a time per instance.
                    &format!("before restore {}", minute_utc(now)),
                    &format!(
                        "The disk as it was before backup #{} (of {}) was restored over it.",
                        head.id,
                        minute_utc(head.created_at)
                    ),
                    plan.by,
                )?;
                let task = tasks::insert(
                    tx,
                    inst.id,
                    &inst.uuid,
                    inst.owner_id,
                    TaskKind::RestoreInPlace,
                    &Step::names(TaskKind::RestoreInPlace),
                    None,
                )?;
                tasks::set_backup(tx, task, head.id)?;
                tasks::set_snapshot(tx, task, snapshot)?;
                Ok(Ok((inst.id, task)))
            })
            .await?;
        let (id, task_id) = match admitted {
            Ok(ids) => ids,
            Err(refusal) => return Ok(Err(refusal)),
        };
        tokio::spawn(self.clone().run_task(task_id));
        Ok(Ok(Accepted { id, task_id }))
    }

    /// Records a backup of the instance, taken `at` (Unix seconds), and
    /// its task, and starts it. `Store(Duplicate)` while the instance is
    /// busy; `by` is `None` for scheduled backups.
    pub async fn submit_backup(
        self: &Arc<Self>,
        instance_id: i64,
        by: Option<i64>,
        at: i64,
    ) -> Result<Accepted, EngineError> {
        // The store new backups go to; the chain starts over in another.
        let pool = self.pool_for(&self.store_spec().await?);
        let (id, task_id) = self
            .store
            .write(move |tx| {
                let inst =
                    instances::by_id(tx, instance_id)?.ok_or(StoreError::NotFound("instance"))?;
                // The chain goes on from the newest sound backup; a
                // damaged one cannot be built on.
                let parent = backups::newest_ready(tx, &inst.uuid)?;
                let (kind, parent_id, reason) = match &parent {
                    Some(p) if p.damaged => (
                        BackupKind::Full,
                        None,
                        Some(format!(
                            "backup #{} is damaged: a full backup starts a new chain",
                            p.id
                        )),
                    ),
                    Some(p) if p.pool != pool => (
                        BackupKind::Full,
                        None,
                        Some(format!(
                            "backup #{} is in the backup store used before: a full backup \
                             starts a new chain in the one chosen since",
                            p.id
                        )),
                    ),
                    Some(p) => (BackupKind::Incremental, Some(p.id), None),
                    None => (BackupKind::Full, None, None),
                };
                let backup = backups::insert(
                    tx,
                    &NewBackup {
                        instance_id: inst.id,
                        instance_uuid: &inst.uuid,
                        instance_name: &inst.name,
                        owner_id: inst.owner_id,
                        department_id: inst.department_id,
                        host_id: inst.host_id,
                        size: &inst.size,
                        disk_gib: u32::try_from(inst.disk_gib).unwrap_or(u32::MAX),
                        kind,
                        parent_id,
                        reason: reason.as_deref(),
                        created_by: by,
                        params_json: &inst.params_json,
                        health_expect: inst.health_expect.as_deref().unwrap_or_default(),
                        at,
                        pool: pool.as_deref(),
                    },
                )?;
                let task = tasks::insert(
                    tx,
                    inst.id,
                    &inst.uuid,
                    inst.owner_id,
                    TaskKind::Backup,
                    &Step::names(TaskKind::Backup),
                    None,
                )?;
                tasks::set_backup(tx, task, backup)?;
                Ok((backup, task))
            })
            .await?;
        tokio::spawn(self.clone().run_task(task_id));
        Ok(Accepted { id, task_id })
    }

    /// Records the restore's new instance and its task, and starts it; a
    /// refusal (quota, ports, a backup that cannot be restored) records
    /// nothing. `Store(NotFound)` when the backup is gone.
    pub async fn submit_restore(
        self: &Arc<Self>,
        plan: RestorePlan,
    ) -> Result<Result<Accepted, Refusal>, EngineError> {
        let uuid = uuid::Uuid::new_v4().to_string();
        let volume_stem = new_volume_stem(&self.appliance_id, &uuid);
        let mac = super::guest::random_mac();
        let now = self.clock.now();
        let admitted = self
            .store
            .write(move |tx| {
                let chain = backups::chain(tx, plan.backup_id)?;
                let head = match restorable(&chain)? {
                    Ok(head) => head,
                    Err(refusal) => return Ok(Err(refusal)),
                };
                let Some(host) = head
                    .host_id
                    .and_then(|id| hosts::list(tx).ok()?.into_iter().find(|h| h.id == id))
                else {
                    return Ok(Err(Refusal::BackupUnusable(format!(
                        "the host that keeps backup #{} is gone",
                        head.id
                    ))));
                };
                if plan.size.disk_gib < u64::from(head.disk_gib) {
                    return Ok(Err(Refusal::BackupUnusable(format!(
                        "size {} has a {} GiB disk; the backup needs {} GiB",
                        plan.size.name, plan.size.disk_gib, head.disk_gib
                    ))));
                }
                let wanted = Usage {
                    instances: 1,
                    vcpus: plan.size.vcpus,
                    memory_mib: plan.size.memory_mib,
                    disk_gib: plan.size.disk_gib,
                };
                if let Some(exceeded) =
                    quotas::check_deploy(tx, plan.owner_id, plan.department_id, &wanted)?
                {
                    return Ok(Err(Refusal::Quota(exceeded)));
                }
                let app_port = match app_port(tx)? {
                    Ok(port) => port,
                    Err(refused) => return Ok(Err(refused)),
                };
                // A restored instance has a lease of its own, as a deploy.
                let (lease_policy, _) = leases::effective(tx, plan.department_id)?;
                let lease_expires_at = lease_policy
                    .lease_days
                    .map(|days| now + i64::from(days) * app::model::DAY);
                let id = instances::insert(
                    tx,
                    &NewInstance {
                        volume_stem: &volume_stem,
                        uuid: &uuid,
                        name: &plan.name,
                        owner_id: plan.owner_id,
                        size: &plan.size.name,
                        vcpus: plan.size.vcpus,
                        memory_mib: plan.size.memory_mib,
                        disk_gib: plan.size.disk_gib,
                        network: &host.network,
                        mac: &mac,
                        params_json: &head.params_json,
                        health_expect: &head.health_expect,
                        zone: NetworkZone::Inside,
                        static_address: None,
                        static_network: None,
                        department_id: plan.department_id,
                        app_port,
                        lease_expires_at,
                    },
                )?;
                // The backup's file is on that host: the disk is made there.
                instances::set_host(tx, id, Some(host.id))?;
                instances::set_status(tx, id, InstanceStatus::Provisioning, None)?;
                let task = tasks::insert(
                    tx,
                    id,
                    &uuid,
                    plan.owner_id,
                    TaskKind::Restore,
                    &Step::names(TaskKind::Restore),
                    None,
                )?;
                tasks::set_backup(tx, task, head.id)?;
                Ok(Ok((id, task)))
            })
            .await?;
        let (id, task_id) = match admitted {
            Ok(ids) => ids,
            Err(refusal) => return Ok(Err(refusal)),
        };
        tokio::spawn(self.clone().run_task(task_id));
        Ok(Ok(Accepted { id, task_id }))
    }
}
