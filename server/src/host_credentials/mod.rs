//! The credentials dpe reaches remote hosts with, kept in its data dir and
//! nowhere else: a small CA of its own and the client certificate it issued
//! itself (`qemu+tls`), an ed25519 key and the host keys the admin pinned
//! (`qemu+ssh`). libvirt's defaults (~/.ssh, /etc/pki) are never read: the
//! server adds the parameters that point at these files when it connects;
//! what users type still carries none.

mod ca;
mod ssh;
mod uri;

use std::path::{Path, PathBuf};

pub use self::ca::ServerCertificate;
pub use self::ssh::PinnedKey;
pub use self::uri::{open_uri, pin_target};

/// The folder under the data dir.
const DIR: &str = "host-credentials";

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("cannot read or write {path}")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot make a certificate")]
    Certificate(#[from] rcgen::Error),
    #[error("cannot make or read an SSH key")]
    SshKey(#[from] ssh_key::Error),
    #[error("{0:?} is not a host name or address for a certificate")]
    HostName(String),
    #[error("not an SSH public key; paste one line such as \"ssh-ed25519 AAAA…\"")]
    HostKey(#[source] ssh_key::Error),
}

fn file_err(path: &Path) -> impl FnOnce(std::io::Error) -> CredentialError + '_ {
    move |source| CredentialError::File {
        path: path.display().to_string(),
        source,
    }
}

/// Where dpe's host credentials live; `ensure` makes any that are missing.
#[derive(Clone, Debug)]
pub struct HostCredentials {
    dir: PathBuf,
}

impl HostCredentials {
    /// The credentials under `data_dir` (nothing is read or made yet).
    pub fn under(data_dir: &Path) -> HostCredentials {
        HostCredentials {
            dir: data_dir.join(DIR),
        }
    }

    /// Makes the CA, the client certificate and the SSH key when missing;
    /// existing ones are kept (hosts already trust them).
    pub fn ensure(&self) -> Result<(), CredentialError> {
        ca::ensure(&self.pki_dir(), &self.ca_key_path())?;
        ssh::ensure(&self.ssh_key_path())?;
        Ok(())
    }

    /// libvirt's `pkipath`: cacert.pem, clientcert.pem, clientkey.pem.
    pub fn pki_dir(&self) -> PathBuf {
        self.dir.join("pki")
    }

    /// The CA's key, outside the folder libvirt reads.
    fn ca_key_path(&self) -> PathBuf {
        self.dir.join("ca").join("cakey.pem")
    }

    pub fn ssh_key_path(&self) -> PathBuf {
        self.dir.join("ssh").join("id_ed25519")
    }

    pub fn known_hosts_path(&self) -> PathBuf {
        self.dir.join("ssh").join("known_hosts")
    }

    /// The CA certificate, PEM: what a host's libvirtd trusts dpe by.
    pub fn ca_certificate(&self) -> Result<String, CredentialError> {
        let path = self.pki_dir().join(ca::CA_CERT);
        std::fs::read_to_string(&path).map_err(file_err(&path))
    }

    /// dpe's SSH public key, one authorized_keys line.
    pub fn ssh_public_key(&self) -> Result<String, CredentialError> {
        ssh::public_key(&self.ssh_key_path())
    }

    /// A server certificate (and its new key) for the host `name`, a DNS
    /// name or an IP address, signed by dpe's CA. dpe keeps no copy of
    /// the key.
    pub fn issue_server_certificate(
        &self,
        name: &str,
    ) -> Result<ServerCertificate, CredentialError> {
        ca::issue_server(&self.pki_dir(), &self.ca_key_path(), name)
    }

    /// Pins `key` (an OpenSSH public key line) as the host key of
    /// `target` (`host` or `[host]:port`), replacing an earlier pin.
    pub fn pin_host_key(&self, target: &str, key: &str) -> Result<PinnedKey, CredentialError> {
        ssh::pin(&self.known_hosts_path(), target, key)
    }

    /// The key pinned for `target`, if any.
    pub fn pinned_host_key(&self, target: &str) -> Result<Option<PinnedKey>, CredentialError> {
        ssh::pinned(&self.known_hosts_path(), target)
    }

    /// The URI libvirt opens for the stored `uri`: remote ones with the
    /// parameters that point at these credentials.
    pub fn open_uri(&self, uri: &str) -> String {
        open_uri(self, uri)
    }
}

/// Writes `contents` to `path` with `mode` (made with it: a key is never
/// readable by others, not even for a moment), through a fresh file.
fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), CredentialError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(file_err(parent))?;
    }
    let fresh = path.with_extension("new");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&fresh)
        .map_err(file_err(&fresh))?;
    file.write_all(contents).map_err(file_err(&fresh))?;
    file.sync_all().map_err(file_err(&fresh))?;
    std::fs::rename(&fresh, path).map_err(file_err(path))
}

#[cfg(test)]
mod tests;
