//! Personal API tokens. Only a SHA-256 of each secret is stored: the secrets
//! are long and random, so a slow hash would add nothing.

use app::model::{TokenInfo, TokenScope};
use rusqlite::{Connection, params};

use super::paging::Sql;
use super::states::text_column;
use super::{StoreError, now};

/// Don't write `last_used_at` more often than this, to keep reads cheap.
const TOUCH_INTERVAL_SECS: i64 = 60;

/// Stores a token of `scope` that works until `expires_at` (Unix seconds;
/// `None`: until revoked).
pub fn insert(
    conn: &Connection,
    user_id: i64,
    name: &str,
    scope: TokenScope,
    secret_hash: &[u8],
    expires_at: Option<i64>,
) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO api_tokens (user_id, name, scope, secret_hash, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            user_id,
            name,
            scope.as_str(),
            secret_hash,
            now(),
            expires_at
        ],
    )
    .map_err(|e| StoreError::unique_as(e, "a token with that secret"))?;
    Ok(conn.last_insert_rowid())
}

/// A page of at most `limit` of the account's tokens, newest first,
/// starting after the token `(created_at, id)`; and whether more follow.
pub fn page_for_user(
    conn: &Connection,
    user_id: i64,
    after: Option<(i64, i64)>,
    limit: u32,
) -> Result<(Vec<TokenInfo>, bool), StoreError> {
    page_statement(user_id, after, limit).page(conn, limit, |r| {
        Ok(TokenInfo {
            id: r.get(0)?,
            name: r.get(1)?,
            created_at: r.get(2)?,
            last_used_at: r.get(3)?,
            expires_at: r.get(4)?,
            scope: text_column(r, 5)?,
        })
    })
}

fn page_statement(user_id: i64, after: Option<(i64, i64)>, limit: u32) -> Sql {
    let mut sql = Sql::new(
        "SELECT id, name, created_at, last_used_at, expires_at, scope FROM api_tokens WHERE 1",
    );
    sql.and("user_id", "=", user_id);
    if let Some((created_at, id)) = after {
        let (c, i) = (sql.bind(created_at), sql.bind(id));
        sql.text
            .push_str(&format!(" AND (created_at, id) < ({c}, {i})"));
    }
    sql.text.push_str(" ORDER BY created_at DESC, id DESC");
    sql.limit_one_over(limit);
    sql
}

/// Deletes the user's token `id`; returns whether there was one.
pub fn delete_for_user(conn: &Connection, user_id: i64, id: i64) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "DELETE FROM api_tokens WHERE id = ?1 AND user_id = ?2",
        params![id, user_id],
    )? == 1)
}

/// Deletes every token of the user; returns how many there were.
pub fn delete_all_for_user(conn: &Connection, user_id: i64) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "DELETE FROM api_tokens WHERE user_id = ?1",
        params![user_id],
    )?)
}

/// Records that the token was used, at most once a minute.
pub fn touch(conn: &Connection, token_id: i64) -> Result<(), StoreError> {
    let now = now();
    conn.execute(
        "UPDATE api_tokens SET last_used_at = ?2
         WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at <= ?3)",
        params![token_id, now, now - TOUCH_INTERVAL_SECS],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use app::model::Role;

    use super::*;
    use crate::store::paging::table_scans;
    use crate::store::test_support::memory_store;
    use crate::store::users;

    #[test]
    fn pages_walk_an_accounts_tokens_newest_first_once_each_and_no_others() {
        let conn = memory_store();
        let ann = users::insert(&conn, "ann", None, Role::User).unwrap();
        let bob = users::insert(&conn, "bob", None, Role::User).unwrap();
        for n in 0..12_u8 {
            let id = insert(
                &conn,
                ann,
                &format!("t{n:02}"),
                TokenScope::Full,
                &[n],
                None,
            )
            .unwrap();
            // Some in the same second: the id breaks the tie.
            conn.execute(
                "UPDATE api_tokens SET created_at = ?2 WHERE id = ?1",
                params![id, 1_000 + i64::from(n / 3)],
            )
            .unwrap();
        }
        insert(&conn, bob, "bob's", TokenScope::Full, &[99], None).unwrap();
        let mut after = None;
        let mut seen = Vec::new();
        loop {
            let (rows, more) = page_for_user(&conn, ann, after, 5).unwrap();
            seen.extend(rows.iter().map(|t| t.name.clone()));
            if !more {
                break;
            }
            after = rows.last().map(|t| (t.created_at, t.id));
        }
        let expected: Vec<String> = (0..12).rev().map(|n| format!("t{n:02}")).collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn a_token_page_is_sought_through_the_accounts_index() {
        let conn = memory_store();
        for after in [None, Some((1_000, 7))] {
            let plan = page_statement(1, after, 50).plan(&conn);
            assert!(table_scans(&plan).is_empty(), "{plan:#?}");
            assert!(
                plan.iter().any(|l| l.contains("api_tokens_by_user"))
                    && !plan.iter().any(|l| l.contains("TEMP B-TREE")),
                "read in order from the account's index: {plan:#?}"
            );
        }
    }
}
