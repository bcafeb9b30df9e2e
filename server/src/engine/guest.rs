//! What the steps, the warm pool and the health checks work on: a guest,
//! which is (or becomes) an instance's or a warm pool member's. It is
//! built here from either record, and this is the one file of the engine
//! that reads an instance's store row: the rest never sees the 30 columns
//! of a record, nor a made-up one.

use app::model::{Health, InstanceStatus, NetworkZone, Power};
use rand::Rng;

use super::EngineError;
use super::seed::{Addressing, StaticAddressing};
use super::xml::domain::GuestRecord;
use crate::store::StoreError;
use crate::store::instances::InstanceRow;
use crate::store::pool::MemberRow;

/// Whose guest it is, with the record's id: what the steps that write the
/// record (placement, power, forgetting) need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    /// A deployed instance; `owner` is its owner's user name, written into
    /// its domain's metadata.
    Instance { id: i64, owner: String },
    /// A warm pool member: nobody's yet, and charged to no quota.
    PoolMember { id: i64 },
    /// A restore drill's throwaway guest.
    Drill { id: i64 },
}

/// The guest's size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuestSize {
    pub vcpus: u32,
    pub memory_mib: u64,
    pub disk_gib: u64,
}

/// The guest's one network interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nic {
    /// The libvirt network (inside zone) or bridge (outside zone).
    pub network: String,
    pub mac: String,
    pub zone: NetworkZone,
    /// An outside guest's fixed address; `None`: DHCP.
    pub fixed: Option<StaticAddressing>,
}

impl Nic {
    /// How the seed tells the guest to find its address.
    pub fn addressing(&self) -> Addressing<'_> {
        match &self.fixed {
            Some(f) => Addressing::Static(f),
            None => Addressing::Dhcp,
        }
    }
}

/// A guest, as the engine's steps take it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Guest {
    pub owner: Owner,
    /// Its domain's UUID, and the instance id in its seed and metadata.
    pub uuid: String,
    /// The domain's title and the guest's host name.
    pub name: String,
    /// What its volume names start with.
    pub volume_stem: String,
    /// Where it is placed; `None` until placement.
    pub host_id: Option<i64>,
    pub size: GuestSize,
    pub nic: Nic,
}

impl Guest {
    /// An instance's guest. A fixed address that cannot be read is a
    /// corrupt record.
    pub fn of_instance(row: &InstanceRow) -> Result<Guest, EngineError> {
        let fixed = row
            .static_network
            .as_deref()
            .map(|json| {
                serde_json::from_str(json).map_err(|e| {
                    StoreError::Corrupt(format!("static network of {}: {e}", row.name))
                })
            })
            .transpose()?;
        Ok(Guest {
            owner: Owner::Instance {
                id: row.id,
                owner: row.owner.clone(),
            },
            uuid: row.uuid.clone(),
            name: row.name.clone(),
            volume_stem: row.volume_stem.clone(),
            host_id: row.host_id,
            size: GuestSize {
                vcpus: row.vcpus,
                memory_mib: row.memory_mib,
                disk_gib: row.disk_gib,
            },
            nic: Nic {
                network: row.network.clone(),
                mac: row.mac.clone(),
                zone: row.zone,
                fixed,
            },
        })
    }

    /// A warm pool member's guest: always in the inside zone, on DHCP.
    pub fn of_member(m: &MemberRow) -> Guest {
        Guest {
            owner: Owner::PoolMember { id: m.id },
            uuid: m.uuid.clone(),
            name: format!("pool-{}", m.uuid.get(..8).unwrap_or(&m.uuid)),
            volume_stem: m.volume_stem.clone(),
            host_id: Some(m.host_id),
            size: GuestSize {
                vcpus: m.vcpus,
                memory_mib: m.memory_mib,
                disk_gib: m.disk_gib,
            },
            nic: Nic {
                network: m.network.clone(),
                mac: m.mac.clone(),
                zone: NetworkZone::Inside,
                fixed: None,
            },
        }
    }

    /// A restore drill's guest: on the drills' isolated network, on DHCP,
    /// named after the backup it restores.
    pub fn of_drill(d: &crate::store::drills::DrillRow, network: &str) -> Guest {
        Guest {
            owner: Owner::Drill { id: d.id },
            uuid: d.uuid.clone(),
            name: format!("drill-{}", d.backup_id),
            volume_stem: d.volume_stem.clone(),
            host_id: Some(d.host_id),
            size: GuestSize {
                vcpus: d.vcpus,
                memory_mib: d.memory_mib,
                disk_gib: d.disk_gib,
            },
            nic: Nic {
                network: network.to_owned(),
                mac: d.mac.clone(),
                zone: NetworkZone::Inside,
                fixed: None,
            },
        }
    }

