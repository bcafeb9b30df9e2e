//! Input rules shared by the server (which enforces them) and the portal.
//! Each returns the normalized value or an `AppError::Invalid` naming the
//! field, with a message a person can act on.

use crate::error::AppError;

mod zone;
pub use zone::{OutsideZone, POOL_MAX, outside_zone};

pub const NAME_MAX: usize = 64;
const DESCRIPTION_MAX: usize = 500;
const URI_MAX: usize = 512;
const PATH_MAX: usize = 1024;

fn no_controls(field: &str, text: &str) -> Result<(), AppError> {
    if text.chars().any(char::is_control) {
        return Err(AppError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// A free-text display name (appliance, token): trimmed, 1 to 64
/// characters, any script, no control characters.
pub fn display_name(field: &str, text: &str) -> Result<String, AppError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(AppError::invalid(field, "is required"));
    }
    if text.chars().count() > NAME_MAX {
        return Err(AppError::invalid(
            field,
            format!("use at most {NAME_MAX} characters"),
        ));
    }
    no_controls(field, text)?;
    Ok(text.to_owned())
}

/// A snapshot's description: at most 500 characters, line breaks allowed
/// but no other control characters; trimmed.
pub fn description(field: &str, text: &str) -> Result<String, AppError> {
    let text = text.trim();
    if text.chars().count() > DESCRIPTION_MAX {
        return Err(AppError::invalid(
            field,
            format!("use at most {DESCRIPTION_MAX} characters"),
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r')
    {
        return Err(AppError::invalid(
            field,
            "must not contain control characters other than line breaks",
        ));
    }
    Ok(text.to_owned())
}

/// A user name: lower-cased; 1 to 64 of `a-z 0-9 . _ -`, starting with a
/// letter or digit, so it is safe in paths, logs and directory filters.
pub fn username(field: &str, text: &str) -> Result<String, AppError> {
    let name = text.trim().to_lowercase();
    if name.is_empty() {
        return Err(AppError::invalid(field, "is required"));
    }
    if name.chars().count() > NAME_MAX {
        return Err(AppError::invalid(
            field,
            format!("use at most {NAME_MAX} characters"),
        ));
    }
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c);
    if let Some(bad) = name.chars().find(|c| !ok_char(*c)) {
        return Err(AppError::invalid(
            field,
            format!("{bad:?} is not allowed: use lower-case letters, digits, '.', '_' and '-'"),
        ));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(AppError::invalid(
            field,
            "must start with a letter or a digit",
        ));
    }
    Ok(name)
}

/// The largest memory or disk figure a quota may hold: what the store's
/// integers hold.
pub const QUOTA_AMOUNT_MAX: u64 = i64::MAX as u64;

/// A quota whose every figure the store can hold.
pub fn quota(field: &str, quota: &crate::org::Quota) -> Result<(), AppError> {
    let too_big = |v: Option<u64>| v.is_some_and(|v| v > QUOTA_AMOUNT_MAX);
    if too_big(quota.memory_mib) || too_big(quota.disk_gib) {
        return Err(AppError::invalid(
            field,
            format!("memory and disk limits are at most {QUOTA_AMOUNT_MAX}"),
        ));
    }
    Ok(())
}

/// A lease policy whose figures make sense together: a lease and an
/// extension of at least a day, up to [`MAX_POLICY_DAYS`] days, the
/// extension's reach no shorter than the lease itself.
///
/// [`MAX_POLICY_DAYS`]: crate::model::MAX_POLICY_DAYS
pub fn lease_policy(field: &str, policy: &crate::model::LeasePolicy) -> Result<(), AppError> {
    use crate::model::MAX_POLICY_DAYS;
    let in_range = |days: u32| (1..=MAX_POLICY_DAYS).contains(&days);
    if policy.lease_days.is_some_and(|d| !in_range(d)) {
        return Err(AppError::invalid(
            field,
            format!("a lease runs 1 to {MAX_POLICY_DAYS} days"),
        ));
    }
    if !in_range(policy.max_days) {
        return Err(AppError::invalid(
            field,
            format!("an extension reaches 1 to {MAX_POLICY_DAYS} days ahead"),
        ));
    }
    if policy.lease_days.is_some_and(|d| d > policy.max_days) {
        return Err(AppError::invalid(
            field,
            "an extension must reach at least as far as the lease itself",
        ));
    }
    if policy.grace_days > MAX_POLICY_DAYS {
        return Err(AppError::invalid(
            field,
            format!("the grace period is at most {MAX_POLICY_DAYS} days"),
        ));
    }
    if policy.follow_use_days > policy.max_days {
        return Err(AppError::invalid(
            field,
            "use may extend a lease at most as far as an extension reaches",
        ));
    }
    Ok(())
}

/// An approval policy's bounds: a time-out of 1 to [`MAX_POLICY_DAYS`]
/// days, size limits within reason.
///
/// [`MAX_POLICY_DAYS`]: crate::model::MAX_POLICY_DAYS
pub fn approval_policy(field: &str, policy: &crate::model::ApprovalPolicy) -> Result<(), AppError> {
    use crate::model::{MAX_APPROVAL_MEMORY_MIB, MAX_APPROVAL_VCPUS, MAX_POLICY_DAYS};
    if !(1..=MAX_POLICY_DAYS).contains(&policy.timeout_days) {
        return Err(AppError::invalid(
            field,
            format!("a request waits 1 to {MAX_POLICY_DAYS} days for a decision"),
        ));
    }
    if policy.max_vcpus > MAX_APPROVAL_VCPUS || policy.max_memory_mib > MAX_APPROVAL_MEMORY_MIB {
        return Err(AppError::invalid(
            field,
            format!(
                "a size limit is at most {MAX_APPROVAL_VCPUS} vCPUs and {MAX_APPROVAL_MEMORY_MIB} MiB"
            ),
        ));
    }
    Ok(())
}

/// The longest an API token may be made to last, in days.
pub const TOKEN_DAYS_MAX: u32 = 3650;

/// Whether the libvirt test driver may be named (`allow_test_driver`): it
/// runs nothing, and only its built-in `test:///default` is accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestDriver {
    Allowed,
    Refused,
}

/// A libvirt connection URI that dpe may open: `qemu:///system` (this
/// machine), `qemu+ssh://[user@]host[:port]/system` or
/// `qemu+tls://host[:port]/system`, and `test:///default` where allowed.
///
/// Only these transports, and no query: other transports and parameters
/// make libvirt run a program (`qemu+ext`, `?command=`), open a socket or
/// key file of the caller's choosing (`?socket=`, `?keyfile=`), probe ports
/// without authentication (`qemu+tcp`), or read a file (`test:///PATH`).
pub fn libvirt_uri(field: &str, text: &str, test_driver: TestDriver) -> Result<String, AppError> {
    let uri = text.trim();
    if uri.is_empty() {
        return Err(AppError::invalid(field, "is required"));
    }
    if uri.len() > URI_MAX {
        return Err(AppError::invalid(
            field,
            format!("use at most {URI_MAX} bytes"),
        ));
    }
    no_controls(field, uri)?;
    if uri.chars().any(char::is_whitespace) {
        return Err(AppError::invalid(field, "must not contain spaces"));
    }
    if uri.contains(['?', '#']) {
        return Err(AppError::invalid(
            field,
            "must not carry parameters (?…): dpe adds its own credentials",
        ));
    }
    let Some((scheme, rest)) = uri.split_once("://") else {
        return Err(AppError::invalid(
            field,
            "expected a libvirt URI such as qemu:///system",
        ));
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let remote = |transport: &str| -> Result<String, AppError> {
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let host_ok = !host.is_empty()
            && host.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']' | '_')
            });
        if !host_ok {
            return Err(AppError::invalid(
                field,
                format!(
                    "qemu+{transport} needs a host, e.g. qemu+{transport}://kvm1.example.org/system"
                ),
            ));
        }
        Ok(uri.to_owned())
    };
    let system = matches!(path, "/system" | "/session");
    match (scheme, test_driver) {
        ("qemu" | "qemu+unix", _) if authority.is_empty() && system => Ok(uri.to_owned()),
        ("qemu" | "qemu+unix", _) => Err(AppError::invalid(
            field,
            "a local libvirt is qemu:///system (for another machine use qemu+ssh:// or qemu+tls://)",
        )),
        ("qemu+ssh", _) if system => remote("ssh"),
        ("qemu+libssh", _) if system => remote("libssh"),
        ("qemu+tls", _) if system => remote("tls"),
        ("qemu+ssh" | "qemu+libssh" | "qemu+tls", _) => Err(AppError::invalid(
            field,
            "the path must be /system, e.g. qemu+ssh://kvm1.example.org/system",
        )),
        ("test", TestDriver::Allowed) if uri == "test:///default" => Ok(uri.to_owned()),
        ("test", TestDriver::Allowed) => Err(AppError::invalid(
            field,
            "the test driver is test:///default",
        )),
        ("test", TestDriver::Refused) => Err(AppError::invalid(
            field,
            "the libvirt test driver is not enabled on this appliance (allow_test_driver)",
        )),
        (other, _) => Err(AppError::invalid(
            field,
            format!(
                "unsupported transport {other:?}: use qemu:///system, qemu+ssh:// or qemu+tls://"
            ),
        )),
    }
}

