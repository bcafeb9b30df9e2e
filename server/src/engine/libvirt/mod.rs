//! libvirt's implementation of [`Hypervisor`]: one connection per host
//! (`LibvirtHost`), the DHCP leases call the `virt` crate lacks
//! (`leases`), the capabilities reader, a host probe for the setup
//! wizard, and the test driver's wrapper.

mod backups;
pub mod capabilities;
mod console;
mod graphics;
mod leases;
mod migrate;
mod node;
pub mod probe;
mod snapshots;
pub mod test_driver;
mod usage;

use std::io::Read;
use std::time::{Duration, Instant};

use app::model::{Acceleration, Power};
use virt::connect::Connect;
use virt::domain::Domain;
use virt::error::ErrorNumber;
use virt::storage_pool::StoragePool;
use virt::storage_vol::StorageVol;
use virt::stream::Stream;

use self::capabilities::Capabilities;
use super::hypervisor::{
    BackupJob, Capacity, ConsoleLine, DomainUsage, DpeDomain, GuestExit, HostError, HostUsage,
    Hypervisor, JobProgress, Lease, Migration,
};
use super::xml::domain::{DPE_NS, DPE_PREFIX, DpeInstanceRead};
use super::xml::storage::{DirPool, Volume};
use super::xml::to_xml;

/// Stops libvirt from printing every error to stderr itself: dpe reports
/// them through its own errors, once.
pub fn quiet_libvirt() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(virt::error::clear_error_callback);
}

/// libvirt's event loop, on a thread of its own, started before the first
/// connection: keepalive needs it.
pub(super) fn run_event_loop() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Err(e) = virt::event::event_register_default_impl() {
            tracing::warn!(error = %e, "no libvirt event loop: a silent host hangs its calls");
            return;
        }
        let spawned = std::thread::Builder::new()
            .name("libvirt-events".into())
            .spawn(|| {
                loop {
                    if let Err(e) = virt::event::event_run_default_impl() {
                        tracing::warn!(error = %e, "libvirt's event loop failed a turn");
                        std::thread::sleep(Duration::from_secs(1));
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start libvirt's event loop");
        }
    });
}

/// A remote host that stops answering (its link down, packets dropped)
/// is given up after this many missed keepalives, this many seconds apart:
/// its calls then fail instead of hanging, and the reconciler marks it
/// down.
const KEEPALIVE_INTERVAL_SECS: i32 = 5;
const KEEPALIVE_COUNT: u32 = 3;

/// Keepalive on a connection to a remote host (a local socket or the test
/// driver has no use for it).
pub(super) fn keep_alive(conn: &Connect, uri: &str) {
    if probe::is_local(uri) || test_driver::is_test_driver(uri) {
        return;
    }
    if let Err(e) = conn.set_keep_alive(KEEPALIVE_INTERVAL_SECS, KEEPALIVE_COUNT) {
        tracing::warn!(uri, error = %e, "no keepalive: a silent host hangs its calls");
    }
}

/// How a full disk reads in libvirt's messages (strerror(ENOSPC)).
const ENOSPC_TEXT: &str = "No space left on device";

/// What libvirt waits for one guest-agent call, in seconds.
const AGENT_CALL_SECS: i32 = 10;
/// How often a running guest command is asked whether it has ended.
const AGENT_POLL: Duration = Duration::from_millis(200);

/// The `return` object of a guest-agent reply.
fn agent_return(reply: &str) -> Option<serde_json::Value> {
    serde_json::from_str::<serde_json::Value>(reply)
        .ok()?
        .get("return")
        .cloned()
}

/// One libvirt connection.
pub struct LibvirtHost {
    uri: String,
    conn: Connect,
    /// Reading capabilities takes seconds on some hosts, and the answer
    /// does not change while the connection lives.
    traits: std::sync::OnceLock<Traits>,
}

/// What the capabilities say of a host: how it runs guests, its CPU.
#[derive(Clone, Debug)]
struct Traits {
    acceleration: Acceleration,
    cpu_model: Option<String>,
}

impl Drop for LibvirtHost {
    fn drop(&mut self) {
        let _ = self.conn.close();
    }
}

pub(super) fn is(err: &virt::error::Error, code: ErrorNumber) -> bool {
    err.code() == code
}

