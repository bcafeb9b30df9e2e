//! The warm pool: members booted ahead of time, claimed by deploys exactly
//! once, personalized through the guest agent, falling back to a cold
//! deploy when a claim fails or is cut off, and recycled on a new image.

use std::collections::HashSet;
use std::time::Duration;

use app::model::{StepState, TaskKind};
use serde_json::{Value, json};
use server::engine::hypervisor::Hypervisor;
use server::store::{instances, pool, tasks};

use super::common::{Accepted, Api, TestApp};

/// A set-up app on fake hosts with the warm test stack, and its admin.
async fn warm_app() -> (TestApp, Api) {
    let app = TestApp::builder()
        .warm_stack()
        .fake_hosts()
        .set_up()
        .start()
        .await;
    let admin = app.admin().await;
    (app, admin)
}

/// The same, once the default member (one `tiny`) is ready.
async fn warm_app_with_a_ready_member() -> (TestApp, Api) {
    let (app, admin) = warm_app().await;
    pool_when(&admin, |p| count(p, "ready") == 1).await;
    (app, admin)
}

/// The pool once `done` holds for it.
async fn pool_when(client: &Api, done: impl Fn(&Value) -> bool) -> Value {
    client
        .patient(Duration::from_secs(60))
        .poll("/api/v1/pool", Duration::from_secs(60), done)
        .await
}

