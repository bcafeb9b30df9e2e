//! Accounts.

use app::model::{AccountSource, Role};
use app::org::Quota;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::states::text_column;
use super::{StoreError, now, quota_columns};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub password_hash: Option<String>,
    /// The stored role: `Admin` or `User` (department admins are users
    /// with `department_admin` set).
    pub role: Role,
    pub disabled: bool,
    pub created_at: i64,
    pub department_id: Option<i64>,
    pub department_admin: bool,
    pub may_deploy: bool,
    pub source: AccountSource,
    /// When the directory last vouched for a directory account.
    pub directory_checked_at: Option<i64>,
    pub quota: Quota,
}

impl UserRow {
    /// The role the account acts with.
    pub fn effective_role(&self) -> Role {
        match (self.role, self.department_admin, self.department_id) {
            (Role::Admin, _, _) => Role::Admin,
            (_, true, Some(_)) => Role::DepartmentAdmin,
            (_, _, _) => Role::User,
        }
    }
}

// The quota columns last, as `quota_columns::read` expects them.
const COLUMNS: &str = "id, username, password_hash, role, disabled, created_at, department_id,
    department_admin, may_deploy, source, directory_checked_at, quota_instances, quota_vcpus,
    quota_memory_mib, quota_disk_gib";

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
        department_id: row.get(6)?,
        department_admin: row.get(7)?,
        may_deploy: row.get(8)?,
        source: text_column(row, 9)?,
        directory_checked_at: row.get(10)?,
        quota: quota_columns::read(row, 11)?,
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

/// Ends the account's sessions and revokes its API tokens, as a changed
/// password or a disabled account must; returns whether the user exists.
pub fn end_access(conn: &Connection, username: &str) -> Result<bool, StoreError> {
    let Some(user) = by_name(conn, username)? else {
        return Ok(false);
    };
    super::sessions::delete_for_user(conn, user.id)?;
    super::tokens::delete_all_for_user(conn, user.id)?;
    Ok(true)
}

/// Returns whether the user exists.
pub fn set_disabled(conn: &Connection, username: &str, disabled: bool) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "UPDATE users SET disabled = ?2 WHERE username = ?1",
        params![username, disabled],
    )? == 1)
}

/// Accounts in any of `departments`, or all when `None`.
pub fn list_in(conn: &Connection, departments: Option<&[i64]>) -> Result<Vec<UserRow>, StoreError> {
    let all = list(conn)?;
    Ok(match departments {
        None => all,
        Some(ids) => all
            .into_iter()
            .filter(|u| u.department_id.is_some_and(|d| ids.contains(&d)))
            .collect(),
    })
}

/// A local account in a department.
pub fn insert_member(
    conn: &Connection,
    username: &str,
    password_hash: &str,
    department_id: Option<i64>,
    department_admin: bool,
    may_deploy: bool,
) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO users (username, password_hash, role, created_at, department_id,
                            department_admin, may_deploy)
         VALUES (?1, ?2, 'user', ?3, ?4, ?5, ?6)",
        params![
            username,
            password_hash,
            now(),
            department_id,
            department_admin,
            may_deploy
        ],
    )
    .map_err(|e| StoreError::unique_as(e, "a user with that name"))?;
    Ok(conn.last_insert_rowid())
}

pub fn set_department(
    conn: &Connection,
    id: i64,
    department_id: Option<i64>,
    department_admin: bool,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE users SET department_id = ?2, department_admin = ?3 WHERE id = ?1",
        params![id, department_id, department_admin],
    )?;
    Ok(())
}

pub fn set_may_deploy(conn: &Connection, id: i64, may_deploy: bool) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE users SET may_deploy = ?2 WHERE id = ?1",
        params![id, may_deploy],
    )?;
    Ok(())
}

/// Creates or refreshes a directory account at sign-in: its department
/// and role follow the directory's groups each time; whether it may deploy
/// is set when it is created (`may_deploy_when_new`) and by admins after.
pub fn upsert_directory_account(
    conn: &Connection,
    username: &str,
    department_id: Option<i64>,
    department_admin: bool,
    may_deploy_when_new: bool,
) -> Result<UserRow, StoreError> {
    conn.execute(
        "INSERT INTO users (username, password_hash, role, created_at, department_id,
                            department_admin, source, may_deploy, directory_checked_at)
         VALUES (?1, NULL, 'user', ?2, ?3, ?4, ?6, ?5, ?2)
         ON CONFLICT (username) DO UPDATE SET
            department_id = excluded.department_id,
            department_admin = excluded.department_admin,
            directory_checked_at = excluded.directory_checked_at
         WHERE users.source = ?6",
        params![
            username,
            now(),
            department_id,
            department_admin,
            may_deploy_when_new,
            AccountSource::Directory.as_str()
        ],
    )?;
    by_name(conn, username)?.ok_or(StoreError::Corrupt("directory account vanished".into()))
}

/// Directory accounts the directory last vouched for at or before `cutoff`
/// (Unix seconds), the longest unchecked first.
pub fn directory_accounts_checked_before(
    conn: &Connection,
    cutoff: i64,
) -> Result<Vec<UserRow>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM users
         WHERE source = ?2 AND coalesce(directory_checked_at, 0) <= ?1
         ORDER BY coalesce(directory_checked_at, 0), id"
    ))?;
    let rows = stmt
        .query_map(params![cutoff, AccountSource::Directory.as_str()], from_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// The directory vouched for directory account `id` again, in the same
/// department and role (or in those it now maps to).
pub fn confirm_directory_account(
    conn: &Connection,
    id: i64,
    department_id: Option<i64>,
    department_admin: bool,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE users SET directory_checked_at = ?2, department_id = ?3, department_admin = ?4
         WHERE id = ?1 AND source = ?5",
        params![
            id,
            now(),
            department_id,
            department_admin,
            AccountSource::Directory.as_str()
        ],
    )?;
    Ok(())
}

/// The directory no longer vouches for directory account `id` (its entry,
/// or its mapped group, is gone): it keeps its name and instances, and
/// loses its department, role, right to deploy, sessions and tokens.
pub fn withdraw_directory_account(conn: &Connection, id: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE users SET directory_checked_at = ?2, department_id = NULL,
            department_admin = 0, may_deploy = 0
         WHERE id = ?1 AND source = ?3",
        params![id, now(), AccountSource::Directory.as_str()],
    )?;
    super::sessions::delete_for_user(conn, id)?;
    super::tokens::delete_all_for_user(conn, id)?;
    Ok(())
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
