//! The provisioning engine: talks to libvirt hosts.

pub mod capabilities;
pub mod probe;

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
}
