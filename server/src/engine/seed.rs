//! The cloud-init NoCloud seed: a small FAT volume labelled CIDATA holding
//! meta-data, user-data and network-config, built in memory.

use std::io::{Cursor, Write};
use std::net::{IpAddr, Ipv4Addr};

use serde::Serialize;

/// 1 MiB: FAT12, plenty for three small YAML files.
const SEED_BYTES: usize = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("cannot write the seed volume")]
    Fat(#[source] std::io::Error),
    #[error("cannot serialize the seed's YAML")]
    Yaml(#[source] serde_yaml_ng::Error),
}

#[derive(Debug, Serialize)]
struct MetaData<'a> {
    #[serde(rename = "instance-id")]
    instance_id: &'a str,
    #[serde(rename = "local-hostname")]
    local_hostname: &'a str,
}

#[derive(Debug, Serialize)]
struct NetworkConfig<'a> {
    version: u8,
    ethernets: std::collections::BTreeMap<&'static str, Ethernet<'a>>,
}

#[derive(Debug, Serialize)]
struct Ethernet<'a> {
    #[serde(rename = "match")]
    matches: MacMatch<'a>,
    dhcp4: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    addresses: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    routes: Vec<Route>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nameservers: Option<Nameservers>,
}

#[derive(Debug, Serialize)]
struct MacMatch<'a> {
    macaddress: &'a str,
}

#[derive(Debug, Serialize)]
struct Route {
    to: &'static str,
    via: String,
}

#[derive(Debug, Serialize)]
struct Nameservers {
    addresses: Vec<String>,
}

/// An outside instance's fixed address, as the engine hands it to the
/// guest (and keeps it, as JSON, with the instance).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct StaticAddressing {
    pub address: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Option<Ipv4Addr>,
    pub dns: Vec<IpAddr>,
}

/// How the guest configures its one NIC.
#[derive(Clone, Copy, Debug)]
pub enum Addressing<'a> {
    /// DHCP from the inside zone's NAT network.
    Dhcp,
    /// A fixed address in the outside zone.
    Static(&'a StaticAddressing),
}

/// What goes into a seed.
pub struct SeedContent<'a> {
    pub instance_id: &'a str,
    pub hostname: &'a str,
    pub mac: &'a str,
    pub addressing: Addressing<'a>,
    /// A complete cloud-config document (`#cloud-config` first).
    pub user_data: &'a str,
}

pub fn meta_data(instance_id: &str, hostname: &str) -> Result<String, SeedError> {
    serde_yaml_ng::to_string(&MetaData {
        instance_id,
        local_hostname: hostname,
    })
    .map_err(SeedError::Yaml)
}

/// The one NIC, matched by its MAC (names vary between guests): DHCP, or
/// the outside zone's fixed address with its router and name servers.
pub fn network_config(mac: &str, addressing: Addressing<'_>) -> Result<String, SeedError> {
    let ethernet = match addressing {
        Addressing::Dhcp => Ethernet {
            matches: MacMatch { macaddress: mac },
            dhcp4: true,
            addresses: Vec::new(),
            routes: Vec::new(),
            nameservers: None,
        },
        Addressing::Static(fixed) => Ethernet {
            matches: MacMatch { macaddress: mac },
            dhcp4: false,
            addresses: vec![format!("{}/{}", fixed.address, fixed.prefix_len)],
            routes: fixed
                .gateway
                .map(|via| Route {
                    to: "default",
                    via: via.to_string(),
                })
                .into_iter()
                .collect(),
            nameservers: (!fixed.dns.is_empty()).then(|| Nameservers {
                addresses: fixed.dns.iter().map(IpAddr::to_string).collect(),
            }),
        },
    };
    serde_yaml_ng::to_string(&NetworkConfig {
        version: 2,
        ethernets: [("primary", ethernet)].into(),
    })
    .map_err(SeedError::Yaml)
}

