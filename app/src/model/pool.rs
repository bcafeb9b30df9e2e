//! The warm pool: guests booted ahead of time from the golden image, which
//! a deploy claims and personalizes in place instead of booting one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{PoolState, SizeInfo};

/// `PUT /api/v1/pool`: how many ready members to keep of each size. Sizes
/// left out keep none.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PoolTargets {
    /// Members to keep, by size name (each at most 16).
    #[cfg_attr(feature = "ssr", schema(value_type = BTreeMap<String, u32>))]
    pub targets: BTreeMap<String, u32>,
}

/// One member of the pool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PoolMember {
    pub id: i64,
    /// The stack's size it was built at.
    pub size: String,
    /// The host it runs on.
    pub host: Option<String>,
    pub state: PoolState,
    /// When it entered its state (Unix seconds).
    pub since: i64,
}

/// `GET /api/v1/pool`: the targets, each size's included, and the members.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PoolView {
    #[cfg_attr(feature = "ssr", schema(value_type = BTreeMap<String, u32>))]
    pub targets: BTreeMap<String, u32>,
    pub members: Vec<PoolMember>,
    /// The stack's sizes, in its manifest's order.
    pub sizes: Vec<SizeInfo>,
    /// Whether the stack can be personalized in place at all; without it
    /// every deploy boots cold and the targets do nothing.
    pub supported: bool,
    /// Whether every host emulates its guests (no usable KVM): then no
    /// member is kept unless an admin sets a target, since one booting
    /// takes whole cores for minutes.
    pub emulated: bool,
}

impl PoolView {
    /// Members of `size` in `state`.
    pub fn count(&self, size: &str, state: PoolState) -> usize {
        self.members
            .iter()
            .filter(|m| m.size == size && m.state == state)
            .count()
    }
}
