//! Directory (LDAP, LDAPS) sign-in: find the account with the service
//! bind, bind as the account with its password, read its groups.

use std::sync::Arc;
use std::time::Duration;

use app::org::DirectorySettings;
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError, Scope, SearchEntry, ldap_escape};

const TIMEOUT: Duration = Duration::from_secs(10);
/// The most accounts the "test" button counts.
const TEST_LIMIT: i32 = 1000;

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("cannot reach the directory at {url}")]
    Connect {
        url: String,
        #[source]
        source: Box<LdapError>,
    },
    #[error("the service account cannot bind")]
    ServiceBind(#[source] Box<LdapError>),
    #[error("the search under {base} failed")]
    Search {
        base: String,
        #[source]
        source: Box<LdapError>,
    },
    #[error("the CA certificate is not valid PEM")]
    CaCertificate,
    #[error("the directory did not answer within {} s", TIMEOUT.as_secs())]
    Timeout,
}

/// An account the directory vouched for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryAccount {
    pub dn: String,
    /// DNs of the groups that list the account as a member.
    pub groups: Vec<String>,
}

fn tls_config(pem: &str) -> Result<Arc<rustls::ClientConfig>, DirectoryError> {
    let mut roots = rustls::RootCertStore::empty();
    // The system's CAs still count; the given one is added to them.
    if let Ok(native) = rustls_native_certs::load_native_certs() {
        for cert in native {
            let _ = roots.add(&rustls::Certificate(cert.0));
        }
    }
    let given =
        rustls_pemfile::certs(&mut pem.as_bytes()).map_err(|_| DirectoryError::CaCertificate)?;
    if given.is_empty() {
        return Err(DirectoryError::CaCertificate);
    }
    for der in given {
        roots
            .add(&rustls::Certificate(der))
            .map_err(|_| DirectoryError::CaCertificate)?;
    }
    Ok(Arc::new(
        rustls::ClientConfig::builder()
            .with_safe_defaults()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

async fn connect(settings: &DirectorySettings) -> Result<Ldap, DirectoryError> {
    let mut conn_settings = LdapConnSettings::new().set_conn_timeout(TIMEOUT);
    if let Some(pem) = settings
        .ca_certificate
        .as_deref()
        .filter(|p| !p.trim().is_empty())
    {
        conn_settings = conn_settings.set_config(tls_config(pem)?);
    }
    let (conn, mut ldap) = LdapConnAsync::with_settings(conn_settings, &settings.url)
        .await
        .map_err(|source| DirectoryError::Connect {
            url: settings.url.clone(),
            source: Box::new(source),
        })?;
    ldap3::drive!(conn);
    ldap.with_timeout(TIMEOUT);
    Ok(ldap)
}

async fn service_bind(ldap: &mut Ldap, settings: &DirectorySettings) -> Result<(), DirectoryError> {
    if settings.bind_dn.is_empty() {
        return Ok(());
    }
    let password = settings.bind_password.as_deref().unwrap_or_default();
    ldap.simple_bind(&settings.bind_dn, password)
        .await
        .and_then(|r| r.success())
        .map_err(|e| DirectoryError::ServiceBind(Box::new(e)))?;
    Ok(())
}

/// The filter that finds `username`: the admin's account filter AND the
/// name attribute, the name escaped per RFC 4515.
fn account_filter(settings: &DirectorySettings, username: &str) -> String {
    format!(
        "(&{}({}={}))",
        settings.user_filter,
        settings.username_attribute,
        ldap_escape(username)
    )
}

/// Checks `username` and `password` against the directory. `Ok(None)` for
/// an unknown account or a wrong password (one answer for both).
pub async fn authenticate(
    settings: &DirectorySettings,
    username: &str,
    password: &str,
) -> Result<Option<DirectoryAccount>, DirectoryError> {
    // An empty password would make an unauthenticated bind, which LDAP
    // servers answer with success.
    if password.is_empty() {
        return Ok(None);
    }
    let mut ldap = connect(settings).await?;
    service_bind(&mut ldap, settings).await?;
    let (entries, _) = ldap
        .search(
            &settings.user_base,
            Scope::Subtree,
            &account_filter(settings, username),
            vec!["1.1"],
        )
        .await
        .and_then(|r| r.success())
        .map_err(|source| DirectoryError::Search {
            base: settings.user_base.clone(),
            source: Box::new(source),
        })?;
    // Exactly one entry, or the name is ambiguous: refuse rather than guess.
    let mut entries = entries.into_iter();
    let (Some(entry), None) = (entries.next(), entries.next()) else {
        let _ = ldap.unbind().await;
        return Ok(None);
    };
    let dn = SearchEntry::construct(entry).dn;
    // The account's own bind proves the password.
    let bound = ldap
        .simple_bind(&dn, password)
        .await
        .and_then(|r| r.success());
    if bound.is_err() {
        let _ = ldap.unbind().await;
        return Ok(None);
    }
    // Read the groups with the service account's rights again.
    service_bind(&mut ldap, settings).await?;
    let groups = if settings.group_base.is_empty() {
        Vec::new()
    } else {
        let (entries, _) = ldap
            .search(
                &settings.group_base,
                Scope::Subtree,
                &format!("(member={})", ldap_escape(&dn)),
                vec!["1.1"],
            )
            .await
            .and_then(|r| r.success())
            .map_err(|source| DirectoryError::Search {
                base: settings.group_base.clone(),
                source: Box::new(source),
            })?;
        entries
            .into_iter()
            .map(|e| SearchEntry::construct(e).dn)
            .collect()
    };
    let _ = ldap.unbind().await;
    Ok(Some(DirectoryAccount { dn, groups }))
}

/// The "test" button: connect, bind, count the accounts the filter finds.
pub async fn test(settings: &DirectorySettings) -> Result<u32, DirectoryError> {
    let mut ldap = connect(settings).await?;
    service_bind(&mut ldap, settings).await?;
    let mut search = ldap
        .with_search_options(ldap3::SearchOptions::new().sizelimit(TEST_LIMIT))
        .streaming_search(
            &settings.user_base,
            Scope::Subtree,
            &settings.user_filter,
            vec!["1.1"],
        )
        .await
        .map_err(|source| DirectoryError::Search {
            base: settings.user_base.clone(),
            source: Box::new(source),
        })?;
    let mut count = 0u32;
    loop {
        match search.next().await {
            Ok(Some(_)) => count += 1,
            Ok(None) => break,
            Err(source) => {
                return Err(DirectoryError::Search {
                    base: settings.user_base.clone(),
                    source: Box::new(source),
                });
            }
        }
    }
    // A size-limit stop still means the search works.
    let _ = search.finish().await;
    let _ = ldap.unbind().await;
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_inside_the_filter() {
        let settings = DirectorySettings {
            url: "ldap://127.0.0.1".into(),
            bind_dn: String::new(),
            bind_password: None,
            user_base: "dc=example,dc=org".into(),
            user_filter: "(objectClass=inetOrgPerson)".into(),
            username_attribute: "uid".into(),
            group_base: String::new(),
            group_mappings: Vec::new(),
            ca_certificate: None,
        };
        assert_eq!(
            account_filter(&settings, "*)(uid=*"),
            r"(&(objectClass=inetOrgPerson)(uid=\2a\29\28uid=\2a))"
        );
        assert_eq!(
            account_filter(&settings, "ann\\0"),
            r"(&(objectClass=inetOrgPerson)(uid=ann\5c0))"
        );
    }
}
