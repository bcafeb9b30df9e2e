//! A live look at a libvirt host: versions, size, acceleration, networks.

use std::time::Duration;

use app::model::HostProbe;
use virt::connect::Connect;

use super::capabilities::Capabilities;
use crate::blocking::run_blocking;
use crate::engine::hypervisor::HostError;

const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// What a probe learns, besides what the portal shows.
#[derive(Clone, Debug)]
pub struct ProbeReport {
    pub probe: HostProbe,
    pub networks: Vec<String>,
}

/// libvirt encodes versions as major * 1,000,000 + minor * 1,000 + release.
fn version_string(v: u32) -> String {
    format!("{}.{}.{}", v / 1_000_000, (v / 1_000) % 1_000, v % 1_000)
}

fn call<T>(
    uri: &str,
    call: &'static str,
    r: Result<T, virt::error::Error>,
) -> Result<T, HostError> {
    r.map_err(|source| HostError::Libvirt {
        uri: uri.to_owned(),
        call,
        source,
    })
}

fn probe_blocking(uri: &str, open_uri: &str) -> Result<ProbeReport, HostError> {
    super::quiet_libvirt();
    super::run_event_loop();
    let mut conn = Connect::open(Some(open_uri)).map_err(|source| HostError::Connect {
        uri: uri.to_owned(),
        source,
    })?;
    let result = (|| {
        let driver = call(uri, "get_type", conn.get_type())?;
        let caps_xml = call(uri, "get_capabilities", conn.get_capabilities())?;
        let caps = Capabilities::parse(&caps_xml).map_err(|source| HostError::Unreadable {
            uri: uri.to_owned(),
            what: "capabilities",
            source,
        })?;
        let info = call(uri, "get_node_info", conn.get_node_info())?;
        let mut networks = call(uri, "list_networks", conn.list_networks())?;
        networks.extend(call(
            uri,
            "list_defined_networks",
            conn.list_defined_networks(),
        )?);
        networks.sort();
        Ok(ProbeReport {
            probe: HostProbe {
                starting: false,
                uri: uri.to_owned(),
                connected: true,
                hostname: conn.get_hostname().ok(),
                libvirt_version: Some(version_string(call(
                    uri,
                    "get_lib_version",
                    conn.get_lib_version(),
                )?)),
                hypervisor: Some(driver.clone()),
                hypervisor_version: conn.get_hyp_version().ok().map(version_string),
                cpus: Some(info.cpus),
                memory_mib: Some(info.memory / 1024),
                acceleration: Some(caps.acceleration(&driver)),
                cpu_model: caps.cpu_model(),
                error: None,
            },
            networks,
        })
    })();
    // A failed close leaks nothing we can act on; the report stands.
    let _ = conn.close();
    result
}

/// Probes `uri` (opened as `open_uri`, with dpe's credentials), giving up
/// after ten seconds (an unreachable ssh host can otherwise hang for
/// minutes).
pub async fn probe(uri: &str, open_uri: &str) -> Result<ProbeReport, HostError> {
    let (owned, open) = (uri.to_owned(), open_uri.to_owned());
    let probing = run_blocking(move || probe_blocking(&owned, &open));
    match tokio::time::timeout(PROBE_TIMEOUT, probing).await {
        Ok(result) => result,
        Err(_elapsed) => Err(HostError::Timeout {
            uri: uri.to_owned(),
            seconds: PROBE_TIMEOUT.as_secs(),
        }),
    }
}

/// A probe that always yields a report; failures become a disconnected one.
pub async fn probe_status(uri: &str, open_uri: &str) -> HostProbe {
    match probe(uri, open_uri).await {
        Ok(report) => report.probe,
        Err(err) => disconnected(uri, &err, is_starting(uri, &err)),
    }
}

/// The report of a host that could not be reached (still `starting`, or
/// down), saying why in a short message; libvirt's own words (which can
/// quote files and programs) go to the log only.
pub fn disconnected(uri: &str, err: &dyn std::error::Error, starting: bool) -> HostProbe {
    tracing::warn!(uri, error = %crate::error_chain(err), "host not reachable");
    HostProbe::without_facts(uri.to_owned(), false, starting, Some(err.to_string()))
}

