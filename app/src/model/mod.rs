//! Data shared by the portal, the REST API and the server.

use serde::{Deserialize, Serialize};

mod approvals;
mod apps;
mod backups;
mod console;
mod counts;
mod hosts;
mod instance_query;
mod leases;
mod leftovers;
mod metrics;
mod notifications;
pub mod page;
mod pool;
mod resize;
mod second_factor;
mod snapshots;
mod states;
mod usage;
mod versions;

pub use approvals::{
    ApprovalPolicy, ApprovalPolicyView, ApprovalRule, ApprovalState, ApprovalView,
    DEFAULT_APPROVAL_TIMEOUT_DAYS, Decision, DeployAccepted, InstanceApproval,
    MAX_APPROVAL_MEMORY_MIB, MAX_APPROVAL_VCPUS, MAX_COMMENT_CHARS, SetApprovalPolicy,
};
pub use apps::{AppsAddressing, AppsSettings};
pub use backups::{
    BackupFilter, BackupPolicy, BackupStoreSpec, BackupStoreView, BackupView, BackupsView,
    DEFAULT_BACKUP_KEEP, DepartmentBackupPolicy, DrillView, RestoreInPlaceRequest, RestoreRequest,
};
pub use console::{CONSOLE_MAX_COLS, CONSOLE_MAX_ROWS, ConsoleControl};
pub use counts::{InstanceCounts, StateCount};
pub use hosts::{HostCredentialsView, HostFile, ServerCertificateBundle, ServerCertificateRequest};
pub use instance_query::{InstanceListItem, InstancePage, InstanceQuery};
pub use leases::{
    DAY, DEFAULT_GRACE_DAYS, ExtendRequest, LeasePolicy, LeasePolicyView, LeaseStage, LeaseView,
    MAX_POLICY_DAYS, NoticeKind, NoticeView, SetLeasePolicy,
};
pub use leftovers::{AdoptRequest, Adopted, HeldLeftover, LeftoverKind, Leftovers};
pub use metrics::{
    AppTraffic, HostFigures, InstanceLabels, InstanceUsage, MetricsSnapshot, PoolCount, StepTotals,
    TaskCount,
};
pub use notifications::{
    DeliveryChannel, DeliveryFilter, DeliveryState, DeliveryView, MailPreferences, MatcherRequest,
    MatcherView, NotifyTest, NotifyTestRequest, Severity, SmtpSecurity, SmtpSettings, SmtpView,
    WebhookCreated, WebhookRequest, WebhookView,
};
pub use page::Page;
pub use pool::{PoolMember, PoolTargets, PoolView};
pub use resize::{ResizeChoice, ResizeOptions, ResizeRequest};
pub use second_factor::{
    AddedPasskey, PasskeyChallenge, PasskeyInfo, PasskeyKind, RecoveryCodes, SecondFactorPolicy,
    SecondFactorRule, SecondFactorStatus, TotpEnrolment,
};
pub use snapshots::{DEFAULT_SNAPSHOT_LIMIT, SnapshotRequest, SnapshotView, SnapshotsView};
pub use usage::{
    DepartmentUsagePoint, DepartmentUsageSeries, HostUsagePoint, HostUsageSeries, TrafficPoint,
    UsagePoint, UsageRange, UsageSeries,
};
pub use versions::{InstanceVersion, StackVersionView, StackVersions};

use states::text_enum;
pub use states::{
    AccountSource, AuditOutcome, BackupFrequency, BackupKind, BackupState, DrillState, Health,
    InstanceSort, InstanceState, InstanceStatus, ParamKind, PoolState, Power, Share, SnapshotKind,
    SnapshotState, StepState, TaskState, UnknownState,
};

text_enum! {
    /// What an account may do on the appliance.
    pub enum Role {
        /// Runs the appliance: hosts, departments, accounts, everything.
        Admin = "admin",
        /// Administers a department and its sub-departments: their members,
        /// instances and quotas.
        DepartmentAdmin = "department_admin",
        /// Deploys and manages their own instances.
        User = "user",
    }
}

impl Role {
    /// In words, for the portal.
    pub fn label(self) -> &'static str {
        match self {
            Role::Admin => "administrator",
            Role::DepartmentAdmin => "department admin",
            Role::User => "user",
        }
    }
}

text_enum! {
    /// What an API token may be used for.
    pub enum TokenScope {
        /// Everything its account may do, as when signed in.
        Full = "full",
        /// Reading `/metrics` and nothing else: what a Prometheus server
        /// holds, so that a leaked copy opens no part of the API.
        Metrics = "metrics",
    }
}

