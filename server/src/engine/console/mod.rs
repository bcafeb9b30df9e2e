//! The serial consoles of running guests: one libvirt console stream per
//! domain (a second open would take the line over), shared by every
//! viewer through its broker (`broker.rs`).

pub(super) mod broker;

use std::sync::Arc;

pub use self::broker::{ConsoleOutput, ConsoleViewer, SCROLLBACK_BYTES};
use super::EngineError;
use super::hypervisor::Hypervisor;
use super::runtime::Engine;
use crate::blocking::run_blocking;

impl Engine {
    /// A viewer of the serial console of domain `uuid` on host `host_id`:
    /// of its open line if there is one, else of a line opened now.
    pub async fn console(&self, host_id: i64, uuid: &str) -> Result<ConsoleViewer, EngineError> {
        let opened = async {
            let host: Arc<dyn Hypervisor> = self.connect(host_id).await?;
            let uuid = uuid.to_owned();
            Ok(run_blocking(move || host.open_console(&uuid)).await?)
        };
        self.consoles.viewer(uuid, opened).await
    }
}
