//! What `/metrics` shows, read at once from the store for one scrape. The
//! edge encodes it (OpenMetrics); nothing here knows the format.

use super::{InstanceStatus, PoolState, TaskKind, TaskState, UsagePoint};

/// Everything one scrape reports, but the edge's own request counts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricsSnapshot {
    /// The store's files on disk (the database and its write-ahead log).
    pub store_bytes: u64,
    /// How many instances are in each status.
    pub instances: Vec<(InstanceStatus, u64)>,
    /// Tasks by kind and state: the ended ones only grow (tasks are kept
    /// for the record), the running ones come and go.
    pub tasks: Vec<TaskCount>,
    /// The steps that finished, by task kind and step.
    pub steps: Vec<StepTotals>,
    /// Warm-pool members by size and state.
    pub pool: Vec<PoolCount>,
    pub hosts: Vec<HostFigures>,
    /// The instances with a reading of the last minute.
    pub instance_usage: Vec<InstanceUsage>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskCount {
    pub kind: TaskKind,
    pub state: TaskState,
    pub count: u64,
}

/// How many steps of one name finished, and the time they took in all.
#[derive(Clone, Debug, PartialEq)]
pub struct StepTotals {
    pub kind: TaskKind,
    pub step: String,
    pub count: u64,
    pub seconds: f64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolCount {
    pub size: String,
    pub state: PoolState,
    pub count: u64,
}

/// A host, and the sum of its instances' latest readings.
#[derive(Clone, Debug, PartialEq)]
pub struct HostFigures {
    pub name: String,
    pub reachable: bool,
    pub instances: u64,
    /// Sums over the instances with a reading of the last minute (`at`
    /// is the newest reading's).
    pub usage: UsagePoint,
}

/// An instance's latest 10 s reading, and what it is labelled by.
#[derive(Clone, Debug, PartialEq)]
pub struct InstanceUsage {
    pub name: String,
    pub uuid: String,
    /// Its department's name; empty when it belongs to none.
    pub department: String,
    pub size: String,
    /// Its host's name; empty when it has none.
    pub host: String,
    pub usage: UsagePoint,
}