    /// The instance's record id; `None` for a pool member or a drill.
    pub fn instance_id(&self) -> Option<i64> {
        match self.owner {
            Owner::Instance { id, .. } => Some(id),
            Owner::PoolMember { .. } | Owner::Drill { .. } => None,
        }
    }

    /// The owner's user name for the domain's metadata; empty for a pool
    /// member (a claim relabels it).
    pub fn owner_name(&self) -> &str {
        match &self.owner {
            Owner::Instance { owner, .. } => owner,
            Owner::PoolMember { .. } | Owner::Drill { .. } => "",
        }
    }

    /// Its dpe metadata element alone, with its record, for relabelling a
    /// domain that exists (a claimed member; an older dpe's domain).
    pub fn metadata_element(&self, appliance: &str) -> Result<String, quick_xml::SeError> {
        let record = self.record_json();
        super::xml::domain::metadata_element(&super::xml::domain::DpeInstance {
            xmlns: super::xml::domain::DPE_NS,
            appliance,
            id: &self.uuid,
            owner: self.owner_name(),
            guest: record.as_deref(),
        })
    }

    /// An instance's record for its domain's metadata (JSON of
    /// [`GuestRecord`]), from which a restored store can adopt it; none
    /// for a pool member's or a drill's guest, which nobody adopts.
    pub fn record_json(&self) -> Option<String> {
        match &self.owner {
            Owner::Instance { .. } => {}
            Owner::PoolMember { .. } | Owner::Drill { .. } => return None,
        }
        let record = GuestRecord {
            name: self.name.clone(),
            volume_stem: self.volume_stem.clone(),
            vcpus: self.size.vcpus,
            memory_mib: self.size.memory_mib,
            disk_gib: self.size.disk_gib,
            network: self.nic.network.clone(),
            mac: self.nic.mac.clone(),
            zone: self.nic.zone,
            static_address: self.nic.fixed.as_ref().map(|f| f.address.to_string()),
            static_network: self
                .nic
                .fixed
                .as_ref()
                .and_then(|f| serde_json::to_string(f).ok()),
        };
        serde_json::to_string(&record).ok()
    }
}

/// What the reconciler and the health checks know of an instance besides
/// its guest: its state in the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tracked {
    pub guest: Guest,
    pub id: i64,
    pub status: InstanceStatus,
    pub power: Power,
    pub ip: Option<String>,
    pub running_task: Option<i64>,
    pub health: Health,
    /// What the health page must contain.
    pub health_expect: Option<String>,
    /// When it first answered as healthy, if it has.
    pub healthy_ms: Option<i64>,
    /// Whether its seed no longer holds the deploy's user-data.
    pub seed_scrubbed: bool,
}

impl Tracked {
    pub fn of_instance(row: &InstanceRow) -> Result<Tracked, EngineError> {
        Ok(Tracked {
            guest: Guest::of_instance(row)?,
            id: row.id,
            status: row.status,
            power: row.power,
            ip: row.ip.clone(),
            running_task: row.running_task,
            health: row.health,
            health_expect: row.health_expect.clone(),
            healthy_ms: row.healthy_ms,
            seed_scrubbed: row.seed_scrubbed,
        })
    }
}

/// A locally administered MAC in QEMU's range, for a new guest.
pub fn random_mac() -> String {
    let mut rng = rand::rng();
    format!(
        "52:54:00:{:02x}:{:02x}:{:02x}",
        rng.random::<u8>(),
        rng.random::<u8>(),
        rng.random::<u8>()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_members_guest_is_nobodys_and_takes_dhcp_inside() {
        let member = MemberRow {
            id: 7,
            uuid: "0f1e2d3c-aaaa-bbbb-cccc-000000000000".into(),
            volume_stem: "dpe-x-0f1e".into(),
            mac: "52:54:00:01:02:03".into(),
            size: "small".into(),
            vcpus: 1,
            memory_mib: 1024,
            disk_gib: 4,
            host_id: 3,
            host: "local".into(),
            network: "default".into(),
            image: "abc".into(),
            state: app::model::PoolState::Booting,
            since: 0,
            instance_id: None,
        };
        let guest = Guest::of_member(&member);
        assert_eq!(guest.name, "pool-0f1e2d3c");
        assert_eq!(guest.instance_id(), None);
        assert_eq!(guest.owner_name(), "");
        assert_eq!(guest.host_id, Some(3));
        assert!(matches!(guest.nic.addressing(), Addressing::Dhcp));
    }

    #[test]
    fn a_mac_is_in_qemus_locally_administered_range() {
        let mac = random_mac();
        assert!(mac.starts_with("52:54:00:"), "{mac}");
        assert_eq!(mac.len(), 17);
    }
}
