//! The names of an instance's volumes, built and recognised here and
//! nowhere else. Each appliance names its volumes `dpe-`, the first 12 hex
//! digits of its id, `-`, the instance's UUID (the stem), and a suffix, so
//! that appliances sharing a pool never take each other's volumes for
//! orphans.

/// The suffixes of an instance's volumes: disk, seed, console log.
const SUFFIXES: [&str; 3] = [".qcow2", "-seed.img", ".log"];
/// Length of a UUID in its hyphenated text form.
const UUID_LEN: usize = 36;

/// An instance's volumes: its disk, its cloud-init seed, its console log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceVolumes {
    /// The qcow2 overlay of the golden image.
    pub disk: String,
    /// The NoCloud seed (CIDATA).
    pub seed: String,
    /// The serial console's log, written by QEMU into the pool's folder.
    pub console_log: String,
}

impl InstanceVolumes {
    /// The volumes of the instance whose names start with `stem`.
    pub fn of(stem: &str) -> InstanceVolumes {
        let [disk, seed, console_log] = SUFFIXES.map(|suffix| format!("{stem}{suffix}"));
        InstanceVolumes {
            disk,
            seed,
            console_log,
        }
    }
}

impl InstanceVolumes {
    /// The copy of the instance's disk kept as snapshot `snapshot_id` (a
    /// restore over the instance keeps the disk it replaces so).
    pub fn kept_disk(stem: &str, snapshot_id: i64) -> String {
        format!("{stem}{KEPT_DISK_INFIX}{snapshot_id}.qcow2")
    }

    /// Whether `volume` is a disk kept as a snapshot of the instance whose
    /// volume names start with `stem`.
    pub fn is_kept_disk_of(stem: &str, volume: &str) -> bool {
        volume.strip_prefix(stem).is_some_and(is_kept_disk)
    }
}

/// What sits between the stem and the snapshot's id in a kept disk's name.
const KEPT_DISK_INFIX: &str = "-snap-";

/// Whether `suffix` (what follows a stem) is a kept disk's.
fn is_kept_disk(suffix: &str) -> bool {
    suffix
        .strip_prefix(KEPT_DISK_INFIX)
        .and_then(|rest| rest.strip_suffix(".qcow2"))
        .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
}

/// What this appliance's volume names start with: `dpe-` and the first 12
/// hex digits of its id. Another appliance sharing the pool has another.
pub fn prefix(appliance_id: &str) -> String {
    let digits: String = appliance_id
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(12)
        .collect();
    format!("dpe-{digits}-")
}

/// The stem of a new instance's volume names.
pub fn stem(appliance_id: &str, uuid: &str) -> String {
    format!("{}{uuid}", prefix(appliance_id))
}

/// The stem of a volume this appliance named, when `volume` is one.
pub fn own_stem<'v>(prefix: &str, volume: &'v str) -> Option<&'v str> {
    let rest = volume.strip_prefix(prefix)?;
    let (uuid, suffix) = rest.split_at_checked(UUID_LEN)?;
    let ours =
        (SUFFIXES.contains(&suffix) || is_kept_disk(suffix)) && uuid::Uuid::parse_str(uuid).is_ok();
    ours.then(|| &volume[..prefix.len() + UUID_LEN])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_volumes_named_by_this_appliance_have_a_stem_here() {
        let prefix = prefix("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
        assert_eq!(prefix, "dpe-0f1e2d3c4b5a-");
        let uuid = "6a1f2c3d-0000-4000-8000-00000000beef";
        let stem = stem("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", uuid);
        assert_eq!(stem, format!("{prefix}{uuid}"));
        let InstanceVolumes {
            disk,
            seed,
            console_log,
        } = InstanceVolumes::of(&stem);
        assert_eq!(disk, format!("{stem}.qcow2"));
        assert_eq!(seed, format!("{stem}-seed.img"));
        assert_eq!(console_log, format!("{stem}.log"));
        let kept = InstanceVolumes::kept_disk(&stem, 12);
        assert_eq!(kept, format!("{stem}-snap-12.qcow2"));
        assert!(InstanceVolumes::is_kept_disk_of(&stem, &kept));
        assert!(!InstanceVolumes::is_kept_disk_of(&stem, &disk));
        assert!(!InstanceVolumes::is_kept_disk_of("dpe-other", &kept));
        for name in [disk, seed, console_log, kept] {
            assert_eq!(own_stem(&prefix, &name), Some(stem.as_str()));
        }
        for foreign in [
            format!("dpe-{uuid}.qcow2"),
            format!("dpe-0123456789ab-{uuid}.qcow2"),
            format!("{stem}.qcow2.bak"),
            format!("{stem}-snap-.qcow2"),
            format!("{stem}-snap-x1.qcow2"),
            format!("{stem}-snap-1.img"),
            format!("{prefix}not-a-uuid-at-all-but-36-characters.qcow2"),
            format!("{prefix}{uuid}"),
            format!("{prefix}short"),
            "golden.qcow2".to_owned(),
        ] {
            assert_eq!(own_stem(&prefix, &foreign), None, "{foreign}");
        }
    }
}
