//! The outside network zone: a LAN bridge and the pool of IPv4 addresses
//! dpe gives to instances on it. (The inside zone is each host's libvirt
//! NAT network, kept with the host.)

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};

use app::validate::OutsideZone;
use rusqlite::{Connection, OptionalExtension, params};

use super::{StoreError, now};

pub fn outside(conn: &Connection) -> Result<Option<OutsideZone>, StoreError> {
    let row = conn
        .prepare_cached(
            "SELECT bridge, first_address, last_address, prefix_len, gateway, dns
             FROM outside_zone WHERE id = 1",
        )?
        .query_row([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, u8>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, String>(5)?,
            ))
        })
        .optional()?;
    let Some((bridge, first, last, prefix_len, gateway, dns)) = row else {
        return Ok(None);
    };
    let corrupt = |what: &str| StoreError::Corrupt(format!("outside zone: bad {what}"));
    Ok(Some(OutsideZone {
        bridge,
        first: first.parse().map_err(|_| corrupt("first address"))?,
        last: last.parse().map_err(|_| corrupt("last address"))?,
        prefix_len,
        gateway: gateway
            .map(|g| g.parse().map_err(|_| corrupt("gateway")))
            .transpose()?,
        dns: dns
            .split(',')
            .filter(|d| !d.is_empty())
            .map(|d| d.parse::<IpAddr>().map_err(|_| corrupt("name server")))
            .collect::<Result<_, _>>()?,
    }))
}

pub fn set_outside(conn: &Connection, zone: &OutsideZone) -> Result<(), StoreError> {
    let dns: Vec<String> = zone.dns.iter().map(IpAddr::to_string).collect();
    conn.execute(
        "INSERT INTO outside_zone (id, bridge, first_address, last_address, prefix_len,
                                   gateway, dns, updated_at)
         VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (id) DO UPDATE SET
            bridge = excluded.bridge, first_address = excluded.first_address,
            last_address = excluded.last_address, prefix_len = excluded.prefix_len,
            gateway = excluded.gateway, dns = excluded.dns, updated_at = excluded.updated_at",
        params![
            zone.bridge,
            zone.first.to_string(),
            zone.last.to_string(),
            zone.prefix_len,
            zone.gateway.map(|g| g.to_string()),
            dns.join(","),
            now()
        ],
    )?;
    Ok(())
}

/// Removes the outside zone; false when instances still use it.
pub fn clear_outside(conn: &Connection) -> Result<bool, StoreError> {
    let users: i64 = conn
        .prepare_cached("SELECT count(*) FROM instances WHERE zone = 'outside'")?
        .query_row([], |r| r.get(0))?;
    if users > 0 {
        return Ok(false);
    }
    conn.execute("DELETE FROM outside_zone", [])?;
    Ok(true)
}

/// The addresses instances hold.
pub fn addresses_in_use(conn: &Connection) -> Result<HashSet<Ipv4Addr>, StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT static_address FROM instances WHERE static_address IS NOT NULL")?;
    let texts = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(texts.iter().filter_map(|t| t.parse().ok()).collect())
}

/// The lowest free address of the pool. Call it in the write transaction
/// that records the instance: the unique index on `static_address` is the
/// final guard.
pub fn free_address(conn: &Connection, zone: &OutsideZone) -> Result<Option<Ipv4Addr>, StoreError> {
    let used = addresses_in_use(conn)?;
    Ok((u32::from(zone.first)..=u32::from(zone.last))
        .map(Ipv4Addr::from)
        .find(|a| !used.contains(a)))
}

/// How many of the pool's addresses instances hold.
pub fn pool_usage(conn: &Connection, zone: &OutsideZone) -> Result<u32, StoreError> {
    let range = u32::from(zone.first)..=u32::from(zone.last);
    Ok(addresses_in_use(conn)?
        .into_iter()
        .filter(|a| range.contains(&u32::from(*a)))
        .count() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::memory_store;

    fn zone() -> OutsideZone {
        OutsideZone {
            bridge: "br0".into(),
            first: "192.0.2.10".parse().unwrap(),
            last: "192.0.2.12".parse().unwrap(),
            prefix_len: 24,
            gateway: Some("192.0.2.1".parse().unwrap()),
            dns: vec![
                "192.0.2.1".parse().unwrap(),
                "2001:db8::53".parse().unwrap(),
            ],
        }
    }

    #[test]
    fn the_zone_round_trips_and_hands_out_the_lowest_free_address() {
        let conn = memory_store();
        assert_eq!(outside(&conn).unwrap(), None);
        set_outside(&conn, &zone()).unwrap();
        assert_eq!(outside(&conn).unwrap(), Some(zone()));
        conn.execute(
            "INSERT INTO users (username, password_hash, role, created_at)
             VALUES ('ann', 'x', 'user', 0)",
            [],
        )
        .unwrap();
        for (n, addr) in [(1, "192.0.2.10"), (2, "192.0.2.12")] {
            conn.execute(
                "INSERT INTO instances (uuid, name, owner_id, size, vcpus, memory_mib, disk_gib,
                                        network, mac, params, status, created_at, zone,
                                        static_address)
                 VALUES (?1, ?1, 1, 's', 1, 1, 1, 'br0', ?1, '{}', 'ready', 0, 'outside', ?2)",
                params![format!("u{n}"), addr],
            )
            .unwrap();
        }
        assert_eq!(
            free_address(&conn, &zone()).unwrap(),
            Some("192.0.2.11".parse().unwrap())
        );
        assert_eq!(pool_usage(&conn, &zone()).unwrap(), 2);
        assert!(!clear_outside(&conn).unwrap(), "instances still use it");
        conn.execute("DELETE FROM instances", []).unwrap();
        assert!(clear_outside(&conn).unwrap());
        assert_eq!(outside(&conn).unwrap(), None);
    }
}
