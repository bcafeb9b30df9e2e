//! Appliance-wide settings: a small key/value table.

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;

pub const APPLIANCE_NAME: &str = "appliance_name";
/// A random id, written into every domain the appliance defines.
pub const APPLIANCE_ID: &str = "appliance_id";
pub const SETUP_COMPLETED_AT: &str = "setup_completed_at";
/// JSON of the quota of each account in no department.
pub const DEFAULT_QUOTA: &str = "default_quota";

/// [`app::model::SecondFactorRule`]: which accounts must use a second
/// factor (besides the departments that require one).
pub const SECOND_FACTOR_REQUIRED_OF: &str = "second_factor_required_of";

/// JSON of [`app::model::AppsSettings`]: where applications open.
pub const APPS: &str = "apps";
/// JSON of [`app::model::BackupStoreSpec`]: where new backups go.
pub const BACKUP_STORE: &str = "backup_store";
/// When the store was last copied into the backup store (Unix seconds).
pub const STORE_BACKUP_AT: &str = "store_backup_at";

/// Since when the reconciler keeps, rather than removes, what the hosts
/// hold that no record explains (Unix seconds): `dpe restore-store` sets
/// it, as a store put back from a copy knows nothing deployed after it;
/// an admin clears it (the portal's dashboard).
pub const LEFTOVERS_HELD_SINCE: &str = "leftovers_held_since";

pub fn get(conn: &Connection, key: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT value FROM settings WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?)
}

pub fn set(conn: &Connection, key: &str, value: &str) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO settings (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

pub fn setup_complete(conn: &Connection) -> Result<bool, StoreError> {
    Ok(get(conn, SETUP_COMPLETED_AT)?.is_some())
}

/// Where applications open; None before setup recorded it (stores from
/// before the gateway).
pub fn apps(conn: &Connection) -> Result<Option<app::model::AppsSettings>, StoreError> {
    match get(conn, APPS)? {
        None => Ok(None),
        Some(json) => serde_json::from_str(&json)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("setting {APPS}: {e}"))),
    }
}

pub fn set_apps(conn: &Connection, apps: &app::model::AppsSettings) -> Result<(), StoreError> {
    let json = serde_json::to_string(apps)
        .map_err(|e| StoreError::Corrupt(format!("setting {APPS}: {e}")))?;
    set(conn, APPS, &json)
}

/// See [`LEFTOVERS_HELD_SINCE`].
pub fn leftovers_held_since(conn: &Connection) -> Result<Option<i64>, StoreError> {
    match get(conn, LEFTOVERS_HELD_SINCE)? {
        None => Ok(None),
        Some(at) => at
            .parse()
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("setting {LEFTOVERS_HELD_SINCE}: {e}"))),
    }
}

/// Lets the reconciler remove leftovers again.
pub fn release_leftovers(conn: &Connection) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM settings WHERE key = ?1",
        [LEFTOVERS_HELD_SINCE],
    )?;
    Ok(())
}
