//! Restore drills on fake hosts: a drill restores the backup into a
//! throwaway guest on the drills' network, checks the application's page
//! for what the instance answered, destroys the guest and records the
//! outcome; a guest whose application never answers fails the drill; the
//! scheduler drills each instance's newest backup once per slot; a drill
//! cut off by a restart is failed and its guest removed.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Api, TestApp, stack_on};

/// A stand-in for the restored application on 127.0.0.1: its port.
async fn application(answer: &'static str) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new().route("/", axum::routing::get(move || async move { answer }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

async fn app_answering(answer: &'static str, timeout: u64) -> (TestApp, tempfile::TempDir) {
    let stack = stack_on(application(answer).await);
    let app = TestApp::builder()
        .fake_hosts()
        .stack_dir(stack.path().to_owned())
        .drill_timeout_secs(timeout)
        .set_up()
        .start()
        .await;
    app.fake_host().lease_every_domain("127.0.0.1");
    (app, stack)
}

/// Deploys `name` and backs it up: the instance's id and the backup's.
async fn backed_up(client: &Api, name: &str) -> (i64, i64) {
    let deployed = client.deployed(name).await;
    let task = client.wait_task(deployed.task_id).await;
    assert_eq!(task["state"], "succeeded", "{task}");
    let (status, body) = client
        .post_empty(&format!("/api/v1/instances/{}/backups", deployed.id))
        .await;
    assert_eq!(status, 202, "{body}");
    let task = client.wait_task(body["task_id"].as_i64().unwrap()).await;
    assert_eq!(task["state"], "succeeded", "{task}");
    (deployed.id, body["id"].as_i64().unwrap())
}

/// The backup once its drill has ended.
async fn drilled(client: &Api, backup: i64) -> Value {
    for _ in 0..300 {
        let (_, list) = client.get("/api/v1/backups").await;
        let row = list
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["id"] == backup)
            .cloned()
            .unwrap();
        if matches!(row["drill"]["state"].as_str(), Some("passed" | "failed")) {
            return row;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the drill of backup {backup} never ended");
}

/// The fake host's domains and volumes that are not the instances'.
fn throwaways(app: &TestApp, instance_uuids: &[String]) -> (Vec<String>, Vec<String>) {
    let host = app.fake_host();
    let domains = host
        .dpe_uuids()
        .into_iter()
        .filter(|u| !instance_uuids.contains(u))
        .collect();
    let volumes = host
        .volume_names(&app.storage_pool())
        .into_iter()
        .filter(|v| !instance_uuids.iter().any(|u| v.contains(u.as_str())))
        .filter(|v| v.starts_with("dpe-") && !v.starts_with("dpe-golden"))
        .collect();
    (domains, volumes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_restores_the_backup_into_a_throwaway_guest_checks_it_and_leaves_nothing() {
    let (app, _stack) = app_answering("<title>dpe-guest</title>", 30).await;
    let admin = app.admin().await;
    let (id, backup) = backed_up(&admin, "wiki").await;
    let uuid = app.instance_uuid(id).await;

    let (status, started) = admin
        .post_empty(&format!("/api/v1/backups/{backup}/drill"))
        .await;
    assert_eq!(status, 202, "{started}");
    assert_eq!(started["drill"]["state"], "running", "{started}");
    let done = drilled(&admin, backup).await;
    assert_eq!(done["drill"]["state"], "passed", "{done}");
    assert!(
        done["drill"]["note"]
            .as_str()
            .unwrap()
            .contains("the application answered"),
        "{done}"
    );
    let host = app.fake_host();
    assert_eq!(host.calls("ensure_drill_network"), 1);
    // The throwaway guest was on the drills' network, and is gone.
    assert!(host.calls("copy_volume") >= 1);
    assert_eq!(throwaways(&app, &[uuid]), (vec![], vec![]));
    let (_, audit) = admin.get("/api/v1/audit?action=backup.drill").await;
    assert_eq!(audit.as_array().unwrap().len(), 1, "{audit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_whose_application_never_answers_as_the_instance_did_fails_and_says_so() {
    // The stand-in answers, but not with the instance's page.
    let (app, _stack) = app_answering("502 Bad Gateway", 2).await;
    let admin = app.admin().await;
    let (id, backup) = backed_up(&admin, "wiki").await;
    let uuid = app.instance_uuid(id).await;

    let (status, body) = admin
        .post_empty(&format!("/api/v1/backups/{backup}/drill"))
        .await;
    assert_eq!(status, 202, "{body}");
    // One drill at a time.
    let (status, busy) = admin
        .post_empty(&format!("/api/v1/backups/{backup}/drill"))
        .await;
    assert_eq!(status, 409, "{busy}");
    let done = drilled(&admin, backup).await;
    assert_eq!(done["drill"]["state"], "failed", "{done}");
    assert!(
        done["drill"]["note"]
            .as_str()
            .unwrap()
            .contains("did not answer as the instance's did"),
        "{done}"
    );
    assert_eq!(throwaways(&app, &[uuid]), (vec![], vec![]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_drills_each_instances_newest_backup_once_per_slot() {
    let (app, _stack) = app_answering("<title>dpe-guest</title>", 30).await;
    let admin = app.admin().await;
    let (_, first) = backed_up(&admin, "wiki").await;
    // A policy of daily drills at the current hour: one is due now.
    let now = app.appliance.engine.now();
    let hour = (now.rem_euclid(86_400) / 3600) as u8;
    let (status, body) = admin
        .put(
            "/api/v1/backup-policy",
            json!({"frequency": "daily", "hour": hour, "keep": 7, "drill": "daily"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["drill"], "daily");
    let engine = app.appliance.engine.clone();
    assert_eq!(
        engine.schedule_drills(now).await.unwrap(),
        None,
        "a first backup waits for the next slot"
    );
    let tomorrow = now + 86_400;
    assert_eq!(engine.schedule_drills(tomorrow).await.unwrap(), Some(first));
    assert_eq!(drilled(&admin, first).await["drill"]["state"], "passed");
    // Its end is recorded by the engine's clock (now): the next pass in
    // the same slot finds nothing due.
    assert_eq!(
        engine.schedule_drills(now + 60).await.unwrap(),
        None,
        "once per slot"
    );
    assert_eq!(
        engine.schedule_drills(now + 2 * 86_400).await.unwrap(),
        Some(first),
        "the next day's slot"
    );
    drilled(&admin, first).await;
    let (status, body) = admin
        .put(
            "/api/v1/backup-policy",
            json!({"frequency": "daily", "hour": hour, "keep": 7, "drill": "off"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        engine.schedule_drills(now + 3 * 86_400).await.unwrap(),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_cut_off_by_a_restart_is_failed_and_its_guest_removed() {
    let (app, _stack) = app_answering("never the right page", 600).await;
    let admin = app.admin().await;
    let (id, backup) = backed_up(&admin, "wiki").await;
    let uuid = app.instance_uuid(id).await;
    let (status, body) = admin
        .post_empty(&format!("/api/v1/backups/{backup}/drill"))
        .await;
    assert_eq!(status, 202, "{body}");
    // Until its guest is up on the host.
    for _ in 0..100 {
        if !throwaways(&app, std::slice::from_ref(&uuid)).0.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!throwaways(&app, std::slice::from_ref(&uuid)).0.is_empty());

    let app = app.restart().await;
    let admin = app.admin().await;
    let done = drilled(&admin, backup).await;
    assert_eq!(done["drill"]["state"], "failed", "{done}");
    assert_eq!(done["drill"]["note"], "the drill was interrupted");
    assert_eq!(throwaways(&app, &[uuid]), (vec![], vec![]));
}
