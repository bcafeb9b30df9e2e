//! Second factors: each account's authenticator app (TOTP, its secret
//! sealed), its recovery codes (hashed) and its run of wrong codes.

use std::collections::HashMap;

use app::model::{Role, SecondFactorPolicy, SecondFactorRule};
use rusqlite::{Connection, OptionalExtension, params};

use super::users::UserRow;
use super::{StoreError, settings};

/// An account's authenticator app, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TotpRow {
    /// Sealed (auth::secret_box) for the account.
    pub sealed_secret: String,
    /// None while the enrolment waits for its confirming code.
    pub confirmed_at: Option<i64>,
    /// The last time step a code was accepted for.
    pub last_step: Option<i64>,
}

pub fn totp(conn: &Connection, user_id: i64) -> Result<Option<TotpRow>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT secret, confirmed_at, last_step FROM totp_factors WHERE user_id = ?1",
        )?
        .query_row([user_id], |r| {
            Ok(TotpRow {
                sealed_secret: r.get(0)?,
                confirmed_at: r.get(1)?,
                last_step: r.get(2)?,
            })
        })
        .optional()?)
}

/// Starts an enrolment: a new secret, unconfirmed. Refuses (returns false)
/// when the account already has a confirmed one.
pub fn begin_totp(conn: &Connection, user_id: i64, sealed: &str) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "INSERT INTO totp_factors (user_id, secret) VALUES (?1, ?2)
         ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, last_step = NULL
             WHERE confirmed_at IS NULL",
        params![user_id, sealed],
    )? == 1)
}

/// Confirms the pending enrolment at `step`; false if there was none.
pub fn confirm_totp(
    conn: &Connection,
    user_id: i64,
    step: i64,
    at: i64,
) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "UPDATE totp_factors SET confirmed_at = ?3, last_step = ?2
         WHERE user_id = ?1 AND confirmed_at IS NULL",
        params![user_id, step, at],
    )? == 1)
}

/// Records `step` as used, unless a later one already was: false then
/// (two sign-ins racing with one code: only one wins).
pub fn use_step(conn: &Connection, user_id: i64, step: i64) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "UPDATE totp_factors SET last_step = ?2
         WHERE user_id = ?1 AND confirmed_at IS NOT NULL
           AND (last_step IS NULL OR last_step < ?2)",
        params![user_id, step],
    )? == 1)
}

/// Replaces the account's recovery codes with these hashes.
pub fn replace_recovery_codes(
    conn: &Connection,
    user_id: i64,
    hashes: &[Vec<u8>],
) -> Result<(), StoreError> {
    conn.execute("DELETE FROM recovery_codes WHERE user_id = ?1", [user_id])?;
    let mut insert =
        conn.prepare_cached("INSERT INTO recovery_codes (user_id, code_hash) VALUES (?1, ?2)")?;
    for hash in hashes {
        insert.execute(params![user_id, hash])?;
    }
    Ok(())
}

/// Spends the recovery code with this hash: true if it was there unused.
pub fn use_recovery_code(
    conn: &Connection,
    user_id: i64,
    hash: &[u8],
    at: i64,
) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "UPDATE recovery_codes SET used_at = ?3
         WHERE user_id = ?1 AND code_hash = ?2 AND used_at IS NULL",
        params![user_id, hash, at],
    )? == 1)
}

/// Recovery codes the account has left.
pub fn recovery_codes_left(conn: &Connection, user_id: i64) -> Result<u32, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT count(*) FROM recovery_codes WHERE user_id = ?1 AND used_at IS NULL",
        )?
        .query_row([user_id], |r| r.get(0))?)
}

/// Removes every second factor of the account (and its lockout); returns
/// whether it had any.
pub fn remove_all(conn: &Connection, user_id: i64) -> Result<bool, StoreError> {
    let totp = conn.execute("DELETE FROM totp_factors WHERE user_id = ?1", [user_id])?;
    let codes = conn.execute("DELETE FROM recovery_codes WHERE user_id = ?1", [user_id])?;
    let keys = conn.execute("DELETE FROM passkeys WHERE user_id = ?1", [user_id])?;
    conn.execute(
        "DELETE FROM second_factor_failures WHERE user_id = ?1",
        [user_id],
    )?;
    Ok(totp + codes + keys > 0)
}

/// Removes the account's authenticator app (its passkeys stay); returns
/// whether it had one.
pub fn remove_totp(conn: &Connection, user_id: i64) -> Result<bool, StoreError> {
    Ok(conn.execute("DELETE FROM totp_factors WHERE user_id = ?1", [user_id])? > 0)
}