/// Whether `uri` names a libvirtd on this machine (`qemu:///system`: no
/// host part).
pub fn is_local(uri: &str) -> bool {
    uri.split_once("://")
        .is_some_and(|(_, rest)| rest.starts_with('/'))
}

/// Whether `err` is what this machine's libvirtd gives while it is still
/// starting: its socket not there yet or refusing, or no answer while it
/// checks QEMU's capabilities (seconds to minutes after a boot). A remote
/// host that does not answer is just down.
pub fn is_starting(uri: &str, err: &HostError) -> bool {
    if !is_local(uri) || super::test_driver::is_test_driver(uri) {
        return false;
    }
    match err {
        HostError::Timeout { .. } => true,
        HostError::Connect { source, .. } => {
            let message = source.message();
            message.contains("No such file or directory") || message.contains("Connection refused")
        }
        HostError::Libvirt { .. }
        | HostError::NoSpace { .. }
        | HostError::Unreadable { .. }
        | HostError::Xml(_)
        | HostError::Upload(_)
        | HostError::DisplaySocket(_)
        | HostError::Nul(_)
        | HostError::NoDomain(_)
        | HostError::NoSnapshot(_)
        | HostError::NoVolume(_)
        | HostError::BackupJob { .. }
        | HostError::GuestReply(_)
        | HostError::Unsupported(_)
        | HostError::PoolElsewhere { .. } => false,
    }
}

/// Whether libvirt's SSH transport refused the host for its key: not the
/// pinned one (or none pinned). Its words say so in "host key".
pub fn is_host_key_refusal(err: &HostError) -> bool {
    use virt::error::ErrorDomain;
    match err {
        HostError::Connect { source, .. } => {
            matches!(source.domain(), ErrorDomain::Ssh | ErrorDomain::Libssh)
                && source.message().to_ascii_lowercase().contains("host key")
        }
        HostError::Libvirt { .. }
        | HostError::NoSpace { .. }
        | HostError::Unreadable { .. }
        | HostError::Timeout { .. }
        | HostError::Xml(_)
        | HostError::Upload(_)
        | HostError::DisplaySocket(_)
        | HostError::Nul(_)
        | HostError::NoDomain(_)
        | HostError::NoSnapshot(_)
        | HostError::NoVolume(_)
        | HostError::BackupJob { .. }
        | HostError::GuestReply(_)
        | HostError::Unsupported(_)
        | HostError::PoolElsewhere { .. } => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::model::Acceleration;

    #[test]
    fn versions_decode() {
        assert_eq!(version_string(9_000_000), "9.0.0");
        assert_eq!(version_string(7_002_011), "7.2.11");
    }

    #[tokio::test]
    async fn probes_the_test_driver() {
        let report = probe("test:///default", "test:///default").await.unwrap();
        assert!(report.probe.connected);
        assert_eq!(report.probe.acceleration, Some(Acceleration::Test));
        assert!(report.probe.cpus.unwrap() > 0);
        assert!(
            report.networks.contains(&"default".to_string()),
            "{:?}",
            report.networks
        );
    }

    #[test]
    fn only_this_machines_libvirtd_can_be_starting() {
        let timeout = |uri: &str| HostError::Timeout {
            uri: uri.to_owned(),
            seconds: 10,
        };
        assert!(is_starting("qemu:///system", &timeout("qemu:///system")));
        let remote = "qemu+ssh://kvm1.lan/system";
        assert!(!is_starting(remote, &timeout(remote)));
        assert!(!is_starting(
            "qemu:///system",
            &HostError::NoDomain("x".into())
        ));
    }

    #[tokio::test]
    async fn a_local_socket_that_is_not_there_yet_means_starting() {
        let uri = "qemu:///system?socket=/nonexistent/libvirt-sock";
        let status = probe_status(uri, uri).await;
        assert!(!status.connected);
        assert!(status.starting, "{status:?}");
    }

    #[tokio::test]
    async fn an_unreachable_host_reports_why() {
        let status = probe_status(
            "qemu+tcp://127.0.0.1:1/system",
            "qemu+tcp://127.0.0.1:1/system",
        )
        .await;
        assert!(!status.connected);
        assert!(status.error.unwrap().contains("cannot connect"));
    }
}
