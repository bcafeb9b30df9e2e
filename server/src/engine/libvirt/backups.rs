//! Backups through libvirt's backup API: push-mode jobs that take a
//! checkpoint (a persistent dirty bitmap in the disk) with each backup,
//! so that the next copies only what changed since. The `virt` crate
//! wraps neither jobs of this kind nor checkpoints: the calls here use
//! libvirt's C API, each with its pointers freed where it ends. The
//! volumes' copies and checksums go through storage streams, so they
//! work on remote hosts too.

use std::ffi::CString;
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
    fn lookup(dom: &Domain, name: &str) -> Result<Option<CheckpointHandle>, Error> {
        let name = CString::new(name).expect("checkpoint names are dpe's, without NUL");
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

    /// Deletes the checkpoint, merging its bitmap into its parent's.
    fn delete(&self) -> Result<(), Error> {
        // SAFETY: a valid handle.
        if unsafe { virt::sys::virDomainCheckpointDelete(self.0, 0) } < 0 {
            return Err(Error::last_error());
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
        let checkpoint = to_xml(&Checkpoint::of(job)).map_err(HostError::Xml)?;
        let backup = CString::new(backup).expect("XML has no NUL");
        let checkpoint = CString::new(checkpoint).expect("XML has no NUL");
        // REUSE_EXTERNAL: the target is the volume dpe made (and, for an
        // incremental copy, gave the previous backup as backing), so that
        // the backups form a qcow2 chain a restore reads through.
        // SAFETY: a valid domain and two NUL-terminated documents.
        let rc = unsafe {
            virt::sys::virDomainBackupBegin(
                dom.as_ptr(),
                backup.as_ptr(),
                checkpoint.as_ptr(),
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
        let now = dom.get_job_stats(0).map_err(self.err("job stats"))?;
        if now.r#type != virt::sys::VIR_DOMAIN_JOB_NONE as i32 {
            return Ok(JobProgress::Running {
                processed: now.data_processed.unwrap_or(0),
                total: now.data_total.unwrap_or(0),
            });
        }
        let done = dom
            .get_job_stats(virt::sys::VIR_DOMAIN_JOB_STATS_COMPLETED)
            .map_err(self.err("job stats"))?;
        match done.r#type as u32 {
            virt::sys::VIR_DOMAIN_JOB_FAILED | virt::sys::VIR_DOMAIN_JOB_CANCELLED => {
                Err(HostError::BackupJob {
                    uuid: uuid.to_owned(),
                    reason: done.error_message.unwrap_or_else(|| "cancelled".to_owned()),
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
        CheckpointHandle::lookup(&dom, name)
            .map(|c| c.is_some())
            .map_err(self.err("checkpoint lookup"))
    }

    pub(super) fn remove_checkpoint(&self, uuid: &str, name: &str) -> Result<(), HostError> {
        let Some(dom) = self.domain(uuid)? else {
            return Ok(());
        };
        match CheckpointHandle::lookup(&dom, name).map_err(self.err("checkpoint lookup"))? {
            Some(checkpoint) => checkpoint.delete().map_err(self.err("checkpoint delete")),
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
        for checkpoint in CheckpointHandle::all(&dom).map_err(self.err("list checkpoints"))? {
            if keep != Some(checkpoint.name().as_str()) {
                checkpoint.delete().map_err(self.err("checkpoint delete"))?;
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

    fn vol(&self, pool: &StoragePool, name: &str) -> Result<Option<StorageVol>, HostError> {
        match StorageVol::lookup_by_name(pool, name) {
            Ok(v) => Ok(Some(v)),
            Err(e) if is(&e, ErrorNumber::NoStorageVolume) => Ok(None),
            Err(e) => Err(self.err("volume lookup")(e)),
        }
    }

    /// Reads the whole file of `vol` into `sink`; the bytes read.
    fn download(&self, vol: &StorageVol, sink: &mut dyn Write) -> Result<u64, HostError> {
        let stream = Stream::new(&self.conn, 0).map_err(self.err("stream"))?;
        vol.download(&stream, 0, 0, 0)
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
        pool.refresh(0).map_err(self.err("storage pool refresh"))?;
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