/// How long a delete waits for a copy into its volume to end: longer than
/// any copy of an instance's disk takes.
const BUILD_WAIT: Duration = Duration::from_secs(30 * 60);

/// Whether libvirt refused to refresh a pool because a copy into one of
/// its volumes is under way (again no error code of its own).
fn pool_busy(err: &virt::error::Error) -> bool {
    is(err, ErrorNumber::InternalError) && err.message().contains("asynchronous jobs running")
}

/// Whether libvirt refused a volume's delete because a copy into it is
/// still being made. libvirt has no error code of its own for this (the
/// same code also means "in use"), so its message tells.
fn still_being_built(err: &virt::error::Error) -> bool {
    is(err, ErrorNumber::OperationInvalid) && err.message().contains("being allocated")
}

impl LibvirtHost {
    /// Reads the pool's directory again, for files QEMU wrote (a backup
    /// job's). While libvirt copies into one of its volumes it refuses:
    /// what it knew before serves then, since the volumes dpe reads were
    /// all made through it.
    pub(super) fn refresh(&self, pool: &StoragePool) -> Result<(), HostError> {
        match pool.refresh(0) {
            Ok(_) => Ok(()),
            Err(e) if pool_busy(&e) => Ok(()),
            Err(e) => Err(self.err("storage pool refresh")(e)),
        }
    }

    pub fn connect(uri: &str) -> Result<LibvirtHost, HostError> {
        LibvirtHost::open(uri, uri)
    }

    /// A connection to the host stored as `uri`, opened as `open_uri`
    /// (with the parameters of dpe's credentials, which errors and logs
    /// leave out).
    pub fn open(uri: &str, open_uri: &str) -> Result<LibvirtHost, HostError> {
        quiet_libvirt();
        run_event_loop();
        let conn = Connect::open(Some(open_uri)).map_err(|source| HostError::Connect {
            uri: uri.to_owned(),
            source,
        })?;
        keep_alive(&conn, uri);
        Ok(LibvirtHost {
            uri: uri.to_owned(),
            conn,
            traits: std::sync::OnceLock::new(),
        })
    }

    /// The host's traits, read from its capabilities once per connection.
    fn traits(&self) -> Result<&Traits, HostError> {
        if let Some(known) = self.traits.get() {
            return Ok(known);
        }
        let driver = self.conn.get_type().map_err(self.err("get_type"))?;
        let xml = self
            .conn
            .get_capabilities()
            .map_err(self.err("get_capabilities"))?;
        let caps = Capabilities::parse(&xml).map_err(|source| HostError::Unreadable {
            uri: self.uri.clone(),
            what: "capabilities",
            source,
        })?;
        let found = Traits {
            acceleration: caps.acceleration(&driver),
            cpu_model: caps.cpu_model(),
        };
        Ok(self.traits.get_or_init(|| found))
    }

    pub(super) fn err(
        &self,
        call: &'static str,
    ) -> impl FnOnce(virt::error::Error) -> HostError + '_ {
        move |source| {
            // libvirt reports a full disk as a system error with the OS's
            // words; it is the one failure an admin can mend at once.
            let uri = self.uri.clone();
            if source.message().contains(ENOSPC_TEXT) {
                HostError::NoSpace { uri, call, source }
            } else {
                HostError::Libvirt { uri, call, source }
            }
        }
    }

    fn pool(&self, name: &str) -> Result<StoragePool, HostError> {
        StoragePool::lookup_by_name(&self.conn, name).map_err(self.err("storage pool lookup"))
    }

    pub(super) fn domain(&self, uuid: &str) -> Result<Option<Domain>, HostError> {
        match Domain::lookup_by_uuid_string(&self.conn, uuid) {
            Ok(d) => Ok(Some(d)),
            Err(e) if is(&e, ErrorNumber::NoDomain) => Ok(None),
            Err(e) => Err(self.err("domain lookup")(e)),
        }
    }

    /// Creates an empty volume of `len` bytes; its path is the volume's.
    pub(super) fn create_volume(
        &self,
        pool_name: &str,
        name: &str,
        format: &'static str,
        len: u64,
    ) -> Result<StorageVol, HostError> {
        let pool = self.pool(pool_name)?;
        let xml = to_xml(&Volume::new(name, format, len)).map_err(HostError::Xml)?;
        StorageVol::create_xml(&pool, &xml, 0).map_err(self.err("volume create"))
    }

    /// The path of a volume this connection created.
    pub(super) fn path_of(&self, vol: &StorageVol) -> Result<String, HostError> {
        vol.get_path().map_err(self.err("volume path"))
    }
}

