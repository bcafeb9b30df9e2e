//! An instance list's query, from the API's and the portal's words to the
//! store's: who may see what, the filters, and the cursor where a page
//! starts.
//!
//! The cursor holds the order's name, so a cursor given with another
//! order is refused, never misread.

use app::error::AppError;
use app::model::{InstanceQuery, InstanceSort, Principal, Role};

use super::paging;
use crate::store::instance_list::{ListQuery, Order, Visibility};
use crate::store::instances::ListedInstance;

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

/// The store's query for `query` as `who` asks it.
pub(super) fn list_query(who: &Principal, query: InstanceQuery) -> Result<ListQuery, AppError> {
    let limit = paging::limit(query.limit)?;
    let text = paging::search("q", query.q)?;
    let sort = query.sort.unwrap_or_default();
    let order = match query.cursor.as_deref() {
        None => first_page(sort),
        Some(cursor) => continued(sort, paging::after(sort.as_str(), cursor)?)
            .ok_or_else(paging::not_a_cursor)?,
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
pub(super) fn cursor_after(sort: InstanceSort, last: &ListedInstance) -> String {
    cursor(sort, last.id, &last.name, last.created_at)
}

fn cursor(sort: InstanceSort, id: i64, name: &str, created_at: i64) -> String {
    match sort {
        InstanceSort::Newest | InstanceSort::Oldest => {
            paging::cursor(sort.as_str(), id, &created_at.to_string())
        }
        InstanceSort::Name | InstanceSort::NameDesc => paging::cursor(sort.as_str(), id, name),
    }
}

/// The order in `sort` after the row `id` whose sort key is `key`;
/// `None` when the key is not one of that order.
fn continued(sort: InstanceSort, (id, key): (i64, String)) -> Option<Order> {
    Some(match first_page(sort) {
        Order::Created { descending, .. } => Order::Created {
            descending,
            after: Some((key.parse().ok()?, id)),
        },
        Order::Name { descending, .. } => Order::Name {
            descending,
            after: Some((key, id)),
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
            scope: app::model::TokenScope::Full,
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
                    cursor: Some(paging::cursor("newest", 1, "x")),
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
