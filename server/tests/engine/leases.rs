//! Leases through the REST API, on fake hosts, with a clock the tests move
//! on by days: warnings, expiry (shut down), grace, deletion, revival, a
//! dpe stopped across the expiry, and who may extend how far.

use std::sync::Arc;

use app::model::{DAY, NoticeKind};
use serde_json::{Value, json};
use server::clock::{Clock, ManualClock};
use server::store::outbox;

use super::common::{Api, TestApp, USER_PASSWORD};

/// A default policy of a 30-day lease, extendable 60 days ahead, 7 days'
/// grace.
fn thirty_days() -> Value {
    json!({"lease_days": 30, "extendable": true, "max_days": 60, "grace_days": 7})
}

async fn app_with_clock() -> (TestApp, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::starting_now());
    let app = TestApp::builder()
        .fake_hosts()
        .clock(clock.clone())
        .set_up()
        .start()
        .await;
    (app, clock)
}

/// The kinds of the notices queued about instance `id`, oldest first,
/// but for its deploy's (engine/notifications.rs tests that one).
async fn notices(app: &TestApp, id: i64) -> Vec<NoticeKind> {
    app.appliance
        .store
        .read(move |c| outbox::for_instance(c, id))
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.kind)
        .filter(|kind| *kind != NoticeKind::DeploySucceeded)
        .collect()
}

/// Runs a lease pass and waits for the tasks it started to end.
async fn pass(app: &TestApp, api: &Api) -> Vec<i64> {
    let done = app.appliance.engine.lease_pass().await.unwrap();
    for task in &done.tasks {
        let ended = api.wait_task(*task).await;
        assert_eq!(ended["state"], "succeeded", "{ended}");
    }
    done.tasks
}