/// When the account is left with no second factor (no confirmed app, no
/// passkey or security key), removes its recovery codes and its run of
/// wrong codes: a recovery code stands in for a factor, never alone.
/// Returns how many unused codes went.
pub fn forget_codes_without_factor(conn: &Connection, user_id: i64) -> Result<u32, StoreError> {
    let has_factor: bool = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM totp_factors
                            WHERE user_id = ?1 AND confirmed_at IS NOT NULL)
                 OR EXISTS (SELECT 1 FROM passkeys WHERE user_id = ?1)",
        )?
        .query_row([user_id], |r| r.get(0))?;
    if has_factor {
        return Ok(0);
    }
    let left = recovery_codes_left(conn, user_id)?;
    conn.execute("DELETE FROM recovery_codes WHERE user_id = ?1", [user_id])?;
    conn.execute(
        "DELETE FROM second_factor_failures WHERE user_id = ?1",
        [user_id],
    )?;
    Ok(left)
}

/// Until when the account's second factor is locked, if it is at `now`.
pub fn locked_until(conn: &Connection, user_id: i64, now: i64) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT locked_until FROM second_factor_failures
             WHERE user_id = ?1 AND locked_until > ?2",
        )?
        .query_row(params![user_id, now], |r| r.get(0))
        .optional()?)
}

/// Of each account in `users`: whether it has a confirmed authenticator
/// app or a passkey, and until when its second factor is locked (if it is at `now`).
/// Accounts with neither are absent.
pub fn states_of(
    conn: &Connection,
    users: &[i64],
    now: i64,
) -> Result<HashMap<i64, FactorState>, StoreError> {
    // Not kept, as `quotas::usage_of_users`: its text names each page's
    // accounts.
    let ids = super::paging::id_list(users);
    let mut stmt = conn.prepare(&format!(
        "SELECT u.id,
                EXISTS (SELECT 1 FROM totp_factors t
                        WHERE t.user_id = u.id AND t.confirmed_at IS NOT NULL),
                EXISTS (SELECT 1 FROM passkeys p WHERE p.user_id = u.id),
                (SELECT f.locked_until FROM second_factor_failures f
                 WHERE f.user_id = u.id AND f.locked_until > ?1)
         FROM users u WHERE u.id IN ({ids})"
    ))?;
    let rows = stmt
        .query_map([now], |r| {
            Ok((
                r.get(0)?,
                FactorState {
                    app: r.get(1)?,
                    passkeys: r.get(2)?,
                    locked_until: r.get(3)?,
                },
            ))
        })?
        .filter(|row| !matches!(row, Ok((_, state)) if *state == FactorState::default()))
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// An account's second factors as the department page shows them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FactorState {
    /// A confirmed authenticator app.
    pub app: bool,
    /// At least one passkey.
    pub passkeys: bool,
    /// The end of a lock not yet over.
    pub locked_until: Option<i64>,
}

/// Counts a wrong code. At `limit` in a row the factor locks until
/// `lock_until` and the count starts again; returns whether it locked now.
pub fn count_failure(
    conn: &Connection,
    user_id: i64,
    limit: u32,
    lock_until: i64,
) -> Result<bool, StoreError> {
    let failures: u32 = conn
        .prepare_cached(
            "INSERT INTO second_factor_failures (user_id, failures) VALUES (?1, 1)
             ON CONFLICT (user_id) DO UPDATE SET failures = failures + 1
             RETURNING failures",
        )?
        .query_row([user_id], |r| r.get(0))?;
    if failures < limit {
        return Ok(false);
    }
    conn.execute(
        "UPDATE second_factor_failures SET failures = 0, locked_until = ?2 WHERE user_id = ?1",
        params![user_id, lock_until],
    )?;
    Ok(true)
}

/// Forgets the account's wrong codes and lifts its lock; returns whether
/// it was locked at `now`.
pub fn clear_failures(conn: &Connection, user_id: i64, now: i64) -> Result<bool, StoreError> {
    let was_locked = locked_until(conn, user_id, now)?.is_some();
    conn.execute(
        "DELETE FROM second_factor_failures WHERE user_id = ?1",
        [user_id],
    )?;
    Ok(was_locked)
}

/// Who must use a second factor.
pub fn policy(conn: &Connection) -> Result<SecondFactorPolicy, StoreError> {
    let required_of = match settings::get(conn, settings::SECOND_FACTOR_REQUIRED_OF)? {
        None => SecondFactorRule::Departments,
        Some(text) => text.parse().map_err(|e: app::model::UnknownState| {
            StoreError::Corrupt(format!(
                "setting {}: {e}",
                settings::SECOND_FACTOR_REQUIRED_OF
            ))
        })?,
    };
    let departments = conn
        .prepare_cached("SELECT id FROM departments WHERE require_second_factor ORDER BY id")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(SecondFactorPolicy {
        required_of,
        departments,
    })
}

