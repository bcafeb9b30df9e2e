//! Backups through libvirt's backup API: push-mode jobs that take a
//! checkpoint (a persistent dirty bitmap in the disk) with each backup,
//! so that the next copies only what changed since. The `virt` crate
//! wraps neither jobs of this kind nor checkpoints: the calls here use
//! libvirt's C API, each with its pointers freed where it ends. The
//! volumes' copies and checksums go through storage streams, so they
//! work on remote hosts too.

use std::ffi::{CStr, CString};
use std::io::{Read, Seek, SeekFrom, Write};

use sha2::{Digest, Sha256};
use virt::domain::Domain;
use virt::error::{Error, ErrorNumber};
use virt::storage_pool::StoragePool;
use virt::storage_vol::StorageVol;
use virt::stream::Stream;

use super::{LibvirtHost, is};
use crate::engine::hypervisor::{BackupJob, HostError, JobProgress};
use crate::engine::xml::backup::{Checkpoint, PushBackup};
use crate::engine::xml::storage::Volume;
use crate::engine::xml::to_xml;

/// One checkpoint handle, freed when dropped.
struct CheckpointHandle(virt::sys::virDomainCheckpointPtr);

impl Drop for CheckpointHandle {
    fn drop(&mut self) {
        // SAFETY: a handle libvirt gave us, freed once.
        unsafe { virt::sys::virDomainCheckpointFree(self.0) };
    }
}

impl CheckpointHandle {
    fn lookup(dom: &Domain, name: &CStr) -> Result<Option<CheckpointHandle>, Error> {
        // SAFETY: a valid domain and a NUL-terminated name.
        let ptr =
            unsafe { virt::sys::virDomainCheckpointLookupByName(dom.as_ptr(), name.as_ptr(), 0) };
        if ptr.is_null() {
            let e = Error::last_error();
            return if is(&e, ErrorNumber::NoDomainCheckpoint) {
                Ok(None)
            } else {
                Err(e)
            };
        }
        Ok(Some(CheckpointHandle(ptr)))
    }

    fn all(dom: &Domain) -> Result<Vec<CheckpointHandle>, Error> {
        let mut array: *mut virt::sys::virDomainCheckpointPtr = std::ptr::null_mut();
        // SAFETY: a valid domain and an out-pointer libvirt fills with an
        // array it allocates.
        let count = unsafe { virt::sys::virDomainListAllCheckpoints(dom.as_ptr(), &mut array, 0) };
        if count < 0 {
            return Err(Error::last_error());
        }
        let mut out = Vec::with_capacity(count as usize);
        for i in 0..count as usize {
            // SAFETY: libvirt returned `count` valid handles; each is freed
            // once by its wrapper.
            out.push(CheckpointHandle(unsafe { *array.add(i) }));
        }
        if !array.is_null() {
            // SAFETY: the array itself was allocated by libvirt with malloc.
            unsafe { libc::free(array.cast()) };
        }
        Ok(out)
    }

    fn name(&self) -> String {
        // SAFETY: a valid handle; the name lives as long as it.
        let ptr = unsafe { virt::sys::virDomainCheckpointGetName(self.0) };
        if ptr.is_null() {
            return String::new();
        }
        // SAFETY: libvirt's NUL-terminated string, copied at once.
        unsafe { std::ffi::CStr::from_ptr(ptr) }
            .to_string_lossy()
            .into_owned()
    }

    /// Deletes the checkpoint, merging its bitmap into its parent's; of a
    /// domain that is off, only libvirt's record (QEMU, which edits the
    /// bitmaps, is not there): a bitmap left in the disk costs nothing
    /// but its tracking, and no checkpoint names it any more.
    fn delete(&self, running: bool) -> Result<(), Error> {
        let flags = if running {
            0
        } else {
            virt::sys::VIR_DOMAIN_CHECKPOINT_DELETE_METADATA_ONLY
        };
        // SAFETY: a valid handle.
        if unsafe { virt::sys::virDomainCheckpointDelete(self.0, flags) } < 0 {
            let e = Error::last_error();
            // A bitmap already gone from the disk (a crash, a repair by
            // hand): the checkpoint is broken; its record goes all the same.
            if flags == 0 {
                // SAFETY: as above.
                let again = unsafe {
                    virt::sys::virDomainCheckpointDelete(
                        self.0,
                        virt::sys::VIR_DOMAIN_CHECKPOINT_DELETE_METADATA_ONLY,
                    )
                };
                if again == 0 {
                    tracing::warn!(error = %e, "a checkpoint without its bitmap was forgotten");
                    return Ok(());
                }
            }
            return Err(e);
        }
        Ok(())
    }
}

