//! libvirt's test driver as a host users may be offered (`dpe serve
//! --allow-test-driver`, for the UI tests and fuzzing). It keeps volumes
//! in memory, cannot stream into them and has no DHCP leases; this wrapper
//! answers those calls as a host with nothing to report would, and passes
//! everything else to the libvirt connection. It is the one place that
//! knows the test driver's limits.

use std::io::Read;
use std::time::Duration;

use app::model::{Acceleration, HostProbe, Power};

use super::LibvirtHost;
use crate::engine::hypervisor::{
    BackupJob, Capacity, ConsoleLine, DomainUsage, DpeDomain, GuestExit, HostError, HostUsage,
    Hypervisor, JobProgress, Lease, Migration,
};

/// The checkpoints of the driver's domains, by domain UUID: the driver
/// has no backup jobs, so each "backup" ends at once, and its checkpoint
/// is kept here (the driver's state lives as long as the process too).
static CHECKPOINTS: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());

fn checkpoints() -> std::sync::MutexGuard<'static, Vec<(String, String)>> {
    CHECKPOINTS.lock().unwrap_or_else(|p| p.into_inner())
}

/// The SHA-256 of what was uploaded into each volume, by (URI, pool,
/// volume): the driver keeps no content, but a volume read back must still
/// hash to what was sent (the golden image is checked after its upload).
type UploadKey = (String, String, String);
static UPLOADED: std::sync::Mutex<Vec<(UploadKey, String)>> = std::sync::Mutex::new(Vec::new());

fn uploaded() -> std::sync::MutexGuard<'static, Vec<(UploadKey, String)>> {
    UPLOADED.lock().unwrap_or_else(|p| p.into_inner())
}

fn upload_key(uri: &str, pool: &str, name: &str) -> UploadKey {
    (uri.to_owned(), pool.to_owned(), name.to_owned())
}

/// The sizes the driver's volumes were grown to, by (URI, pool, volume):
/// it cannot resize them itself.
static GROWN: std::sync::Mutex<Vec<(UploadKey, u64)>> = std::sync::Mutex::new(Vec::new());

fn grown() -> std::sync::MutexGuard<'static, Vec<(UploadKey, u64)>> {
    GROWN.lock().unwrap_or_else(|p| p.into_inner())
}

/// Whether `uri` names libvirt's test driver.
pub fn is_test_driver(uri: &str) -> bool {
    uri.starts_with("test:")
}

/// A connection to libvirt's test driver.
pub struct TestDriverHost {
    inner: LibvirtHost,
}

impl TestDriverHost {
    pub fn new(inner: LibvirtHost) -> TestDriverHost {
        TestDriverHost { inner }
    }
}

