//! Moving instances between hosts. A move is admitted here (the instance
//! ready and running or stopped, with no snapshots, which libvirt cannot
//! move; the new host active, answering, reachable by address, with
//! room) and becomes a task whose steps are in `steps/moves.rs`. Draining
//! a host stops placements there (`placement`, `warm/`) and moves its
//! instances away one at a time, each where placement would put it.

use std::sync::Arc;

use app::model::{HostMode, InstanceStatus, Power, TaskKind};

use super::placement::{Request, choose_host};
use super::runtime::Engine;
use super::steps::Step;
use super::{EngineError, Refusal};
use crate::blocking::run_blocking;
use crate::store::instances::{self, InstanceRow};
use crate::store::{StoreError, hosts, snapshots, tasks};

impl Engine {
    /// Starts moving instance `instance_id` to host `to_host`; the task's
    /// id, or why not. `Store(NotFound)` for no such instance or host,
    /// `Store(Duplicate)` while the instance is busy.
    pub async fn submit_move(
        self: &Arc<Self>,
        instance_id: i64,
        to_host: i64,
    ) -> Result<Result<i64, Refusal>, EngineError> {
        let to = self
            .store
            .read(hosts::list)
            .await?
            .into_iter()
            .find(|h| h.id == to_host)
            .ok_or(StoreError::NotFound("host"))?;
        let inst = self
            .store
            .read(move |c| instances::by_id(c, instance_id))
            .await?
            .ok_or(StoreError::NotFound("instance"))?;
        if let Some(refusal) = unmovable(&inst, to_host, &to.name) {
            return Ok(Err(refusal));
        }
        if to.mode == HostMode::Draining {
            return Ok(Err(Refusal::HostDraining(to.name)));
        }
        // Both hosts must answer; the new one must have an address the
        // old one can send the guest to.
        if let Some(from) = inst.host_id {
            self.connect(from).await?;
        }
        let conn = self.connect(to.id).await?;
        if run_blocking(move || conn.migration_uri()).await.is_err() {
            return Ok(Err(Refusal::NoMigrationAddress(to.name)));
        }
        let _one_at_a_time = self.placement.lock().await;
        let room: Vec<_> = self
            .host_rooms()
            .await?
            .into_iter()
            .filter(|r| r.host_id == to_host)
            .collect();
        choose_host(
            &room,
            Request {
                vcpus: inst.vcpus,
                memory_mib: inst.memory_mib,
            },
        )?;
        let admitted = self
            .store
            .write(move |tx| {
                // Looked at again under the write lock: it may have
                // changed since.
                let inst =
                    instances::by_id(tx, instance_id)?.ok_or(StoreError::NotFound("instance"))?;
                if let Some(refusal) = unmovable(&inst, to_host, &to.name) {
                    return Ok(Err(refusal));
                }
                let snapshots = snapshots::count(tx, inst.id)?;
                if snapshots > 0 {
                    return Ok(Err(Refusal::HasSnapshots(snapshots)));
                }
                let Some(from) = inst.host_id else {
                    return Ok(Err(not_movable(&inst)));
                };
                let task = tasks::insert(
                    tx,
                    inst.id,
                    &inst.uuid,
                    inst.owner_id,
                    TaskKind::Move,
                    &Step::names(TaskKind::Move),
                    None,
                )?;
                tasks::set_move(tx, task, from, to_host)?;
                Ok(Ok(task))
            })
            .await?;
        let task_id = match admitted {
            Ok(task_id) => task_id,
            Err(refusal) => return Ok(Err(refusal)),
        };
        tokio::spawn(self.clone().run_task(task_id));
        Ok(Ok(task_id))
    }

    /// Drains host `id` (no new instances or warm-pool members; its
    /// instances moved away one at a time), or resumes it; false when
    /// there is no such host.
    pub async fn set_host_mode(&self, id: i64, mode: HostMode) -> Result<bool, EngineError> {
        let found = self
            .store
            .write(move |tx| hosts::set_mode(tx, id, mode))
            .await?;
        self.reconcile_now.notify_one();
        Ok(found)
    }

    /// One drain pass: on each host being drained where no task runs, the
    /// first instance that can move is moved to where placement would put
    /// it. One move at a time per host keeps the host-to-host link and the
    /// guests' pauses short; an instance that cannot move (snapshots, no
    /// room anywhere) is passed over, and the host stays draining.
    pub(super) async fn drain_pass(self: &Arc<Self>) -> Result<(), EngineError> {
        let draining: Vec<_> = self
            .store
            .read(hosts::list)
            .await?
            .into_iter()
            .filter(|h| h.mode == HostMode::Draining)
            .collect();
        for host in draining {
            let host_id = host.id;
            let on_host = self
                .store
                .read(move |c| instances::on_host(c, host_id))
                .await?;
            let moving = self
                .store
                .read(move |c| tasks::moving_from(c, host_id))
                .await?;
            if moving || on_host.iter().any(|i| i.running_task.is_some()) {
                continue;
            }
            for inst in &on_host {
                let wanted = Request {
                    vcpus: inst.vcpus,
                    memory_mib: inst.memory_mib,
                };
                let to = {
                    let _one_at_a_time = self.placement.lock().await;
                    choose_host(&self.host_rooms().await?, wanted)
                };
                let Ok(to) = to else {
                    tracing::warn!(
                        host = host.name,
                        instance = inst.name,
                        "draining: no other host has room for it"
                    );
                    continue;
                };
                match self.submit_move(inst.id, to).await {
                    Ok(Ok(task_id)) => {
                        tracing::info!(
                            host = host.name,
                            instance = inst.name,
                            task_id,
                            "draining: moving an instance"
                        );
                        break;
                    }
                    Ok(Err(refusal)) => {
                        tracing::warn!(host = host.name, instance = inst.name, %refusal,
                            "draining: the instance cannot move");
                    }
                    Err(e) => {
                        tracing::warn!(host = host.name, instance = inst.name,
                            error = %crate::error_chain(&e), "draining: the move was not started");
                    }
                }
            }
        }
        Ok(())
    }
}

/// Why the instance cannot move to `to_host` (named `to_name`), from its
/// record alone; none when it can.
fn unmovable(inst: &InstanceRow, to_host: i64, to_name: &str) -> Option<Refusal> {
    if inst.host_id == Some(to_host) {
        return Some(Refusal::AlreadyThere(to_name.to_owned()));
    }
    if inst.status != InstanceStatus::Ready || inst.host_id.is_none() {
        return Some(not_movable(inst));
    }
    match inst.power {
        Power::Running | Power::ShutOff => None,
        Power::Paused | Power::ShuttingDown | Power::Crashed | Power::Unknown => {
            Some(not_movable(inst))
        }
    }
}

fn not_movable(inst: &InstanceRow) -> Refusal {
    Refusal::NotMovable {
        status: inst.status,
        power: inst.power,
    }
}
