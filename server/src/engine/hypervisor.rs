//! The operations the engine needs from a virtualization host, and the
//! errors a host answers with. All calls block: the engine runs them
//! through `run_blocking`. Every "remove" is idempotent (absent is
//! success), so that rollbacks and retries can run any number of times.
//! libvirt's implementation is in `libvirt/`; the tests bring hosts of
//! their own.

use std::io::Read;
use std::time::Duration;

use app::model::{Acceleration, Power};

/// What a host call can fail with: the host's own failures, each with
/// libvirt's message (or the parser's) as its source. What the engine
/// makes of them (a step failed, a host is down) is `EngineError`'s.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("cannot connect to {uri}")]
    Connect {
        uri: String,
        #[source]
        source: virt::error::Error,
    },
    #[error("libvirt call {call} failed on {uri}")]
    Libvirt {
        uri: String,
        call: &'static str,
        #[source]
        source: virt::error::Error,
    },
    /// The host's storage is full (a libvirt call failed with ENOSPC).
    #[error("libvirt call {call} on {uri} found its storage full")]
    NoSpace {
        uri: String,
        call: &'static str,
        #[source]
        source: virt::error::Error,
    },
    /// The host answered XML that dpe cannot read (its capabilities, a
    /// storage pool's definition).
    #[error("cannot read the {what} of {uri}")]
    Unreadable {
        uri: String,
        what: &'static str,
        #[source]
        source: quick_xml::DeError,
    },
    #[error("{uri} did not answer within {seconds} s")]
    Timeout { uri: String, seconds: u64 },
    /// A volume or pool definition could not be written.
    #[error("cannot write libvirt XML")]
    Xml(#[source] quick_xml::SeError),
    /// A name or document for libvirt's C API holds a NUL byte.
    #[error("text for libvirt holds a NUL byte")]
    Nul(#[source] std::ffi::NulError),
    /// The bytes to upload could not be read.
    #[error("cannot read what is uploaded")]
    Upload(#[source] std::io::Error),
    /// The socket to a guest's display could not be set up for async use.
    #[error("cannot use the socket to the guest's display")]
    DisplaySocket(#[source] std::io::Error),
    #[error("no domain {0}")]
    NoDomain(String),
    #[error("no volume {0}")]
    NoVolume(String),
    #[error("no snapshot {0}")]
    NoSnapshot(String),
    /// A backup job ended without its copy: QEMU's or libvirt's reason.
    #[error("the backup job of {uuid} ended without its copy: {reason}")]
    BackupJob { uuid: String, reason: String },
    /// The guest agent answered what dpe cannot read.
    #[error("unexpected guest agent answer: {0}")]
    GuestReply(String),
    /// The host cannot do what was asked at all (libvirt's test driver
    /// and NFS).
    #[error("the host cannot {0}")]
    Unsupported(&'static str),
    #[error("the host's storage pool {pool} keeps its volumes in {path}, not {wanted}")]
    PoolElsewhere {
        pool: String,
        path: String,
        wanted: String,
    },
}

impl HostError {
    /// What a task's failure tells the people who see the instance: no
    /// host URIs, paths or libvirt's own words (the chain goes to the log).
    pub fn for_users(&self) -> String {
        match self {
            HostError::Connect { .. } => "the host cannot be reached".into(),
            HostError::Libvirt { call, .. } => format!("the host failed a step ({call})"),
            HostError::NoSpace { .. } => {
                "the host's storage pool is full; an admin must free space on it".into()
            }
            HostError::Unreadable { what, .. } => format!("the host's {what} cannot be read"),
            HostError::Timeout { seconds, .. } => {
                format!("the host did not answer within {seconds} s")
            }
            HostError::Xml(_)
            | HostError::Upload(_)
            | HostError::DisplaySocket(_)
            | HostError::Nul(_) => "an internal error; the details are in the server log".into(),
            HostError::NoDomain(_) => "the instance's virtual machine is missing".into(),
            HostError::NoSnapshot(_) => "the snapshot is missing on the host".into(),
            HostError::NoVolume(_) => "a volume is missing on the host".into(),
            HostError::BackupJob { .. } => "the host's backup job failed".into(),
            HostError::GuestReply(_) => "the guest did not accept its configuration".into(),
            e @ HostError::Unsupported(_) => e.to_string(),
            HostError::PoolElsewhere { .. } => {
                "the host's storage pool is set up elsewhere; an admin must fix the host".into()
            }
        }
    }
}

/// A domain that carries dpe's metadata element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DpeDomain {
    pub uuid: String,
    pub name: String,
    /// The appliance that defined it.
    pub appliance: String,
    pub instance_uuid: String,
    /// The owner's account name, as written when it was defined.
    pub owner: String,
    /// What adopting it as an instance takes, if its metadata has it.
    pub record: Option<super::xml::domain::GuestRecord>,
    pub power: Power,
}

/// A running domain's counters and gauges, from libvirt's bulk stats.
/// Counters count from the domain's start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DomainUsage {
    pub uuid: String,
    /// CPU time of all its vCPUs and QEMU's own threads (ns).
    pub cpu_ns: u64,
    pub vcpus: u32,
    /// The memory the guest has (its balloon's current size), bytes.
    pub memory_bytes: u64,
    /// What the guest says it uses (available less unused), when its
    /// balloon driver reports it.
    pub memory_used_bytes: Option<u64>,
    /// What its QEMU process holds on the host, bytes.
    pub resident_bytes: u64,
    /// Over all its disks.
    pub disk_read_bytes: u64,
    pub disk_write_bytes: u64,
    /// Over all its NICs, as the guest sees them (received, sent).
    pub net_rx_bytes: u64,
    pub net_tx_bytes: u64,
}

/// A host machine's own counters and gauges, from libvirt's node calls.
/// The CPU counters count from the host's boot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostUsage {
    /// Time all its CPUs spent busy (neither idle nor waiting on I/O),
    /// and in all (ns).
    pub cpu_busy_ns: u64,
    pub cpu_total_ns: u64,
    /// Its memory, and what of it is in use (not free, nor buffers or
    /// page cache), bytes.
    pub memory_bytes: u64,
    pub memory_used_bytes: u64,
    /// What dpe's storage pool holds, and its size, bytes.
    pub storage_used_bytes: u64,
    pub storage_bytes: u64,
}

/// A DHCP lease of a host's network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub mac: String,
    pub ip: String,
}