/// RFC 3339 of `days` from the clock's now.
fn days_ahead(clock: &ManualClock, days: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp(clock.now() + days * DAY).unwrap();
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

async fn deployed_running(api: &Api, name: &str) -> i64 {
    let accepted = api.deployed(name).await;
    let task = api.wait_task(accepted.task_id).await;
    assert_eq!(task["state"], "succeeded", "{task}");
    api.wait_state(accepted.id, "running").await;
    accepted.id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_warns_twice_then_shuts_the_instance_down_and_deletes_it_after_the_grace_period() {
    let (app, clock) = app_with_clock().await;
    let admin = app.admin().await;
    let (status, policy) = admin.put("/api/v1/lease-policy", thirty_days()).await;
    assert_eq!(status, 200, "{policy}");
    let id = deployed_running(&admin, "leased").await;
    let (_, inst) = admin.instance(id).await;
    assert_eq!(inst["lease"]["stage"], "active", "{inst}");
    assert_eq!(
        inst["lease"]["expires_at"],
        days_ahead(&clock, 30),
        "{inst}"
    );
    assert!(inst["lease"]["deletes_at"].is_null());

    // 22 days on, nothing is due; a day later the first warning.
    clock.advance(22 * DAY);
    pass(&app, &admin).await;
    assert_eq!(notices(&app, id).await, []);
    clock.advance(DAY);
    pass(&app, &admin).await;
    assert_eq!(notices(&app, id).await, [NoticeKind::LeaseExpiresIn7Days]);
    // Passes are idempotent: nothing is queued twice.
    pass(&app, &admin).await;
    assert_eq!(notices(&app, id).await.len(), 1);
    clock.advance(6 * DAY);
    pass(&app, &admin).await;
    assert_eq!(
        notices(&app, id).await,
        [
            NoticeKind::LeaseExpiresIn7Days,
            NoticeKind::LeaseExpiresIn1Day
        ]
    );

    // At expiry: shut down, marked expired, kept for the grace period.
    clock.advance(DAY);
    let tasks = pass(&app, &admin).await;
    assert_eq!(tasks.len(), 1, "a shutdown task");
    let inst = admin.wait_state(id, "shut_off").await;
    assert_eq!(inst["lease"]["stage"], "expired", "{inst}");
    assert_eq!(inst["lease"]["deletes_at"], days_ahead(&clock, 7), "{inst}");
    let (status, refused) = admin.act(id, "start").await;
    assert_eq!(status, 409, "an expired instance stays off: {refused}");
    assert!(
        refused["message"].as_str().unwrap().contains("extend"),
        "{refused}"
    );
    let (_, list) = admin.instances().await;
    assert_eq!(
        list[0]["lease"]["stage"], "expired",
        "the list shows it too"
    );

    // A second short of the grace period it is still there; then deleted.
    clock.advance(7 * DAY - 1);
    assert_eq!(pass(&app, &admin).await, Vec::<i64>::new());
    clock.advance(1);
    assert_eq!(pass(&app, &admin).await.len(), 1, "a delete task");
    let (status, _) = admin.instance(id).await;
    assert_eq!(status, 404, "deleted");
    assert_eq!(
        notices(&app, id).await,
        [
            NoticeKind::LeaseExpiresIn7Days,
            NoticeKind::LeaseExpiresIn1Day,
            NoticeKind::Expired,
            NoticeKind::Deleted
        ]
    );
    let (_, audit) = admin.get("/api/v1/audit?action=lease.delete").await;
    assert_eq!(audit.as_array().map(Vec::len), Some(1), "{audit}");
    assert_eq!(audit[0]["object"], "instance leased", "{audit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_instance_is_revived_by_extending_its_lease_within_the_grace_period() {
    let (app, clock) = app_with_clock().await;
    let admin = app.admin().await;
    admin.put("/api/v1/lease-policy", thirty_days()).await;
    let id = deployed_running(&admin, "revived").await;
    clock.advance(30 * DAY);
    pass(&app, &admin).await;
    admin.wait_state(id, "shut_off").await;

    clock.advance(3 * DAY);
    let (status, inst) = admin
        .post(
            &format!("/api/v1/instances/{id}/extend"),
            json!({"expires_at": days_ahead(&clock, 20)}),
        )
        .await;
    assert_eq!(status, 200, "{inst}");
    assert_eq!(inst["lease"]["stage"], "active", "{inst}");
    assert!(inst["lease"]["deletes_at"].is_null(), "{inst}");
    let (status, started) = admin.act(id, "start").await;
    assert_eq!(status, 202, "revived, it starts again: {started}");
    admin.wait_state(id, "running").await;

    // Past the old grace period it is still there, and warned anew.
    clock.advance(14 * DAY);
    assert_eq!(pass(&app, &admin).await, Vec::<i64>::new());
    let (status, inst) = admin.instance(id).await;
    assert_eq!(status, 200);
    assert_eq!(inst["lease"]["stage"], "warned_7d", "{inst}");
    let (_, audit) = admin.get("/api/v1/audit?action=lease.extend").await;
    assert!(
        audit[0]["detail"]
            .as_str()
            .unwrap()
            .contains("revived after expiry"),
        "{audit}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dpe_stopped_across_the_expiry_warns_first_on_restart_and_counts_the_grace_from_then() {
    let (app, clock) = app_with_clock().await;
    let admin = app.admin().await;
    admin.put("/api/v1/lease-policy", thirty_days()).await;
    let id = deployed_running(&app.admin().await, "asleep").await;

    // dpe is down from day 10 to day 45: the whole warning time, the
    // expiry and more than the grace period pass unseen.
    let app = app.restart_after(|| clock.advance(35 * DAY)).await;
    let admin = app.admin().await;
    pass(&app, &admin).await;
    assert_eq!(
        notices(&app, id).await,
        [
            NoticeKind::LeaseExpiresIn7Days,
            NoticeKind::LeaseExpiresIn1Day,
            NoticeKind::Expired
        ],
        "warned, in order, before it expired; not deleted"
    );
    let inst = admin.wait_state(id, "shut_off").await;
    assert_eq!(inst["lease"]["stage"], "expired", "{inst}");
    // The grace period runs from the expiry as carried out.
    assert_eq!(inst["lease"]["deletes_at"], days_ahead(&clock, 7), "{inst}");
    clock.advance(7 * DAY);
    assert_eq!(pass(&app, &admin).await.len(), 1);
    let (status, _) = admin.instance(id).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn who_may_extend_a_lease_and_how_far_follows_the_role_and_the_inherited_policy() {
    let (app, clock) = app_with_clock().await;
    let admin = app.admin().await;
    let physics = admin.create_department("physics", None).await;
    let optics = admin.create_department("optics", Some(physics)).await;
    let policy = json!({"policy": {"lease_days": 10, "extendable": true, "max_days": 30,
                                   "grace_days": 3}});
    let (status, view) = admin
        .put(
            &format!("/api/v1/departments/{physics}/lease-policy"),
            policy,
        )
        .await;
    assert_eq!(status, 200, "{view}");
    admin
        .create_member("olga", USER_PASSWORD, optics, false)
        .await;
    admin
        .create_member("otto", USER_PASSWORD, optics, false)
        .await;
    admin
        .create_member("petra", USER_PASSWORD, physics, true)
        .await;
    let owner = app.sign_in("olga", USER_PASSWORD).await;
    let colleague = app.sign_in("otto", USER_PASSWORD).await;
    let dept_admin = app.sign_in("petra", USER_PASSWORD).await;

    // The sub-department inherits its parent's policy.
    let (status, inherited) = dept_admin
        .get(&format!("/api/v1/departments/{optics}/lease-policy"))
        .await;
    assert_eq!(status, 200, "{inherited}");
    assert!(inherited["own"].is_null(), "{inherited}");
    assert_eq!(inherited["from"], "physics");
    assert_eq!(inherited["effective"]["max_days"], 30);
    let id = deployed_running(&owner, "olgas").await;
    let (_, inst) = owner.instance(id).await;
    assert_eq!(
        inst["lease"]["expires_at"],
        days_ahead(&clock, 10),
        "{inst}"
    );

    let extend = |api: &Api, days: i64| {
        let body = json!({"expires_at": days_ahead(&clock, days)});
        let path = format!("/api/v1/instances/{id}/extend");
        let api = api.clone();
        async move { api.post(&path, body).await.0 }
    };
    // (who, days ahead, status): each role within and beyond the policy.
    let rows: [(&str, &Api, i64, u16); 8] = [
        ("owner within", &owner, 30, 200),
        ("owner beyond", &owner, 31, 422),
        ("owner in the past", &owner, -1, 422),
        ("colleague", &colleague, 5, 404),
        ("department admin within", &dept_admin, 25, 200),
        ("department admin beyond", &dept_admin, 31, 422),
        ("appliance admin beyond", &admin, 400, 200),
        ("appliance admin in the past", &admin, -1, 422),
    ];
    for (name, api, days, status) in rows {
        assert_eq!(extend(api, days).await, status, "{name}");
    }
    let (_, inst) = owner.instance(id).await;
    assert_eq!(inst["lease"]["expires_at"], days_ahead(&clock, 400));

    // A policy that allows no extension binds all but appliance admins.
    let frozen = json!({"policy": {"lease_days": 10, "extendable": false, "max_days": 30}});
    let (status, view) = admin
        .put(
            &format!("/api/v1/departments/{optics}/lease-policy"),
            frozen,
        )
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["effective"]["grace_days"], 7, "the default grace");
    assert_eq!(extend(&owner, 5).await, 403);
    assert_eq!(extend(&dept_admin, 5).await, 403);
    assert_eq!(extend(&admin, 5).await, 200);
    // Setting policies is the appliance admin's.
    let (status, _) = dept_admin
        .put(
            &format!("/api/v1/departments/{optics}/lease-policy"),
            json!({"policy": null}),
        )
        .await;
    assert_eq!(status, 403);
    let (_, audit) = admin.get("/api/v1/audit?action=lease.extend").await;
    let refused = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["outcome"] == "refused")
        .count();
    assert_eq!(refused, 6, "refusals of what the caller may see: {audit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_policy_that_makes_no_sense_is_refused_and_changes_nothing() {
    let (app, _clock) = app_with_clock().await;
    let admin = app.admin().await;
    for bad in [
        json!({"lease_days": 0, "extendable": true, "max_days": 30}),
        json!({"lease_days": 40, "extendable": true, "max_days": 30}),
        json!({"lease_days": 10, "extendable": true, "max_days": 99999}),
        json!({"lease_days": 10, "extendable": true, "max_days": 30, "grace": 1}),
    ] {
        let (status, body) = admin.put("/api/v1/lease-policy", bad.clone()).await;
        assert_eq!(status, 422, "{bad}: {body}");
    }
    let (status, policy) = admin.get("/api/v1/lease-policy").await;
    assert_eq!(status, 200);
    assert!(policy["lease_days"].is_null(), "still no lease: {policy}");
    // Without a lease, an instance has none.
    let id = deployed_running(&admin, "forever").await;
    let (_, inst) = admin.instance(id).await;
    assert!(inst["lease"].is_null(), "{inst}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_delete_that_fails_is_tried_again_an_hour_later_until_it_goes() {
    let (app, clock) = app_with_clock().await;
    let admin = app.admin().await;
    let (status, policy) = admin.put("/api/v1/lease-policy", thirty_days()).await;
    assert_eq!(status, 200, "{policy}");
    let id = deployed_running(&admin, "stubborn").await;
    clock.advance(23 * DAY);
    pass(&app, &admin).await;
    clock.advance(6 * DAY);
    pass(&app, &admin).await;
    clock.advance(DAY);
    pass(&app, &admin).await;
    admin.wait_state(id, "shut_off").await;

    // The host fails the delete when the grace period ends.
    clock.advance(7 * DAY);
    app.fake_host().fail_next("undefine_domain");
    let done = app.appliance.engine.lease_pass().await.unwrap();
    assert_eq!(done.tasks.len(), 1, "a delete task");
    let failed = admin.wait_task(done.tasks[0]).await;
    assert_eq!(failed["state"], "failed", "{failed}");
    let (status, inst) = admin.instance(id).await;
    assert_eq!(status, 200, "{inst}");
    assert_eq!(inst["lease"]["stage"], "deleting", "{inst}");

    // Not at once, nor each pass: an hour on.
    clock.advance(3599);
    assert_eq!(pass(&app, &admin).await, Vec::<i64>::new());
    clock.advance(1);
    assert_eq!(pass(&app, &admin).await.len(), 1, "the delete again");
    let (status, _) = admin.instance(id).await;
    assert_eq!(status, 404, "deleted");
    // Its notice went once, with the first try.
    assert_eq!(
        notices(&app, id)
            .await
            .iter()
            .filter(|k| **k == NoticeKind::Deleted)
            .count(),
        1
    );
    let (_, audit) = admin.get("/api/v1/audit?action=lease.delete").await;
    assert_eq!(audit.as_array().map(Vec::len), Some(2), "{audit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_that_ends_while_its_host_does_not_answer_waits_for_the_host_and_fails_nothing() {
    let (app, clock) = app_with_clock().await;
    let admin = app.admin().await;
    let (status, policy) = admin.put("/api/v1/lease-policy", thirty_days()).await;
    assert_eq!(status, 200, "{policy}");
    let id = deployed_running(&admin, "remote").await;
    let host = app.fake_host();
    host.set_down(true);
    app.appliance.engine.reconcile_once().await.unwrap();

    // Expired, but a shutdown there would fail: nothing is started.
    clock.advance(30 * DAY);
    assert_eq!(pass(&app, &admin).await, Vec::<i64>::new());
    let (_, inst) = admin.instance(id).await;
    assert_eq!(inst["state"], "running", "{inst}");
    assert_eq!(inst["lease"]["stage"], "active", "{inst}");
    assert!(inst["error"].is_null(), "{inst}");

    // Back: the steps due are taken at the next pass.
    host.set_down(false);
    app.appliance.engine.reconcile_once().await.unwrap();
    assert_eq!(pass(&app, &admin).await.len(), 1, "the expiry's shutdown");
    let inst = admin.wait_state(id, "shut_off").await;
    assert_eq!(inst["lease"]["stage"], "expired", "{inst}");
}
