//! The application stack end to end: the real DokuWiki golden image on a
//! real libvirtd under TCG, in a private network namespace. `scripts/test`
//! runs it with `DPE_TEST_STACK_IMAGE_DIR` set to the output of
//! `image/stacks/dokuwiki/build-image`.

// A test reports failure by panicking; its helpers may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{Accepted, Api, TestApp, console_socket, entries_named};
use reqwest::Client;
use serde_json::json;

const TITLE: &str = "Team <Wiki> & \"Co's\" ünï";
const TITLE_HTML: &str = "Team &lt;Wiki&gt; &amp; &quot;Co&#039;s&quot; ünï";
const WIKI_ADMIN: &str = "wikiadmin";
const WIKI_PASSWORD: &str = "Sturdy-Lantern-58-meadow";
/// The console's account, as the stack's manifest names it.
const CONSOLE_USER: &str = "wikiadmin";

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

/// A wiki client that has signed in (or tried to) as `user`, through
/// the gateway.
async fn wiki_client(app: &TestApp, base: &str, user: &str, password: &str) -> Client {
    let wiki = through_gateway(app);
    let form = page_text(&wiki, base, "start&do=login").await;
    wiki.post(format!("{base}doku.php"))
        .form(&[
            ("sectok", sectok(&form).as_str()),
            ("id", "start"),
            ("do", "login"),
            ("u", user),
            ("p", password),
        ])
        .send()
        .await
        .unwrap();
    wiki
}

/// The start page after signing in as `user`.
async fn sign_in(app: &TestApp, base: &str, user: &str, password: &str) -> String {
    let wiki = wiki_client(app, base, user, password).await;
    page_text(&wiki, base, "start").await
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
    the_console_lets_the_owner_in(app, id).await;
    url
}

