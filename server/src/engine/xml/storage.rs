//! Storage pool and volume XML.

use serde::{Deserialize, Serialize};

/// The part of a pool's XML that tells where it keeps its volumes.
#[derive(Debug, Deserialize)]
pub struct PoolRead {
    pub target: TargetRead,
}

#[derive(Debug, Deserialize)]
pub struct TargetRead {
    pub path: String,
}

#[derive(Debug, Serialize)]
#[serde(rename = "pool")]
pub struct DirPool<'a> {
    #[serde(rename = "@type")]
    pub kind: &'static str,
    pub name: &'a str,
    pub target: Target<'a>,
}

#[derive(Debug, Serialize)]
pub struct Target<'a> {
    pub path: &'a str,
}

impl<'a> DirPool<'a> {
    pub fn new(name: &'a str, path: &'a str) -> Self {
        DirPool {
            kind: "dir",
            name,
            target: Target { path },
        }
    }
}

/// A pool on an NFS export, mounted at its target path by libvirt.
#[derive(Debug, Serialize)]
#[serde(rename = "pool")]
pub struct NfsPool<'a> {
    #[serde(rename = "@type")]
    pub kind: &'static str,
    pub name: &'a str,
    pub source: NfsSource<'a>,
    pub target: Target<'a>,
}

#[derive(Debug, Serialize)]
pub struct NfsSource<'a> {
    pub host: NamedAttr<'a>,
    pub dir: PathAttr<'a>,
    pub format: Format,
}

#[derive(Debug, Serialize)]
pub struct NamedAttr<'a> {
    #[serde(rename = "@name")]
    pub name: &'a str,
}

#[derive(Debug, Serialize)]
pub struct PathAttr<'a> {
    #[serde(rename = "@path")]
    pub path: &'a str,
}

impl<'a> NfsPool<'a> {
    pub fn new(name: &'a str, server: &'a str, export: &'a str, mount: &'a str) -> Self {
        NfsPool {
            kind: "netfs",
            name,
            source: NfsSource {
                host: NamedAttr { name: server },
                dir: PathAttr { path: export },
                format: Format { kind: "nfs" },
            },
            target: Target { path: mount },
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Capacity {
    #[serde(rename = "@unit")]
    pub unit: &'static str,
    #[serde(rename = "$text")]
    pub bytes: u64,
}

#[derive(Debug, Serialize)]
pub struct Format {
    #[serde(rename = "@type")]
    pub kind: &'static str,
}

#[derive(Debug, Serialize)]
pub struct VolumeTarget {
    pub format: Format,
    /// qcow2's version: 1.1 (v3), which can keep the persistent dirty
    /// bitmaps that incremental backups need (libvirt makes v2 by
    /// default, and QEMU refuses checkpoints on it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compat: Option<&'static str>,
}

#[derive(Debug, Serialize)]
pub struct BackingStore<'a> {
    pub path: &'a str,
    pub format: Format,
}

/// A volume; with `backing_store`, a copy-on-write overlay of it.
#[derive(Debug, Serialize)]
#[serde(rename = "volume")]
pub struct Volume<'a> {
    pub name: &'a str,
    pub capacity: Capacity,
    pub target: VolumeTarget,
    #[serde(rename = "backingStore", skip_serializing_if = "Option::is_none")]
    pub backing_store: Option<BackingStore<'a>>,
}

impl<'a> Volume<'a> {
    pub fn new(name: &'a str, format: &'static str, capacity_bytes: u64) -> Self {
        Volume {
            name,
            capacity: Capacity {
                unit: "bytes",
                bytes: capacity_bytes,
            },
            target: VolumeTarget {
                format: Format { kind: format },
                compat: (format == "qcow2").then_some("1.1"),
            },
            backing_store: None,
        }
    }

    pub fn overlay(
        name: &'a str,
        capacity_bytes: u64,
        backing_path: &'a str,
        backing_format: &'static str,
    ) -> Self {
        Volume {
            backing_store: Some(BackingStore {
                path: backing_path,
                format: Format {
                    kind: backing_format,
                },
            }),
            ..Volume::new(name, "qcow2", capacity_bytes)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::xml::to_xml;

    #[test]
    fn an_nfs_pool_names_its_server_export_and_mount_point() {
        let xml = crate::engine::xml::to_xml(&NfsPool::new(
            "dpe-backups-1a2b3c4d",
            "nas.example",
            "/export/dpe",
            "/var/lib/dpe/dpe-backups-1a2b3c4d",
        ))
        .unwrap();
        assert_eq!(
            xml,
            "<pool type=\"netfs\"><name>dpe-backups-1a2b3c4d</name>\
             <source><host name=\"nas.example\"/><dir path=\"/export/dpe\"/>\
             <format type=\"nfs\"/></source>\
             <target><path>/var/lib/dpe/dpe-backups-1a2b3c4d</path></target></pool>"
        );
    }

    #[test]
    fn overlays_record_their_backing_file_and_format() {
        let xml = to_xml(&Volume::overlay(
            "a&b.qcow2",
            8 << 30,
            "/p/golden.qcow2",
            "qcow2",
        ))
        .unwrap();
        assert_eq!(
            xml,
            "<volume><name>a&amp;b.qcow2</name><capacity unit=\"bytes\">8589934592</capacity>\
             <target><format type=\"qcow2\"/><compat>1.1</compat></target><backingStore><path>/p/golden.qcow2</path>\
             <format type=\"qcow2\"/></backingStore></volume>"
        );
    }
}
