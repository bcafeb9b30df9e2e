//! Figures over time in tiers of bounded span (RRD-style): a row every
//! 10 s kept for a day, one for each 5 minutes kept for a month, one for
//! each hour kept for a year. A 10 s row updates its 5 minutes' and its
//! hour's rows at once, so every tier is current, and writing the same
//! row again changes nothing. Each table of such figures (an instance's
//! use, its application's traffic, a department's use of its quota)
//! names its columns and how each rolls up.

use app::model::UsageRange;
use rusqlite::types::ToSql;
use rusqlite::{Connection, Row, params_from_iter};

use super::StoreError;

/// Each tier: a period's length and how long its rows are kept (seconds).
const TIERS: [(i64, i64); 3] = [(10, 86_400), (300, 30 * 86_400), (3600, 365 * 86_400)];

/// How a coarser period's figure comes from the finer periods in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rollup {
    Mean,
    /// The worst of them, for a percentile: a mean of percentiles would
    /// hide the bad minutes.
    Max,
}

/// A table of tiered figures: `(KEY, tier, at)` and `columns`, where
/// `KEY` is the id of a row of `owner` (an instance, a department).
pub struct Tiered {
    pub table: &'static str,
    pub key: &'static str,
    pub owner: &'static str,
    pub columns: &'static [(&'static str, Rollup)],
}

impl Tiered {
    fn names(&self) -> String {
        let names: Vec<&str> = self.columns.iter().map(|(name, _)| *name).collect();
        names.join(", ")
    }

    fn replace_figures(&self) -> String {
        let sets: Vec<String> = self
            .columns
            .iter()
            .map(|(name, _)| format!("{name} = excluded.{name}"))
            .collect();
        format!(
            "ON CONFLICT ({}, tier, at) DO UPDATE SET {}",
            self.key,
            sets.join(", ")
        )
    }

    /// Records each owner's figures at `at` (unix seconds; kept at the
    /// start of its 10 s), rolls them into the coarser tiers and drops
    /// rows past their tier's span. Figures of an owner gone since are
    /// dropped. Each row's figures are in `columns`' order.
    pub fn record<F: ToSql>(
        &self,
        conn: &Connection,
        at: i64,
        rows: &[(i64, Vec<F>)],
    ) -> Result<(), StoreError> {
        let (table, key, owner) = (self.table, self.key, self.owner);
        let (names, replace) = (self.names(), self.replace_figures());
        let values: Vec<String> = (0..self.columns.len())
            .map(|i| format!("?{}", i + 4))
            .collect();
        let mut insert = conn.prepare_cached(&format!(
            "INSERT INTO {table} ({key}, tier, at, {names})
             SELECT ?1, ?2, ?3, {}
             WHERE EXISTS (SELECT 1 FROM {owner} WHERE id = ?1)
             {replace}",
            values.join(", ")
        ))?;
        let rolled: Vec<String> = self
            .columns
            .iter()
            .map(|(name, rollup)| match rollup {
                Rollup::Mean => format!("AVG({name})"),
                Rollup::Max => format!("MAX({name})"),
            })
            .collect();
        let mut roll_up = conn.prepare_cached(&format!(
            "INSERT INTO {table} ({key}, tier, at, {names})
             SELECT {key}, ?2, ?3, {}
             FROM {table}
             WHERE {key} = ?1 AND tier = ?4 AND at >= ?3 AND at < ?3 + ?2
             GROUP BY {key}
             {replace}",
            rolled.join(", ")
        ))?;
        let mut prune = conn.prepare_cached(&format!(
            "DELETE FROM {table} WHERE {key} = ?1 AND tier = ?2 AND at <= ?3"
        ))?;
        let [(finest, _), ..] = TIERS;
        let at = at - at.rem_euclid(finest);
        for (id, figures) in rows {
            let keys: [&dyn ToSql; 3] = [id, &finest, &at];
            let inserted = insert.execute(params_from_iter(
                keys.into_iter()
                    .chain(figures.iter().map(|f| f as &dyn ToSql)),
            ))?;
            if inserted == 0 {
                continue;
            }
            for pair in TIERS.windows(2) {
                let [(below, _), (tier, _)] = [pair[0], pair[1]];
                roll_up.execute(rusqlite::params![id, tier, at - at.rem_euclid(tier), below])?;
            }
            for (tier, span) in TIERS {
                prune.execute(rusqlite::params![id, tier, at - span])?;
            }
        }
        Ok(())
    }

    /// Owner `id`'s rows over `range` up to `now`, oldest first, each
    /// read by `row` from `at` and then `columns` in order.
    pub fn series<T>(
        &self,
        conn: &Connection,
        id: i64,
        range: UsageRange,
        now: i64,
        row: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, StoreError> {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT at, {} FROM {} WHERE {} = ?1 AND tier = ?2 AND at > ?3 ORDER BY at",
            self.names(),
            self.table,
            self.key
        ))?;
        let since = now - range.span_seconds();
        let rows = stmt
            .query_map(rusqlite::params![id, range.tier_seconds(), since], row)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }
}
