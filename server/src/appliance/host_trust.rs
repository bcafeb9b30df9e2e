//! The trust between dpe and its remote hosts: dpe's CA and SSH key shown
//! to the admin, server certificates issued for `qemu+tls` hosts, host
//! keys pinned for `qemu+ssh` ones.

use app::error::AppError;
use app::model::{
    HostCredentialsView, HostFile, ServerCertificateBundle, ServerCertificateRequest,
};
use app::policy::{Authorized, rights};

use super::Appliance;
use super::errors::internal;
use crate::blocking::run_blocking;
use crate::host_credentials::{self, CredentialError, PinnedKey};
use crate::store::audit::Audit;

/// Where Debian's libvirtd looks for its TLS files (libvirt's defaults).
const HOST_CA_PATH: &str = "/etc/pki/CA/cacert.pem";
const HOST_CERT_PATH: &str = "/etc/pki/libvirt/servercert.pem";
const HOST_KEY_PATH: &str = "/etc/pki/libvirt/private/serverkey.pem";

/// The admin's mistakes say which field; the rest is dpe's, logged.
fn credential_err(field: &str, err: CredentialError) -> AppError {
    match err {
        CredentialError::HostKey(_) | CredentialError::HostName(_) => {
            AppError::invalid(field, err.to_string())
        }
        CredentialError::File { .. }
        | CredentialError::Certificate(_)
        | CredentialError::SshKey(_) => internal(&err),
    }
}

impl Appliance {
    pub(super) async fn show_host_credentials(
        &self,
        _who: Authorized<'_, rights::ManageHosts>,
    ) -> Result<HostCredentialsView, AppError> {
        let credentials = self.host_credentials.clone();
        run_blocking(move || {
            Ok(HostCredentialsView {
                ca_certificate_pem: credentials.ca_certificate()?,
                ssh_public_key: credentials.ssh_public_key()?,
            })
        })
        .await
        .map_err(|e| credential_err("credentials", e))
    }

    pub(super) async fn issue_host_certificate(
        &self,
        who: Authorized<'_, rights::ManageHosts>,
        request: ServerCertificateRequest,
    ) -> Result<ServerCertificateBundle, AppError> {
        let host = request.host.trim().to_owned();
        let credentials = self.host_credentials.clone();
        let name = host.clone();
        let issued = run_blocking(move || credentials.issue_server_certificate(&name))
            .await
            .map_err(|e| credential_err("host", e))?;
        let record = Audit::by(&who)
            .action("host.server_certificate")
            .object(format!("host {host}"))
            .ok();
        self.audit(record).await;
        let file = |path: &str, mode: &str, contents: String| HostFile {
            path: path.to_owned(),
            mode: mode.to_owned(),
            contents,
        };
        Ok(ServerCertificateBundle {
            files: vec![
                file(HOST_CA_PATH, "0644", issued.ca_certificate_pem),
                file(HOST_CERT_PATH, "0644", issued.certificate_pem),
                file(HOST_KEY_PATH, "0600", issued.key_pem),
            ],
            steps: vec![
                "Copy the three files to the host, owned by root, with the modes shown.".into(),
                "In /etc/libvirt/libvirtd.conf set listen_tls = 1 (libvirtd's other TLS \
                 settings can keep their defaults)."
                    .into(),
                "Restart libvirtd listening: with systemd, `systemctl enable --now \
                 libvirtd-tls.socket` then restart libvirtd; without, run `libvirtd --listen`."
                    .into(),
                "Let the appliance reach TCP port 16514 on the host.".into(),
                format!("Add the host as qemu+tls://{host}/system."),
            ],
            host,
        })
    }

    /// Pins the host key an admin gave for an ssh host (required there,
    /// refused for others), before dpe first connects to it.
    pub(super) async fn pin_new_host_key(
        &self,
        uri: &str,
        key: Option<String>,
    ) -> Result<Option<PinnedKey>, AppError> {
        let key = key.map(|k| k.trim().to_owned()).filter(|k| !k.is_empty());
        match (host_credentials::pin_target(uri), key) {
            (None, None) => Ok(None),
            (None, Some(_)) => Err(AppError::invalid(
                "ssh_host_key",
                "only an ssh host has a host key to pin",
            )),
            (Some(_), None) => Err(AppError::invalid(
                "ssh_host_key",
                "is required for an ssh host: paste the host's public key (its \
                 /etc/ssh/ssh_host_ed25519_key.pub), which dpe pins",
            )),
            (Some(target), Some(key)) => {
                let credentials = self.host_credentials.clone();
                let pinned = run_blocking(move || credentials.pin_host_key(&target, &key))
                    .await
                    .map_err(|e| credential_err("ssh_host_key", e))?;
                Ok(Some(pinned))
            }
        }
    }
}
