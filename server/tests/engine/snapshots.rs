//! Snapshots through the REST API on fake hosts: taken, reverted and
//! deleted as tasks; the limit, a taken name, a full quota and a failed
//! snapshot refused or undone without loss; only those who may use the
//! instance reach them; and deleting the instance takes them along.

use app::model::Role;
use serde_json::{Value, json};

use crate::common::{Accepted, Api, TestApp, USER_PASSWORD};

async fn snapshots(client: &Api, instance: i64) -> Value {
    let (status, body) = client
        .get(&format!("/api/v1/instances/{instance}/snapshots"))
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Waits for the task a 202 answer started, which must succeed: the task.
async fn succeeded(client: &Api, (status, body): (u16, Value)) -> Value {
    assert_eq!(status, 202, "{body}");
    let task = client.wait_task(body["task_id"].as_i64().unwrap()).await;
    assert_eq!(task["state"], "succeeded", "{task}");
    task
}

/// Takes a snapshot and waits for its task: the snapshot's id.
async fn taken(client: &Api, instance: i64, name: &str) -> i64 {
    let answer = client
        .post(
            &format!("/api/v1/instances/{instance}/snapshots"),
            json!({"name": name, "description": "for the test"}),
        )
        .await;
    let id = answer.1["id"].as_i64().unwrap();
    let task = succeeded(client, answer).await;
    assert_eq!(task["kind"], "snapshot");
    id
}

async fn ready_instance(app: &TestApp, client: &Api, name: &str) -> (i64, String) {
    let Accepted { id, task_id } = client.deployed(name).await;
    let task = client.wait_task(task_id).await;
    assert_eq!(task["state"], "succeeded", "{task}");
    (id, app.instance_uuid(id).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_is_taken_reverted_to_and_deleted_as_tasks_on_the_host() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let admin = app.admin().await;
    let (id, uuid) = ready_instance(&app, &admin, "wiki").await;
    let host = app.fake_host();

    let snapshot = taken(&admin, id, "before upgrade").await;
    let list = snapshots(&admin, id).await;
    assert_eq!(list["limit"], 5);
    let first = &list["snapshots"][0];
    assert_eq!(first["id"], snapshot);
    assert_eq!(first["name"], "before upgrade");
    assert_eq!(first["description"], "for the test");
    assert_eq!(first["state"], "ready");
    assert_eq!(first["with_memory"], true, "it was taken running");
    // The fake host's disk grows by a MiB a snapshot.
    assert_eq!(first["size_bytes"], 1 << 20);
    assert_eq!(first["created_by"], "admin");
    assert_eq!(host.snapshot_names(&uuid), [format!("dpe-snap-{snapshot}")]);

    // Reverted while running: it runs again.
    let revert = format!("/api/v1/instances/{id}/snapshots/{snapshot}/revert");
    let task = succeeded(&admin, admin.post_empty(&revert).await).await;
    assert_eq!(task["kind"], "revert");
    assert_eq!(host.power(&uuid), Some(app::model::Power::Running));

    // Reverted while off: it stays off.
    succeeded(&admin, admin.act(id, "poweroff").await).await;
    succeeded(&admin, admin.post_empty(&revert).await).await;
    assert_eq!(host.power(&uuid), Some(app::model::Power::ShutOff));

    let delete = format!("/api/v1/instances/{id}/snapshots/{snapshot}");
    let task = succeeded(&admin, admin.delete(&delete).await).await;
    assert_eq!(task["kind"], "delete_snapshot");
    assert_eq!(snapshots(&admin, id).await["snapshots"], json!([]));
    assert!(host.snapshot_names(&uuid).is_empty());

    let (_, audit) = admin.get("/api/v1/audit").await;
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["action"].as_str())
        .collect();
    for action in [
        "instance.snapshot",
        "instance.revert",
        "instance.delete_snapshot",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limit_and_a_taken_name_are_refused_with_a_clear_error_and_lose_nothing() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let admin = app.admin().await;
    let (id, _) = ready_instance(&app, &admin, "wiki").await;
    taken(&admin, id, "one").await;

    let (status, body) = admin
        .post(
            &format!("/api/v1/instances/{id}/snapshots"),
            json!({"name": "one"}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["field"], "name");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("already has a snapshot named one"),
        "{body}"
    );
    let (status, body) = admin
        .post(
            &format!("/api/v1/instances/{id}/snapshots"),
            json!({"name": "x", "description": "bell\u{7}"}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["field"], "description");

    for name in ["two", "three", "four", "five"] {
        taken(&admin, id, name).await;
    }
    let (status, body) = admin
        .post(
            &format!("/api/v1/instances/{id}/snapshots"),
            json!({"name": "six"}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("5 snapshots"),
        "{body}"
    );
    let list = snapshots(&admin, id).await;
    assert_eq!(list["snapshots"].as_array().unwrap().len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_that_fails_on_the_host_leaves_none_behind() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let admin = app.admin().await;
    let (id, uuid) = ready_instance(&app, &admin, "wiki").await;
    app.fake_host().fail_next("create_snapshot");
    let (status, body) = admin
        .post(
            &format!("/api/v1/instances/{id}/snapshots"),
            json!({"name": "doomed"}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let task = admin.wait_task(body["task_id"].as_i64().unwrap()).await;
    assert_eq!(task["state"], "failed", "{task}");
    assert_eq!(snapshots(&admin, id).await["snapshots"], json!([]));
    assert!(app.fake_host().snapshot_names(&uuid).is_empty());
    // The instance itself is as it was, and the name is free again.
    let (_, inst) = admin.instance(id).await;
    assert_eq!(inst["state"], "running", "{inst}");
    assert_eq!(inst["error"], "the host failed a step (create_snapshot)");
    taken(&admin, id, "doomed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_those_who_may_use_the_instance_reach_its_snapshots() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let admin = app.admin().await;
    let (id, _) = ready_instance(&app, &admin, "admins").await;
    let snapshot = taken(&admin, id, "mine").await;
    let other = app.user_client("bob", Role::User).await;
    let paths = [
        ("GET", format!("/api/v1/instances/{id}/snapshots")),
        ("POST", format!("/api/v1/instances/{id}/snapshots")),
        (
            "POST",
            format!("/api/v1/instances/{id}/snapshots/{snapshot}/revert"),
        ),
        (
            "DELETE",
            format!("/api/v1/instances/{id}/snapshots/{snapshot}"),
        ),
    ];
    for (method, path) in paths {
        let body = (path.ends_with("/snapshots") && method == "POST").then(|| json!({"name": "x"}));
        let (status, answer) = other.call(method.parse().unwrap(), &path, body).await;
        assert_eq!(status, 404, "{method} {path}: {answer}");
    }
    let (status, _) = app
        .api()
        .get(&format!("/api/v1/instances/{id}/snapshots"))
        .await;
    assert_eq!(status, 401);
    // Another instance's snapshot is not this one's.
    let (other_id, _) = ready_instance(&app, &admin, "other").await;
    let (status, body) = admin
        .post_empty(&format!(
            "/api/v1/instances/{other_id}/snapshots/{snapshot}/revert"
        ))
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(
        snapshots(&admin, id).await["snapshots"][0]["state"],
        "ready"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_count_against_the_disk_quota_and_a_full_quota_refuses_one() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let admin = app.admin().await;
    let lab = admin.create_department("Lab", None).await;
    let user_id = admin
        .create_member("carol", USER_PASSWORD, lab, false)
        .await;
    admin
        .update_member(user_id, json!({"may_deploy": true}))
        .await;
    // Room for the tiny instance's 1 GiB disk and one snapshot's GiB.
    let (status, body) = admin
        .update_department(lab, json!({"quota": {"disk_gib": 2}}))
        .await;
    assert_eq!(status, 200, "{body}");
    let carol = app.sign_in("carol", USER_PASSWORD).await;
    let (id, _) = ready_instance(&app, &carol, "notes").await;
    taken(&carol, id, "first").await;
    // 1 GiB of disk and a MiB of snapshot take 2 GiB, rounded up.
    let (_, quotas) = carol.get("/api/v1/quotas").await;
    let used = quotas.to_string();
    assert!(used.contains("\"disk_gib\":2"), "{quotas}");
    let (status, body) = carol
        .post(
            &format!("/api/v1/instances/{id}/snapshots"),
            json!({"name": "second"}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "quota_exceeded", "{body}");
    assert_eq!(
        snapshots(&carol, id).await["snapshots"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_instance_takes_its_snapshots_along() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let admin = app.admin().await;
    let (id, uuid) = ready_instance(&app, &admin, "wiki").await;
    let snapshot = taken(&admin, id, "kept").await;
    succeeded(&admin, admin.delete_instance(id).await).await;
    assert!(app.fake_host().snapshot_names(&uuid).is_empty());
    let store = app.appliance.store.clone();
    let row = store
        .read(move |c| server::store::snapshots::by_id(c, snapshot))
        .await
        .unwrap();
    assert_eq!(row, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_work_on_libvirts_test_driver_as_offered_to_users() {
    let app = TestApp::builder().set_up().start().await;
    let admin = app.admin().await;
    let (id, _) = ready_instance(&app, &admin, "wiki").await;
    let snapshot = taken(&admin, id, "on the test driver").await;
    let revert = format!("/api/v1/instances/{id}/snapshots/{snapshot}/revert");
    succeeded(&admin, admin.post_empty(&revert).await).await;
    let delete = format!("/api/v1/instances/{id}/snapshots/{snapshot}");
    succeeded(&admin, admin.delete(&delete).await).await;
    assert_eq!(snapshots(&admin, id).await["snapshots"], json!([]));
    // An instance with a snapshot is deleted whole (libvirt's record of
    // the snapshot goes with its domain).
    taken(&admin, id, "left on it").await;
    succeeded(&admin, admin.delete_instance(id).await).await;
}
