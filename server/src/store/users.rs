//! Accounts.

use app::model::Role;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{StoreError, now};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub password_hash: Option<String>,
    pub role: Role,
    pub disabled: bool,
    pub created_at: i64,
}

const COLUMNS: &str = "id, username, password_hash, role, disabled, created_at";

fn from_row(row: &Row<'_>) -> rusqlite::Result<UserRow> {
    let role: String = row.get(3)?;
    Ok(UserRow {
        id: row.get(0)?,
        username: row.get(1)?,
        password_hash: row.get(2)?,
        role: Role::parse(&role).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                3,
                rusqlite::types::Type::Text,
                format!("unknown role {role:?}").into(),
            )
        })?,
        disabled: row.get(4)?,
        created_at: row.get(5)?,
    })
}

pub fn insert(
    conn: &Connection,
    username: &str,
    password_hash: Option<&str>,
    role: Role,
) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO users (username, password_hash, role, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![username, password_hash, role.as_str(), now()],
    )
    .map_err(|e| StoreError::unique_as(e, "a user with that name"))?;
    Ok(conn.last_insert_rowid())
}

pub fn by_name(conn: &Connection, username: &str) -> Result<Option<UserRow>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM users WHERE username = ?1"),
            [username],
            from_row,
        )
        .optional()?)
}

pub fn by_id(conn: &Connection, id: i64) -> Result<Option<UserRow>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM users WHERE id = ?1"),
            [id],
            from_row,
        )
        .optional()?)
}

pub fn list(conn: &Connection) -> Result<Vec<UserRow>, StoreError> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM users ORDER BY username"))?;
    let rows = stmt.query_map([], from_row)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Returns whether the user exists.
pub fn set_password(conn: &Connection, username: &str, hash: &str) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "UPDATE users SET password_hash = ?2 WHERE username = ?1",
        params![username, hash],
    )? == 1)
}

/// Returns whether the user exists.
pub fn set_disabled(conn: &Connection, username: &str, disabled: bool) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "UPDATE users SET disabled = ?2 WHERE username = ?1",
        params![username, disabled],
    )? == 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::temp_store;

    #[tokio::test]
    async fn names_are_unique_and_rows_round_trip() {
        let (_dir, store) = temp_store();
        let id = store
            .write(|tx| insert(tx, "ann", Some("hash"), Role::Admin))
            .await
            .unwrap();
        let dup = store.write(|tx| insert(tx, "ann", None, Role::User)).await;
        assert!(matches!(dup, Err(StoreError::Duplicate(_))), "{dup:?}");
        let row = store.read(move |c| by_id(c, id)).await.unwrap().unwrap();
        assert_eq!(row.username, "ann");
        assert_eq!(row.role, Role::Admin);
        assert!(!row.disabled);
        assert!(
            store
                .write(|tx| set_disabled(tx, "ann", true))
                .await
                .unwrap()
        );
        assert!(
            !store
                .write(|tx| set_disabled(tx, "bob", true))
                .await
                .unwrap()
        );
        let row = store.read(|c| by_name(c, "ann")).await.unwrap().unwrap();
        assert!(row.disabled);
    }
}
