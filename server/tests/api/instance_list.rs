//! `GET /api/v1/instances` a page at a time: the `Link` header's next
//! page, search, filters, orders, and who sees what.

use std::collections::BTreeSet;

use crate::common::{ADMIN, ADMIN_PASSWORD, TestApp, USER_PASSWORD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_list_comes_a_page_at_a_time_searched_filtered_and_sorted() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let admin = app.api().signed_in(ADMIN, ADMIN_PASSWORD).await;
    let science = admin.create_department("science", None).await;
    admin
        .create_member("ann", USER_PASSWORD, science, false)
        .await;
    admin
        .create_member("dana", USER_PASSWORD, science, true)
        .await;
    let ann = app.api().signed_in("ann", USER_PASSWORD).await;
    let dana = app.api().signed_in("dana", USER_PASSWORD).await;
    let mut deployed = Vec::new();
    for n in 0..11 {
        let name = format!("lab-{n:02}");
        admin.deployed(&name).await;
        deployed.push(name);
    }
    for name in ["notes", "wiki"] {
        ann.deployed(name).await;
        deployed.push(name.to_owned());
    }

    // Newest first by default, 50 to a page: all 13 at once, no Link.
    let (first, next) = admin.page("name", "/api/v1/instances").await;
    let newest_first: Vec<String> = deployed.iter().rev().cloned().collect();
    assert_eq!(first, newest_first);
    assert_eq!(next, None);

    // Pages of 4 in every order: each instance once, in that order.
    let walked = admin
        .every_page("name", "/api/v1/instances?limit=4", 4)
        .await;
    assert_eq!(walked, newest_first);
    let oldest = admin
        .every_page("name", "/api/v1/instances?limit=4&sort=oldest", 4)
        .await;
    assert_eq!(oldest, deployed);
    let mut by_name = deployed.clone();
    by_name.sort();
    let walked = admin
        .every_page("name", "/api/v1/instances?limit=4&sort=name", 4)
        .await;
    assert_eq!(walked, by_name);
    by_name.reverse();
    let walked = admin
        .every_page("name", "/api/v1/instances?limit=5&sort=name_desc", 5)
        .await;
    assert_eq!(walked, by_name);

    // The Link keeps the search and filters: lab-10 and lab-1x only.
    let found = admin
        .every_page("name", "/api/v1/instances?q=LAB-1&limit=1&sort=name", 1)
        .await;
    assert_eq!(found, ["lab-10"]);
    let owned = admin
        .every_page("name", "/api/v1/instances?q=ann&limit=1", 1)
        .await;
    assert_eq!(owned, ["wiki", "notes"], "by owner");
    let charged = admin
        .every_page("name", "/api/v1/instances?q=scien&limit=1", 1)
        .await;
    assert_eq!(charged, ["wiki", "notes"], "by department");
    let department = format!("/api/v1/instances?department={science}&sort=name");
    assert_eq!(admin.page("name", &department).await.0, ["notes", "wiki"]);
    let (none, _) = admin
        .page("name", "/api/v1/instances?state=failed&health=healthy")
        .await;
    assert!(none.is_empty());
    let (nowhere, _) = admin
        .page("name", "/api/v1/instances?host=no-such-host")
        .await;
    assert!(nowhere.is_empty());

    // The portal's server function: no query at all is the first page.
    let (status, first_page) = admin.post_empty("/fn/instances").await;
    assert_eq!(status, 200, "{first_page}");
    assert_eq!(first_page["items"].as_array().unwrap().len(), 13);
    let (status, found) = admin
        .post_form(
            "/fn/instances",
            &[("query[q]", "lab-1"), ("query[sort]", "name")],
        )
        .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["items"][0]["name"], "lab-10");
    // Its rows carry what the page shows, and no more: they come twice,
    // as HTML and as the page's hydration data.
    let shown: BTreeSet<&str> = found["items"][0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        shown,
        BTreeSet::from([
            "id",
            "approval",
            "name",
            "state",
            "host",
            "host_unreachable_since",
            "ip",
            "url",
            "owner",
            "size",
            "expires_at",
            "expired",
            "version"
        ])
    );

    // Everyone sees what they may: ann her own, dana her department's.
    let mine: BTreeSet<String> = ann
        .every_page("name", "/api/v1/instances?limit=1", 1)
        .await
        .into_iter()
        .collect();
    assert_eq!(mine, BTreeSet::from(["notes".into(), "wiki".into()]));
    assert_eq!(
        dana.every_page("name", "/api/v1/instances?sort=name", 50)
            .await,
        ["notes", "wiki"]
    );
    let (status, _) = ann.get("/api/v1/instances?q=lab").await;
    assert_eq!(status, 200);
    assert!(
        ann.page("name", "/api/v1/instances?q=lab")
            .await
            .0
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_list_query_is_refused_naming_what_is_wrong() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let admin = app.api().signed_in(ADMIN, ADMIN_PASSWORD).await;
    admin.deployed("one").await;
    admin.deployed("two").await;
    let (_, next) = admin.page("name", "/api/v1/instances?limit=1").await;
    let cursor = next.unwrap();
    let cursor = cursor
        .split("cursor=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    for (query, names) in [
        ("limit=0".to_owned(), "limit"),
        ("limit=201".to_owned(), "limit"),
        ("state=sleeping".to_owned(), "state"),
        ("sort=size".to_owned(), "sort"),
        ("colour=red".to_owned(), "colour"),
        ("cursor=garbage".to_owned(), "cursor"),
        (format!("sort=name&cursor={cursor}"), "cursor"),
        (format!("q={}", "x".repeat(101)), "q"),
    ] {
        let (status, body) = admin.get(&format!("/api/v1/instances?{query}")).await;
        assert_eq!(status, 422, "{query}: {body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(names), "{query}: {message}");
    }
}
