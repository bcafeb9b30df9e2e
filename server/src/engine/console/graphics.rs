//! The graphical console of running guests: a connection of its own per
//! viewer to the guest's VNC server (which shares its screen between
//! clients itself, so no broker is needed), handed out by the host.

use std::sync::Arc;

use tokio::net::UnixStream;

use super::super::EngineError;
use super::super::hypervisor::{HostError, Hypervisor};
use super::super::runtime::Engine;
use crate::blocking::run_blocking;

impl Engine {
    /// A connection to the display of domain `uuid` on host `host_id`:
    /// RFB both ways, as QEMU's VNC server speaks it.
    pub async fn graphics(&self, host_id: i64, uuid: &str) -> Result<UnixStream, EngineError> {
        let host: Arc<dyn Hypervisor> = self.connect(host_id).await?;
        let uuid = uuid.to_owned();
        let socket = run_blocking(move || Ok::<_, EngineError>(host.open_graphics(&uuid)?)).await?;
        socket
            .set_nonblocking(true)
            .map_err(HostError::DisplaySocket)?;
        Ok(UnixStream::from_std(socket).map_err(HostError::DisplaySocket)?)
    }
}