fn power_of(state: virt::sys::virDomainState) -> Power {
    match state {
        virt::sys::VIR_DOMAIN_RUNNING | virt::sys::VIR_DOMAIN_BLOCKED => Power::Running,
        virt::sys::VIR_DOMAIN_PAUSED | virt::sys::VIR_DOMAIN_PMSUSPENDED => Power::Paused,
        virt::sys::VIR_DOMAIN_SHUTDOWN => Power::ShuttingDown,
        virt::sys::VIR_DOMAIN_SHUTOFF => Power::ShutOff,
        virt::sys::VIR_DOMAIN_CRASHED => Power::Crashed,
        _ => Power::Unknown,
    }
}

impl Hypervisor for LibvirtHost {
    fn uri(&self) -> &str {
        &self.uri
    }

    fn is_alive(&self) -> bool {
        self.conn.is_alive().unwrap_or(false)
    }

    fn acceleration(&self) -> Result<Acceleration, HostError> {
        Ok(self.traits()?.acceleration)
    }

    fn facts(&self) -> Result<app::model::HostProbe, HostError> {
        let version = |v: u32| format!("{}.{}.{}", v / 1_000_000, (v / 1_000) % 1_000, v % 1_000);
        let info = self
            .conn
            .get_node_info()
            .map_err(self.err("get_node_info"))?;
        Ok(app::model::HostProbe {
            starting: false,
            uri: self.uri.clone(),
            connected: true,
            hostname: self.conn.get_hostname().ok(),
            libvirt_version: Some(version(
                self.conn
                    .get_lib_version()
                    .map_err(self.err("get_lib_version"))?,
            )),
            hypervisor: Some(self.conn.get_type().map_err(self.err("get_type"))?),
            hypervisor_version: self.conn.get_hyp_version().ok().map(version),
            cpus: Some(info.cpus),
            memory_mib: Some(info.memory / 1024),
            acceleration: Some(self.traits()?.acceleration),
            cpu_model: self.traits()?.cpu_model.clone(),
            error: None,
        })
    }

    fn capacity(&self) -> Result<Capacity, HostError> {
        let info = self
            .conn
            .get_node_info()
            .map_err(self.err("get_node_info"))?;
        Ok(Capacity {
            cpus: info.cpus,
            memory_mib: info.memory / 1024,
        })
    }

    fn ensure_pool(&self, name: &str, dir: &str) -> Result<(), HostError> {
        let pool = match StoragePool::lookup_by_name(&self.conn, name) {
            Ok(p) => p,
            Err(e) if is(&e, ErrorNumber::NoStoragePool) => {
                let xml = to_xml(&DirPool::new(name, dir)).map_err(HostError::Xml)?;
                let pool = StoragePool::define_xml(&self.conn, &xml, 0)
                    .map_err(self.err("storage pool define"))?;
                pool.build(0).map_err(self.err("storage pool build"))?;
                pool.set_autostart(true)
                    .map_err(self.err("storage pool autostart"))?;
                pool
            }
            Err(e) => return Err(self.err("storage pool lookup")(e)),
        };
        let xml = pool.get_xml_desc(0).map_err(self.err("storage pool XML"))?;
        let defined: super::xml::storage::PoolRead =
            quick_xml::de::from_str(&xml).map_err(|source| HostError::Unreadable {
                uri: self.uri.clone(),
                what: "storage pool definition",
                source,
            })?;
        if defined.target.path.trim_end_matches('/') != dir.trim_end_matches('/') {
            return Err(HostError::PoolElsewhere {
                pool: name.to_owned(),
                path: defined.target.path,
                wanted: dir.to_owned(),
            });
        }
        if !pool.is_active().map_err(self.err("storage pool state"))? {
            // Building a dir pool creates its directory if it went missing.
            pool.build(0).map_err(self.err("storage pool build"))?;
            pool.create(0).map_err(self.err("storage pool start"))?;
        }
        Ok(())
    }

