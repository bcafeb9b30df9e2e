//! Internal snapshots of a domain's disks (and memory, when it runs):
//! qcow2 keeps them inside each disk, so they need no volumes of their
//! own and go with the disk.

use virt::domain_snapshot::DomainSnapshot;
use virt::error::ErrorNumber;

use super::{LibvirtHost, is};
use crate::engine::hypervisor::{HostError, Hypervisor};
use crate::engine::xml::snapshot::DomainSnapshot as SnapshotXml;
use crate::engine::xml::to_xml;

impl LibvirtHost {
    fn snapshot(&self, uuid: &str, name: &str) -> Result<Option<DomainSnapshot>, HostError> {
        let dom = self
            .domain(uuid)?
            .ok_or_else(|| HostError::NoDomain(uuid.to_owned()))?;
        match DomainSnapshot::lookup_by_name(&dom, name, 0) {
            Ok(snap) => Ok(Some(snap)),
            Err(e) if is(&e, ErrorNumber::NoDomainSnapshot) => Ok(None),
            Err(e) => Err(self.err("snapshot lookup")(e)),
        }
    }

    pub(super) fn take_snapshot(
        &self,
        uuid: &str,
        name: &str,
        description: &str,
    ) -> Result<bool, HostError> {
        let dom = self
            .domain(uuid)?
            .ok_or_else(|| HostError::NoDomain(uuid.to_owned()))?;
        let running = dom.is_active().map_err(self.err("domain state"))?;
        let xml = to_xml(&SnapshotXml { name, description }).map_err(HostError::Xml)?;
        // No flags: libvirt takes an internal snapshot of the qcow2 disks
        // (the read-only seed is left out), with the memory of a running
        // guest: a whole-system checkpoint, consistent without freezing
        // the guest's filesystems (it is paused while its state is saved).
        DomainSnapshot::create_xml(&dom, &xml, 0).map_err(self.err("snapshot create"))?;
        Ok(running)
    }

    pub(super) fn snapshot_exists(&self, uuid: &str, name: &str) -> Result<bool, HostError> {
        Ok(self.snapshot(uuid, name)?.is_some())
    }

    pub(super) fn revert_to(&self, uuid: &str, name: &str, running: bool) -> Result<(), HostError> {
        let snap = self
            .snapshot(uuid, name)?
            .ok_or_else(|| HostError::NoSnapshot(name.to_owned()))?;
        let flags = if running {
            virt::sys::VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING
        } else {
            0
        };
        snap.revert(flags).map_err(self.err("snapshot revert"))?;
        if !running {
            // A snapshot with memory comes back running: the instance was
            // off, so it stays off.
            self.destroy_domain(uuid)?;
        }
        Ok(())
    }

    pub(super) fn remove_snapshot(&self, uuid: &str, name: &str) -> Result<(), HostError> {
        let Some(dom) = self.domain(uuid)? else {
            return Ok(());
        };
        match DomainSnapshot::lookup_by_name(&dom, name, 0) {
            Ok(snap) => snap.delete(0).map_err(self.err("snapshot delete")),
            Err(e) if is(&e, ErrorNumber::NoDomainSnapshot) => Ok(()),
            Err(e) => Err(self.err("snapshot lookup")(e)),
        }
    }
}
