//! How the engine opens a connection to a host: through a `Connector`, so
//! that tests can hand it hosts of their own. In production that is
//! libvirt, and a `test:` URI (offered to users only with
//! `allow_test_driver`) gets libvirt's test driver, with its limits.

use std::sync::Arc;

use super::hypervisor::{HostError, Hypervisor};
use super::libvirt::LibvirtHost;
use super::libvirt::test_driver::{self, TestDriverHost};
use crate::host_credentials::HostCredentials;

/// Opens connections to hosts.
pub trait Connector: Send + Sync {
    /// A new connection to the host at `uri`; blocking.
    fn connect(&self, uri: &str) -> Result<Arc<dyn Hypervisor>, HostError>;
}

/// Connects through libvirt, remote hosts with dpe's own credentials.
#[derive(Clone, Debug)]
pub struct LibvirtConnector {
    credentials: HostCredentials,
}

impl LibvirtConnector {
    pub fn new(credentials: HostCredentials) -> LibvirtConnector {
        LibvirtConnector { credentials }
    }
}

impl Connector for LibvirtConnector {
    fn connect(&self, uri: &str) -> Result<Arc<dyn Hypervisor>, HostError> {
        let host = LibvirtHost::open(uri, &self.credentials.open_uri(uri))?;
        Ok(match test_driver::is_test_driver(uri) {
            true => Arc::new(TestDriverHost::new(host)),
            false => Arc::new(host),
        })
    }
}
