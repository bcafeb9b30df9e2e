//! Quotas: limits on what instances may take, and what they take now.
//! A leaf of the shared types: the dashboard (`model`) and delegation
//! (`org`) both show them.

use serde::{Deserialize, Serialize};

/// Limits on what instances may take; `None` is no limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Quota {
    #[serde(default)]
    pub instances: Option<u32>,
    #[serde(default)]
    pub vcpus: Option<u32>,
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(maximum = 9_223_372_036_854_775_807_u64))]
    pub memory_mib: Option<u64>,
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(maximum = 9_223_372_036_854_775_807_u64))]
    pub disk_gib: Option<u64>,
}

impl std::fmt::Display for Quota {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let part = |v: Option<u64>| v.map_or("no limit".to_owned(), |v| v.to_string());
        write!(
            f,
            "instances {}, vCPUs {}, memory {} MiB, disk {} GiB",
            part(self.instances.map(u64::from)),
            part(self.vcpus.map(u64::from)),
            part(self.memory_mib),
            part(self.disk_gib)
        )
    }
}

/// What instances take now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Usage {
    pub instances: u32,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub disk_gib: u64,
}

/// A quota beside its use, for bars.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct QuotaUse {
    /// "Your quota" or "Department Physics".
    pub scope: String,
    pub quota: Quota,
    pub usage: Usage,
}
