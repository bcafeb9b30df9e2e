//! The steps on a guest's domain: define it, power it on and off, and
//! undefine it; and the last step of a delete, which forgets the record.
//! Undoing a define undefines; undoing a start pulls the plug.

use std::path::Path;
use std::time::{Duration, Instant};

use app::model::{Acceleration, Power};

use super::super::EngineError;
use super::super::definition::{DomainInputs, domain_xml};
use super::super::golden::GoldenVolumes;
use super::super::guest::Guest;
use super::super::hypervisor::Hypervisor;
use super::super::runtime::Engine;
use super::super::volumes::InstanceVolumes;
use crate::blocking::run_blocking;
use crate::store::hosts::HostRow;
use crate::store::instances;

/// How often a shutdown looks whether the guest is off yet.
const POLL: Duration = Duration::from_millis(500);

impl Engine {
    /// The define step: the domain, from XML (defining again replaces it).
    pub(in crate::engine) async fn define(&self, guest: &Guest) -> Result<(), EngineError> {
        let (host, row) = self.host_for(guest).await?;
        let golden = self
            .golden(host.clone(), row.storage_dir.clone(), guest)
            .await?;
        let inputs = self.definition_inputs(guest, &row, golden);
        run_blocking(move || {
            let accel = host.acceleration()?;
            host.define_domain(&inputs.xml_on(host.as_ref(), accel)?)?;
            Ok(())
        })
        .await
    }

    /// What the guest's definition on host `row` is built from.
    pub(in crate::engine) fn definition_inputs(
        &self,
        guest: &Guest,
        row: &HostRow,
        golden: GoldenVolumes,
    ) -> Definition {
        Definition {
            appliance: self.appliance_id.clone(),
            pool: self.config.storage_pool.clone(),
            storage_dir: row.storage_dir.clone(),
            cmdline: self.stack.manifest.image.cmdline.clone(),
            guest: guest.clone(),
            golden,
        }
    }

    /// The start step (and a start action); a paused domain is resumed.
    pub(in crate::engine) async fn start(&self, guest: &Guest) -> Result<(), EngineError> {
        self.on_host(guest, |h, u| h.start_domain(u)).await
    }

    /// Presses the ACPI power button.
    pub(in crate::engine) async fn shutdown(&self, guest: &Guest) -> Result<(), EngineError> {
        self.on_host(guest, |h, u| h.shutdown_domain(u)).await
    }

    /// Waits for the guest to power off; pulls the plug after the timeout.
    pub(in crate::engine) async fn wait_off(&self, guest: &Guest) -> Result<(), EngineError> {
        let deadline = Instant::now() + self.config.shutdown_timeout;
        loop {
            let power = self.on_host(guest, |h, u| h.domain_power(u)).await?;
            if matches!(power, None | Some(Power::ShutOff)) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                tracing::warn!(
                    guest = guest.name,
                    "guest ignored the power button; forcing it off"
                );
                return self.on_host(guest, |h, u| h.destroy_domain(u)).await;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    pub(in crate::engine) async fn reboot(&self, guest: &Guest) -> Result<(), EngineError> {
        self.on_host(guest, |h, u| h.reboot_domain(u)).await
    }

    /// Pulls the plug (also the undo of a start); an unplaced instance has
    /// nothing to power off.
    pub(in crate::engine) async fn power_off(&self, guest: &Guest) -> Result<(), EngineError> {
        if guest.host_id.is_none() {
            return Ok(());
        }
        self.on_host(guest, |h, u| h.destroy_domain(u)).await
    }

    /// Removes the domain (also the undo of a define).
    pub(in crate::engine) async fn undefine(&self, guest: &Guest) -> Result<(), EngineError> {
        if guest.host_id.is_none() {
            return Ok(());
        }
        self.on_host(guest, |h, u| h.undefine_domain(u)).await
    }

    /// The last step of a delete: the instance's record goes.
    pub(in crate::engine) async fn forget(&self, instance_id: i64) -> Result<(), EngineError> {
        self.store
            .write(move |tx| instances::delete(tx, instance_id))
            .await?;
        Ok(())
    }
}

/// A guest's domain definition on one host, before the host is asked
/// where its volumes are (a blocking call).
pub(in crate::engine) struct Definition {
    appliance: String,
    pool: String,
    storage_dir: String,
    cmdline: Option<String>,
    guest: Guest,
    golden: GoldenVolumes,
}

impl Definition {
    /// The domain XML on `host` (whose volumes it names), for a guest of
    /// acceleration `accel`.
    pub(in crate::engine) fn xml_on(
        &self,
        host: &dyn Hypervisor,
        accel: Acceleration,
    ) -> Result<String, EngineError> {
        let volumes = InstanceVolumes::of(&self.guest.volume_stem);
        let disk = host
            .volume_path(&self.pool, &volumes.disk)?
            .ok_or_else(|| EngineError::VolumeMissing(volumes.disk.clone()))?;
        let seed = host
            .volume_path(&self.pool, &volumes.seed)?
            .ok_or_else(|| EngineError::VolumeMissing(volumes.seed.clone()))?;
        let console = Path::new(&self.storage_dir)
            .join(&volumes.console_log)
            .display()
            .to_string();
        domain_xml(&DomainInputs {
            appliance: &self.appliance,
            guest: &self.guest,
            accel,
            golden: &self.golden,
            disk: &disk,
            seed: &seed,
            console: &console,
            cmdline: self.cmdline.as_deref(),
        })
    }
}