impl Hypervisor for TestDriverHost {
    fn uri(&self) -> &str {
        self.inner.uri()
    }
    fn is_alive(&self) -> bool {
        self.inner.is_alive()
    }
    fn acceleration(&self) -> Result<Acceleration, HostError> {
        self.inner.acceleration()
    }
    fn facts(&self) -> Result<HostProbe, HostError> {
        self.inner.facts()
    }
    fn capacity(&self) -> Result<Capacity, HostError> {
        self.inner.capacity()
    }
    fn ensure_pool(&self, pool: &str, dir: &str) -> Result<(), HostError> {
        self.inner.ensure_pool(pool, dir)
    }
    /// The driver mounts nothing: an NFS store is refused on it, saying
    /// so (and nothing reaches the network from a test).
    fn ensure_nfs_pool(
        &self,
        _pool: &str,
        _server: &str,
        _export: &str,
        _mount: &str,
    ) -> Result<(), HostError> {
        Err(HostError::Unsupported("mount NFS (libvirt's test driver)"))
    }
    fn volume_path(&self, pool: &str, name: &str) -> Result<Option<String>, HostError> {
        self.inner.volume_path(pool, name)
    }
    fn list_volumes(&self, pool: &str) -> Result<Vec<String>, HostError> {
        self.inner.list_volumes(pool)
    }
    /// Creates the volume; its content is not sent (the driver has no
    /// upload, and its domains run no guest that would read it), only
    /// hashed, for `volume_sha256`.
    fn upload_volume(
        &self,
        pool: &str,
        name: &str,
        format: &'static str,
        data: &mut dyn Read,
        len: u64,
    ) -> Result<String, HostError> {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        std::io::copy(&mut data.take(len), &mut hasher).map_err(HostError::Upload)?;
        let vol = self.inner.create_volume(pool, name, format, len)?;
        let key = upload_key(self.uri(), pool, name);
        let mut sums = uploaded();
        sums.retain(|(k, _)| *k != key);
        sums.push((key, hex::encode(hasher.finalize())));
        drop(sums);
        self.inner.path_of(&vol)
    }
    /// Nothing to overwrite: the volumes hold no content.
    fn overwrite_volume(&self, _pool: &str, _name: &str, _data: &[u8]) -> Result<(), HostError> {
        Ok(())
    }
    fn create_overlay(
        &self,
        pool: &str,
        name: &str,
        capacity_bytes: u64,
        backing_path: &str,
        backing_format: &'static str,
    ) -> Result<String, HostError> {
        self.inner
            .create_overlay(pool, name, capacity_bytes, backing_path, backing_format)
    }
    fn delete_volume(&self, pool: &str, name: &str) -> Result<(), HostError> {
        let key = upload_key(self.uri(), pool, name);
        uploaded().retain(|(k, _)| *k != key);
        grown().retain(|(k, _)| *k != key);
        self.inner.delete_volume(pool, name)
    }
    fn define_domain(&self, xml: &str) -> Result<(), HostError> {
        self.inner.define_domain(xml)
    }
    fn domain_power(&self, uuid: &str) -> Result<Option<Power>, HostError> {
        self.inner.domain_power(uuid)
    }
    fn start_domain(&self, uuid: &str) -> Result<(), HostError> {
        self.inner.start_domain(uuid)
    }
    fn shutdown_domain(&self, uuid: &str) -> Result<(), HostError> {
        self.inner.shutdown_domain(uuid)
    }
    fn reboot_domain(&self, uuid: &str) -> Result<(), HostError> {
        self.inner.reboot_domain(uuid)
    }
    fn destroy_domain(&self, uuid: &str) -> Result<(), HostError> {
        self.inner.destroy_domain(uuid)
    }
    fn undefine_domain(&self, uuid: &str) -> Result<(), HostError> {
        self.inner.undefine_domain(uuid)
    }
    fn dpe_domains(&self) -> Result<Vec<DpeDomain>, HostError> {
        self.inner.dpe_domains()
    }
    /// The driver's networks hand out no leases.
    fn dhcp_leases(&self, _network: &str) -> Result<Vec<Lease>, HostError> {
        Ok(Vec::new())
    }
    /// The driver keeps networks of its own; a drill's guest gets no
    /// address on it (no DHCP runs), so a drill there fails, saying so.
    fn ensure_drill_network(&self, _name: &str) -> Result<(), HostError> {
        Ok(())
    }
    /// The driver's domains run no guest, so no agent answers: a command
    /// "runs" once its domain exists and is running, and succeeds, so that
    /// the warm pool can be driven end to end on it. Its input is dropped
    /// unread.
    fn guest_exec(
        &self,
        uuid: &str,
        _argv: &[String],
        _stdin: &[u8],
        _timeout: Duration,
    ) -> Result<GuestExit, HostError> {
        match self.inner.domain_power(uuid)? {
            Some(Power::Running) => Ok(GuestExit {
                code: 0,
                stderr: String::new(),
            }),
            Some(
                Power::Paused
                | Power::ShuttingDown
                | Power::ShutOff
                | Power::Crashed
                | Power::Unknown,
            ) => Err(HostError::GuestReply("the guest is not running".into())),
            None => Err(HostError::NoDomain(uuid.to_owned())),
        }
    }
    fn volume_allocation(&self, pool: &str, name: &str) -> Result<Option<u64>, HostError> {
        self.inner.volume_allocation(pool, name)
    }
    /// What the driver made, or what a grow recorded since.
    fn volume_capacity(&self, pool: &str, name: &str) -> Result<Option<u64>, HostError> {
        let Some(made) = self.inner.volume_capacity(pool, name)? else {
            return Ok(None);
        };
        let key = upload_key(self.uri(), pool, name);
        let grown = grown().iter().find(|(k, _)| *k == key).map(|(_, b)| *b);
        Ok(Some(grown.map_or(made, |g| g.max(made))))
    }
    /// The driver resizes neither volumes nor block devices: the new size
    /// is recorded here, for `volume_capacity`, once the domain and the
    /// volume are found as libvirt would find them.
    fn grow_disk(
        &self,
        uuid: &str,
        _target: &str,
        pool: &str,
        name: &str,
        bytes: u64,
    ) -> Result<(), HostError> {
        if self.inner.domain_power(uuid)?.is_none() {
            return Err(HostError::NoDomain(uuid.to_owned()));
        }
        if self.inner.volume_capacity(pool, name)?.is_none() {
            return Err(HostError::GuestReply(format!("no volume {name}")));
        }
        let key = upload_key(self.uri(), pool, name);
        let mut grown = grown();
        grown.retain(|(k, _)| *k != key);
        grown.push((key, bytes));
        Ok(())
    }
    fn create_snapshot(
        &self,
        uuid: &str,
        name: &str,
        description: &str,
    ) -> Result<bool, HostError> {
        self.inner.create_snapshot(uuid, name, description)
    }
    fn has_snapshot(&self, uuid: &str, name: &str) -> Result<bool, HostError> {
        self.inner.has_snapshot(uuid, name)
    }
    fn revert_snapshot(&self, uuid: &str, name: &str, running: bool) -> Result<(), HostError> {
        self.inner.revert_snapshot(uuid, name, running)
    }
    fn delete_snapshot(&self, uuid: &str, name: &str) -> Result<(), HostError> {
        self.inner.delete_snapshot(uuid, name)
    }
    fn relabel_domain(&self, uuid: &str, title: &str, metadata: &str) -> Result<(), HostError> {
        self.inner.relabel_domain(uuid, title, metadata)
    }
    /// The driver's domains run no guest, so they have no serial line.
    fn open_console(&self, _uuid: &str) -> Result<Box<dyn ConsoleLine>, HostError> {
        Err(HostError::Unsupported(
            "open a serial console (libvirt's test driver)",
        ))
    }
    /// The driver's domains run no guest, so they have no display.
    fn open_graphics(&self, _uuid: &str) -> Result<std::os::unix::net::UnixStream, HostError> {
        Err(HostError::Unsupported(
            "show a guest's display (libvirt's test driver)",
        ))
    }
    /// The driver's domains report fixed figures.
    fn domain_usage(&self) -> Result<Vec<DomainUsage>, HostError> {
        self.inner.domain_usage()
    }
    /// The driver has no node memory stats: its memory in use is what its
    /// running domains have.
    fn host_usage(&self, pool: &str) -> Result<HostUsage, HostError> {
        self.inner.test_driver_figures(pool)
    }
    /// The driver has no migration: a move between two of its hosts
    /// defines the domain there and removes it here, as a migration ends,
    /// running there if it is to run on (its volumes hold nothing to
    /// copy).
    fn migrate(
        &self,
        uuid: &str,
        dest: &dyn Hypervisor,
        plan: &Migration,
    ) -> Result<(), HostError> {
        let Some(dest) = dest.as_any().downcast_ref::<TestDriverHost>() else {
            return Err(HostError::Unsupported(
                "move a guest to a host of another kind",
            ));
        };
        if self.inner.domain_power(uuid)?.is_none() {
            return Err(HostError::NoDomain(uuid.to_owned()));
        }
        dest.inner.define_domain(&plan.dest_xml)?;
        if plan.keep_running {
            dest.inner.start_domain(uuid)?;
        }
        self.inner.destroy_domain(uuid)?;
        self.inner.undefine_domain(uuid)
    }
    /// Its moves need no address.
    fn migration_uri(&self) -> Result<String, HostError> {
        Ok(format!("test://{}", self.inner.uri()))
    }
    /// Its moves end at once.
    fn job_progress(&self, _uuid: &str) -> Result<JobProgress, HostError> {
        Ok(JobProgress::Idle)
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    /// The driver's volumes are records without files.
    fn volume_tail(&self, pool: &str, name: &str, _max: u64) -> Result<Option<Vec<u8>>, HostError> {
        Ok(self.inner.volume_path(pool, name)?.map(|_| Vec::new()))
    }
    fn create_empty_volume(
        &self,
        pool: &str,
        name: &str,
        format: &'static str,
        capacity_bytes: u64,
    ) -> Result<String, HostError> {
        let vol = self
            .inner
            .create_volume(pool, name, format, capacity_bytes)?;
        self.inner.path_of(&vol)
    }
    fn delete_checkpoint(&self, uuid: &str, name: &str) -> Result<(), HostError> {
        checkpoints().retain(|(u, n)| u != uuid || n != name);
        Ok(())
    }
    /// No guest, no agent: nothing to freeze.
    fn freeze_filesystems(&self, _uuid: &str) -> Result<bool, HostError> {
        Ok(false)
    }
    fn thaw_filesystems(&self, _uuid: &str) -> Result<(), HostError> {
        Ok(())
    }
    /// The driver has no backup jobs: the job ends as it starts, with its
    /// checkpoint taken; its target (a volume dpe made) stays as it is.
    fn begin_backup(&self, uuid: &str, job: &BackupJob) -> Result<(), HostError> {
        if self.inner.domain_power(uuid)? != Some(Power::Running) {
            return Err(HostError::GuestReply("the domain is not running".into()));
        }
        if let Some(name) = &job.checkpoint {
            checkpoints().push((uuid.to_owned(), name.clone()));
        }
        Ok(())
    }
    fn backup_progress(&self, _uuid: &str) -> Result<JobProgress, HostError> {
        Ok(JobProgress::Idle)
    }
    fn abort_job(&self, _uuid: &str) -> Result<(), HostError> {
        Ok(())
    }
    fn has_checkpoint(&self, uuid: &str, name: &str) -> Result<bool, HostError> {
        Ok(checkpoints().iter().any(|(u, n)| u == uuid && n == name))
    }
    fn delete_checkpoints(&self, uuid: &str, keep: Option<&str>) -> Result<(), HostError> {
        checkpoints().retain(|(u, n)| u != uuid || keep == Some(n.as_str()));
        Ok(())
    }
    /// A new empty volume: the driver's volumes hold no content to copy.
    fn copy_volume(
        &self,
        _from_pool: &str,
        _from: &str,
        to_pool: &str,
        to: &str,
        capacity_bytes: u64,
    ) -> Result<String, HostError> {
        let vol = self
            .inner
            .create_volume(to_pool, to, "qcow2", capacity_bytes)?;
        self.inner.path_of(&vol)
    }
    fn replace_volume_bytes(&self, _pool: &str, _from: &str, _to: &str) -> Result<(), HostError> {
        Ok(())
    }
    /// The driver cannot stream a volume out: its checksum is that of
    /// what was uploaded into it, else that of its name, stable for as
    /// long as it exists.
    fn volume_sha256(&self, pool: &str, name: &str) -> Result<Option<(String, u64)>, HostError> {
        use sha2::{Digest, Sha256};
        let Some(len) = self.inner.volume_allocation(pool, name)? else {
            return Ok(None);
        };
        let key = upload_key(self.uri(), pool, name);
        let sent = uploaded()
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, sha)| sha.clone());
        Ok(Some((
            sent.unwrap_or_else(|| hex::encode(Sha256::digest(name.as_bytes()))),
            len,
        )))
    }
    fn pool_space(&self, pool: &str) -> Result<(u64, u64), HostError> {
        self.inner.pool_space(pool)
    }
}
