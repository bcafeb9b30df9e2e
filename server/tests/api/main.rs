//! The REST API, the server functions and the page guards, end to end over
//! real HTTP against a real store: setup (`setup.rs`), sessions
//! (`sessions.rs`), tokens (`tokens.rs`), and here the site, the OpenAPI
//! document and the portal without JavaScript.

// A test reports failure by panicking; its helpers may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;
mod console;
mod events;
mod gateway;
mod graphics;
mod host_trust;
mod instance_list;
mod metrics;
mod paged_lists;
mod passkeys;
mod resize;
mod second_factor;
mod sessions;
mod setup;
mod tokens;
mod usage;

use std::collections::BTreeSet;

use common::{ADMIN, ADMIN_PASSWORD, Api, TestApp};
use reqwest::Method;
use reqwest::header::LOCATION;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_setup_state_and_version() {
    let app = TestApp::builder().start().await;
    let (status, body) = app.api().get("/api/v1/health").await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["setup_complete"], false);
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assets_come_precompressed_and_cached_for_a_year_and_answers_compressed() {
    let app = TestApp::builder().set_up().start().await;
    let pkg = app.data_path().join("site/pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(pkg.join("dpe.0123456789abcdef.css"), "body { color: red }").unwrap();
    std::fs::write(pkg.join("dpe.0123456789abcdef.css.br"), b"brotli bytes").unwrap();
    // A plain client: no automatic decompression, no cookies.
    let raw = reqwest::Client::builder()
        .no_brotli()
        .no_gzip()
        .build()
        .unwrap();
    let r = raw
        .get(app.url("/pkg/dpe.0123456789abcdef.css"))
        .header("accept-encoding", "br, gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-encoding"], "br");
    assert_eq!(
        r.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(
        r.headers().get("set-cookie").is_none(),
        "assets need no session"
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"brotli bytes");
    let r = raw
        .get(app.url("/pkg/dpe.0123456789abcdef.css"))
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("content-encoding").is_none());
    assert_eq!(r.text().await.unwrap(), "body { color: red }");
    let r = raw.get(app.url("/pkg/missing.js")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(
        r.headers().get("cache-control").is_none(),
        "a miss is not cached"
    );
    let r = raw.get(app.url("/favicon.svg")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/svg+xml");

    // Pages and JSON answers are compressed for clients that take it.
    let r = raw
        .get(app.url("/login"))
        .header("accept-encoding", "br")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-encoding"], "br");
    let r = raw
        .get(app.url("/api/v1/openapi.json"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-encoding"], "gzip");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_see_whether_hosts_are_available_not_how_they_are_reached() {
    let app = TestApp::builder().set_up().start().await;
    let (status, admin_view) = app.admin().await.post_empty("/fn/dashboard").await;
    assert_eq!(status, 200, "{admin_view}");
    assert_eq!(admin_view["hosts"][0]["probe"]["uri"], "test:///default");
    let member = app.user_client("zoe", app::model::Role::User).await;
    let (status, member_view) = member.post_empty("/fn/dashboard").await;
    assert_eq!(status, 200, "{member_view}");
    let host = &member_view["hosts"][0];
    assert_eq!(host["probe"]["connected"], true, "{member_view}");
    let storage = app.data_path().join("storage").display().to_string();
    for hidden in ["test:///default", storage.as_str(), "Test"] {
        assert!(!host.to_string().contains(hidden), "{hidden} in {host}");
    }
    assert!(admin_view["hosts"][0].to_string().contains(&storage));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_counts_instances_by_state_with_failed_deploys_first() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let admin = app.admin().await;
    for name in ["ok-1", "ok-2"] {
        let task = admin.deployed(name).await.task_id;
        assert_eq!(admin.wait_task(task).await["state"], "succeeded");
    }
    app.fake_host().fail_next("define_domain");
    let task = admin.deployed("broken").await.task_id;
    assert_eq!(admin.wait_task(task).await["state"], "failed");

    let (status, view) = admin.post_empty("/fn/dashboard").await;
    assert_eq!(status, 200, "{view}");
    let counts = &view["instances"];
    assert_eq!(
        (counts["total"].as_u64(), counts["failed"].as_u64()),
        (Some(3), Some(1)),
        "{counts}"
    );
    let by_state = counts["by_state"].as_array().unwrap();
    let summed: u64 = by_state.iter().map(|c| c["count"].as_u64().unwrap()).sum();
    assert_eq!(summed, 3, "{counts}");
    assert!(
        by_state
            .iter()
            .any(|c| c["state"] == "failed" && c["count"] == 1),
        "{counts}"
    );
    let attention: Vec<&str> = counts["attention"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(attention, ["broken"]);

    // The counts are kept between views, but never past a change.
    let task = admin.deployed("ok-3").await.task_id;
    assert_eq!(admin.wait_task(task).await["state"], "succeeded");
    let (_, view) = admin.post_empty("/fn/dashboard").await;
    assert_eq!(view["instances"]["total"], 4, "{view}");

    // Counted as the list shows them: none of these are a member's.
    let member = app.user_client("zoe", app::model::Role::User).await;
    let (_, theirs) = member.post_empty("/fn/dashboard").await;
    assert_eq!(theirs["instances"]["total"], 0, "{theirs}");
    assert_eq!(theirs["instances"]["attention"], serde_json::json!([]));

    // The page says it, first, with links to the lists.
    let html = admin.html("/").await;
    let attention = html.find("Needs attention").expect("an attention card");
    // The hosts' heading (the navigation has a "Hosts" link too).
    let hosts = html.find("<h2>Hosts").expect("the hosts");
    assert!(attention < hosts);
    assert!(html.contains(r#"href="/instances?state=failed""#), "{html}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_show_hosts_as_last_seen_and_never_ask_libvirt_themselves() {
    // One pass of the reconciler at start, then none for an hour.
    let app = TestApp::builder()
        .fake_hosts()
        .reconcile_every(std::time::Duration::from_secs(3600))
        .set_up()
        .start()
        .await;
    let admin = app.admin().await;
    let (status, first) = admin.post_empty("/fn/dashboard").await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["hosts"][0]["probe"]["connected"], true, "{first}");
    let looks = app.fake_host().calls("facts");
    assert!(looks >= 1, "setup looked at its host");
    for _ in 0..10 {
        let (status, view) = admin.post_empty("/fn/dashboard").await;
        assert_eq!(status, 200);
        assert_eq!(view["hosts"][0]["probe"]["hostname"], "fake", "{view}");
        let (status, hosts) = admin.get("/api/v1/hosts").await;
        assert_eq!(status, 200);
        assert_eq!(hosts[0]["probe"]["connected"], true, "{hosts}");
    }
    assert_eq!(
        app.fake_host().calls("facts"),
        looks,
        "no render asked libvirt"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_api_routes_are_json_404s() {
    let app = TestApp::builder().set_up().start().await;
    let (status, body) = app.api().get("/api/v1/nope").await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
}

/// What the API serves but does not describe: the description itself.
const UNDOCUMENTED: [(&str, &str); 1] = [("get", "/api/v1/openapi.json")];

/// Every `(method, path)` the API router serves, from its route table,
/// and `/metrics`, which is outside it (where Prometheus looks) but is
/// described too.
fn served() -> BTreeSet<(String, String)> {
    server::http::api::ROUTES
        .iter()
        .map(|(method, path)| (method.to_string(), format!("/api/v1{path}")))
        .chain([("get".to_owned(), server::http::metrics::PATH.to_owned())])
        .collect()
}

/// Whether `METHOD path` reached a handler: the router's fallback answers
/// an unknown path with "API endpoint not found", and axum a known path
/// with another method with 405.
async fn reaches_a_handler(api: &Api, method: &str, path: &str) -> bool {
    let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let path = path.replace("{id}", "999999");
    // The status only, and the body only of a 404: an event stream's
    // body never ends.
    let response = api.request(method, &path).send().await.unwrap();
    match response.status().as_u16() {
        405 => false,
        404 => {
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            body["message"] != "API endpoint not found"
        }
        _ => true,
    }
}

/// Every `$ref` in `value`, wherever it is.
fn references(value: &serde_json::Value, found: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, item) in map {
                if let ("$ref", Some(target)) = (key.as_str(), item.as_str()) {
                    found.push(target.to_owned());
                } else {
                    references(item, found);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| references(i, found)),
        serde_json::Value::Null
        | serde_json::Value::Bool(_)
        | serde_json::Value::Number(_)
        | serde_json::Value::String(_) => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_reference_in_the_openapi_document_resolves() {
    let app = TestApp::builder().start().await;
    let (status, doc) = app.api().get("/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    let mut found = Vec::new();
    references(&doc, &mut found);
    assert!(!found.is_empty());
    for target in found {
        let pointer = target.trim_start_matches('#');
        assert!(doc.pointer(pointer).is_some(), "{target} does not resolve");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_every_route_the_router_serves() {
    let app = TestApp::builder().set_up().start().await;
    let admin = app.admin().await;
    let (status, doc) = app.api().get("/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            let methods = item.as_object().unwrap().keys();
            methods.map(move |method| (method.clone(), path.clone()))
        })
        .collect();
    let mut served = served();
    for (method, path) in UNDOCUMENTED {
        assert!(
            served.remove(&(method.to_owned(), path.to_owned())),
            "{path}"
        );
    }
    let missing: Vec<_> = served.difference(&documented).collect();
    assert!(missing.is_empty(), "served, not documented: {missing:?}");
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(unserved.is_empty(), "documented, not served: {unserved:?}");

    // The table is the router: each row reaches its handler (as the
    // admin, by token, with an id nothing has), and what is not in it
    // does not.
    let admin =
        Api::new(reqwest::Client::new(), app.origin()).bearer(&admin.create_token("t").await);
    for (method, path) in server::http::api::ROUTES {
        let path = format!("/api/v1{path}");
        assert!(
            reaches_a_handler(&admin, method, &path).await,
            "{method} {path}"
        );
    }
    assert!(!reaches_a_handler(&admin, "get", "/api/v1/nope").await);
    assert!(!reaches_a_handler(&admin, "put", "/api/v1/health").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_forms_work_without_javascript() {
    let app = TestApp::builder().set_up().start().await;
    let client = app.client();
    // Signed out, pages lead to the sign-in page.
    let r = client.get(app.url("/")).send().await.unwrap();
    assert_eq!(r.headers()[LOCATION], "/login");

    // A plain form post (what the browser does with JS off).
    let r = client
        .post(app.url("/fn/sign_in"))
        .header("accept", "text/html")
        .header("referer", app.url("/login"))
        .form(&[("username", ADMIN), ("password", "wrong password!!")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let back = r.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(
        back.starts_with(&app.url("/login")) && back.contains("__err"),
        "{back}"
    );
    let page = client
        .get(&back)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("unknown user or wrong password"),
        "the error is shown"
    );

    let r = client
        .post(app.url("/fn/sign_in"))
        .header("accept", "text/html")
        .header("referer", app.url("/login"))
        .form(&[("username", ADMIN), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()[LOCATION], "/");

    // The dashboard shows the (escaped) appliance name and the live host.
    let html = client
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Physik &lt;Labor&gt; &amp;"), "escaped name");
    assert!(!html.contains("<Labor>"));
    assert!(html.contains("connected"));
    assert!(html.contains("test driver"));
    assert!(html.contains("admin"));

    // Create a token with a form post: the next page load shows it once.
    let r = client
        .post(app.url("/fn/create_token"))
        .header("accept", "text/html")
        .header("referer", app.url("/tokens"))
        .form(&[("name", "from the form")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let first = client
        .get(app.url("/tokens"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        first.contains("Copy it now") && first.contains("dpe_"),
        "shown once"
    );
    let second = client
        .get(app.url("/tokens"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        second.contains("from the form") && !second.contains("Copy it now"),
        "and only once"
    );
}
