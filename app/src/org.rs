//! Delegation: departments, their members and admins, quotas, the audit
//! log and directory (LDAP) sign-in. Shared by the portal, the REST API
//! and the server.

use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::model::{AccountSource, AuditOutcome, Role};

pub use crate::quota::{Quota, QuotaUse, Usage};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DepartmentView {
    pub id: i64,
    pub name: String,
    pub parent_id: Option<i64>,
    /// Names from the top, e.g. "Science / Physics".
    pub path: String,
    /// Covers the sub-departments too.
    pub quota: Quota,
    pub usage: Usage,
    pub members: u32,
    pub admins: Vec<String>,
    /// Whether the caller may set this department's quota, rename it and
    /// remove it: an appliance admin, or the admin of a department above.
    pub may_change: bool,
}

/// `POST /api/v1/departments`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewDepartment {
    #[cfg_attr(
        feature = "ssr",
        schema(
            pattern = r"^[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]{0,62}[^\s\x00-\x1f\x7f-\x9f]$|^[^\s\x00-\x1f\x7f-\x9f]$"
        )
    )]
    pub name: String,
    /// The department it sits in; a top-level one when absent.
    #[serde(default)]
    pub parent_id: Option<i64>,
}

/// `PATCH /api/v1/departments/{id}`: what is given changes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DepartmentChange {
    #[serde(default)]
    #[cfg_attr(
        feature = "ssr",
        schema(
            pattern = r"^[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]{0,62}[^\s\x00-\x1f\x7f-\x9f]$|^[^\s\x00-\x1f\x7f-\x9f]$"
        )
    )]
    pub name: Option<String>,
    #[serde(default)]
    pub quota: Option<Quota>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct MemberView {
    pub id: i64,
    pub username: String,
    pub role: Role,
    pub department_id: Option<i64>,
    pub department: Option<String>,
    pub may_deploy: bool,
    pub disabled: bool,
    /// `local` or `directory`.
    pub source: AccountSource,
    pub quota: Quota,
    pub usage: Usage,
    /// Whether it has an authenticator app as a second factor.
    pub authenticator_app: bool,
    /// Whether it has a passkey or security key as a second factor.
    pub passkeys: bool,
    /// Until when its second factor is locked after too many wrong codes
    /// (RFC 3339); an admin can lift the lock sooner.
    pub second_factor_locked_until: Option<String>,
}

/// `GET /api/v1/users` query: which accounts, a page at a time, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
pub struct MemberQuery {
    /// Only this department's accounts.
    #[serde(default)]
    pub department: Option<i64>,
    /// What the account's name starts with (any case).
    #[serde(default)]
    #[cfg_attr(feature = "ssr", param(max_length = 100))]
    pub q: Option<String>,
    /// At most this many (default 50, at most 200).
    #[serde(default)]
    #[cfg_attr(feature = "ssr", param(minimum = 1, maximum = 200))]
    pub limit: Option<u32>,
    /// Where the page starts: the `next` cursor of the page before, given
    /// with the same filters.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// `POST /api/v1/users`: a local account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    #[cfg_attr(feature = "ssr", schema(pattern = r"^[a-z0-9][a-z0-9._-]{0,63}$"))]
    pub username: String,
    /// At least 12 characters, and not easy to guess.
    #[cfg_attr(feature = "ssr", schema(min_length = 12, max_length = 1024))]
    pub password: String,
    #[serde(default)]
    pub department_id: Option<i64>,
    /// Appoints the account admin of its department (appliance admins only).
    #[serde(default)]
    pub department_admin: bool,
    #[serde(default = "yes")]
    pub may_deploy: bool,
}

fn yes() -> bool {
    true
}

/// For fields where a missing key keeps the value and `null` clears it:
/// `null` reads as `Some(None)`.
fn null_is_a_value<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// `PATCH /api/v1/users/{id}`: what is given changes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MemberChange {
    /// The department to move the account to; `null` takes it out of its
    /// department (and ends a department admin's role).
    #[serde(
        default,
        deserialize_with = "null_is_a_value",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "ssr", schema(value_type = Option<i64>))]
    pub department_id: Option<Option<i64>>,
    #[serde(default)]
    pub department_admin: Option<bool>,
    #[serde(default)]
    pub may_deploy: Option<bool>,
    #[serde(default)]
    pub quota: Option<Quota>,
}

/// One audit record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    pub id: i64,
    /// RFC 3339.
    pub at: String,
    pub actor: Option<String>,
    pub address: Option<String>,
    pub action: String,
    pub object: Option<String>,
    /// `ok`, `refused` or `failed`.
    pub outcome: AuditOutcome,
    pub detail: Option<String>,
}