    fn ensure_nfs_pool(
        &self,
        name: &str,
        server: &str,
        export: &str,
        mount: &str,
    ) -> Result<(), HostError> {
        let pool = match StoragePool::lookup_by_name(&self.conn, name) {
            Ok(p) => p,
            Err(e) if is(&e, ErrorNumber::NoStoragePool) => {
                let xml = to_xml(&super::xml::storage::NfsPool::new(
                    name, server, export, mount,
                ))
                .map_err(HostError::Xml)?;
                let pool = StoragePool::define_xml(&self.conn, &xml, 0)
                    .map_err(self.err("storage pool define"))?;
                pool.set_autostart(true)
                    .map_err(self.err("storage pool autostart"))?;
                pool
            }
            Err(e) => return Err(self.err("storage pool lookup")(e)),
        };
        if !pool.is_active().map_err(self.err("storage pool state"))? {
            // Building a netfs pool makes its mount point; starting it mounts.
            pool.build(0).map_err(self.err("storage pool build"))?;
            pool.create(0).map_err(self.err("storage pool start"))?;
        }
        Ok(())
    }

    fn volume_path(&self, pool: &str, name: &str) -> Result<Option<String>, HostError> {
        let pool = self.pool(pool)?;
        match StorageVol::lookup_by_name(&pool, name) {
            Ok(v) => Ok(Some(v.get_path().map_err(self.err("volume path"))?)),
            Err(e) if is(&e, ErrorNumber::NoStorageVolume) => Ok(None),
            Err(e) => Err(self.err("volume lookup")(e)),
        }
    }

    fn list_volumes(&self, pool: &str) -> Result<Vec<String>, HostError> {
        let pool = self.pool(pool)?;
        self.refresh(&pool)?;
        pool.list_volumes().map_err(self.err("list volumes"))
    }

    fn upload_volume(
        &self,
        pool_name: &str,
        name: &str,
        format: &'static str,
        data: &mut dyn Read,
        len: u64,
    ) -> Result<String, HostError> {
        let vol = self.create_volume(pool_name, name, format, len)?;
        let stream = Stream::new(&self.conn, 0).map_err(self.err("stream"))?;
        let sent = (|| {
            vol.upload(&stream, 0, len, 0)
                .map_err(self.err("volume upload"))?;
            let mut buf = vec![0u8; 1 << 20];
            let mut left = len;
            while left > 0 {
                let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                data.read_exact(&mut buf[..want])
                    .map_err(HostError::Upload)?;
                let mut off = 0;
                while off < want {
                    off += stream
                        .send(&buf[off..want])
                        .map_err(self.err("stream send"))?;
                }
                left -= want as u64;
            }
            Ok::<(), HostError>(())
        })();
        match sent {
            Ok(()) => stream.finish().map_err(self.err("stream finish"))?,
            Err(e) => {
                let _ = stream.abort();
                let _ = vol.delete(0);
                return Err(e);
            }
        }
        vol.get_path().map_err(self.err("volume path"))
    }

    fn overwrite_volume(&self, pool_name: &str, name: &str, data: &[u8]) -> Result<(), HostError> {
        let pool = self.pool(pool_name)?;
        let vol = StorageVol::lookup_by_name(&pool, name).map_err(self.err("volume lookup"))?;
        let stream = Stream::new(&self.conn, 0).map_err(self.err("stream"))?;
        vol.upload(&stream, 0, data.len() as u64, 0)
            .map_err(self.err("volume upload"))?;
        let mut off = 0;
        while off < data.len() {
            match stream.send(&data[off..]) {
                Ok(n) => off += n,
                Err(e) => {
                    let _ = stream.abort();
                    return Err(self.err("stream send")(e));
                }
            }
        }
        stream.finish().map_err(self.err("stream finish"))
    }

    fn create_overlay(
        &self,
        pool_name: &str,
        name: &str,
        capacity_bytes: u64,
        backing_path: &str,
        backing_format: &'static str,
    ) -> Result<String, HostError> {
        let pool = self.pool(pool_name)?;
        let xml = to_xml(&Volume::overlay(
            name,
            capacity_bytes,
            backing_path,
            backing_format,
        ))
        .map_err(HostError::Xml)?;
        let vol = StorageVol::create_xml(&pool, &xml, 0).map_err(self.err("overlay create"))?;
        vol.get_path().map_err(self.err("volume path"))
    }

