//! The provisioning engine through the REST API: every step, rollback from
//! a failure at every step, lifecycle, busy instances, ownership, orphans,
//! placement, resume after a restart, and the outside zone (`zones.rs`).
//!
//! Each test app has in-memory hosts of its own (`common::fake_host`), so
//! the tests run in parallel and can make any host call fail. The whole
//! lifecycle also runs once on libvirt's test driver, the host that
//! `--allow-test-driver` offers to users.

// A test reports failure by panicking; its helpers may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod backups;
#[path = "../common/mod.rs"]
mod common;
mod drills;
mod golden;
mod leases;
mod moves;
mod notifications;
mod placement;
mod pool;
mod resize;
mod snapshots;
mod unreachable;
mod versions;
mod zones;

use app::model::{Role, StepState, TaskKind};
use common::fake_host::FOREIGN_DOMAIN_UUID;
use common::{Accepted, TestApp, started_task};
use serde_json::{Value, json};
use server::store::{instances, tasks};

/// What libvirt holds for an instance: (domain present, volumes).
async fn leftovers(app: &TestApp, uuid: &str) -> (bool, Vec<String>) {
    let engine = app.appliance.engine.clone();
    let host = engine.connect(1).await.unwrap();
    let uuid = uuid.to_owned();
    let pool = app.storage_pool();
    tokio::task::spawn_blocking(move || {
        let domain = host.domain_power(&uuid).unwrap().is_some();
        let volumes = host
            .list_volumes(&pool)
            .unwrap_or_default()
            .into_iter()
            .filter(|v| v.contains(&uuid))
            .collect();
        (domain, volumes)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_runs_every_step_then_the_lifecycle_and_delete_leave_nothing() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    deploy_lifecycle_and_delete(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_lifecycle_works_on_libvirts_test_driver_as_offered_to_users() {
    let app = TestApp::builder().set_up().start().await;
    deploy_lifecycle_and_delete(&app).await;
}

async fn deploy_lifecycle_and_delete(app: &TestApp) {
    let client = app.admin().await;

    let Accepted { id, task_id } = client.deployed("wiki-1").await;
    let task = client.wait_task(task_id).await;
    assert_eq!(task["state"], "succeeded", "{task}");
    assert_eq!(task["progress"], 100);
    let names: Vec<_> = task["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["place", "clone", "seed", "define", "start"]);
    for step in task["steps"].as_array().unwrap() {
        assert_eq!(step["state"], "done");
        assert!(
            step["started_at"].is_string() && step["finished_at"].is_string(),
            "{step}"
        );
    }

    let (_, inst) = client.instance(id).await;
    assert_eq!(inst["name"], "wiki-1");
    assert_eq!(inst["state"], "running", "{inst}");
    assert_eq!(inst["owner"], "admin");
    assert_eq!(inst["size"], "tiny");
    assert!(inst["host"].is_string());
    let uuid = app.instance_uuid(id).await;
    let (domain, volumes) = leftovers(app, &uuid).await;
    assert!(domain);
    assert_eq!(volumes.len(), 2, "overlay and seed: {volumes:?}");

    for (action, state) in [
        ("shutdown", "shut_off"),
        ("start", "running"),
        ("reboot", "running"),
        ("poweroff", "shut_off"),
    ] {
        let (status, started) = client.act(id, action).await;
        assert_eq!(status, 202, "{action}: {started}");
        let task = client.wait_task(started_task(&started)).await;
        assert_eq!(task["state"], "succeeded", "{action}: {task}");
        client.wait_state(id, state).await;
    }

    let (status, started) = client.delete_instance(id).await;
    assert_eq!(status, 202);
    let task = client.wait_task(started_task(&started)).await;
    assert_eq!(task["state"], "succeeded", "{task}");
    assert_eq!(client.instance(id).await.0, 404);
    assert_eq!(
        leftovers(app, &uuid).await,
        (false, vec![]),
        "nothing is left"
    );
    // A second delete is a clean 404.
    assert_eq!(client.delete_instance(id).await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_at_any_step_rolls_back_everything() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let client = app.admin().await;
    // The host call each step fails on, and what the failure then says.
    let failures = [
        ("place", "capacity", "", "no host has room"),
        ("clone", "create_overlay", "", "create_overlay"),
        ("seed", "upload_volume", "-seed.img", "upload_volume"),
        ("define", "define_domain", "", "define_domain"),
        ("start", "start_domain", "", "start_domain"),
    ];
    let host = app.fake_host();
    for (n, (step, call, on, says)) in failures.into_iter().enumerate() {
        host.fail_next_on(call, on);
        let Accepted { id, task_id: task } = client.deployed(&format!("fail-{n}")).await;
        let task = client.wait_task(task).await;
        assert_eq!(task["state"], "failed", "{step}: {task}");
        assert!(task["error"].as_str().unwrap().contains(says), "{task}");
        let steps = task["steps"].as_array().unwrap();
        for (i, s) in steps.iter().enumerate() {
            let want = if i <= n { "undone" } else { "pending" };
            assert_eq!(s["state"], want, "after a failure at {step}: {task}");
        }
        let (_, inst) = client.instance(id).await;
        assert_eq!(inst["state"], "failed");
        assert!(inst["error"].as_str().unwrap().contains(says));
        let uuid = app.instance_uuid(id).await;
        assert_eq!(
            leftovers(&app, &uuid).await,
            (false, vec![]),
            "failure at {step} left something"
        );

        // The failed instance can be deleted, and its name reused.
        client.remove(id).await;
    }
    let accepted = client.deployed("fail-0").await;
    let task = client.wait_task(accepted.task_id).await;
    assert_eq!(task["state"], "succeeded", "{task}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_with_the_field_and_nothing_is_kept() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let client = app.admin().await;
    let cases = [
        (json!({"name": "<b>x</b>", "size": "tiny"}), "name"),
        (json!({"name": "Wiki", "size": "tiny"}), "name"),
        (json!({"name": "wïki", "size": "tiny"}), "name"),
        (json!({"name": "a".repeat(64), "size": "tiny"}), "name"),
        (json!({"name": "ok", "size": "gigantic"}), "size"),
        (
            json!({"name": "ok", "size": "tiny", "params": {"title": "x", "color": "red"}}),
            "params.color",
        ),
        (
            json!({"name": "ok", "size": "tiny", "params": {}}),
            "params.title",
        ),
        (
            json!({"name": "ok", "size": "tiny", "params": {"title": "x".repeat(65)}}),
            "params.title",
        ),
        (
            json!({"name": "ok", "size": "tiny", "params": {"title": "x", "admin_password": "password"}}),
            "params.admin_password",
        ),
        (
            json!({"name": "ok", "size": "tiny", "params": {"title": "x"}, "network": "nope"}),
            "network",
        ),
    ];
    for (body, field) in cases {
        let (status, err) = client.deploy_with(body.clone()).await;
        assert_eq!(
            (status, err["field"].as_str()),
            (422, Some(field)),
            "{body}: {err}"
        );
    }
    let (status, _) = client
        .deploy_with(json!({"name": "ok", "size": "tiny", "cpus": -1}))
        .await;
    assert_eq!(status, 422, "unknown fields");
    let (status, _) = client.deploy_with(json!({"name": "ok", "size": 5})).await;
    assert_eq!(status, 422, "wrong types");
    let (_, list) = client.instances().await;
    assert_eq!(list, json!([]), "nothing was created");

    assert_eq!(client.deploy("taken").await.0, 202);
    let (status, err) = client.deploy("taken").await;
    assert_eq!(
        (status, err["error"].as_str()),
        (409, Some("conflict")),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_busy_with_a_task_refuses_another() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let client = app.admin().await;
    let Accepted { id, task_id } = client.deployed("busy").await;
    client.wait_task(task_id).await;

    // A task in flight (as after a second click, or another tab).
    let uuid = app.instance_uuid(id).await;
    let blocker = app
        .appliance
        .store
        .write(move |tx| tasks::insert(tx, id, &uuid, 1, TaskKind::Reboot, &["reboot"], None))
        .await
        .unwrap();
    for action in ["start", "shutdown", "reboot", "poweroff"] {
        let (status, err) = client.act(id, action).await;
        assert_eq!(status, 409, "{action}: {err}");
        assert!(err["message"].as_str().unwrap().contains("busy"), "{err}");
    }
    assert_eq!(client.delete_instance(id).await.0, 409);
    // The store itself refuses a second running task, whatever the caller.
    let uuid = app.instance_uuid(id).await;
    let second = app
        .appliance
        .store
        .write(move |tx| tasks::insert(tx, id, &uuid, 1, TaskKind::Start, &["start"], None))
        .await;
    assert!(second.is_err());
    app.appliance
        .store
        .write(move |tx| tasks::finish(tx, blocker, None))
        .await
        .unwrap();
    assert_eq!(client.act(id, "reboot").await.0, 202);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_see_and_act_on_their_own_instances_only() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let admin = app.admin().await;
    let bob = app.user_client("bob", Role::User).await;
    let eve = app.user_client("eve", Role::User).await;

    // Bob and Eve are in no department: the default quota lets them deploy.
    let (status, _) = admin
        .put("/api/v1/quotas/default", json!({"instances": 10}))
        .await;
    assert_eq!(status, 200);
    let Accepted { id, task_id } = bob.deployed("bobs").await;
    bob.wait_task(task_id).await;

    assert_eq!(eve.instance(id).await.0, 404);
    assert_eq!(eve.task(task_id).await.0, 404);
    assert_eq!(eve.act(id, "poweroff").await.0, 404);
    assert_eq!(eve.delete_instance(id).await.0, 404);
    let (_, list) = eve.instances().await;
    assert_eq!(list, json!([]));
    let (_, list) = admin.instances().await;
    assert_eq!(list.as_array().unwrap().len(), 1, "admins see all");
    assert_eq!(bob.instance(id).await.0, 200);

    // Hosts are for admins only.
    assert_eq!(bob.get("/api/v1/hosts").await.0, 403);
    let (status, hosts) = admin.get("/api/v1/hosts").await;
    assert_eq!(status, 200);
    assert_eq!(hosts[0]["probe"]["connected"], true);
    // A host with instances cannot be removed.
    let host_id = hosts[0]["id"].as_i64().unwrap();
    assert_eq!(
        admin.delete(&format!("/api/v1/hosts/{host_id}")).await.0,
        409
    );
    let (status, err) = admin
        .post(
            "/api/v1/hosts",
            json!({"uri": "qemu+tcp://127.0.0.1:1/system", "storage_dir": "/srv", "network": "default"}),
        )
        .await;
    assert_eq!((status, err["field"].as_str()), (422, Some("uri")), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_room_fails_the_deploy_at_placement() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let client = app.admin().await;
    let (_, accepted) = client
        .deploy_with(json!({"name": "big", "size": "huge", "params": {"title": "t"}}))
        .await;
    let task = client.wait_task(started_task(&accepted)).await;
    assert_eq!(task["state"], "failed");
    assert!(
        task["error"].as_str().unwrap().contains("no host has room"),
        "{task}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reconciler_removes_orphans_and_never_touches_foreign_domains() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let engine = app.appliance.engine.clone();
    let host = engine.connect(1).await.unwrap();
    let orphan_uuid = "0b7e4f8e-8d52-4a36-9c1e-5b2a1f0c9d11";
    let xml = format!(
        "<domain type='test'><name>dpe-orphan</name><uuid>{orphan_uuid}</uuid>\
         <metadata><dpe:instance xmlns:dpe='{ns}'><dpe:appliance>{appliance}</dpe:appliance><dpe:id>{orphan_uuid}</dpe:id><dpe:owner>x</dpe:owner></dpe:instance></metadata>\
         <memory unit='MiB'>64</memory><os><type>hvm</type></os></domain>",
        ns = server::engine::xml::domain::DPE_NS,
        appliance = engine.appliance_id(),
    );
    // Another appliance's domain on the same host is foreign too.
    let neighbour_uuid = "5c0ffee0-8d52-4a36-9c1e-5b2a1f0c9d22";
    let neighbour = format!(
        "<domain type='test'><name>dpe-neighbour</name><uuid>{neighbour_uuid}</uuid>\
         <metadata><dpe:instance xmlns:dpe='{ns}'><dpe:appliance>another</dpe:appliance><dpe:id>{neighbour_uuid}</dpe:id><dpe:owner>x</dpe:owner></dpe:instance></metadata>\
         <memory unit='MiB'>64</memory><os><type>hvm</type></os></domain>",
        ns = server::engine::xml::domain::DPE_NS,
    );
    let h = host.clone();
    let orphan_stem = app.volume_stem(orphan_uuid);
    let (pool, pool2) = (app.storage_pool(), app.storage_pool());
    let storage = app.data_path().join("storage").display().to_string();
    tokio::task::spawn_blocking(move || {
        h.define_domain(&xml).unwrap();
        h.define_domain(&neighbour).unwrap();
        h.ensure_pool(&pool, &storage).unwrap();
        // Ours, and two that are not: one from a version that named
        // volumes without the appliance's id, one of another appliance.
        for name in [
            format!("{orphan_stem}.qcow2"),
            format!("dpe-{neighbour_uuid}.qcow2"),
            format!("dpe-0123456789ab-{neighbour_uuid}.qcow2"),
        ] {
            h.upload_volume(&pool, &name, "qcow2", &mut std::io::empty(), 0)
                .unwrap();
        }
    })
    .await
    .unwrap();
    engine.reconcile_once().await.unwrap();
    let h = host.clone();
    let (orphan, foreign, volumes) = tokio::task::spawn_blocking(move || {
        (
            h.domain_power(orphan_uuid).unwrap(),
            h.dpe_domains().unwrap(),
            h.list_volumes(&pool2).unwrap(),
        )
    })
    .await
    .unwrap();
    assert_eq!(orphan, None, "the orphan domain is gone");
    assert!(
        !volumes.iter().any(|v| v.contains(orphan_uuid)),
        "{volumes:?}"
    );
    assert_eq!(
        volumes
            .iter()
            .filter(|v| v.contains(neighbour_uuid))
            .count(),
        2,
        "volumes this appliance did not name stay: {volumes:?}"
    );
    assert!(foreign.iter().all(|d| d.instance_uuid != orphan_uuid));
    let cleaned = engine.cleaned_orphans();
    assert!(
        cleaned.iter().any(|c| c.contains("dpe-orphan")),
        "{cleaned:?}"
    );
    // The host's own domain "test" carries no dpe metadata: untouched.
    let h = host.clone();
    let (foreign, neighbour) = tokio::task::spawn_blocking(move || {
        let foreign = h.domain_power(FOREIGN_DOMAIN_UUID).unwrap().is_some();
        let there = h.domain_power(neighbour_uuid).unwrap().is_some();
        h.undefine_domain(neighbour_uuid).unwrap();
        (foreign, there)
    })
    .await
    .unwrap();
    assert!(foreign, "a domain without dpe metadata is left alone");
    assert!(neighbour, "another appliance's domain is left alone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_cut_off_by_a_restart_is_resumed() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    // The rows a deploy writes before its first step, with no process to run it.
    let (id, task_id) = app
        .appliance
        .store
        .write(|tx| {
            let id = instances::insert(
                tx,
                &crate::common::tiny_instance(
                    "6a1f2c3d-0000-4000-8000-00000000beef",
                    "resumed",
                    "52:54:00:00:be:ef",
                    "dpe-6a1f2c3d-0000-4000-8000-00000000beef",
                ),
            )?;
            let t = tasks::insert(
                tx,
                id,
                "6a1f2c3d-0000-4000-8000-00000000beef",
                1,
                TaskKind::Deploy,
                &["place", "clone", "seed", "define", "start"],
                Some("#cloud-config\n"),
            )?;
            instances::set_host(tx, id, Some(1))?;
            tasks::set_step(tx, t, 0, StepState::Done)?;
            tasks::set_step(tx, t, 1, StepState::Running)?;
            Ok((id, t))
        })
        .await
        .unwrap();
    let app = app.restart().await;
    let client = app.admin().await;
    let task = client.wait_task(task_id).await;
    assert_eq!(task["state"], "succeeded", "{task}");
    client.wait_state(id, "running").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tasks_event_stream_shows_it_running_and_ends_with_its_end() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let client = app.admin().await;
    let (status, _) = client.get("/api/v1/tasks/999999/events").await;
    assert_eq!(status, 404, "an unknown task fails before any stream");

    let Accepted { id, task_id } = client.deployed("feed-1").await;
    let response = client
        .http()
        .get(client.url(&format!("/api/v1/tasks/{task_id}/events")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // The stream closes once the task has ended, so its whole body arrives.
    let body = response.text().await.unwrap();
    let views: Vec<Value> = body
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .map(|data| serde_json::from_str(data).unwrap())
        .collect();
    let (last, before) = views.split_last().expect("at least one event");
    assert_eq!(last["state"], "succeeded", "{body}");
    assert_eq!(last["id"], task_id);
    assert!(before.iter().all(|v| v["state"] == "running"), "{body}");
    assert!(
        body.lines()
            .filter(|line| line.starts_with("event:"))
            .all(|line| line == "event: task"),
        "{body}"
    );
    client.remove(id).await;
}
