//! The directory (LDAP) settings, one JSON row. The bind password is kept
//! here because binding needs it; the API never returns it.

use app::org::DirectorySettings;
use rusqlite::{Connection, OptionalExtension, params};

use super::{StoreError, now};

pub fn get(conn: &Connection) -> Result<Option<DirectorySettings>, StoreError> {
    let json: Option<String> = conn
        .query_row("SELECT settings FROM directory WHERE id = 1", [], |r| {
            r.get(0)
        })
        .optional()?;
    json.map(|j| {
        // The password is skipped when serializing: read it back by hand.
        let value: serde_json::Value = serde_json::from_str(&j)
            .map_err(|e| StoreError::Corrupt(format!("directory settings: {e}")))?;
        let mut settings: DirectorySettings = serde_json::from_value(value.clone())
            .map_err(|e| StoreError::Corrupt(format!("directory settings: {e}")))?;
        settings.bind_password = value["bind_password"].as_str().map(str::to_owned);
        Ok(settings)
    })
    .transpose()
}

pub fn set(conn: &Connection, settings: &DirectorySettings) -> Result<(), StoreError> {
    let mut value = serde_json::to_value(settings)
        .map_err(|e| StoreError::Corrupt(format!("directory settings: {e}")))?;
    if let Some(password) = &settings.bind_password {
        value["bind_password"] = serde_json::Value::String(password.clone());
    }
    conn.execute(
        "INSERT INTO directory (id, settings, updated_at) VALUES (1, ?1, ?2)
         ON CONFLICT (id) DO UPDATE SET settings = excluded.settings,
            updated_at = excluded.updated_at",
        params![value.to_string(), now()],
    )?;
    Ok(())
}