    fn delete_volume(&self, pool_name: &str, name: &str) -> Result<(), HostError> {
        let pool = match StoragePool::lookup_by_name(&self.conn, pool_name) {
            Ok(p) => p,
            Err(e) if is(&e, ErrorNumber::NoStoragePool) => return Ok(()),
            Err(e) => return Err(self.err("storage pool lookup")(e)),
        };
        let vol = match StorageVol::lookup_by_name(&pool, name) {
            Ok(v) => v,
            Err(e) if is(&e, ErrorNumber::NoStorageVolume) => return Ok(()),
            Err(e) => return Err(self.err("volume lookup")(e)),
        };
        // A copy into this volume that a client started (dpe, before a
        // crash) goes on in libvirtd, which refuses the delete until the
        // copy ends: wait for it, since a volume half copied must never
        // be taken as the whole one, nor its delete as failed.
        let deadline = Instant::now() + BUILD_WAIT;
        loop {
            match vol.delete(0) {
                Ok(()) => return Ok(()),
                Err(e) if still_being_built(&e) && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(e) if is(&e, ErrorNumber::NoStorageVolume) => return Ok(()),
                Err(e) => return Err(self.err("volume delete")(e)),
            }
        }
    }

    fn define_domain(&self, xml: &str) -> Result<(), HostError> {
        Domain::define_xml(&self.conn, xml)
            .map(|_| ())
            .map_err(self.err("domain define"))
    }

    fn domain_power(&self, uuid: &str) -> Result<Option<Power>, HostError> {
        let Some(dom) = self.domain(uuid)? else {
            return Ok(None);
        };
        let (state, _reason) = dom.get_state().map_err(self.err("domain state"))?;
        Ok(Some(power_of(state)))
    }

    fn start_domain(&self, uuid: &str) -> Result<(), HostError> {
        let dom = self
            .domain(uuid)?
            .ok_or_else(|| HostError::NoDomain(uuid.to_owned()))?;
        let (state, _) = dom.get_state().map_err(self.err("domain state"))?;
        match power_of(state) {
            Power::Running => Ok(()),
            // A start cut off half-way (its client killed) can leave QEMU
            // with its CPUs not yet running.
            // libvirtd may still be finishing that start itself: if so, the
            // resume loses the race and the domain is running all the same.
            Power::Paused => match dom.resume() {
                Ok(_) => Ok(()),
                Err(e) if is(&e, ErrorNumber::OperationInvalid) => {
                    let (state, _) = dom.get_state().map_err(self.err("domain state"))?;
                    match power_of(state) {
                        Power::Running => Ok(()),
                        Power::Paused
                        | Power::ShutOff
                        | Power::Crashed
                        | Power::ShuttingDown
                        | Power::Unknown => Err(self.err("domain resume")(e)),
                    }
                }
                Err(e) => Err(self.err("domain resume")(e)),
            },
            Power::ShutOff | Power::Crashed | Power::ShuttingDown | Power::Unknown => {
                dom.create().map(|_| ()).map_err(self.err("domain start"))
            }
        }
    }

    fn shutdown_domain(&self, uuid: &str) -> Result<(), HostError> {
        let dom = self
            .domain(uuid)?
            .ok_or_else(|| HostError::NoDomain(uuid.to_owned()))?;
        match dom.shutdown() {
            Ok(_) => Ok(()),
            Err(e) if is(&e, ErrorNumber::OperationInvalid) => Ok(()), // already off
            Err(e) => Err(self.err("domain shutdown")(e)),
        }
    }

    fn reboot_domain(&self, uuid: &str) -> Result<(), HostError> {
        let dom = self
            .domain(uuid)?
            .ok_or_else(|| HostError::NoDomain(uuid.to_owned()))?;
        dom.reboot(0).map_err(self.err("domain reboot"))
    }

    fn destroy_domain(&self, uuid: &str) -> Result<(), HostError> {
        let Some(dom) = self.domain(uuid)? else {
            return Ok(());
        };
        match dom.destroy() {
            Ok(()) => Ok(()),
            Err(e) if is(&e, ErrorNumber::OperationInvalid) => Ok(()), // not running
            Err(e) => Err(self.err("domain destroy")(e)),
        }
    }