impl TokenScope {
    /// A session's scope, and a token's unless it says otherwise.
    pub fn full() -> TokenScope {
        TokenScope::Full
    }
}

/// The signed-in account, resolved from a session or an API token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    pub user_id: i64,
    pub username: String,
    pub role: Role,
    /// The department the account belongs to.
    #[serde(default)]
    pub department_id: Option<i64>,
    /// For department admins: their department and all below it.
    #[serde(default)]
    pub managed_departments: Vec<i64>,
    /// Whether the account may deploy (granted by a department admin).
    #[serde(default)]
    pub may_deploy: bool,
    /// Where the request came from, for the audit log.
    #[serde(default)]
    pub address: Option<String>,
    /// What the credential may be used for: `Full` for a session, the
    /// token's own scope for a token.
    #[serde(default = "TokenScope::full")]
    pub scope: TokenScope,
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
    /// The host's CPU as libvirt names it, e.g. "Intel Skylake-Client-IBRS,
    /// x86_64"; null when it names none.
    #[serde(default)]
    pub cpu_model: Option<String>,
    /// Why the host could not be reached, when it could not.
    pub error: Option<String>,
    /// Not connected because this machine's libvirtd is still starting
    /// (after a boot it first checks QEMU): it will answer shortly.
    #[serde(default)]
    pub starting: bool,
}

impl HostProbe {
    /// A report that knows whether the host answers, and nothing more.
    pub fn without_facts(
        uri: String,
        connected: bool,
        starting: bool,
        error: Option<String>,
    ) -> Self {
        HostProbe {
            uri,
            connected,
            hostname: None,
            libvirt_version: None,
            hypervisor: None,
            hypervisor_version: None,
            cpus: None,
            memory_mib: None,
            acceleration: None,
            cpu_model: None,
            error,
            starting,
        }
    }
}

text_enum! {
    /// Whether a host takes new instances.
    pub enum HostMode {
        /// It takes new instances and warm-pool members.
        Active = "active",
        /// It takes none; its instances are moved to other hosts one at
        /// a time and its warm-pool members removed. *Resume* ends it.
        Draining = "draining",
    }
}

/// A host of the pool with its live status.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct HostStatus {
    pub id: i64,
    pub name: String,
    /// `active`, or `draining` (drained once `instances` is 0).
    pub mode: HostMode,
    pub storage_dir: String,
    pub network: String,
    pub probe: HostProbe,
    /// Since when it has not answered the reconciler (RFC 3339); null
    /// while it answers. Its instances are then "host unreachable".
    pub unreachable_since: Option<String>,
    /// How many instances are placed on it; null for those who may not
    /// see the whole appliance.
    pub instances: Option<i64>,
    /// Memory not yet committed to instances, warm-pool members or drills
    /// (what placement picks by); null when not known, or for those who
    /// may not see the whole appliance.
    pub free_memory_mib: Option<u64>,
}

/// The time of day of an RFC 3339 UTC time, e.g. "20:57 UTC" (the text
/// itself when it is not one).
pub fn time_of_day(rfc3339: &str) -> String {
    match rfc3339.get(11..16) {
        Some(hh_mm) if rfc3339.get(10..11) == Some("T") => format!("{hh_mm} UTC"),
        _ => rfc3339.to_owned(),
    }
}

impl HostStatus {
    /// What the dashboard says of a host that does not answer; None while
    /// it does.
    pub fn unreachable_notice(&self) -> Option<String> {
        let since = time_of_day(self.unreachable_since.as_deref()?);
        let on_it = match self.instances {
            Some(1) => "1 instance on it is unreachable".to_owned(),
            Some(n) => format!("{n} instances on it are unreachable"),
            None => "its instances are unreachable".to_owned(),
        };
        Some(format!(
            "Host {} has not answered since {since}; {on_it}: they keep their last known state, and nothing is lost when it is back.",
            self.name
        ))
    }
}

/// Everything the dashboard shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dashboard {
    pub appliance_name: String,
    pub me: Me,
    pub hosts: Vec<HostStatus>,
    /// Leftovers the reconciler kept or removed (for admins; empty for
    /// others).
    #[serde(default)]
    pub leftovers: Leftovers,
    /// The quotas that bind the signed-in account, with their use.
    #[serde(default)]
    pub quotas: Vec<crate::quota::QuotaUse>,
    /// The instances the signed-in account may see, counted.
    pub instances: InstanceCounts,
    /// Deploy requests the signed-in account may decide, oldest first
    /// (at most [`Dashboard::TO_ACT`]): shown first, as they wait for it.
    #[serde(default)]
    pub approvals: Vec<ApprovalView>,
    /// Instances it may extend whose lease ends within 7 days or has
    /// ended, soonest first (at most [`Dashboard::TO_ACT`]).
    #[serde(default)]
    pub expiring: Vec<InstanceView>,
}

