//! The dashboard: the appliance's name, its hosts as the caller may see
//! them, what the reconciler cleaned, the quotas that bind the caller, and
//! the caller's instances counted, those needing attention first.

use app::error::AppError;
use app::model::{
    ApprovalView, DAY, Dashboard, Health, HostProbe, HostStatus, InstanceCounts, InstanceQuery,
    InstanceState, InstanceView, Leftovers, Me, Principal, Role, StateCount,
};
use app::policy::{Authorized, may_decide, may_use, rights};
use app::service::DashboardService;
use async_trait::async_trait;

use super::Appliance;
use super::errors::store_err;
use super::hosts::loads_or_read;
use super::instance_query::list_query;
use super::quotas::Binding;
use crate::store::instance_list::{self, ListQuery, Order, Visibility};
use crate::store::{approvals, hosts, leases, settings};

/// A host as members see it: its name, and whether it is available.
fn availability_only(host: HostStatus) -> HostStatus {
    HostStatus {
        id: host.id,
        name: host.name,
        mode: host.mode,
        storage_dir: String::new(),
        network: String::new(),
        probe: HostProbe::without_facts(
            String::new(),
            host.probe.connected,
            host.probe.starting,
            None,
        ),
        unreachable_since: host.unreachable_since,
        instances: None,
        free_memory_mib: None,
    }
}

#[async_trait]
impl DashboardService for Appliance {
    async fn dashboard(
        &self,
        who: Authorized<'_, rights::ViewDashboard>,
    ) -> Result<Dashboard, AppError> {
        let who = who.principal();
        // One read for all the store knows of it: each read is a trip to
        // a reader thread and back.
        let binding = Binding::of(who);
        let (generation, kept) = self.kept_loads();
        let (name, host_rows, loads, quotas) = self
            .store
            .read(move |c| {
                Ok((
                    settings::get(c, settings::APPLIANCE_NAME)?,
                    hosts::list(c)?,
                    loads_or_read(kept, c)?,
                    binding.read(c)?,
                ))
            })
            .await
            .map_err(store_err)?;
        self.loads.keep(generation, loads.clone());
        let hosts: Vec<HostStatus> = host_rows
            .into_iter()
            .map(|h| self.host_status(h, &loads))
            .collect();
        // Only the appliance admin sees how hosts are reached: URIs,
        // storage paths and libvirt's words are the infrastructure's.
        let hosts = match who.role {
            Role::Admin => hosts,
            Role::DepartmentAdmin | Role::User => {
                hosts.into_iter().map(availability_only).collect()
            }
        };
        Ok(Dashboard {
            appliance_name: name.unwrap_or_else(|| "dpe".to_owned()),
            me: Me::from(who),
            hosts,
            leftovers: match who.role {
                Role::Admin => self.leftovers_now().await?,
                Role::DepartmentAdmin | Role::User => Leftovers::default(),
            },
            quotas,
            instances: self.instance_counts(who).await?,
            approvals: self.waiting_approvals(who).await?,
            expiring: self.expiring(who).await?,
        })
    }
}

impl Appliance {
    /// The oldest requests `who` may decide.
    async fn waiting_approvals(&self, who: &Principal) -> Result<Vec<ApprovalView>, AppError> {
        let departments = match who.role {
            Role::Admin => None,
            Role::DepartmentAdmin => Some(who.managed_departments.clone()),
            Role::User => return Ok(Vec::new()),
        };
        // A few more than shown: the caller's own requests drop out.
        let rows = self
            .store
            .read(move |c| {
                approvals::oldest_pending(c, departments.as_deref(), Dashboard::TO_ACT * 2)
            })
            .await
            .map_err(store_err)?;
        Ok(rows
            .into_iter()
            .filter(|r| may_decide(who, r.requester_id, r.department_id).is_ok())
            .take(Dashboard::TO_ACT as usize)
            .map(|r| super::approvals::view_of(r, who))
            .collect())
    }