    fn undefine_domain(&self, uuid: &str) -> Result<(), HostError> {
        let Some(dom) = self.domain(uuid)? else {
            return Ok(());
        };
        // dpe's domains boot by BIOS or direct kernel: no NVRAM to remove.
        // Their snapshots' and checkpoints' data is inside the disk, which
        // the delete step removes; libvirt's record of them goes here. The
        // checkpoints go one by one: libvirt's test driver refuses
        // VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA.
        self.remove_checkpoints(uuid, None)?;
        dom.undefine_flags(virt::sys::VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)
            .map_err(self.err("domain undefine"))
    }

    fn volume_allocation(&self, pool: &str, name: &str) -> Result<Option<u64>, HostError> {
        let pool = self.pool(pool)?;
        match StorageVol::lookup_by_name(&pool, name) {
            Ok(v) => Ok(Some(
                v.get_info().map_err(self.err("volume info"))?.allocation,
            )),
            Err(e) if is(&e, ErrorNumber::NoStorageVolume) => Ok(None),
            Err(e) => Err(self.err("volume lookup")(e)),
        }
    }

    fn volume_capacity(&self, pool: &str, name: &str) -> Result<Option<u64>, HostError> {
        let pool = self.pool(pool)?;
        match StorageVol::lookup_by_name(&pool, name) {
            Ok(v) => Ok(Some(
                v.get_info().map_err(self.err("volume info"))?.capacity,
            )),
            Err(e) if is(&e, ErrorNumber::NoStorageVolume) => Ok(None),
            Err(e) => Err(self.err("volume lookup")(e)),
        }
    }

    fn grow_disk(
        &self,
        uuid: &str,
        target: &str,
        pool: &str,
        name: &str,
        bytes: u64,
    ) -> Result<(), HostError> {
        let running = match self.domain(uuid)? {
            Some(dom) if dom.is_active().map_err(self.err("domain state"))? => Some(dom),
            Some(_) | None => None,
        };
        match running {
            // QEMU resizes the image under the guest and tells its virtio
            // disk, which the guest's kernel notices at once.
            Some(dom) => dom
                .block_resize(target, bytes, virt::sys::VIR_DOMAIN_BLOCK_RESIZE_BYTES)
                .map(|_| ())
                .map_err(self.err("block resize")),
            None => {
                let pool = self.pool(pool)?;
                let vol =
                    StorageVol::lookup_by_name(&pool, name).map_err(self.err("volume lookup"))?;
                vol.resize(bytes, 0)
                    .map(|_| ())
                    .map_err(self.err("volume resize"))
            }
        }
    }

    fn create_snapshot(
        &self,
        uuid: &str,
        name: &str,
        description: &str,
    ) -> Result<bool, HostError> {
        self.take_snapshot(uuid, name, description)
    }

    fn has_snapshot(&self, uuid: &str, name: &str) -> Result<bool, HostError> {
        self.snapshot_exists(uuid, name)
    }

    fn revert_snapshot(&self, uuid: &str, name: &str, running: bool) -> Result<(), HostError> {
        self.revert_to(uuid, name, running)
    }

    fn delete_snapshot(&self, uuid: &str, name: &str) -> Result<(), HostError> {
        self.remove_snapshot(uuid, name)
    }

    fn dpe_domains(&self) -> Result<Vec<DpeDomain>, HostError> {
        let domains = self
            .conn
            .list_all_domains(0)
            .map_err(self.err("list domains"))?;
        let mut ours = Vec::new();
        for dom in domains {
            let metadata = match dom.get_metadata(
                virt::sys::VIR_DOMAIN_METADATA_ELEMENT as i32,
                Some(DPE_NS),
                0,
            ) {
                Ok(xml) => xml,
                // No dpe element: a foreign domain, never touched.
                Err(e) if is(&e, ErrorNumber::NoDomainMetadata) => continue,
                Err(e) if is(&e, ErrorNumber::NoDomain) => continue,
                Err(e) => return Err(self.err("domain metadata")(e)),
            };
            let Some(meta) = DpeInstanceRead::parse(&metadata) else {
                continue;
            };
            let state = match dom.get_state() {
                Ok((state, _)) => state,
                // Undefined since it was listed (a delete ran meanwhile).
                Err(e) if is(&e, ErrorNumber::NoDomain) => continue,
                Err(e) => return Err(self.err("domain state")(e)),
            };
            ours.push(DpeDomain {
                uuid: dom.get_uuid_string().map_err(self.err("domain uuid"))?,
                name: dom.get_name().map_err(self.err("domain name"))?,
                appliance: meta.appliance,
                instance_uuid: meta.id,
                owner: meta.owner,
                record: meta.guest,
                power: power_of(state),
            });
        }
        Ok(ours)
    }

