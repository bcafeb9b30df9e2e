//! The isolated network of restore drills: no `<forward>`, so its guests
//! reach only the host (which checks them) and each other.

use serde::Serialize;

#[derive(Debug, Serialize)]
#[serde(rename = "network")]
pub struct IsolatedNetwork<'a> {
    pub name: &'a str,
    pub ip: Ip<'a>,
}

#[derive(Debug, Serialize)]
pub struct Ip<'a> {
    #[serde(rename = "@address")]
    pub address: &'a str,
    #[serde(rename = "@netmask")]
    pub netmask: &'a str,
    pub dhcp: Dhcp<'a>,
}

#[derive(Debug, Serialize)]
pub struct Dhcp<'a> {
    pub range: Range<'a>,
}

#[derive(Debug, Serialize)]
pub struct Range<'a> {
    #[serde(rename = "@start")]
    pub start: &'a str,
    #[serde(rename = "@end")]
    pub end: &'a str,
}

/// The host's side of the drills' network: in 198.18.0.0/15, which
/// RFC 2544 sets aside for benchmarking, so that no department's own
/// network is hidden behind it on the host.
pub const DRILL_HOST_ADDRESS: &str = "198.18.254.1";

impl<'a> IsolatedNetwork<'a> {
    /// The drills' network, named `name`.
    pub fn drills(name: &'a str) -> Self {
        IsolatedNetwork {
            name,
            ip: Ip {
                address: DRILL_HOST_ADDRESS,
                netmask: "255.255.255.0",
                dhcp: Dhcp {
                    range: Range {
                        start: "198.18.254.10",
                        end: "198.18.254.250",
                    },
                },
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_drills_network_has_no_forward_and_serves_its_own_range() {
        let xml = super::super::to_xml(&IsolatedNetwork::drills("dpe-drills")).unwrap();
        assert_eq!(
            xml,
            "<network><name>dpe-drills</name>\
             <ip address=\"198.18.254.1\" netmask=\"255.255.255.0\">\
             <dhcp><range start=\"198.18.254.10\" end=\"198.18.254.250\"/></dhcp></ip>\
             </network>"
        );
    }
}
