//! The dashboard's view of the instances: how many are in each state, and
//! which need attention first.

use serde::{Deserialize, Serialize};

use super::{InstanceState, InstanceView};

/// How many of the instances that the reader may see are in one state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateCount {
    pub state: InstanceState,
    pub count: u64,
}

/// The instances that the reader may see, counted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceCounts {
    pub total: u64,
    /// Each state that some instance is in, the most common first.
    pub by_state: Vec<StateCount>,
    /// Deploys that failed.
    pub failed: u64,
    /// Applications that answered once and have stopped.
    pub unhealthy: u64,
    /// Failed and unhealthy instances, newest first, the first few
    /// ([`InstanceCounts::ATTENTION`]): shown before anything else.
    pub attention: Vec<InstanceView>,
}

impl InstanceCounts {
    /// How many of the instances that need attention the dashboard shows.
    pub const ATTENTION: u32 = 5;
}
