//! An instance list's query, from the API's and the portal's words to the
//! store's: who may see what, the filters, and the cursor where a page
//! starts.
//!
//! A cursor is opaque to clients: the order's name, the last row's sort
//! key and its id, in URL-safe base64. Decoding checks the order, so a
//! cursor given with another order is refused, never misread.

use app::error::AppError;
use app::model::{InstanceQuery, InstanceSort, Principal, Role};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64;

use crate::store::instance_list::{ListQuery, Order, Visibility};
use crate::store::instances::InstanceRow;

/// The longest search text taken.
const MAX_TEXT: usize = 100;

/// Whose instances `who` may list: in SQL, what `may_use` allows.
fn visibility(who: &Principal) -> Visibility {
    match who.role {
        Role::Admin => Visibility::All,
        Role::DepartmentAdmin => Visibility::OwnerOrDepartments {
            owner: who.user_id,
            departments: who.managed_departments.clone(),
        },
        Role::User => Visibility::Owner(who.user_id),
    }
}

fn invalid(field: &str, message: &str) -> AppError {
    AppError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// The store's query for `query` as `who` asks it.
pub(super) fn list_query(who: &Principal, query: InstanceQuery) -> Result<ListQuery, AppError> {
    let limit = query.limit.unwrap_or(InstanceQuery::DEFAULT_LIMIT);
    if !(1..=InstanceQuery::MAX_LIMIT).contains(&limit) {
        return Err(invalid(
            "limit",
            &format!("must be 1 to {}", InstanceQuery::MAX_LIMIT),
        ));
    }
    let text = query
        .q
        .map(|q| q.trim().to_owned())
        .filter(|q| !q.is_empty());
    if text.as_ref().is_some_and(|t| t.chars().count() > MAX_TEXT) {
        return Err(invalid("q", &format!("at most {MAX_TEXT} characters")));
    }
    let sort = query.sort.unwrap_or_default();
    let order = match query.cursor.as_deref() {
        None => first_page(sort),
        Some(cursor) => decode(sort, cursor)
            .ok_or_else(|| invalid("cursor", "not a cursor of this list and order"))?,
    };
    Ok(ListQuery {
        visible: visibility(who),
        text,
        state: query.state,
        health: query.health,
        zone: query.zone,
        host: query.host.filter(|h| !h.is_empty()),
        department: query.department,
        order,
        limit,
    })
}

fn first_page(sort: InstanceSort) -> Order {
    match sort {
        InstanceSort::Newest => Order::Created {
            descending: true,
            after: None,
        },
        InstanceSort::Oldest => Order::Created {
            descending: false,
            after: None,
        },
        InstanceSort::Name => Order::Name {
            descending: false,
            after: None,
        },
        InstanceSort::NameDesc => Order::Name {
            descending: true,
            after: None,
        },
    }
}

/// The cursor of the page that follows one ending on `last`, in `sort`.
pub(super) fn cursor_after(sort: InstanceSort, last: &InstanceRow) -> String {
    cursor(sort, last.id, &last.name, last.created_at)
}

fn cursor(sort: InstanceSort, id: i64, name: &str, created_at: i64) -> String {
    let key = match sort {
        InstanceSort::Newest | InstanceSort::Oldest => created_at.to_string(),
        InstanceSort::Name | InstanceSort::NameDesc => name.to_owned(),
    };
    BASE64.encode(format!("{}:{id}:{key}", sort.as_str()))
}

/// The order a cursor made by [`cursor_after`] for `sort` continues;
/// `None` for anything else.
fn decode(sort: InstanceSort, cursor: &str) -> Option<Order> {
    let text = String::from_utf8(BASE64.decode(cursor).ok()?).ok()?;
    let (made_for, rest) = text.split_once(':')?;
    let (id, key) = rest.split_once(':')?;
    if made_for != sort.as_str() {
        return None;
    }
    let id: i64 = id.parse().ok()?;
    Some(match first_page(sort) {
        Order::Created { descending, .. } => Order::Created {
            descending,
            after: Some((key.parse().ok()?, id)),
        },
        Order::Name { descending, .. } => Order::Name {
            descending,
            after: Some((key.to_owned(), id)),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admin() -> Principal {
        Principal {
            user_id: 1,
            username: "admin".into(),
            role: Role::Admin,
            department_id: None,
            managed_departments: vec![],
            may_deploy: true,
            address: None,
        }
    }

    #[test]
    fn a_cursor_continues_the_order_it_was_made_for_and_no_other() {
        for sort in InstanceSort::ALL.iter().copied() {
            let cursor = cursor(sort, 7, "wiki", 1_000);
            let query = InstanceQuery {
                sort: Some(sort),
                cursor: Some(cursor.clone()),
                ..InstanceQuery::default()
            };
            let order = list_query(&admin(), query).unwrap().order;
            let expected = match sort {
                InstanceSort::Newest => Order::Created {
                    descending: true,
                    after: Some((1_000, 7)),
                },
                InstanceSort::Oldest => Order::Created {
                    descending: false,
                    after: Some((1_000, 7)),
                },
                InstanceSort::Name => Order::Name {
                    descending: false,
                    after: Some(("wiki".into(), 7)),
                },
                InstanceSort::NameDesc => Order::Name {
                    descending: true,
                    after: Some(("wiki".into(), 7)),
                },
            };
            assert_eq!(order, expected);
            for other in InstanceSort::ALL.iter().copied().filter(|o| *o != sort) {
                let query = InstanceQuery {
                    sort: Some(other),
                    cursor: Some(cursor.clone()),
                    ..InstanceQuery::default()
                };
                let refused = list_query(&admin(), query).unwrap_err();
                assert!(
                    matches!(refused, AppError::Invalid { ref field, .. } if field == "cursor")
                );
            }
        }
    }

    #[test]
    fn garbage_limits_and_long_searches_are_refused_by_name() {
        for (query, field) in [
            (
                InstanceQuery {
                    cursor: Some("%%%".into()),
                    ..Default::default()
                },
                "cursor",
            ),
            (
                InstanceQuery {
                    cursor: Some(BASE64.encode("newest:x:1")),
                    ..Default::default()
                },
                "cursor",
            ),
            (
                InstanceQuery {
                    limit: Some(0),
                    ..Default::default()
                },
                "limit",
            ),
            (
                InstanceQuery {
                    limit: Some(201),
                    ..Default::default()
                },
                "limit",
            ),
            (
                InstanceQuery {
                    q: Some("x".repeat(101)),
                    ..Default::default()
                },
                "q",
            ),
        ] {
            let refused = list_query(&admin(), query).unwrap_err();
            assert!(
                matches!(refused, AppError::Invalid { field: ref f, .. } if f == field),
                "{refused:?}"
            );
        }
        let blank = list_query(
            &admin(),
            InstanceQuery {
                q: Some("  ".into()),
                ..Default::default()
            },
        );
        assert_eq!(blank.unwrap().text, None);
    }
}