/// The bytes of a FAT seed volume.
pub fn build(content: &SeedContent<'_>) -> Result<Vec<u8>, SeedError> {
    let files = [
        (
            "meta-data",
            meta_data(content.instance_id, content.hostname)?,
        ),
        (
            "network-config",
            network_config(content.mac, content.addressing)?,
        ),
        ("user-data", content.user_data.to_owned()),
    ];
    let mut disk = Cursor::new(vec![0u8; SEED_BYTES]);
    fatfs::format_volume(
        &mut disk,
        fatfs::FormatVolumeOptions::new()
            .volume_label(*b"CIDATA     ")
            .fat_type(fatfs::FatType::Fat12),
    )
    .map_err(SeedError::Fat)?;
    {
        let fs =
            fatfs::FileSystem::new(&mut disk, fatfs::FsOptions::new()).map_err(SeedError::Fat)?;
        for (name, text) in &files {
            let mut file = fs.root_dir().create_file(name).map_err(SeedError::Fat)?;
            file.truncate().map_err(SeedError::Fat)?;
            file.write_all(text.as_bytes()).map_err(SeedError::Fat)?;
        }
        fs.unmount().map_err(SeedError::Fat)?;
    }
    Ok(disk.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn the_seed_is_a_cidata_fat_volume_with_the_three_files() {
        let bytes = build(&SeedContent {
            instance_id: "i-42",
            hostname: "wiki",
            mac: "52:54:00:aa:bb:cc",
            addressing: Addressing::Dhcp,
            user_data: "#cloud-config\nhostname: wiki\n",
        })
        .unwrap();
        let mut cursor = Cursor::new(bytes);
        let fs = fatfs::FileSystem::new(&mut cursor, fatfs::FsOptions::new()).unwrap();
        assert_eq!(fs.volume_label().trim(), "CIDATA");
        let read = |name: &str| {
            let mut s = String::new();
            fs.root_dir()
                .open_file(name)
                .unwrap()
                .read_to_string(&mut s)
                .unwrap();
            s
        };
        assert_eq!(
            read("meta-data"),
            "instance-id: i-42\nlocal-hostname: wiki\n"
        );
        assert!(read("network-config").contains("macaddress: 52:54:00:aa:bb:cc"));
        assert!(read("network-config").contains("dhcp4: true"));
        assert!(read("user-data").starts_with("#cloud-config"));
    }

    #[test]
    fn odd_values_stay_data() {
        let yaml = meta_data("id: x\n- y", "h").unwrap();
        let parsed: serde_yaml_ng::Value = serde_yaml_ng::from_str(&yaml).unwrap();
        assert_eq!(parsed["instance-id"], "id: x\n- y");
    }

    #[test]
    fn a_static_address_becomes_netplan_v2_with_route_and_name_servers() {
        let fixed = StaticAddressing {
            address: "192.0.2.10".parse().unwrap(),
            prefix_len: 24,
            gateway: Some("192.0.2.1".parse().unwrap()),
            dns: vec!["192.0.2.53".parse().unwrap()],
        };
        let yaml = network_config("52:54:00:aa:bb:cc", Addressing::Static(&fixed)).unwrap();
        let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(&yaml).unwrap();
        let nic = &v["ethernets"]["primary"];
        assert_eq!(nic["match"]["macaddress"], "52:54:00:aa:bb:cc");
        assert_eq!(nic["dhcp4"], false);
        assert_eq!(nic["addresses"][0], "192.0.2.10/24");
        assert_eq!(nic["routes"][0]["to"], "default");
        assert_eq!(nic["routes"][0]["via"], "192.0.2.1");
        assert_eq!(nic["nameservers"]["addresses"][0], "192.0.2.53");
        let dhcp = network_config("52:54:00:aa:bb:cc", Addressing::Dhcp).unwrap();
        assert!(!dhcp.contains("addresses"), "{dhcp}");
    }
}
