//! The provisioning engine: talks to libvirt hosts. Its rooms, from the
//! top (each file imports only files below it):
//! - `background` starts what runs on its own: cut-off tasks resumed, the
//!   reconcile loop, the warm pool's tending.
//! - `leases` (each lease's course: warnings, expiry, deletion, on the
//!   engine's clock).
//! - `console/` (guests' serial lines for the portal: one stream per domain,
//!   its `broker` shared by every viewer).
//! - `admission` (deploys and actions become tasks; snapshot work in
//!   `snapshot_admission`; kept guests become instances again in
//!   `adoption`), `driver` (runs a
//!   task's steps, rolls back), `reconcile` and `health` (libvirt is the
//!   truth for power state), `warm/` (the warm pool: guests booted ahead
//!   of time that a deploy claims).
//! - `steps/` (each step on a guest and its undo) and `placement`.
//! - `runtime`: the `Engine` itself and its fields, whose types come from
//!   the leaf files `host_status`, `warm/work`, `health_client`,
//!   `leftovers`, `pass_times`.
//! - `guest` (what a step works on, built from an instance's or a warm
//!   pool member's record), `definition` (a guest's domain XML), `seed`
//!   (cloud-init), `volumes` (names), `golden`, `hosts` (connections,
//!   opened by a `connector`), `hypervisor` (the host trait and its
//!   `HostError`), `libvirt/` (its implementation) and `xml`.

pub mod admission;
mod adoption;
pub mod approvals;
mod background;
pub mod backup_admission;
pub mod backup_schedule;
mod backup_store;
pub mod connector;
pub mod console;
mod definition;
pub mod drills;
mod driver;
pub mod golden;
mod guest;
mod health;
mod health_client;
mod host_status;
pub mod hosts;
pub mod hypervisor;
pub mod leases;
mod leftovers;
pub mod libvirt;
mod moving;
mod pass_times;
mod placement;
mod readiness;
mod reconcile;
pub mod resizing;
pub mod runtime;
pub mod seed;
pub mod snapshot_admission;
mod steps;
pub mod store_backup;
mod usage;
mod versions;
mod volumes;
mod warm;
pub mod xml;

use self::hypervisor::HostError;
pub use self::usage::traffic;

