//! Personal API tokens. Only a SHA-256 of each secret is stored: the secrets
//! are long and random, so a slow hash would add nothing.

use app::model::TokenInfo;
use rusqlite::{Connection, OptionalExtension, params};

use super::users::UserRow;
use super::{StoreError, now};

/// Don't write `last_used_at` more often than this, to keep reads cheap.
const TOUCH_INTERVAL_SECS: i64 = 60;

/// Stores a token that works until `expires_at` (Unix seconds; `None`:
/// until revoked).
pub fn insert(
    conn: &Connection,
    user_id: i64,
    name: &str,
    secret_hash: &[u8],
    expires_at: Option<i64>,
) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO api_tokens (user_id, name, secret_hash, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![user_id, name, secret_hash, now(), expires_at],
    )
    .map_err(|e| StoreError::unique_as(e, "a token with that secret"))?;
    Ok(conn.last_insert_rowid())
}

pub fn list_for_user(conn: &Connection, user_id: i64) -> Result<Vec<TokenInfo>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT id, name, created_at, last_used_at, expires_at FROM api_tokens
         WHERE user_id = ?1 ORDER BY created_at DESC, id DESC",
    )?;
    let rows = stmt
        .query_map([user_id], |r| {
            Ok(TokenInfo {
                id: r.get(0)?,
                name: r.get(1)?,
                created_at: r.get(2)?,
                last_used_at: r.get(3)?,
                expires_at: r.get(4)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
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

/// The token's id and its owner, when the secret is known and the token
/// has not expired.
pub fn owner_of(
    conn: &Connection,
    secret_hash: &[u8],
) -> Result<Option<(i64, UserRow)>, StoreError> {
    let found: Option<(i64, i64)> = conn
        .query_row(
            "SELECT id, user_id FROM api_tokens
             WHERE secret_hash = ?1 AND (expires_at IS NULL OR expires_at > ?2)",
            params![secret_hash, now()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((token_id, user_id)) = found else {
        return Ok(None);
    };
    let user = super::users::by_id(conn, user_id)?
        .ok_or_else(|| StoreError::Corrupt(format!("token {token_id} has no owner")))?;
    Ok(Some((token_id, user)))
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