impl Dashboard {
    /// The most requests and expiring instances the dashboard lists.
    pub const TO_ACT: u32 = 5;
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
    /// The applications' wildcard domain to propose; empty: per-instance
    /// ports.
    pub apps_domain: String,
}

/// The first-boot setup, in one request: it completes atomically or not at all.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SetupRequest {
    /// The one-time code on the appliance's console (`dpe setup-code`):
    /// proof that whoever sets it up can see its screen.
    pub setup_code: String,
    /// Shown in the portal's header and the browser's title.
    #[cfg_attr(
        feature = "ssr",
        schema(
            pattern = r"^[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]{0,62}[^\s\x00-\x1f\x7f-\x9f]$|^[^\s\x00-\x1f\x7f-\x9f]$"
        )
    )]
    pub appliance_name: String,
    #[cfg_attr(feature = "ssr", schema(pattern = r"^[a-z0-9][a-z0-9._-]{0,63}$"))]
    pub admin_username: String,
    /// At least 12 characters, and not easy to guess.
    #[cfg_attr(feature = "ssr", schema(min_length = 12, max_length = 1024))]
    pub admin_password: String,
    /// libvirt URI of the first KVM host, e.g. `qemu:///system`.
    pub host_uri: String,
    /// Absolute directory for golden images and instance disks on that host.
    pub storage_dir: Option<String>,
    /// libvirt network that instances attach to.
    pub network: Option<String>,
    /// Where applications open: absent, per-instance ports 20000 to 20999.
    #[serde(default)]
    pub apps: Option<AppsAddressing>,
}

/// A personal API token as listed (its secret is never shown again).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    /// What it may be used for.
    pub scope: TokenScope,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub last_used_at: Option<i64>,
    /// Unix seconds after which it stops working; none: until revoked.
    pub expires_at: Option<i64>,
}

/// What a new token is asked for with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRequest {
    pub name: String,
    pub scope: TokenScope,
    /// Days it works; none: until revoked.
    pub expires_in_days: Option<u32>,
    /// A current code from the authenticator app, when the account has one.
    pub code: Option<String>,
}

/// A freshly created API token: the only time its secret is shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NewToken {
    pub id: i64,
    pub name: String,
    /// What it may be used for.
    pub scope: TokenScope,
    pub token: String,
}

/// `GET /api/v1/tokens` query: a page of the caller's tokens, newest
/// first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
pub struct TokenQuery {
    /// At most this many (default 50, at most 200).
    #[serde(default)]
    #[cfg_attr(feature = "ssr", param(minimum = 1, maximum = 200))]
    pub limit: Option<u32>,
    /// Where the page starts: the `next` cursor of the page before.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// The tokens page: a page of the list, and the token created just
/// before, once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokensView {
    pub tokens: Page<TokenInfo>,
    pub just_created: Option<NewToken>,
    /// Whether the account may make a token that reads `/metrics` only.
    pub may_read_metrics: bool,
}

text_enum! {
    /// What a task does.
    pub enum TaskKind {
        Deploy = "deploy",
        Start = "start",
        Shutdown = "shutdown",
        Reboot = "reboot",
        Poweroff = "poweroff",
        Delete = "delete",
        /// Takes a snapshot of the instance.
        Snapshot = "snapshot",
        /// Brings the instance back to one of its snapshots.
        Revert = "revert",
        /// Removes one of the instance's snapshots.
        DeleteSnapshot = "delete_snapshot",
        /// Copies the instance's disk to the backup store.
        Backup = "backup",
        /// Makes a new instance from a backup.
        Restore = "restore",
        /// Puts a backup of the instance over its disk, keeping the disk
        /// it replaces as a snapshot.
        RestoreInPlace = "restore_in_place",
        /// Moves the instance to another host (live when it runs).
        Move = "move",
        /// Changes the instance's size to another of the stack's sizes:
        /// memory and vCPUs with a reboot, the disk grown while it runs.
        Resize = "resize",
    }
}

/// A persisted task and its steps: `GET /api/v1/tasks/{id}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TaskView {
    pub id: i64,
    pub kind: TaskKind,
    /// `running`, `succeeded` or `failed` (a failed deploy has been rolled back).
    pub state: TaskState,
    pub instance_id: Option<i64>,
    pub steps: Vec<StepView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Done steps over all steps, 0 to 100.
    pub progress: u8,
    /// When the request was accepted (RFC 3339, milliseconds).
    pub created_at: String,
    /// When the task ended.
    pub finished_at: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct StepView {
    pub name: String,
    /// `pending`, `running`, `done`, `failed` or `undone` (rolled back).
    pub state: StepState,
    /// RFC 3339.
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}