    /// The instances whose lease `who` may extend, ending within 7 days
    /// or ended.
    async fn expiring(&self, who: &Principal) -> Result<Vec<InstanceView>, AppError> {
        let owner = who.user_id;
        let departments = match who.role {
            Role::Admin => None,
            Role::DepartmentAdmin => Some(who.managed_departments.clone()),
            Role::User => Some(Vec::new()),
        };
        let horizon = self.engine.now() + 7 * DAY;
        let rows = self
            .store
            .read(move |c| {
                leases::expiring(c, owner, departments.as_deref(), horizon, Dashboard::TO_ACT)
            })
            .await
            .map_err(store_err)?;
        Ok(self.instance_views(
            rows.into_iter()
                .filter(|r| may_use(who, r.owner_id, r.department_id)),
        ))
    }
}

/// Dashboards kept at most, one per reader scope (the appliance admins
/// share one; each member has their own).
const KEPT: u64 = 1_000;

/// The instance counts, kept per reader scope while nothing has been
/// written (the store's generation, which other processes' writes move
/// too): at 10,000 instances a count reads 10,000 index entries, and a
/// dashboard is asked for far more often than instances change.
pub(super) struct CountsCache {
    entries: moka::sync::Cache<Visibility, (u64, InstanceCounts)>,
}

impl Default for CountsCache {
    fn default() -> Self {
        CountsCache {
            entries: moka::sync::Cache::new(KEPT),
        }
    }
}

impl Appliance {
    /// The instances `who` may see: counted by state and health, and the
    /// newest of those that need attention.
    async fn instance_counts(&self, who: &Principal) -> Result<InstanceCounts, AppError> {
        let visible = list_query(who, InstanceQuery::default())?.visible;
        // Read before counting, so a write committed meanwhile is never
        // hidden behind the counts it missed.
        let generation = self.store.generation();
        if let Some((at, counts)) = self.counts.entries.get(&visible)
            && at == generation
        {
            return Ok(counts);
        }
        let counts = self.count_instances(who, visible.clone()).await?;
        self.counts
            .entries
            .insert(visible, (generation, counts.clone()));
        Ok(counts)
    }

    async fn count_instances(
        &self,
        who: &Principal,
        visible: Visibility,
    ) -> Result<InstanceCounts, AppError> {
        let attention = |state: Option<InstanceState>, health: Option<Health>| ListQuery {
            visible: visible.clone(),
            text: None,
            state,
            health,
            zone: None,
            host: None,
            department: None,
            order: Order::Created {
                descending: true,
                after: None,
            },
            limit: InstanceCounts::ATTENTION,
        };
        let failed = attention(Some(InstanceState::Failed), None);
        let unhealthy = attention(None, Some(Health::Unhealthy));
        let (groups, mut worst) = self
            .store
            .read(move |c| {
                let groups = instance_list::counts(c, &failed.visible)?;
                let mut worst = instance_list::page(c, &failed)?.0;
                worst.extend(instance_list::page(c, &unhealthy)?.0);
                Ok((groups, worst))
            })
            .await
            .map_err(store_err)?;
        worst.sort_by_key(|i| std::cmp::Reverse((i.created_at, i.id)));
        worst.truncate(InstanceCounts::ATTENTION as usize);
        let mut by_state: Vec<StateCount> = Vec::new();
        let mut counts = InstanceCounts::default();
        for (state, health, count) in groups {
            counts.total += count;
            match state {
                InstanceState::Failed => counts.failed += count,
                InstanceState::Provisioning | InstanceState::Deleting | InstanceState::Ready(_) => {
                }
            }
            match health {
                Health::Unhealthy => counts.unhealthy += count,
                Health::Unknown | Health::Starting | Health::Healthy => {}
            }
            match by_state.iter_mut().find(|s| s.state == state) {
                Some(known) => known.count += count,
                None => by_state.push(StateCount { state, count }),
            }
        }
        by_state.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then(a.state.as_str().cmp(b.state.as_str()))
        });
        counts.by_state = by_state;
        counts.attention = self.instance_views(
            worst
                .into_iter()
                .filter(|r| may_use(who, r.owner_id, r.department_id)),
        );
        Ok(counts)
    }
}
