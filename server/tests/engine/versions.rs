//! Stack versions: a second image registered while dpe runs, made
//! current, used by new deploys; older instances say an update is
//! available; an old version goes once nothing uses it.

use std::time::Duration;

use serde_json::Value;

use super::backups::{backed_up, restored_over, snapshots_of};
use super::common::TestApp;

/// Builds a second image next to the first, with a version file and a
/// package list, as `build-image` writes them.
fn build_second_version(app: &TestApp) {
    let dir = app.images().join("v2");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("disk.qcow2"), b"QFI\xfb\0\0\0\x03second").unwrap();
    std::fs::write(dir.join("vmlinuz"), b"kernel 2").unwrap();
    std::fs::write(dir.join("initrd.img"), b"initrd 2").unwrap();
    std::fs::write(dir.join("version"), "app=testguest 2.0\nos=Debian 12.11\n").unwrap();
    std::fs::write(dir.join("packages"), "testguest 2.0\nnginx 1.22\n").unwrap();
}

fn version<'a>(list: &'a Value, label: &str) -> &'a Value {
    list["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["label"] == label)
        .unwrap_or_else(|| panic!("no version {label}: {list}"))
}

fn golden_volumes_of(app: &TestApp, sha256: &str) -> Vec<String> {
    let tag = format!("golden-testguest-{}", &sha256[..12]);
    app.fake_host()
        .volume_names(&app.storage_pool())
        .into_iter()
        .filter(|v| v.starts_with(&tag))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_registered_while_running_is_deployed_once_current_and_the_old_one_goes_with_its_last_instance()
 {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let admin = app.admin().await;
    let old = admin.deployed("old").await;
    assert_eq!(admin.wait_task(old.task_id).await["state"], "succeeded");

    // The first image is the first version, current; without a version
    // file its label is its checksum's first 12 hex digits.
    let (status, list) = admin.get("/api/v1/stack/versions").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["versions"].as_array().unwrap().len(), 1, "{list}");
    let first = list["versions"][0].clone();
    let first_sha = first["sha256"].as_str().unwrap().to_owned();
    assert_eq!(first["label"], first_sha[..12]);
    assert_eq!(first["current"], true);
    assert_eq!(first["instances"], 1);
    let (_, instance) = admin.instance(old.id).await;
    assert_eq!(instance["version"]["label"], first_sha[..12], "{instance}");
    assert_eq!(instance["version"]["update_available"], false);

    // A second image built while dpe runs is registered by a scan, not
    // current yet.
    build_second_version(&app);
    let (status, list) = admin.post_empty("/api/v1/stack/versions/scan").await;
    assert_eq!(status, 200, "{list}");
    let second = version(&list, "testguest 2.0 on Debian 12.11").clone();
    assert_eq!(second["current"], false);
    assert_eq!(second["instances"], 0);
    assert_eq!(
        second["changes"],
        serde_json::json!(["+ nginx 1.22", "+ testguest 2.0"]),
        "what it changes against the current one: {list}"
    );
    let second_id = second["id"].as_i64().unwrap();
    let second_sha = second["sha256"].as_str().unwrap().to_owned();

    let current = format!("/api/v1/stack/versions/{second_id}/current");
    let (status, list) = admin.post_empty(&current).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(
        version(&list, "testguest 2.0 on Debian 12.11")["current"],
        true
    );
    assert_eq!(version(&list, &first_sha[..12])["current"], false);
    // Again: nothing changes, and it says so with the same 200.
    let (status, again) = admin.post_empty(&current).await;
    assert_eq!((status, &again), (200, &list));
    let (status, _) = admin
        .post_empty("/api/v1/stack/versions/999999/current")
        .await;
    assert_eq!(status, 404);

    // The old instance keeps its version and says an update is available.
    let (_, instance) = admin.instance(old.id).await;
    assert_eq!(instance["version"]["update_available"], true, "{instance}");
    assert_eq!(
        instance["version"]["changes"],
        serde_json::json!(["+ nginx 1.22", "+ testguest 2.0"])
    );
    let (_, list) = admin.instances().await;
    assert_eq!(list[0]["version"]["update_available"], true, "{list}");

    // A new deploy is cloned from the new version.
    let new = admin.deployed("new").await;
    assert_eq!(admin.wait_task(new.task_id).await["state"], "succeeded");
    let (_, instance) = admin.instance(new.id).await;
    assert_eq!(instance["version"]["id"], second_id, "{instance}");
    assert_eq!(instance["version"]["update_available"], false);
    assert!(!golden_volumes_of(&app, &second_sha).is_empty());

    // The old version is kept while its instance lives, then removed with
    // its golden volumes.
    assert!(!golden_volumes_of(&app, &first_sha).is_empty());
    admin.remove(old.id).await;
    let list = admin
        .poll("/api/v1/stack/versions", Duration::from_secs(30), |l| {
            l["versions"].as_array().is_some_and(|v| v.len() == 1)
        })
        .await;
    assert_eq!(list["versions"][0]["id"], second_id, "{list}");
    assert_eq!(golden_volumes_of(&app, &first_sha), Vec::<String>::new());
    assert!(
        !golden_volumes_of(&app, &second_sha).is_empty(),
        "the current one stays"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_an_appliance_admin_sees_or_changes_the_versions() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let user = app.user_client("ann", app::model::Role::User).await;
    assert_eq!(user.get("/api/v1/stack/versions").await.0, 403);
    assert_eq!(user.post_empty("/api/v1/stack/versions/scan").await.0, 403);
    assert_eq!(
        user.post_empty("/api/v1/stack/versions/1/current").await.0,
        403
    );
}

/// Records that the instance runs version `version`, as an update will.
fn now_runs(app: &TestApp, instance: i64, version: i64) {
    let conn = rusqlite::Connection::open(app.data_path().join("dpe.sqlite3")).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.execute(
        "UPDATE instances SET version_id = ?2 WHERE id = ?1",
        [instance, version],
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_over_brings_back_the_backups_version_and_going_back_to_the_kept_disk_its_own() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let admin = app.admin().await;
    let wiki = admin.deployed("wiki").await;
    assert_eq!(admin.wait_task(wiki.task_id).await["state"], "succeeded");
    let uuid = app.instance_uuid(wiki.id).await;
    let (_, instance) = admin.instance(wiki.id).await;
    let first = instance["version"]["id"].as_i64().unwrap();
    let full = backed_up(&admin, wiki.id).await;

    // A second version, current, and the instance runs it (as after an
    // update): its backup still holds the first.
    build_second_version(&app);
    let (_, list) = admin.post_empty("/api/v1/stack/versions/scan").await;
    let second = version(&list, "testguest 2.0 on Debian 12.11").clone();
    let (second_id, second_sha) = (
        second["id"].as_i64().unwrap(),
        second["sha256"].as_str().unwrap().to_owned(),
    );
    let (status, _) = admin
        .post_empty(&format!("/api/v1/stack/versions/{second_id}/current"))
        .await;
    assert_eq!(status, 200);
    now_runs(&app, wiki.id, second_id);

    let task = restored_over(&admin, wiki.id, full["id"].as_i64().unwrap()).await;
    assert_eq!(task["state"], "succeeded", "{task}");
    let (_, instance) = admin.instance(wiki.id).await;
    assert_eq!(
        instance["version"]["id"], first,
        "the disk is the backup's, and so is the version: {instance}"
    );
    assert_eq!(instance["version"]["update_available"], true);

    // The disk the restore replaced was the second version's: going back
    // to it brings that version back, and the domain boots its kernel.
    let snapshots = snapshots_of(&admin, wiki.id).await;
    let kept = snapshots[0]["id"].as_i64().unwrap();
    let (status, accepted) = admin
        .post_empty(&format!(
            "/api/v1/instances/{}/snapshots/{kept}/revert",
            wiki.id
        ))
        .await;
    assert_eq!(status, 202, "{accepted}");
    let task_id = accepted["task_id"].as_i64().unwrap();
    assert_eq!(admin.wait_task(task_id).await["state"], "succeeded");
    let (_, instance) = admin.instance(wiki.id).await;
    assert_eq!(instance["version"]["id"], second_id, "{instance}");
    assert_eq!(instance["version"]["update_available"], false);
    let xml = app.fake_host().domain_xml(&uuid).unwrap();
    assert!(
        xml.contains(&format!("golden-testguest-{}", &second_sha[..12])),
        "the domain boots the second version's kernel: {xml}"
    );
}
