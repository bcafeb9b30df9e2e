//! A warm deploy's claim: the claimed member becomes the instance
//! (`personalize`), or, when that fails, is destroyed (`unclaim`).

use std::time::Duration;

use crate::engine::EngineError;
use crate::engine::guest::Guest;
use crate::engine::runtime::Engine;
use crate::store::pool;
use crate::store::tasks::TaskRow;

/// How long the personalize command may run.
const PERSONALIZE_WITHIN: Duration = Duration::from_secs(120);

impl Engine {
    /// A warm deploy's one step: the stack's command gets the deploy's
    /// values on its standard input through the guest agent, then the
    /// domain is relabelled as the instance and the member forgotten.
    pub(in crate::engine) async fn personalize(
        &self,
        task: &TaskRow,
        instance_id: i64,
        guest: &Guest,
    ) -> Result<(), EngineError> {
        let spec = self
            .personalization()
            .ok_or(EngineError::NoPersonalization)?
            .clone();
        let input = task
            .personalize
            .clone()
            .ok_or(EngineError::ClaimInterrupted)?;
        let argv = vec![spec.command.clone()];
        let exit = self
            .on_host(guest, move |h, u| {
                h.guest_exec(u, &argv, input.as_bytes(), PERSONALIZE_WITHIN)
            })
            .await;
        self.pool_work.claimed.note();
        let exit = exit?;
        if exit.code != 0 {
            return Err(EngineError::GuestCommand {
                command: spec.command,
                code: exit.code,
                stderr: exit.stderr,
            });
        }
        let metadata = guest
            .metadata_element(&self.appliance_id)
            .map_err(EngineError::Xml)?;
        let title = guest.name.clone();
        self.on_host(guest, move |h, u| h.relabel_domain(u, &title, &metadata))
            .await?;
        self.forget_claimed_member(instance_id).await
    }

    /// Forgets the member an instance claimed: its guest is the
    /// instance's now, or destroyed.
    async fn forget_claimed_member(&self, instance_id: i64) -> Result<(), EngineError> {
        self.store
            .write(move |tx| {
                if let Some(m) = pool::of_instance(tx, instance_id)? {
                    pool::delete(tx, m.id)?;
                }
                Ok(())
            })
            .await?;
        Ok(())
    }

    /// Undoes a claim that failed: the member's guest is destroyed and
    /// forgotten. The deploy then goes on cold (see the driver).
    pub(in crate::engine) async fn unclaim(
        &self,
        instance_id: i64,
        guest: &Guest,
    ) -> Result<(), EngineError> {
        self.destroy_guest(guest).await?;
        self.forget_claimed_member(instance_id).await
    }
}
