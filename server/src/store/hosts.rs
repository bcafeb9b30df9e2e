//! The libvirt hosts of the pool.

use rusqlite::{Connection, params};

use super::{StoreError, now};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostRow {
    pub id: i64,
    pub name: String,
    pub uri: String,
    pub storage_dir: String,
    pub network: String,
}

pub fn insert(
    conn: &Connection,
    name: &str,
    uri: &str,
    storage_dir: &str,
    network: &str,
) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO hosts (name, uri, storage_dir, network, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![name, uri, storage_dir, network, now()],
    )
    .map_err(|e| StoreError::unique_as(e, "a host with that name or URI"))?;
    Ok(conn.last_insert_rowid())
}

pub fn list(conn: &Connection) -> Result<Vec<HostRow>, StoreError> {
    let mut stmt =
        conn.prepare("SELECT id, name, uri, storage_dir, network FROM hosts ORDER BY id")?;
    let rows = stmt
        .query_map([], |r| {
            Ok(HostRow {
                id: r.get(0)?,
                name: r.get(1)?,
                uri: r.get(2)?,
                storage_dir: r.get(3)?,
                network: r.get(4)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}
