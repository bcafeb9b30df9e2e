//! Admission: a deploy or an action becomes an instance record and a
//! persisted task in one transaction, and its driver is started. Quotas and
//! the outside zone's address are decided in that same transaction: with
//! one writer, check-and-insert is atomic.

use std::collections::BTreeMap;
use std::sync::Arc;

use app::model::{Accepted, InstanceStatus, NetworkZone, TaskKind};
use app::org::Usage;
use app::policy::{Authorized, rights};
use rusqlite::Connection;

use super::runtime::Engine;
use super::seed::StaticAddressing;
use super::steps::Step;
use super::volumes;
use super::{EngineError, Refusal};
use crate::addressing::app_origins;
use crate::stack::{Size, Stack};
use crate::store::instances::{self, NewInstance};
use crate::store::{StoreError, approvals, hosts, leases, pool, quotas, settings, tasks, zones};

/// A deploy request after validation by the service layer.
#[derive(Clone, Debug)]
pub struct DeployPlan {
    pub name: String,
    pub size: Size,
    /// Parameters without secrets, stored with the instance.
    pub public_params: BTreeMap<String, String>,
    /// The user-data's variables (secrets only as hashes); admission adds
    /// `public_url` once the instance's gateway port is taken.
    pub template: BTreeMap<String, String>,
    /// The inside zone's NAT network; the host's own when absent.
    pub network: Option<String>,
    pub zone: NetworkZone,
    /// The text the application's health answer must contain.
    pub health_expect: String,
}

/// What a new instance is called and how it is wired, decided before the
/// transaction that records it.
struct NewInstanceIdentity {
    uuid: String,
    volume_stem: String,
    mac: String,
    owner_id: i64,
    department_id: Option<i64>,
    /// The inside network (used unless the plan asks for the outside zone).
    network: String,
    params_json: String,
    /// Unix seconds at admission, by the engine's clock: the lease starts.
    now: i64,
}

/// Where an instance's NIC goes: a libvirt network or the outside bridge,
/// and with the latter, the fixed address it took.
type Wiring = (String, Option<StaticAddressing>);

/// What the plan takes of its owner's quotas.
fn usage_of(plan: &DeployPlan) -> Usage {
    Usage {
        instances: 1,
        vcpus: plan.size.vcpus,
        memory_mib: plan.size.memory_mib,
        disk_gib: plan.size.disk_gib,
    }
}

/// The NIC of a new instance, and its fixed address in the outside zone,
/// which is taken in the transaction recording the instance so that
/// concurrent deploys never share one.
fn wiring(
    tx: &Connection,
    zone: NetworkZone,
    inside: String,
) -> Result<Result<Wiring, Refusal>, StoreError> {
    match zone {
        NetworkZone::Inside => Ok(Ok((inside, None))),
        NetworkZone::Outside => {
            let Some(zone) = zones::outside(tx)? else {
                return Ok(Err(Refusal::NoOutsideZone));
            };
            let Some(address) = zones::free_address(tx, &zone)? else {
                return Ok(Err(Refusal::PoolExhausted {
                    first: zone.first,
                    last: zone.last,
                }));
            };
            let fixed = StaticAddressing {
                address,
                prefix_len: zone.prefix_len,
                gateway: zone.gateway,
                dns: zone.dns,
            };
            Ok(Ok((zone.bridge, Some(fixed))))
        }
    }
}

/// The instance's gateway port, taken in the transaction recording it:
/// while the apps are addressed by port, one of the range (or a refusal).
pub(super) fn app_port(tx: &Connection) -> Result<Result<Option<u16>, Refusal>, StoreError> {
    match settings::apps(tx)?.map(|s| s.addressing) {
        None | Some(app::model::AppsAddressing::Domain { .. }) => Ok(Ok(None)),
        Some(app::model::AppsAddressing::Ports { first, last }) => {
            match instances::free_app_port(tx, first, last)? {
                Some(port) => Ok(Ok(Some(port))),
                None => Ok(Err(Refusal::PortsExhausted { first, last })),
            }
        }
    }
}

/// What admitting a deploy came to, besides a store error.
enum Admission {
    /// The instance's and its deploy task's ids.
    Admitted(i64, i64),
    /// The instance's and its approval request's ids: it waits, holding
    /// its quota, with no task.
    Pending(i64, i64),
    Refused(Refusal),
    /// The stack's user-data template failed with the deploy's values:
    /// not the store's fault, nor a refusal (nothing was written).
    BadUserData(serde_yaml_ng::Error),
}