    fn dhcp_leases(&self, network: &str) -> Result<Vec<Lease>, HostError> {
        let net = virt::network::Network::lookup_by_name(&self.conn, network)
            .map_err(self.err("network lookup"))?;
        leases::leases(&net).map_err(self.err("network DHCP leases"))
    }

    fn ensure_drill_network(&self, name: &str) -> Result<(), HostError> {
        use virt::network::Network;
        let net = match Network::lookup_by_name(&self.conn, name) {
            Ok(net) => net,
            Err(e) if is(&e, ErrorNumber::NoNetwork) => {
                let xml = to_xml(&super::xml::network::IsolatedNetwork::drills(name))
                    .map_err(HostError::Xml)?;
                let net =
                    Network::define_xml(&self.conn, &xml).map_err(self.err("network define"))?;
                net.set_autostart(true)
                    .map_err(self.err("network autostart"))?;
                net
            }
            Err(e) => return Err(self.err("network lookup")(e)),
        };
        if !net.is_active().map_err(self.err("network state"))? {
            net.create().map_err(self.err("network start"))?;
        }
        Ok(())
    }

    fn guest_exec(
        &self,
        uuid: &str,
        argv: &[String],
        stdin: &[u8],
        timeout: Duration,
    ) -> Result<GuestExit, HostError> {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let dom = self
            .domain(uuid)?
            .ok_or_else(|| HostError::NoDomain(uuid.to_owned()))?;
        let (path, args) = argv
            .split_first()
            .ok_or_else(|| HostError::GuestReply("an empty command".into()))?;
        let exec = serde_json::json!({
            "execute": "guest-exec",
            "arguments": {
                "path": path,
                "arg": args,
                "input-data": b64.encode(stdin),
                "capture-output": true,
            }
        });
        let reply = dom
            .qemu_agent_command(&exec.to_string(), AGENT_CALL_SECS, 0)
            .map_err(self.err("guest agent exec"))?;
        let pid = agent_return(&reply)
            .and_then(|r| r.get("pid")?.as_i64())
            .ok_or_else(|| HostError::GuestReply(format!("guest-exec answered {reply}")))?;
        let status = serde_json::json!({
            "execute": "guest-exec-status",
            "arguments": { "pid": pid }
        })
        .to_string();
        let deadline = Instant::now() + timeout;
        loop {
            let reply = dom
                .qemu_agent_command(&status, AGENT_CALL_SECS, 0)
                .map_err(self.err("guest agent exec status"))?;
            let answer = agent_return(&reply).ok_or_else(|| {
                HostError::GuestReply(format!("guest-exec-status answered {reply}"))
            })?;
            if answer.get("exited").and_then(|e| e.as_bool()) == Some(true) {
                let stderr = answer
                    .get("err-data")
                    .and_then(|d| d.as_str())
                    .and_then(|d| b64.decode(d).ok())
                    .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                    .unwrap_or_default();
                let code = answer
                    .get("exitcode")
                    .and_then(|c| c.as_i64())
                    // Killed by a signal: no exit code.
                    .unwrap_or(-1);
                return Ok(GuestExit { code, stderr });
            }
            if Instant::now() >= deadline {
                return Err(HostError::Timeout {
                    uri: self.uri.clone(),
                    seconds: timeout.as_secs(),
                });
            }
            std::thread::sleep(AGENT_POLL);
        }
    }

    fn create_empty_volume(
        &self,
        pool: &str,
        name: &str,
        format: &'static str,
        capacity_bytes: u64,
    ) -> Result<String, HostError> {
        let vol = self.create_volume(pool, name, format, capacity_bytes)?;
        self.path_of(&vol)
    }

