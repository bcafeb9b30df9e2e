//! Resizing an instance to another of the stack's sizes. Admission is one
//! IMMEDIATE write: the instance looked at again, the growth checked
//! against its owner's and departments' quotas, the new size recorded on
//! the instance (so that its quota is taken from that moment, and no
//! deploy admitted meanwhile can take it) and the task recorded with the
//! old size, which its undo puts back. The steps are in `steps/resize.rs`.

use std::sync::Arc;

use app::model::{InstanceStatus, Power, TaskKind};
use app::org::Usage;

use super::placement::{Request, choose_host};
use super::runtime::Engine;
use super::steps::{ResizeShape, Step};
use super::{EngineError, Refusal};
use crate::stack::Size;
use crate::store::instances::{self, InstanceRow};
use crate::store::tasks::{self, PriorSize};
use crate::store::{StoreError, quotas};

impl Engine {
    /// Starts resizing instance `instance_id` to `size`; the task's id, or
    /// why not. `Store(NotFound)` for no such instance, `Store(Duplicate)`
    /// while another task runs on it.
    pub async fn submit_resize(
        self: &Arc<Self>,
        instance_id: i64,
        size: Size,
    ) -> Result<Result<i64, Refusal>, EngineError> {
        let grows_online = self.stack.manifest.resize.is_some();
        let inst = self
            .store
            .read(move |c| instances::by_id(c, instance_id))
            .await?
            .ok_or(StoreError::NotFound("instance"))?;
        // More memory or vCPUs must fit on the instance's host, as a
        // deploy's must: checked under the placement lock, held until the
        // new size is recorded, so that no placement meanwhile takes the
        // same room.
        let _one_at_a_time = self.placement.lock().await;
        if let Some(refusal) = self.no_room_for(&inst, &size).await? {
            return Ok(Err(refusal));
        }
        let admitted = self
            .store
            .write(move |tx| {
                let inst =
                    instances::by_id(tx, instance_id)?.ok_or(StoreError::NotFound("instance"))?;
                if let Some(refusal) = unresizable(&inst, &size) {
                    return Ok(Err(refusal));
                }
                if let Some(exceeded) = quotas::check_deploy(
                    tx,
                    inst.owner_id,
                    inst.department_id,
                    &growth(&inst, &size),
                )? {
                    return Ok(Err(Refusal::Quota(exceeded)));
                }
                let shape = ResizeShape {
                    redefine: size.vcpus != inst.vcpus || size.memory_mib != inst.memory_mib,
                    running: inst.power == Power::Running,
                    grows_online,
                };
                let steps: Vec<&str> = Step::resize(shape).iter().map(|s| s.name()).collect();
                let task = tasks::insert(
                    tx,
                    inst.id,
                    &inst.uuid,
                    inst.owner_id,
                    TaskKind::Resize,
                    &steps,
                    None,
                )?;
                tasks::set_resize_from(
                    tx,
                    task,
                    &PriorSize {
                        name: inst.size.clone(),
                        vcpus: inst.vcpus,
                        memory_mib: inst.memory_mib,
                        disk_gib: inst.disk_gib,
                    },
                )?;
                instances::set_size(
                    tx,
                    inst.id,
                    &size.name,
                    size.vcpus,
                    size.memory_mib,
                    size.disk_gib,
                )?;
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
}

impl Engine {
    /// Why the instance's host cannot take what `size` adds to it (more
    /// memory or vCPUs, as a deploy's placement counts them); none when
    /// it can, or when nothing is added.
    pub async fn no_room_for(
        &self,
        inst: &InstanceRow,
        size: &Size,
    ) -> Result<Option<Refusal>, EngineError> {
        let more = growth(inst, size);
        let Some(host_id) = inst.host_id else {
            return Ok(None);
        };
        if more.vcpus == 0 && more.memory_mib == 0 {
            return Ok(None);
        }
        let room: Vec<_> = self
            .host_rooms()
            .await?
            .into_iter()
            .filter(|r| r.host_id == host_id)
            .collect();
        let wanted = Request {
            vcpus: more.vcpus,
            memory_mib: more.memory_mib,
        };
        let added: Vec<String> = [
            (more.vcpus > 0).then(|| format!("{} more vCPUs", more.vcpus)),
            (more.memory_mib > 0).then(|| format!("{} MiB more memory", more.memory_mib)),
        ]
        .into_iter()
        .flatten()
        .collect();
        Ok(choose_host(&room, wanted).err().map(|_| Refusal::HostFull {
            host: inst.host.clone().unwrap_or_default(),
            more: added.join(" and "),
        }))
    }
}

/// What the new size takes of the quotas beyond what the instance holds:
/// only what grows counts (a smaller memory frees its share).
pub fn growth(inst: &InstanceRow, size: &Size) -> Usage {
    Usage {
        instances: 0,
        vcpus: size.vcpus.saturating_sub(inst.vcpus),
        memory_mib: size.memory_mib.saturating_sub(inst.memory_mib),
        disk_gib: size.disk_gib.saturating_sub(inst.disk_gib),
    }
}

/// Why the instance cannot take `size`, from its record alone; none when
/// it can.
pub fn unresizable(inst: &InstanceRow, size: &Size) -> Option<Refusal> {
    if inst.size == size.name
        && inst.vcpus == size.vcpus
        && inst.memory_mib == size.memory_mib
        && inst.disk_gib == size.disk_gib
    {
        return Some(Refusal::SameSize(size.name.clone()));
    }
    if size.disk_gib < inst.disk_gib {
        return Some(Refusal::ShrinksDisk {
            from: inst.disk_gib,
            to: size.disk_gib,
        });
    }
    let ready = inst.status == InstanceStatus::Ready && inst.host_id.is_some();
    match inst.power {
        Power::Running | Power::ShutOff if ready => None,
        Power::Running
        | Power::ShutOff
        | Power::Paused
        | Power::ShuttingDown
        | Power::Crashed
        | Power::Unknown => Some(Refusal::NotResizable {
            status: inst.status,
            power: inst.power,
        }),
    }
}
