//! `POST /api/v1/instances/{id}/resize`: a success, and each refusal with
//! its status and a message that says why, losing nothing (the instance
//! keeps its size, and no task is recorded).

use app::model::{Role, TaskKind};
use serde_json::{Value, json};
use server::store::{instances, tasks};

use crate::common::{Accepted, Api, TestApp, USER_PASSWORD};

async fn running(client: &Api, name: &str) -> i64 {
    let Accepted { id, task_id } = client.deployed(name).await;
    let task = client.wait_task(task_id).await;
    assert_eq!(task["state"], "succeeded", "{task}");
    client.wait_state(id, "running").await;
    id
}

async fn ask(client: &Api, id: i64, body: Value) -> (u16, Value) {
    client
        .post(&format!("/api/v1/instances/{id}/resize"), body)
        .await
}

/// The instance's size in its record, and how many resize tasks it has.
async fn size_and_resizes(app: &TestApp, id: i64) -> (String, i64) {
    app.appliance
        .store
        .read(move |c| {
            let size = instances::by_id(c, id)?.unwrap().size;
            let resizes = c.query_row(
                "SELECT count(*) FROM tasks WHERE kind = 'resize' AND instance_id = ?1",
                [id],
                |r| r.get(0),
            )?;
            Ok((size, resizes))
        })
        .await
        .unwrap()
}

