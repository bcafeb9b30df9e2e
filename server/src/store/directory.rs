//! The directory (LDAP) settings, one JSON row. The bind password is kept
//! because binding needs it, sealed with the appliance's secret key and
//! bound to the URL and bind DN it was given for; the API never returns it.

use app::org::DirectorySettings;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::{StoreError, now};
use crate::auth::secret_box::SecretBox;

/// The JSON key of the sealed password.
const SEALED: &str = "bind_password_sealed";
/// Where versions before sealing kept the password in the clear.
const LEGACY_CLEAR: &str = "bind_password";

/// What the sealed password is bound to: it opens only for these.
fn context(settings: &DirectorySettings) -> String {
    format!(
        "directory\n{}\n{}",
        settings.url.trim(),
        settings.bind_dn.trim()
    )
}

fn corrupt(e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(format!("directory settings: {e}"))
}

fn read_row(conn: &Connection) -> Result<Option<Value>, StoreError> {
    let json: Option<String> = conn
        .prepare_cached("SELECT settings FROM directory WHERE id = 1")?
        .query_row([], |r| r.get(0))
        .optional()?;
    json.map(|j| serde_json::from_str(&j).map_err(corrupt))
        .transpose()
}

/// The settings, with the bind password opened. A password that does not
/// open (the key file was replaced) reads as none, so the admin is asked
/// for it again rather than the directory being locked up.
pub fn get(
    conn: &Connection,
    secrets: &SecretBox,
) -> Result<Option<DirectorySettings>, StoreError> {
    let Some(mut value) = read_row(conn)? else {
        return Ok(None);
    };
    // Taken out first: the settings themselves refuse unknown fields.
    let sealed = value.as_object_mut().and_then(|o| o.remove(SEALED));
    let clear = value.as_object_mut().and_then(|o| o.remove(LEGACY_CLEAR));
    let mut settings: DirectorySettings = serde_json::from_value(value).map_err(corrupt)?;
    settings.bind_password = match (
        sealed.as_ref().and_then(Value::as_str),
        clear.as_ref().and_then(Value::as_str),
    ) {
        (Some(sealed), _) => match secrets.open(sealed, &context(&settings)) {
            Ok(password) => Some(password),
            Err(e) => {
                tracing::warn!(error = %e, "the directory's bind password cannot be opened; set it again");
                None
            }
        },
        (None, clear) => clear.map(str::to_owned),
    };
    Ok(Some(settings))
}

pub fn set(
    conn: &Connection,
    secrets: &SecretBox,
    settings: &DirectorySettings,
) -> Result<(), StoreError> {
    let mut value = serde_json::to_value(settings).map_err(corrupt)?;
    if let Some(password) = settings.bind_password.as_deref().filter(|p| !p.is_empty()) {
        value[SEALED] = Value::String(secrets.seal(password, &context(settings))?);
    }
    conn.execute(
        "INSERT INTO directory (id, settings, updated_at) VALUES (1, ?1, ?2)
         ON CONFLICT (id) DO UPDATE SET settings = excluded.settings,
            updated_at = excluded.updated_at",
        params![value.to_string(), now()],
    )?;
    Ok(())
}

/// Seals a password that an older version stored in the clear; returns
/// whether there was one.
pub fn seal_legacy(conn: &Connection, secrets: &SecretBox) -> Result<bool, StoreError> {
    let legacy = read_row(conn)?.is_some_and(|v| v.get(LEGACY_CLEAR).is_some());
    if legacy && let Some(settings) = get(conn, secrets)? {
        set(conn, secrets, &settings)?;
    }
    Ok(legacy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::memory_store;

    fn settings(url: &str, password: Option<&str>) -> DirectorySettings {
        serde_json::from_value(serde_json::json!({
            "url": url, "bind_dn": "cn=svc,dc=example,dc=org", "user_base": "dc=example,dc=org",
        }))
        .map(|s: DirectorySettings| DirectorySettings {
            bind_password: password.map(str::to_owned),
            ..s
        })
        .unwrap()
    }

    fn raw(conn: &Connection) -> String {
        conn.query_row("SELECT settings FROM directory", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn the_bind_password_is_stored_sealed_and_read_back_open() {
        let conn = memory_store();
        let secrets = SecretBox::for_tests();
        set(&conn, &secrets, &settings("ldaps://a", Some("hunter2"))).unwrap();
        assert!(!raw(&conn).contains("hunter2"), "{}", raw(&conn));
        let back = get(&conn, &secrets).unwrap().unwrap();
        assert_eq!(back.bind_password.as_deref(), Some("hunter2"));
    }

    #[test]
    fn a_password_sealed_for_one_url_does_not_open_for_another() {
        let conn = memory_store();
        let secrets = SecretBox::for_tests();
        set(&conn, &secrets, &settings("ldaps://a", Some("hunter2"))).unwrap();
        // Someone edits the row by hand to point the directory elsewhere.
        let moved = raw(&conn).replace("ldaps://a", "ldaps://evil");
        conn.execute("UPDATE directory SET settings = ?1", [moved])
            .unwrap();
        let back = get(&conn, &secrets).unwrap().unwrap();
        assert_eq!(back.url, "ldaps://evil");
        assert_eq!(back.bind_password, None);
    }

    #[test]
    fn a_password_an_older_version_kept_in_the_clear_gets_sealed() {
        let conn = memory_store();
        let secrets = SecretBox::for_tests();
        let mut legacy = serde_json::to_value(settings("ldaps://a", None)).unwrap();
        legacy[LEGACY_CLEAR] = Value::String("hunter2".into());
        conn.execute(
            "INSERT INTO directory (id, settings, updated_at) VALUES (1, ?1, 0)",
            [legacy.to_string()],
        )
        .unwrap();
        assert!(seal_legacy(&conn, &secrets).unwrap());
        assert!(!raw(&conn).contains("hunter2"), "{}", raw(&conn));
        let back = get(&conn, &secrets).unwrap().unwrap();
        assert_eq!(back.bind_password.as_deref(), Some("hunter2"));
        assert!(!seal_legacy(&conn, &secrets).unwrap());
    }
}