/// What the engine's work fails with. Each variant means one thing; a
/// host's own failures are a [`HostError`] inside [`EngineError::Host`].
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A call on a host failed.
    #[error(transparent)]
    Host(#[from] HostError),
    /// A domain definition could not be written.
    #[error("cannot write the domain XML")]
    Xml(#[source] quick_xml::SeError),
    /// The health checks' HTTP client could not be built.
    #[error("cannot build the health check's HTTP client")]
    HttpClient(#[source] reqwest::Error),
    /// A volume a step needs is not in the pool.
    #[error("no volume {0}")]
    VolumeMissing(String),
    /// A step that needs the instance's host ran before it was placed.
    #[error("instance {0} is not placed on a host")]
    NotPlaced(String),
    #[error("cannot build the cloud-init seed")]
    Seed(#[from] seed::SeedError),
    #[error("host {0} is not connected")]
    HostDown(String),
    #[error("host {0} is still starting")]
    HostStarting(String),
    #[error("no host has room for {vcpus} vCPUs and {memory_mib} MiB")]
    NoCapacity { vcpus: u32, memory_mib: u64 },
    #[error("cannot read the image {path}")]
    Image {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The golden image read back from a host after its upload is not
    /// the image: the volume was removed.
    #[error(
        "the golden image uploaded to {uri} as {volume} does not match its checksum (SHA-256 \
         {expected} expected, {found} found); the volume was removed"
    )]
    GoldenMismatch {
        uri: String,
        volume: String,
        expected: String,
        found: String,
    },
    /// No image has been built for the stack yet.
    #[error("the stack {0} has no version: build its image first")]
    NoStackVersion(String),
    /// A version's folder now holds another image (rebuilt in place):
    /// it cannot be uploaded to a new host any more.
    #[error("the image of version {label} in {dir} has changed since it was registered")]
    VersionImageChanged {
        label: String,
        dir: std::path::PathBuf,
    },
    #[error("store error")]
    Store(#[from] crate::store::StoreError),
    /// The thread that reads a serial console could not start.
    #[error("cannot start a console's reader")]
    ConsoleThread(#[source] std::io::Error),
    /// A command run in the guest failed.
    #[error("{command} in the guest exited with {code}: {stderr}")]
    GuestCommand {
        command: String,
        code: i64,
        stderr: String,
    },
    /// A warm deploy's claim was cut off (by a restart) at a point from
    /// which it cannot tell how far it got.
    #[error("the claim of a warm-pool member was interrupted")]
    ClaimInterrupted,
    /// A snapshot task's snapshot was removed under it.
    #[error("the snapshot no longer exists")]
    SnapshotGone,
    /// A backup or restore task's backup was removed under it.
    #[error("the backup no longer exists")]
    BackupGone,
    /// A backup job was cut off by a restart: what it copied is not
    /// trusted, and the job is aborted.
    #[error("the backup was interrupted")]
    BackupInterrupted,
    /// The backup store's pool has no room for the copy.
    #[error("the backup store is full")]
    BackupStoreFull(#[source] HostError),
    /// A backup a restore reads no longer matches its checksum.
    #[error("backup #{0} is damaged: its file no longer matches its checksum")]
    BackupDamaged(i64),
    /// A task's record names a step this engine does not know (a newer
    /// dpe wrote it, or the record was edited).
    #[error("task {task} has no known step at {position}")]
    UnknownStep { task: i64, position: usize },
    /// The stack's user-data template cannot be rendered with a deploy's
    /// values.
    #[error("cannot render the stack's user-data")]
    UserData(#[source] serde_yaml_ng::Error),
    /// A restore drill's guest did not come up as its backup promised;
    /// the text says what was missing.
    #[error("{0}")]
    DrillFailed(String),
    /// The warm pool was asked to boot or personalize a guest, but the
    /// stack has no personalization (its manifest changed under it).
    #[error("the application stack has no personalization")]
    NoPersonalization,
}

/// Why a deploy is refused: the appliance's rules said no, nothing failed.
/// Returned beside `EngineError`, never inside it, so that callers answer
/// each refusal on its own terms (and audit it).
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// Which quota, and by how much.
    #[error("refused: {0}")]
    Quota(crate::store::quotas::Exceeded),
    #[error("no outside zone is configured; an admin sets one up under Networks")]
    NoOutsideZone,
    #[error("every address of the outside zone ({first} to {last}) is taken")]
    PoolExhausted {
        first: std::net::Ipv4Addr,
        last: std::net::Ipv4Addr,
    },
    #[error(
        "every application port ({first} to {last}) is taken; an admin widens the range under Settings"
    )]
    PortsExhausted { first: u16, last: u16 },
    /// The instance has as many snapshots as it may keep.
    #[error("the instance has {limit} snapshots, as many as it may keep; delete one first")]
    SnapshotLimit { limit: u32 },
    /// The backup cannot be restored: damaged, unfinished, or its host
    /// gone; the text says which.
    #[error("{0}")]
    BackupUnusable(String),
    /// A move to the host the instance is on.
    #[error("the instance is already on {0}")]
    AlreadyThere(String),
    /// A move to a host being drained.
    #[error("{0} is being drained and takes no instances; resume it first")]
    HostDraining(String),
    /// libvirt cannot move internal snapshots to another host.
    #[error("the instance has {0} snapshots, which cannot move to another host; delete them first")]
    HasSnapshots(u32),
    /// Only a ready instance that runs or is stopped moves.
    #[error("only a ready instance, running or stopped, can move; this one is {status} ({power})")]
    NotMovable {
        status: app::model::InstanceStatus,
        power: app::model::Power,
    },
    /// A move to a host dpe reaches through a local socket: no address
    /// another host could send the guest to.
    #[error(
        "{0} is reached through a local socket, with no address other hosts could send a guest \
         to; add it by its network address (qemu+tls or qemu+ssh) to move instances onto it"
    )]
    NoMigrationAddress(String),
    /// Adopting a guest the reconciler does not keep.
    #[error("no kept guest has that instance UUID")]
    NotKept,
    /// Adopting a kept guest whose metadata has no record of its instance.
    #[error(
        "this guest's metadata has no record of its instance, so it cannot be adopted; it stays \
         kept until you remove it"
    )]
    NoRecord,
    #[error("{0} is no account of this appliance; create it first, or name another owner")]
    UnknownOwner(String),
    #[error("the guest's size ({vcpus} vCPUs, {memory_mib} MiB) is none of the stack's sizes")]
    NoSuchSize { vcpus: u32, memory_mib: u64 },
    /// A resize to the size the instance has.
    #[error("the instance already has size {0}")]
    SameSize(String),
    /// A resize whose disk is smaller than the instance's.
    #[error(
        "a disk cannot shrink: the instance has {from} GiB, the size asked for {to} GiB; choose a \
         size with at least {from} GiB"
    )]
    ShrinksDisk { from: u64, to: u64 },
    /// The instance's host has no room for what a resize adds (`more`:
    /// "2 more vCPUs and 128 MiB more memory").
    #[error(
        "its host {host} has no room for {more}; move it to another host first, or choose a \
         smaller size"
    )]
    HostFull { host: String, more: String },
    /// Only a ready instance that runs or is stopped is resized.
    #[error(
        "only a ready instance, running or stopped, can be resized; this one is {status} ({power})"
    )]
    NotResizable {
        status: app::model::InstanceStatus,
        power: app::model::Power,
    },
}

