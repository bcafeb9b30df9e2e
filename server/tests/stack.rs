//! The application stack end to end: the real DokuWiki golden image on a
//! real libvirtd under TCG, in a private network namespace. `scripts/test`
//! runs it with `DPE_TEST_STACK_IMAGE_DIR` set to the output of
//! `image/stacks/dokuwiki/build-image`.

// A test reports failure by panicking; its helpers may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{Accepted, TestApp, entries_named};
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

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a libvirtd in a private network namespace and the built image: scripts/test runs it"]
async fn a_user_deploys_the_wiki_signs_in_as_its_admin_and_deletes_it() {
    let app = TestApp::builder()
        .host_uri("qemu:///system")
        .stack_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../image/stacks/dokuwiki"))
        .image_dir(image_dir())
        .set_up()
        .start()
        .await;
    let client = app.admin().await;
    // A cold deploy: no warm pool.
    let (status, body) = client.put("/api/v1/pool", json!({"targets": {}})).await;
    assert_eq!(status, 200, "{body}");
    // The wiki opens through the gateway, at team-wiki.localhost, to all.
    client.open_apps_under(&app.origin(), "localhost").await;
    let started = Instant::now();
    let (status, accepted) = client
        .deploy_with(json!({"name": "team-wiki", "size": "small", "params": {
            "wiki_title": TITLE, "admin_user": WIKI_ADMIN,
            "admin_password": WIKI_PASSWORD, "admin_email": "wiki@example.org"}}))
        .await;
    assert_eq!(status, 202, "{accepted}");
    let Accepted { id, task_id } = Accepted::of(&accepted);
    let task = client
        .patient(Duration::from_secs(180))
        .wait_task(task_id)
        .await;
    assert_eq!(task["state"], "succeeded", "{task}");
    let provisioned = started.elapsed();

    let inst = client
        .wait_instance(id, Duration::from_secs(600), |i| i["health"] == "healthy")
        .await;
    let healthy = started.elapsed();
    println!(
        "figures: deploy accepted→domain running {:.2} s; deploy→healthy application {:.1} s",
        provisioned.as_secs_f64(),
        healthy.as_secs_f64()
    );
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
    let home = through_gateway(&app)
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(home.contains(TITLE_HTML), "the wiki shows its title");
    assert!(
        home.contains(&format!("href=\"{url}")) || home.contains("href=\"/"),
        "its links lead to the gateway, not the guest"
    );

    let signed_in = sign_in(&app, &url, WIKI_ADMIN, WIKI_PASSWORD).await;
    assert!(
        signed_in.contains("do=logout") || signed_in.contains("Log Out"),
        "admin signed in"
    );
    assert!(signed_in.contains("do=admin"), "with the admin menu");
    let refused = sign_in(&app, &url, WIKI_ADMIN, "wrong password entirely").await;
    assert!(
        !refused.contains("do=logout"),
        "a wrong password does not sign in"
    );

    // The clear password is nowhere in the store.
    let data = app.data_path();
    for file in ["dpe.sqlite3", "dpe.sqlite3-wal"] {
        let bytes = std::fs::read(data.join(file)).unwrap_or_default();
        assert!(
            !bytes
                .windows(WIKI_PASSWORD.len())
                .any(|w| w == WIKI_PASSWORD.as_bytes()),
            "{file}"
        );
    }

    client.patient(Duration::from_secs(120)).remove(id).await;
    // A member the default target started before the one above is gone too.
    no_members_left(&client).await;
    let left = entries_named(&data.join("storage"), "dpe-");
    assert!(left.is_empty(), "nothing left: {left:?}");
}

async fn no_members_left(client: &common::Api) {
    client
        .patient(Duration::from_secs(30))
        .poll("/api/v1/pool", Duration::from_secs(600), |p| {
            p["members"].as_array().is_some_and(Vec::is_empty)
        })
        .await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a libvirtd in a private network namespace and the built image: scripts/test runs it"]
async fn a_warm_deploy_claims_a_booted_member_and_its_wiki_is_the_users_within_seconds() {
    let app = TestApp::builder()
        .host_uri("qemu:///system")
        .stack_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../image/stacks/dokuwiki"))
        .image_dir(image_dir())
        .set_up()
        .start()
        .await;
    let client = app.admin().await;
    client.open_apps_under(&app.origin(), "localhost").await;
    let (status, body) = client
        .put("/api/v1/pool", json!({"targets": {"small": 1}}))
        .await;
    assert_eq!(status, 200, "{body}");
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
    // No refill during the measurement: the next member would share the CPU.
    let started = Instant::now();
    let (status, accepted) = client
        .deploy_with(json!({"name": "team-wiki", "size": "small", "params": {
            "wiki_title": TITLE, "admin_user": WIKI_ADMIN,
            "admin_password": WIKI_PASSWORD, "admin_email": "wiki@example.org"}}))
        .await;
    assert_eq!(status, 202, "{accepted}");
    let (status, body) = client.put("/api/v1/pool", json!({"targets": {}})).await;
    assert_eq!(status, 200, "{body}");
    let Accepted { id, task_id } = Accepted::of(&accepted);
    let task = client
        .patient(Duration::from_secs(180))
        .wait_task(task_id)
        .await;
    assert_eq!(task["state"], "succeeded", "{task}");
    let names: Vec<_> = task["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["personalize"], "a warm deploy: {task}");
    let personalized = started.elapsed();
    let inst = client
        .wait_instance(id, Duration::from_secs(300), |i| i["health"] == "healthy")
        .await;
    let healthy = started.elapsed();
    println!(
        "figures: warm deploy accepted→personalized {:.2} s; deploy→healthy application {:.2} s",
        personalized.as_secs_f64(),
        healthy.as_secs_f64()
    );
    let (status, shared) = client
        .patch(
            &format!("/api/v1/instances/{id}"),
            json!({"share": "public"}),
        )
        .await;
    assert_eq!(status, 200, "{shared}");
    let url = inst["url"].as_str().unwrap().to_owned();
    let home = through_gateway(&app)
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(home.contains(TITLE_HTML), "the wiki shows the user's title");
    let signed_in = sign_in(&app, &url, WIKI_ADMIN, WIKI_PASSWORD).await;
    assert!(signed_in.contains("do=admin"), "the user's admin signs in");
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
    let refused = sign_in(&app, &url, WIKI_ADMIN, "wrong password entirely").await;
    assert!(!refused.contains("do=logout"), "a wrong password does not");

    // The clear password is in no file: not the store, not the seed, not
    // the guest's disk.
    let data = app.data_path();
    let mut files: Vec<PathBuf> = ["dpe.sqlite3", "dpe.sqlite3-wal"]
        .iter()
        .map(|f| data.join(f))
        .collect();
    let uuid = app.instance_uuid(id).await;
    files.extend(
        entries_named(&data.join("storage"), &uuid)
            .into_iter()
            .map(|name| data.join("storage").join(name)),
    );
    assert!(
        files.len() >= 4,
        "the store, the disk and the seed: {files:?}"
    );
    for file in &files {
        let bytes = std::fs::read(file).unwrap_or_default();
        assert!(
            !bytes
                .windows(WIKI_PASSWORD.len())
                .any(|w| w == WIKI_PASSWORD.as_bytes()),
            "{file:?} holds the password"
        );
    }

    client.patient(Duration::from_secs(120)).remove(id).await;
    no_members_left(&client).await;
    let left = entries_named(&data.join("storage"), "dpe-");
    assert!(left.is_empty(), "nothing left: {left:?}");
}
