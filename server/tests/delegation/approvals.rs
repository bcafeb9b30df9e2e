//! Approvals through the REST API on libvirt's test driver: deploys that
//! wait for a department admin's yes, their quota held meanwhile (atomic
//! under 50 concurrent requests), approval that deploys, rejection and a
//! time-out that release, who may decide, and self-approval refused.

use std::sync::Arc;
use std::time::Duration;

use app::model::{DAY, NoticeKind};
use serde_json::{Value, json};
use server::clock::ManualClock;
use server::store::outbox;

use super::PASSWORD;
use super::common::{Api, TestApp};

/// Science above Physics, and Law; Dana administers Science, Pia
/// Physics, Lou Law; Mia is a member of Physics. Science asks approval
/// for `rule`.
struct Approvals {
    app: TestApp,
    clock: Arc<ManualClock>,
    admin: Api,
    science: i64,
    physics: i64,
    dana: Api,
    pia: Api,
    lou: Api,
    mia_id: i64,
    mia: Api,
}

async fn approvals(rule: &str) -> Approvals {
    let clock = Arc::new(ManualClock::starting_now());
    let app = TestApp::builder()
        .clock(clock.clone())
        .set_up()
        .start()
        .await;
    let admin = app.admin().await;
    let science = admin.create_department("Science", None).await;
    let physics = admin.create_department("Physics", Some(science)).await;
    let law = admin.create_department("Law", None).await;
    admin.create_member("dana", PASSWORD, science, true).await;
    admin.create_member("pia", PASSWORD, physics, true).await;
    admin.create_member("lou", PASSWORD, law, true).await;
    let mia_id = admin.create_member("mia", PASSWORD, physics, false).await;
    let (status, policy) = admin
        .put(
            &format!("/api/v1/departments/{science}/approval-policy"),
            json!({"policy": {"require": rule, "max_vcpus": 1, "max_memory_mib": 512}}),
        )
        .await;
    assert_eq!(status, 200, "{policy}");
    Approvals {
        dana: app.sign_in("dana", PASSWORD).await,
        pia: app.sign_in("pia", PASSWORD).await,
        lou: app.sign_in("lou", PASSWORD).await,
        mia: app.sign_in("mia", PASSWORD).await,
        app,
        clock,
        admin,
        science,
        physics,
        mia_id,
    }
}

/// Requests a deploy of `name` and expects it to wait: (instance, request).
async fn requested(api: &Api, name: &str) -> (i64, i64) {
    let (status, body) = api.deploy(name).await;
    assert_eq!(status, 202, "{body}");
    assert!(body["task_id"].is_null(), "no task yet: {body}");
    let approval = body["approval_id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no approval_id: {body}"));
    (body["id"].as_i64().unwrap(), approval)
}

async fn decide(api: &Api, id: i64, verdict: &str, comment: &str) -> (u16, Value) {
    api.post(
        &format!("/api/v1/approvals/{id}/{verdict}"),
        json!({"comment": comment}),
    )
    .await
}

async fn instances_used(api: &Api) -> i64 {
    let (_, quotas) = api.get("/api/v1/quotas").await;
    quotas[0]["usage"]["instances"].as_i64().unwrap()
}

