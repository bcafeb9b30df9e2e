//! What an admin installs on a remote host so dpe can reach it, and only
//! dpe: its CA for `qemu+tls`, its SSH key for `qemu+ssh`.

use serde::{Deserialize, Serialize};

/// `GET /api/v1/hosts/credentials`: dpe's side of a remote host's trust.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct HostCredentialsView {
    /// dpe's own CA certificate (PEM). A `qemu+tls` host installs it as
    /// /etc/pki/CA/cacert.pem: its libvirtd then accepts dpe's client
    /// certificate, and dpe accepts the server certificate it issued.
    pub ca_certificate_pem: String,
    /// dpe's SSH public key (ed25519): one line for the authorized_keys of
    /// the account named in a `qemu+ssh` URI.
    pub ssh_public_key: String,
}

/// `POST /api/v1/hosts/server-certificate`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ServerCertificateRequest {
    /// The host's DNS name or IP address, exactly as in its `qemu+tls`
    /// URI (libvirt checks the certificate names it): labels of letters,
    /// digits and inner hyphens, at most 63 each. The document shows names
    /// and IPv4; an IPv6 address (`[…]` or bare) is taken too.
    #[cfg_attr(
        feature = "ssr",
        schema(
            min_length = 1,
            max_length = 253,
            pattern = r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
        )
    )]
    pub host: String,
}

/// A file to install on a host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct HostFile {
    /// Where libvirtd looks for it.
    pub path: String,
    /// Its mode, e.g. `0600` for the key.
    pub mode: String,
    pub contents: String,
}

/// A host's server certificate with everything to install it. dpe keeps
/// no copy of the key: it is shown once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ServerCertificateBundle {
    pub host: String,
    /// dpe's CA certificate, the host's certificate and its key.
    pub files: Vec<HostFile>,
    /// What to do on the host after copying the files, in order.
    pub steps: Vec<String>,
}
