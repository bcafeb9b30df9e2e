//! Backup job and checkpoint XML (libvirt's `domainbackup` and
//! `domaincheckpoint`).

use serde::Serialize;

use crate::engine::hypervisor::BackupJob;

/// A push-mode backup: QEMU writes the copy into the target itself.
#[derive(Debug, Serialize)]
#[serde(rename = "domainbackup")]
pub struct PushBackup<'a> {
    #[serde(rename = "@mode")]
    mode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    incremental: Option<&'a str>,
    disks: BackupDisks<'a>,
}

#[derive(Debug, Serialize)]
struct BackupDisks<'a> {
    disk: Vec<BackupDisk<'a>>,
}

#[derive(Debug, Serialize)]
struct BackupDisk<'a> {
    #[serde(rename = "@name")]
    name: &'a str,
    #[serde(rename = "@backup")]
    backup: &'static str,
    #[serde(rename = "@type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<Target<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    driver: Option<Driver>,
}

#[derive(Debug, Serialize)]
struct Target<'a> {
    #[serde(rename = "@file")]
    file: &'a str,
}

#[derive(Debug, Serialize)]
struct Driver {
    #[serde(rename = "@type")]
    kind: &'static str,
}

impl<'a> PushBackup<'a> {
    pub fn of(job: &'a BackupJob) -> PushBackup<'a> {
        let mut disk = vec![BackupDisk {
            name: &job.disk,
            backup: "yes",
            kind: Some("file"),
            target: Some(Target { file: &job.target }),
            driver: Some(Driver { kind: "qcow2" }),
        }];
        disk.extend(job.skip.iter().map(|name| BackupDisk {
            name,
            backup: "no",
            kind: None,
            target: None,
            driver: None,
        }));
        PushBackup {
            mode: "push",
            incremental: job.since.as_deref(),
            disks: BackupDisks { disk },
        }
    }
}

/// The checkpoint a backup takes: a dirty bitmap in the backed-up disk.
#[derive(Debug, Serialize)]
#[serde(rename = "domaincheckpoint")]
pub struct Checkpoint<'a> {
    name: &'a str,
    disks: CheckpointDisks<'a>,
}

#[derive(Debug, Serialize)]
struct CheckpointDisks<'a> {
    disk: Vec<CheckpointDisk<'a>>,
}

#[derive(Debug, Serialize)]
struct CheckpointDisk<'a> {
    #[serde(rename = "@name")]
    name: &'a str,
    #[serde(rename = "@checkpoint")]
    checkpoint: &'static str,
}

impl<'a> Checkpoint<'a> {
    /// The job's checkpoint, if it takes one.
    pub fn of(job: &'a BackupJob) -> Option<Checkpoint<'a>> {
        let name = job.checkpoint.as_deref()?;
        let mut disk = vec![CheckpointDisk {
            name: &job.disk,
            checkpoint: "bitmap",
        }];
        disk.extend(job.skip.iter().map(|name| CheckpointDisk {
            name,
            checkpoint: "no",
        }));
        Some(Checkpoint {
            name,
            disks: CheckpointDisks { disk },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::to_xml;
    use super::*;

    fn job(since: Option<&str>) -> BackupJob {
        BackupJob {
            disk: "vda".into(),
            skip: vec!["vdb".into()],
            target: "/b/dpe-backup-u-2.qcow2".into(),
            since: since.map(str::to_owned),
            checkpoint: Some("dpe-ckp-2".into()),
        }
    }

    #[test]
    fn an_incremental_backup_names_its_checkpoint_and_leaves_the_seed_out() {
        let job = job(Some("dpe-ckp-1"));
        assert_eq!(
            to_xml(&PushBackup::of(&job)).unwrap(),
            concat!(
                r#"<domainbackup mode="push"><incremental>dpe-ckp-1</incremental><disks>"#,
                r#"<disk name="vda" backup="yes" type="file"><target file="/b/dpe-backup-u-2.qcow2"/>"#,
                r#"<driver type="qcow2"/></disk><disk name="vdb" backup="no"/></disks></domainbackup>"#
            )
        );
        assert_eq!(
            to_xml(&Checkpoint::of(&job).unwrap()).unwrap(),
            concat!(
                r#"<domaincheckpoint><name>dpe-ckp-2</name><disks>"#,
                r#"<disk name="vda" checkpoint="bitmap"/><disk name="vdb" checkpoint="no"/>"#,
                "</disks></domaincheckpoint>"
            )
        );
    }

    #[test]
    fn a_full_backup_has_no_incremental_element() {
        let job = job(None);
        let xml = to_xml(&PushBackup::of(&job)).unwrap();
        assert!(!xml.contains("incremental"), "{xml}");
    }
}
