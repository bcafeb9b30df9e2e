//! Passkeys and security keys: each account's WebAuthn credentials, as
//! webauthn-rs's `Passkey` or `SecurityKey` in JSON (public keys and
//! counters only), and which of the two each is.

use app::model::PasskeyKind;
use rusqlite::{Connection, params};

use super::StoreError;
use super::states::text_column;

/// One credential, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasskeyRow {
    pub id: i64,
    /// What its owner called it ("YubiKey on the keyring").
    pub name: String,
    pub kind: PasskeyKind,
    /// webauthn-rs's `Passkey` or `SecurityKey` (as `kind` says), as JSON.
    pub credential: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// The account's credentials, oldest first.
pub fn of_user(conn: &Connection, user_id: i64) -> Result<Vec<PasskeyRow>, StoreError> {
    let rows = conn
        .prepare_cached(
            "SELECT id, name, kind, credential, created_at, last_used_at FROM passkeys
             WHERE user_id = ?1 ORDER BY id",
        )?
        .query_map([user_id], |r| {
            Ok(PasskeyRow {
                id: r.get(0)?,
                name: r.get(1)?,
                kind: text_column(r, 2)?,
                credential: r.get(3)?,
                created_at: r.get(4)?,
                last_used_at: r.get(5)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Whether the account has any.
pub fn any(conn: &Connection, user_id: i64) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM passkeys WHERE user_id = ?1)")?
        .query_row([user_id], |r| r.get(0))?)
}

/// Adds a credential; `Duplicate` when the account has one of that name,
/// or the credential is registered already (to anyone).
pub fn insert(
    conn: &Connection,
    user_id: i64,
    name: &str,
    kind: PasskeyKind,
    credential_id: &str,
    credential: &str,
    at: i64,
) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO passkeys (user_id, name, kind, credential_id, credential, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![user_id, name, kind.as_str(), credential_id, credential, at],
    )
    .map_err(|e| StoreError::unique_as(e, "a passkey of that name, or that very key,"))?;
    Ok(conn.last_insert_rowid())
}

/// Records a sign-in with the credential `id`, and its credential as
/// updated (its counter).
pub fn used(
    conn: &Connection,
    user_id: i64,
    id: i64,
    credential: &str,
    at: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE passkeys SET credential = ?3, last_used_at = ?4 WHERE user_id = ?1 AND id = ?2",
        params![user_id, id, credential, at],
    )?;
    Ok(())
}

/// Removes the account's credential `id`; answers its name and kind,
/// `NotFound` when the account has none such.
pub fn remove(
    conn: &Connection,
    user_id: i64,
    id: i64,
) -> Result<(String, PasskeyKind), StoreError> {
    conn.prepare_cached("DELETE FROM passkeys WHERE user_id = ?1 AND id = ?2 RETURNING name, kind")?
        .query_row(params![user_id, id], |r| {
            Ok((r.get(0)?, text_column(r, 1)?))
        })
        .map_err(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound("passkey"),
            other => StoreError::from(other),
        })
}

#[cfg(test)]
mod tests {
    use app::model::Role;

    use super::*;
    use crate::store::test_support::memory_store;
    use crate::store::{second_factors, users};

    #[test]
    fn a_key_is_named_once_per_account_registered_once_and_removed_by_its_owner_only() {
        let conn = memory_store();
        let ann = users::insert(&conn, "ann", None, Role::User).unwrap();
        let bob = users::insert(&conn, "bob", None, Role::User).unwrap();
        assert!(!any(&conn, ann).unwrap());
        let key = insert(&conn, ann, "laptop", PasskeyKind::Passkey, "AAA", "{}", 10).unwrap();
        assert!(any(&conn, ann).unwrap());
        assert!(matches!(
            insert(
                &conn,
                ann,
                "laptop",
                PasskeyKind::SecurityKey,
                "BBB",
                "{}",
                11
            ),
            Err(StoreError::Duplicate(_))
        ));
        assert!(matches!(
            insert(&conn, bob, "mine", PasskeyKind::Passkey, "AAA", "{}", 11),
            Err(StoreError::Duplicate(_))
        ));
        used(&conn, ann, key, "{\"n\":1}", 12).unwrap();
        let rows = of_user(&conn, ann).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].last_used_at, Some(12));
        assert_eq!(rows[0].kind, PasskeyKind::Passkey);
        assert_eq!(rows[0].credential, "{\"n\":1}");
        assert!(matches!(
            remove(&conn, bob, key),
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(
            remove(&conn, ann, key).unwrap(),
            ("laptop".to_owned(), PasskeyKind::Passkey)
        );
        insert(
            &conn,
            ann,
            "phone",
            PasskeyKind::SecurityKey,
            "CCC",
            "{}",
            13,
        )
        .unwrap();
        assert!(second_factors::remove_all(&conn, ann).unwrap());
        assert!(
            !any(&conn, ann).unwrap(),
            "an admin's reset removes keys too"
        );
    }
}
