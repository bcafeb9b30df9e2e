//! A domain's display as libvirt hands it out: QEMU's VNC server listens
//! nowhere (`<listen type='none'/>`), so no TCP port and no password
//! exist on the host; libvirt makes a socket pair, gives QEMU one end
//! (virDomainOpenGraphicsFD) and dpe the other. Passing a descriptor
//! needs a local connection: a host reached over the network has none.

use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

use super::LibvirtHost;
use crate::engine::hypervisor::HostError;

impl LibvirtHost {
    pub(super) fn graphics(&self, uuid: &str) -> Result<UnixStream, HostError> {
        if !is_local(&self.uri) {
            return Err(HostError::Unsupported(
                "show the display of a guest on a host reached over the network",
            ));
        }
        let dom = self
            .domain(uuid)?
            .ok_or_else(|| HostError::NoDomain(uuid.to_owned()))?;
        // Display 0, the only one dpe defines. Without SKIPAUTH: there is
        // no password to skip.
        let fd = dom
            .open_graphics_fd(0, 0)
            .map_err(self.err("domain graphics"))?;
        // SAFETY: libvirt hands the descriptor over; nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        Ok(UnixStream::from(fd))
    }
}

/// Whether `uri` reaches libvirtd through a local socket (no host part):
/// only such a connection can pass descriptors.
fn is_local(uri: &str) -> bool {
    match reqwest::Url::parse(uri) {
        Ok(url) => url.host_str().is_none_or(str::is_empty),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_host_without_a_network_address_can_hand_out_its_guests_display() {
        assert!(is_local("qemu:///system"));
        assert!(is_local("qemu+unix:///system?socket=/run/x/libvirt-sock"));
        assert!(!is_local("qemu+tls://198.18.3.2/system"));
        assert!(!is_local("qemu+ssh://root@10.0.0.5/system"));
        assert!(!is_local("not a uri"));
    }
}
