//! What every paged list shares: the page length a query asks for, its
//! search text, and the cursor where a page starts.
//!
//! A cursor is opaque to clients: the list's name, the last row's id and
//! its sort key, in URL-safe base64. Decoding checks the list's name, so
//! a cursor of another list, or of the same list in another order, is
//! refused, never misread.

use app::error::AppError;
use app::model::page::{DEFAULT_LIMIT, MAX_LIMIT};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64;

/// The longest search text taken.
pub(super) const MAX_TEXT: usize = 100;

/// The page length `asked` (default [`DEFAULT_LIMIT`]), if it is one.
pub(super) fn limit(asked: Option<u32>) -> Result<u32, AppError> {
    let limit = asked.unwrap_or(DEFAULT_LIMIT);
    if (1..=MAX_LIMIT).contains(&limit) {
        Ok(limit)
    } else {
        Err(AppError::invalid(
            "limit",
            format!("must be 1 to {MAX_LIMIT}"),
        ))
    }
}

/// A search text, trimmed; blank is no search.
pub(super) fn search(field: &str, asked: Option<String>) -> Result<Option<String>, AppError> {
    let text = asked.map(|q| q.trim().to_owned()).filter(|q| !q.is_empty());
    if text.as_ref().is_some_and(|t| t.chars().count() > MAX_TEXT) {
        return Err(AppError::invalid(
            field,
            format!("at most {MAX_TEXT} characters"),
        ));
    }
    Ok(text)
}

/// The cursor of the page after a row `id` whose sort key is `key`, in
/// the list (and order) named `list`.
pub(super) fn cursor(list: &str, id: i64, key: &str) -> String {
    BASE64.encode(format!("{list}:{id}:{key}"))
}

/// What a cursor that is not one of the list's (or its order's) gets.
pub(super) fn not_a_cursor() -> AppError {
    AppError::invalid("cursor", "not a cursor of this list and order")
}

/// The last row's id and sort key from a cursor [`cursor`] made for
/// `list`; an `Invalid` naming the field for anything else.
pub(super) fn after(list: &str, cursor: &str) -> Result<(i64, String), AppError> {
    decode(list, cursor).ok_or_else(not_a_cursor)
}

/// [`after`], with the sort key read as a `K` (a number, for a time).
pub(super) fn after_key<K: std::str::FromStr>(
    list: &str,
    cursor: &str,
) -> Result<(i64, K), AppError> {
    let (id, key) = after(list, cursor)?;
    Ok((id, key.parse().map_err(|_| not_a_cursor())?))
}

fn decode(list: &str, cursor: &str) -> Option<(i64, String)> {
    let text = String::from_utf8(BASE64.decode(cursor).ok()?).ok()?;
    let (made_for, rest) = text.split_once(':')?;
    let (id, key) = rest.split_once(':')?;
    if made_for != list {
        return None;
    }
    Some((id.parse().ok()?, key.to_owned()))
}

/// The cursor after the last of `rows` when `more` follow.
pub(super) fn next<R>(
    rows: &[R],
    more: bool,
    cursor_after: impl Fn(&R) -> String,
) -> Option<String> {
    rows.last().filter(|_| more).map(cursor_after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_is_read_back_by_its_own_list_only() {
        let made = cursor("audit", 7, "a:b");
        assert_eq!(after("audit", &made).unwrap(), (7, "a:b".to_owned()));
        for garbage in [
            cursor("tokens", 7, "x"),
            "%%%".into(),
            BASE64.encode("audit:x:1"),
        ] {
            let refused = after("audit", &garbage).unwrap_err();
            assert!(matches!(refused, AppError::Invalid { ref field, .. } if field == "cursor"));
        }
    }

    #[test]
    fn the_next_cursor_follows_the_last_row_only_when_more_follow() {
        let after = |r: &i32| format!("after {r}");
        assert_eq!(next(&[1, 2], true, after).as_deref(), Some("after 2"));
        assert_eq!(next(&[1, 2], false, after), None);
        assert_eq!(next(&[], true, after), None);
    }

    #[test]
    fn limits_outside_one_to_the_most_and_long_searches_are_refused_by_name() {
        assert_eq!(limit(None).unwrap(), DEFAULT_LIMIT);
        for bad in [0, MAX_LIMIT + 1] {
            assert!(
                matches!(limit(Some(bad)), Err(AppError::Invalid { ref field, .. }) if field == "limit")
            );
        }
        assert!(
            matches!(search("q", Some("x".repeat(101))), Err(AppError::Invalid { ref field, .. }) if field == "q")
        );
        assert_eq!(search("q", Some("  ".into())).unwrap(), None);
    }
}
