//! An instance list's query and its pages.

use serde::{Deserialize, Serialize};

use super::page::Page;
use super::{
    ApprovalState, Health, InstanceSort, InstanceState, InstanceVersion, InstanceView, NetworkZone,
};

/// `GET /api/v1/instances` query: which instances, in what order, and
/// where the page starts. All given filters apply.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
pub struct InstanceQuery {
    /// What the instance's name, its owner's account name or its
    /// department's name starts with (any case).
    #[serde(default)]
    #[cfg_attr(feature = "ssr", param(max_length = 100))]
    pub q: Option<String>,
    /// Only instances in this state: `provisioning`, `failed`, `deleting`,
    /// or a power state such as `running` or `shut_off`.
    #[serde(default)]
    #[cfg_attr(
        feature = "ssr",
        param(
            value_type = Option<String>,
            pattern = r"^(provisioning|failed|deleting|running|paused|shutting_down|shut_off|crashed|unknown)$"
        )
    )]
    pub state: Option<InstanceState>,
    /// Only instances whose application is in this health.
    #[serde(default)]
    pub health: Option<Health>,
    /// Only instances in this network zone.
    #[serde(default)]
    pub zone: Option<NetworkZone>,
    /// Only instances on the host of this name.
    #[serde(default)]
    pub host: Option<String>,
    /// Only instances charged to this department (its id).
    #[serde(default)]
    pub department: Option<i64>,
    /// The order (default `newest`).
    #[serde(default)]
    pub sort: Option<InstanceSort>,
    /// At most this many (default 50, at most 200).
    #[serde(default)]
    #[cfg_attr(feature = "ssr", param(minimum = 1, maximum = 200))]
    pub limit: Option<u32>,
    /// Where the page starts: the `next` cursor of the page before, given
    /// with the same filters and order.
    #[serde(default)]
    pub cursor: Option<String>,
}

impl InstanceQuery {
    /// The same query from its first page.
    pub fn first_page(&self) -> InstanceQuery {
        InstanceQuery {
            cursor: None,
            ..self.clone()
        }
    }
}

/// One page of an instance list.
pub type InstancePage = Page<InstanceView>;

/// One row of the portal's instances page: only what the row shows. The
/// page carries its rows a second time, as JSON for hydration, and with
/// the whole [`InstanceView`] that JSON was twice as long, and writing it
/// out took 8% of the page's time (a `perf` profile).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceListItem {
    pub id: i64,
    pub name: String,
    pub state: InstanceState,
    pub host: Option<String>,
    pub ip: Option<String>,
    pub url: Option<String>,
    pub owner: String,
    pub size: String,
    /// When its lease ends (RFC 3339), and whether it already has.
    pub expires_at: Option<String>,
    pub expired: bool,
    /// Where its approval stands, when its deploy needed one.
    pub approval: Option<ApprovalState>,
    /// Its host has not answered since then (RFC 3339): its state is the
    /// last one seen.
    pub host_unreachable_since: Option<String>,
    /// The stack version it runs, and whether an update is available.
    pub version: Option<InstanceVersion>,
}

impl From<InstanceView> for InstanceListItem {
    fn from(view: InstanceView) -> InstanceListItem {
        // Taken apart whole, so that a field added to the view has to be
        // shown here or left out on purpose.
        let InstanceView {
            id,
            name,
            state,
            host,
            ip,
            url,
            owner,
            size,
            share: _,
            created_at: _,
            task_id: _,
            error: _,
            health: _,
            zone: _,
            lease,
            approval,
            host_unreachable_since,
            version,
        } = view;
        InstanceListItem {
            id,
            name,
            state,
            host,
            ip,
            url,
            owner,
            size,
            expired: lease.as_ref().is_some_and(|l| l.stage.is_expired()),
            expires_at: lease.map(|l| l.expires_at),
            approval: approval.map(|a| a.state),
            host_unreachable_since,
            version,
        }
    }
}
