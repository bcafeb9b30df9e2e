//! What the hosts hold that the store does not know (appliance admins):
//! kept after a restored store until an admin lets the reconciler remove
//! it, removed otherwise (`engine/reconcile.rs`).

use app::error::AppError;
use app::model::{AdoptRequest, Adopted, Leftovers};
use app::policy::{Authorized, rights};

use super::Appliance;
use super::errors::{engine_err, refusal_err};
use crate::engine::EngineError;
use crate::store::StoreError;
use crate::store::audit::Audit;

impl Appliance {
    pub(super) async fn leftovers_now(&self) -> Result<Leftovers, AppError> {
        let held_since = self
            .engine
            .leftovers_held_since()
            .await
            .map_err(engine_err)?;
        Ok(Leftovers {
            held_since,
            held: match held_since {
                Some(_) => self.engine.held_leftovers(),
                None => Vec::new(),
            },
            cleaned: self.engine.cleaned_orphans(),
        })
    }

    pub(super) async fn let_leftovers_go(
        &self,
        who: Authorized<'_, rights::ManageHosts>,
    ) -> Result<Leftovers, AppError> {
        let held = self.leftovers_now().await?;
        if held.held_since.is_none() {
            return Err(AppError::Conflict(
                "nothing is kept: the reconciler already removes leftovers".into(),
            ));
        }
        self.engine.release_leftovers().await.map_err(engine_err)?;
        let record = Audit::by(who.principal())
            .action("leftovers.release")
            .object(format!("{} kept on the hosts", held.held.len()))
            .ok();
        self.audit(record).await;
        self.leftovers_now().await
    }

    pub(super) async fn adopt(
        &self,
        who: Authorized<'_, rights::ManageHosts>,
        request: AdoptRequest,
    ) -> Result<Adopted, AppError> {
        let instance_id = match self
            .engine
            .adopt(&request.instance_uuid, request.owner.clone())
            .await
        {
            Ok(Ok(id)) => id,
            Ok(Err(refusal)) => return Err(refusal_err(refusal)),
            Err(EngineError::Store(StoreError::Duplicate(_))) => {
                return Err(AppError::Conflict(
                    "an instance of that name exists already; delete it first to adopt this guest under its name".into(),
                ));
            }
            Err(e) => return Err(engine_err(e)),
        };
        let record = Audit::by(who.principal())
            .action("leftovers.adopt")
            .object(format!("instance {}", request.instance_uuid))
            .ok();
        self.audit(record).await;
        Ok(Adopted { instance_id })
    }
}