/// An instance as its owner sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct InstanceView {
    pub id: i64,
    pub name: String,
    /// `provisioning`, `failed`, `deleting`, or once ready the power state
    /// (`running`, `shut_off`, ...).
    #[cfg_attr(feature = "ssr", schema(value_type = String))]
    pub state: InstanceState,
    pub host: Option<String>,
    /// The guest's own address, on the host's network.
    pub ip: Option<String>,
    /// Where its application opens: the appliance's gateway, on an origin
    /// of its own. None once it is being deleted or failed to deploy, or
    /// while the portal's address is not known (Settings).
    pub url: Option<String>,
    /// Who may open the application, besides who may manage the instance.
    pub share: Share,
    pub owner: String,
    pub size: String,
    /// RFC 3339.
    pub created_at: String,
    /// The running task, if any.
    pub task_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The application's health check: `unknown`, `starting`, `healthy`
    /// or `unhealthy`.
    pub health: Health,
    pub zone: NetworkZone,
    /// Its lease; null when its policy gives none.
    pub lease: Option<LeaseView>,
    /// The approval its deploy went through; null when none was needed.
    pub approval: Option<InstanceApproval>,
    /// Since when its host has not answered (RFC 3339); null while it
    /// answers. The state is then the last one seen, and no action runs
    /// until the host is back (each is refused with 409).
    pub host_unreachable_since: Option<String>,
    /// The stack version it runs; null until its disk is made.
    pub version: Option<InstanceVersion>,
}

impl InstanceView {
    /// Whether a page showing it must keep looking: a task is running, or
    /// a running application's health is not known yet.
    pub fn unsettled(&self) -> bool {
        self.task_id.is_some()
            || (self.state == InstanceState::Ready(Power::Running) && !self.health.is_settled())
    }
}

/// `PATCH /api/v1/instances/{id}`: what to change; absent fields stay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct InstancePatch {
    /// Who may open the application.
    #[serde(default)]
    pub share: Option<Share>,
}

/// `POST /api/v1/instances`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeployRequest {
    /// A DNS label: lower-case letters, digits and '-', 1 to 63 characters.
    #[cfg_attr(
        feature = "ssr",
        schema(pattern = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
    )]
    pub name: String,
    /// One of the stack's sizes.
    pub size: String,
    /// The stack's parameters.
    #[serde(default)]
    pub params: std::collections::BTreeMap<String, String>,
    /// The libvirt NAT network of the inside zone; the host's own when
    /// absent.
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(pattern = r"^[A-Za-z0-9._-]{1,64}$"))]
    pub network: Option<String>,
    /// Where the instance is reachable from; `inside` when absent.
    #[serde(default)]
    pub zone: Option<NetworkZone>,
}

text_enum! {
    /// Where an instance's network interface goes.
    #[derive(Default)]
    pub enum NetworkZone {
        /// A libvirt NAT network behind the appliance; the address comes
        /// from its DHCP leases.
        #[default]
        Inside = "inside",
        /// A bridge to the LAN; dpe assigns the address from the admin's
        /// pool and gives it to the guest in its seed.
        Outside = "outside",
    }
}

/// `PUT /api/v1/zones/outside`: the LAN bridge and the IPv4 addresses dpe
/// may give to instances on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OutsideZoneSettings {
    /// The Linux bridge on every host that reaches the LAN (e.g. `br0`).
    #[cfg_attr(feature = "ssr", schema(pattern = r"^[A-Za-z0-9_-]{1,15}$"))]
    pub bridge: String,
    /// The first address of the pool (IPv4).
    #[cfg_attr(
        feature = "ssr",
        schema(
            pattern = r"^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$"
        )
    )]
    pub first_address: String,
    /// The last address of the pool, inclusive, in the same subnet.
    #[cfg_attr(
        feature = "ssr",
        schema(
            pattern = r"^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$"
        )
    )]
    pub last_address: String,
    /// The subnet's prefix length (1 to 30).
    #[cfg_attr(feature = "ssr", schema(minimum = 1, maximum = 30))]
    pub prefix_len: u8,
    /// The LAN's router, if instances need one.
    #[serde(default)]
    #[cfg_attr(
        feature = "ssr",
        schema(
            pattern = r"^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$"
        )
    )]
    pub gateway: Option<String>,
    /// Name servers for the instances (at most 3).
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(max_items = 3, inline))]
    pub dns: Vec<String>,
}

