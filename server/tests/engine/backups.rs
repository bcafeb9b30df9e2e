//! Backups through the REST API on fake hosts: full then incremental,
//! each with its checksum; a restore of each point into a new instance,
//! after the original is deleted; a broken chain starts over as a full
//! backup and says why; a backup cut off by a restart is aborted and
//! failed; a damaged backup is found and refused; retention merges the
//! oldest point into the next; the scheduler follows the policy.

use serde_json::{Value, json};

use crate::common::{Accepted, Api, TestApp};

/// Waits for the task a 202 answer started: the answer's ids and the task.
async fn finished(client: &Api, (status, body): (u16, Value)) -> (Accepted, Value) {
    assert_eq!(status, 202, "{body}");
    let accepted = Accepted::of(&body);
    let task = client.wait_task(accepted.task_id).await;
    (accepted, task)
}

/// Backs the instance up now, which must succeed: the backup.
pub(super) async fn backed_up(client: &Api, instance: i64) -> Value {
    let (accepted, task) = finished(
        client,
        client
            .post_empty(&format!("/api/v1/instances/{instance}/backups"))
            .await,
    )
    .await;
    assert_eq!(task["state"], "succeeded", "{task}");
    assert_eq!(task["kind"], "backup");
    backup(client, accepted.id).await
}