/// An absolute directory path on a host.
pub fn absolute_dir(field: &str, text: &str) -> Result<String, AppError> {
    let path = text.trim();
    if path.is_empty() {
        return Err(AppError::invalid(field, "is required"));
    }
    if path.len() > PATH_MAX {
        return Err(AppError::invalid(
            field,
            format!("use at most {PATH_MAX} bytes"),
        ));
    }
    no_controls(field, path)?;
    if !path.starts_with('/') {
        return Err(AppError::invalid(
            field,
            "must be an absolute path, starting with /",
        ));
    }
    if path.split('/').any(|part| part == "..") {
        return Err(AppError::invalid(field, "must not contain '..'"));
    }
    Ok(path.to_owned())
}

/// A libvirt object name (network, pool): 1 to 64 of `A-Z a-z 0-9 . _ -`.
pub fn libvirt_name(field: &str, text: &str) -> Result<String, AppError> {
    let name = text.trim();
    if name.is_empty() {
        return Err(AppError::invalid(field, "is required"));
    }
    if name.len() > NAME_MAX {
        return Err(AppError::invalid(
            field,
            format!("use at most {NAME_MAX} characters"),
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "._-".contains(*c)))
    {
        return Err(AppError::invalid(
            field,
            format!("{bad:?} is not allowed in a libvirt name"),
        ));
    }
    Ok(name.to_owned())
}

/// An instance name: a DNS label (RFC 1123), so it can be the guest's host
/// name: 1 to 63 of `a-z 0-9 -`, not starting or ending with `-`.
pub fn dns_label(field: &str, text: &str) -> Result<String, AppError> {
    let name = text.trim();
    if name.is_empty() {
        return Err(AppError::invalid(field, "is required"));
    }
    if name.len() > 63 {
        return Err(AppError::invalid(field, "use at most 63 characters"));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(AppError::invalid(
            field,
            format!("{bad:?} is not allowed: use lower-case letters, digits and '-'"),
        ));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err(AppError::invalid(field, "must not start or end with '-'"));
    }
    Ok(name.to_owned())
}

/// Where to go after signing in: a path of the portal's (`next`), or `/`.
/// `//host` and `/\\host` lead to other hosts, so they are refused.
pub fn local_path(next: &str) -> &str {
    let other_host = next.starts_with("//") || next.starts_with("/\\");
    if next.starts_with('/') && !other_host {
        next
    } else {
        "/"
    }
}

/// Where applications open: a port range of unprivileged ports, at most
/// 10,000 wide, or a domain of DNS labels (lower-cased, no trailing dot).
pub fn apps_addressing(
    field: &str,
    addressing: &crate::model::AppsAddressing,
) -> Result<crate::model::AppsAddressing, AppError> {
    use crate::model::AppsAddressing;
    match addressing {
        AppsAddressing::Ports { first, last } => {
            if *first < 1024 || first > last {
                return Err(AppError::invalid(
                    field,
                    "the ports must run from a first to a last, both 1024 or above",
                ));
            }
            if last - first >= 10_000 {
                return Err(AppError::invalid(field, "use at most 10,000 ports"));
            }
            Ok(addressing.clone())
        }
        AppsAddressing::Domain { domain } => {
            let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
            if domain.is_empty() || domain.len() > 200 {
                return Err(AppError::invalid(
                    field,
                    "a domain such as apps.dpe.example.org is required (at most 200 characters)",
                ));
            }
            for label in domain.split('.') {
                dns_label(field, label).map_err(|_| {
                    AppError::invalid(field, format!("{domain:?} is not a domain name"))
                })?;
            }
            Ok(AppsAddressing::Domain { domain })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apps_addressing_takes_sane_ranges_and_domain_names() {
        use crate::model::AppsAddressing::{Domain, Ports};
        let ok = |a| apps_addressing("apps", &a);
        assert!(
            ok(Ports {
                first: 20000,
                last: 20999
            })
            .is_ok()
        );
        assert!(
            ok(Ports {
                first: 80,
                last: 90
            })
            .is_err(),
            "privileged"
        );
        assert!(
            ok(Ports {
                first: 3000,
                last: 2000
            })
            .is_err(),
            "backwards"
        );
        assert!(
            ok(Ports {
                first: 2000,
                last: 40000
            })
            .is_err(),
            "too wide"
        );
        assert_eq!(
            ok(Domain {
                domain: " Apps.Example.ORG. ".into()
            })
            .unwrap(),
            Domain {
                domain: "apps.example.org".into()
            }
        );
        for bad in ["", "a..b", "a b.org", "-x.org", "x/y"] {
            assert!(ok(Domain { domain: bad.into() }).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn usernames_are_normalized_and_restricted() {
        assert_eq!(username("u", "  Ann.Lee ").unwrap(), "ann.lee");
        for bad in [
            "",
            "a<b",
            "o'neil",
            "\"x\"",
            "a&b",
            "é",
            "-x",
            "a b",
            &"x".repeat(65),
        ] {
            let err = username("u", bad).unwrap_err();
            assert_eq!(err.field(), Some("u"), "{bad:?}");
        }
    }

    #[test]
    fn display_names_take_any_script_but_not_controls() {
        assert_eq!(
            display_name("n", " Physik <Labor> & Co's \"wiki\" ").unwrap(),
            "Physik <Labor> & Co's \"wiki\""
        );
        assert_eq!(display_name("n", "物理学部").unwrap(), "物理学部");
        assert!(display_name("n", "a\u{0007}b").is_err());
        assert!(display_name("n", "   ").is_err());
        assert!(display_name("n", &"ü".repeat(65)).is_err());
        assert!(display_name("n", &"ü".repeat(64)).is_ok());
    }

    #[test]
    fn instance_names_are_dns_labels() {
        assert_eq!(dns_label("n", " wiki-1 ").unwrap(), "wiki-1");
        for bad in [
            "",
            "Wiki",
            "wiki_1",
            "-wiki",
            "wiki-",
            "wïki",
            "a<b",
            &"a".repeat(64),
        ] {
            assert!(dns_label("n", bad).is_err(), "{bad:?}");
        }
        assert!(dns_label("n", &"a".repeat(63)).is_ok());
    }

    #[test]
    fn uris_paths_and_libvirt_names() {
        use TestDriver::{Allowed, Refused};
        for good in [
            "qemu:///system",
            "qemu+unix:///system",
            "qemu+ssh://root@kvm2/system",
            "qemu+ssh://kvm2.example.org:2222/system",
            "qemu+tls://kvm2.example.org/system",
            "qemu+libssh://root@198.18.0.3/system",
        ] {
            assert_eq!(
                libvirt_uri("h", good, Refused).as_deref(),
                Ok(good),
                "{good}"
            );
        }
        assert!(libvirt_uri("h", "test:///default", Allowed).is_ok());
        for bad in [
            "test:///default",
            "xen:///",
            "/etc/passwd",
            "qemu+ext:///system?command=/usr/bin/touch",
            "qemu:///system?socket=/tmp/evil",
            "qemu+ssh://kvm2/system?keyfile=/etc/dpe/key",
            "qemu+ssh://kvm2/system?no_verify=1",
            "qemu+libssh://kvm2/system?known_hosts_verify=ignore",
            "qemu+tls://kvm2/system?pkipath=/tmp/evil",
            "qemu+libssh://kvm2/etc",
            "qemu+tcp://kvm2/system",
            "qemu+libssh2://kvm2/system",
            "qemu://kvm2/system",
            "qemu+ssh:///system",
            "qemu+ssh://kvm2/etc/passwd",
            "qemu:///system#x",
        ] {
            assert!(libvirt_uri("h", bad, Refused).is_err(), "{bad}");
        }
        for bad in [
            "test:///etc/passwd",
            "test+ext:///default",
            "test:///default?x=1",
        ] {
            assert!(libvirt_uri("h", bad, Allowed).is_err(), "{bad}");
        }
        assert!(absolute_dir("s", "/var/lib/dpe").is_ok());
        assert!(absolute_dir("s", "relative/dir").is_err());
        assert!(absolute_dir("s", "/var/../etc").is_err());
        assert!(libvirt_name("n", "default").is_ok());
        assert!(libvirt_name("n", "bad name").is_err());
    }
}
