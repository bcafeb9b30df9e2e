//! The cloud-init NoCloud seed: a small FAT volume labelled CIDATA holding
//! meta-data, user-data and network-config, built in memory.

use std::io::{Cursor, Write};

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
}

#[derive(Debug, Serialize)]
struct MacMatch<'a> {
    macaddress: &'a str,
}

/// What goes into a seed.
pub struct SeedContent<'a> {
    pub instance_id: &'a str,
    pub hostname: &'a str,
    pub mac: &'a str,
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

/// DHCP on the one NIC, matched by its MAC (names vary between guests).
pub fn network_config(mac: &str) -> Result<String, SeedError> {
    serde_yaml_ng::to_string(&NetworkConfig {
        version: 2,
        ethernets: [(
            "primary",
            Ethernet {
                matches: MacMatch { macaddress: mac },
                dhcp4: true,
            },
        )]
        .into(),
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
        ("network-config", network_config(content.mac)?),
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
}