impl LibvirtHost {
    fn running_domain(&self, uuid: &str) -> Result<Domain, HostError> {
        self.domain(uuid)?
            .ok_or_else(|| HostError::NoDomain(uuid.to_owned()))
    }

    pub(super) fn freeze(&self, uuid: &str) -> Result<bool, HostError> {
        let dom = self.running_domain(uuid)?;
        // SAFETY: a valid domain; no mount point list (all of them).
        let frozen =
            unsafe { virt::sys::virDomainFSFreeze(dom.as_ptr(), std::ptr::null_mut(), 0, 0) };
        if frozen < 0 {
            // No agent, or one that cannot freeze: a crash-consistent copy.
            let e = Error::last_error();
            tracing::debug!(uuid, error = %e, "the guest's filesystems cannot be frozen");
            return Ok(false);
        }
        Ok(true)
    }

    pub(super) fn thaw(&self, uuid: &str) -> Result<(), HostError> {
        let dom = self.running_domain(uuid)?;
        // SAFETY: a valid domain; no mount point list (all of them).
        if unsafe { virt::sys::virDomainFSThaw(dom.as_ptr(), std::ptr::null_mut(), 0, 0) } < 0 {
            return Err(self.err("filesystem thaw")(Error::last_error()));
        }
        Ok(())
    }

