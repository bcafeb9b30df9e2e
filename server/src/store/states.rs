//! Reading the state enums (`app::model::states`) from their TEXT
//! columns. Their texts are defined once, in `app`; this is the one place
//! the store turns a column into one, so that text no variant names is an
//! error (which [`StoreError`](super::StoreError) reports as `Corrupt`),
//! never a panic and never a silent default. Writing uses `as_str()`.

use std::str::FromStr;

use app::model::UnknownState;
use rusqlite::Row;
use rusqlite::types::Type;

/// Column `index` of `row`, parsed as `T`.
pub(super) fn text_column<T>(row: &Row<'_>, index: usize) -> rusqlite::Result<T>
where
    T: FromStr<Err = UnknownState>,
{
    // Read in place: a state is parsed, never kept as text.
    let text = row.get_ref(index)?.as_str()?;
    text.parse().map_err(|e: UnknownState| {
        rusqlite::Error::FromSqlConversionFailure(index, Type::Text, Box::new(e))
    })
}

#[cfg(test)]
mod tests {
    use app::model::TaskState;
    use rusqlite::Connection;

    use super::*;
    use crate::store::StoreError;

    #[test]
    fn text_no_variant_names_is_corruption() {
        let conn = Connection::open_in_memory().unwrap();
        let read = |text: &str| -> Result<TaskState, StoreError> {
            Ok(conn.query_row("SELECT ?1", [text], |r| text_column(r, 0))?)
        };
        assert_eq!(read("succeeded").unwrap(), TaskState::Succeeded);
        let e = read("sleeping").unwrap_err();
        assert!(matches!(e, StoreError::Corrupt(_)), "{e:?}");
        assert!(
            e.to_string().contains(r#"unknown TaskState "sleeping""#),
            "{e}"
        );
    }
}