    fn delete_checkpoint(&self, uuid: &str, name: &str) -> Result<(), HostError> {
        self.remove_checkpoint(uuid, name)
    }

    fn freeze_filesystems(&self, uuid: &str) -> Result<bool, HostError> {
        self.freeze(uuid)
    }

    fn thaw_filesystems(&self, uuid: &str) -> Result<(), HostError> {
        self.thaw(uuid)
    }

    fn begin_backup(&self, uuid: &str, job: &BackupJob) -> Result<(), HostError> {
        self.backup_begin(uuid, job)
    }

    fn backup_progress(&self, uuid: &str) -> Result<JobProgress, HostError> {
        self.backup_state(uuid)
    }

    fn abort_job(&self, uuid: &str) -> Result<(), HostError> {
        self.abort(uuid)
    }

    fn has_checkpoint(&self, uuid: &str, name: &str) -> Result<bool, HostError> {
        self.checkpoint_exists(uuid, name)
    }

    fn delete_checkpoints(&self, uuid: &str, keep: Option<&str>) -> Result<(), HostError> {
        self.remove_checkpoints(uuid, keep)
    }

    fn copy_volume(
        &self,
        from_pool: &str,
        from: &str,
        to_pool: &str,
        to: &str,
        capacity_bytes: u64,
    ) -> Result<String, HostError> {
        self.clone_volume(from_pool, from, to_pool, to, capacity_bytes)
    }

    fn replace_volume_bytes(&self, pool: &str, from: &str, to: &str) -> Result<(), HostError> {
        self.replace_bytes(pool, from, to)
    }

    fn volume_sha256(&self, pool: &str, name: &str) -> Result<Option<(String, u64)>, HostError> {
        self.checksum(pool, name)
    }

    fn pool_space(&self, pool: &str) -> Result<(u64, u64), HostError> {
        self.space(pool)
    }

    fn relabel_domain(&self, uuid: &str, title: &str, metadata: &str) -> Result<(), HostError> {
        let dom = self
            .domain(uuid)?
            .ok_or_else(|| HostError::NoDomain(uuid.to_owned()))?;
        // A running domain's live definition and its persistent one alike;
        // libvirt refuses the live one of a domain that is off.
        let running = dom.is_active().map_err(self.err("domain state"))?;
        let flags = match running {
            true => virt::sys::VIR_DOMAIN_AFFECT_LIVE | virt::sys::VIR_DOMAIN_AFFECT_CONFIG,
            false => virt::sys::VIR_DOMAIN_AFFECT_CONFIG,
        };
        dom.set_metadata(
            virt::sys::VIR_DOMAIN_METADATA_TITLE as i32,
            Some(title),
            None,
            None,
            flags,
        )
        .map_err(self.err("domain title"))?;
        dom.set_metadata(
            virt::sys::VIR_DOMAIN_METADATA_ELEMENT as i32,
            Some(metadata),
            Some(DPE_PREFIX),
            Some(DPE_NS),
            flags,
        )
        .map_err(self.err("domain metadata"))?;
        Ok(())
    }

    fn open_console(&self, uuid: &str) -> Result<Box<dyn ConsoleLine>, HostError> {
        Ok(Box::new(self.console(uuid)?))
    }

    fn volume_tail(&self, pool: &str, name: &str, max: u64) -> Result<Option<Vec<u8>>, HostError> {
        self.tail(pool, name, max)
    }

    fn open_graphics(&self, uuid: &str) -> Result<std::os::unix::net::UnixStream, HostError> {
        self.graphics(uuid)
    }

    fn domain_usage(&self) -> Result<Vec<DomainUsage>, HostError> {
        self.usage()
    }

    fn host_usage(&self, pool: &str) -> Result<HostUsage, HostError> {
        self.host_figures(pool)
    }

    fn migrate(
        &self,
        uuid: &str,
        dest: &dyn Hypervisor,
        plan: &Migration,
    ) -> Result<(), HostError> {
        self.migrate_to(uuid, dest, plan)
    }

    fn migration_uri(&self) -> Result<String, HostError> {
        self.listen_uri()
    }

    fn job_progress(&self, uuid: &str) -> Result<JobProgress, HostError> {
        self.job_of(uuid)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