/// Sets who must use a second factor; `NotFound` for a department that is
/// not there (nothing is changed then: the caller's transaction rolls back).
pub fn set_policy(conn: &Connection, policy: &SecondFactorPolicy) -> Result<(), StoreError> {
    settings::set(
        conn,
        settings::SECOND_FACTOR_REQUIRED_OF,
        policy.required_of.as_str(),
    )?;
    conn.execute("UPDATE departments SET require_second_factor = 0", [])?;
    let mut require =
        conn.prepare_cached("UPDATE departments SET require_second_factor = 1 WHERE id = ?1")?;
    for id in &policy.departments {
        if require.execute([id])? == 0 {
            return Err(StoreError::NotFound("department"));
        }
    }
    Ok(())
}

/// Whether `user` must use a second factor: by the appliance's rule, or
/// because its department or one above it requires one.
pub fn required_of(conn: &Connection, user: &UserRow) -> Result<bool, StoreError> {
    let by_rule = match policy(conn)?.required_of {
        SecondFactorRule::Everyone => true,
        SecondFactorRule::Admins => match user.effective_role() {
            Role::Admin | Role::DepartmentAdmin => true,
            Role::User => false,
        },
        SecondFactorRule::Departments => false,
    };
    let Some(department) = user.department_id else {
        return Ok(by_rule);
    };
    let by_department = conn
        .prepare_cached(
            "WITH RECURSIVE above(id) AS (
                 SELECT ?1
                 UNION SELECT d.parent_id FROM departments d JOIN above a ON d.id = a.id
                     WHERE d.parent_id IS NOT NULL)
             SELECT EXISTS (SELECT 1 FROM departments
                            WHERE id IN (SELECT id FROM above) AND require_second_factor)",
        )?
        .query_row([department], |r| r.get::<_, bool>(0))?;
    Ok(by_rule || by_department)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::memory_store;
    use crate::store::{departments, users};

    #[test]
    fn a_step_and_a_recovery_code_are_each_used_once() {
        let conn = memory_store();
        let ann = users::insert(&conn, "ann", None, Role::User).unwrap();
        assert!(begin_totp(&conn, ann, "v1:sealed").unwrap());
        assert!(!use_step(&conn, ann, 5).unwrap(), "not confirmed yet");
        assert!(confirm_totp(&conn, ann, 5, 100).unwrap());
        assert!(
            !begin_totp(&conn, ann, "v1:other").unwrap(),
            "confirmed stays"
        );
        assert!(!use_step(&conn, ann, 5).unwrap(), "the confirming step");
        assert!(use_step(&conn, ann, 6).unwrap());
        replace_recovery_codes(&conn, ann, &[vec![1], vec![2]]).unwrap();
        assert!(use_recovery_code(&conn, ann, &[1], 7).unwrap());
        assert!(!use_recovery_code(&conn, ann, &[1], 8).unwrap());
        assert_eq!(recovery_codes_left(&conn, ann).unwrap(), 1);
        assert!(remove_all(&conn, ann).unwrap());
        assert_eq!(totp(&conn, ann).unwrap(), None);
    }

    #[test]
    fn the_limit_of_wrong_codes_locks_until_cleared() {
        let conn = memory_store();
        let ann = users::insert(&conn, "ann", None, Role::User).unwrap();
        for _ in 0..7 {
            assert!(!count_failure(&conn, ann, 8, 3_700).unwrap());
        }
        assert_eq!(locked_until(&conn, ann, 100).unwrap(), None);
        assert!(count_failure(&conn, ann, 8, 3_700).unwrap());
        assert_eq!(locked_until(&conn, ann, 100).unwrap(), Some(3_700));
        assert_eq!(locked_until(&conn, ann, 3_700).unwrap(), None, "an hour on");
        assert!(clear_failures(&conn, ann, 100).unwrap());
        assert_eq!(locked_until(&conn, ann, 100).unwrap(), None);
    }

    #[test]
    fn a_department_requires_a_second_factor_of_those_below_it_too() {
        let conn = memory_store();
        let science = departments::insert(&conn, "Science", None).unwrap();
        let physics = departments::insert(&conn, "Physics", Some(science)).unwrap();
        let ann = users::insert(&conn, "ann", None, Role::User).unwrap();
        users::set_department(&conn, ann, Some(physics), false).unwrap();
        let ann = users::by_id(&conn, ann).unwrap().unwrap();
        let admin = users::insert(&conn, "root", None, Role::Admin).unwrap();
        let admin = users::by_id(&conn, admin).unwrap().unwrap();
        assert!(!required_of(&conn, &ann).unwrap());
        let mut policy = SecondFactorPolicy {
            required_of: SecondFactorRule::Admins,
            departments: vec![science],
        };
        set_policy(&conn, &policy).unwrap();
        assert_eq!(super::policy(&conn).unwrap(), policy);
        assert!(
            required_of(&conn, &ann).unwrap(),
            "Science is above Physics"
        );
        assert!(required_of(&conn, &admin).unwrap());
        policy.required_of = SecondFactorRule::Departments;
        policy.departments = vec![physics, 999];
        assert!(set_policy(&conn, &policy).is_err(), "no department 999");
    }
}
