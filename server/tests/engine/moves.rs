//! Moving instances between hosts, and draining a host, on fake hosts:
//! the task's steps, what each host holds after, refusals, a failed
//! migration undone, a move cut off by a restart finished with exactly one
//! copy, and a drain that empties a host one instance at a time. The real
//! migration between two libvirtds is in `tests/hosts.rs`.

use std::time::Duration;

use app::model::{Power, Role, StepState, TaskKind};
use serde_json::{Value, json};
use server::engine::hypervisor::Hypervisor as _;
use server::store::{instances, tasks};

use super::common::{Accepted, Api, TestApp};

/// The reconciler looks every 100 ms; a drain pass follows each look.
const SOON: Duration = Duration::from_secs(15);
const SECOND: &str = "test:///second";

async fn app_with_two_hosts() -> (TestApp, Api, i64) {
    let app = TestApp::builder()
        .fake_hosts()
        .reconcile_every(Duration::from_millis(100))
        .set_up()
        .start()
        .await;
    let admin = app.admin().await;
    let (second, _) = app.add_fake_host("second", SECOND).await;
    (app, admin, second)
}

/// Deploys `name`, waits until it runs: its id and host name.
async fn running(admin: &Api, name: &str) -> (i64, String) {
    let Accepted { id, task_id } = admin.deployed(name).await;
    assert_eq!(admin.wait_task(task_id).await["state"], "succeeded");
    let inst = admin.wait_state(id, "running").await;
    (id, inst["host"].as_str().unwrap().to_owned())
}

async fn move_to(admin: &Api, id: i64, host: i64) -> (u16, Value) {
    admin
        .post(
            &format!("/api/v1/instances/{id}/move"),
            json!({ "host": host }),
        )
        .await
}

/// The names of the instance's volumes on a fake host.
fn volumes_of(host: &common::fake_host::FakeHost, pool: &str, stem: &str) -> Vec<String> {
    host.volume_names(pool)
        .into_iter()
        .filter(|v| v.starts_with(stem))
        .collect()
}