/// `GET /api/v1/audit` query: all given filters apply.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
pub struct AuditFilter {
    /// Exact account name.
    #[serde(default)]
    pub actor: Option<String>,
    /// Action prefix, e.g. `sign_in` or `instance.`.
    #[serde(default)]
    pub action: Option<String>,
    /// `ok`, `refused` or `failed`.
    #[serde(default)]
    pub outcome: Option<String>,
    /// At most this many, newest first (default 50, at most 200).
    #[serde(default)]
    #[cfg_attr(feature = "ssr", param(minimum = 1, maximum = 200))]
    pub limit: Option<u32>,
    /// Where the page starts: the `next` cursor of the page before, given
    /// with the same filters.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// What a directory group makes its members.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GroupMapping {
    /// The group's DN.
    pub group_dn: String,
    pub department_id: i64,
    /// `user` or `department_admin`.
    pub role: Role,
}

/// The LDAP directory accounts may sign in with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DirectorySettings {
    /// `ldap://host:389` or `ldaps://host:636`; at most 512 characters.
    #[cfg_attr(feature = "ssr", schema(pattern = r"^\s*ldaps?://"))]
    pub url: String,
    /// Upgrade an `ldap://` connection with StartTLS before anything is sent.
    #[serde(default)]
    pub starttls: bool,
    /// Allow `ldap://` without StartTLS: passwords then cross the network
    /// in the clear. Off unless an admin turns it on.
    #[serde(default)]
    pub allow_cleartext: bool,
    /// The service account that searches; empty for an anonymous search.
    #[serde(default)]
    pub bind_dn: String,
    /// Write-only: never returned. Absent keeps the stored one, unless the
    /// URL or the bind DN changes: then the stored one is dropped.
    #[serde(default, skip_serializing)]
    pub bind_password: Option<String>,
    /// Where accounts live, e.g. `ou=people,dc=example,dc=org`.
    pub user_base: String,
    /// Which entries are accounts, e.g. `(objectClass=inetOrgPerson)`.
    #[serde(default = "default_user_filter")]
    pub user_filter: String,
    /// The attribute holding the sign-in name.
    #[serde(default = "default_username_attribute")]
    #[cfg_attr(feature = "ssr", schema(pattern = r"^[A-Za-z0-9-]{1,64}$"))]
    pub username_attribute: String,
    /// Where groups live; groups list members by DN (`member`).
    #[serde(default)]
    pub group_base: String,
    #[serde(default)]
    pub group_mappings: Vec<GroupMapping>,
    /// PEM of the CA that signed an `ldaps://` server's certificate, when
    /// it is not in the system's trust store.
    #[serde(default)]
    pub ca_certificate: Option<String>,
}

/// How a directory connection is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirectoryTransport {
    /// `ldaps://`: TLS from the first byte.
    Ldaps,
    /// `ldap://` upgraded with StartTLS before anything is sent.
    StartTls,
    /// `ldap://` in the clear, which the admin allowed explicitly.
    Cleartext,
}

impl DirectorySettings {
    /// How the settings connect, or why they may not.
    pub fn transport(&self) -> Result<DirectoryTransport, &'static str> {
        let url = self.url.trim();
        let rest = url
            .strip_prefix("ldaps://")
            .or_else(|| url.strip_prefix("ldap://"));
        // The LDAP client reads the URL with the `url` crate, which drops
        // controls at the ends and tabs and newlines within: what names a
        // host here must name one there too, or the client panics.
        let names_a_host = url::Url::parse(url)
            .ok()
            .map(|u| u.host_str().is_some_and(|h| !h.is_empty()));
        if rest.is_some_and(|rest| host_of(rest).is_empty()) || names_a_host == Some(false) {
            return Err("the URL names no host: use ldap://host:port or ldaps://host:port");
        }
        if rest.is_some() && names_a_host.is_none() {
            return Err("the URL cannot be read: use ldap://host:port or ldaps://host:port");
        }
        if url.starts_with("ldaps://") {
            if self.starttls {
                return Err("StartTLS is for ldap:// URLs; ldaps:// is TLS already");
            }
            Ok(DirectoryTransport::Ldaps)
        } else if url.starts_with("ldap://") {
            match (self.starttls, self.allow_cleartext) {
                (true, _) => Ok(DirectoryTransport::StartTls),
                (false, true) => Ok(DirectoryTransport::Cleartext),
                (false, false) => Err(
                    "ldap:// would send passwords in the clear: turn on StartTLS, use ldaps://, \
                     or allow cleartext explicitly",
                ),
            }
        } else {
            Err("use ldap://host:port or ldaps://host:port")
        }
    }
}

