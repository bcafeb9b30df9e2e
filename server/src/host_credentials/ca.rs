//! dpe's own small CA: its certificate, the client certificate libvirt
//! presents to hosts, and the server certificates hosts present to dpe.

use std::net::IpAddr;
use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};

use super::{CredentialError, file_err, write_file};

/// The file names libvirt looks for in a `pkipath`.
pub(super) const CA_CERT: &str = "cacert.pem";
const CLIENT_CERT: &str = "clientcert.pem";
const CLIENT_KEY: &str = "clientkey.pem";

/// The CA's name; a signed certificate's issuer is this name, and its
/// authority key identifier comes from the key, so the CA needs only its
/// key to sign again.
const CA_NAME: &str = "dpe host CA";

/// Long-lived: renewing means touching every host.
const VALIDITY_DAYS: i64 = 3650;

/// A host's server certificate and key, with the CA that signed it.
#[derive(Clone, Debug)]
pub struct ServerCertificate {
    pub ca_certificate_pem: String,
    pub certificate_pem: String,
    pub key_pem: String,
}

fn dated(mut params: CertificateParams) -> CertificateParams {
    let now = OffsetDateTime::now_utc();
    // A day back: a host whose clock is a little behind still accepts it.
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(VALIDITY_DAYS);
    params
}

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, CA_NAME);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    dated(params)
}

/// Makes the CA and the client certificate when either is missing.
pub(super) fn ensure(pki_dir: &Path, ca_key_path: &Path) -> Result<(), CredentialError> {
    let ca_cert = pki_dir.join(CA_CERT);
    if !ca_key_path.exists() || !ca_cert.exists() {
        let key = KeyPair::generate()?;
        let cert = ca_params().self_signed(&key)?;
        write_file(ca_key_path, key.serialize_pem().as_bytes(), 0o600)?;
        write_file(&ca_cert, cert.pem().as_bytes(), 0o644)?;
        // A new CA: an older client certificate is no longer signed by it.
        let _ = std::fs::remove_file(pki_dir.join(CLIENT_CERT));
        tracing::info!(path = %ca_cert.display(), "made dpe's host CA");
    }
    if pki_dir.join(CLIENT_CERT).exists() && pki_dir.join(CLIENT_KEY).exists() {
        return Ok(());
    }
    let issuer = issuer(ca_key_path)?;
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "dpe");
    params
        .distinguished_name
        .push(DnType::CommonName, "dpe appliance");
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let key = KeyPair::generate()?;
    let cert = dated(params).signed_by(&key, &issuer)?;
    write_file(
        &pki_dir.join(CLIENT_KEY),
        key.serialize_pem().as_bytes(),
        0o600,
    )?;
    write_file(&pki_dir.join(CLIENT_CERT), cert.pem().as_bytes(), 0o644)?;
    Ok(())
}

fn issuer(ca_key_path: &Path) -> Result<Issuer<'static, KeyPair>, CredentialError> {
    let pem = std::fs::read_to_string(ca_key_path).map_err(file_err(ca_key_path))?;
    Ok(Issuer::new(ca_params(), KeyPair::from_pem(&pem)?))
}

/// The subject name for `name`: an address or a DNS name, as libvirt
/// compares it with the host part of the URI.
fn subject_name(name: &str) -> Result<SanType, CredentialError> {
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    let dns_ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if !dns_ok {
        return Err(CredentialError::HostName(name.to_owned()));
    }
    Ok(SanType::DnsName(
        name.to_ascii_lowercase()
            .try_into()
            .map_err(|_| CredentialError::HostName(name.to_owned()))?,
    ))
}

pub(super) fn issue_server(
    pki_dir: &Path,
    ca_key_path: &Path,
    name: &str,
) -> Result<ServerCertificate, CredentialError> {
    let san = subject_name(name)?;
    let issuer = issuer(ca_key_path)?;
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "dpe");
    params.distinguished_name.push(DnType::CommonName, name);
    params.subject_alt_names = vec![san];
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate()?;
    let cert = dated(params).signed_by(&key, &issuer)?;
    let ca_path = pki_dir.join(CA_CERT);
    Ok(ServerCertificate {
        ca_certificate_pem: std::fs::read_to_string(&ca_path).map_err(file_err(&ca_path))?,
        certificate_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}