fn message(body: &Value) -> &str {
    body["message"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resize_is_accepted_as_a_task_and_one_its_host_has_no_room_for_is_refused() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let admin = app.admin().await;
    let id = running(&admin, "wiki").await;
    // More memory than its host has: refused before anything changes.
    let (status, body) = ask(&admin, id, json!({"size": "huge"})).await;
    assert_eq!(status, 409, "{body}");
    assert!(message(&body).contains("its host vm has no room"), "{body}");
    assert_eq!(size_and_resizes(&app, id).await, ("tiny".into(), 0));

    let (status, body) = ask(&admin, id, json!({"size": "roomy"})).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["id"], id);
    let task = admin.wait_task(body["task_id"].as_i64().unwrap()).await;
    assert_eq!(task["state"], "succeeded", "{task}");
    assert_eq!(task["kind"], "resize");
    assert_eq!(size_and_resizes(&app, id).await, ("roomy".into(), 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_size_its_own_size_and_a_smaller_disk_are_refused_saying_why() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let admin = app.admin().await;
    let id = running(&admin, "wiki").await;

    let (status, body) = ask(&admin, id, json!({"size": "gigantic"})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["field"], "size");
    assert!(message(&body).contains("no size \"gigantic\""), "{body}");
    assert!(message(&body).contains("tiny, roomy, wide, huge"), "{body}");

    let (status, body) = ask(&admin, id, json!({"size": "tiny"})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["field"], "size");
    assert!(message(&body).contains("already has size tiny"), "{body}");

    let (status, body) = ask(&admin, id, json!({"size": "roomy", "disk_gib": 9})).await;
    assert_eq!(status, 422, "unknown fields are refused: {body}");
    let (status, body) = ask(&admin, id, json!({})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(size_and_resizes(&app, id).await, ("tiny".into(), 0));

    // Up to 2 GiB, then back to tiny's 1 GiB: a disk does not shrink.
    let (status, body) = ask(&admin, id, json!({"size": "roomy"})).await;
    assert_eq!(status, 202, "{body}");
    admin.wait_task(body["task_id"].as_i64().unwrap()).await;
    let (status, body) = ask(&admin, id, json!({"size": "tiny"})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["field"], "size");
    assert!(
        message(&body).contains("a disk cannot shrink: the instance has 2 GiB"),
        "{body}"
    );
    assert_eq!(size_and_resizes(&app, id).await, ("roomy".into(), 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resize_past_the_quota_is_refused_and_the_instance_keeps_its_size() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let admin = app.admin().await;
    let lab = admin.create_department("Lab", None).await;
    let carol = admin
        .create_member("carol", USER_PASSWORD, lab, false)
        .await;
    admin
        .update_member(carol, json!({"may_deploy": true}))
        .await;
    // Room for tiny's 256 MiB, not for roomy's 384.
    let (status, body) = admin
        .update_department(lab, json!({"quota": {"memory_mib": 300}}))
        .await;
    assert_eq!(status, 200, "{body}");
    let carol = app.sign_in("carol", USER_PASSWORD).await;
    let id = running(&carol, "notes").await;

    let (status, body) = ask(&carol, id, json!({"size": "roomy"})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "quota_exceeded", "{body}");
    assert!(message(&body).starts_with("Resize refused"), "{body}");
    assert!(message(&body).contains("department Lab"), "{body}");
    assert_eq!(size_and_resizes(&app, id).await, ("tiny".into(), 0));

    // With room, the new size is what the quota counts from admission on.
    admin
        .update_department(lab, json!({"quota": {"memory_mib": 400}}))
        .await;
    let (status, body) = ask(&carol, id, json!({"size": "roomy"})).await;
    assert_eq!(status, 202, "{body}");
    let (_, quotas) = carol.get("/api/v1/quotas").await;
    assert!(
        quotas.to_string().contains("\"memory_mib\":384"),
        "{quotas}"
    );
    carol.wait_task(body["task_id"].as_i64().unwrap()).await;
    // A second instance no longer fits beside it.
    let (status, body) = carol.deploy("second").await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "quota_exceeded", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resize_while_another_task_runs_is_refused_as_busy() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let admin = app.admin().await;
    let id = running(&admin, "busy").await;
    // A task that runs (no driver picks it up in this process).
    app.appliance
        .store
        .write(move |tx| {
            let uuid = instances::by_id(tx, id)?.unwrap().uuid;
            tasks::insert(tx, id, &uuid, 1, TaskKind::Reboot, &["reboot"], None)
        })
        .await
        .unwrap();
    let (status, body) = ask(&admin, id, json!({"size": "roomy"})).await;
    assert_eq!(status, 409, "{body}");
    assert!(message(&body).contains("busy with another task"), "{body}");
    assert_eq!(size_and_resizes(&app, id).await, ("tiny".into(), 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_of_another_department_is_not_found_and_its_department_admin_may_resize_it() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let admin = app.admin().await;
    let lab = admin.create_department("Lab", None).await;
    let ops = admin.create_department("Ops", None).await;
    for (name, department, manages) in [
        ("carol", lab, false),
        ("lena", lab, true),
        ("dave", ops, false),
        ("olga", ops, true),
    ] {
        let user = admin
            .create_member(name, USER_PASSWORD, department, manages)
            .await;
        admin.update_member(user, json!({"may_deploy": true})).await;
    }
    let carol = app.sign_in("carol", USER_PASSWORD).await;
    let id = running(&carol, "notes").await;
    for stranger in ["dave", "olga"] {
        let client = app.sign_in(stranger, USER_PASSWORD).await;
        let (status, body) = ask(&client, id, json!({"size": "roomy"})).await;
        assert_eq!(status, 404, "{stranger}: {body}");
    }
    let bob = app.user_client("bob", Role::User).await;
    assert_eq!(ask(&bob, id, json!({"size": "roomy"})).await.0, 404);
    assert_eq!(
        app.api()
            .post(
                &format!("/api/v1/instances/{id}/resize"),
                json!({"size": "roomy"})
            )
            .await
            .0,
        401
    );
    assert_eq!(size_and_resizes(&app, id).await, ("tiny".into(), 0));

    let lena = app.sign_in("lena", USER_PASSWORD).await;
    let (status, body) = ask(&lena, id, json!({"size": "roomy"})).await;
    assert_eq!(status, 202, "{body}");
    let task = lena.wait_task(body["task_id"].as_i64().unwrap()).await;
    assert_eq!(task["state"], "succeeded", "{task}");
}
