//! The accounts, the audit log and the tokens a page at a time, as the
//! instance list comes (`instance_list.rs`): 50 to a page unless `limit`
//! says, the next page in the `Link` header, and cursors that only their
//! own list takes.

use std::collections::BTreeSet;

use crate::common::{ADMIN, ADMIN_PASSWORD, TestApp, USER_PASSWORD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_come_by_name_a_page_at_a_time_searched_and_within_the_readers_departments() {
    let app = TestApp::builder().set_up().start().await;
    let admin = app.api().signed_in(ADMIN, ADMIN_PASSWORD).await;
    let science = admin.create_department("science", None).await;
    let arts = admin.create_department("arts", None).await;
    admin
        .create_member("dana", USER_PASSWORD, science, true)
        .await;
    let mut names = vec![ADMIN.to_owned(), "dana".to_owned()];
    for n in 0..9 {
        let (name, department) = match n % 3 {
            0 => (format!("sam-{n}"), science),
            1 => (format!("art-{n}"), arts),
            _ => (format!("sue-{n}"), science),
        };
        admin
            .create_member(&name, USER_PASSWORD, department, false)
            .await;
        names.push(name);
    }
    names.sort();

    let walked = admin
        .every_page("username", "/api/v1/users?limit=4", 4)
        .await;
    assert_eq!(walked, names, "every account once, by name");
    let (all, next) = admin.page("username", "/api/v1/users").await;
    assert_eq!((all.len(), next), (names.len(), None), "50 to a page");

    let s = admin
        .every_page("username", "/api/v1/users?q=S&limit=2", 2)
        .await;
    assert_eq!(s, ["sam-0", "sam-3", "sam-6", "sue-2", "sue-5", "sue-8"]);
    let arts_only = format!("/api/v1/users?department={arts}&limit=2");
    assert_eq!(
        admin.every_page("username", &arts_only, 2).await,
        ["art-1", "art-4", "art-7"]
    );

    // A department admin pages through its own department only.
    let dana = app.api().signed_in("dana", USER_PASSWORD).await;
    let theirs = dana
        .every_page("username", "/api/v1/users?limit=3", 3)
        .await;
    assert_eq!(
        theirs,
        ["dana", "sam-0", "sam-3", "sam-6", "sue-2", "sue-5", "sue-8"]
    );
    let (status, _) = dana.get(&arts_only).await;
    assert_eq!(status, 404, "another department's accounts are not there");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_comes_newest_first_a_page_at_a_time_with_its_filters() {
    let app = TestApp::builder().set_up().start().await;
    let admin = app.api().signed_in(ADMIN, ADMIN_PASSWORD).await;
    let science = admin.create_department("science", None).await;
    for n in 0..6 {
        admin
            .create_member(&format!("m{n}"), USER_PASSWORD, science, false)
            .await;
    }
    let (everything, next) = admin.page("id", "/api/v1/audit?limit=200").await;
    assert_eq!(next, None);
    let ids: Vec<i64> = everything.iter().map(|id| id.parse().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");

    let walked = admin.every_page("id", "/api/v1/audit?limit=3", 3).await;
    assert_eq!(walked, everything, "the pages hold the log once, in order");

    let created = admin
        .every_page("action", "/api/v1/audit?action=user.&outcome=ok&limit=2", 2)
        .await;
    assert_eq!(created, vec!["user.create"; 6]);
    let (refused, _) = admin.page("id", "/api/v1/audit?outcome=refused").await;
    assert!(refused.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_come_newest_first_fifty_to_a_page() {
    let app = TestApp::builder().set_up().start().await;
    let admin = app.api().signed_in(ADMIN, ADMIN_PASSWORD).await;
    for n in 0..51 {
        admin.create_token(&format!("t{n:02}")).await;
    }
    let (first, next) = admin.page("name", "/api/v1/tokens").await;
    assert_eq!(first.len(), 50);
    assert_eq!(first[0], "t50", "newest first");
    let next = next.expect("a second page");
    let (second, after) = admin.page("name", &next).await;
    assert_eq!((second, after), (vec!["t00".to_owned()], None));

    let walked = admin.every_page("name", "/api/v1/tokens?limit=7", 7).await;
    let unique: BTreeSet<&String> = walked.iter().collect();
    assert_eq!((walked.len(), unique.len()), (51, 51));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_is_taken_by_its_own_list_only_and_bad_paging_is_named() {
    let app = TestApp::builder().set_up().start().await;
    let admin = app.api().signed_in(ADMIN, ADMIN_PASSWORD).await;
    admin.create_token("one").await;
    admin.create_token("two").await;
    let (_, next) = admin.page("name", "/api/v1/tokens?limit=1").await;
    let next = next.unwrap();
    let cursor = next.split("cursor=").nth(1).unwrap();
    for (path, field) in [
        (format!("/api/v1/audit?cursor={cursor}"), "cursor"),
        (format!("/api/v1/users?cursor={cursor}"), "cursor"),
        (format!("/api/v1/instances?cursor={cursor}"), "cursor"),
        ("/api/v1/tokens?cursor=%25%25".to_owned(), "cursor"),
        ("/api/v1/tokens?limit=0".to_owned(), "limit"),
        ("/api/v1/audit?limit=201".to_owned(), "limit"),
        (format!("/api/v1/users?q={}", "x".repeat(101)), "q"),
    ] {
        let (status, body) = admin.get(&path).await;
        assert_eq!(
            (status, body["field"].as_str()),
            (422, Some(field)),
            "{path}: {body}"
        );
    }
}