use super::common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_instance_moves_live_to_another_host_and_the_old_host_keeps_nothing_of_it() {
    let (app, admin, second) = app_with_two_hosts().await;
    // Two hosts of one size: the first deploy goes to the older one.
    let (id, host) = running(&admin, "mover").await;
    assert_eq!(host, "vm");
    let uuid = app.instance_uuid(id).await;
    let stem = app.volume_stem(&uuid);
    let pool = app.storage_pool();
    let first = app.fake_host();
    let there = app.fake_host_at(SECOND);

    let (status, started) = move_to(&admin, id, second).await;
    assert_eq!(status, 202, "{started}");
    let task = admin.wait_task(started["task_id"].as_i64().unwrap()).await;
    assert_eq!(task["state"], "succeeded", "{task}");
    assert_eq!(task["kind"], "move");
    let steps: Vec<&str> = task["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "prepare the new host",
            "move the guest",
            "remove the old copy"
        ]
    );

    let inst = admin.wait_state(id, "running").await;
    assert_eq!(inst["host"], "second", "{inst}");
    assert_eq!(there.power(&uuid), Some(Power::Running));
    assert_eq!(first.power(&uuid), None, "the old host keeps no domain");
    assert!(
        volumes_of(&first, &pool, &stem).is_empty(),
        "nor volumes: {:?}",
        volumes_of(&first, &pool, &stem)
    );
    let mut moved = volumes_of(&there, &pool, &stem);
    moved.sort();
    assert_eq!(
        moved,
        [format!("{stem}-seed.img"), format!("{stem}.qcow2")],
        "the new host has its disk and seed"
    );
    let xml = there.domain_xml(&uuid).unwrap();
    assert!(
        xml.contains("/srv/dpe-second/"),
        "its definition there names that host's volumes: {xml}"
    );
    let (_, audit) = admin.get("/api/v1/audit?action=instance.move").await;
    assert!(audit.to_string().contains("to host second"), "{audit}");
    let (_, hosts) = admin.get("/api/v1/hosts").await;
    assert_eq!(hosts[0]["instances"], 0, "{hosts}");
    assert_eq!(hosts[1]["instances"], 1, "{hosts}");

    // A stopped instance moves stopped, and back.
    let (status, _) = admin.act(id, "poweroff").await;
    assert_eq!(status, 202);
    admin.wait_state(id, "shut_off").await;
    let (status, started) = move_to(&admin, id, 1).await;
    assert_eq!(status, 202, "{started}");
    let task = admin.wait_task(started["task_id"].as_i64().unwrap()).await;
    assert_eq!(task["state"], "succeeded", "{task}");
    let inst = admin.wait_state(id, "shut_off").await;
    assert_eq!(inst["host"], "vm", "{inst}");
    assert_eq!(first.power(&uuid), Some(Power::ShutOff));
    assert_eq!(there.power(&uuid), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_that_cannot_be_done_is_refused_saying_why_and_changes_nothing() {
    let (app, admin, second) = app_with_two_hosts().await;
    let (id, _) = running(&admin, "stays").await;

    let (status, err) = move_to(&admin, id, 1).await;
    assert_eq!(
        (status, err["field"].as_str()),
        (422, Some("host")),
        "{err}"
    );
    assert!(
        err["message"].as_str().unwrap().contains("already on vm"),
        "{err}"
    );
    let (status, err) = move_to(&admin, id, 999).await;
    assert_eq!(
        (status, err["field"].as_str()),
        (422, Some("host")),
        "{err}"
    );
    let (status, _) = admin
        .post(
            &format!("/api/v1/instances/{id}/move"),
            json!({ "host": second, "live": true }),
        )
        .await;
    assert_eq!(status, 422, "unknown fields are refused");
    assert_eq!(move_to(&admin, 424_242, second).await.0, 404);

    // Only the appliance's admins move instances.
    let bob = app.user_client("bob", Role::User).await;
    assert_eq!(move_to(&bob, id, second).await.0, 403);

    // Snapshots cannot move.
    let (status, taken) = admin
        .post(
            &format!("/api/v1/instances/{id}/snapshots"),
            json!({"name": "before", "description": ""}),
        )
        .await;
    assert_eq!(status, 202, "{taken}");
    assert_eq!(
        admin.wait_task(taken["task_id"].as_i64().unwrap()).await["state"],
        "succeeded"
    );
    let (status, err) = move_to(&admin, id, second).await;
    assert_eq!(status, 409, "{err}");
    assert!(
        err["message"].as_str().unwrap().contains("1 snapshots"),
        "{err}"
    );

    // A host being drained takes nothing.
    let (status, host) = admin
        .post_empty(&format!("/api/v1/hosts/{second}/drain"))
        .await;
    assert_eq!(
        (status, host["mode"].as_str()),
        (200, Some("draining")),
        "{host}"
    );
    let (status, err) = move_to(&admin, id, second).await;
    assert_eq!(status, 409, "{err}");
    assert!(
        err["message"].as_str().unwrap().contains("being drained"),
        "{err}"
    );

    let (_, inst) = admin.instance(id).await;
    assert_eq!(inst["host"], "vm", "nothing moved: {inst}");
    let uuid = app.instance_uuid(id).await;
    assert_eq!(app.fake_host_at(SECOND).power(&uuid), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_migration_leaves_the_instance_running_where_it_was_and_the_new_host_clean() {
    let (app, admin, second) = app_with_two_hosts().await;
    let (id, _) = running(&admin, "unlucky").await;
    let uuid = app.instance_uuid(id).await;
    let stem = app.volume_stem(&uuid);
    let first = app.fake_host();
    let there = app.fake_host_at(SECOND);
    first.fail_next("migrate");

    let (status, started) = move_to(&admin, id, second).await;
    assert_eq!(status, 202, "{started}");
    let task = admin.wait_task(started["task_id"].as_i64().unwrap()).await;
    assert_eq!(task["state"], "failed", "{task}");
    assert_eq!(task["steps"][0]["state"], "undone", "{task}");
    let (_, inst) = admin.instance(id).await;
    assert_eq!(
        (inst["host"].as_str(), inst["state"].as_str()),
        (Some("vm"), Some("running")),
        "{inst}"
    );
    assert_eq!(first.power(&uuid), Some(Power::Running));
    assert_eq!(there.power(&uuid), None);
    assert!(volumes_of(&there, &app.storage_pool(), &stem).is_empty());

    // Tried again, it moves.
    let (_, started) = move_to(&admin, id, second).await;
    let task = admin.wait_task(started["task_id"].as_i64().unwrap()).await;
    assert_eq!(task["state"], "succeeded", "{task}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_cut_off_by_a_restart_ends_with_exactly_one_copy_and_the_store_saying_where() {
    let (app, admin, second) = app_with_two_hosts().await;
    let (id, _) = running(&admin, "cut").await;
    let uuid = app.instance_uuid(id).await;
    let first = app.fake_host();
    let there = app.fake_host_at(SECOND);

    // As a crash mid-move leaves it: the new host prepared and holding an
    // unfinished incoming copy (paused), the old one still running it,
    // the task's move step running.
    let xml = first.domain_xml(&uuid).unwrap();
    there.define_domain(&xml).unwrap();
    there.power_domain(&uuid, Power::Paused);
    let task_id = app
        .appliance
        .store
        .write(move |tx| {
            let t = tasks::insert(
                tx,
                id,
                &instances::by_id(tx, id)?.unwrap().uuid,
                1,
                TaskKind::Move,
                &[
                    "prepare the new host",
                    "move the guest",
                    "remove the old copy",
                ],
                None,
            )?;
            tasks::set_move(tx, t, 1, second)?;
            tasks::set_step(tx, t, 0, StepState::Running)?;
            Ok(t)
        })
        .await
        .unwrap();
    let app = app.restart().await;
    let admin = app.admin().await;
    let task = admin.wait_task(task_id).await;
    assert_eq!(task["state"], "succeeded", "{task}");
    let inst = admin.wait_state(id, "running").await;
    assert_eq!(inst["host"], "second", "{inst}");
    assert_eq!(there.power(&uuid), Some(Power::Running), "one copy, there");
    assert_eq!(first.power(&uuid), None, "none here");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draining_a_host_moves_its_instances_away_one_at_a_time_and_resuming_lets_it_take_new_ones()
{
    let (app, admin, second) = app_with_two_hosts().await;
    // Spread by free memory: one on each host, then the third on the first.
    let mut ids = Vec::new();
    for name in ["d-1", "d-2", "d-3"] {
        ids.push(running(&admin, name).await.0);
    }
    let on = |inst: &Value| inst["host"].as_str().unwrap().to_owned();
    let mut before = Vec::new();
    for id in &ids {
        before.push(on(&admin.instance(*id).await.1));
    }
    assert_eq!(before, ["vm", "second", "vm"]);

    let (status, host) = admin.post_empty("/api/v1/hosts/1/drain").await;
    assert_eq!(
        (status, host["mode"].as_str()),
        (200, Some("draining")),
        "{host}"
    );
    let hosts = admin
        .poll("/api/v1/hosts", SOON, |hosts| hosts[0]["instances"] == 0)
        .await;
    assert_eq!(
        (&hosts[1]["id"], &hosts[1]["instances"]),
        (&json!(second), &json!(3)),
        "{hosts}"
    );
    for id in &ids {
        let inst = admin.wait_state(*id, "running").await;
        assert_eq!(on(&inst), "second", "{inst}");
    }
    // Two moves, one at a time: the second began after the first ended.
    let spans: Vec<(i64, Option<i64>)> = app
        .appliance
        .store
        .read(|c| {
            let mut stmt = c.prepare(
                "SELECT created_ms, finished_ms FROM tasks WHERE kind = 'move' ORDER BY id",
            )?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
        .unwrap();
    assert_eq!(spans.len(), 2, "{spans:?}");
    assert!(spans[0].1.is_some_and(|end| end <= spans[1].0), "{spans:?}");

    // A drained host takes no deploy; resumed, it does again.
    let (id, host) = running(&admin, "d-4").await;
    assert_eq!(host, "second", "deploy {id} avoided the drained host");
    let (status, host) = admin.post_empty("/api/v1/hosts/1/resume").await;
    assert_eq!(
        (status, host["mode"].as_str()),
        (200, Some("active")),
        "{host}"
    );
    let (_, host) = running(&admin, "d-5").await;
    assert_eq!(host, "vm");
    let (_, audit) = admin.get("/api/v1/audit?action=host.drain").await;
    assert!(audit.to_string().contains("host vm"), "{audit}");
    assert_eq!(admin.post_empty("/api/v1/hosts/77/drain").await.0, 404);
    let _ = app;
}
