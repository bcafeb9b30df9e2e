//! What `/metrics` shows, read at once from the store for one scrape. The
//! edge encodes it (OpenMetrics); nothing here knows the format.

use super::{HostUsagePoint, InstanceStatus, PoolState, TaskKind, TaskState, UsagePoint};

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
    /// Each application's traffic through the gateway since dpe started
    /// (running totals, which `/metrics` reports as counters).
    pub app_traffic: Vec<AppTraffic>,
    /// The reconciler's passes since dpe started: how many, their summed
    /// seconds, and the last one's.
    pub reconcile_passes: u64,
    pub reconcile_seconds: f64,
    pub reconcile_last_seconds: f64,
}

/// What an instance's series are labelled by.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstanceLabels {
    pub name: String,
    pub uuid: String,
    /// Its department's name; empty when it belongs to none.
    pub department: String,
    pub size: String,
    /// Its host's name; empty when it has none.
    pub host: String,
}

/// An application's traffic through the gateway since dpe started.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AppTraffic {
    pub labels: InstanceLabels,
    /// Answers by status class (`2xx`, …).
    pub requests: Vec<(&'static str, u64)>,
    /// Answers by time to their head: each bucket's upper bound in
    /// seconds (the last `f64::INFINITY`) and its own count.
    pub latency_buckets: Vec<(f64, u64)>,
    pub latency_seconds_sum: f64,
    pub bytes_in: u64,
    pub bytes_out: u64,
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
    /// The host's own latest reading of the last minute, if any.
    pub own: Option<HostUsagePoint>,
}

/// An instance's latest 10 s reading, and what it is labelled by.
#[derive(Clone, Debug, PartialEq)]
pub struct InstanceUsage {
    pub labels: InstanceLabels,
    pub usage: UsagePoint,
}