    pub(super) fn backup_begin(&self, uuid: &str, job: &BackupJob) -> Result<(), HostError> {
        let dom = self.running_domain(uuid)?;
        let backup = to_xml(&PushBackup::of(job)).map_err(HostError::Xml)?;
        let checkpoint = Checkpoint::of(job)
            .map(|c| to_xml(&c).map_err(HostError::Xml))
            .transpose()?
            .map(CString::new)
            .transpose()
            .map_err(HostError::Nul)?;
        let backup = CString::new(backup).map_err(HostError::Nul)?;
        // REUSE_EXTERNAL: the target is the volume dpe made (and, for an
        // incremental copy, gave the previous backup as backing), so that
        // the backups form a qcow2 chain a restore reads through.
        // SAFETY: a valid domain, a NUL-terminated document and another or
        // null (no checkpoint).
        let rc = unsafe {
            virt::sys::virDomainBackupBegin(
                dom.as_ptr(),
                backup.as_ptr(),
                checkpoint.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()),
                virt::sys::VIR_DOMAIN_BACKUP_BEGIN_REUSE_EXTERNAL,
            )
        };
        if rc < 0 {
            return Err(self.err("backup begin")(Error::last_error()));
        }
        Ok(())
    }

    pub(super) fn backup_state(&self, uuid: &str) -> Result<JobProgress, HostError> {
        let dom = self.running_domain(uuid)?;
        let now = JobStats::of(&dom, 0).map_err(self.err("job stats"))?;
        if now.kind != virt::sys::VIR_DOMAIN_JOB_NONE as i32 {
            return Ok(JobProgress::Running {
                processed: now.processed,
                total: now.total,
            });
        }
        let done = JobStats::of(&dom, virt::sys::VIR_DOMAIN_JOB_STATS_COMPLETED)
            .map_err(self.err("job stats"))?;
        match done.kind as u32 {
            virt::sys::VIR_DOMAIN_JOB_FAILED | virt::sys::VIR_DOMAIN_JOB_CANCELLED => {
                Err(HostError::BackupJob {
                    uuid: uuid.to_owned(),
                    reason: done.error.unwrap_or_else(|| "cancelled".to_owned()),
                })
            }
            _ => Ok(JobProgress::Idle),
        }
    }

    pub(super) fn abort(&self, uuid: &str) -> Result<(), HostError> {
        let Some(dom) = self.domain(uuid)? else {
            return Ok(());
        };
        // SAFETY: a valid domain.
        if unsafe { virt::sys::virDomainAbortJob(dom.as_ptr()) } < 0 {
            let e = Error::last_error();
            // No job, or a domain that is not running: nothing to abort.
            if is(&e, ErrorNumber::OperationInvalid) || is(&e, ErrorNumber::NoDomainBackup) {
                return Ok(());
            }
            return Err(self.err("abort job")(e));
        }
        Ok(())
    }

    pub(super) fn checkpoint_exists(&self, uuid: &str, name: &str) -> Result<bool, HostError> {
        let Some(dom) = self.domain(uuid)? else {
            return Ok(false);
        };
        let name = CString::new(name).map_err(HostError::Nul)?;
        CheckpointHandle::lookup(&dom, &name)
            .map(|c| c.is_some())
            .map_err(self.err("checkpoint lookup"))
    }

    pub(super) fn remove_checkpoint(&self, uuid: &str, name: &str) -> Result<(), HostError> {
        let Some(dom) = self.domain(uuid)? else {
            return Ok(());
        };
        let running = dom.is_active().map_err(self.err("domain state"))?;
        let name = CString::new(name).map_err(HostError::Nul)?;
        match CheckpointHandle::lookup(&dom, &name).map_err(self.err("checkpoint lookup"))? {
            Some(checkpoint) => checkpoint
                .delete(running)
                .map_err(self.err("checkpoint delete")),
            None => Ok(()),
        }
    }

    pub(super) fn remove_checkpoints(
        &self,
        uuid: &str,
        keep: Option<&str>,
    ) -> Result<(), HostError> {
        let Some(dom) = self.domain(uuid)? else {
            return Ok(());
        };
        let running = dom.is_active().map_err(self.err("domain state"))?;
        for checkpoint in CheckpointHandle::all(&dom).map_err(self.err("list checkpoints"))? {
            if keep != Some(checkpoint.name().as_str()) {
                checkpoint
                    .delete(running)
                    .map_err(self.err("checkpoint delete"))?;
            }
        }
        Ok(())
    }

    pub(super) fn clone_volume(
        &self,
        from_pool: &str,
        from: &str,
        to_pool: &str,
        to: &str,
        capacity_bytes: u64,
    ) -> Result<String, HostError> {
        let source = StorageVol::lookup_by_name(&self.pool(from_pool)?, from)
            .map_err(self.err("volume lookup"))?;
        let pool = self.pool(to_pool)?;
        let xml = to_xml(&Volume::new(to, "qcow2", capacity_bytes)).map_err(HostError::Xml)?;
        // libvirt copies with qemu-img convert, which reads the source
        // through its backing chain: the copy stands alone.
        let vol = StorageVol::create_xml_from(&pool, &xml, &source, 0)
            .map_err(self.err("volume copy"))?;
        self.path_of(&vol)
    }

    pub(super) fn vol(
        &self,
        pool: &StoragePool,
        name: &str,
    ) -> Result<Option<StorageVol>, HostError> {
        match StorageVol::lookup_by_name(pool, name) {
            Ok(v) => Ok(Some(v)),
            Err(e) if is(&e, ErrorNumber::NoStorageVolume) => Ok(None),
            Err(e) => Err(self.err("volume lookup")(e)),
        }
    }

    /// Reads the whole file of `vol` into `sink`; the bytes read.
    fn download(&self, vol: &StorageVol, sink: &mut dyn Write) -> Result<u64, HostError> {
        self.download_range(vol, 0, 0, sink)
    }

    /// Reads `length` bytes of the file of `vol` from `offset` (to its
    /// end when `length` is 0) into `sink`; the bytes read.
    pub(super) fn download_range(
        &self,
        vol: &StorageVol,
        offset: u64,
        length: u64,
        sink: &mut dyn Write,
    ) -> Result<u64, HostError> {
        let stream = Stream::new(&self.conn, 0).map_err(self.err("stream"))?;
        vol.download(&stream, offset, length, 0)
            .map_err(self.err("volume download"))?;
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        loop {
            let n = match stream.recv(&mut buf) {
                Ok(n) => n,
                Err(e) => {
                    let _ = stream.abort();
                    return Err(self.err("stream receive")(e));
                }
            };
            if n == 0 {
                break;
            }
            sink.write_all(&buf[..n]).map_err(HostError::Upload)?;
            total += n as u64;
        }
        stream.finish().map_err(self.err("stream finish"))?;
        Ok(total)
    }

    pub(super) fn checksum(
        &self,
        pool: &str,
        name: &str,
    ) -> Result<Option<(String, u64)>, HostError> {
        let pool = self.pool(pool)?;
        self.refresh(&pool)?;
        let Some(vol) = self.vol(&pool, name)? else {
            return Ok(None);
        };
        let mut hasher = HashWriter(Sha256::new());
        let len = self.download(&vol, &mut hasher)?;
        Ok(Some((hex::encode(hasher.0.finalize()), len)))
    }

    pub(super) fn replace_bytes(&self, pool: &str, from: &str, to: &str) -> Result<(), HostError> {
        let pool = self.pool(pool)?;
        let source = self
            .vol(&pool, from)?
            .ok_or_else(|| HostError::NoVolume(from.to_owned()))?;
        let target = self
            .vol(&pool, to)?
            .ok_or_else(|| HostError::NoVolume(to.to_owned()))?;
        // Through a temporary file of the appliance's: one stream at a
        // time on the connection, and the length known before the upload.
        let mut spool = tempfile::tempfile().map_err(HostError::Upload)?;
        let len = self.download(&source, &mut spool)?;
        spool.seek(SeekFrom::Start(0)).map_err(HostError::Upload)?;
        // A merged point is the larger file (it holds what its parent
        // did); were it shorter, qcow2 ignores bytes past its own tables.
        let stream = Stream::new(&self.conn, 0).map_err(self.err("stream"))?;
        target
            .upload(&stream, 0, len, 0)
            .map_err(self.err("volume upload"))?;
        let mut buf = vec![0u8; 1 << 20];
        let mut left = len;
        while left > 0 {
            let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            spool
                .read_exact(&mut buf[..want])
                .map_err(HostError::Upload)?;
            let mut off = 0;
            while off < want {
                match stream.send(&buf[off..want]) {
                    Ok(n) => off += n,
                    Err(e) => {
                        let _ = stream.abort();
                        return Err(self.err("stream send")(e));
                    }
                }
            }
            left -= want as u64;
        }
        stream.finish().map_err(self.err("stream finish"))
    }

    pub(super) fn space(&self, pool: &str) -> Result<(u64, u64), HostError> {
        let pool = self.pool(pool)?;
        let info = pool.get_info().map_err(self.err("storage pool info"))?;
        Ok((info.available, info.capacity))
    }
}