/// The host of what follows a URL's `scheme://`: the authority without
/// its user and port (an IPv6 address keeps its brackets). The LDAP
/// client takes a URL without one for a programming error and panics.
fn host_of(after_scheme: &str) -> &str {
    let authority = after_scheme
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    if host_port.starts_with('[') {
        return host_port.split_inclusive(']').next().unwrap_or_default();
    }
    host_port.split(':').next().unwrap_or_default()
}

fn default_user_filter() -> String {
    "(objectClass=inetOrgPerson)".into()
}

fn default_username_attribute() -> String {
    "uid".into()
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DirectoryView {
    /// `None` until an admin configures a directory.
    pub settings: Option<DirectorySettings>,
    pub bind_password_set: bool,
}

/// The answer of the "test" button.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DirectoryTest {
    pub ok: bool,
    pub message: String,
    /// Accounts the user filter finds (up to 1000).
    pub accounts: u32,
}

/// The group mappings of the portal's directory form: one
/// `GROUP DN | DEPARTMENT | ROLE` a line (blank lines skipped), the
/// department by name or path among `departments`, the role `user` or
/// `department_admin`. The first bad line is named in the error.
pub fn group_mappings_from_lines(
    lines: &str,
    departments: &[DepartmentView],
) -> Result<Vec<GroupMapping>, AppError> {
    let mut group_mappings = Vec::new();
    for (n, line) in lines
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let parts: Vec<&str> = line.split('|').map(str::trim).collect();
        let bad = |why: &str| AppError::invalid("mappings", format!("line {}: {why}", n + 1));
        let [group_dn, department, role] = parts[..] else {
            return Err(bad(
                "write GROUP DN | DEPARTMENT | user or department_admin",
            ));
        };
        let department_id = departments
            .iter()
            .find(|d| d.name == department || d.path == department)
            .map(|d| d.id)
            .ok_or_else(|| bad(&format!("there is no department {department:?}")))?;
        // A group never makes appliance admins: those are local accounts.
        let role = match role.parse::<Role>() {
            Ok(role @ (Role::User | Role::DepartmentAdmin)) => role,
            Ok(Role::Admin) | Err(_) => {
                return Err(bad("the role is user or department_admin"));
            }
        };
        group_mappings.push(GroupMapping {
            group_dn: group_dn.to_owned(),
            department_id,
            role,
        });
    }
    Ok(group_mappings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str, starttls: bool) -> DirectorySettings {
        DirectorySettings {
            url: url.into(),
            starttls,
            allow_cleartext: false,
            bind_dn: String::new(),
            bind_password: None,
            user_base: "dc=example,dc=org".into(),
            user_filter: default_user_filter(),
            username_attribute: default_username_attribute(),
            group_base: String::new(),
            group_mappings: Vec::new(),
            ca_certificate: None,
        }
    }

    #[test]
    fn a_directory_url_the_clients_parser_reads_without_a_host_is_refused() {
        // Found by Schemathesis: the client's parser drops a trailing
        // control, and tabs within; it then found no host, and panicked.
        for url in [" \n\u{b} \r\nldaps://\u{e}", "ldaps://\t:636"] {
            assert!(settings(url, false).transport().is_err(), "{url:?}");
        }
    }

    #[test]
    fn a_directory_url_without_a_host_is_refused_before_any_connection() {
        for url in [
            "ldaps://",
            "\u{b}\r\t\t\u{c}\n \r\u{c}\r\rldaps://",
            "ldaps://:636",
            "ldaps://admin@:636",
            "ldaps:///dc=example",
            "ldap://?x",
        ] {
            assert_eq!(
                settings(url, url.starts_with("ldap:")).transport(),
                Err("the URL names no host: use ldap://host:port or ldaps://host:port"),
                "{url:?}"
            );
        }
        for (url, starttls, transport) in [
            ("ldaps://dir.example.org", false, DirectoryTransport::Ldaps),
            (" ldaps://u@dir:636/dc=x ", false, DirectoryTransport::Ldaps),
            ("ldap://[::1]:389", true, DirectoryTransport::StartTls),
            ("ldap://127.0.0.1", true, DirectoryTransport::StartTls),
        ] {
            assert_eq!(
                settings(url, starttls).transport(),
                Ok(transport),
                "{url:?}"
            );
        }
    }
}
