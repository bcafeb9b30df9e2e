//! The application stack end to end: the real DokuWiki golden image on a
//! real libvirtd under TCG, in a private network namespace. `scripts/test`
//! runs it with `DPE_TEST_STACK_IMAGE_DIR` set to the output of
//! `image/stacks/dokuwiki/build-image`.

// A test reports failure by panicking; its helpers may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{Accepted, Api, TestApp, entries_named};
use reqwest::Client;
use serde_json::json;

const TITLE: &str = "Team <Wiki> & \"Co's\" ünï";
const TITLE_HTML: &str = "Team &lt;Wiki&gt; &amp; &quot;Co&#039;s&quot; ünï";
const WIKI_ADMIN: &str = "wikiadmin";
const WIKI_PASSWORD: &str = "Sturdy-Lantern-58-meadow";

fn image_dir() -> PathBuf {
    PathBuf::from(
        std::env::var("DPE_TEST_STACK_IMAGE_DIR")
            .expect("DPE_TEST_STACK_IMAGE_DIR: run through scripts/test"),
    )
}

/// The `sectok` hidden field of a DokuWiki form.
fn sectok(html: &str) -> String {
    let at = html.find("name=\"sectok\"").expect("a sectok field");
    let rest = &html[at..];
    let value = rest.find("value=\"").unwrap() + 7;
    rest[value..value + rest[value..].find('"').unwrap()].to_owned()
}

