//! The warm pool: its targets and members, for the admins' page and API.
//! The engine keeps it filled (`engine/pool.rs`).

use std::collections::BTreeMap;

use app::error::AppError;
use app::model::{PoolMember, PoolTargets, PoolView};
use app::policy::{Authorized, rights};
use app::service::PoolService;
use async_trait::async_trait;

use super::Appliance;
use super::errors::{engine_err, store_err};
use crate::store::audit::Audit;
use crate::store::pool;

/// The most members one size may keep: each is a running guest.
const MOST_PER_SIZE: u32 = 16;

#[async_trait]
impl PoolService for Appliance {
    async fn pool(&self, _who: Authorized<'_, rights::ManagePool>) -> Result<PoolView, AppError> {
        let (targets, members) = self.engine.pool_now().await.map_err(engine_err)?;
        let members = members
            .into_iter()
            .map(|m| PoolMember {
                id: m.id,
                size: m.size,
                host: Some(m.host),
                state: m.state,
                since: m.since,
            })
            .collect();
        let sizes = self
            .engine
            .stack()
            .manifest
            .sizes
            .iter()
            .map(|s| app::model::SizeInfo {
                name: s.name.clone(),
                label: s.label.clone(),
                vcpus: s.vcpus,
                memory_mib: s.memory_mib,
                disk_gib: s.disk_gib,
            })
            .collect();
        Ok(PoolView {
            targets,
            members,
            sizes,
            supported: self.engine.stack().manifest.personalize.is_some(),
            emulated: self.engine.hosts_all_emulate(),
        })
    }

    async fn set_pool_targets(
        &self,
        who: Authorized<'_, rights::ManagePool>,
        targets: PoolTargets,
    ) -> Result<PoolView, AppError> {
        let stack = self.engine.stack().clone();
        if stack.manifest.personalize.is_none() {
            return Err(AppError::Conflict(
                "this stack cannot be personalized in place, so it has no warm pool".into(),
            ));
        }
        for (size, count) in &targets.targets {
            let field = format!("targets.{size}");
            if !stack.manifest.sizes.iter().any(|s| &s.name == size) {
                let names: Vec<_> = stack
                    .manifest
                    .sizes
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect();
                return Err(AppError::invalid(
                    &field,
                    format!("is not a size; choose among {}", names.join(", ")),
                ));
            }
            if *count > MOST_PER_SIZE {
                return Err(AppError::invalid(
                    &field,
                    format!("keep at most {MOST_PER_SIZE} members of a size"),
                ));
            }
        }
        let set: BTreeMap<String, u32> = targets.targets;
        let detail = set
            .iter()
            .map(|(size, n)| format!("{size}: {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        self.store
            .write(move |tx| pool::set_targets(tx, &set))
            .await
            .map_err(store_err)?;
        let record = Audit::by(&who)
            .action("pool.set")
            .object("warm pool")
            .detail(if detail.is_empty() {
                "none".into()
            } else {
                detail
            })
            .ok();
        self.audit(record).await;
        self.pool(who).await
    }
}