/// Node size, for placement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capacity {
    pub cpus: u32,
    pub memory_mib: u64,
}

/// How a command run by the guest agent ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestExit {
    pub code: i64,
    /// The end of its standard error, for the log.
    pub stderr: String,
}

/// A push-mode backup job: QEMU copies the domain's disk (its blocks
/// changed since `since`, or all of them) into an existing volume, and
/// libvirt takes the checkpoint the next incremental job starts from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupJob {
    /// The disk's target name in the domain (`vda`).
    pub disk: String,
    /// The disks left out (the read-only seed).
    pub skip: Vec<String>,
    /// The backup volume's path: a qcow2 of the disk's size, over the
    /// previous backup (as backing) when incremental.
    pub target: String,
    /// The checkpoint to copy the changes since; `None` copies the disk.
    pub since: Option<String>,
    /// The checkpoint this backup takes; none where the disk cannot keep
    /// one (a qcow2 v2 made before dpe asked for v3).
    pub checkpoint: Option<String>,
}

/// Where a domain's backup job is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobProgress {
    /// Copying: bytes done of the total.
    Running { processed: u64, total: u64 },
    /// No job runs: the last one ended (its outcome was collected).
    Idle,
}

/// A domain's serial line, open (libvirt's console stream). Reads block
/// until the guest writes; `close` ends a read blocked in another thread.
pub trait ConsoleLine: Send + Sync {
    /// Some bytes the guest wrote (at most `buf.len()`); 0 once the line
    /// has ended (the guest stopped, or `close`).
    fn read(&self, buf: &mut [u8]) -> Result<usize, HostError>;
    /// Sends all of `bytes` to the guest, as typed.
    fn write(&self, bytes: &[u8]) -> Result<(), HostError>;
    /// Ends the line; idempotent.
    fn close(&self);
}

