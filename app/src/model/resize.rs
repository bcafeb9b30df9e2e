//! Resizing an instance to another of the stack's sizes.

use serde::{Deserialize, Serialize};

/// Resizes an instance: `POST /api/v1/instances/{id}/resize`. Memory and
/// vCPUs change with a reboot of a running instance; the disk grows while
/// it runs, and never shrinks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ResizeRequest {
    /// The name of one of the stack's sizes (`GET /api/v1/stack`), other
    /// than the instance's own and with at least its disk.
    pub size: String,
}

/// A size an instance could take, for the portal's Resize control.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResizeChoice {
    pub name: String,
    pub label: String,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub disk_gib: u64,
    /// Whether it takes a reboot (memory or vCPUs change while it runs).
    pub reboots: bool,
    /// Why the instance cannot take it now; none when it can.
    pub refused: Option<String>,
}

/// The instance's size and the sizes it could take.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResizeOptions {
    pub current: String,
    /// Every other size of the stack, in the manifest's order.
    pub choices: Vec<ResizeChoice>,
}
