//! Input rules shared by the server (which enforces them) and the portal.
//! Each returns the normalized value or an `AppError::Invalid` naming the
//! field, with a message a person can act on.

use std::net::{IpAddr, Ipv4Addr};

use crate::error::AppError;
use crate::model::OutsideZoneSettings;

pub const NAME_MAX: usize = 64;
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
            "must not carry parameters (?…): dpe connects with libvirt's defaults",
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
        ("qemu+tls", _) if system => remote("tls"),
        ("qemu+ssh" | "qemu+tls", _) => Err(AppError::invalid(
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

/// The most addresses an outside pool may hold (a /16).
pub const POOL_MAX: u32 = 65_536;

/// An outside zone after validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutsideZone {
    pub bridge: String,
    pub first: Ipv4Addr,
    pub last: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Option<Ipv4Addr>,
    pub dns: Vec<IpAddr>,
}

impl OutsideZone {
    /// How many addresses the pool holds.
    pub fn size(&self) -> u32 {
        u32::from(self.last) - u32::from(self.first) + 1
    }

    pub fn settings(&self) -> OutsideZoneSettings {
        OutsideZoneSettings {
            bridge: self.bridge.clone(),
            first_address: self.first.to_string(),
            last_address: self.last.to_string(),
            prefix_len: self.prefix_len,
            gateway: self.gateway.map(|g| g.to_string()),
            dns: self.dns.iter().map(IpAddr::to_string).collect(),
        }
    }
}

/// A unicast IPv4 address. (Loopback passes: tests on libvirt's test
/// driver use it so that health checks never leave the machine.)
fn ipv4(field: &str, text: &str) -> Result<Ipv4Addr, AppError> {
    let address: Ipv4Addr = text
        .trim()
        .parse()
        .map_err(|_| AppError::invalid(field, "is not an IPv4 address such as 192.0.2.10"))?;
    if address.is_unspecified() || address.is_multicast() || address.is_broadcast() {
        return Err(AppError::invalid(field, "is not a host address"));
    }
    Ok(address)
}

/// The outside zone's settings: a Linux bridge name and a pool of IPv4
/// addresses inside one subnet, with an optional router outside the pool.
pub fn outside_zone(settings: &OutsideZoneSettings) -> Result<OutsideZone, AppError> {
    let bridge = settings.bridge.trim();
    if bridge.is_empty() {
        return Err(AppError::invalid("bridge", "is required"));
    }
    // IFNAMSIZ is 16 with the terminating NUL.
    if bridge.len() > 15 {
        return Err(AppError::invalid("bridge", "use at most 15 characters"));
    }
    if let Some(bad) = bridge
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "._-".contains(*c)))
    {
        return Err(AppError::invalid(
            "bridge",
            format!("{bad:?} is not allowed in an interface name"),
        ));
    }
    let first = ipv4("first_address", &settings.first_address)?;
    let last = ipv4("last_address", &settings.last_address)?;
    let prefix_len = settings.prefix_len;
    if !(1..=30).contains(&prefix_len) {
        return Err(AppError::invalid("prefix_len", "must be between 1 and 30"));
    }
    let mask = u32::MAX << (32 - u32::from(prefix_len));
    let network = u32::from(first) & mask;
    let broadcast = network | !mask;
    let in_subnet = |a: Ipv4Addr| u32::from(a) & mask == network;
    if !in_subnet(last) {
        return Err(AppError::invalid(
            "last_address",
            format!(
                "is not in {}/{prefix_len}, the first address's subnet",
                Ipv4Addr::from(network)
            ),
        ));
    }
    if u32::from(last) < u32::from(first) {
        return Err(AppError::invalid(
            "last_address",
            "must not come before the first address",
        ));
    }
    if u32::from(first) == network {
        return Err(AppError::invalid(
            "first_address",
            "is the subnet's own address, which no host may use",
        ));
    }
    if u32::from(last) == broadcast {
        return Err(AppError::invalid(
            "last_address",
            "is the subnet's broadcast address",
        ));
    }
    if u32::from(last) - u32::from(first) >= POOL_MAX {
        return Err(AppError::invalid(
            "last_address",
            format!("the pool may hold at most {POOL_MAX} addresses"),
        ));
    }
    let gateway = match settings.gateway.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => {
            let gateway = ipv4("gateway", text)?;
            if !in_subnet(gateway)
                || u32::from(gateway) == network
                || u32::from(gateway) == broadcast
            {
                return Err(AppError::invalid(
                    "gateway",
                    "must be a host address in the pool's subnet",
                ));
            }
            if (u32::from(first)..=u32::from(last)).contains(&u32::from(gateway)) {
                return Err(AppError::invalid(
                    "gateway",
                    "lies inside the pool: dpe would give it to an instance",
                ));
            }
            Some(gateway)
        }
    };
    let dns_texts: Vec<&str> = settings
        .dns
        .iter()
        .flat_map(|d| d.split([',', ' ']))
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .collect();
    if dns_texts.len() > 3 {
        return Err(AppError::invalid("dns", "give at most 3 name servers"));
    }
    let dns = dns_texts
        .iter()
        .map(|d| {
            d.parse::<IpAddr>()
                .map_err(|_| AppError::invalid("dns", format!("{d:?} is not an IP address")))
        })
        .collect::<Result<_, _>>()?;
    Ok(OutsideZone {
        bridge: bridge.to_owned(),
        first,
        last,
        prefix_len,
        gateway,
        dns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn zone(first: &str, last: &str, prefix_len: u8, gateway: Option<&str>) -> OutsideZoneSettings {
        OutsideZoneSettings {
            bridge: "br0".into(),
            first_address: first.into(),
            last_address: last.into(),
            prefix_len,
            gateway: gateway.map(str::to_owned),
            dns: vec!["192.0.2.1, 2001:db8::1".into()],
        }
    }

    #[test]
    fn outside_zone_accepts_a_pool_in_one_subnet() {
        let z = outside_zone(&zone("192.0.2.10", "192.0.2.19", 24, Some("192.0.2.1"))).unwrap();
        assert_eq!(z.size(), 10);
        assert_eq!(z.dns.len(), 2);
        assert_eq!(z.settings().gateway.as_deref(), Some("192.0.2.1"));
    }

    #[test]
    fn outside_zone_refusals_name_the_field() {
        let field =
            |s: OutsideZoneSettings| outside_zone(&s).unwrap_err().field().map(str::to_owned);
        let ok = zone("192.0.2.10", "192.0.2.19", 24, None);
        assert_eq!(
            field(OutsideZoneSettings {
                bridge: "<br>".into(),
                ..ok.clone()
            })
            .as_deref(),
            Some("bridge")
        );
        assert_eq!(
            field(OutsideZoneSettings {
                bridge: "a-very-long-bridge".into(),
                ..ok.clone()
            })
            .as_deref(),
            Some("bridge")
        );
        assert_eq!(
            field(zone("192.0.2.300", "192.0.2.19", 24, None)).as_deref(),
            Some("first_address")
        );
        assert_eq!(
            field(zone("192.0.2.10", "192.0.3.19", 24, None)).as_deref(),
            Some("last_address")
        );
        assert_eq!(
            field(zone("192.0.2.19", "192.0.2.10", 24, None)).as_deref(),
            Some("last_address")
        );
        assert_eq!(
            field(zone("192.0.2.0", "192.0.2.10", 24, None)).as_deref(),
            Some("first_address")
        );
        assert_eq!(
            field(zone("192.0.2.10", "192.0.2.255", 24, None)).as_deref(),
            Some("last_address")
        );
        assert_eq!(
            field(zone("10.0.0.1", "10.2.0.1", 8, None)).as_deref(),
            Some("last_address")
        );
        assert_eq!(
            field(zone("192.0.2.10", "192.0.2.19", 31, None)).as_deref(),
            Some("prefix_len")
        );
        assert_eq!(
            field(zone("192.0.2.10", "192.0.2.19", 24, Some("192.0.2.12"))).as_deref(),
            Some("gateway")
        );
        assert_eq!(
            field(zone("192.0.2.10", "192.0.2.19", 24, Some("198.51.100.1"))).as_deref(),
            Some("gateway")
        );
        assert_eq!(
            field(OutsideZoneSettings {
                dns: vec!["a.b".into()],
                ..ok
            })
            .as_deref(),
            Some("dns")
        );
    }
}
