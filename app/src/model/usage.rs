//! What an instance uses over time (CPU, memory, disk and network), as
//! its charts and the REST API show it.

use serde::{Deserialize, Serialize};

/// How far back a chart looks; each reads the finest tier that keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum UsageRange {
    /// The last hour, a reading every 10 s.
    Hour,
    /// The last day, a mean every 5 minutes.
    Day,
    /// The last 30 days, a mean every hour.
    Month,
}

impl UsageRange {
    pub const ALL: [UsageRange; 3] = [UsageRange::Hour, UsageRange::Day, UsageRange::Month];

    /// The length of one point, in seconds: the tier it reads.
    pub fn tier_seconds(self) -> i64 {
        match self {
            UsageRange::Hour => 10,
            UsageRange::Day => 300,
            UsageRange::Month => 3600,
        }
    }

    /// How far back it looks, in seconds.
    pub fn span_seconds(self) -> i64 {
        match self {
            UsageRange::Hour => 3600,
            UsageRange::Day => 86_400,
            UsageRange::Month => 30 * 86_400,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            UsageRange::Hour => "1 hour",
            UsageRange::Day => "1 day",
            UsageRange::Month => "1 month",
        }
    }
}

/// One period of an instance's use: a reading, or the mean of readings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UsagePoint {
    /// The period's start (unix seconds).
    pub at: i64,
    /// Of all its vCPUs: 100 is every vCPU busy.
    pub cpu_percent: f64,
    /// What the guest uses of its memory (what its balloon driver
    /// reports, else what its process holds on the host).
    pub memory_used_bytes: f64,
    /// The memory it has.
    pub memory_bytes: f64,
    pub disk_read_bps: f64,
    pub disk_write_bps: f64,
    /// Bytes per second the guest received.
    pub net_rx_bps: f64,
    /// Bytes per second the guest sent.
    pub net_tx_bps: f64,
}

/// One period of an application's traffic through dpe's gateway: a 10 s
/// window, or the mean of windows (and the worst p99 among them).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TrafficPoint {
    /// The period's start (unix seconds).
    pub at: i64,
    pub requests_per_s: f64,
    /// Answers with a 4xx status, per second.
    pub client_errors_per_s: f64,
    /// Answers with a 5xx status (the gateway's own 502 and 504 too), per
    /// second.
    pub server_errors_per_s: f64,
    /// The median time to the answer's head, in milliseconds; none
    /// without requests.
    pub p50_ms: Option<f64>,
    /// The 99th percentile time to the answer's head, in milliseconds.
    pub p99_ms: Option<f64>,
    /// Body bytes per second from visitors to the application.
    pub bytes_in_bps: f64,
    /// Body bytes per second from the application to visitors.
    pub bytes_out_bps: f64,
}

/// One period of a department's use of its quota: what its instances and
/// its sub-departments' took (the peak, for a longer period), and its
/// quota then (none: no limit).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DepartmentUsagePoint {
    /// The period's start (unix seconds).
    pub at: i64,
    pub instances: f64,
    pub vcpus: f64,
    pub memory_mib: f64,
    pub disk_gib: f64,
    pub quota_instances: Option<f64>,
    pub quota_vcpus: Option<f64>,
    pub quota_memory_mib: Option<f64>,
    pub quota_disk_gib: Option<f64>,
}

/// A department's use of its quota over a range, oldest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DepartmentUsageSeries {
    pub range: UsageRange,
    /// Each point's length in seconds.
    pub tier_seconds: i64,
    /// The range's end (unix seconds): now, when it was read.
    pub until: i64,
    pub points: Vec<DepartmentUsagePoint>,
}

/// An instance's use over a range, oldest first. Periods it did not run
/// have no point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UsageSeries {
    pub range: UsageRange,
    /// Each point's length in seconds.
    pub tier_seconds: i64,
    /// The range's end (unix seconds): now, when it was read.
    pub until: i64,
    pub points: Vec<UsagePoint>,
    /// Its application's traffic through the gateway over the same range;
    /// periods without any since dpe started have no point.
    pub traffic: Vec<TrafficPoint>,
}

/// One period of a host's own figures, as libvirt reads the machine: a
/// reading, or the mean of readings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct HostUsagePoint {
    /// The period's start (unix seconds).
    pub at: i64,
    /// Of all the host's CPUs, whoever used them: 100 is every CPU busy.
    pub cpu_percent: f64,
    /// The host's memory in use (not free, nor buffers or page cache).
    pub memory_used_bytes: f64,
    pub memory_bytes: f64,
    /// What dpe's storage pool holds, and its size.
    pub storage_used_bytes: f64,
    pub storage_bytes: f64,
    /// Bytes per second dpe's guests on the host received, and sent.
    pub net_rx_bps: f64,
    pub net_tx_bps: f64,
}

/// A host's own figures over a range, oldest first. Periods it was not
/// read (down, or dpe stopped) have no point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct HostUsageSeries {
    pub host_id: i64,
    pub host: String,
    pub range: UsageRange,
    /// Each point's length in seconds.
    pub tier_seconds: i64,
    /// The range's end (unix seconds): now, when it was read.
    pub until: i64,
    pub points: Vec<HostUsagePoint>,
}
