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

/// Look-ups by `K`, each kept with the count of `depends` it was read at.
pub(crate) struct Kept<K> {
    depends: &'static [Change],
    /// Key → (change count, its principal; None: disabled or gone).
    entries: moka::sync::Cache<K, (u64, Option<Principal>)>,
}

/// A look-up to make: its key, and the count it is read at.
pub(crate) struct Lookup<K> {
    key: K,
    count: u64,
}

impl<K: std::hash::Hash + Eq + Clone + Send + Sync + 'static> Kept<K> {
    fn new(depends: &'static [Change]) -> Self {
        Kept {
            depends,
            entries: moka::sync::Cache::builder()
                .max_capacity(KEPT)
                .time_to_live(KEPT_AT_MOST)
                .build(),
        }
    }

    /// The principal kept for `key` if still true; else the look-up to
    /// [`Kept::keep`] once read (counted before reading, so a change
    /// committed meanwhile is never missed).
    pub(crate) fn get(&self, store: &Store, key: &K) -> Result<Option<Principal>, Lookup<K>> {
        let count = store.changes(self.depends);
        match self.entries.get(key) {
            Some((at, principal)) if at == count => Ok(principal),
            Some(_) | None => Err(Lookup {
                key: key.clone(),
                count,
            }),
        }
    }

    pub(crate) fn keep(&self, lookup: Lookup<K>, principal: Option<Principal>) {
        self.entries.insert(lookup.key, (lookup.count, principal));
    }
}

pub(crate) struct PrincipalCache {
    /// By account id (a session's).
    pub(crate) by_account: Kept<i64>,
    /// By token digest.
    pub(crate) by_token: Kept<Vec<u8>>,
}

impl Default for PrincipalCache {
    fn default() -> Self {
        PrincipalCache {
            by_account: Kept::new(ACCOUNT),
            by_token: Kept::new(TOKEN),
        }
    }
}