impl EngineError {
    /// What a task's failure tells the people who see the instance:
    /// members included. No host URIs, paths or libvirt's own words; the
    /// whole chain goes to the log.
    pub fn for_users(&self) -> String {
        match self {
            EngineError::Host(e) => e.for_users(),
            EngineError::Xml(_)
            | EngineError::HttpClient(_)
            | EngineError::Store(_)
            | EngineError::UnknownStep { .. }
            | EngineError::UserData(_)
            | EngineError::ConsoleThread(_) => {
                "an internal error; the details are in the server log".into()
            }
            EngineError::VolumeMissing(_) => "a volume of the instance is missing".into(),
            EngineError::NotPlaced(_) => "the instance is not placed on a host".into(),
            EngineError::Seed(_) => "the instance's cloud-init seed cannot be built".into(),
            EngineError::Image { .. } => "the application's image cannot be read".into(),
            EngineError::NoStackVersion(_) => "the application's image is not built yet".into(),
            EngineError::VersionImageChanged { label, .. } => format!(
                "the image of version {label} was rebuilt in place; an admin must register it \
                 again (or make another version current)"
            ),
            EngineError::GoldenMismatch { .. } => {
                "the application's image arrived damaged on the host and was removed; deploying \
                 again uploads it anew"
                    .into()
            }
            EngineError::GuestCommand { .. } => "the guest did not accept its configuration".into(),
            EngineError::ClaimInterrupted => "the deploy was interrupted".into(),
            EngineError::BackupStoreFull(_) => {
                "the backup store is full: this backup is not kept, earlier ones are intact; an \
                 admin must free space in it"
                    .into()
            }
            e @ (EngineError::SnapshotGone
            | EngineError::BackupGone
            | EngineError::BackupInterrupted
            | EngineError::BackupDamaged(_)
            | EngineError::DrillFailed(_)) => e.to_string(),
            EngineError::NoPersonalization => {
                "the application cannot be deployed from the warm pool".into()
            }
            e @ (EngineError::HostDown(_)
            | EngineError::HostStarting(_)
            | EngineError::NoCapacity { .. }) => e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_users_see_of_a_failure_names_no_uri_path_or_libvirt_words() {
        let failures = [
            EngineError::Host(HostError::Timeout {
                uri: "qemu+ssh://root@10.0.0.5/system".into(),
                seconds: 10,
            }),
            EngineError::Image {
                path: "/var/lib/dpe/images/secret/disk.qcow2".into(),
                source: std::io::Error::other("permission denied on /etc/shadow"),
            },
            EngineError::Host(HostError::PoolElsewhere {
                pool: "dpe".into(),
                path: "/srv/pool".into(),
                wanted: "/var/lib/dpe/storage".into(),
            }),
            EngineError::Host(HostError::Upload(std::io::Error::other(
                "/root/.ssh/id_rsa",
            ))),
        ];
        for e in failures {
            let shown = e.for_users();
            for hidden in ["qemu+ssh", "10.0.0.5", "/var/lib", "/srv", "/etc", "/root"] {
                assert!(!shown.contains(hidden), "{shown:?} shows {hidden}");
            }
        }
        assert_eq!(
            EngineError::HostDown("rack-3".into()).for_users(),
            "host rack-3 is not connected"
        );
    }

    #[test]
    fn a_missing_volume_and_an_unplaced_instance_each_say_so() {
        let missing = EngineError::VolumeMissing("dpe-0f1e-x.qcow2".into());
        assert_eq!(missing.to_string(), "no volume dpe-0f1e-x.qcow2");
        assert_eq!(missing.for_users(), "a volume of the instance is missing");
        let unplaced = EngineError::NotPlaced("wiki".into());
        assert_eq!(
            unplaced.to_string(),
            "instance wiki is not placed on a host"
        );
        assert!(!unplaced.for_users().contains("host ("));
    }

    #[test]
    fn failures_that_are_no_host_or_store_fault_say_what_they_are() {
        let no_personalization = EngineError::NoPersonalization;
        assert_eq!(
            no_personalization.to_string(),
            "the application stack has no personalization"
        );
        assert_ne!(
            no_personalization.for_users(),
            EngineError::ClaimInterrupted.for_users()
        );
        let bad_yaml = serde_yaml_ng::from_str::<serde_yaml_ng::Value>("a: [").unwrap_err();
        let user_data = EngineError::UserData(bad_yaml);
        assert_eq!(user_data.to_string(), "cannot render the stack's user-data");
        assert!(std::error::Error::source(&user_data).is_some());
        let unknown = EngineError::UnknownStep {
            task: 4,
            position: 2,
        };
        assert!(!matches!(unknown, EngineError::Store(_)));
        for e in [user_data, unknown] {
            assert_eq!(
                e.for_users(),
                "an internal error; the details are in the server log"
            );
        }
    }

    #[test]
    fn a_full_host_says_so_to_users_without_naming_the_host() {
        // A real libvirt error to carry: connecting to a driver no one has.
        let Err(source) = virt::connect::Connect::open(Some("nonesuch:///system")) else {
            panic!("a made-up driver connected");
        };
        let full = EngineError::Host(HostError::NoSpace {
            uri: "qemu+ssh://root@10.0.0.5/system".into(),
            call: "overlay create",
            source,
        });
        let shown = full.for_users();
        assert_eq!(
            shown,
            "the host's storage pool is full; an admin must free space on it"
        );
        assert!(!shown.contains("10.0.0.5"));
    }

    #[test]
    fn a_host_error_reads_as_itself_inside_an_engine_error() {
        let host = HostError::NoDomain("dpe-1".into());
        let engine = EngineError::from(host);
        assert_eq!(engine.to_string(), "no domain dpe-1");
        assert_eq!(
            engine.for_users(),
            "the instance's virtual machine is missing"
        );
    }
}
