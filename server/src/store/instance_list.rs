//! Instance lists a page at a time: filtered, searched and ordered in SQL,
//! each page starting after the last row of the one before (keyset
//! paging: a page deep in the list costs what the first one does, and an
//! instance deployed meanwhile never shifts the pages).

use app::model::{Health, InstanceState, InstanceStatus, NetworkZone, Power};
use rusqlite::Connection;
use rusqlite::types::Value;

use super::StoreError;
use super::instances::{ListedInstance, SELECT_LISTED, listed_from_row};
use super::paging::{Sql, id_list};

/// Whose instances a list may hold.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Visibility {
    /// Every instance (appliance admins).
    All,
    /// One account's own.
    Owner(i64),
    /// One account's own and those charged to these departments
    /// (department admins).
    OwnerOrDepartments { owner: i64, departments: Vec<i64> },
}

/// The order of a list, and where its page starts: after the sort key of
/// the last row of the page before (`None`: the first page). Every order
/// ends on the id, which breaks ties.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Order {
    /// By deploy time.
    Created {
        descending: bool,
        after: Option<(i64, i64)>,
    },
    /// By name.
    Name {
        descending: bool,
        after: Option<(String, i64)>,
    },
}

/// One page's worth of a list: all given filters apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListQuery {
    pub visible: Visibility,
    /// What the name, the owner's or the department's name starts with,
    /// in any case.
    pub text: Option<String>,
    pub state: Option<InstanceState>,
    pub health: Option<Health>,
    pub zone: Option<NetworkZone>,
    /// A host's name.
    pub host: Option<String>,
    pub department: Option<i64>,
    pub order: Order,
    pub limit: u32,
}

/// The statement for `query`, fetching one row more than a page so the
/// caller knows whether another page follows.
fn statement(query: &ListQuery) -> Sql {
    let mut sql = Sql::new(SELECT_LISTED);
    sql.text.push_str(" WHERE 1");
    visible_to(&mut sql, &query.visible);
    filtered_by(&mut sql, query);
    ordered(&mut sql, &query.order);
    sql.limit_one_over(query.limit);
    sql
}

fn visible_to(sql: &mut Sql, visible: &Visibility) {
    match visible {
        Visibility::All => {}
        Visibility::Owner(owner) => {
            let p = sql.bind(Value::Integer(*owner));
            sql.text.push_str(&format!(" AND i.owner_id = {p}"));
        }
        Visibility::OwnerOrDepartments { owner, departments } => {
            let p = sql.bind(Value::Integer(*owner));
            let ids = id_list(departments);
            sql.text.push_str(&format!(
                " AND (i.owner_id = {p} OR i.department_id IN ({ids}))"
            ));
        }
    }
}

fn filtered_by(sql: &mut Sql, query: &ListQuery) {
    if let Some(text) = &query.text {
        // A prefix, in any case: each of the three is sought as a range of
        // a NOCASE index, never scanned.
        let prefix = sql.bind_prefix(text);
        let (name, username, department) = (
            prefix.of("i.name"),
            prefix.of("username"),
            prefix.of("name"),
        );
        sql.text.push_str(&format!(
            " AND ({name} \
               OR i.owner_id IN (SELECT id FROM users WHERE {username}) \
               OR i.department_id IN (SELECT id FROM departments WHERE {department}))"
        ));
    }
    if let Some(state) = query.state {
        let p = sql.bind(Value::Text(state.status().as_str().into()));
        sql.text.push_str(&format!(" AND i.status = {p}"));
        match state {
            InstanceState::Ready(power) => {
                let p = sql.bind(Value::Text(power.as_str().into()));
                sql.text.push_str(&format!(" AND i.power = {p}"));
            }
            InstanceState::Provisioning | InstanceState::Failed | InstanceState::Deleting => {}
        }
    }
    if let Some(health) = query.health {
        let p = sql.bind(Value::Text(health.as_str().into()));
        sql.text.push_str(&format!(" AND i.health = {p}"));
    }
    if let Some(zone) = query.zone {
        let p = sql.bind(Value::Text(zone.as_str().into()));
        sql.text.push_str(&format!(" AND i.zone = {p}"));
    }
    if let Some(host) = &query.host {
        let p = sql.bind(Value::Text(host.clone()));
        sql.text.push_str(&format!(
            " AND i.host_id = (SELECT id FROM hosts WHERE name = {p})"
        ));
    }
    if let Some(department) = query.department {
        let p = sql.bind(Value::Integer(department));
        sql.text.push_str(&format!(" AND i.department_id = {p}"));
    }
}