/// What `virDomainGetJobStats` tells of a domain's job. The `virt`
/// crate's wrapper reads libvirt's parameter array even when libvirt
/// answers none (a null pointer: no job), which aborts the process.
pub(super) struct JobStats {
    pub(super) kind: i32,
    pub(super) processed: u64,
    pub(super) total: u64,
    error: Option<String>,
}

impl JobStats {
    pub(super) fn of(dom: &Domain, flags: u32) -> Result<JobStats, Error> {
        let mut kind = 0;
        let mut params: virt::sys::virTypedParameterPtr = std::ptr::null_mut();
        let mut count = 0;
        // SAFETY: a valid domain and out-pointers libvirt fills; the array
        // it allocates (maybe none) is freed below, once.
        let rc = unsafe {
            virt::sys::virDomainGetJobStats(dom.as_ptr(), &mut kind, &mut params, &mut count, flags)
        };
        if rc < 0 {
            return Err(Error::last_error());
        }
        let number = |name: &CStr| {
            let mut value = 0u64;
            // SAFETY: the array and its length as libvirt gave them (a
            // null array with 0 finds nothing).
            let found = unsafe {
                virt::sys::virTypedParamsGetULLong(params, count, name.as_ptr(), &mut value)
            };
            if found == 1 { value } else { 0 }
        };
        let processed = number(c"disk_processed").max(number(c"data_processed"));
        let total = number(c"disk_total").max(number(c"data_total"));
        let error = {
            let name = c"errmsg";
            let mut text: *const std::os::raw::c_char = std::ptr::null();
            // SAFETY: as above; the string lives in the array until it is
            // freed, and is copied before.
            let found = unsafe {
                virt::sys::virTypedParamsGetString(params, count, name.as_ptr(), &mut text)
            };
            (found == 1 && !text.is_null()).then(|| {
                // SAFETY: a NUL-terminated string of libvirt's.
                unsafe { std::ffi::CStr::from_ptr(text) }
                    .to_string_lossy()
                    .into_owned()
            })
        };
        if !params.is_null() {
            // SAFETY: the array libvirt allocated, freed once.
            unsafe { virt::sys::virTypedParamsFree(params, count) };
        }
        Ok(JobStats {
            kind,
            processed,
            total,
            error,
        })
    }
}

/// A `Write` that hashes what it is given.
struct HashWriter(Sha256);

impl Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