/// The network zones a deploy may choose.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ZonesView {
    /// The NAT networks of the hosts (zone `inside`).
    pub inside_networks: Vec<String>,
    /// The outside zone, when an admin has configured it.
    pub outside: Option<OutsideZoneView>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct OutsideZoneView {
    pub settings: OutsideZoneSettings,
    /// Addresses held by instances.
    pub in_use: u32,
    /// Addresses left for new instances.
    pub free: u32,
}

/// `202 Accepted` for long work.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Accepted {
    pub id: i64,
    pub task_id: i64,
}

/// The stack users deploy: what the deploy form is generated from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct StackInfo {
    pub name: String,
    pub title: String,
    pub description: String,
    pub sizes: Vec<SizeInfo>,
    pub params: Vec<ParamInfo>,
}

/// The console page: its instance and how to sign in on its line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsoleView {
    pub instance: InstanceView,
    /// None when the stack makes no console account.
    pub sign_in: Option<ConsoleSignIn>,
}

/// The account an instance's serial console signs in with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ConsoleSignIn {
    /// The account's name in the guest.
    pub user: String,
    /// The label of the deploy form's field whose value is its password,
    /// e.g. "Admin password".
    pub password: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SizeInfo {
    pub name: String,
    pub label: String,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub disk_gib: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ParamInfo {
    pub name: String,
    pub label: String,
    /// `text`, `username`, `email` or `password`.
    pub kind: ParamKind,
    pub help: Option<String>,
    pub required: bool,
    pub default: Option<String>,
    pub max_length: Option<usize>,
}

/// `POST /api/v1/instances/{id}/move`: the host to move the instance to.
/// A running instance moves live (it keeps running, its disk copied while
/// it does); a stopped one moves stopped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MoveRequest {
    /// The id of the host (from `GET /api/v1/hosts`).
    pub host: i64,
}

/// `POST /api/v1/hosts`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AddHost {
    /// A display name; the host's own name when absent.
    #[serde(default)]
    #[cfg_attr(
        feature = "ssr",
        schema(
            pattern = r"^[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]{0,62}[^\s\x00-\x1f\x7f-\x9f]$|^[^\s\x00-\x1f\x7f-\x9f]$"
        )
    )]
    pub name: Option<String>,
    /// `qemu:///system`, `qemu+ssh://[user@]host[:port]/system` (or
    /// `qemu+libssh://`; both reached with dpe's own key through libvirt's
    /// libssh transport), `qemu+tls://host[:port]/system` (with dpe's own
    /// CA), or `test:///default` where the configuration allows the test
    /// driver. No parameters: dpe adds its own.
    #[cfg_attr(
        feature = "ssr",
        schema(
            pattern = r"^(qemu:///system|qemu\+(ssh|libssh|tls)://[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?/system|test:///default)$"
        )
    )]
    pub uri: String,
    /// An absolute directory on the host.
    #[cfg_attr(
        feature = "ssr",
        schema(pattern = r"^(/[A-Za-z0-9._-]*[A-Za-z0-9_-][A-Za-z0-9._-]*)+/?$")
    )]
    pub storage_dir: String,
    /// A libvirt network on the host.
    #[cfg_attr(feature = "ssr", schema(pattern = r"^[A-Za-z0-9._-]{1,64}$"))]
    pub network: String,
    /// For an ssh host, required: the host's SSH public key, one line
    /// (its /etc/ssh/ssh_host_ed25519_key.pub, or what `ssh-keyscan` prints),
    /// which dpe pins; a host presenting another key is refused.
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(max_length = 16384))]
    pub ssh_host_key: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(unreachable_since: Option<&str>, instances: Option<i64>) -> HostStatus {
        HostStatus {
            mode: HostMode::Active,
            id: 1,
            name: "kvm2".into(),
            storage_dir: String::new(),
            network: String::new(),
            probe: HostProbe::without_facts(String::new(), false, false, None),
            unreachable_since: unreachable_since.map(str::to_owned),
            instances,
            free_memory_mib: None,
        }
    }

    #[test]
    fn an_unreachable_host_is_told_with_the_time_and_how_many_instances_it_holds() {
        assert_eq!(host(None, Some(3)).unreachable_notice(), None);
        let told = host(Some("2026-12-06T20:57:29Z"), Some(3))
            .unreachable_notice()
            .unwrap();
        assert!(
            told.starts_with(
                "Host kvm2 has not answered since 20:57 UTC; 3 instances on it are unreachable"
            ),
            "{told}"
        );
        let members = host(Some("2026-12-06T20:57:29Z"), None).unreachable_notice();
        assert!(members.unwrap().contains("its instances are unreachable"));
    }
}
