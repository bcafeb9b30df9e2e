//! How the engine opens a connection to a host: through a `Connector`, so
//! that tests can hand it hosts of their own. In production that is
//! libvirt, and a `test:` URI (offered to users only with
//! `allow_test_driver`) gets libvirt's test driver, with its limits.

use std::sync::Arc;

use super::hypervisor::{HostError, Hypervisor};
use super::libvirt::LibvirtHost;
use super::libvirt::test_driver::{self, TestDriverHost};

/// Opens connections to hosts.
pub trait Connector: Send + Sync {
    /// A new connection to the host at `uri`; blocking.
    fn connect(&self, uri: &str) -> Result<Arc<dyn Hypervisor>, HostError>;
}

/// Connects through libvirt.
#[derive(Clone, Copy, Debug, Default)]
pub struct LibvirtConnector;

impl Connector for LibvirtConnector {
    fn connect(&self, uri: &str) -> Result<Arc<dyn Hypervisor>, HostError> {
        let host = LibvirtHost::connect(uri)?;
        Ok(match test_driver::is_test_driver(uri) {
            true => Arc::new(TestDriverHost::new(host)),
            false => Arc::new(host),
        })
    }
}
