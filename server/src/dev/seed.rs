//! Fills a store with made-up departments, accounts and instances, for
//! measuring the portal at scale (`dpe dev seed`, `scripts/bench-portal`).
//! The instances are records only: on no host, with no domain, so the
//! reconciler and the gateway leave them be.

use app::model::{Health, InstanceStatus, NetworkZone, Power};
use rusqlite::Connection;

use crate::store::instances::{self, NewInstance};
use crate::store::{StoreError, departments, users};

/// Departments made; members are spread across them.
const DEPARTMENTS: usize = 4;

/// What a seeding made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seeded {
    pub departments: usize,
    pub accounts: usize,
    pub instances: usize,
}

/// Adds `count` instances named `PREFIX-NNNNN`, owned in turn by
/// `accounts` members `PREFIX-user-NN` (whose password hashes to
/// `password_hash`) of departments `PREFIX-dept-N`. States, power and
/// health vary as they would on a busy appliance. One transaction: all
/// or nothing.
pub fn fill(
    tx: &Connection,
    prefix: &str,
    accounts: usize,
    count: usize,
    password_hash: &str,
) -> Result<Seeded, StoreError> {
    let mut department_ids = Vec::with_capacity(DEPARTMENTS);
    for n in 0..DEPARTMENTS {
        department_ids.push(departments::insert(
            tx,
            &format!("{prefix}-dept-{n}"),
            None,
        )?);
    }
    let mut owners = Vec::with_capacity(accounts);
    for n in 0..accounts {
        let department = department_ids[n % DEPARTMENTS];
        let id = users::insert_member(
            tx,
            &format!("{prefix}-user-{n:02}"),
            password_hash,
            Some(department),
            n < DEPARTMENTS,
            true,
        )?;
        owners.push((id, department));
    }
    for n in 0..count {
        let (owner_id, department) = owners[n % accounts.max(1)];
        instance(tx, &format!("{prefix}-{n:05}"), n, owner_id, department)?;
    }
    Ok(Seeded {
        departments: DEPARTMENTS,
        accounts,
        instances: count,
    })
}

/// The `n`th instance: made, then put in the state its number gives.
fn instance(
    tx: &Connection,
    name: &str,
    n: usize,
    owner_id: i64,
    department: i64,
) -> Result<(), StoreError> {
    let uuid = uuid::Uuid::new_v4();
    // A locally administered address from the UUID's random bytes: unique
    // across seedings too.
    let b = uuid.as_bytes();
    let mac = format!(
        "02:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        b[10], b[11], b[12], b[13], b[14]
    );
    let uuid = uuid.to_string();
    let byte = |shift: usize| (n >> shift) & 0xff;
    let id = instances::insert(
        tx,
        &NewInstance {
            uuid: &uuid,
            name,
            owner_id,
            size: "small",
            vcpus: 1,
            memory_mib: 1024,
            disk_gib: 10,
            network: "default",
            mac: &mac,
            params_json: "{}",
            health_expect: "",
            zone: NetworkZone::Inside,
            static_address: None,
            static_network: None,
            department_id: Some(department),
            volume_stem: &format!("seed-{uuid}"),
            app_port: None,
            lease_expires_at: None,
        },
    )?;
    // Most run; some are off, a few failed or still deploying.
    let (status, power, health) = match n % 20 {
        0 => (InstanceStatus::Failed, Power::ShutOff, Health::Unknown),
        1 => (
            InstanceStatus::Provisioning,
            Power::Unknown,
            Health::Unknown,
        ),
        2 | 3 => (InstanceStatus::Ready, Power::ShutOff, Health::Unknown),
        4 => (InstanceStatus::Ready, Power::Running, Health::Unhealthy),
        _ => (InstanceStatus::Ready, Power::Running, Health::Healthy),
    };
    let ip = format!("10.{}.{}.{}", byte(16), byte(8), byte(0));
    instances::set_status(tx, id, status, None)?;
    instances::observe(tx, id, power, Some(&ip))?;
    instances::set_health(tx, id, health)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::instance_list::{ListQuery, Order, Visibility, page};
    use crate::store::test_support::memory_store;

    #[test]
    fn seeding_makes_what_it_says_and_twice_is_refused_whole() {
        let conn = memory_store();
        let seeded = fill(&conn, "s", 6, 40, "hash").unwrap();
        assert_eq!(
            seeded,
            Seeded {
                departments: 4,
                accounts: 6,
                instances: 40
            }
        );
        let list = ListQuery {
            visible: Visibility::All,
            text: None,
            state: None,
            health: Some(Health::Healthy),
            zone: None,
            host: None,
            department: None,
            order: Order::Name {
                descending: false,
                after: None,
            },
            limit: 100,
        };
        let (healthy, _) = page(&conn, &list).unwrap();
        assert_eq!(healthy.len(), 30, "15 of every 20");
        assert_eq!(healthy[0].name, "s-00005");
        let again = fill(&conn, "s", 6, 40, "hash").unwrap_err();
        assert!(again.to_string().contains("department"), "{again}");
        // Another prefix adds as many again.
        fill(&conn, "t", 6, 40, "hash").unwrap();
    }
}
