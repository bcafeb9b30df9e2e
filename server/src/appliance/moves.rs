//! Moving instances between hosts and draining hosts (appliance admins):
//! the engine admits and runs them (`engine/moving.rs`); this audits them
//! and says what a refusal means.

use app::error::AppError;
use app::model::{HostMode, HostStatus, MoveRequest};
use app::policy::{Authorized, rights};

use super::Appliance;
use super::errors::{engine_err, refusal_err, store_err};
use super::hosts::HostLoads;
use crate::engine::EngineError;
use crate::store::audit::Audit;
use crate::store::{StoreError, hosts, instances};

impl Appliance {
    pub(super) async fn start_move(
        &self,
        who: Authorized<'_, rights::ManageHosts>,
        instance: i64,
        request: MoveRequest,
    ) -> Result<i64, AppError> {
        let row = self
            .store
            .read(move |c| instances::by_id(c, instance))
            .await
            .map_err(store_err)?
            .ok_or_else(|| AppError::NotFound("instance".into()))?;
        let to = self
            .store
            .read(hosts::list)
            .await
            .map_err(store_err)?
            .into_iter()
            .find(|h| h.id == request.host)
            .ok_or_else(|| AppError::invalid("host", "no such host"))?;
        let task_id = match self.engine.submit_move(row.id, to.id).await {
            Ok(Ok(task_id)) => task_id,
            Ok(Err(refusal)) => return Err(refusal_err(refusal)),
            Err(EngineError::Store(StoreError::Duplicate(_))) => {
                return Err(AppError::Conflict(format!(
                    "{} is busy with another task; try again when it ends",
                    row.name
                )));
            }
            Err(EngineError::Store(StoreError::NotFound("host"))) => {
                return Err(AppError::invalid("host", "no such host"));
            }
            Err(e) => return Err(engine_err(e)),
        };
        let record = Audit::by(who.principal())
            .action("instance.move")
            .object(format!("instance {}", row.name))
            .department(row.department_id)
            .detail(format!("to host {}", to.name))
            .ok();
        self.audit(record).await;
        Ok(task_id)
    }

    pub(super) async fn change_host_mode(
        &self,
        who: Authorized<'_, rights::ManageHosts>,
        id: i64,
        mode: HostMode,
    ) -> Result<HostStatus, AppError> {
        if !self
            .engine
            .set_host_mode(id, mode)
            .await
            .map_err(engine_err)?
        {
            return Err(AppError::NotFound("host".into()));
        }
        let (row, loads) = self
            .store
            .read(move |c| {
                let row = hosts::list(c)?.into_iter().find(|h| h.id == id);
                Ok((row, HostLoads::read(c)?))
            })
            .await
            .map_err(store_err)?;
        let row = row.ok_or_else(|| AppError::NotFound("host".into()))?;
        let action = match mode {
            HostMode::Active => "host.resume",
            HostMode::Draining => "host.drain",
        };
        let record = Audit::by(who.principal())
            .action(action)
            .object(format!("host {}", row.name))
            .ok();
        self.audit(record).await;
        Ok(self.host_status(row, &loads))
    }
}