/// A client that reaches `team-wiki.localhost` (the gateway) at `app`.
fn through_gateway(app: &TestApp) -> Client {
    Client::builder()
        .cookie_store(true)
        .resolve("team-wiki.localhost", app.addr)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

async fn sign_in(app: &TestApp, base: &str, user: &str, password: &str) -> String {
    let wiki = through_gateway(app);
    let form = wiki
        .get(format!("{base}doku.php?id=start&do=login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = sectok(&form);
    wiki.post(format!("{base}doku.php"))
        .form(&[
            ("sectok", token.as_str()),
            ("id", "start"),
            ("do", "login"),
            ("u", user),
            ("p", password),
        ])
        .send()
        .await
        .unwrap();
    wiki.get(format!("{base}doku.php?id=start"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// A set-up app on this machine's libvirtd with the real stack and image,
/// its admin, and applications opening at NAME.localhost.
async fn wiki_app() -> (TestApp, Api) {
    let app = TestApp::builder()
        .host_uri("qemu:///system")
        .stack_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../image/stacks/dokuwiki"))
        .image_dir(image_dir())
        .set_up()
        .start()
        .await;
    let client = app.admin().await;
    client.open_apps_under(&app.origin(), "localhost").await;
    (app, client)
}

/// Sets the warm pool's targets.
async fn pool_targets(client: &Api, targets: serde_json::Value) {
    let (status, body) = client
        .put("/api/v1/pool", json!({ "targets": targets }))
        .await;
    assert_eq!(status, 200, "{body}");
}

/// Deploys `team-wiki` with the test's title and admin; its task once
/// done, and the time from the request to that.
async fn deploy_wiki(client: &Api) -> (Accepted, serde_json::Value, Duration) {
    let started = Instant::now();
    let (status, accepted) = client
        .deploy_with(json!({"name": "team-wiki", "size": "small", "params": {
            "wiki_title": TITLE, "admin_user": WIKI_ADMIN,
            "admin_password": WIKI_PASSWORD, "admin_email": "wiki@example.org"}}))
        .await;
    assert_eq!(status, 202, "{accepted}");
    let accepted = Accepted::of(&accepted);
    let task = client
        .patient(Duration::from_secs(180))
        .wait_task(accepted.task_id)
        .await;
    assert_eq!(task["state"], "succeeded", "{task}");
    (accepted, task, started.elapsed())
}

/// Shares the healthy instance `inst` with everyone and checks that its
/// wiki is the user's: their title, their admin and password, nobody
/// else's password. The wiki's address.
async fn the_wiki_is_the_users(app: &TestApp, client: &Api, inst: &serde_json::Value) -> String {
    let id = inst["id"].as_i64().unwrap();
    let (status, shared) = client
        .patch(
            &format!("/api/v1/instances/{id}"),
            json!({"share": "public"}),
        )
        .await;
    assert_eq!(status, 200, "{shared}");
    let url = inst["url"].as_str().unwrap().to_owned();
    assert_eq!(
        url,
        format!("http://team-wiki.localhost:{}/", app.addr.port())
    );
    let home = through_gateway(app)
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(home.contains(TITLE_HTML), "the wiki shows the user's title");
    assert!(
        home.contains(&format!("href=\"{url}")) || home.contains("href=\"/"),
        "its links lead to the gateway, not the guest"
    );
    let signed_in = sign_in(app, &url, WIKI_ADMIN, WIKI_PASSWORD).await;
    assert!(
        signed_in.contains("do=logout") || signed_in.contains("Log Out"),
        "the user's admin signs in"
    );
    assert!(signed_in.contains("do=admin"), "with the admin menu");
    let refused = sign_in(app, &url, WIKI_ADMIN, "wrong password entirely").await;
    assert!(
        !refused.contains("do=logout"),
        "a wrong password does not sign in"
    );
    url
}

/// Fails if any of `files` holds the wiki's clear password.
fn no_clear_password_in(files: &[PathBuf]) {
    for file in files {
        let bytes = std::fs::read(file).unwrap_or_default();
        assert!(
            !bytes
                .windows(WIKI_PASSWORD.len())
                .any(|w| w == WIKI_PASSWORD.as_bytes()),
            "{file:?} holds the password"
        );
    }
}

/// The store's files.
fn store_files(app: &TestApp) -> Vec<PathBuf> {
    ["dpe.sqlite3", "dpe.sqlite3-wal"]
        .iter()
        .map(|f| app.data_path().join(f))
        .collect()
}

/// Deletes the instance, waits for the pool to empty (its targets are
/// none by now), and finds nothing of dpe's left in the storage.
async fn remove_and_leave_nothing(app: &TestApp, client: &Api, id: i64) {
    client.patient(Duration::from_secs(120)).remove(id).await;
    client
        .patient(Duration::from_secs(30))
        .poll("/api/v1/pool", Duration::from_secs(600), |p| {
            p["members"].as_array().is_some_and(Vec::is_empty)
        })
        .await;
    let left = entries_named(&app.data_path().join("storage"), "dpe-");
    assert!(left.is_empty(), "nothing left: {left:?}");
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a libvirtd in a private network namespace and the built image: scripts/test runs it"]
async fn a_user_deploys_the_wiki_signs_in_as_its_admin_and_deletes_it() {
    let (app, client) = wiki_app().await;
    // A cold deploy: no warm pool (a member the default target started
    // goes too).
    pool_targets(&client, json!({})).await;
    let started = Instant::now();
    let (Accepted { id, .. }, _, provisioned) = deploy_wiki(&client).await;
    let inst = client
        .wait_instance(id, Duration::from_secs(600), |i| i["health"] == "healthy")
        .await;
    println!(
        "figures: deploy accepted→domain running {:.2} s; deploy→healthy application {:.1} s",
        provisioned.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    the_wiki_is_the_users(&app, &client, &inst).await;
    no_clear_password_in(&store_files(&app));
    remove_and_leave_nothing(&app, &client, id).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a libvirtd in a private network namespace and the built image: scripts/test runs it"]
async fn a_warm_deploy_claims_a_booted_member_and_its_wiki_is_the_users_within_seconds() {
    let (app, client) = wiki_app().await;
    pool_targets(&client, json!({"small": 1})).await;
    let booted = Instant::now();
    client
        .patient(Duration::from_secs(30))
        .poll("/api/v1/pool", Duration::from_secs(900), |p| {
            p["members"]
                .as_array()
                .is_some_and(|m| m.iter().any(|m| m["state"] == "ready"))
        })
        .await;
    println!(
        "figures: a pool member booted and ready in {:.1} s",
        booted.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let (Accepted { id, .. }, task, personalized) = deploy_wiki(&client).await;
    // No refill from here on: the next member would share the CPU.
    pool_targets(&client, json!({})).await;
    let names: Vec<_> = task["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["personalize"], "a warm deploy: {task}");
    let inst = client
        .wait_instance(id, Duration::from_secs(300), |i| i["health"] == "healthy")
        .await;
    println!(
        "figures: warm deploy accepted→personalized {:.2} s; deploy→healthy application {:.2} s",
        personalized.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    the_wiki_is_the_users(&app, &client, &inst).await;
    // The guest renewed its DHCP lease under the instance's name.
    let start = Instant::now();
    loop {
        let leases = std::process::Command::new("virsh")
            .args(["-c", "qemu:///system", "net-dhcp-leases", "default"])
            .output()
            .unwrap();
        let leases = String::from_utf8_lossy(&leases.stdout).into_owned();
        if leases.contains("team-wiki") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no lease under the instance's name:\n{leases}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // The clear password is in no file: not the store, not the seed, not
    // the guest's disk.
    let storage = app.data_path().join("storage");
    let uuid = app.instance_uuid(id).await;
    let mut files = store_files(&app);
    files.extend(
        entries_named(&storage, &uuid)
            .into_iter()
            .map(|name| storage.join(name)),
    );
    assert!(
        files.len() >= 4,
        "the store, the disk and the seed: {files:?}"
    );
    no_clear_password_in(&files);
    remove_and_leave_nothing(&app, &client, id).await;
}
