//! Resizing through the REST API on fake hosts: the steps each kind of
//! resize takes (a reboot for memory and vCPUs, none for a disk alone, no
//! start for a stopped instance), the undo of a failed one, and a resize
//! cut off by a restart finished by the next start.

use app::model::{Power, StepState, TaskKind};
use serde_json::{Value, json};
use server::store::instances::{self, InstanceRow};
use server::store::tasks::{self, PriorSize};

use crate::common::{Accepted, Api, TestApp};

const GIB: u64 = 1 << 30;

async fn running(client: &Api, name: &str) -> i64 {
    let Accepted { id, task_id } = client.deployed(name).await;
    let task = client.wait_task(task_id).await;
    assert_eq!(task["state"], "succeeded", "{task}");
    client.wait_state(id, "running").await;
    id
}

async fn resize(client: &Api, id: i64, size: &str) -> Value {
    let (status, body) = client
        .post(
            &format!("/api/v1/instances/{id}/resize"),
            json!({ "size": size }),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["id"], id);
    client.wait_task(body["task_id"].as_i64().unwrap()).await
}

fn step_names(task: &Value) -> Vec<&str> {
    task["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect()
}

async fn row(app: &TestApp, id: i64) -> InstanceRow {
    app.appliance
        .store
        .read(move |c| instances::by_id(c, id))
        .await
        .unwrap()
        .unwrap()
}

/// The fake host's size of the instance's disk.
async fn disk_bytes(app: &TestApp, id: i64) -> u64 {
    let stem = row(app, id).await.volume_stem;
    app.fake_host()
        .volume_size(&app.storage_pool(), &format!("{stem}.qcow2"))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_instance_gets_its_new_memory_and_vcpus_through_a_reboot_and_a_larger_disk() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let admin = app.admin().await;
    let id = running(&admin, "grow").await;
    let uuid = app.instance_uuid(id).await;
    let host = app.fake_host();
    assert_eq!(disk_bytes(&app, id).await, GIB);

    let task = resize(&admin, id, "roomy").await;
    assert_eq!(task["state"], "succeeded", "{task}");
    assert_eq!(task["kind"], "resize");
    assert_eq!(task["progress"], 100);
    assert_eq!(
        step_names(&task),
        [
            "shut down for the new size",
            "apply the new size",
            "grow the disk",
            "start"
        ]
    );
    let inst = row(&app, id).await;
    assert_eq!(
        (
            inst.size.as_str(),
            inst.vcpus,
            inst.memory_mib,
            inst.disk_gib
        ),
        ("roomy", 2, 384, 2)
    );
    let xml = host.domain_xml(&uuid).unwrap();
    assert!(xml.contains(">384</memory>"), "{xml}");
    assert_eq!(disk_bytes(&app, id).await, 2 * GIB);
    assert_eq!(host.power(&uuid), Some(Power::Running));
    assert_eq!(host.calls("shutdown_domain"), 1, "a graceful shutdown");
    let (_, view) = admin.instance(id).await;
    assert_eq!(view["size"], "roomy", "{view}");

    let (_, audit) = admin.get("/api/v1/audit").await;
    let resized = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "instance.resize")
        .expect("the resize is audited");
    assert!(
        resized.to_string().contains("from tiny to roomy"),
        "{resized}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_larger_disk_alone_grows_while_the_guest_runs_with_its_file_system_and_no_reboot() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let admin = app.admin().await;
    let id = running(&admin, "wide").await;
    let uuid = app.instance_uuid(id).await;
    let host = app.fake_host();
    let task = resize(&admin, id, "roomy").await;
    assert_eq!(task["state"], "succeeded", "{task}");
    let (shutdowns, destroys) = (host.calls("shutdown_domain"), host.calls("destroy_domain"));
    let runs_before = host.guest_runs().len();

    let task = resize(&admin, id, "wide").await;
    assert_eq!(task["state"], "succeeded", "{task}");
    assert_eq!(
        step_names(&task),
        [
            "apply the new size",
            "grow the disk",
            "grow the file system"
        ]
    );
    assert_eq!(disk_bytes(&app, id).await, 3 * GIB);
    assert_eq!(host.calls("shutdown_domain"), shutdowns, "no reboot");
    assert_eq!(host.calls("destroy_domain"), destroys, "no reboot");
    assert_eq!(host.power(&uuid), Some(Power::Running));
    let runs = host.guest_runs();
    let (ran_in, argv, _) = runs.last().unwrap();
    assert_eq!(runs.len(), runs_before + 1);
    assert_eq!(ran_in, &uuid);
    assert_eq!(
        argv,
        &[
            "/bin/sh",
            "-c",
            "blockdev --getsize64 /dev/vda > /run/grown-to"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_instance_is_resized_without_being_started() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let admin = app.admin().await;
    let id = running(&admin, "cold").await;
    let uuid = app.instance_uuid(id).await;
    let (status, body) = admin.act(id, "poweroff").await;
    assert_eq!(status, 202, "{body}");
    admin.wait_task(body["task_id"].as_i64().unwrap()).await;
    admin.wait_state(id, "shut_off").await;

    let task = resize(&admin, id, "roomy").await;
    assert_eq!(task["state"], "succeeded", "{task}");
    assert_eq!(step_names(&task), ["apply the new size", "grow the disk"]);
    assert_eq!(app.fake_host().power(&uuid), Some(Power::ShutOff));
    assert_eq!(disk_bytes(&app, id).await, 2 * GIB);
    assert!(
        app.fake_host()
            .domain_xml(&uuid)
            .unwrap()
            .contains(">384</memory>")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resize_that_fails_is_undone_and_the_instance_runs_again_at_its_old_size() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let admin = app.admin().await;
    let id = running(&admin, "undo").await;
    let uuid = app.instance_uuid(id).await;
    let host = app.fake_host();
    host.fail_next("start_domain");

    let task = resize(&admin, id, "roomy").await;
    assert_eq!(task["state"], "failed", "{task}");
    for step in task["steps"].as_array().unwrap() {
        assert_eq!(step["state"], "undone", "{task}");
    }
    let inst = row(&app, id).await;
    assert_eq!(
        (
            inst.size.as_str(),
            inst.vcpus,
            inst.memory_mib,
            inst.disk_gib
        ),
        ("tiny", 1, 256, 1),
        "the old size is back in the record (and in the quota)"
    );
    let xml = host.domain_xml(&uuid).unwrap();
    assert!(xml.contains(">256</memory>"), "{xml}");
    assert_eq!(host.power(&uuid), Some(Power::Running), "running as before");
    // The disk grew before the start failed; a disk does not shrink.
    assert_eq!(disk_bytes(&app, id).await, 2 * GIB);
    let (_, view) = admin.instance(id).await;
    assert_eq!(view["error"], "the host failed a step (start_domain)");

    // Asked again, the resize goes through, finding the disk grown.
    let task = resize(&admin, id, "roomy").await;
    assert_eq!(task["state"], "succeeded", "{task}");
    assert_eq!(row(&app, id).await.memory_mib, 384);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resize_cut_off_by_a_restart_is_finished_by_the_next_start() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let admin = app.admin().await;
    let id = running(&admin, "cut").await;
    let uuid = app.instance_uuid(id).await;
    // As a crash while the new size was being applied leaves it: the
    // record at the new size, the guest shut down, that step running.
    app.fake_host().power_domain(&uuid, Power::ShutOff);
    let task_id = app
        .appliance
        .store
        .write(move |tx| {
            let inst = instances::by_id(tx, id)?.unwrap();
            let t = tasks::insert(
                tx,
                id,
                &inst.uuid,
                1,
                TaskKind::Resize,
                &[
                    "shut down for the new size",
                    "apply the new size",
                    "grow the disk",
                    "start",
                ],
                None,
            )?;
            tasks::set_resize_from(
                tx,
                t,
                &PriorSize {
                    name: "tiny".into(),
                    vcpus: 1,
                    memory_mib: 256,
                    disk_gib: 1,
                },
            )?;
            instances::set_size(tx, id, "roomy", 2, 384, 2)?;
            tasks::set_step(tx, t, 0, StepState::Done)?;
            tasks::set_step(tx, t, 1, StepState::Running)?;
            Ok(t)
        })
        .await
        .unwrap();
    let app = app.restart().await;
    let admin = app.admin().await;
    let task = admin.wait_task(task_id).await;
    assert_eq!(task["state"], "succeeded", "{task}");
    admin.wait_state(id, "running").await;
    let host = app.fake_host();
    assert!(host.domain_xml(&uuid).unwrap().contains(">384</memory>"));
    assert_eq!(disk_bytes(&app, id).await, 2 * GIB);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resizing_works_on_libvirts_test_driver_as_offered_to_users() {
    let app = TestApp::builder().set_up().start().await;
    let admin = app.admin().await;
    let id = running(&admin, "driver").await;
    let task = resize(&admin, id, "roomy").await;
    assert_eq!(task["state"], "succeeded", "{task}");
    // A larger disk alone, while it runs.
    let task = resize(&admin, id, "wide").await;
    assert_eq!(task["state"], "succeeded", "{task}");
    admin.wait_state(id, "running").await;
}
