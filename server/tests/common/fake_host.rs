//! An in-memory host for engine tests: pools, volumes and domains in a
//! map, each test app with hosts of its own (so the tests run in
//! parallel), and any call made to fail on demand. It behaves as libvirt's
//! test driver does where the engine can tell: removes are idempotent, a
//! shutdown powers off at once, and no network hands out leases.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::sync::{Arc, Mutex};

use app::model::{Acceleration, HostProbe, Power};
use server::engine::connector::Connector;
use server::engine::hypervisor::{
    BackupJob, Capacity, ConsoleLine, DomainUsage, DpeDomain, GuestExit, HostError, HostUsage,
    Hypervisor, JobProgress, Lease, Migration,
};
use server::engine::xml::domain::DpeInstanceRead;

/// The UUID of the foreign domain every fake host starts with (as the
/// test driver's own domain `test`): it carries no dpe metadata.
pub const FOREIGN_DOMAIN_UUID: &str = "6695eb01-f6a4-8304-79aa-97f2502e193f";

/// What every fake host offers.
const CAPACITY: Capacity = Capacity {
    cpus: 16,
    memory_mib: 8192,
};

struct Domain {
    name: String,
    xml: String,
    /// (appliance, instance UUID) from the dpe metadata, if any.
    dpe: Option<DpeInstanceRead>,
    power: Power,
}

/// A call to fail: the next call of `call` whose argument contains `needle`.
struct Failure {
    call: &'static str,
    needle: String,
}

#[derive(Default)]
struct State {
    /// Pool name → its folder.
    pools: HashMap<String, String>,
    /// (pool, volume) → its length.
    volumes: BTreeMap<(String, String), u64>,
    /// UUID → domain.
    domains: BTreeMap<String, Domain>,
    failures: Vec<Failure>,
    /// The address every dpe domain's lease gives, if any.
    lease_ip: Option<String>,
    /// How often each call was made.
    calls: HashMap<&'static str, usize>,
    /// What each guest command got: (domain UUID, argv, standard input).
    guest_runs: Vec<(String, Vec<String>, String)>,
    /// UUID → the title a relabel gave.
    titles: HashMap<String, String>,
    /// (domain UUID, snapshot name) → the power it had when taken.
    snapshots: BTreeMap<(String, String), Power>,
    /// (pool, volume) → what it holds, as text: an instance's disk holds
    /// what a test wrote; a backup what its job copied (an incremental
    /// one its whole chain's view, as qcow2 reads through the backing).
    contents: BTreeMap<(String, String), String>,
    /// (pool, volume) → the bytes uploaded into it.
    uploads: BTreeMap<(String, String), Vec<u8>>,
    /// Pools whose disk is full: nothing more is created in them.
    full_pools: Vec<String>,
    /// Domain UUID → its checkpoints, oldest first.
    checkpoints: BTreeMap<String, Vec<String>>,
    /// Backup jobs run until released (`release_jobs`).
    hold_jobs: bool,
    /// Asking how a backup job goes hangs until `unstall` (then fails):
    /// the dpe that asked is as good as killed.
    stall_jobs: bool,
    /// Domain UUID → whether it has a backup job running.
    jobs: HashMap<String, bool>,
    /// The host does not answer: every call fails, as a libvirtd gone.
    down: bool,
    /// How it runs guests (default: the test driver's `Test`).
    acceleration: Option<Acceleration>,
    /// Its size (default: `CAPACITY`).
    capacity: Option<Capacity>,
    /// Uploads into volumes whose name contains one of these arrive with
    /// their first byte flipped, as a bad disk or link would leave them.
    corrupt_uploads: Vec<String>,
}

pub struct FakeHost {
    uri: String,
    state: Mutex<State>,
    /// Since when its guests have been busy (see `domain_usage`).
    born: std::time::Instant,
}

/// The text between `open` and `close` in `xml`.
fn element<'x>(xml: &'x str, open: &str, close: &str) -> Option<&'x str> {
    let start = xml.find(open)? + open.len();
    let len = xml[start..].find(close)?;
    Some(&xml[start..start + len])
}