async fn notices(app: &TestApp, id: i64) -> Vec<NoticeKind> {
    app.appliance
        .store
        .read(move |c| outbox::for_instance(c, id))
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.kind)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_department_sets_an_approval_policy_its_sub_departments_inherit() {
    let Approvals {
        app: _app,
        admin,
        science,
        physics,
        dana,
        lou,
        ..
    } = approvals("every_deploy").await;
    let (status, view) = dana
        .get(&format!("/api/v1/departments/{physics}/approval-policy"))
        .await;
    assert_eq!(status, 200, "{view}");
    assert!(view["own"].is_null(), "{view}");
    assert_eq!(view["effective"]["require"], "every_deploy", "{view}");
    assert_eq!(view["effective"]["timeout_days"], 7, "the default: {view}");
    assert_eq!(view["from"], "Science", "{view}");
    // Another department's admin sees nothing of it; only admins set it.
    let (status, _) = lou
        .get(&format!("/api/v1/departments/{physics}/approval-policy"))
        .await;
    assert_eq!(status, 404);
    let (status, _) = dana
        .put(
            &format!("/api/v1/departments/{physics}/approval-policy"),
            json!({"policy": null}),
        )
        .await;
    assert_eq!(status, 403);
    // Bad input is refused with its reason, and nothing changes.
    let (status, err) = admin
        .put(
            &format!("/api/v1/departments/{science}/approval-policy"),
            json!({"policy": {"require": "every_deploy", "timeout_days": 0}}),
        )
        .await;
    assert_eq!(
        (status, err["field"].as_str()),
        (422, Some("policy")),
        "{err}"
    );
    let (status, _) = admin
        .put(
            &format!("/api/v1/departments/{science}/approval-policy"),
            json!({"policy": {"require": "sometimes"}}),
        )
        .await;
    assert_eq!(status, 422);
    let (_, view) = admin
        .get(&format!("/api/v1/departments/{science}/approval-policy"))
        .await;
    assert_eq!(view["own"]["require"], "every_deploy", "{view}");
    let (_, audit) = admin.get("/api/v1/audit?action=approval.policy").await;
    assert_eq!(audit.as_array().map(Vec::len), Some(1), "{audit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_requests_never_reserve_more_than_the_quota() {
    let Approvals {
        app,
        admin,
        physics,
        dana,
        mia,
        ..
    } = approvals("every_deploy").await;
    let (status, view) = admin
        .update_department(physics, json!({"quota": {"instances": 10}}))
        .await;
    assert_eq!(status, 200, "{view}");
    let mia = Arc::new(mia);
    let requests: Vec<_> = (0..50)
        .map(|n| {
            let mia = mia.clone();
            tokio::spawn(async move { mia.deploy(&format!("asked-{n}")).await })
        })
        .collect();
    let mut waiting = Vec::new();
    let mut refused = 0;
    for request in requests {
        let (status, body) = request.await.unwrap();
        match status {
            202 => waiting.push(body["approval_id"].as_i64().unwrap()),
            409 => {
                assert_eq!(body["error"], "quota_exceeded", "{body}");
                refused += 1;
            }
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!((waiting.len(), refused), (10, 40));
    assert_eq!(instances_used(&mia).await, 10, "reserved while pending");
    let (_, list) = dana.get("/api/v1/approvals").await;
    let pending = list.as_array().unwrap();
    assert_eq!(pending.len(), 10, "{list}");
    assert!(
        pending
            .iter()
            .all(|a| a["state"] == "pending" && a["may_decide"] == true)
    );
    // A rejection releases one place, which the next request takes.
    let (status, body) = decide(&dana, waiting[0], "reject", "one is enough").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(instances_used(&mia).await, 9);
    requested(&mia, "asked-again").await;
    let (status, body) = mia.deploy("one-too-many").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("quota_exceeded"))
    );
    drop(app);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_request_deploys_and_its_requester_sees_who_approved_it() {
    let Approvals {
        app,
        admin,
        dana,
        lou,
        mia,
        ..
    } = approvals("every_deploy").await;
    let (id, approval) = requested(&mia, "wanted").await;
    let (_, inst) = mia.instance(id).await;
    assert_eq!(inst["state"], "provisioning", "{inst}");
    assert_eq!(inst["approval"]["state"], "pending", "{inst}");
    assert!(inst["task_id"].is_null(), "{inst}");
    let (_, list) = mia.instances().await;
    assert_eq!(list[0]["approval"]["state"], "pending", "{list}");
    // The requester sees their request, and may not decide it.
    let (_, mine) = mia.get("/api/v1/approvals").await;
    assert_eq!(mine[0]["may_decide"], false, "{mine}");
    assert_eq!(decide(&mia, approval, "approve", "").await.0, 403);
    // Another department's admin neither sees it nor decides it.
    let (_, theirs) = lou.get("/api/v1/approvals").await;
    assert_eq!(theirs, json!([]));
    assert_eq!(decide(&lou, approval, "approve", "").await.0, 404);

    let (status, decided) = decide(&dana, approval, "approve", "go ahead").await;
    assert_eq!(status, 200, "{decided}");
    assert_eq!(decided["state"], "approved", "{decided}");
    assert_eq!(decided["decided_by"], "dana", "{decided}");
    let inst = mia.wait_state(id, "running").await;
    assert_eq!(inst["approval"]["state"], "approved", "{inst}");
    assert_eq!(inst["approval"]["decided_by"], "dana", "{inst}");
    assert_eq!(inst["approval"]["comment"], "go ahead", "{inst}");
    // Decided once: a second decision is refused, and changes nothing.
    let (status, body) = decide(&admin, approval, "reject", "").await;
    assert_eq!(status, 409, "{body}");
    let (_, inst) = mia.instance(id).await;
    assert_eq!(inst["state"], "running", "{inst}");
    // The approved deploy tells of its end as every deploy does.
    assert_eq!(
        notices(&app, id).await,
        [
            NoticeKind::ApprovalRequested,
            NoticeKind::ApprovalDecided,
            NoticeKind::DeploySucceeded
        ]
    );
    let (_, audit) = admin.get("/api/v1/audit?action=approval.approve").await;
    assert_eq!(audit[0]["object"], "instance wanted", "{audit}");
    assert_eq!(audit[0]["actor"], "dana", "{audit}");
    let (_, audit) = admin.get("/api/v1/audit?action=approval.request").await;
    assert_eq!(audit.as_array().map(Vec::len), Some(1), "{audit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejection_releases_the_reservation_and_tells_the_requester_why() {
    let Approvals { app, pia, mia, .. } = approvals("every_deploy").await;
    let (id, approval) = requested(&mia, "unwanted").await;
    assert_eq!(instances_used(&mia).await, 1);
    let (status, body) = decide(&pia, approval, "reject", "use the shared wiki").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "rejected", "{body}");
    assert_eq!(instances_used(&mia).await, 0, "released");
    let (_, inst) = mia.instance(id).await;
    assert_eq!(inst["state"], "failed", "{inst}");
    assert_eq!(inst["approval"]["state"], "rejected", "{inst}");
    assert_eq!(inst["approval"]["comment"], "use the shared wiki", "{inst}");
    assert_eq!(
        inst["error"], "pia rejected the deploy of unwanted: use the shared wiki",
        "{inst}"
    );
    assert_eq!(
        notices(&app, id).await,
        [NoticeKind::ApprovalRequested, NoticeKind::ApprovalDecided]
    );
    // What is left is deleted like any failed deploy.
    let (status, body) = mia.delete_instance(id).await;
    assert_eq!(status, 202, "{body}");
    mia.wait_task(body["task_id"].as_i64().unwrap()).await;
    assert_eq!(mia.instance(id).await.0, 404);
    let (_, mine) = mia.get("/api/v1/approvals").await;
    assert_eq!(mine[0]["state"], "rejected", "kept on record: {mine}");
    assert!(mine[0]["instance_id"].is_null(), "{mine}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_nobody_decides_lapses_after_the_policys_time_and_releases_its_quota() {
    let Approvals {
        app,
        clock,
        dana,
        mia,
        ..
    } = approvals("every_deploy").await;
    let (id, approval) = requested(&mia, "forgotten").await;
    clock.advance(7 * DAY - 1);
    assert_eq!(app.appliance.engine.approval_pass().await.unwrap(), 0);
    assert_eq!(instances_used(&mia).await, 1);
    clock.advance(1);
    assert_eq!(app.appliance.engine.approval_pass().await.unwrap(), 1);
    assert_eq!(
        app.appliance.engine.approval_pass().await.unwrap(),
        0,
        "once"
    );
    assert_eq!(instances_used(&mia).await, 0, "released");
    let (_, inst) = mia.instance(id).await;
    assert_eq!(inst["state"], "failed", "{inst}");
    assert_eq!(inst["approval"]["state"], "expired", "{inst}");
    let (status, body) = decide(&dana, approval, "approve", "").await;
    assert_eq!(status, 409, "too late: {body}");
    assert_eq!(
        notices(&app, id).await,
        [NoticeKind::ApprovalRequested, NoticeKind::ApprovalDecided]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_request_lapses_at_the_first_pass_after_a_restart() {
    let Approvals {
        app, clock, mia, ..
    } = approvals("every_deploy").await;
    let (id, _) = requested(&mia, "waited").await;
    clock.advance(8 * DAY);
    // The pass at start-up catches up on what came due while dpe was down.
    let app = app.restart().await;
    let mia = app.sign_in("mia", PASSWORD).await;
    let inst = mia
        .wait_instance(id, Duration::from_secs(20), |inst| {
            inst["approval"]["state"] == "expired"
        })
        .await;
    assert_eq!(inst["state"], "failed", "{inst}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_approves_their_own_request_even_as_a_department_admin() {
    let Approvals {
        admin, dana, pia, ..
    } = approvals("every_deploy").await;
    // Pia administers Physics; her own deploy waits like anyone's.
    let (_, approval) = requested(&pia, "pias").await;
    let (status, body) = decide(&pia, approval, "approve", "").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("own_request")),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("your own request"),
        "{body}"
    );
    let (_, list) = pia.get("/api/v1/approvals").await;
    assert_eq!(list[0]["may_decide"], false, "{list}");
    let (_, audit) = admin.get("/api/v1/audit?action=approval.approve").await;
    assert_eq!(audit[0]["outcome"], "refused", "{audit}");
    // Someone above her may.
    assert_eq!(decide(&dana, approval, "approve", "").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn who_may_decide_a_request_by_role_and_department() {
    let Approvals {
        app,
        admin,
        dana,
        pia,
        lou,
        mia,
        ..
    } = approvals("every_deploy").await;
    // (who, status): each kind of caller deciding a fresh request of Mia's.
    let deciders: [(&str, &Api, u16); 6] = [
        ("the requester", &mia, 403),
        ("another department's admin", &lou, 404),
        (
            "a member",
            &app.user_client("ann", app::model::Role::User).await,
            403,
        ),
        ("its department's admin", &pia, 200),
        ("the admin of the department above", &dana, 200),
        ("the appliance admin", &admin, 200),
    ];
    for (n, (who, api, status)) in deciders.into_iter().enumerate() {
        let (_, approval) = requested(&mia, &format!("asked-{n}")).await;
        let (got, body) = decide(api, approval, "reject", "").await;
        assert_eq!(got, status, "{who}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_without_the_right_to_deploy_may_request_where_the_policy_offers_it() {
    let Approvals {
        app: _app,
        admin,
        science,
        mia_id,
        mia,
        ..
    } = approvals("without_deploy_right").await;
    // With the right, Mia deploys at once.
    let (status, body) = mia.deploy("direct").await;
    assert_eq!(status, 202, "{body}");
    assert!(body["task_id"].is_i64(), "{body}");
    assert!(body["approval_id"].is_null(), "{body}");
    admin
        .update_member(mia_id, json!({"may_deploy": false}))
        .await;
    let mia = _app.sign_in("mia", PASSWORD).await;
    requested(&mia, "asked").await;
    // Where no approval is offered, she may not deploy at all.
    admin
        .put(
            &format!("/api/v1/departments/{science}/approval-policy"),
            json!({"policy": {"require": "never"}}),
        )
        .await;
    let (status, _) = mia.deploy("refused").await;
    assert_eq!(status, 403);
    // Above a size: small deploys go at once for those with the right.
    admin
        .update_member(mia_id, json!({"may_deploy": true}))
        .await;
    admin
        .put(
            &format!("/api/v1/departments/{science}/approval-policy"),
            json!({"policy": {"require": "above_size", "max_vcpus": 1, "max_memory_mib": 64}}),
        )
        .await;
    let mia = _app.sign_in("mia", PASSWORD).await;
    let (status, body) = mia.deploy("big").await;
    assert_eq!(status, 202, "{body}");
    assert!(
        body["approval_id"].is_i64(),
        "the tiny size is above 64 MiB: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_first_what_waits_for_its_reader() {
    let Approvals {
        app: _app,
        clock,
        admin,
        dana,
        lou,
        mia,
        ..
    } = approvals("every_deploy").await;
    let (status, body) = admin
        .put(
            "/api/v1/lease-policy",
            json!({"lease_days": 30, "extendable": true, "max_days": 60}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (id, approval) = requested(&mia, "on-the-board").await;
    let dashboard = |api: Api| async move {
        let (status, view) = api.post_empty("/fn/dashboard").await;
        assert_eq!(status, 200, "{view}");
        view
    };
    // The approvers see the request; the requester and others do not.
    let view = dashboard(dana.clone()).await;
    assert_eq!(
        view["approvals"][0]["instance_name"], "on-the-board",
        "{view}"
    );
    assert_eq!(view["approvals"][0]["may_decide"], true, "{view}");
    assert_eq!(
        dashboard(admin.clone()).await["approvals"][0]["id"],
        approval
    );
    assert_eq!(dashboard(mia.clone()).await["approvals"], json!([]));
    assert_eq!(dashboard(lou.clone()).await["approvals"], json!([]));
    decide(&dana, approval, "approve", "").await;
    mia.wait_state(id, "running").await;
    assert_eq!(
        dashboard(dana.clone()).await["approvals"],
        json!([]),
        "decided"
    );

    // 23 days on, nothing is expiring; a day later it is, for its owner
    // and the admins above it, not for others.
    clock.advance(22 * DAY);
    assert_eq!(dashboard(mia.clone()).await["expiring"], json!([]));
    clock.advance(DAY + 1);
    let view = dashboard(mia.clone()).await;
    assert_eq!(view["expiring"][0]["name"], "on-the-board", "{view}");
    assert_eq!(dashboard(dana.clone()).await["expiring"][0]["id"], id);
    assert_eq!(dashboard(lou.clone()).await["expiring"], json!([]));
}
