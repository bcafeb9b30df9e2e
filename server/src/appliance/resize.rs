//! `ResizeService`: an instance's size changed to another of the stack's,
//! for whoever may use the instance. The engine admits and runs it
//! (`engine/resizing.rs`); this offers the sizes, says what a refusal
//! means, and audits it.

use app::error::AppError;
use app::model::{Accepted, ResizeChoice, ResizeOptions, ResizeRequest, TaskKind};
use app::policy::{Authorized, rights};
use app::service::ResizeService;
use async_trait::async_trait;

use super::Appliance;
use super::errors::{engine_err, refusal_err, store_err};
use super::instances::{allows, host_answers};
use crate::engine::resizing::{growth, unresizable};
use crate::engine::{EngineError, Refusal};
use crate::stack::Size;
use crate::store::audit::Audit;
use crate::store::instances::InstanceRow;
use crate::store::{StoreError, quotas};

fn busy(row: &InstanceRow) -> AppError {
    AppError::Conflict(format!(
        "{} is busy with another task; try again when it ends",
        row.name
    ))
}

impl Appliance {
    /// The stack's size named `name`, or why not.
    fn size_named(&self, name: &str) -> Result<Size, AppError> {
        let sizes = &self.engine.stack().manifest.sizes;
        sizes
            .iter()
            .find(|s| s.name == name)
            .cloned()
            .ok_or_else(|| {
                let names: Vec<_> = sizes.iter().map(|s| s.name.as_str()).collect();
                AppError::invalid(
                    "size",
                    format!("no size {name:?}; the sizes are {}", names.join(", ")),
                )
            })
    }
}

#[async_trait]
impl ResizeService for Appliance {
    async fn resize_options(
        &self,
        who: Authorized<'_, rights::ResizeInstances>,
        instance: i64,
    ) -> Result<ResizeOptions, AppError> {
        let row = self.visible_instance(&who, instance).await?;
        let sizes: Vec<Size> = self
            .engine
            .stack()
            .manifest
            .sizes
            .iter()
            .filter(|s| s.name != row.size)
            .cloned()
            .collect();
        let running = row.power == app::model::Power::Running;
        let current = row.size.clone();
        // The host's room first (the engine's placement view), then the
        // record and the quotas in one read.
        let mut no_room = Vec::new();
        for size in &sizes {
            no_room.push(
                self.engine
                    .no_room_for(&row, size)
                    .await
                    .map_err(engine_err)?
                    .map(|r| r.to_string()),
            );
        }
        let choices = self
            .store
            .read(move |c| {
                let mut choices = Vec::new();
                for (size, no_room) in sizes.into_iter().zip(no_room) {
                    let refused = match unresizable(&row, &size) {
                        Some(refusal) => Some(refusal.to_string()),
                        None => quotas::check_deploy(
                            c,
                            row.owner_id,
                            row.department_id,
                            &growth(&row, &size),
                        )?
                        .map(|e| e.to_string())
                        .or(no_room),
                    };
                    choices.push(ResizeChoice {
                        reboots: running
                            && (size.vcpus != row.vcpus || size.memory_mib != row.memory_mib),
                        name: size.name,
                        label: size.label,
                        vcpus: size.vcpus,
                        memory_mib: size.memory_mib,
                        disk_gib: size.disk_gib,
                        refused,
                    });
                }
                Ok(choices)
            })
            .await
            .map_err(store_err)?;
        Ok(ResizeOptions { current, choices })
    }

    async fn resize(
        &self,
        who: Authorized<'_, rights::ResizeInstances>,
        instance: i64,
        request: ResizeRequest,
    ) -> Result<Accepted, AppError> {
        let row = self.visible_instance(&who, instance).await?;
        let size = self.size_named(&request.size)?;
        if row.running_task.is_some() {
            return Err(busy(&row));
        }
        host_answers(&row)?;
        if !allows(row.status, TaskKind::Resize) {
            return Err(AppError::Conflict(format!(
                "{} cannot be resized while it is {}",
                row.name, row.status
            )));
        }
        let detail = format!("from {} to {}", row.size, size.name);
        let task_id = match self.engine.submit_resize(row.id, size).await {
            Ok(Ok(task_id)) => task_id,
            Ok(Err(Refusal::Quota(exceeded))) => {
                return Err(AppError::QuotaExceeded(format!(
                    "Resize refused: {exceeded}"
                )));
            }
            Ok(Err(refusal)) => return Err(refusal_err(refusal)),
            Err(EngineError::Store(StoreError::Duplicate(_))) => return Err(busy(&row)),
            Err(EngineError::Store(StoreError::NotFound(_))) => {
                return Err(AppError::NotFound("instance".into()));
            }
            Err(e) => return Err(engine_err(e)),
        };
        let record = Audit::by(who.principal())
            .action("instance.resize")
            .object(format!("instance {}", row.name))
            .department(row.department_id)
            .detail(detail)
            .ok();
        self.audit(record).await;
        Ok(Accepted {
            id: row.id,
            task_id,
        })
    }
}
