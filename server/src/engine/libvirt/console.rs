//! A domain's serial console as libvirt hands it out: a stream
//! (virDomainOpenConsole) that works over remote connections too; and
//! the end of the console's log, read the same way, since the stream
//! starts with what the guest writes next.

use std::sync::atomic::{AtomicBool, Ordering};

use virt::stream::Stream;

use super::LibvirtHost;
use crate::engine::hypervisor::{ConsoleLine, HostError};

/// One open console stream. Reads block (the stream is a blocking one);
/// another thread may write or close meanwhile, which libvirt's remote
/// client allows.
pub struct LibvirtConsole {
    uri: String,
    stream: Stream,
    closed: AtomicBool,
}

impl LibvirtHost {
    pub(super) fn console(&self, uuid: &str) -> Result<LibvirtConsole, HostError> {
        let dom = self
            .domain(uuid)?
            .ok_or_else(|| HostError::NoDomain(uuid.to_owned()))?;
        let stream = Stream::new(&self.conn, 0).map_err(self.err("stream"))?;
        // FORCE: a stream an earlier dpe process left open (libvirtd has
        // not noticed it is gone) must not lock the owner out. The engine
        // itself holds one stream per domain.
        dom.open_console(None, &stream, virt::sys::VIR_DOMAIN_CONSOLE_FORCE)
            .map_err(self.err("domain console"))?;
        Ok(LibvirtConsole {
            uri: self.uri.clone(),
            stream,
            closed: AtomicBool::new(false),
        })
    }

    /// The last `max` bytes of volume `name`'s file (all of it when
    /// shorter), downloaded through libvirt: a remote host's too.
    pub(super) fn tail(
        &self,
        pool: &str,
        name: &str,
        max: u64,
    ) -> Result<Option<Vec<u8>>, HostError> {
        let pool = self.pool(pool)?;
        // A file QEMU writes (the console log) is a volume only once the
        // pool has looked at its folder again.
        self.refresh(&pool)?;
        let Some(vol) = self.vol(&pool, name)? else {
            return Ok(None);
        };
        // A raw file's capacity is its length.
        let len = vol.get_info().map_err(self.err("volume info"))?.capacity;
        let from = len.saturating_sub(max);
        if from == len {
            return Ok(Some(Vec::new()));
        }
        let mut bytes = Vec::with_capacity((len - from) as usize);
        self.download_range(&vol, from, len - from, &mut bytes)?;
        Ok(Some(bytes))
    }
}

impl LibvirtConsole {
    fn err(&self, call: &'static str, source: virt::error::Error) -> HostError {
        HostError::Libvirt {
            uri: self.uri.clone(),
            call,
            source,
        }
    }
}

impl ConsoleLine for LibvirtConsole {
    fn read(&self, buf: &mut [u8]) -> Result<usize, HostError> {
        match self.stream.recv(buf) {
            Ok(n) => Ok(n),
            // An aborted stream fails its pending read: that is its end.
            Err(_) if self.closed.load(Ordering::Acquire) => Ok(0),
            Err(e) => Err(self.err("console read", e)),
        }
    }

    fn write(&self, bytes: &[u8]) -> Result<(), HostError> {
        let mut off = 0;
        while off < bytes.len() {
            off += self
                .stream
                .send(&bytes[off..])
                .map_err(|e| self.err("console write", e))?;
        }
        Ok(())
    }

    fn close(&self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            // `Stream::abort` takes the stream by value, but a reader
            // thread still holds it: abort through the pointer, which
            // stays valid until the stream is dropped (freed).
            // SAFETY: the pointer is the live stream's own.
            unsafe { virt::sys::virStreamAbort(self.stream.as_ptr()) };
        }
    }
}