/// Records the instance and its deploy task; refusals commit an empty
/// transaction: nothing was written.
/// Records the instance and its deploy task, or, with `approval` (the days
/// a request waits), the instance and its approval request: either way in
/// the transaction that checks the quotas, so that requests waiting for a
/// decision hold their share as deploys do and no two together exceed a
/// quota.
fn admit(
    tx: &Connection,
    stack: &Stack,
    who: &NewInstanceIdentity,
    plan: &DeployPlan,
    approval: Option<u32>,
) -> Result<Admission, StoreError> {
    let wanted = usage_of(plan);
    if let Some(exceeded) = quotas::check_deploy(tx, who.owner_id, who.department_id, &wanted)? {
        return Ok(Admission::Refused(Refusal::Quota(exceeded)));
    }
    let (network, fixed) = match wiring(tx, plan.zone, who.network.clone())? {
        Ok(wiring) => wiring,
        Err(refused) => return Ok(Admission::Refused(refused)),
    };
    let app_port = match app_port(tx)? {
        Ok(port) => port,
        Err(refused) => return Ok(Admission::Refused(refused)),
    };
    // The application learns where it is published (DokuWiki's baseurl);
    // empty while the portal's address is not known.
    let mut template = plan.template.clone();
    let public_url = settings::apps(tx)?
        .and_then(|s| app_origins::AppOrigins::of(&s)?.url(&plan.name, app_port))
        .unwrap_or_default();
    template.insert("public_url".into(), public_url);
    let user_data = match stack.render_user_data(&template) {
        Ok(user_data) => user_data,
        Err(e) => return Ok(Admission::BadUserData(e)),
    };
    // A ready warm-pool member of this size on the same network is taken
    // here, in the transaction that records the instance: no member can
    // be claimed twice. Outside-zone deploys boot cold (the member's NIC
    // is on the inside network).
    // A request waiting for approval claims none: a member is not held
    // for days; approval deploys cold.
    let claimed = match (&stack.manifest.personalize, plan.zone) {
        (Some(_), NetworkZone::Inside) if approval.is_none() => {
            pool::oldest_ready(tx, &plan.size.name)?.filter(|m| m.network == network)
        }
        (None | Some(_), NetworkZone::Inside | NetworkZone::Outside) => None,
    };
    let (uuid, volume_stem, mac) = match &claimed {
        Some(m) => (m.uuid.as_str(), m.volume_stem.as_str(), m.mac.as_str()),
        None => (
            who.uuid.as_str(),
            who.volume_stem.as_str(),
            who.mac.as_str(),
        ),
    };
    let (lease_policy, _) = leases::effective(tx, who.department_id)?;
    let lease_expires_at = lease_policy
        .lease_days
        .map(|days| who.now + i64::from(days) * app::model::DAY);
    let static_address = fixed.as_ref().map(|f| f.address.to_string());
    let static_network = fixed
        .as_ref()
        .map(|f| serde_json::to_string(f).unwrap_or_default());
    let id = instances::insert(
        tx,
        &NewInstance {
            volume_stem,
            uuid,
            name: &plan.name,
            owner_id: who.owner_id,
            size: &plan.size.name,
            vcpus: plan.size.vcpus,
            memory_mib: plan.size.memory_mib,
            disk_gib: plan.size.disk_gib,
            network: &network,
            mac,
            params_json: &who.params_json,
            health_expect: &plan.health_expect,
            zone: plan.zone,
            static_address: static_address.as_deref(),
            static_network: static_network.as_deref(),
            department_id: who.department_id,
            app_port,
            lease_expires_at,
        },
    )?;
    if let Some(days) = approval {
        let approval = approvals::insert(
            tx,
            &approvals::NewApproval {
                instance_id: id,
                instance_name: &plan.name,
                requester_id: who.owner_id,
                department_id: who.department_id,
                size: &plan.size.name,
                vcpus: plan.size.vcpus,
                memory_mib: plan.size.memory_mib,
                requested_at: who.now,
                expires_at: who.now + i64::from(days) * app::model::DAY,
                user_data: &user_data,
            },
        )?;
        super::approvals::queue_requested(tx, id, who.now)?;
        return Ok(Admission::Pending(id, approval));
    }
    let steps: Vec<&str> = match &claimed {
        Some(_) => Step::WARM_DEPLOY.iter().map(|s| s.name()).collect(),
        None => Step::names(TaskKind::Deploy),
    };
    // The user-data is kept either way: a claim that fails goes on cold.
    let task = tasks::insert(
        tx,
        id,
        uuid,
        who.owner_id,
        TaskKind::Deploy,
        &steps,
        Some(&user_data),
    )?;
    if let (Some(member), Some(spec)) = (&claimed, &stack.manifest.personalize) {
        pool::mark_claimed(tx, member.id, id)?;
        // The instance runs the image the member was booted from.
        if let Some(version) = crate::store::stack_versions::by_sha256(tx, &member.image)? {
            crate::store::stack_versions::set_instance(tx, id, version.id)?;
        }
        instances::set_host(tx, id, Some(member.host_id))?;
        tasks::set_personalize(tx, task, &spec.input(&template, &plan.name))?;
    }
    Ok(Admission::Admitted(id, task))
}

