//! Directory (LDAP, LDAPS) sign-in: find the account with the service
//! bind, bind as the account with its password, read its groups.

use std::sync::Arc;
use std::time::Duration;

use app::org::{DirectorySettings, DirectoryTransport};
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
    #[error("refusing to connect: {0}")]
    Insecure(&'static str),
    #[error("the bind DN is set but there is no bind password")]
    NoBindPassword,
    #[error("cannot record what the directory said")]
    Store(#[source] Box<crate::store::StoreError>),
}

/// An account the directory vouched for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryAccount {
    pub dn: String,
    /// DNs of the groups that list the account as a member.
    pub groups: Vec<String>,
    /// Its `mail` attribute (the first), which becomes the account's
    /// address for notifications unless it has one.
    pub mail: Option<String>,
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
    // Checked again here, not only when saved: settings stored by an older
    // version may name a cleartext ldap:// that nobody allowed.
    let transport = settings.transport().map_err(DirectoryError::Insecure)?;
    let mut conn_settings = LdapConnSettings::new()
        .set_conn_timeout(TIMEOUT)
        .set_starttls(match transport {
            DirectoryTransport::StartTls => true,
            DirectoryTransport::Ldaps | DirectoryTransport::Cleartext => false,
        });
    if let Some(pem) = settings
        .ca_certificate
        .as_deref()
        .filter(|p| !p.trim().is_empty())
    {
        conn_settings = conn_settings.set_config(tls_config(pem)?);
    }
    // Trimmed, as `transport` read it: the client would read past the
    // spaces and controls in front by itself, but not as we checked it.
    let (conn, mut ldap) = LdapConnAsync::with_settings(conn_settings, settings.url.trim())
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
    // An empty password would make an unauthenticated bind, which most
    // servers accept: the search would then run as nobody, not as the DN.
    let password = settings
        .bind_password
        .as_deref()
        .filter(|p| !p.is_empty())
        .ok_or(DirectoryError::NoBindPassword)?;
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

/// The DN (and `mail`) of the one entry named `username`; `None` for
/// none, or for a name that more than one entry has (refused rather than
/// guessed).
async fn find_account(
    ldap: &mut Ldap,
    settings: &DirectorySettings,
    username: &str,
) -> Result<Option<(String, Option<String>)>, DirectoryError> {
    let (entries, _) = ldap
        .search(
            &settings.user_base,
            Scope::Subtree,
            &account_filter(settings, username),
            vec!["mail"],
        )
        .await
        .and_then(|r| r.success())
        .map_err(|source| DirectoryError::Search {
            base: settings.user_base.clone(),
            source: Box::new(source),
        })?;
    let mut entries = entries.into_iter();
    Ok(match (entries.next(), entries.next()) {
        (Some(entry), None) => {
            let entry = SearchEntry::construct(entry);
            let mail = entry.attrs.get("mail").and_then(|m| m.first()).cloned();
            Some((entry.dn, mail))
        }
        (Some(_), Some(_)) | (None, _) => None,
    })
}

/// DNs of the groups that list `dn` as a member.
async fn groups_of(
    ldap: &mut Ldap,
    settings: &DirectorySettings,
    dn: &str,
) -> Result<Vec<String>, DirectoryError> {
    if settings.group_base.is_empty() {
        return Ok(Vec::new());
    }
    let (entries, _) = ldap
        .search(
            &settings.group_base,
            Scope::Subtree,
            &format!("(member={})", ldap_escape(dn)),
            vec!["1.1"],
        )
        .await
        .and_then(|r| r.success())
        .map_err(|source| DirectoryError::Search {
            base: settings.group_base.clone(),
            source: Box::new(source),
        })?;
    Ok(entries
        .into_iter()
        .map(|e| SearchEntry::construct(e).dn)
        .collect())
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
    let Some((dn, mail)) = find_account(&mut ldap, settings, username).await? else {
        let _ = ldap.unbind().await;
        return Ok(None);
    };
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
    let groups = groups_of(&mut ldap, settings, &dn).await?;
    let _ = ldap.unbind().await;
    Ok(Some(DirectoryAccount { dn, groups, mail }))
}

/// Looks `username` up again with the service account, without its
/// password: `None` when its entry is gone.
pub async fn lookup(
    settings: &DirectorySettings,
    username: &str,
) -> Result<Option<DirectoryAccount>, DirectoryError> {
    let mut ldap = connect(settings).await?;
    service_bind(&mut ldap, settings).await?;
    let found = match find_account(&mut ldap, settings, username).await? {
        Some((dn, mail)) => {
            let groups = groups_of(&mut ldap, settings, &dn).await?;
            Some(DirectoryAccount { dn, groups, mail })
        }
        None => None,
    };
    let _ = ldap.unbind().await;
    Ok(found)
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
            starttls: true,
            allow_cleartext: false,
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
