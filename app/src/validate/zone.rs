//! The outside zone's settings, checked: a bridge and a pool of IPv4
//! addresses in one subnet, with an optional router and name servers.

use std::net::{IpAddr, Ipv4Addr};

use crate::error::AppError;
use crate::model::OutsideZoneSettings;

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
    let bridge = bridge_name(&settings.bridge)?;
    let first = ipv4("first_address", &settings.first_address)?;
    let last = ipv4("last_address", &settings.last_address)?;
    let subnet = Subnet::of(first, settings.prefix_len)?;
    pool(subnet, first, last)?;
    let gateway = match settings.gateway.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(gateway(subnet, first, last, text)?),
    };
    Ok(OutsideZone {
        bridge: bridge.to_owned(),
        first,
        last,
        prefix_len: subnet.prefix_len,
        gateway,
        dns: name_servers(&settings.dns)?,
    })
}

/// A Linux interface name: IFNAMSIZ is 16 with the terminating NUL.
fn bridge_name(text: &str) -> Result<&str, AppError> {
    let bridge = text.trim();
    if bridge.is_empty() {
        return Err(AppError::invalid("bridge", "is required"));
    }
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
    Ok(bridge)
}

/// The IPv4 subnet of the pool's first address.
#[derive(Clone, Copy)]
struct Subnet {
    prefix_len: u8,
    mask: u32,
    network: u32,
    broadcast: u32,
}

impl Subnet {
    fn of(first: Ipv4Addr, prefix_len: u8) -> Result<Subnet, AppError> {
        if !(1..=30).contains(&prefix_len) {
            return Err(AppError::invalid("prefix_len", "must be between 1 and 30"));
        }
        let mask = u32::MAX << (32 - u32::from(prefix_len));
        let network = u32::from(first) & mask;
        Ok(Subnet {
            prefix_len,
            mask,
            network,
            broadcast: network | !mask,
        })
    }

    fn contains(self, address: Ipv4Addr) -> bool {
        u32::from(address) & self.mask == self.network
    }

    /// Neither the subnet's own address nor its broadcast address.
    fn is_host(self, address: Ipv4Addr) -> bool {
        self.contains(address)
            && u32::from(address) != self.network
            && u32::from(address) != self.broadcast
    }
}

/// The pool `first..=last`: host addresses of one subnet, in order, at
/// most [`POOL_MAX`] of them.
fn pool(subnet: Subnet, first: Ipv4Addr, last: Ipv4Addr) -> Result<(), AppError> {
    if !subnet.contains(last) {
        return Err(AppError::invalid(
            "last_address",
            format!(
                "is not in {}/{}, the first address's subnet",
                Ipv4Addr::from(subnet.network),
                subnet.prefix_len
            ),
        ));
    }
    if u32::from(last) < u32::from(first) {
        return Err(AppError::invalid(
            "last_address",
            "must not come before the first address",
        ));
    }
    if u32::from(first) == subnet.network {
        return Err(AppError::invalid(
            "first_address",
            "is the subnet's own address, which no host may use",
        ));
    }
    if u32::from(last) == subnet.broadcast {
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
    Ok(())
}

/// The router: a host of the pool's subnet, outside the pool (dpe would
/// otherwise hand its address to an instance).
fn gateway(
    subnet: Subnet,
    first: Ipv4Addr,
    last: Ipv4Addr,
    text: &str,
) -> Result<Ipv4Addr, AppError> {
    let gateway = ipv4("gateway", text)?;
    if !subnet.is_host(gateway) {
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
    Ok(gateway)
}

/// Up to three name servers, given one a field or separated by commas or
/// spaces.
fn name_servers(fields: &[String]) -> Result<Vec<IpAddr>, AppError> {
    let texts: Vec<&str> = fields
        .iter()
        .flat_map(|d| d.split([',', ' ']))
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .collect();
    if texts.len() > 3 {
        return Err(AppError::invalid("dns", "give at most 3 name servers"));
    }
    texts
        .iter()
        .map(|d| {
            d.parse::<IpAddr>()
                .map_err(|_| AppError::invalid("dns", format!("{d:?} is not an IP address")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
