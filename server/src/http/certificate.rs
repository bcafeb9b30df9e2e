//! The appliance's own self-signed certificate (made at first boot) covers
//! the applications' wildcard domain too, once the admin sets one: it is
//! re-issued with the same key, so a pinned key stays valid, and every
//! listener takes it without a restart.

use std::path::Path;
use std::sync::Arc;

use app::model::{AppsAddressing, AppsSettings};
use axum_server::tls_rustls::RustlsConfig;
use rcgen::{
    CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType,
};
use tokio::sync::watch;
use x509_parser::extensions::GeneralName;

use crate::error_chain;

#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    #[error("cannot read or write {path}")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot re-issue the certificate")]
    Issue(#[from] rcgen::Error),
    #[error("cannot read the certificate {0}")]
    Parse(String),
    #[error("{0:?} is not a domain for a certificate")]
    Domain(String),
}

fn file_err(path: &Path) -> impl FnOnce(std::io::Error) -> CertificateError + '_ {
    move |source| CertificateError::File {
        path: path.display().to_string(),
        source,
    }
}

/// Re-issues the certificate at `cert` (its key at `key`) to also name
/// `*.DOMAIN`, keeping its other names, key and validity; `false` when it
/// already does.
pub fn cover(cert: &Path, key: &Path, domain: &str) -> Result<bool, CertificateError> {
    let cert_pem = std::fs::read_to_string(cert).map_err(file_err(cert))?;
    let key_pem = std::fs::read_to_string(key).map_err(file_err(key))?;
    let key_pair = KeyPair::from_pem(&key_pem)?;
    let mut params =
        params_of(&cert_pem).ok_or_else(|| CertificateError::Parse(cert.display().to_string()))?;
    let wildcard = format!("*.{domain}");
    let name = SanType::DnsName(
        wildcard
            .clone()
            .try_into()
            .map_err(|_| CertificateError::Domain(domain.to_owned()))?,
    );
    if params.subject_alt_names.contains(&name) {
        return Ok(false);
    }
    params.subject_alt_names.push(name);
    let issued = params.self_signed(&key_pair)?;
    let fresh = cert.with_extension("pem.new");
    std::fs::write(&fresh, issued.pem()).map_err(file_err(&fresh))?;
    std::fs::rename(&fresh, cert).map_err(file_err(cert))?;
    tracing::info!(
        name = wildcard,
        "the certificate now covers the applications' domain"
    );
    Ok(true)
}

/// What a server certificate as the appliance makes it says: its names,
/// common name and validity (a new serial number; no CA).
fn params_of(pem: &str) -> Option<CertificateParams> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).ok()?;
    let x509 = pem.parse_x509().ok()?;
    let mut params = CertificateParams::default();
    let alternative = x509.subject_alternative_name().ok()??;
    for name in &alternative.value.general_names {
        match name {
            GeneralName::DNSName(dns) => params
                .subject_alt_names
                .push(SanType::DnsName((*dns).try_into().ok()?)),
            GeneralName::IPAddress(bytes) => {
                let ip = match bytes.len() {
                    4 => std::net::IpAddr::from(<[u8; 4]>::try_from(*bytes).ok()?),
                    _ => std::net::IpAddr::from(<[u8; 16]>::try_from(*bytes).ok()?),
                };
                params.subject_alt_names.push(SanType::IpAddress(ip));
            }
            // Not names the appliance's certificate carries.
            GeneralName::OtherName(..)
            | GeneralName::RFC822Name(_)
            | GeneralName::X400Address(_)
            | GeneralName::DirectoryName(_)
            | GeneralName::EDIPartyName(_)
            | GeneralName::URI(_)
            | GeneralName::RegisteredID(_)
            | GeneralName::Invalid(..) => {}
        }
    }
    if let Some(cn) = x509
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
    {
        params.distinguished_name.push(DnType::CommonName, cn);
    }
    params.not_before = x509.validity().not_before.to_datetime();
    params.not_after = x509.validity().not_after.to_datetime();
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    Some(params)
}

/// Keeps the certificate covering the applications' domain as the
/// settings change, and the listeners serving the re-issued one.
pub fn follow_apps_domain(
    tls: RustlsConfig,
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
    mut apps: watch::Receiver<Option<AppsSettings>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let domain = match apps.borrow_and_update().as_ref().map(|a| &a.addressing) {
                Some(AppsAddressing::Domain { domain }) => Some(domain.clone()),
                Some(AppsAddressing::Ports { .. }) | None => None,
            };
            if let Some(domain) = domain {
                let (c, k) = (cert.clone(), key.clone());
                let covered = crate::blocking::run_blocking(move || {
                    cover(&c, &k, &domain).map_err(|e| error_chain(&e))
                })
                .await;
                match covered.map(|issued| issued.then(|| super::tls::rustls_config(&cert, &key))) {
                    Ok(Some(Ok(config))) => tls.reload_from_config(Arc::new(config)),
                    Ok(Some(Err(e))) => {
                        tracing::error!(error = %error_chain(e.as_ref()), "cannot load the re-issued certificate")
                    }
                    Ok(None) => {}
                    Err(e) => tracing::error!(error = %e, "cannot cover the applications' domain"),
                }
            }
            if apps.changed().await.is_err() {
                break;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_certificate_is_reissued_with_its_key_to_cover_the_apps_domain_once() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        let key_pair = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["dpe.lan".to_owned()]).unwrap();
        params
            .subject_alt_names
            .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
        std::fs::write(&cert, params.self_signed(&key_pair).unwrap().pem()).unwrap();
        std::fs::write(&key, key_pair.serialize_pem()).unwrap();

        assert!(cover(&cert, &key, "apps.example.org").unwrap());
        let names = params_of(&std::fs::read_to_string(&cert).unwrap())
            .unwrap()
            .subject_alt_names;
        for name in ["dpe.lan", "*.apps.example.org"] {
            assert!(
                names.contains(&SanType::DnsName(name.try_into().unwrap())),
                "{name}: {names:?}"
            );
        }
        assert!(names.contains(&SanType::IpAddress("127.0.0.1".parse().unwrap())));
        // Still the same key: rustls checks that the two belong together.
        assert!(super::super::tls::rustls_config(&cert, &key).is_ok());
        assert!(!cover(&cert, &key, "apps.example.org").unwrap(), "once");
    }
}