/// A new instance's volume stem.
pub(super) fn new_volume_stem(appliance_id: &str, uuid: &str) -> String {
    volumes::stem(appliance_id, uuid)
}

impl Engine {
    /// Records the instance and its deploy task, and starts it; a refusal
    /// records nothing. The owner's proof of the right to deploy comes
    /// along, so nothing records an instance for one without it.
    pub async fn submit_deploy(
        self: &Arc<Self>,
        owner: Authorized<'_, rights::Deploy>,
        plan: DeployPlan,
    ) -> Result<Result<Accepted, Refusal>, EngineError> {
        match self
            .admit_plan(owner.user_id, owner.department_id, plan, None)
            .await?
        {
            Ok(Admission::Admitted(id, task_id)) => {
                tokio::spawn(self.clone().run_task(task_id));
                Ok(Ok(Accepted { id, task_id }))
            }
            Ok(Admission::Pending(..) | Admission::Refused(_) | Admission::BadUserData(_)) => {
                Err(EngineError::Store(StoreError::Corrupt(
                    "a deploy without approval was not admitted as one".into(),
                )))
            }
            Err(refusal) => Ok(Err(refusal)),
        }
    }

    /// Records the instance and its approval request, waiting `days` for
    /// a decision, with its quota reserved; a refusal records nothing.
    /// Returns the instance's and the request's ids.
    pub async fn submit_deploy_request(
        self: &Arc<Self>,
        requester: Authorized<'_, rights::RequestDeploy>,
        plan: DeployPlan,
        days: u32,
    ) -> Result<Result<(i64, i64), Refusal>, EngineError> {
        match self
            .admit_plan(requester.user_id, requester.department_id, plan, Some(days))
            .await?
        {
            Ok(Admission::Pending(id, approval)) => Ok(Ok((id, approval))),
            Ok(Admission::Admitted(..) | Admission::Refused(_) | Admission::BadUserData(_)) => {
                Err(EngineError::Store(StoreError::Corrupt(
                    "a deploy request was not admitted as one".into(),
                )))
            }
            Err(refusal) => Ok(Err(refusal)),
        }
    }

    /// Admits `plan` for its owner: `Ok` holds `Admitted` or `Pending`.
    async fn admit_plan(
        self: &Arc<Self>,
        owner_id: i64,
        department_id: Option<i64>,
        plan: DeployPlan,
        approval: Option<u32>,
    ) -> Result<Result<Admission, Refusal>, EngineError> {
        let uuid = uuid::Uuid::new_v4().to_string();
        let network = match plan.network.clone() {
            Some(n) => n,
            None => self
                .store
                .read(hosts::list)
                .await?
                .first()
                .map(|h| h.network.clone())
                .unwrap_or_else(|| "default".into()),
        };
        let who = NewInstanceIdentity {
            volume_stem: volumes::stem(&self.appliance_id, &uuid),
            uuid,
            mac: super::guest::random_mac(),
            owner_id,
            department_id,
            network,
            params_json: serde_json::to_string(&plan.public_params).unwrap_or_else(|_| "{}".into()),
            now: self.clock.now(),
        };
        let stack = self.stack().clone();
        let admitted = self
            .store
            .write(move |tx| admit(tx, &stack, &who, &plan, approval))
            .await?;
        match admitted {
            Admission::Refused(refusal) => Ok(Err(refusal)),
            Admission::BadUserData(e) => Err(EngineError::UserData(e)),
            admitted @ (Admission::Admitted(..) | Admission::Pending(..)) => Ok(Ok(admitted)),
        }
    }

    /// Starts a lifecycle task; `Store(Duplicate)` when the instance is
    /// busy, `Store(NotFound)` when it is gone.
    pub async fn submit_action(
        self: &Arc<Self>,
        instance_id: i64,
        kind: TaskKind,
    ) -> Result<i64, EngineError> {
        // A task on a host that does not answer would fail, and a failed
        // delete marks the instance failed: whoever asks (a person, a
        // lease) asks again once the host is back.
        let placed = self
            .store
            .read(move |c| instances::by_id(c, instance_id))
            .await?;
        if let Some(inst) = placed
            && inst.host_unreachable_since.is_some()
        {
            return Err(EngineError::HostDown(inst.host.unwrap_or_default()));
        }
        let task_id = self
            .store
            .write(move |tx| {
                let inst =
                    instances::by_id(tx, instance_id)?.ok_or(StoreError::NotFound("instance"))?;
                if kind == TaskKind::Delete {
                    instances::set_status(tx, instance_id, InstanceStatus::Deleting, None)?;
                }
                tasks::insert(
                    tx,
                    instance_id,
                    &inst.uuid,
                    inst.owner_id,
                    kind,
                    &Step::names(kind),
                    None,
                )
            })
            .await?;
        tokio::spawn(self.clone().run_task(task_id));
        Ok(task_id)
    }
}