impl FakeHost {
    fn new(uri: &str) -> FakeHost {
        let mut state = State::default();
        state.domains.insert(
            FOREIGN_DOMAIN_UUID.to_owned(),
            Domain {
                name: "test".into(),
                xml: String::new(),
                dpe: None,
                power: Power::Running,
            },
        );
        FakeHost {
            uri: uri.to_owned(),
            state: Mutex::new(state),
            born: std::time::Instant::now(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many times `call` (a `Hypervisor` method's name) was made.
    pub fn calls(&self, call: &'static str) -> usize {
        self.state().calls.get(call).copied().unwrap_or(0)
    }

    /// Makes the next call of `call` (a `Hypervisor` method's name) fail.
    pub fn fail_next(&self, call: &'static str) {
        self.fail_next_on(call, "");
    }

    /// Makes the next call of `call` whose volume name, UUID or XML
    /// contains `needle` fail.
    pub fn fail_next_on(&self, call: &'static str, needle: &str) {
        self.state().failures.push(Failure {
            call,
            needle: needle.to_owned(),
        });
    }

    /// From now on, every dpe domain has a DHCP lease of `ip` (tests put
    /// an application's stand-in on 127.0.0.1).
    pub fn lease_every_domain(&self, ip: &str) {
        self.state().lease_ip = Some(ip.to_owned());
    }

    /// The XML a domain was last defined with.
    pub fn domain_xml(&self, uuid: &str) -> Option<String> {
        self.state().domains.get(uuid).map(|d| d.xml.clone())
    }

    /// Every guest command run so far: (domain UUID, argv, standard input).
    pub fn guest_runs(&self) -> Vec<(String, Vec<String>, String)> {
        self.state().guest_runs.clone()
    }

    /// The title a running domain was relabelled with, if it was.
    pub fn title(&self, uuid: &str) -> Option<String> {
        self.state().titles.get(uuid).cloned()
    }

    /// The names of the domain's snapshots.
    pub fn snapshot_names(&self, uuid: &str) -> Vec<String> {
        self.state()
            .snapshots
            .keys()
            .filter(|(u, _)| u == uuid)
            .map(|(_, name)| name.clone())
            .collect()
    }

    /// Writes `text` into the instance's disk (its volume in `pool`).
    pub fn write_volume(&self, pool: &str, name: &str, text: &str) {
        self.state()
            .contents
            .insert((pool.to_owned(), name.to_owned()), text.to_owned());
    }

    /// Takes the instance record out of domain `uuid`'s metadata, as a dpe
    /// before December 2026 defined it.
    pub fn forget_record(&self, uuid: &str) {
        if let Some(meta) = self
            .state()
            .domains
            .get_mut(uuid)
            .and_then(|d| d.dpe.as_mut())
        {
            meta.guest = None;
        }
    }

    /// Whether domain `uuid`'s metadata records its instance.
    pub fn has_record(&self, uuid: &str) -> bool {
        self.state()
            .domains
            .get(uuid)
            .and_then(|d| d.dpe.as_ref())
            .is_some_and(|meta| meta.guest.is_some())
    }

    /// From now on, the host says it runs guests with `acceleration`.
    pub fn set_acceleration(&self, acceleration: Acceleration) {
        self.state().acceleration = Some(acceleration);
    }

    /// From now on, the host has this many CPUs and MiB of memory.
    pub fn set_capacity(&self, cpus: u32, memory_mib: u64) {
        self.state().capacity = Some(Capacity { cpus, memory_mib });
    }

    /// From now on, what is uploaded into a volume whose name contains
    /// `needle` is stored with its first byte flipped.
    pub fn corrupt_uploads_to(&self, needle: &str) {
        self.state().corrupt_uploads.push(needle.to_owned());
    }

    /// Uploads arrive intact again.
    pub fn stop_corrupting(&self) {
        self.state().corrupt_uploads.clear();
    }

    fn acceleration_now(&self) -> Acceleration {
        self.state().acceleration.unwrap_or(Acceleration::Test)
    }

    fn capacity_now(&self) -> Capacity {
        self.state().capacity.unwrap_or(CAPACITY)
    }

    /// From now on, the pool's disk is full (ENOSPC on every new volume).
    pub fn fill_pool(&self, pool: &str) {
        self.state().full_pools.push(pool.to_owned());
    }

    /// The bytes uploaded into a volume.
    pub fn uploaded(&self, pool: &str, name: &str) -> Option<Vec<u8>> {
        self.state()
            .uploads
            .get(&(pool.to_owned(), name.to_owned()))
            .cloned()
    }

    /// What a volume holds.
    pub fn volume_text(&self, pool: &str, name: &str) -> Option<String> {
        self.state()
            .contents
            .get(&(pool.to_owned(), name.to_owned()))
            .cloned()
    }

    /// The names of the volumes of a pool.
    /// The pools made on the host.
    pub fn pools(&self) -> Vec<String> {
        self.state().pools.keys().cloned().collect()
    }

    /// A volume's size (a grown disk's new one).
    pub fn volume_size(&self, pool: &str, name: &str) -> Option<u64> {
        self.state()
            .volumes
            .get(&(pool.to_owned(), name.to_owned()))
            .copied()
    }

    pub fn volume_names(&self, pool: &str) -> Vec<String> {
        self.state()
            .volumes
            .keys()
            .filter(|(p, _)| p == pool)
            .map(|(_, n)| n.clone())
            .collect()
    }

    /// The domain's checkpoints, oldest first.
    pub fn checkpoint_names(&self, uuid: &str) -> Vec<String> {
        self.state()
            .checkpoints
            .get(uuid)
            .cloned()
            .unwrap_or_default()
    }

    /// Removes the domain's checkpoints, as a crash or a host's restart
    /// that loses the bitmaps would.
    pub fn lose_checkpoints(&self, uuid: &str) {
        self.state().checkpoints.remove(uuid);
    }

    /// From now on, backup jobs run until `release_jobs`.
    /// Stops answering every call (`false`: answers again), keeping
    /// whatever it holds.
    pub fn set_down(&self, down: bool) {
        self.state().down = down;
    }

    /// Changes a domain's power behind dpe's back, as someone on the host
    /// would.
    pub fn power_domain(&self, uuid: &str, power: Power) {
        self.set_power(uuid, power).unwrap();
    }

    pub fn hold_jobs(&self) {
        self.state().hold_jobs = true;
    }

    pub fn release_jobs(&self) {
        self.state().hold_jobs = false;
    }

    /// From now on, whoever asks how a backup job goes hangs (as a dpe
    /// killed mid-backup would never ask again), until `unstall`.
    pub fn stall_jobs(&self) {
        self.state().stall_jobs = true;
    }

    pub fn unstall(&self) {
        self.state().stall_jobs = false;
    }

    /// Whether the domain has a backup job running.
    pub fn job_running(&self, uuid: &str) -> bool {
        self.state().jobs.get(uuid).copied().unwrap_or(false)
    }

    /// The (pool, volume) whose path is `path`.
    fn volume_at(&self, path: &str) -> Option<(String, String)> {
        let state = self.state();
        state
            .volumes
            .keys()
            .find(|(pool, name)| {
                state
                    .pools
                    .get(pool)
                    .is_some_and(|dir| format!("{dir}/{name}") == path)
            })
            .cloned()
    }

    /// The power state of a domain, if it is defined.
    pub fn power(&self, uuid: &str) -> Option<Power> {
        self.state().domains.get(uuid).map(|d| d.power)
    }

    /// UUIDs of the dpe domains defined now.
    pub fn dpe_uuids(&self) -> Vec<String> {
        let state = self.state();
        state
            .domains
            .iter()
            .filter(|(_, d)| d.dpe.is_some())
            .map(|(uuid, _)| uuid.clone())
            .collect()
    }

    /// Fails this call if a test asked for it, as libvirt would.
    fn call(&self, call: &'static str, argument: &str) -> Result<(), HostError> {
        let mut state = self.state();
        *state.calls.entry(call).or_default() += 1;
        if state.down {
            return Err(self.libvirt_error(call));
        }
        let Some(pos) = state
            .failures
            .iter()
            .position(|f| f.call == call && argument.contains(&f.needle))
        else {
            return Ok(());
        };
        state.failures.remove(pos);
        Err(self.libvirt_error(call))
    }

    fn libvirt_error(&self, call: &'static str) -> HostError {
        HostError::Libvirt {
            uri: self.uri.clone(),
            call,
            source: virt::error::Error::last_error(),
        }
    }

    fn pool_dir(&self, pool: &str, call: &'static str) -> Result<String, HostError> {
        self.state()
            .pools
            .get(pool)
            .cloned()
            .ok_or_else(|| self.libvirt_error(call))
    }

    fn create(&self, pool: &str, name: &str, len: u64) -> Result<String, HostError> {
        let dir = self.pool_dir(pool, "volume create")?;
        if self.state().full_pools.iter().any(|p| p == pool) {
            return Err(HostError::NoSpace {
                uri: self.uri.clone(),
                call: "volume create",
                source: virt::error::Error::last_error(),
            });
        }
        let key = (pool.to_owned(), name.to_owned());
        let mut state = self.state();
        if state.volumes.contains_key(&key) {
            return Err(self.libvirt_error("volume create"));
        }
        state.volumes.insert(key, len);
        Ok(format!("{dir}/{name}"))
    }

    fn set_power(&self, uuid: &str, power: Power) -> Result<(), HostError> {
        match self.state().domains.get_mut(uuid) {
            Some(d) => {
                d.power = power;
                Ok(())
            }
            None => Err(HostError::NoDomain(uuid.to_owned())),
        }
    }
}

impl Hypervisor for FakeHost {
    fn uri(&self) -> &str {
        &self.uri
    }
    fn is_alive(&self) -> bool {
        true
    }
    fn acceleration(&self) -> Result<Acceleration, HostError> {
        self.call("acceleration", "")?;
        Ok(self.acceleration_now())
    }
    fn facts(&self) -> Result<HostProbe, HostError> {
        self.call("facts", "")?;
        Ok(HostProbe {
            starting: false,
            uri: self.uri.clone(),
            connected: true,
            hostname: Some("fake".into()),
            libvirt_version: Some("0.0.0".into()),
            hypervisor: Some("Fake".into()),
            hypervisor_version: None,
            cpus: Some(self.capacity_now().cpus),
            memory_mib: Some(self.capacity_now().memory_mib),
            acceleration: Some(self.acceleration_now()),
            cpu_model: Some("Fake CPU, x86_64".into()),
            error: None,
        })
    }
    fn capacity(&self) -> Result<Capacity, HostError> {
        self.call("capacity", "")?;
        Ok(self.capacity_now())
    }
    /// An NFS pool is a directory pool here, at its mount point.
    fn ensure_nfs_pool(
        &self,
        pool: &str,
        _server: &str,
        _export: &str,
        mount: &str,
    ) -> Result<(), HostError> {
        self.call("ensure_nfs_pool", pool)?;
        self.ensure_pool(pool, mount)
    }
    fn ensure_pool(&self, pool: &str, dir: &str) -> Result<(), HostError> {
        self.call("ensure_pool", pool)?;
        let mut state = self.state();
        let path = state
            .pools
            .entry(pool.to_owned())
            .or_insert_with(|| dir.to_owned());
        if path.trim_end_matches('/') != dir.trim_end_matches('/') {
            return Err(HostError::PoolElsewhere {
                pool: pool.to_owned(),
                path: path.clone(),
                wanted: dir.to_owned(),
            });
        }
        Ok(())
    }
    fn volume_path(&self, pool: &str, name: &str) -> Result<Option<String>, HostError> {
        self.call("volume_path", name)?;
        let dir = self.pool_dir(pool, "storage pool lookup")?;
        let key = (pool.to_owned(), name.to_owned());
        let there = self.state().volumes.contains_key(&key);
        Ok(there.then(|| format!("{dir}/{name}")))
    }
    fn list_volumes(&self, pool: &str) -> Result<Vec<String>, HostError> {
        self.call("list_volumes", pool)?;
        self.pool_dir(pool, "storage pool lookup")?;
        let state = self.state();
        let names = state.volumes.keys().filter(|(p, _)| p == pool);
        Ok(names.map(|(_, name)| name.clone()).collect())
    }
    fn upload_volume(
        &self,
        pool: &str,
        name: &str,
        _format: &'static str,
        data: &mut dyn Read,
        len: u64,
    ) -> Result<String, HostError> {
        self.call("upload_volume", name)?;
        let mut content = Vec::new();
        data.take(len)
            .read_to_end(&mut content)
            .map_err(HostError::Upload)?;
        let path = self.create(pool, name, len)?;
        let mut state = self.state();
        if state
            .corrupt_uploads
            .iter()
            .any(|n| name.contains(n.as_str()))
            && let Some(first) = content.first_mut()
        {
            *first ^= 0xff;
        }
        state
            .uploads
            .insert((pool.to_owned(), name.to_owned()), content);
        Ok(path)
    }
    fn overwrite_volume(&self, pool: &str, name: &str, _data: &[u8]) -> Result<(), HostError> {
        self.call("overwrite_volume", name)?;
        match self.volume_path(pool, name)? {
            Some(_) => Ok(()),
            None => Err(self.libvirt_error("volume lookup")),
        }
    }
    fn create_overlay(
        &self,
        pool: &str,
        name: &str,
        capacity_bytes: u64,
        _backing_path: &str,
        _backing_format: &'static str,
    ) -> Result<String, HostError> {
        self.call("create_overlay", name)?;
        self.create(pool, name, capacity_bytes)
    }
    fn delete_volume(&self, pool: &str, name: &str) -> Result<(), HostError> {
        self.call("delete_volume", name)?;
        let key = (pool.to_owned(), name.to_owned());
        let mut state = self.state();
        state.volumes.remove(&key);
        state.contents.remove(&key);
        Ok(())
    }
    fn create_empty_volume(
        &self,
        pool: &str,
        name: &str,
        _format: &'static str,
        capacity_bytes: u64,
    ) -> Result<String, HostError> {
        self.call("create_empty_volume", name)?;
        self.create(pool, name, capacity_bytes)
    }
    fn define_domain(&self, xml: &str) -> Result<(), HostError> {
        self.call("define_domain", xml)?;
        let uuid =
            element(xml, "<uuid>", "</uuid>").ok_or_else(|| self.libvirt_error("domain define"))?;
        let name = element(xml, "<name>", "</name>").unwrap_or_default();
        let dpe = element(xml, "<metadata>", "</metadata>").and_then(DpeInstanceRead::parse);
        let mut state = self.state();
        let power = state.domains.get(uuid).map_or(Power::ShutOff, |d| d.power);
        let domain = Domain {
            name: name.to_owned(),
            xml: xml.to_owned(),
            dpe,
            power,
        };
        state.domains.insert(uuid.to_owned(), domain);
        Ok(())
    }
    fn domain_power(&self, uuid: &str) -> Result<Option<Power>, HostError> {
        self.call("domain_power", uuid)?;
        Ok(self.state().domains.get(uuid).map(|d| d.power))
    }
    fn start_domain(&self, uuid: &str) -> Result<(), HostError> {
        self.call("start_domain", uuid)?;
        self.set_power(uuid, Power::Running)
    }
    fn shutdown_domain(&self, uuid: &str) -> Result<(), HostError> {
        self.call("shutdown_domain", uuid)?;
        self.set_power(uuid, Power::ShutOff)
    }
    fn reboot_domain(&self, uuid: &str) -> Result<(), HostError> {
        self.call("reboot_domain", uuid)?;
        self.set_power(uuid, Power::Running)
    }
    fn destroy_domain(&self, uuid: &str) -> Result<(), HostError> {
        self.call("destroy_domain", uuid)?;
        if let Some(d) = self.state().domains.get_mut(uuid) {
            d.power = Power::ShutOff;
        }
        Ok(())
    }
    fn undefine_domain(&self, uuid: &str) -> Result<(), HostError> {
        self.call("undefine_domain", uuid)?;
        let mut state = self.state();
        state.domains.remove(uuid);
        state.snapshots.retain(|(u, _), _| u != uuid);
        Ok(())
    }
    fn dpe_domains(&self) -> Result<Vec<DpeDomain>, HostError> {
        self.call("dpe_domains", "")?;
        let state = self.state();
        let ours = state.domains.iter().filter_map(|(uuid, d)| {
            let meta = d.dpe.clone()?;
            Some(DpeDomain {
                uuid: uuid.clone(),
                name: d.name.clone(),
                appliance: meta.appliance,
                instance_uuid: meta.id,
                owner: meta.owner,
                record: meta.guest,
                power: d.power,
            })
        });
        Ok(ours.collect())
    }
    fn dhcp_leases(&self, network: &str) -> Result<Vec<Lease>, HostError> {
        self.call("dhcp_leases", network)?;
        let state = self.state();
        let Some(ip) = state.lease_ip.clone() else {
            return Ok(Vec::new());
        };
        Ok(state
            .domains
            .values()
            .filter(|d| d.dpe.is_some())
            .filter_map(|d| element(&d.xml, "<mac address=\"", "\""))
            .map(|mac| Lease {
                mac: mac.to_owned(),
                ip: ip.clone(),
            })
            .collect())
    }
    fn ensure_drill_network(&self, name: &str) -> Result<(), HostError> {
        self.call("ensure_drill_network", name)?;
        Ok(())
    }
    /// A guest agent that runs every command at once and succeeds, on a
    /// running domain.
    fn guest_exec(
        &self,
        uuid: &str,
        argv: &[String],
        stdin: &[u8],
        _timeout: std::time::Duration,
    ) -> Result<GuestExit, HostError> {
        self.call("guest_exec", uuid)?;
        let mut state = self.state();
        match state.domains.get(uuid).map(|d| d.power) {
            Some(Power::Running) => {}
            Some(_) | None => return Err(HostError::GuestReply("no agent".into())),
        }
        state.guest_runs.push((
            uuid.to_owned(),
            argv.to_vec(),
            String::from_utf8_lossy(stdin).into_owned(),
        ));
        Ok(GuestExit {
            code: 0,
            stderr: String::new(),
        })
    }
    fn volume_allocation(&self, pool: &str, name: &str) -> Result<Option<u64>, HostError> {
        self.call("volume_allocation", name)?;
        let key = (pool.to_owned(), name.to_owned());
        // A snapshot grows its disk by a MiB here.
        let state = self.state();
        let snapshots = state.snapshots.len() as u64;
        Ok(state.volumes.get(&key).map(|_| snapshots << 20))
    }
    fn volume_capacity(&self, pool: &str, name: &str) -> Result<Option<u64>, HostError> {
        self.call("volume_capacity", name)?;
        let key = (pool.to_owned(), name.to_owned());
        Ok(self.state().volumes.get(&key).copied())
    }
    fn grow_disk(
        &self,
        uuid: &str,
        _target: &str,
        pool: &str,
        name: &str,
        bytes: u64,
    ) -> Result<(), HostError> {
        self.call("grow_disk", uuid)?;
        let key = (pool.to_owned(), name.to_owned());
        let mut state = self.state();
        if !state.domains.contains_key(uuid) {
            return Err(HostError::NoDomain(uuid.to_owned()));
        }
        let len = state
            .volumes
            .get_mut(&key)
            .ok_or_else(|| HostError::GuestReply(format!("no volume {name}")))?;
        assert!(bytes >= *len, "a disk is never shrunk");
        *len = bytes;
        Ok(())
    }
    fn create_snapshot(
        &self,
        uuid: &str,
        name: &str,
        _description: &str,
    ) -> Result<bool, HostError> {
        self.call("create_snapshot", uuid)?;
        let mut state = self.state();
        let power = state
            .domains
            .get(uuid)
            .map(|d| d.power)
            .ok_or_else(|| HostError::NoDomain(uuid.to_owned()))?;
        state
            .snapshots
            .insert((uuid.to_owned(), name.to_owned()), power);
        Ok(power == Power::Running)
    }
    fn has_snapshot(&self, uuid: &str, name: &str) -> Result<bool, HostError> {
        self.call("has_snapshot", uuid)?;
        Ok(self
            .state()
            .snapshots
            .contains_key(&(uuid.to_owned(), name.to_owned())))
    }
    fn revert_snapshot(&self, uuid: &str, name: &str, running: bool) -> Result<(), HostError> {
        self.call("revert_snapshot", uuid)?;
        let mut state = self.state();
        if !state
            .snapshots
            .contains_key(&(uuid.to_owned(), name.to_owned()))
        {
            return Err(HostError::NoSnapshot(name.to_owned()));
        }
        let domain = state
            .domains
            .get_mut(uuid)
            .ok_or_else(|| HostError::NoDomain(uuid.to_owned()))?;
        domain.power = if running {
            Power::Running
        } else {
            Power::ShutOff
        };
        Ok(())
    }
    fn delete_snapshot(&self, uuid: &str, name: &str) -> Result<(), HostError> {
        self.call("delete_snapshot", uuid)?;
        self.state()
            .snapshots
            .remove(&(uuid.to_owned(), name.to_owned()));
        Ok(())
    }
    fn freeze_filesystems(&self, uuid: &str) -> Result<bool, HostError> {
        self.call("freeze_filesystems", uuid)?;
        Ok(true)
    }
    fn thaw_filesystems(&self, uuid: &str) -> Result<(), HostError> {
        self.call("thaw_filesystems", uuid)
    }
    /// Copies the domain's disk (the pool volume its XML names that holds
    /// text) into the target; an incremental job needs its checkpoint.
    fn begin_backup(&self, uuid: &str, job: &BackupJob) -> Result<(), HostError> {
        self.call("begin_backup", uuid)?;
        if self.power(uuid) != Some(Power::Running) {
            return Err(self.libvirt_error("backup begin"));
        }
        if let Some(since) = &job.since
            && !self.checkpoint_names(uuid).contains(since)
        {
            return Err(self.libvirt_error("backup begin"));
        }
        let target = self
            .volume_at(&job.target)
            .ok_or_else(|| self.libvirt_error("backup begin"))?;
        let xml = self.domain_xml(uuid).unwrap_or_default();
        let mut state = self.state();
        let disk = state
            .contents
            .iter()
            .find(|((pool, name), _)| {
                name.ends_with(".qcow2")
                    && state
                        .pools
                        .get(pool)
                        .is_some_and(|dir| xml.contains(&format!("{dir}/{name}")))
            })
            .map(|(_, text)| text.clone())
            .unwrap_or_default();
        state.contents.insert(target, disk);
        if let Some(name) = &job.checkpoint {
            state
                .checkpoints
                .entry(uuid.to_owned())
                .or_default()
                .push(name.clone());
        }
        let held = state.hold_jobs || state.stall_jobs;
        state.jobs.insert(uuid.to_owned(), held);
        Ok(())
    }
    fn backup_progress(&self, uuid: &str) -> Result<JobProgress, HostError> {
        self.call("backup_progress", uuid)?;
        if self.state().stall_jobs {
            while self.state().stall_jobs {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            return Err(self.libvirt_error("job stats"));
        }
        let mut state = self.state();
        if state.hold_jobs && state.jobs.get(uuid).copied().unwrap_or(false) {
            return Ok(JobProgress::Running {
                processed: 1,
                total: 2,
            });
        }
        state.jobs.insert(uuid.to_owned(), false);
        Ok(JobProgress::Idle)
    }
    fn abort_job(&self, uuid: &str) -> Result<(), HostError> {
        self.call("abort_job", uuid)?;
        self.state().jobs.insert(uuid.to_owned(), false);
        Ok(())
    }
    fn has_checkpoint(&self, uuid: &str, name: &str) -> Result<bool, HostError> {
        self.call("has_checkpoint", uuid)?;
        Ok(self.checkpoint_names(uuid).iter().any(|n| n == name))
    }
    fn delete_checkpoint(&self, uuid: &str, name: &str) -> Result<(), HostError> {
        self.call("delete_checkpoint", uuid)?;
        if let Some(list) = self.state().checkpoints.get_mut(uuid) {
            list.retain(|n| n != name);
        }
        Ok(())
    }
    fn delete_checkpoints(&self, uuid: &str, keep: Option<&str>) -> Result<(), HostError> {
        self.call("delete_checkpoints", uuid)?;
        if let Some(list) = self.state().checkpoints.get_mut(uuid) {
            list.retain(|n| keep == Some(n.as_str()));
        }
        Ok(())
    }
    fn copy_volume(
        &self,
        from_pool: &str,
        from: &str,
        to_pool: &str,
        to: &str,
        capacity_bytes: u64,
    ) -> Result<String, HostError> {
        self.call("copy_volume", to)?;
        let key = (from_pool.to_owned(), from.to_owned());
        if !self.state().volumes.contains_key(&key) {
            return Err(self.libvirt_error("volume copy"));
        }
        let text = self.volume_text(from_pool, from).unwrap_or_default();
        let path = self.create(to_pool, to, capacity_bytes)?;
        self.write_volume(to_pool, to, &text);
        Ok(path)
    }
    fn replace_volume_bytes(&self, pool: &str, from: &str, to: &str) -> Result<(), HostError> {
        self.call("replace_volume_bytes", to)?;
        let text = self
            .volume_text(pool, from)
            .ok_or_else(|| self.libvirt_error("volume download"))?;
        self.write_volume(pool, to, &text);
        Ok(())
    }
    fn volume_sha256(&self, pool: &str, name: &str) -> Result<Option<(String, u64)>, HostError> {
        use sha2::{Digest, Sha256};
        self.call("volume_sha256", name)?;
        let key = (pool.to_owned(), name.to_owned());
        if !self.state().volumes.contains_key(&key) {
            return Ok(None);
        }
        // What a test wrote into it, else the bytes uploaded into it.
        let bytes = match self.volume_text(pool, name) {
            Some(text) => text.into_bytes(),
            None => match self.uploaded(pool, name) {
                Some(bytes) => bytes,
                None => return Ok(None),
            },
        };
        Ok(Some((
            hex::encode(Sha256::digest(&bytes)),
            bytes.len() as u64,
        )))
    }
    fn pool_space(&self, pool: &str) -> Result<(u64, u64), HostError> {
        self.call("pool_space", pool)?;
        Ok((50 << 30, 100 << 30))
    }
    /// A running domain's line leads to a fake guest that echoes
    /// (`fake_console`); the host counts the lines it opened.
    fn open_console(&self, uuid: &str) -> Result<Box<dyn ConsoleLine>, HostError> {
        self.call("open_console", uuid)?;
        match self.state().domains.get(uuid) {
            Some(d) if d.power == Power::Running => {}
            Some(_) => {
                return Err(HostError::Unsupported(
                    "open the console of a stopped guest",
                ));
            }
            None => return Err(HostError::NoDomain(uuid.to_owned())),
        }
        Ok(Box::new(super::fake_console::FakeLine::open()?))
    }
    /// Every running guest has used half its one vCPU, written 4 KiB and
    /// received 1 KB each second since the host was made, and uses half
    /// of its 1 GiB.
    fn domain_usage(&self) -> Result<Vec<DomainUsage>, HostError> {
        self.call("domain_usage", "")?;
        let seconds = self.born.elapsed().as_secs_f64();
        let state = self.state();
        let running = state
            .domains
            .iter()
            .filter(|(_, d)| d.power == Power::Running);
        Ok(running
            .map(|(uuid, _)| DomainUsage {
                uuid: uuid.clone(),
                cpu_ns: (seconds * 0.5e9) as u64,
                vcpus: 1,
                memory_bytes: 1 << 30,
                memory_used_bytes: Some(1 << 29),
                resident_bytes: 1 << 30,
                disk_read_bytes: 0,
                disk_write_bytes: (seconds * 4096.0) as u64,
                net_rx_bytes: (seconds * 1000.0) as u64,
                net_tx_bytes: 0,
            })
            .collect())
    }
    /// The machine as its guests (`domain_usage`) make it: each running
    /// one keeps half a CPU busy and uses its 1 GiB; the pool is half full
    /// (`pool_space`).
    fn host_usage(&self, pool: &str) -> Result<HostUsage, HostError> {
        self.call("host_usage", pool)?;
        let seconds = self.born.elapsed().as_secs_f64();
        let capacity = self.capacity_now();
        let state = self.state();
        let running = state
            .domains
            .values()
            .filter(|d| d.power == Power::Running)
            .count() as u64;
        Ok(HostUsage {
            cpu_busy_ns: (seconds * 0.5e9) as u64 * running,
            cpu_total_ns: (seconds * 1e9) as u64 * u64::from(capacity.cpus),
            memory_bytes: capacity.memory_mib << 20,
            memory_used_bytes: running << 30,
            storage_used_bytes: 50 << 30,
            storage_bytes: 100 << 30,
        })
    }
    /// What a test wrote into the volume (`write_volume`), else what was
    /// uploaded into it, else nothing: its end.
    /// A running domain's display leads to a fake VNC server that sends
    /// RFB's greeting and echoes (`fake_console::fake_display`).
    fn open_graphics(&self, uuid: &str) -> Result<std::os::unix::net::UnixStream, HostError> {
        self.call("open_graphics", uuid)?;
        match self.state().domains.get(uuid) {
            Some(d) if d.power == Power::Running => {}
            Some(_) => {
                return Err(HostError::Unsupported(
                    "show the display of a stopped guest",
                ));
            }
            None => return Err(HostError::NoDomain(uuid.to_owned())),
        }
        super::fake_console::fake_display()
    }
    fn volume_tail(&self, pool: &str, name: &str, max: u64) -> Result<Option<Vec<u8>>, HostError> {
        self.call("volume_tail", name)?;
        let state = self.state();
        let key = (pool.to_owned(), name.to_owned());
        let bytes = match (state.contents.get(&key), state.uploads.get(&key)) {
            (Some(text), _) => text.as_bytes().to_vec(),
            (None, Some(uploaded)) => uploaded.clone(),
            (None, None) if state.volumes.contains_key(&key) => Vec::new(),
            (None, None) => return Ok(None),
        };
        Ok(Some(
            bytes[bytes.len().saturating_sub(max as usize)..].to_vec(),
        ))
    }
    /// As libvirt's migration ends: the domain defined there from
    /// `dest_xml`, running if it is to run on, and gone here. Like libvirt, it
    /// refuses a domain with internal snapshots or checkpoints, and
    /// needs the destination's overlay made first.
    fn migrate(
        &self,
        uuid: &str,
        dest: &dyn Hypervisor,
        plan: &Migration,
    ) -> Result<(), HostError> {
        self.call("migrate", uuid)?;
        let dest = dest
            .as_any()
            .downcast_ref::<FakeHost>()
            .expect("fake hosts migrate to fake hosts");
        {
            let state = self.state();
            state
                .domains
                .get(uuid)
                .ok_or_else(|| HostError::NoDomain(uuid.to_owned()))?;
            let has_snapshots = state.snapshots.keys().any(|(u, _)| u == uuid);
            let has_checkpoints = state.checkpoints.get(uuid).is_some_and(|c| !c.is_empty());
            if has_snapshots || has_checkpoints {
                return Err(self.libvirt_error("domain migrate"));
            }
        }
        for disk in &plan.disks {
            assert!(
                plan.dest_xml.contains(&format!("dev=\"{disk}\"")),
                "the disk to copy is the destination's: {}",
                plan.dest_xml
            );
        }
        dest.call("migrate_in", uuid)?;
        dest.define_domain(&plan.dest_xml)?;
        if plan.keep_running {
            dest.set_power(uuid, Power::Running)?;
        }
        let mut state = self.state();
        state.domains.remove(uuid);
        Ok(())
    }
    fn migration_uri(&self) -> Result<String, HostError> {
        self.call("migration_uri", "")?;
        Ok(format!("tcp://{}", self.uri))
    }
    fn job_progress(&self, uuid: &str) -> Result<JobProgress, HostError> {
        self.call("job_progress", uuid)?;
        Ok(JobProgress::Idle)
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    fn relabel_domain(&self, uuid: &str, title: &str, metadata: &str) -> Result<(), HostError> {
        self.call("relabel_domain", uuid)?;
        let mut state = self.state();
        if !state.domains.contains_key(uuid) {
            return Err(HostError::NoDomain(uuid.to_owned()));
        }
        assert!(
            metadata.contains(uuid),
            "metadata names the instance: {metadata}"
        );
        let relabelled = DpeInstanceRead::parse(metadata).expect("dpe's metadata element");
        if let Some(domain) = state.domains.get_mut(uuid) {
            domain.dpe = Some(relabelled);
        }
        state.titles.insert(uuid.to_owned(), title.to_owned());
        Ok(())
    }
}

/// Hands out one fake host per URI, kept across connections (and across
/// a test app's restart, which keeps its connector).
#[derive(Default)]
pub struct FakeConnector {
    hosts: Mutex<HashMap<String, Arc<FakeHost>>>,
}

impl FakeConnector {
    /// The fake host at `uri` (made on first use).
    pub fn host(&self, uri: &str) -> Arc<FakeHost> {
        let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        hosts
            .entry(uri.to_owned())
            .or_insert_with(|| Arc::new(FakeHost::new(uri)))
            .clone()
    }
}

impl Connector for FakeConnector {
    fn connect(&self, uri: &str) -> Result<Arc<dyn Hypervisor>, HostError> {
        Ok(self.host(uri))
    }
}