fn count(pool: &Value, state: &str) -> usize {
    pool["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["state"] == state)
        .count()
}

fn step_names(task: &Value) -> Vec<String> {
    task["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect()
}

fn step_states(task: &Value) -> Vec<String> {
    task["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap().to_owned())
        .collect()
}

/// The UUIDs of the ready members.
async fn ready_uuids(app: &TestApp) -> HashSet<String> {
    app.appliance
        .store
        .read(pool::list)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.state == app::model::PoolState::Ready)
        .map(|m| m.uuid)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_is_seen_and_sized_by_appliance_admins_only_with_clear_errors() {
    let (app, admin) = warm_app().await;
    let (status, body) = admin.get("/api/v1/pool").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["targets"],
        json!({"tiny": 1, "micro": 0, "huge": 0}),
        "the default"
    );
    assert_eq!(body["supported"], true);
    assert_eq!(body["emulated"], false, "the fake hosts are not emulated");

    let (status, body) = admin
        .put("/api/v1/pool", json!({"targets": {"giant": 1}}))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["field"], "targets.giant");
    let (status, body) = admin
        .put("/api/v1/pool", json!({"targets": {"tiny": 17}}))
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (422, Some("targets.tiny"))
    );
    let (status, body) = admin
        .put(
            "/api/v1/pool",
            json!({"targets": {"tiny": 1}, "extra": true}),
        )
        .await;
    assert_eq!(status, 422, "unknown fields are refused: {body}");
    let (_, body) = admin.get("/api/v1/pool").await;
    assert_eq!(body["targets"]["tiny"], 1, "nothing was kept: {body}");

    let (status, body) = admin.put("/api/v1/pool", json!({"targets": {}})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["targets"], json!({"tiny": 0, "micro": 0, "huge": 0}));

    let user = app.user_client("ann", app::model::Role::User).await;
    assert_eq!(user.get("/api/v1/pool").await.0, 403);
    assert_eq!(
        user.put("/api/v1/pool", json!({"targets": {"tiny": 1}}))
            .await
            .0,
        403
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stack_that_cannot_be_personalized_has_no_pool() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let admin = app.admin().await;
    let (_, body) = admin.get("/api/v1/pool").await;
    assert_eq!(body["supported"], false);
    assert_eq!(
        body["targets"],
        json!({"tiny": 0, "roomy": 0, "wide": 0, "huge": 0})
    );
    let (status, body) = admin
        .put("/api/v1/pool", json!({"targets": {"tiny": 1}}))
        .await;
    assert_eq!(status, 409, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_deploy_personalizes_a_ready_member_through_the_guest_agent() {
    let (app, admin) = warm_app_with_a_ready_member().await;
    let members = ready_uuids(&app).await;
    let host = app.fake_host();
    let (status, body) = admin
        .deploy_with(json!({"name": "warm-1", "size": "tiny",
            "params": {"title": "Warm wiki", "admin_password": "correct horse battery staple"}}))
        .await;
    assert_eq!(status, 202, "{body}");
    let Accepted { id, task_id } = Accepted::of(&body);
    let task = admin.wait_task(task_id).await;
    assert_eq!(task["state"], "succeeded", "{task}");
    assert_eq!(step_names(&task), ["personalize"]);
    let uuid = app.instance_uuid(id).await;
    assert!(
        members.contains(&uuid),
        "the instance is the member's guest"
    );

    // The values went in on the agent's standard input, as JSON, with the
    // password only as a bcrypt hash.
    let runs = host.guest_runs();
    let (_, argv, stdin) = runs
        .iter()
        .find(|(u, argv, _)| *u == uuid && argv[0] == "/usr/local/sbin/dpe-personalize")
        .expect("the personalize command ran in the member");
    assert_eq!(argv.len(), 1, "no values on the command line: {argv:?}");
    let input: Value = serde_json::from_str(stdin).unwrap();
    assert_eq!(input["title"], "Warm wiki");
    assert_eq!(input["hostname"], "warm-1");
    assert!(
        input["admin_password_hash"]
            .as_str()
            .unwrap()
            .starts_with("$2y$")
    );
    assert!(!stdin.contains("correct horse"), "{stdin}");
    assert_eq!(host.title(&uuid).as_deref(), Some("warm-1"));

    let (_, inst) = admin.instance(id).await;
    assert_eq!(inst["state"], "running", "{inst}");
    // The member is the instance's now, and the pool boots another.
    let after = pool_when(&admin, |p| count(p, "ready") == 1).await;
    assert_eq!(count(&after, "claiming"), 0, "{after}");
    assert!(!ready_uuids(&app).await.contains(&uuid));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_deploys_claim_three_ready_members_once_each_and_the_rest_go_cold() {
    // On libvirt's test driver, as offered to users. A slow reconciler:
    // no member is refilled while the deploys are admitted.
    let app = TestApp::builder()
        .warm_stack()
        .reconcile_every(Duration::from_secs(2))
        .set_up()
        .start()
        .await;
    let admin = app.admin().await;
    let (status, body) = admin
        .put("/api/v1/pool", json!({"targets": {"micro": 3}}))
        .await;
    assert_eq!(status, 200, "{body}");
    pool_when(&admin, |p| {
        count(p, "ready") == 3 && p["members"].as_array().unwrap().len() == 3
    })
    .await;
    let members = ready_uuids(&app).await;

    let deploys = (0..20).map(|n| {
        let admin = admin.clone();
        async move {
            let (status, body) = admin
                .deploy_with(json!({"name": format!("burst-{n}"), "size": "micro",
                    "params": {"title": "Burst"}}))
                .await;
            assert_eq!(status, 202, "{body}");
            Accepted::of(&body)
        }
    });
    let accepted = futures::future::join_all(deploys).await;
    let mut warm = Vec::new();
    for Accepted { id, task_id } in accepted {
        let task = admin.wait_task(task_id).await;
        assert_eq!(task["state"], "succeeded", "{task}");
        match step_names(&task).as_slice() {
            [one] if one == "personalize" => warm.push(app.instance_uuid(id).await),
            cold => assert_eq!(cold, ["place", "clone", "seed", "define", "start"]),
        }
    }
    assert_eq!(
        warm.len(),
        3,
        "exactly the three ready members were claimed"
    );
    let distinct: HashSet<_> = warm.iter().cloned().collect();
    assert_eq!(distinct, members, "each member went to one deploy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_that_fails_destroys_the_member_and_the_deploy_goes_on_cold() {
    let (app, admin) = warm_app_with_a_ready_member().await;
    let host = app.fake_host();
    let member = ready_uuids(&app).await.into_iter().next().unwrap();
    host.fail_next_on("guest_exec", &member);
    let Accepted { id, task_id } = admin.deployed("fallback").await;
    let task = admin.wait_task(task_id).await;
    assert_eq!(
        task["state"], "succeeded",
        "the user sees one deploy: {task}"
    );
    assert_eq!(
        step_names(&task),
        ["personalize", "place", "clone", "seed", "define", "start"]
    );
    assert_eq!(
        step_states(&task),
        ["undone", "done", "done", "done", "done", "done"]
    );
    let (_, inst) = admin.instance(id).await;
    assert_eq!(inst["state"], "running", "{inst}");
    assert!(
        host.calls("undefine_domain") >= 1,
        "the member's guest was destroyed first"
    );
    let after = admin.get("/api/v1/pool").await.1;
    assert_eq!(count(&after, "claiming"), 0, "{after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_cut_off_by_a_kill_is_undone_after_restart_and_the_deploy_goes_on_cold() {
    let (app, admin) = warm_app().await;
    admin
        .put("/api/v1/pool", json!({"targets": {"tiny": 1}}))
        .await;
    pool_when(&admin, |p| count(p, "ready") == 1).await;
    // What admission writes for a warm deploy, with its one step cut off
    // while it ran, and no process left to finish it.
    let (id, task_id, member_uuid) = app
        .appliance
        .store
        .write(|tx| {
            let m = pool::oldest_ready(tx, "tiny")?.expect("a ready member");
            let id = instances::insert(
                tx,
                &instances::NewInstance {
                    network: &m.network,
                    ..crate::common::tiny_instance(&m.uuid, "cut-off", &m.mac, &m.volume_stem)
                },
            )?;
            let t = tasks::insert(
                tx,
                id,
                &m.uuid,
                1,
                TaskKind::Deploy,
                &["personalize"],
                Some("#cloud-config\n"),
            )?;
            assert!(pool::mark_claimed(tx, m.id, id)?);
            instances::set_host(tx, id, Some(m.host_id))?;
            tasks::set_personalize(tx, t, r#"{"title":"x"}"#)?;
            tasks::set_step(tx, t, 0, StepState::Running)?;
            Ok((id, t, m.uuid))
        })
        .await
        .unwrap();
    let app = app.restart().await;
    let admin = app.admin().await;
    let task = admin.wait_task(task_id).await;
    assert_eq!(task["state"], "succeeded", "{task}");
    assert_eq!(step_states(&task)[0], "undone", "{task}");
    admin.wait_state(id, "running").await;
    let host = app.fake_host();
    // One guest under the instance's UUID (built cold), none claimed twice,
    // and the member's record gone.
    assert_eq!(
        host.dpe_uuids()
            .iter()
            .filter(|u| **u == member_uuid)
            .count(),
        1
    );
    let members = app.appliance.store.read(pool::list).await.unwrap();
    assert!(members.iter().all(|m| m.uuid != member_uuid), "{members:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_golden_image_recycles_the_old_members() {
    let (app, _admin) = warm_app_with_a_ready_member().await;
    let old = ready_uuids(&app).await;
    // A new build of the image: another checksum.
    let disk = app.data_path().join("images/disk.qcow2");
    std::fs::write(&disk, b"QFI\xfb\0\0\0\x03 another build").unwrap();
    let app = app.restart().await;
    let admin = app.admin().await;
    pool_when(&admin, |p| {
        count(p, "ready") == 1 && p["members"].as_array().unwrap().len() == 1
    })
    .await;
    let new = ready_uuids(&app).await;
    assert!(new.is_disjoint(&old), "{old:?} → {new:?}");
    let host = app.fake_host();
    for uuid in &old {
        assert!(
            !host.dpe_uuids().contains(uuid),
            "the old member's guest is gone"
        );
        let volumes = host.list_volumes(&app.storage_pool()).unwrap();
        assert!(
            volumes.iter().all(|v| !v.contains(uuid.as_str())),
            "{volumes:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_count_against_host_room_and_appear_in_no_users_list() {
    let (app, admin) = warm_app_with_a_ready_member().await;
    let (_, list) = admin.instances().await;
    assert_eq!(list.as_array().map(Vec::len), Some(0), "{list}");
    let committed = app
        .appliance
        .store
        .read(instances::committed_by_host)
        .await
        .unwrap();
    assert_eq!(committed.get(&1), Some(&(1, 256)), "{committed:?}");
    // The reconciler knows the member's guest: it is not an orphan.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(app.appliance.engine.cleaned_orphans().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_host_destroys_its_members_first() {
    let (app, admin) = warm_app_with_a_ready_member().await;
    let member = ready_uuids(&app).await.into_iter().next().unwrap();
    let host = app.fake_host();
    assert!(host.dpe_uuids().contains(&member));
    let (status, body) = admin.delete("/api/v1/hosts/1").await;
    assert_eq!(status, 204, "{body}");
    assert!(!host.dpe_uuids().contains(&member), "its guest is gone");
    let volumes = host.list_volumes(&app.storage_pool()).unwrap();
    assert!(
        volumes.iter().all(|v| !v.contains(member.as_str())),
        "{volumes:?}"
    );
    let (_, pool) = admin.get("/api/v1/pool").await;
    assert_eq!(pool["members"], json!([]), "{pool}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_no_longer_wanted_stops_booting_and_is_destroyed() {
    let (app, admin) = warm_app().await;
    admin.put("/api/v1/pool", json!({"targets": {}})).await;
    pool_when(&admin, |p| p["members"] == json!([])).await;
    // Its guest agent never answers: the member stays booting.
    let host = app.fake_host();
    for _ in 0..1000 {
        host.fail_next("guest_exec");
    }
    admin
        .put("/api/v1/pool", json!({"targets": {"tiny": 1}}))
        .await;
    pool_when(&admin, |p| count(p, "booting") == 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(host.dpe_uuids().len(), 1, "its guest runs");
    admin.put("/api/v1/pool", json!({"targets": {}})).await;
    pool_when(&admin, |p| p["members"] == json!([])).await;
    assert!(host.dpe_uuids().is_empty(), "{:?}", host.dpe_uuids());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ready_member_whose_guest_stopped_is_replaced() {
    let (app, _admin) = warm_app_with_a_ready_member().await;
    let old = ready_uuids(&app).await;
    let host = app.fake_host();
    // The host rebooted under it, say.
    for uuid in &old {
        host.destroy_domain(uuid).unwrap();
    }
    let start = std::time::Instant::now();
    let new = loop {
        let now = ready_uuids(&app).await;
        if now.len() == 1 && now.is_disjoint(&old) {
            break now;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "still {now:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(new.is_disjoint(&old), "{old:?} → {new:?}");
    assert!(
        old.iter().all(|u| !host.dpe_uuids().contains(u)),
        "the stopped guest is gone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_members_boot_on_a_kvm_host_with_room_before_a_tcg_host_with_more_free_memory() {
    let (app, admin) = warm_app().await;
    admin.put("/api/v1/pool", json!({"targets": {}})).await;
    pool_when(&admin, |p| p["members"] == json!([])).await;
    // The older host emulates and has the most memory; the newer one has
    // KVM and room for one member (256 MiB) only.
    let tcg = app.fake_host();
    tcg.set_acceleration(app::model::Acceleration::Tcg);
    tcg.set_capacity(16, 8192);
    let (kvm_id, kvm) = app.add_fake_host("kvm", "test:///kvm").await;
    kvm.set_acceleration(app::model::Acceleration::Kvm);
    kvm.set_capacity(16, 400);

    admin
        .put("/api/v1/pool", json!({"targets": {"tiny": 1}}))
        .await;
    pool_when(&admin, |p| count(p, "ready") == 1).await;
    let members = app.appliance.store.read(pool::list).await.unwrap();
    assert_eq!(members[0].host_id, kvm_id, "the member went to KVM");
    assert_eq!(kvm.dpe_uuids().len(), 1);
    assert!(tcg.dpe_uuids().is_empty(), "{:?}", tcg.dpe_uuids());

    // A second member finds KVM full: the emulating host takes it.
    admin
        .put("/api/v1/pool", json!({"targets": {"tiny": 2}}))
        .await;
    pool_when(&admin, |p| count(p, "ready") == 2).await;
    assert_eq!(tcg.dpe_uuids().len(), 1, "the second went to TCG");
}