/// The way in when the wiki does not answer: the serial console, through
/// the portal, signs in as the stack's console account with the deployer's
/// password, which may become root with it.
async fn the_console_lets_the_owner_in(app: &TestApp, id: i64) {
    let started = Instant::now();
    let mut console = console_socket::open_as_admin(app, id).await;
    let within = Duration::from_secs(120);
    console_socket::sign_in(&mut console, CONSOLE_USER, WIKI_PASSWORD, "$ ", within).await;
    // The password only at sudo's own prompt, which does not echo it: a
    // command line would be echoed into the host's serial log. (`%u`: the
    // prompt as printed differs from the command as echoed.)
    console_socket::type_in(
        &mut console,
        "sudo -p 'sudo-%u:' sh -c 'echo uid-$(id -u)'\r",
    )
    .await;
    console_socket::read_within(&mut console, &format!("sudo-{CONSOLE_USER}:"), within).await;
    console_socket::type_in(&mut console, &format!("{WIKI_PASSWORD}\r")).await;
    console_socket::read_within(&mut console, "uid-0", within).await;
    println!(
        "figures: console opened, signed in and became root in {:.1} s",
        started.elapsed().as_secs_f64()
    );
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
        if start.elapsed() > Duration::from_secs(60) {
            let guest = in_guest(
                &app.instance_uuid(id).await,
                "{ hostname; journalctl -b --no-pager -u systemd-networkd | tail -n 20; } 1>&2",
            );
            panic!("no lease under the instance's name:\n{leases}\nthe guest says:\n{guest}");
        }
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

/// The hidden fields of the first form in `html` after `marker`.
fn hidden_fields(html: &str, marker: &str) -> Vec<(String, String)> {
    let form = &html[html.find(marker).expect("the edit form")..];
    let form = &form[..form.find("</form>").unwrap_or(form.len())];
    let mut fields = Vec::new();
    for input in form.split("<input").skip(1) {
        let input = &input[..input.find('>').unwrap_or(input.len())];
        if !input.contains("type=\"hidden\"") {
            continue;
        }
        let attr = |name: &str| {
            let at = input.find(&format!("{name}=\""))? + name.len() + 2;
            Some(input[at..at + input[at..].find('"')?].to_owned())
        };
        if let (Some(name), Some(value)) = (attr("name"), attr("value")) {
            fields.push((name, value.replace("&amp;", "&")));
        }
    }
    fields
}

/// Saves wiki page `page` with `text`, as its admin does in the editor.
async fn save_page(wiki: &Client, base: &str, page: &str, text: &str) {
    let editor = wiki
        .get(format!("{base}doku.php?id={page}&do=edit"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut form = hidden_fields(&editor, "id=\"dw__editform\"");
    form.push(("wikitext".into(), text.into()));
    form.push(("summary".into(), "from the backup test".into()));
    form.push(("do[save]".into(), "Save".into()));
    wiki.post(format!("{base}doku.php"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let shown = page_text(wiki, base, page).await;
    assert!(shown.contains(text), "page {page} saved: {shown}");
}

async fn page_text(wiki: &Client, base: &str, page: &str) -> String {
    wiki.get(format!("{base}doku.php?id={page}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Starts a backup of `id` and waits for it: the backup and its task's time.
async fn back_up(client: &Api, id: i64) -> (serde_json::Value, Duration) {
    let started = Instant::now();
    let body = client
        .patient(Duration::from_secs(900))
        .succeeds(
            client
                .post_empty(&format!("/api/v1/instances/{id}/backups"))
                .await,
        )
        .await;
    let took = started.elapsed();
    let (_, list) = client.get(&format!("/api/v1/instances/{id}/backups")).await;
    let backup = list["backups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["id"] == body["id"])
        .cloned()
        .unwrap();
    (backup, took)
}

/// Restores `backup` as `team-wiki`, shared with everyone, and waits for
/// its wiki to answer: its id, its address and how long that took.
async fn restore_wiki(client: &Api, backup: &serde_json::Value) -> (i64, String, Duration) {
    let started = Instant::now();
    let body = client
        .patient(Duration::from_secs(900))
        .succeeds(
            client
                .post(
                    &format!("/api/v1/backups/{}/restore", backup["id"]),
                    json!({"name": "team-wiki"}),
                )
                .await,
        )
        .await;
    let id = body["id"].as_i64().unwrap();
    let inst = client
        .wait_instance(id, Duration::from_secs(600), |i| i["health"] == "healthy")
        .await;
    let (status, shared) = client
        .patch(
            &format!("/api/v1/instances/{id}"),
            json!({"share": "public"}),
        )
        .await;
    assert_eq!(status, 200, "{shared}");
    (
        id,
        inst["url"].as_str().unwrap().to_owned(),
        started.elapsed(),
    )
}

/// Runs `script` in the guest `uuid` through its agent.
fn in_guest(uuid: &str, script: &str) -> String {
    common::guest::in_guest("qemu:///system", uuid, script)
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a libvirtd in a private network namespace and the built image: scripts/test runs it"]
async fn the_wikis_pages_come_back_from_its_backups_and_a_broken_wiki_from_its_snapshot() {
    let (app, client) = wiki_app().await;
    pool_targets(&client, json!({})).await;
    let (Accepted { id, .. }, _, _) = deploy_wiki(&client).await;
    let inst = client
        .wait_instance(id, Duration::from_secs(600), |i| i["health"] == "healthy")
        .await;
    let base = the_wiki_is_the_users(&app, &client, &inst).await;
    let uuid = app.instance_uuid(id).await;

    // A snapshot; the wiki broken (its doku.php gone); reverted: healthy.
    let body = client
        .patient(Duration::from_secs(300))
        .succeeds(
            client
                .post(
                    &format!("/api/v1/instances/{id}/snapshots"),
                    json!({"name": "sound"}),
                )
                .await,
        )
        .await;
    let snapshot = body["id"].as_i64().unwrap();
    let u = uuid.clone();
    tokio::task::spawn_blocking(move || in_guest(&u, "rm /usr/share/dokuwiki/doku.php"))
        .await
        .unwrap();
    client
        .wait_instance(id, Duration::from_secs(120), |i| i["health"] == "unhealthy")
        .await;
    client
        .patient(Duration::from_secs(300))
        .succeeds(
            client
                .post_empty(&format!(
                    "/api/v1/instances/{id}/snapshots/{snapshot}/revert"
                ))
                .await,
        )
        .await;
    client
        .wait_instance(id, Duration::from_secs(300), |i| i["health"] == "healthy")
        .await;

    // Page A, a full backup; page B, an incremental one.
    let wiki = wiki_client(&app, &base, WIKI_ADMIN, WIKI_PASSWORD).await;
    save_page(
        &wiki,
        &base,
        "pagea",
        "The first page, kept in every backup.",
    )
    .await;
    let (full, full_took) = back_up(&client, id).await;
    assert_eq!(full["kind"], "full", "{full}");
    save_page(
        &wiki,
        &base,
        "pageb",
        "The second page, only in the incremental backup.",
    )
    .await;
    let (incremental, inc_took) = back_up(&client, id).await;
    assert_eq!(incremental["kind"], "incremental", "{incremental}");
    let (full_bytes, inc_bytes) = (
        full["size_bytes"].as_u64().unwrap(),
        incremental["size_bytes"].as_u64().unwrap(),
    );
    println!(
        "figures: full backup {:.1} MiB, job {} ms, task {:.1} s, guest frozen {} ms",
        full_bytes as f64 / 1048576.0,
        full["duration_ms"],
        full_took.as_secs_f64(),
        full["frozen_ms"]
    );
    println!(
        "figures: incremental backup after one page: {:.2} MiB ({:.2}% of the full one), job {} ms, \
         task {:.1} s, guest frozen {} ms",
        inc_bytes as f64 / 1048576.0,
        inc_bytes as f64 * 100.0 / full_bytes as f64,
        incremental["duration_ms"],
        inc_took.as_secs_f64(),
        incremental["frozen_ms"]
    );

    // The instance deleted, each point restored: its pages are there.
    client.patient(Duration::from_secs(120)).remove(id).await;
    let (restored, url, took) = restore_wiki(&client, &incremental).await;
    println!(
        "figures: restore of the incremental point → healthy wiki {:.1} s",
        took.as_secs_f64()
    );
    let wiki = through_gateway(&app);
    assert!(
        page_text(&wiki, &url, "pagea")
            .await
            .contains("The first page")
    );
    assert!(
        page_text(&wiki, &url, "pageb")
            .await
            .contains("The second page")
    );
    client
        .patient(Duration::from_secs(120))
        .remove(restored)
        .await;
    let (restored, url, took) = restore_wiki(&client, &full).await;
    println!(
        "figures: restore of the full point → healthy wiki {:.1} s",
        took.as_secs_f64()
    );
    assert!(
        page_text(&wiki, &url, "pagea")
            .await
            .contains("The first page")
    );
    assert!(
        !page_text(&wiki, &url, "pageb")
            .await
            .contains("The second page")
    );
    client
        .patient(Duration::from_secs(120))
        .remove(restored)
        .await;
}

/// The guest's memory (MemTotal, KiB) and its root file system's size
/// (bytes), as the guest sees them once its agent answers (after a
/// reboot, the instance's record may say healthy before the guest is up).
async fn wiki_guest_sees(uuid: &str) -> (u64, u64) {
    use server::engine::hypervisor::Hypervisor;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let u = uuid.to_owned();
        let up = tokio::task::spawn_blocking(move || {
            let host = server::engine::libvirt::LibvirtHost::connect("qemu:///system").unwrap();
            host.guest_exec(&u, &["/bin/true".to_owned()], b"", Duration::from_secs(5))
                .is_ok_and(|exit| exit.code == 0)
        })
        .await
        .unwrap();
        if up {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the wiki's guest agent never answered"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let u = uuid.to_owned();
    let out = tokio::task::spawn_blocking(move || {
        in_guest(
            &u,
            "awk '/^MemTotal:/ { print $2 }' /proc/meminfo >&2; df -B1 --output=size / | tail -n 1 >&2",
        )
    })
    .await
    .unwrap();
    let mut lines = out.lines().map(|l| l.trim().parse::<u64>().unwrap());
    (lines.next().unwrap(), lines.next().unwrap())
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a libvirtd in a private network namespace and the built image: scripts/test runs it"]
async fn a_resized_wiki_keeps_its_pages_and_its_file_system_grows_with_its_disk() {
    const GIB: u64 = 1 << 30;
    let (app, client) = wiki_app().await;
    pool_targets(&client, json!({})).await;
    let (Accepted { id, .. }, _, _) = deploy_wiki(&client).await;
    let inst = client
        .wait_instance(id, Duration::from_secs(600), |i| i["health"] == "healthy")
        .await;
    let base = inst["url"].as_str().unwrap().to_owned();
    client
        .patch(
            &format!("/api/v1/instances/{id}"),
            json!({"share": "public"}),
        )
        .await;
    let wiki = wiki_client(&app, &base, WIKI_ADMIN, WIKI_PASSWORD).await;
    save_page(&wiki, &base, "sizes", "Written before the resize").await;
    let uuid = app.instance_uuid(id).await;
    let (memory_kib, root) = wiki_guest_sees(&uuid).await;
    assert!(memory_kib < GIB >> 10, "{memory_kib} KiB");
    assert!(root > 7 * GIB && root <= 8 * GIB, "{root} bytes");

    // small to medium: a reboot; the file system grows as it boots.
    let started = Instant::now();
    client
        .patient(Duration::from_secs(600))
        .succeeds(
            client
                .post(
                    &format!("/api/v1/instances/{id}/resize"),
                    json!({"size": "medium"}),
                )
                .await,
        )
        .await;
    client
        .wait_instance(id, Duration::from_secs(600), |i| i["health"] == "healthy")
        .await;
    let (memory_kib, root) = wiki_guest_sees(&uuid).await;
    println!(
        "figures: resize small→medium (reboot) to the guest's agent answering {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(memory_kib > (3 * GIB / 2) >> 10, "{memory_kib} KiB");
    assert!(root > 19 * GIB && root <= 20 * GIB, "{root} bytes");
    // The wiki answers again, with the page written before.
    let deadline = Instant::now() + Duration::from_secs(300);
    while !page_text(&wiki, &base, "sizes")
        .await
        .contains("Written before the resize")
    {
        assert!(Instant::now() < deadline, "the page never came back");
        tokio::time::sleep(Duration::from_secs(2)).await;
    }

    // The live path a disk-only resize takes (the manifest's sizes all
    // change memory too): the disk grown under the running wiki, then the
    // manifest's grow command through the agent; the wiki answers all along.
    let stem = app
        .appliance
        .store
        .read(move |c| server::store::instances::by_id(c, id))
        .await
        .unwrap()
        .unwrap()
        .volume_stem;
    let (u, pool) = (uuid.clone(), app.storage_pool());
    let grown = Instant::now();
    tokio::task::spawn_blocking(move || {
        use server::engine::hypervisor::Hypervisor;
        let host = server::engine::libvirt::LibvirtHost::connect("qemu:///system").unwrap();
        host.grow_disk(&u, "vda", &pool, &format!("{stem}.qcow2"), 24 * GIB)
            .unwrap();
        in_guest(&u, "/sbin/resize2fs /dev/vda")
    })
    .await
    .unwrap();
    println!(
        "figures: the disk grown under the running wiki and resize2fs: {:.1} s",
        grown.elapsed().as_secs_f64()
    );
    let (memory_after, root) = wiki_guest_sees(&uuid).await;
    assert_eq!(memory_after, memory_kib, "no reboot");
    assert!(root > 23 * GIB && root <= 24 * GIB, "{root} bytes");
    assert!(
        page_text(&wiki, &base, "sizes")
            .await
            .contains("Written before the resize")
    );
    remove_and_leave_nothing(&app, &client, id).await;
}