async fn backup(client: &Api, id: i64) -> Value {
    let (status, list) = client.get("/api/v1/backups").await;
    assert_eq!(status, 200, "{list}");
    list.as_array()
        .unwrap()
        .iter()
        .find(|b| b["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("backup {id} is not listed: {list}"))
}

async fn ready_instance(app: &TestApp, client: &Api, name: &str) -> (i64, String) {
    let Accepted { id, task_id } = client.deployed(name).await;
    let task = client.wait_task(task_id).await;
    assert_eq!(task["state"], "succeeded", "{task}");
    (id, app.instance_uuid(id).await)
}

/// The instance's disk volume.
fn disk(app: &TestApp, uuid: &str) -> String {
    format!("{}.qcow2", app.volume_stem(uuid))
}

fn backup_pool(app: &TestApp) -> String {
    format!("{}-backups", app.storage_pool())
}

/// Restores `backup` into a new instance named `name`: its id.
async fn restored(app: &TestApp, client: &Api, backup: i64, name: &str) -> i64 {
    let (accepted, task) = finished(
        client,
        client
            .post(
                &format!("/api/v1/backups/{backup}/restore"),
                json!({"name": name}),
            )
            .await,
    )
    .await;
    assert_eq!(task["state"], "succeeded", "{task}");
    assert_eq!(task["kind"], "restore");
    let uuid = app.instance_uuid(accepted.id).await;
    assert!(app.fake_host().power(&uuid) == Some(app::model::Power::Running));
    accepted.id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_then_an_incremental_backup_each_restore_their_own_point_after_the_instance_is_gone()
{
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let admin = app.admin().await;
    let host = app.fake_host();
    let (id, uuid) = ready_instance(&app, &admin, "wiki").await;
    let pool = app.storage_pool();

    host.write_volume(&pool, &disk(&app, &uuid), "page A");
    let full = backed_up(&admin, id).await;
    assert_eq!(full["kind"], "full", "{full}");
    assert_eq!(full["state"], "ready");
    assert_eq!(full["instance_name"], "wiki");
    assert_eq!(full["created_by"], "admin");
    assert_eq!(full["sha256"].as_str().unwrap().len(), 64);
    assert!(full["frozen_ms"].is_u64(), "the agent froze it: {full}");
    assert_eq!(full["reason"], Value::Null);

    host.write_volume(&pool, &disk(&app, &uuid), "page A, page B");
    let incremental = backed_up(&admin, id).await;
    assert_eq!(incremental["kind"], "incremental", "{incremental}");
    assert_eq!(incremental["parent_id"], full["id"]);
    // One checkpoint is kept: the newest backup's, which the next starts from.
    assert_eq!(
        host.checkpoint_names(&uuid),
        [format!("dpe-ckp-{}", incremental["id"])]
    );

    let (status, listed) = admin.get(&format!("/api/v1/instances/{id}/backups")).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["backups"].as_array().unwrap().len(), 2);
    assert_eq!(listed["policy"]["frequency"], "daily");

    // Deleting the instance keeps its backups.
    admin.remove(id).await;
    let kept = backup(&admin, incremental["id"].as_i64().unwrap()).await;
    assert_eq!(kept["instance_id"], Value::Null);
    assert_eq!(kept["instance_name"], "wiki");

    let both = restored(&app, &admin, incremental["id"].as_i64().unwrap(), "wiki-b").await;
    let only_a = restored(&app, &admin, full["id"].as_i64().unwrap(), "wiki-a").await;
    let text = |instance| {
        let app = &app;
        let host = host.clone();
        async move {
            let uuid = app.instance_uuid(instance).await;
            host.volume_text(&app.storage_pool(), &disk(app, &uuid))
        }
    };
    assert_eq!(text(both).await.as_deref(), Some("page A, page B"));
    assert_eq!(text(only_a).await.as_deref(), Some("page A"));

    let (_, audit) = admin.get("/api/v1/audit?action=backup.restore").await;
    assert_eq!(audit.as_array().map(Vec::len), Some(2), "{audit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_checkpoint_or_an_instance_that_is_off_starts_a_new_chain_and_says_why() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let admin = app.admin().await;
    let host = app.fake_host();
    let (id, uuid) = ready_instance(&app, &admin, "wiki").await;

    backed_up(&admin, id).await;
    host.lose_checkpoints(&uuid);
    let healed = backed_up(&admin, id).await;
    assert_eq!(healed["kind"], "full", "{healed}");
    assert_eq!(healed["parent_id"], Value::Null);
    let reason = healed["reason"].as_str().unwrap();
    assert!(
        reason.contains("checkpoint") && reason.contains("missing"),
        "{reason}"
    );
    // The chain goes on from the new full backup.
    let next = backed_up(&admin, id).await;
    assert_eq!(next["kind"], "incremental");
    assert_eq!(next["parent_id"], healed["id"]);

    // A refused incremental copy (an inconsistent bitmap) is taken full.
    host.fail_next_on("begin_backup", &uuid);
    let refused = backed_up(&admin, id).await;
    assert_eq!(refused["kind"], "full", "{refused}");
    assert!(
        refused["reason"].as_str().unwrap().contains("refused"),
        "{refused}"
    );

    let (status, body) = admin.act(id, "poweroff").await;
    assert_eq!(status, 202, "{body}");
    let task = admin.wait_task(body["task_id"].as_i64().unwrap()).await;
    assert_eq!(task["state"], "succeeded");
    let off = backed_up(&admin, id).await;
    assert_eq!(off["kind"], "full", "{off}");
    assert_eq!(off["frozen_ms"], Value::Null, "nothing to freeze");
    assert!(off["reason"].as_str().unwrap().contains("off"), "{off}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_cut_off_by_a_restart_is_aborted_and_failed_and_the_chain_goes_on() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let admin = app.admin().await;
    let host = app.fake_host();
    let (id, uuid) = ready_instance(&app, &admin, "wiki").await;
    let first = backed_up(&admin, id).await;

    host.stall_jobs();
    let (status, body) = admin
        .post_empty(&format!("/api/v1/instances/{id}/backups"))
        .await;
    assert_eq!(status, 202, "{body}");
    let cut = Accepted::of(&body);
    // The job runs on the host when dpe goes away.
    for _ in 0..100 {
        if host.job_running(&uuid) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(host.job_running(&uuid));
    let app = app.restart().await;
    let admin = app.admin().await;
    let task = admin.wait_task(cut.task_id).await;
    assert_eq!(task["state"], "failed", "{task}");
    assert_eq!(task["error"], "the backup was interrupted");
    let failed = backup(&admin, cut.id).await;
    assert_eq!(failed["state"], "failed", "{failed}");
    assert_eq!(failed["size_bytes"], 0);
    assert!(!host.job_running(&uuid), "the job was aborted");
    assert!(host.calls("abort_job") >= 1);
    let leftover = format!("dpe-backup-{uuid}-{}.qcow2", cut.id);
    assert!(
        !host.volume_names(&backup_pool(&app)).contains(&leftover),
        "its file is gone"
    );
    assert_eq!(
        host.checkpoint_names(&uuid),
        [format!("dpe-ckp-{}", first["id"])],
        "its checkpoint is gone, the one before kept"
    );

    // The old dpe, had it lived on, would find its job gone.
    host.unstall();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let next = backed_up(&admin, id).await;
    assert_eq!(next["kind"], "incremental", "{next}");
    assert_eq!(next["parent_id"], first["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_backup_is_found_by_its_checksum_and_no_restore_reads_it() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let admin = app.admin().await;
    let host = app.fake_host();
    let (id, uuid) = ready_instance(&app, &admin, "wiki").await;
    let full = backed_up(&admin, id).await;
    let incremental = backed_up(&admin, id).await;
    let full_id = full["id"].as_i64().unwrap();

    let verify = |backup: i64| {
        let path = format!("/api/v1/backups/{backup}/verify");
        let admin = &admin;
        async move { admin.post_empty(&path).await }
    };
    let (status, sound) = verify(full_id).await;
    assert_eq!(status, 200, "{sound}");
    assert_eq!(sound["damaged"], false);

    host.write_volume(
        &backup_pool(&app),
        &format!("dpe-backup-{uuid}-{full_id}.qcow2"),
        "flipped bits",
    );
    let inc_id = incremental["id"].as_i64().unwrap();
    let (status, checked) = verify(inc_id).await;
    assert_eq!(status, 200, "{checked}");
    assert_eq!(checked["damaged"], false, "its own file is sound");
    assert_eq!(backup(&admin, full_id).await["damaged"], true);
    let (_, damaged) = admin.get("/api/v1/backups?damaged=true").await;
    assert_eq!(damaged[0]["id"], full_id, "{damaged}");

    for point in [full_id, inc_id] {
        let (status, body) = admin
            .post(
                &format!("/api/v1/backups/{point}/restore"),
                json!({"name": format!("again-{point}")}),
            )
            .await;
        assert_eq!(status, 409, "{body}");
        assert!(
            body["message"].as_str().unwrap().contains("damaged"),
            "{body}"
        );
    }
    // The next backup does not build on it.
    let next = backed_up(&admin, id).await;
    assert_eq!(next["kind"], "incremental", "it builds on the sound newest");
    let (_, all) = admin.get(&format!("/api/v1/instances/{id}/backups")).await;
    assert_eq!(all["backups"].as_array().unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_merges_the_oldest_point_into_the_next_without_breaking_the_chain() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let admin = app.admin().await;
    let host = app.fake_host();
    let (status, body) = admin
        .put(
            "/api/v1/backup-policy",
            json!({"frequency": "daily", "hour": 2, "keep": 2}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (id, uuid) = ready_instance(&app, &admin, "wiki").await;
    let pool = app.storage_pool();
    let mut points = Vec::new();
    for text in ["one", "one two", "one two three"] {
        host.write_volume(&pool, &disk(&app, &uuid), text);
        points.push(backed_up(&admin, id).await["id"].as_i64().unwrap());
    }
    let (_, list) = admin.get(&format!("/api/v1/instances/{id}/backups")).await;
    let kept: Vec<_> = list["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["id"].as_i64().unwrap(),
                b["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        kept,
        [
            (points[2], "incremental".to_owned()),
            (points[1], "full".to_owned())
        ],
        "the oldest was merged into the next, which is full now"
    );
    let file = |p: i64| format!("dpe-backup-{uuid}-{p}.qcow2");
    assert!(
        !host
            .volume_names(&backup_pool(&app))
            .contains(&file(points[0]))
    );
    let second = restored(&app, &admin, points[1], "second").await;
    let s_uuid = app.instance_uuid(second).await;
    assert_eq!(
        host.volume_text(&pool, &disk(&app, &s_uuid)).as_deref(),
        Some("one two")
    );
    let merged = backup(&admin, points[1]).await;
    let (_, verified) = admin
        .post_empty(&format!("/api/v1/backups/{}/verify", points[1]))
        .await;
    assert_eq!(
        verified["damaged"], false,
        "its checksum is the merged file's: {merged}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_backs_up_what_its_policy_makes_due_once_per_slot() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let admin = app.admin().await;
    let (id, _) = ready_instance(&app, &admin, "wiki").await;
    let engine = app.appliance.engine.clone();
    let now = server::store::now();

    // Deployed after the last slot: nothing is due until the next one.
    let started = engine.schedule_backups(now).await.unwrap();
    assert!(started.is_empty(), "{started:?}");
    // A day later, its slot has come: one backup, and only one.
    let tomorrow = now + 86_400;
    let started = engine.schedule_backups(tomorrow).await.unwrap();
    assert_eq!(started.len(), 1, "{started:?}");
    assert_eq!(started[0].0, id);
    assert_eq!(settled(&admin, started[0].1).await["state"], "ready");
    let again = engine.schedule_backups(tomorrow).await.unwrap();
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(
        backup(&admin, started[0].1).await["created_by"],
        Value::Null
    );

    // Off: nothing is due, however long it waits.
    let (status, body) = admin
        .put(
            "/api/v1/backup-policy",
            json!({"frequency": "off", "hour": 2, "keep": 7}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let none = engine
        .schedule_backups(tomorrow + 2 * 86_400)
        .await
        .unwrap();
    assert!(none.is_empty(), "{none:?}");
}

/// Backup `id` once it is no longer running.
async fn settled(client: &Api, id: i64) -> Value {
    for _ in 0..250 {
        let b = backup(client, id).await;
        if b["state"] != "running" {
            return b;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("backup {id} still runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_policies_are_refused_with_the_field_at_fault_and_change_nothing() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let admin = app.admin().await;
    for (body, field) in [
        (json!({"frequency": "daily", "hour": 24, "keep": 3}), "hour"),
        (json!({"frequency": "daily", "hour": 2, "keep": 0}), "keep"),
        (
            json!({"frequency": "daily", "hour": 2, "keep": 101}),
            "keep",
        ),
    ] {
        let (status, answer) = admin.put("/api/v1/backup-policy", body).await;
        assert_eq!(status, 422, "{answer}");
        assert_eq!(answer["field"], field, "{answer}");
    }
    let (status, policy) = admin.get("/api/v1/backup-policy").await;
    assert_eq!(status, 200);
    assert_eq!(
        policy,
        json!({"frequency": "daily", "hour": 2, "keep": 7, "drill": "weekly"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_appliance_gets_the_store_back_from_the_backup_store_with_its_instances_and_backups()
{
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let admin = app.admin().await;
    let host = app.fake_host();
    let (id, uuid) = ready_instance(&app, &admin, "wiki").await;
    host.write_volume(&app.storage_pool(), &disk(&app, &uuid), "the team's pages");
    let kept = backed_up(&admin, id).await;

    // The scheduler copies the store into the backup store (once a slot).
    let engine = app.appliance.engine.clone();
    let tomorrow = server::store::now() + 86_400;
    engine.schedule_backups(tomorrow).await.unwrap();
    let copies: Vec<String> = host
        .volume_names(&backup_pool(&app))
        .into_iter()
        .filter(|v| v.starts_with("dpe-store-"))
        .collect();
    assert_eq!(copies.len(), 1, "{copies:?}");
    engine.schedule_backups(tomorrow + 60).await.unwrap();
    assert_eq!(
        host.volume_names(&backup_pool(&app))
            .iter()
            .filter(|v| v.starts_with("dpe-store-"))
            .count(),
        1,
        "once a slot"
    );
    // Retention keeps the policy's number of copies.
    for day in 2..10 {
        engine
            .back_up_store(tomorrow + day * 86_400, 7)
            .await
            .unwrap();
    }
    let copies: Vec<String> = host
        .volume_names(&backup_pool(&app))
        .into_iter()
        .filter(|v| v.starts_with("dpe-store-"))
        .collect();
    assert_eq!(copies.len(), 7, "{copies:?}");
    let newest = copies.iter().max().unwrap();
    let bytes = host.uploaded(&backup_pool(&app), newest).unwrap();
    drop(engine);

    // The appliance is lost; a new one gets the store back.
    let spare = tempfile::tempdir().unwrap();
    let file = spare.path().join("store.sqlite3");
    std::fs::write(&file, &bytes).unwrap();
    let app = app.lost_and_recovered(&file).await;
    let admin = app.admin().await;
    let (status, inst) = admin.instance(id).await;
    assert_eq!(status, 200, "{inst}");
    assert_eq!(inst["name"], "wiki");
    admin.wait_state(id, "running").await;
    let listed = backup(&admin, kept["id"].as_i64().unwrap()).await;
    assert_eq!(listed["state"], "ready");
    let copy = restored(&app, &admin, kept["id"].as_i64().unwrap(), "wiki-again").await;
    let c_uuid = app.instance_uuid(copy).await;
    assert_eq!(
        host.volume_text(&app.storage_pool(), &disk(&app, &c_uuid))
            .as_deref(),
        Some("the team's pages")
    );

    // What is not a store is refused, and nothing is replaced.
    let junk = spare.path().join("junk.sqlite3");
    std::fs::write(&junk, b"not a database at all").unwrap();
    let config = server::config::Config {
        data_dir: spare.path().join("elsewhere"),
        ..server::config::Config::default()
    };
    let refused = server::commands::restore_store(&config, &junk, false).unwrap_err();
    assert!(refused.to_string().contains("junk.sqlite3"), "{refused:#}");
    assert!(!config.store_path().exists());
    let existing = server::commands::restore_store(
        &server::config::Config {
            data_dir: app.data_path(),
            ..server::config::Config::default()
        },
        &file,
        false,
    )
    .unwrap_err();
    assert!(existing.to_string().contains("--force"), "{existing:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restored_store_what_was_deployed_since_its_copy_is_kept_adopted_or_let_go_by_an_admin()
 {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let admin = app.admin().await;
    let host = app.fake_host();
    let (before, _) = ready_instance(&app, &admin, "before").await;
    let engine = app.appliance.engine.clone();
    engine.back_up_store(server::store::now(), 7).await.unwrap();
    let copy = host
        .volume_names(&backup_pool(&app))
        .into_iter()
        .find(|v| v.starts_with("dpe-store-"))
        .expect("a copy of the store");
    let bytes = host.uploaded(&backup_pool(&app), &copy).unwrap();
    drop(engine);
    // Deployed after the copy: the restored store will not know them.
    let (_, after) = ready_instance(&app, &admin, "after").await;
    host.write_volume(
        &app.storage_pool(),
        &disk(&app, &after),
        "pages written today",
    );
    let (_, later) = ready_instance(&app, &admin, "later").await;

    let spare = tempfile::tempdir().unwrap();
    let file = spare.path().join("store.sqlite3");
    std::fs::write(&file, &bytes).unwrap();
    let app = app.lost_and_recovered(&file).await;
    let admin = app.admin().await;
    let engine = app.appliance.engine.clone();
    for _ in 0..3 {
        engine.reconcile_once().await.unwrap();
    }
    let guests = |engine: std::sync::Arc<server::engine::runtime::Engine>| async move {
        let h = engine.connect(1).await.unwrap();
        tokio::task::spawn_blocking(move || {
            h.dpe_domains()
                .unwrap()
                .into_iter()
                .map(|d| d.instance_uuid)
                .collect::<Vec<_>>()
        })
        .await
        .unwrap()
    };
    let kept = guests(engine.clone()).await;
    assert!(kept.contains(&after) && kept.contains(&later), "{kept:?}");
    let (status, leftovers) = admin.get("/api/v1/orphans").await;
    assert_eq!(status, 200, "{leftovers}");
    assert!(leftovers["held_since"].is_i64(), "{leftovers}");
    assert_eq!(leftovers["cleaned"], json!([]), "{leftovers}");
    let held = leftovers["held"].as_array().unwrap();
    let guest = held
        .iter()
        .find(|h| h["instance_uuid"] == after.as_str())
        .unwrap_or_else(|| panic!("the guest is listed: {leftovers}"));
    assert_eq!(guest["name"], "after", "{leftovers}");
    assert_eq!(guest["owner"], "admin", "{leftovers}");
    assert_eq!(guest["power"], "running", "{leftovers}");
    assert_eq!(guest["adoptable"], true, "{leftovers}");
    assert!(
        guest["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v.as_str().unwrap().ends_with(".qcow2")),
        "its volumes are listed with it: {leftovers}"
    );
    assert!(
        !held.iter().any(|h| h["kind"] == "volume"),
        "and not on their own: {leftovers}"
    );
    // What the copy knows runs on as before.
    admin.wait_state(before, "running").await;

    // Adopted: the owner's instance again, on its host, its disk as it was.
    let refusals = [
        (json!({"instance_uuid": "no-such-guest"}), 404),
        (json!({"instance_uuid": after, "owner": "nobody-here"}), 422),
        (json!({"instance_uuid": after, "extra": 1}), 422),
    ];
    for (body, code) in refusals {
        let (status, answer) = admin.post("/api/v1/orphans/adopt", body.clone()).await;
        assert_eq!(status, code, "{body}: {answer}");
    }
    let (status, adopted) = admin
        .post("/api/v1/orphans/adopt", json!({"instance_uuid": after}))
        .await;
    assert_eq!(status, 200, "{adopted}");
    let id = adopted["instance_id"].as_i64().unwrap();
    let (_, inst) = admin.instance(id).await;
    assert_eq!(inst["name"], "after", "{inst}");
    assert_eq!(inst["owner"], "admin", "{inst}");
    // Shown as the last look found it, not "unknown" until the next pass.
    assert_eq!(inst["state"], "running", "{inst}");
    assert_eq!(
        host.volume_text(&app.storage_pool(), &disk(&app, &after))
            .as_deref(),
        Some("pages written today")
    );
    let (status, again) = admin
        .post("/api/v1/orphans/adopt", json!({"instance_uuid": after}))
        .await;
    assert_eq!(status, 404, "adopted once: {again}");
    // A name taken since cannot be adopted under.
    let taken = admin.deployed("later").await;
    admin.wait_task(taken.task_id).await;
    engine.reconcile_once().await.unwrap();
    let (status, clash) = admin
        .post("/api/v1/orphans/adopt", json!({"instance_uuid": later}))
        .await;
    assert_eq!(status, 409, "{clash}");

    // The admin lets the rest go: the next pass removes it, for good,
    // and the adopted instance stays.
    let (status, released) = admin.post_empty("/api/v1/orphans/release").await;
    assert_eq!(status, 200, "{released}");
    assert_eq!(released["held_since"], Value::Null, "{released}");
    assert_eq!(released["held"], json!([]), "{released}");
    engine.reconcile_once().await.unwrap();
    let left = guests(engine.clone()).await;
    assert!(left.contains(&after) && !left.contains(&later), "{left:?}");
    let (_, leftovers) = admin.get("/api/v1/orphans").await;
    assert!(
        leftovers["cleaned"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c.as_str().unwrap().contains(&later)),
        "{leftovers}"
    );
    let (status, again) = admin.post_empty("/api/v1/orphans/release").await;
    assert_eq!(status, 409, "nothing is kept any more: {again}");
    for action in ["leftovers.adopt", "leftovers.release"] {
        let (_, audit) = admin.get(&format!("/api/v1/audit?action={action}")).await;
        assert_eq!(audit.as_array().map(Vec::len), Some(1), "{action}: {audit}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_defined_without_its_record_gets_it_written_by_the_reconciler() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let admin = app.admin().await;
    let host = app.fake_host();
    let (_, uuid) = ready_instance(&app, &admin, "older").await;
    assert!(host.has_record(&uuid), "a new instance's domain has it");
    host.forget_record(&uuid);
    assert!(!host.has_record(&uuid));
    app.appliance.engine.reconcile_once().await.unwrap();
    assert!(host.has_record(&uuid), "written back by the reconciler");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_backup_store_fails_the_backup_saying_so_and_keeps_the_earlier_ones() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let admin = app.admin().await;
    let host = app.fake_host();
    let (id, uuid) = ready_instance(&app, &admin, "wiki").await;
    let kept = backed_up(&admin, id).await;

    host.fill_pool(&backup_pool(&app));
    let (accepted, task) = finished(
        &admin,
        admin
            .post_empty(&format!("/api/v1/instances/{id}/backups"))
            .await,
    )
    .await;
    assert_eq!(task["state"], "failed", "{task}");
    let error = task["error"].as_str().unwrap();
    assert!(error.contains("backup store is full"), "{error}");
    let failed = backup(&admin, accepted.id).await;
    assert_eq!(failed["state"], "failed", "{failed}");
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("backup store is full")
    );
    // Those concerned are told, in the failure's own transaction.
    let notices = app
        .appliance
        .store
        .read(move |c| server::store::outbox::for_instance(c, id))
        .await
        .unwrap();
    let told: Vec<_> = notices
        .iter()
        .filter(|n| n.kind == app::model::NoticeKind::BackupFailed)
        .collect();
    assert_eq!(told.len(), 1, "{notices:?}");
    assert!(told[0].detail.contains("backup store is full"), "{told:?}");
    // The earlier backup is as it was, and still restores.
    let earlier = backup(&admin, kept["id"].as_i64().unwrap()).await;
    assert_eq!(earlier["state"], "ready");
    let file = format!("dpe-backup-{uuid}-{}.qcow2", kept["id"]);
    assert!(host.volume_names(&backup_pool(&app)).contains(&file));
    let (_, verified) = admin
        .post_empty(&format!("/api/v1/backups/{}/verify", kept["id"]))
        .await;
    assert_eq!(verified["damaged"], false, "{verified}");
    // The instance runs on, with the failure shown.
    let (_, inst) = admin.instance(id).await;
    assert_eq!(inst["state"], "running", "{inst}");
}

/// Restores `backup` over instance `id`, which must succeed.
pub(super) async fn restored_over(client: &Api, id: i64, backup: i64) -> Value {
    let (accepted, task) = finished(
        client,
        client
            .post(
                &format!("/api/v1/instances/{id}/restore"),
                json!({"backup_id": backup}),
            )
            .await,
    )
    .await;
    assert_eq!(accepted.id, id);
    assert_eq!(task["kind"], "restore_in_place");
    task
}

pub(super) async fn snapshots_of(client: &Api, id: i64) -> Vec<Value> {
    let (status, body) = client
        .get(&format!("/api/v1/instances/{id}/snapshots"))
        .await;
    assert_eq!(status, 200, "{body}");
    body["snapshots"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_over_the_instance_brings_its_backup_back_and_keeps_the_replaced_disk_to_go_back_to()
 {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let admin = app.admin().await;
    let host = app.fake_host();
    let (id, uuid) = ready_instance(&app, &admin, "wiki").await;
    let pool = app.storage_pool();

    host.write_volume(&pool, &disk(&app, &uuid), "page A");
    let full = backed_up(&admin, id).await;
    host.write_volume(&pool, &disk(&app, &uuid), "page A, broken plugin");
    let (_, snap) = finished(
        &admin,
        admin
            .post(
                &format!("/api/v1/instances/{id}/snapshots"),
                json!({"name": "mine"}),
            )
            .await,
    )
    .await;
    assert_eq!(host.snapshot_names(&uuid).len(), 1, "{snap}");

    let task = restored_over(&admin, id, full["id"].as_i64().unwrap()).await;
    assert_eq!(task["state"], "succeeded", "{task}");
    assert_eq!(
        host.volume_text(&pool, &disk(&app, &uuid)).as_deref(),
        Some("page A"),
        "the disk is the backup's"
    );
    assert_eq!(
        host.power(&uuid),
        Some(app::model::Power::Running),
        "it runs again"
    );
    // The internal snapshot lived in the replaced disk: it is gone, and
    // that disk is kept whole as the one snapshot left.
    assert!(host.snapshot_names(&uuid).is_empty());
    let snapshots = snapshots_of(&admin, id).await;
    assert_eq!(snapshots.len(), 1, "{snapshots:?}");
    let kept = &snapshots[0];
    assert_eq!(kept["kind"], "disk_copy");
    assert_eq!(kept["state"], "ready");
    assert!(
        kept["name"]
            .as_str()
            .unwrap()
            .starts_with("before restore 20"),
        "{kept}"
    );
    let kept_id = kept["id"].as_i64().unwrap();
    let kept_volume = format!("{}-snap-{kept_id}.qcow2", app.volume_stem(&uuid));
    assert_eq!(
        host.volume_text(&pool, &kept_volume).as_deref(),
        Some("page A, broken plugin")
    );
    // The chain's bitmaps went with the disk: the next backup is full, and says why.
    assert!(host.checkpoint_names(&uuid).is_empty());
    let next = backed_up(&admin, id).await;
    assert_eq!(next["kind"], "full", "{next}");
    assert!(next["reason"].is_string(), "{next}");

    // Going back to the kept disk undoes the restore.
    let (_, reverted) = finished(
        &admin,
        admin
            .post_empty(&format!(
                "/api/v1/instances/{id}/snapshots/{kept_id}/revert"
            ))
            .await,
    )
    .await;
    assert_eq!(reverted["state"], "succeeded", "{reverted}");
    assert_eq!(
        host.volume_text(&pool, &disk(&app, &uuid)).as_deref(),
        Some("page A, broken plugin")
    );
    assert_eq!(host.power(&uuid), Some(app::model::Power::Running));
    let (_, audit) = admin.get("/api/v1/audit?action=instance.restore").await;
    assert_eq!(audit.as_array().unwrap().len(), 1, "{audit}");

    // Deleting the instance removes the kept disk with it.
    admin.remove(id).await;
    let left: Vec<String> = host
        .volume_names(&pool)
        .into_iter()
        .filter(|v| v.contains(&uuid))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_over_refuses_another_instances_backup_and_bad_requests_and_changes_nothing() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let admin = app.admin().await;
    let host = app.fake_host();
    let (a, _) = ready_instance(&app, &admin, "wiki-a").await;
    let (b, uuid_b) = ready_instance(&app, &admin, "wiki-b").await;
    let pool = app.storage_pool();
    host.write_volume(&pool, &disk(&app, &uuid_b), "b's pages");
    let of_a = backed_up(&admin, a).await["id"].as_i64().unwrap();

    let path = format!("/api/v1/instances/{b}/restore");
    let (status, body) = admin.post(&path, json!({"backup_id": of_a})).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("new instance"),
        "{body}"
    );
    let (status, body) = admin.post(&path, json!({"backup_id": 9999})).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = admin
        .post(&path, json!({"backup_id": of_a, "force": true}))
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = admin
        .post("/api/v1/instances/9999/restore", json!({"backup_id": of_a}))
        .await;
    assert_eq!(status, 404, "{body}");

    assert_eq!(
        host.volume_text(&pool, &disk(&app, &uuid_b)).as_deref(),
        Some("b's pages")
    );
    assert!(snapshots_of(&admin, b).await.is_empty());
    let (_, refused) = admin.get("/api/v1/audit?action=instance.restore").await;
    assert_eq!(refused[0]["outcome"], "refused", "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_over_that_fails_puts_the_replaced_disk_back() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let admin = app.admin().await;
    let host = app.fake_host();
    let (id, uuid) = ready_instance(&app, &admin, "wiki").await;
    let pool = app.storage_pool();
    host.write_volume(&pool, &disk(&app, &uuid), "old");
    let full = backed_up(&admin, id).await["id"].as_i64().unwrap();
    host.write_volume(&pool, &disk(&app, &uuid), "today's pages");

    // The backup's copy into the disk fails, after the disk was removed.
    host.fail_next_on("copy_volume", &disk(&app, &uuid));
    let task = restored_over(&admin, id, full).await;
    assert_eq!(task["state"], "failed", "{task}");
    assert_eq!(
        host.volume_text(&pool, &disk(&app, &uuid)).as_deref(),
        Some("today's pages"),
        "the disk is put back"
    );
    // The copy stays as a snapshot: nothing is lost, whatever else failed.
    let snapshots = snapshots_of(&admin, id).await;
    assert_eq!(snapshots.len(), 1, "{snapshots:?}");
    assert_eq!(snapshots[0]["kind"], "disk_copy");
    let (_, inst) = admin.get(&format!("/api/v1/instances/{id}")).await;
    assert!(inst["error"].is_string(), "{inst}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_backup_store_takes_the_next_backups_while_earlier_ones_restore_from_where_they_are()
{
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let admin = app.admin().await;
    let host = app.fake_host();
    let (id, uuid) = ready_instance(&app, &admin, "wiki").await;
    let pool = app.storage_pool();
    host.write_volume(&pool, &disk(&app, &uuid), "before the move");
    let before = backed_up(&admin, id).await;

    let (status, store) = admin.get("/api/v1/backup-store").await;
    assert_eq!(status, 200, "{store}");
    assert_eq!(store["spec"], json!({"kind": "local"}));

    let (status, moved) = admin
        .put(
            "/api/v1/backup-store",
            json!({"kind": "directory", "path": "/srv/dpe-backups/"}),
        )
        .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(
        moved["spec"],
        json!({"kind": "directory", "path": "/srv/dpe-backups"})
    );
    assert_eq!(moved["dir"], "/srv/dpe-backups");

    host.write_volume(&pool, &disk(&app, &uuid), "after the move");
    let after = backed_up(&admin, id).await;
    assert_eq!(
        after["kind"], "full",
        "a new store starts a new chain: {after}"
    );
    assert!(
        after["reason"].as_str().unwrap().contains("backup store"),
        "{after}"
    );
    let new_pool: Vec<String> = host
        .pools()
        .into_iter()
        .filter(|p| p.starts_with(&format!("{}-", backup_pool(&app))))
        .collect();
    assert_eq!(new_pool.len(), 1, "{new_pool:?}");
    let file = format!("dpe-backup-{uuid}-{}.qcow2", after["id"]);
    assert_eq!(
        host.volume_text(&new_pool[0], &file).as_deref(),
        Some("after the move")
    );
    // The earlier backup restores from the store it is in.
    let old = restored(&app, &admin, before["id"].as_i64().unwrap(), "wiki-old").await;
    let old_uuid = app.instance_uuid(old).await;
    assert_eq!(
        host.volume_text(&pool, &disk(&app, &old_uuid)).as_deref(),
        Some("before the move")
    );

    // An NFS export: each host mounts it (here: a directory pool).
    let (status, nfs) = admin
        .put(
            "/api/v1/backup-store",
            json!({"kind": "nfs", "server": "nas.example", "export": "/export/dpe"}),
        )
        .await;
    assert_eq!(status, 200, "{nfs}");
    assert!(host.calls("ensure_nfs_pool") >= 1);
    let (_, audit) = admin.get("/api/v1/audit?action=backup_store.set").await;
    assert_eq!(audit.as_array().unwrap().len(), 2, "{audit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_store_that_cannot_be_one_is_refused_at_its_field_and_changes_nothing() {
    // libvirt's test driver: directories, but no NFS.
    let app = TestApp::builder().set_up().start().await;
    let admin = app.admin().await;
    for (body, field) in [
        (json!({"kind": "directory", "path": "srv/backups"}), "path"),
        (json!({"kind": "directory", "path": "/srv/../etc"}), "path"),
        (json!({"kind": "directory", "path": "/"}), "path"),
        (
            json!({"kind": "nfs", "server": "-o evil", "export": "/x"}),
            "server",
        ),
        (
            json!({"kind": "nfs", "server": "nas", "export": "relative"}),
            "export",
        ),
        (
            json!({"kind": "nfs", "server": "nas.example", "export": "/export"}),
            "kind",
        ),
    ] {
        let (status, refused) = admin.put("/api/v1/backup-store", body.clone()).await;
        assert_eq!(status, 422, "{body}: {refused}");
        assert_eq!(refused["field"], field, "{body}: {refused}");
    }
    let (status, refused) = admin
        .put("/api/v1/backup-store", json!({"kind": "tape"}))
        .await;
    assert_eq!(status, 422, "{refused}");
    let (_, store) = admin.get("/api/v1/backup-store").await;
    assert_eq!(store["spec"], json!({"kind": "local"}), "nothing changed");
    let member = app.user_client("ann", app::model::Role::User).await;
    let (status, _) = member
        .put("/api/v1/backup-store", json!({"kind": "local"}))
        .await;
    assert_eq!(status, 403);
}
