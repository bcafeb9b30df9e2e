//! Data shared by the portal, the REST API and the server.

use serde::{Deserialize, Serialize};

/// What an account may do on the appliance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Runs the appliance: hosts, accounts, everything.
    Admin,
    /// Deploys and manages their own instances.
    User,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "admin" => Some(Role::Admin),
            "user" => Some(Role::User),
            _ => None,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The signed-in account, resolved from a session or an API token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    pub user_id: i64,
    pub username: String,
    pub role: Role,
}

/// `GET /api/v1/me` and the result of signing in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Me {
    pub username: String,
    pub role: Role,
}

impl From<&Principal> for Me {
    fn from(p: &Principal) -> Me {
        Me {
            username: p.username.clone(),
            role: p.role,
        }
    }
}

/// How guests run on a host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Acceleration {
    /// Hardware virtualization through /dev/kvm.
    Kvm,
    /// QEMU's software emulation: slower, but works without usable KVM.
    Tcg,
    /// libvirt's test driver: nothing runs, for tests and demos.
    Test,
}

/// What a live probe of a libvirt host found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct HostProbe {
    pub uri: String,
    pub connected: bool,
    pub hostname: Option<String>,
    /// libvirt library version, e.g. "9.0.0".
    pub libvirt_version: Option<String>,
    /// Hypervisor driver name, e.g. "QEMU".
    pub hypervisor: Option<String>,
    pub hypervisor_version: Option<String>,
    pub cpus: Option<u32>,
    pub memory_mib: Option<u64>,
    pub acceleration: Option<Acceleration>,
    /// Why the host could not be reached, when it could not.
    pub error: Option<String>,
}

/// A host of the pool with its live status.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct HostStatus {
    pub id: i64,
    pub name: String,
    pub storage_dir: String,
    pub network: String,
    pub probe: HostProbe,
}

/// Everything the dashboard shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dashboard {
    pub appliance_name: String,
    pub me: Me,
    pub hosts: Vec<HostStatus>,
}

/// Where the appliance stands in its first-boot setup.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SetupStatus {
    pub complete: bool,
    pub defaults: SetupDefaults,
}

/// The values the setup wizard starts from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SetupDefaults {
    pub host_uri: String,
    pub storage_dir: String,
    pub network: String,
}

/// The first-boot setup, in one request: it completes atomically or not at all.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SetupRequest {
    /// Shown in the portal's header and the browser's title.
    pub appliance_name: String,
    pub admin_username: String,
    pub admin_password: String,
    /// libvirt URI of the first KVM host, e.g. `qemu:///system`.
    pub host_uri: String,
    /// Absolute directory for golden images and instance disks on that host.
    pub storage_dir: Option<String>,
    /// libvirt network that instances attach to.
    pub network: Option<String>,
}

/// A personal API token as listed (its secret is never shown again).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub last_used_at: Option<i64>,
}

/// A freshly created API token: the only time its secret is shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NewToken {
    pub id: i64,
    pub name: String,
    pub token: String,
}

/// The tokens page: the list, and the token created just before, once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokensView {
    pub tokens: Vec<TokenInfo>,
    pub just_created: Option<NewToken>,
}
