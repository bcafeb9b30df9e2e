//! The provisioning engine: talks to libvirt hosts. Its rooms, from the
//! top: `runtime` (the `Engine` and how it starts), `admission` (deploys
//! and actions become tasks), `driver` (runs a task's steps, rolls back),
//! `steps` (each step and its undo), `placement`, `reconcile` and `health`;
//! below them `definition` (an instance's domain XML), `volumes` (volume
//! names), `golden`, `seed`, `hosts` (connections, opened by a `connector`),
//! `hypervisor` (libvirt; `test_driver` for libvirt's test driver) and `xml`.

mod admission;
pub mod capabilities;
pub mod connector;
mod definition;
mod driver;
pub mod golden;
mod health;
mod host_status;
pub mod hosts;
pub mod hypervisor;
mod leases;
mod placement;
mod pool;
pub mod probe;
mod reconcile;
pub mod runtime;
pub mod seed;
mod steps;
pub mod test_driver;
mod volumes;
pub mod xml;

/// Stops libvirt from printing every error to stderr itself: dpe reports
/// them through its own errors, once.
pub fn quiet_libvirt() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(virt::error::clear_error_callback);
}

/// Errors from a libvirt host, with libvirt's own message as the source.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot connect to {uri}")]
    Connect {
        uri: String,
        #[source]
        source: virt::error::Error,
    },
    #[error("libvirt call {call} failed on {uri}")]
    Libvirt {
        uri: String,
        call: &'static str,
        #[source]
        source: virt::error::Error,
    },
    #[error("cannot read the capabilities of {uri}")]
    Capabilities {
        uri: String,
        #[source]
        source: quick_xml::DeError,
    },
    #[error("{uri} did not answer within {seconds} s")]
    Timeout { uri: String, seconds: u64 },
    #[error("cannot write libvirt XML")]
    Xml(#[source] quick_xml::SeError),
    #[error("I/O error")]
    Io(#[source] std::io::Error),
    #[error("no domain {0}")]
    NoDomain(String),
    /// A volume a step needs is not in the pool.
    #[error("no volume {0}")]
    VolumeMissing(String),
    /// A step that needs the instance's host ran before it was placed.
    #[error("instance {0} is not placed on a host")]
    NotPlaced(String),
    #[error("cannot build the cloud-init seed")]
    Seed(#[from] seed::SeedError),
    #[error("host {0} is not connected")]
    HostDown(String),
    #[error("host {0} is still starting")]
    HostStarting(String),
    #[error("no host has room for {vcpus} vCPUs and {memory_mib} MiB")]
    NoCapacity { vcpus: u32, memory_mib: u64 },
    #[error("cannot read the image {path}")]
    Image {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("store error")]
    Store(#[from] crate::store::StoreError),
    /// The guest agent answered what dpe cannot read.
    #[error("unexpected guest agent answer: {0}")]
    GuestReply(String),
    /// A command run in the guest failed.
    #[error("{command} in the guest exited with {code}: {stderr}")]
    GuestCommand {
        command: String,
        code: i64,
        stderr: String,
    },
    /// A warm deploy's claim was cut off (by a restart) at a point from
    /// which it cannot tell how far it got.
    #[error("the claim of a warm-pool member was interrupted")]
    ClaimInterrupted,
    #[error("the host's storage pool {pool} keeps its volumes in {path}, not {wanted}")]
    PoolElsewhere {
        pool: String,
        path: String,
        wanted: String,
    },
}

/// Why a deploy is refused: the appliance's rules said no, nothing failed.
/// Returned beside `EngineError`, never inside it, so that callers answer
/// each refusal on its own terms (and audit it).
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// Which quota, and by how much.
    #[error("refused: {0}")]
    Quota(crate::store::quotas::Exceeded),
    #[error("no outside zone is configured; an admin sets one up under Networks")]
    NoOutsideZone,
    #[error("every address of the outside zone ({first} to {last}) is taken")]
    PoolExhausted {
        first: std::net::Ipv4Addr,
        last: std::net::Ipv4Addr,
    },
    #[error(
        "every application port ({first} to {last}) is taken; an admin widens the range under Settings"
    )]
    PortsExhausted { first: u16, last: u16 },
}

impl EngineError {
    /// What a task's failure tells the people who see the instance:
    /// members included. No host URIs, paths or libvirt's own words; the
    /// whole chain goes to the log.
    pub fn for_users(&self) -> String {
        match self {
            EngineError::Connect { .. } => "the host cannot be reached".into(),
            EngineError::Libvirt { call, .. } => format!("the host failed a step ({call})"),
            EngineError::Capabilities { .. } => "the host's capabilities cannot be read".into(),
            EngineError::Timeout { seconds, .. } => {
                format!("the host did not answer within {seconds} s")
            }
            EngineError::Xml(_) | EngineError::Io(_) | EngineError::Store(_) => {
                "an internal error; the details are in the server log".into()
            }
            EngineError::NoDomain(_) => "the instance's virtual machine is missing".into(),
            EngineError::VolumeMissing(_) => "a volume of the instance is missing".into(),
            EngineError::NotPlaced(_) => "the instance is not placed on a host".into(),
            EngineError::Seed(_) => "the instance's cloud-init seed cannot be built".into(),
            EngineError::Image { .. } => "the application's image cannot be read".into(),
            EngineError::GuestReply(_) | EngineError::GuestCommand { .. } => {
                "the guest did not accept its configuration".into()
            }
            EngineError::ClaimInterrupted => "the deploy was interrupted".into(),
            EngineError::PoolElsewhere { .. } => {
                "the host's storage pool is set up elsewhere; an admin must fix the host".into()
            }
            e @ (EngineError::HostDown(_)
            | EngineError::HostStarting(_)
            | EngineError::NoCapacity { .. }) => e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_users_see_of_a_failure_names_no_uri_path_or_libvirt_words() {
        let failures = [
            EngineError::Timeout {
                uri: "qemu+ssh://root@10.0.0.5/system".into(),
                seconds: 10,
            },
            EngineError::Image {
                path: "/var/lib/dpe/images/secret/disk.qcow2".into(),
                source: std::io::Error::other("permission denied on /etc/shadow"),
            },
            EngineError::PoolElsewhere {
                pool: "dpe".into(),
                path: "/srv/pool".into(),
                wanted: "/var/lib/dpe/storage".into(),
            },
            EngineError::Io(std::io::Error::other("/root/.ssh/id_rsa")),
        ];
        for e in failures {
            let shown = e.for_users();
            for hidden in ["qemu+ssh", "10.0.0.5", "/var/lib", "/srv", "/etc", "/root"] {
                assert!(!shown.contains(hidden), "{shown:?} shows {hidden}");
            }
        }
        assert_eq!(
            EngineError::HostDown("rack-3".into()).for_users(),
            "host rack-3 is not connected"
        );
    }

    #[test]
    fn a_missing_volume_and_an_unplaced_instance_each_say_so() {
        let missing = EngineError::VolumeMissing("dpe-0f1e-x.qcow2".into());
        assert_eq!(missing.to_string(), "no volume dpe-0f1e-x.qcow2");
        assert_eq!(missing.for_users(), "a volume of the instance is missing");
        let unplaced = EngineError::NotPlaced("wiki".into());
        assert_eq!(
            unplaced.to_string(),
            "instance wiki is not placed on a host"
        );
        assert!(!unplaced.for_users().contains("host ("));
    }
}
