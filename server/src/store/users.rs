//! Accounts.

use app::model::{AccountSource, Role, TokenScope};
use app::org::Quota;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::paging::Sql;
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
    Ok(UserRow {
        id: row.get(0)?,
        username: row.get(1)?,
        password_hash: row.get(2)?,
        role: text_column(row, 3)?,
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
        .prepare_cached(&format!("SELECT {COLUMNS} FROM users WHERE username = ?1"))?
        .query_row([username], from_row)
        .optional()?)
}

pub fn by_id(conn: &Connection, id: i64) -> Result<Option<UserRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM users WHERE id = ?1"))?
        .query_row([id], from_row)
        .optional()?)
}

pub fn list(conn: &Connection) -> Result<Vec<UserRow>, StoreError> {
    let mut stmt =
        conn.prepare_cached(&format!("SELECT {COLUMNS} FROM users ORDER BY username"))?;
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

/// A page of accounts, by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberList {
    /// Only accounts in these departments (a department admin's); `None`
    /// for every account.
    pub scope: Option<Vec<i64>>,
    /// Only this department's accounts.
    pub department: Option<i64>,
    /// What the name starts with, in any case.
    pub text: Option<String>,
    /// The page starts after this name.
    pub after: Option<String>,
    pub limit: u32,
}

fn member_statement(list: &MemberList) -> Sql {
    let mut sql = Sql::new(&format!("SELECT {COLUMNS} FROM users WHERE 1"));
    if let Some(scope) = &list.scope {
        sql.and_in("department_id", scope);
    }
    if let Some(department) = list.department {
        sql.and("department_id", "=", department);
    }
    if let Some(text) = &list.text {
        let prefix = sql.bind_prefix(text);
        sql.text
            .push_str(&format!(" AND {}", prefix.of("username")));
    }
    if let Some(after) = &list.after {
        sql.and("username", ">", after.clone());
    }
    // Names are unique: the order needs no tie-breaker.
    sql.text.push_str(" ORDER BY username");
    sql.limit_one_over(list.limit);
    sql
}

/// A page of at most `list.limit` accounts, and whether more follow.
pub fn page(conn: &Connection, list: &MemberList) -> Result<(Vec<UserRow>, bool), StoreError> {
    member_statement(list).page(conn, list.limit, from_row)
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
    mail: Option<&str>,
) -> Result<UserRow, StoreError> {
    // The directory's mail address fills an account's empty one; one the
    // person set stays.
    conn.execute(
        "INSERT INTO users (username, password_hash, role, created_at, department_id,
                            department_admin, source, may_deploy, directory_checked_at, email)
         VALUES (?1, NULL, 'user', ?2, ?3, ?4, ?6, ?5, ?2, ?7)
         ON CONFLICT (username) DO UPDATE SET
            department_id = excluded.department_id,
            department_admin = excluded.department_admin,
            directory_checked_at = excluded.directory_checked_at,
            email = COALESCE(NULLIF(users.email, ''), excluded.email)
         WHERE users.source = ?6",
        params![
            username,
            now(),
            department_id,
            department_admin,
            may_deploy_when_new,
            AccountSource::Directory.as_str(),
            mail
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
    let mut stmt = conn.prepare_cached(&format!(
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

/// The API token whose secret hashes to `secret_hash`, its scope, and the
/// account that owns it: `None` when no token has it, or it has expired.
pub fn owning_token(
    conn: &Connection,
    secret_hash: &[u8],
) -> Result<Option<(i64, TokenScope, UserRow)>, StoreError> {
    let found: Option<(i64, TokenScope, i64)> = conn
        .prepare_cached(
            "SELECT id, scope, user_id FROM api_tokens
             WHERE secret_hash = ?1 AND (expires_at IS NULL OR expires_at > ?2)",
        )?
        .query_row(params![secret_hash, now()], |r| {
            Ok((r.get(0)?, text_column(r, 1)?, r.get(2)?))
        })
        .optional()?;
    let Some((token_id, scope, user_id)) = found else {
        return Ok(None);
    };
    let user = by_id(conn, user_id)?
        .ok_or_else(|| StoreError::Corrupt(format!("token {token_id} has no owner")))?;
    Ok(Some((token_id, scope, user)))
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

#[cfg(test)]
mod page_tests {
    use super::*;
    use crate::store::departments;
    use crate::store::paging::table_scans;
    use crate::store::test_support::memory_store;

    /// 90 accounts, in turn in science, arts and no department.
    fn seeded() -> (Connection, i64, i64) {
        let conn = memory_store();
        let science = departments::insert(&conn, "science", None).unwrap();
        let arts = departments::insert(&conn, "arts", None).unwrap();
        for n in 0..90 {
            let department = [Some(science), Some(arts), None][n % 3];
            let name = format!("{}-{n:02}", ["ann", "Bob", "cy_"][n % 3]);
            insert_member(&conn, &name, "hash", department, false, true).unwrap();
        }
        (conn, science, arts)
    }

    fn walk(conn: &Connection, mut list: MemberList) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            let (rows, more) = page(conn, &list).unwrap();
            seen.extend(rows.iter().map(|r| r.username.clone()));
            if !more {
                return seen;
            }
            list.after = rows.last().map(|r| r.username.clone());
        }
    }

    fn everyone(limit: u32) -> MemberList {
        MemberList {
            scope: None,
            department: None,
            text: None,
            after: None,
            limit,
        }
    }

    #[test]
    fn pages_walk_the_accounts_by_name_once_each_within_the_readers_scope() {
        let (conn, science, arts) = seeded();
        let all = walk(&conn, everyone(7));
        assert_eq!(all.len(), 90);
        assert!(all.windows(2).all(|w| w[0] < w[1]), "by name, no repeats");

        let scoped = MemberList {
            scope: Some(vec![science]),
            ..everyone(7)
        };
        assert_eq!(walk(&conn, scoped.clone()).len(), 30);
        let outside = MemberList {
            department: Some(arts),
            ..scoped
        };
        assert!(walk(&conn, outside).is_empty(), "arts is not in scope");

        let search = |text: &str| {
            walk(
                &conn,
                MemberList {
                    text: Some(text.into()),
                    ..everyone(7)
                },
            )
        };
        assert_eq!(search("BOB-1").len(), 4, "Bob-10, -13, -16, -19: any case");
        assert_eq!(search("cy_").len(), 30);
        assert!(search("c_").is_empty(), "`_` is no wildcard");
        assert!(search("ob").is_empty(), "a prefix, not any part");
    }

    #[test]
    fn no_member_list_query_scans_the_table() {
        let (conn, science, arts) = seeded();
        for scope in [None, Some(vec![science, arts])] {
            for department in [None, Some(arts)] {
                for text in [None, Some("bo".to_owned())] {
                    for after in [None, Some("bob".to_owned())] {
                        let list = MemberList {
                            scope: scope.clone(),
                            department,
                            text: text.clone(),
                            after,
                            limit: 50,
                        };
                        let plan = member_statement(&list).plan(&conn);
                        assert!(table_scans(&plan).is_empty(), "{list:?}: {plan:#?}");
                    }
                }
            }
        }
    }
}
