//! Who is behind a session or a token, kept between requests: a request
//! then reads no account, department or token row. What is kept is
//! trusted while no account, department or token has changed (the
//! store's change counts, which also move for other processes' writes),
//! and for at most [`KEPT_AT_MOST`], so a token's directory re-check and
//! its last-use time are never further behind than that.

use std::time::Duration;

use app::model::Principal;

use crate::store::{Change, Store};

/// How long a look-up serves at most, whatever else happens.
const KEPT_AT_MOST: Duration = Duration::from_secs(30);
/// Look-ups kept at most, of each kind.
const KEPT: u64 = 10_000;

/// What a session's principal depends on.
const ACCOUNT: &[Change] = &[Change::Accounts, Change::Departments];
/// What a token's principal depends on.
const TOKEN: &[Change] = &[Change::Accounts, Change::Departments, Change::Tokens];

pub(crate) struct PrincipalCache {
    /// Account id → (change count, its principal; None: disabled or gone).
    by_account: moka::sync::Cache<i64, (u64, Option<Principal>)>,
    /// Token digest → (change count, its principal; None: no such token).
    by_token: moka::sync::Cache<Vec<u8>, (u64, Option<Principal>)>,
}

impl Default for PrincipalCache {
    fn default() -> Self {
        PrincipalCache {
            by_account: moka::sync::Cache::builder()
                .max_capacity(KEPT)
                .time_to_live(KEPT_AT_MOST)
                .build(),
            by_token: moka::sync::Cache::builder()
                .max_capacity(KEPT)
                .time_to_live(KEPT_AT_MOST)
                .build(),
        }
    }
}

/// A kept look-up: its count when read, and what was read.
pub(crate) struct Lookup<K> {
    key: K,
    count: u64,
}

impl PrincipalCache {
    /// The account's principal if kept and still true; else the look-up
    /// to [`PrincipalCache::keep_account`] once read (counted before
    /// reading, so a change committed meanwhile is never missed).
    pub(crate) fn account(
        &self,
        store: &Store,
        user_id: i64,
    ) -> Result<Option<Principal>, Lookup<i64>> {
        let count = store.changes(ACCOUNT);
        match self.by_account.get(&user_id) {
            Some((at, principal)) if at == count => Ok(principal),
            Some(_) | None => Err(Lookup {
                key: user_id,
                count,
            }),
        }
    }

    pub(crate) fn keep_account(&self, lookup: Lookup<i64>, principal: Option<Principal>) {
        self.by_account
            .insert(lookup.key, (lookup.count, principal));
    }

    /// The same for a token, by its digest.
    pub(crate) fn token(
        &self,
        store: &Store,
        digest: &[u8],
    ) -> Result<Option<Principal>, Lookup<Vec<u8>>> {
        let count = store.changes(TOKEN);
        match self.by_token.get(digest) {
            Some((at, principal)) if at == count => Ok(principal),
            Some(_) | None => Err(Lookup {
                key: digest.to_vec(),
                count,
            }),
        }
    }

    pub(crate) fn keep_token(&self, lookup: Lookup<Vec<u8>>, principal: Option<Principal>) {
        self.by_token.insert(lookup.key, (lookup.count, principal));
    }
}
