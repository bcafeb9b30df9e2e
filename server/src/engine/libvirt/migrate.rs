//! Moving a domain to another host: libvirt's migration driven by dpe
//! (neither libvirtd talks to the other; dpe holds both connections), with
//! the writable disks copied by QEMU over NBD. The destination's overlay
//! and seed are made by the engine first, so only the overlay's own
//! clusters travel.

use virt::domain::{Domain, MigrateParameters};
use virt::error::ErrorNumber;

use super::backups::JobStats;
use super::{LibvirtHost, is};
use crate::engine::hypervisor::{HostError, Hypervisor, JobProgress, Migration};

impl LibvirtHost {
    pub(super) fn migrate_to(
        &self,
        uuid: &str,
        dest: &dyn Hypervisor,
        plan: &Migration,
    ) -> Result<(), HostError> {
        let Some(dest) = dest.as_any().downcast_ref::<LibvirtHost>() else {
            return Err(HostError::Unsupported(
                "move a guest to a host of another kind",
            ));
        };
        let dom = self
            .domain(uuid)?
            .ok_or_else(|| HostError::NoDomain(uuid.to_owned()))?;
        let stopped = !plan.keep_running;
        let active = dom.is_active().map_err(self.err("domain state"))?;
        if stopped && !active {
            // QEMU copies the disks only from a live process: a stopped
            // guest is started with its CPUs halted, so nothing in it runs.
            dom.create_with_flags(virt::sys::VIR_DOMAIN_START_PAUSED)
                .map_err(self.err("domain start paused"))?;
        }
        let mut flags = virt::sys::VIR_MIGRATE_LIVE
            | virt::sys::VIR_MIGRATE_PERSIST_DEST
            | virt::sys::VIR_MIGRATE_UNDEFINE_SOURCE
            | virt::sys::VIR_MIGRATE_NON_SHARED_INC
            | virt::sys::VIR_MIGRATE_ABORT_ON_ERROR;
        if stopped {
            flags |= virt::sys::VIR_MIGRATE_PAUSED;
        }
        let params = MigrateParameters {
            dest_xml: Some(plan.dest_xml.clone()),
            persist_xml: Some(plan.dest_xml.clone()),
            uri: Some(plan.uri.clone()),
            migrate_disks: plan.disks.clone(),
            ..MigrateParameters::default()
        };
        let moved = match dom.migrate3(&dest.conn, params, flags) {
            Ok(moved) => moved,
            Err(e) => {
                if stopped {
                    // Back as it was: stopped, here.
                    let _ = dom.destroy();
                }
                return Err(self.err("domain migrate")(e));
            }
        };
        if stopped {
            destroy_quietly(&moved).map_err(dest.err("domain destroy"))?;
        }
        Ok(())
    }

    pub(super) fn listen_uri(&self) -> Result<String, HostError> {
        migration_uri(&self.uri).ok_or(HostError::Unsupported(
            "take guests from other hosts: dpe reaches it through a local socket, not an \
             address other hosts could use",
        ))
    }

    pub(super) fn job_of(&self, uuid: &str) -> Result<JobProgress, HostError> {
        let Some(dom) = self.domain(uuid)? else {
            return Ok(JobProgress::Idle);
        };
        match JobStats::of(&dom, 0) {
            Ok(now) if now.kind != virt::sys::VIR_DOMAIN_JOB_NONE as i32 => {
                Ok(JobProgress::Running {
                    processed: now.processed,
                    total: now.total,
                })
            }
            Ok(_) => Ok(JobProgress::Idle),
            // Gone between the lookup and the question (the migration
            // ended and undefined it): no job.
            Err(e) if is(&e, ErrorNumber::NoDomain) => Ok(JobProgress::Idle),
            Err(e) => Err(self.err("job stats")(e)),
        }
    }
}

/// Pulls the plug of a domain that may already be off.
fn destroy_quietly(dom: &Domain) -> Result<(), virt::error::Error> {
    match dom.destroy() {
        Ok(()) => Ok(()),
        Err(e) if is(&e, ErrorNumber::OperationInvalid) => Ok(()),
        Err(e) => Err(e),
    }
}

/// `tcp://` and the address in a libvirt URI, where that host's QEMU
/// listens for a guest moved to it; none for a local socket.
fn migration_uri(host_uri: &str) -> Option<String> {
    let url = reqwest::Url::parse(host_uri).ok()?;
    let host = url.host_str().filter(|h| !h.is_empty())?;
    Some(format!("tcp://{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_move_goes_to_the_address_in_the_hosts_uri_and_a_local_host_has_none() {
        assert_eq!(
            migration_uri("qemu+tls://198.18.3.2/system").as_deref(),
            Some("tcp://198.18.3.2")
        );
        assert_eq!(
            migration_uri("qemu+ssh://root@lab3.example/system").as_deref(),
            Some("tcp://lab3.example")
        );
        assert_eq!(
            migration_uri("qemu+tls://[fd00::3]/system").as_deref(),
            Some("tcp://[fd00::3]")
        );
        for local in ["qemu:///system", "qemu+unix:///system", "test:///default"] {
            assert_eq!(migration_uri(local), None, "{local}");
        }
    }
}