pub trait Hypervisor: Send + Sync {
    fn uri(&self) -> &str;
    fn is_alive(&self) -> bool;
    fn acceleration(&self) -> Result<Acceleration, HostError>;
    /// Versions, size and acceleration, as the portal shows them.
    fn facts(&self) -> Result<app::model::HostProbe, HostError>;
    fn capacity(&self) -> Result<Capacity, HostError>;
    /// Defines, builds, starts and autostarts a directory pool if needed.
    fn ensure_pool(&self, pool: &str, dir: &str) -> Result<(), HostError>;
    /// Defines, builds (the mount point), starts and autostarts a pool
    /// of the NFS export `server:export` mounted at `mount`, if needed.
    fn ensure_nfs_pool(
        &self,
        pool: &str,
        server: &str,
        export: &str,
        mount: &str,
    ) -> Result<(), HostError>;
    /// The volume's path, when it exists.
    fn volume_path(&self, pool: &str, name: &str) -> Result<Option<String>, HostError>;
    fn list_volumes(&self, pool: &str) -> Result<Vec<String>, HostError>;
    /// Creates a volume and streams `len` bytes of `data` into it.
    fn upload_volume(
        &self,
        pool: &str,
        name: &str,
        format: &'static str,
        data: &mut dyn Read,
        len: u64,
    ) -> Result<String, HostError>;
    /// Replaces the content of an existing volume (no larger than it).
    fn overwrite_volume(&self, pool: &str, name: &str, data: &[u8]) -> Result<(), HostError>;
    /// Creates a qcow2 overlay of `backing_path`, grown to `capacity_bytes`.
    fn create_overlay(
        &self,
        pool: &str,
        name: &str,
        capacity_bytes: u64,
        backing_path: &str,
        backing_format: &'static str,
    ) -> Result<String, HostError>;
    fn delete_volume(&self, pool: &str, name: &str) -> Result<(), HostError>;
    /// Creates an empty volume of `capacity_bytes`; its path.
    fn create_empty_volume(
        &self,
        pool: &str,
        name: &str,
        format: &'static str,
        capacity_bytes: u64,
    ) -> Result<String, HostError>;
    fn define_domain(&self, xml: &str) -> Result<(), HostError>;
    /// `None` when no domain has this UUID.
    fn domain_power(&self, uuid: &str) -> Result<Option<Power>, HostError>;
    fn start_domain(&self, uuid: &str) -> Result<(), HostError>;
    /// Asks the guest to power off (ACPI).
    fn shutdown_domain(&self, uuid: &str) -> Result<(), HostError>;
    fn reboot_domain(&self, uuid: &str) -> Result<(), HostError>;
    /// Pulls the plug; absent or already off is success.
    fn destroy_domain(&self, uuid: &str) -> Result<(), HostError>;
    fn undefine_domain(&self, uuid: &str) -> Result<(), HostError>;
    fn dpe_domains(&self) -> Result<Vec<DpeDomain>, HostError>;
    fn dhcp_leases(&self, network: &str) -> Result<Vec<Lease>, HostError>;
    /// Defines, starts and autostarts the restore drills' isolated network
    /// (`xml::network`) if needed.
    fn ensure_drill_network(&self, name: &str) -> Result<(), HostError>;
    /// Runs `argv` inside the guest through the QEMU guest agent
    /// (`guest-exec`, then `guest-exec-status` until it ends), with
    /// `stdin` as its standard input: the way values reach a guest without
    /// a command line, a file outside it or a log.
    fn guest_exec(
        &self,
        uuid: &str,
        argv: &[String],
        stdin: &[u8],
        timeout: Duration,
    ) -> Result<GuestExit, HostError>;
    /// The bytes a volume takes on the host's disk; `None` when it does
    /// not exist.
    fn volume_allocation(&self, pool: &str, name: &str) -> Result<Option<u64>, HostError>;
    /// A volume's virtual size in bytes (what the guest sees); `None`
    /// when it does not exist.
    fn volume_capacity(&self, pool: &str, name: &str) -> Result<Option<u64>, HostError>;
    /// Grows disk `target` of domain `uuid` (volume `name` of `pool`) to
    /// `bytes`: through QEMU while the domain runs (the guest sees the new
    /// size at once), else the volume itself. Never called to shrink.
    fn grow_disk(
        &self,
        uuid: &str,
        target: &str,
        pool: &str,
        name: &str,
        bytes: u64,
    ) -> Result<(), HostError>;
    /// Takes an internal snapshot of every disk of the domain, named
    /// `name`, with the guest's memory when it runs; returns whether the
    /// memory is in it.
    fn create_snapshot(&self, uuid: &str, name: &str, description: &str)
    -> Result<bool, HostError>;
    /// Whether the domain has a snapshot of that name.
    fn has_snapshot(&self, uuid: &str, name: &str) -> Result<bool, HostError>;
    /// Brings the domain's disks (and memory, when the snapshot has it)
    /// back to the snapshot; the guest runs afterwards when `running`.
    fn revert_snapshot(&self, uuid: &str, name: &str, running: bool) -> Result<(), HostError>;
    /// Removes the snapshot; absent is success.
    fn delete_snapshot(&self, uuid: &str, name: &str) -> Result<(), HostError>;
    /// Freezes the guest's filesystems through its agent; `false` when
    /// the guest has no agent that can (the backup is then crash-
    /// consistent, as after a power cut).
    fn freeze_filesystems(&self, uuid: &str) -> Result<bool, HostError>;
    fn thaw_filesystems(&self, uuid: &str) -> Result<(), HostError>;
    /// Starts a backup job on the running domain.
    fn begin_backup(&self, uuid: &str, job: &BackupJob) -> Result<(), HostError>;
    /// The domain's backup job; a job that ended in failure is
    /// `BackupJob`'s error, once.
    fn backup_progress(&self, uuid: &str) -> Result<JobProgress, HostError>;
    /// Aborts the domain's running job; none (or no domain) is success.
    fn abort_job(&self, uuid: &str) -> Result<(), HostError>;
    fn has_checkpoint(&self, uuid: &str, name: &str) -> Result<bool, HostError>;
    /// Removes one checkpoint (its bitmap merges into its parent's);
    /// absent is success.
    fn delete_checkpoint(&self, uuid: &str, name: &str) -> Result<(), HostError>;
    /// Removes the domain's checkpoints (all but `keep`), and their
    /// bitmaps; an absent domain has none.
    fn delete_checkpoints(&self, uuid: &str, keep: Option<&str>) -> Result<(), HostError>;
    /// Copies a volume into another pool as a standalone qcow2 of
    /// `capacity_bytes` (a backing chain is read through and flattened).
    fn copy_volume(
        &self,
        from_pool: &str,
        from: &str,
        to_pool: &str,
        to: &str,
        capacity_bytes: u64,
    ) -> Result<String, HostError>;
    /// Replaces the bytes of volume `to` with those of `from` (same pool):
    /// the file keeps its path, which other volumes may name as backing.
    fn replace_volume_bytes(&self, pool: &str, from: &str, to: &str) -> Result<(), HostError>;
    /// The SHA-256 (hex) of the volume's file, read through libvirt, and
    /// its length; `None` when it does not exist.
    fn volume_sha256(&self, pool: &str, name: &str) -> Result<Option<(String, u64)>, HostError>;
    /// Free and total bytes of a pool.
    fn pool_space(&self, pool: &str) -> Result<(u64, u64), HostError>;
    /// Gives a domain a new title and dpe metadata element (in its
    /// definition, and live while it runs).
    fn relabel_domain(&self, uuid: &str, title: &str, metadata: &str) -> Result<(), HostError>;
    /// Opens the running domain's serial console, taking it over from
    /// any earlier holder; `Unsupported` where the host offers none.
    fn open_console(&self, uuid: &str) -> Result<Box<dyn ConsoleLine>, HostError>;
    /// The last `max` bytes of a volume's file (all of it when shorter),
    /// read through libvirt; `None` when there is no such volume. The
    /// console replays its log's end with it.
    fn volume_tail(&self, pool: &str, name: &str, max: u64) -> Result<Option<Vec<u8>>, HostError>;
    /// A connection of its own to the running domain's display (QEMU's
    /// VNC server, which listens nowhere else): RFB both ways, one per
    /// viewer. `Unsupported` where the host cannot hand it out (one
    /// reached over the network).
    fn open_graphics(&self, uuid: &str) -> Result<std::os::unix::net::UnixStream, HostError>;
    /// Every running domain's use (dpe's and others': the caller picks).
    fn domain_usage(&self) -> Result<Vec<DomainUsage>, HostError>;
    /// The machine's own use: its CPUs, its memory and storage pool
    /// `pool`.
    fn host_usage(&self, pool: &str) -> Result<HostUsage, HostError>;
    /// Moves the domain to `dest` with its writable disks copied by QEMU
    /// (libvirt's `VIR_MIGRATE_NON_SHARED_INC`: only the overlay, whose
    /// backing image `dest` already has, into the overlay `dest` already
    /// has). With `plan.keep_running` the domain moves live; otherwise it
    /// is started paused for the copy (if it is not already: a copy cut
    /// off by a restart leaves it so) and is left stopped on `dest`.
    /// Either way `dest` keeps `plan.dest_xml` as its definition and this
    /// host's is removed. `Unsupported` when the two hosts cannot migrate
    /// between them.
    fn migrate(&self, uuid: &str, dest: &dyn Hypervisor, plan: &Migration)
    -> Result<(), HostError>;
    /// Where this host's QEMU listens for a guest moved to it
    /// (`tcp://ADDRESS`); `Unsupported` for a host reached through a
    /// local socket, which has no address other hosts could use.
    fn migration_uri(&self) -> Result<String, HostError>;
    /// How far the domain's running migration (or other job) is: bytes
    /// done of the total; `Idle` when none runs.
    fn job_progress(&self, uuid: &str) -> Result<JobProgress, HostError>;
    /// The host as `Any`, so that an implementation can reach its own kind
    /// behind a `dyn Hypervisor` (a migration needs both connections).
    fn as_any(&self) -> &dyn std::any::Any;
}

/// What a migration needs to know beyond the domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Migration {
    /// The domain's definition on the destination (its volumes' paths
    /// there).
    pub dest_xml: String,
    /// Where the destination's QEMU listens for the memory and the disks
    /// (`tcp://ADDRESS`): the destination host's address as the source
    /// host reaches it.
    pub uri: String,
    /// The disks to copy (target names, `vda`); the rest (the read-only
    /// seed) are already on the destination.
    pub disks: Vec<String>,
    /// Whether the guest runs on (a live move) or is moved stopped.
    pub keep_running: bool,
}