fn ordered(sql: &mut Sql, order: &Order) {
    let (column, descending, after) = match order {
        Order::Created { descending, after } => (
            "i.created_at",
            *descending,
            after.map(|(at, id)| (Value::Integer(at), id)),
        ),
        Order::Name { descending, after } => (
            "i.name",
            *descending,
            after.clone().map(|(name, id)| (Value::Text(name), id)),
        ),
    };
    if let Some((key, id)) = after {
        let k = sql.bind(key);
        let i = sql.bind(Value::Integer(id));
        let op = if descending { "<" } else { ">" };
        sql.text
            .push_str(&format!(" AND ({column}, i.id) {op} ({k}, {i})"));
    }
    let direction = if descending { "DESC" } else { "ASC" };
    sql.text
        .push_str(&format!(" ORDER BY {column} {direction}, i.id {direction}"));
}

/// A page of at most `query.limit` instances, and whether more follow.
pub fn page(
    conn: &Connection,
    query: &ListQuery,
) -> Result<(Vec<ListedInstance>, bool), StoreError> {
    statement(query).page(conn, query.limit, listed_from_row)
}

/// How many of the instances `visible` allows are in each lifecycle
/// status, power state and health, for each combination that has any.
pub fn counts(
    conn: &Connection,
    visible: &Visibility,
) -> Result<Vec<(InstanceState, Health, u64)>, StoreError> {
    let sql = counts_statement(visible);
    let mut stmt = conn.prepare_cached(&sql.text)?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(sql.args), |r| {
            let status: InstanceStatus = super::states::text_column(r, 0)?;
            let power: String = r.get(1)?;
            let health = super::states::text_column(r, 2)?;
            let count: i64 = r.get(3)?;
            Ok((
                InstanceState::of(status, Power::parse(&power)),
                health,
                u64::try_from(count).unwrap_or_default(),
            ))
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

fn counts_statement(visible: &Visibility) -> Sql {
    let mut sql = Sql::new("SELECT i.status, i.power, i.health, count(*) FROM instances i WHERE 1");
    visible_to(&mut sql, visible);
    sql.text.push_str(" GROUP BY i.status, i.power, i.health");
    sql
}

#[cfg(test)]
mod tests {
    use app::model::{Power, Role};

    use super::*;
    use crate::store::instances::{self, NewInstance};
    use crate::store::test_support::{memory_store, new_instance};
    use crate::store::{departments, hosts, users};

    /// 3 accounts, 2 departments, 1 host and 120 instances: owners,
    /// departments and states in turn, and names that do not follow
    /// the deploy order.
    fn seeded() -> Connection {
        let conn = memory_store();
        let science = departments::insert(&conn, "science", None).unwrap();
        let arts = departments::insert(&conn, "arts", None).unwrap();
        let owners = [
            users::insert(&conn, "ann", None, Role::User).unwrap(),
            users::insert(&conn, "bob", None, Role::User).unwrap(),
            users::insert(&conn, "cy_100%", None, Role::User).unwrap(),
        ];
        let host = hosts::insert(&conn, "h1", "test:///default", "/tmp", "default").unwrap();
        for n in 0..120_i64 {
            let name = format!("wiki-{:03}", (n * 37) % 120);
            let uuid = format!("uuid-{n}");
            let mac = format!("52:54:00:00:00:{n:02x}");
            let id = instances::insert(
                &conn,
                &NewInstance {
                    mac: &mac,
                    department_id: Some(if n % 2 == 0 { science } else { arts }),
                    ..new_instance(&uuid, &name, owners[usize::try_from(n % 3).unwrap()])
                },
            )
            .unwrap();
            // Deploys a few seconds apart, some in the same second.
            conn.execute(
                "UPDATE instances SET created_at = ?2, host_id = ?3 WHERE id = ?1",
                rusqlite::params![id, 1_000 + n / 2, host],
            )
            .unwrap();
            if n % 4 == 0 {
                instances::set_status(&conn, id, InstanceStatus::Ready, None).unwrap();
                instances::observe(&conn, id, Power::Running, None).unwrap();
            }
        }
        conn
    }

    fn query(visible: Visibility, order: Order) -> ListQuery {
        ListQuery {
            visible,
            text: None,
            state: None,
            health: None,
            zone: None,
            host: None,
            department: None,
            order,
            limit: 7,
        }
    }

    /// Every page of `query`, following each page's last row.
    fn walk(conn: &Connection, mut query: ListQuery) -> Vec<ListedInstance> {
        let mut all = Vec::new();
        loop {
            let (rows, more) = page(conn, &query).unwrap();
            assert!(rows.len() <= 7);
            let Some(last) = rows.last().cloned() else {
                assert!(!more);
                return all;
            };
            all.extend(rows);
            if !more {
                return all;
            }
            query.order = match query.order {
                Order::Created { descending, .. } => Order::Created {
                    descending,
                    after: Some((last.created_at, last.id)),
                },
                Order::Name { descending, .. } => Order::Name {
                    descending,
                    after: Some((last.name, last.id)),
                },
            };
        }
    }

    fn orders() -> [Order; 4] {
        [
            Order::Created {
                descending: true,
                after: None,
            },
            Order::Created {
                descending: false,
                after: None,
            },
            Order::Name {
                descending: false,
                after: None,
            },
            Order::Name {
                descending: true,
                after: None,
            },
        ]
    }

    #[test]
    fn pages_in_every_order_hold_every_instance_once_in_that_order() {
        let conn = seeded();
        let everything = instances::list(&conn, None).unwrap();
        for order in orders() {
            let mut expected = everything.clone();
            match &order {
                Order::Created { descending, .. } => {
                    expected.sort_by_key(|r| (r.created_at, r.id));
                    if *descending {
                        expected.reverse();
                    }
                }
                Order::Name { descending, .. } => {
                    expected.sort_by(|a, b| a.name.cmp(&b.name));
                    if *descending {
                        expected.reverse();
                    }
                }
            }
            let walked = walk(&conn, query(Visibility::All, order.clone()));
            assert_eq!(
                walked.iter().map(|r| r.id).collect::<Vec<_>>(),
                expected.iter().map(|r| r.id).collect::<Vec<_>>(),
                "{order:?}"
            );
        }
    }

    #[test]
    fn a_list_holds_only_what_its_reader_may_see_and_what_the_filters_name() {
        let conn = seeded();
        let ann = users::by_name(&conn, "ann").unwrap().unwrap().id;
        let order = Order::Created {
            descending: true,
            after: None,
        };
        let own = walk(&conn, query(Visibility::Owner(ann), order.clone()));
        assert_eq!(own.len(), 40);
        assert!(own.iter().all(|r| r.owner_id == ann));

        let science: i64 = conn
            .query_row(
                "SELECT id FROM departments WHERE name = 'science'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let managed = Visibility::OwnerOrDepartments {
            owner: ann,
            departments: vec![science],
        };
        let seen = walk(&conn, query(managed, order.clone()));
        // ann's 40 (n % 3 == 0) and science's 60 (n % 2 == 0), 20 in both
        assert_eq!(seen.len(), 80);

        let mut running = query(Visibility::All, order.clone());
        running.state = Some(InstanceState::Ready(Power::Running));
        assert_eq!(walk(&conn, running).len(), 30);
        let mut provisioning = query(Visibility::All, order.clone());
        provisioning.state = Some(InstanceState::Provisioning);
        assert_eq!(walk(&conn, provisioning).len(), 90);

        let mut by_name = query(Visibility::All, order.clone());
        by_name.text = Some("WIKI-01".into());
        let found = walk(&conn, by_name);
        assert_eq!(found.len(), 10, "wiki-010 to wiki-019");
        let mut inside = query(Visibility::All, order.clone());
        inside.text = Some("iki".into());
        assert_eq!(walk(&conn, inside).len(), 0, "a prefix, not any part");

        let mut by_department = query(Visibility::All, order.clone());
        by_department.text = Some("ARTS".into());
        assert_eq!(walk(&conn, by_department).len(), 60);

        // `%` and `_` are literal: "cy_" finds cy_100%'s; "c_" would
        // find them too if `_` were a wildcard.
        let mut literal = query(Visibility::All, order.clone());
        literal.text = Some("cy_".into());
        assert_eq!(walk(&conn, literal).len(), 40);
        for wildcard in ["c_", "%", "c%"] {
            let mut nothing = query(Visibility::All, order.clone());
            nothing.text = Some(wildcard.into());
            assert_eq!(walk(&conn, nothing).len(), 0, "{wildcard}");
        }
    }

    #[test]
    fn instances_are_counted_by_state_and_health_from_an_index_for_each_reader() {
        let conn = seeded();
        let all = counts(&conn, &Visibility::All).unwrap();
        assert_eq!(all.iter().map(|(_, _, n)| n).sum::<u64>(), 120);
        let running = all
            .iter()
            .filter(|(s, _, _)| *s == InstanceState::Ready(Power::Running))
            .map(|(_, _, n)| n)
            .sum::<u64>();
        assert_eq!(running, 30);
        let owned = counts(&conn, &Visibility::Owner(1)).unwrap();
        assert_eq!(owned.iter().map(|(_, _, n)| n).sum::<u64>(), 40);
        for reader in [
            Visibility::All,
            Visibility::Owner(1),
            Visibility::OwnerOrDepartments {
                owner: 1,
                departments: vec![1, 2],
            },
        ] {
            let plan = counts_statement(&reader).plan(&conn);
            assert!(
                crate::store::paging::table_scans(&plan).is_empty(),
                "{reader:?}: {plan:#?}"
            );
        }
    }

    /// Every combination of reader, filter, search and order: SQLite's
    /// plan for it must read the instances through an index, never by
    /// scanning the table.
    #[test]
    fn no_list_query_scans_a_table() {
        let conn = seeded();
        let readers = [
            Visibility::All,
            Visibility::Owner(1),
            Visibility::OwnerOrDepartments {
                owner: 1,
                departments: vec![1, 2],
            },
        ];
        type Filter = fn(&mut ListQuery);
        // Whether the filter has an index of its own: then the plan must
        // seek to its rows, not walk the list's order and skip the others.
        let filters: [(&str, bool, Filter); 8] = [
            ("nothing", false, |_| {}),
            ("text", true, |q| q.text = Some("wiki".into())),
            ("state", true, |q| {
                q.state = Some(InstanceState::Ready(Power::Running))
            }),
            ("status", true, |q| q.state = Some(InstanceState::Failed)),
            ("health", true, |q| q.health = Some(Health::Unhealthy)),
            ("zone", false, |q| q.zone = Some(NetworkZone::Outside)),
            ("host", true, |q| q.host = Some("h1".into())),
            ("department", true, |q| q.department = Some(2)),
        ];
        for reader in &readers {
            for (what, indexed, filter) in &filters {
                for order in orders() {
                    for after in [false, true] {
                        let order = match (order.clone(), after) {
                            (order, false) => order,
                            (Order::Created { descending, .. }, true) => Order::Created {
                                descending,
                                after: Some((1_030, 60)),
                            },
                            (Order::Name { descending, .. }, true) => Order::Name {
                                descending,
                                after: Some(("wiki-060".into(), 60)),
                            },
                        };
                        let mut q = query(reader.clone(), order);
                        filter(&mut q);
                        let plan = statement(&q).plan(&conn);
                        let seek = *indexed || *reader != Visibility::All;
                        let scans: Vec<&String> = plan
                            .iter()
                            .filter(|line| {
                                (line.starts_with("SCAN") && !line.contains(" USING "))
                                    || (seek && line.starts_with("SCAN i "))
                            })
                            .collect();
                        assert!(
                            scans.is_empty(),
                            "{reader:?}, {what}, {:?}: {plan:#?}",
                            q.order
                        );
                    }
                }
            }
        }
    }

    /// Every instance's list, filtered by health or state, in name order:
    /// a page is read in that order and stops, with no sort of all the
    /// matches first.
    #[test]
    fn a_list_filtered_by_health_or_state_is_read_in_name_order_not_sorted() {
        let conn = seeded();
        type Filter = fn(&mut ListQuery);
        let filters: [(&str, Filter); 3] = [
            ("health", |q| q.health = Some(Health::Unhealthy)),
            ("state", |q| {
                q.state = Some(InstanceState::Ready(Power::Running))
            }),
            ("status", |q| q.state = Some(InstanceState::Failed)),
        ];
        for (what, filter) in &filters {
            for descending in [false, true] {
                for after in [None, Some(("wiki-060".to_owned(), 60))] {
                    let mut q = query(Visibility::All, Order::Name { descending, after });
                    filter(&mut q);
                    let plan = statement(&q).plan(&conn);
                    assert!(
                        !plan.iter().any(|line| line.contains("TEMP B-TREE")),
                        "{what}, {:?}: {plan:#?}",
                        q.order
                    );
                }
            }
        }
    }

    #[test]
    fn a_search_for_other_text_runs_the_statement_already_prepared() {
        let conn = seeded();
        let searched = |text: &str| {
            let mut q = query(
                Visibility::All,
                Order::Created {
                    descending: true,
                    after: None,
                },
            );
            q.text = Some(text.into());
            q
        };
        for text in ["wiki-01", "ann", "arts"] {
            page(&conn, &searched(text)).unwrap();
        }
        let stmt = conn
            .prepare_cached(&statement(&searched("bob")).text)
            .unwrap();
        assert_eq!(stmt.get_status(rusqlite::StatementStatus::RePrepare), 0);
    }
}
