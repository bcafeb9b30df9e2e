//! What the paged lists' SQL shares: a statement built with its
//! parameters, prefix search through LIKE, and a page fetched one row
//! long so the caller knows whether another follows.

use rusqlite::types::Value;
use rusqlite::{Connection, Row};

use super::StoreError;

/// A statement's text and parameters as they are built, each parameter
/// bound as `?N`.
#[derive(Default)]
pub(super) struct Sql {
    pub text: String,
    pub args: Vec<Value>,
}

impl Sql {
    pub fn new(text: &str) -> Sql {
        Sql {
            text: text.to_owned(),
            args: Vec::new(),
        }
    }

    /// Binds `value`: its placeholder.
    pub fn bind(&mut self, value: impl Into<Value>) -> String {
        self.args.push(value.into());
        format!("?{}", self.args.len())
    }

    /// Appends ` AND {column} {op} ?N`, binding `value`.
    pub fn and(&mut self, column: &str, op: &str, value: impl Into<Value>) {
        let p = self.bind(value);
        self.text.push_str(&format!(" AND {column} {op} {p}"));
    }

    /// Appends ` AND {column} IN (…)` for `ids`, written out so that the
    /// planner sees each one (integers: nothing to escape).
    pub fn and_in(&mut self, column: &str, ids: &[i64]) {
        self.text
            .push_str(&format!(" AND {column} IN ({})", id_list(ids)));
    }

    /// Appends `LIMIT` for one row more than `limit`: that row, if it
    /// comes, says that another page follows. Written out, not bound:
    /// SQLite prepares a statement again at every run whose `LIMIT` is a
    /// parameter (a third of a page's time went to parsing SQL).
    pub fn limit_one_over(&mut self, limit: u32) {
        self.text
            .push_str(&format!(" LIMIT {}", u64::from(limit) + 1));
    }

    /// A page of at most `limit` rows, and whether more follow, from a
    /// statement ended by [`Sql::limit_one_over`].
    pub fn page<R>(
        self,
        conn: &Connection,
        limit: u32,
        from_row: impl FnMut(&Row<'_>) -> rusqlite::Result<R>,
    ) -> Result<(Vec<R>, bool), StoreError> {
        let mut stmt = conn.prepare_cached(&self.text)?;
        let mut rows: Vec<R> = stmt
            .query_map(rusqlite::params_from_iter(self.args), from_row)?
            .collect::<Result<_, _>>()?;
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let more = rows.len() > limit;
        rows.truncate(limit);
        Ok((rows, more))
    }

    /// SQLite's plan for the statement, one line a step.
    #[cfg(test)]
    pub fn plan(&self, conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", self.text))
            .unwrap();
        stmt.query_map(rusqlite::params_from_iter(self.args.iter()), |r| r.get(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }
}

/// The plan's steps that read a table from end to end rather than
/// through an index.
#[cfg(test)]
pub(super) fn table_scans(plan: &[String]) -> Vec<&String> {
    plan.iter()
        .filter(|line| line.starts_with("SCAN") && !line.contains(" USING "))
        .collect()
}

/// A LIKE pattern (with `ESCAPE '\'`) for what starts with `text`, taken
/// literally: `%` and `_` in it are no wildcards.
pub(super) fn prefix_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 1);
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Integer ids written out for `IN (...)`, so the planner sees each one
/// (they are integers: nothing to escape).
pub(super) fn id_list(ids: &[i64]) -> String {
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use rusqlite::StatementStatus;

    use super::*;

    #[test]
    fn a_page_statement_run_again_is_not_prepared_again() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT); CREATE INDEX t_name ON t (name);",
        )
        .unwrap();
        let statement = || {
            let mut sql = Sql::new("SELECT id FROM t WHERE 1");
            let p = sql.bind("a".to_owned());
            sql.text.push_str(&format!(" AND name > {p} ORDER BY id"));
            sql.limit_one_over(50);
            sql
        };
        for _ in 0..3 {
            statement().page(&conn, 50, |r| r.get::<_, i64>(0)).unwrap();
        }
        let stmt = conn.prepare_cached(&statement().text).unwrap();
        assert_eq!(stmt.get_status(StatementStatus::RePrepare), 0);
    }
}
