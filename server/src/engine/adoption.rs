//! Adopting a kept domain as an instance: after a store restored from a
//! copy, the guests deployed since come back as their owners' instances,
//! from the record dpe writes into every instance's domain metadata.

use app::model::{InstanceStatus, NetworkZone};
use app::org::Usage;

use super::leftovers::Adoptable;
use super::runtime::Engine;
use super::{EngineError, Refusal};
use crate::store::instances::{self, NewInstance};
use crate::store::{leases, quotas, users};

impl Engine {
    /// Records the kept domain of instance `instance_uuid` as an instance
    /// of `owner` (its metadata's owner if `None`), ready on its host and
    /// charged to the owner's department: its id. Its name, size, network
    /// and volumes are those it was deployed with; the stack's parameters
    /// (the wiki's title) are not in the record, so its health check asks
    /// only for an answer.
    pub async fn adopt(
        &self,
        instance_uuid: &str,
        owner: Option<String>,
    ) -> Result<Result<i64, Refusal>, EngineError> {
        let kept = match self.leftovers.adoptable(instance_uuid) {
            None => return Ok(Err(Refusal::NotKept)),
            Some(None) => return Ok(Err(Refusal::NoRecord)),
            Some(Some(kept)) => kept,
        };
        let Adoptable {
            host_id,
            owner: recorded,
            power,
            record,
        } = kept;
        let Some(size) = self
            .stack
            .manifest
            .sizes
            .iter()
            .find(|s| {
                (s.vcpus, s.memory_mib, s.disk_gib)
                    == (record.vcpus, record.memory_mib, record.disk_gib)
            })
            .map(|s| s.name.clone())
        else {
            return Ok(Err(Refusal::NoSuchSize {
                vcpus: record.vcpus,
                memory_mib: record.memory_mib,
            }));
        };
        let owner = owner.unwrap_or(recorded);
        let uuid = instance_uuid.to_owned();
        let now = self.now();
        let adopted = self
            .store
            .write(move |tx| {
                let Some(user) = users::by_name(tx, &owner)? else {
                    return Ok(Err(Refusal::UnknownOwner(owner)));
                };
                let wanted = Usage {
                    instances: 1,
                    vcpus: record.vcpus,
                    memory_mib: record.memory_mib,
                    disk_gib: record.disk_gib,
                };
                if let Some(exceeded) =
                    quotas::check_deploy(tx, user.id, user.department_id, &wanted)?
                {
                    return Ok(Err(Refusal::Quota(exceeded)));
                }
                let app_port = match super::admission::app_port(tx)? {
                    Ok(port) => port,
                    Err(refused) => return Ok(Err(refused)),
                };
                let (lease_policy, _) = leases::effective(tx, user.department_id)?;
                let id = instances::insert(
                    tx,
                    &NewInstance {
                        uuid: &uuid,
                        name: &record.name,
                        owner_id: user.id,
                        size: &size,
                        vcpus: record.vcpus,
                        memory_mib: record.memory_mib,
                        disk_gib: record.disk_gib,
                        network: &record.network,
                        mac: &record.mac,
                        params_json: "{}",
                        health_expect: "",
                        zone: record.zone,
                        static_address: match record.zone {
                            NetworkZone::Outside => record.static_address.as_deref(),
                            NetworkZone::Inside => None,
                        },
                        static_network: record.static_network.as_deref(),
                        department_id: user.department_id,
                        volume_stem: &record.volume_stem,
                        app_port,
                        lease_expires_at: lease_policy
                            .lease_days
                            .map(|days| now + i64::from(days) * app::model::DAY),
                    },
                )?;
                instances::set_host(tx, id, Some(host_id))?;
                instances::set_status(tx, id, InstanceStatus::Ready, None)?;
                instances::observe(tx, id, power, None)?;
                Ok(Ok(id))
            })
            .await?;
        if adopted.is_ok() {
            self.leftovers.adopted(instance_uuid);
            self.reconcile_now.notify_one();
        }
        Ok(adopted)
    }
}
