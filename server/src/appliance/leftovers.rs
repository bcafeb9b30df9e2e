//! What the hosts hold that the store does not know (appliance admins):
//! kept after a restored store until an admin lets the reconciler remove
//! it, removed otherwise (`engine/reconcile.rs`).

use app::error::AppError;
use app::model::Leftovers;
use app::policy::{Authorized, rights};

use super::Appliance;
use super::errors::engine_err;
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
}
