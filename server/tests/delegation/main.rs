//! Delegation through the REST API on libvirt's test driver: departments,
//! their admins and members, the right to deploy, quotas (atomic under
//! concurrency), the audit log, and an authorization matrix over every
//! endpoint × role × ownership (`matrix.rs`).

// A test reports failure by panicking; its helpers may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod approvals;
#[path = "../common/mod.rs"]
mod common;
mod matrix;
mod members;

use common::{Api, TestApp};
use serde_json::{Value, json};

const PASSWORD: &str = "Long-Enough-Pass-42";

const PHYSICS: &str = "Physics <&> \"Ünï\"";

/// Science above Physics, and Law; Dana administers Science and added
/// Mia to Physics.
struct Delegated {
    /// Keeps the server and its data directory: bind it (as `_app`) in
    /// every pattern, or both go at the end of the `let`.
    _app: TestApp,
    admin: Api,
    science: i64,
    physics: i64,
    law: i64,
    dana: Api,
    mia_id: i64,
    mia: Api,
}

async fn delegated() -> Delegated {
    let app = TestApp::builder().set_up().start().await;
    let admin = app.admin().await;
    let science = admin.create_department("Science", None).await;
    let physics = admin.create_department(PHYSICS, Some(science)).await;
    let law = admin.create_department("Law", None).await;
    admin.create_member("dana", PASSWORD, science, true).await;
    let dana = app.sign_in("dana", PASSWORD).await;
    let mia_id = dana.create_member("mia", PASSWORD, physics, false).await;
    let mia = app.sign_in("mia", PASSWORD).await;
    Delegated {
        _app: app,
        admin,
        science,
        physics,
        law,
        dana,
        mia_id,
        mia,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn department_names_are_unique_and_parents_must_exist() {
    let Delegated { _app, admin, .. } = delegated().await;
    // Names are unique; parents must exist; unknown fields are refused.
    let (status, _) = admin
        .post("/api/v1/departments", json!({"name": "Law"}))
        .await;
    assert_eq!(status, 409);
    let (status, err) = admin
        .post(
            "/api/v1/departments",
            json!({"name": "X", "parent_id": 999}),
        )
        .await;
    assert_eq!(
        (status, err["field"].as_str()),
        (422, Some("parent_id")),
        "{err}"
    );
    let (status, _) = admin
        .post("/api/v1/departments", json!({"name": "X", "color": 1}))
        .await;
    assert_eq!(status, 422);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn department_admins_add_members_below_them_and_see_only_their_departments() {
    let Delegated {
        _app,
        dana,
        physics,
        law,
        ..
    } = delegated().await;
    let (_, me) = dana.me().await;
    assert_eq!(me["role"], "department_admin");
    // Not in another department, and no appointing admins.
    let (status, _) = dana
        .post(
            "/api/v1/users",
            json!({"username": "lex", "password": PASSWORD, "department_id": law}),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = dana
        .post(
            "/api/v1/users",
            json!({"username": "ben", "password": PASSWORD, "department_id": physics,
                "department_admin": true}),
        )
        .await;
    assert_eq!(status, 403);
    let (status, err) = dana
        .post(
            "/api/v1/users",
            json!({"username": "weak", "password": "password", "department_id": physics}),
        )
        .await;
    assert_eq!(
        (status, err["field"].as_str()),
        (422, Some("password")),
        "{err}"
    );
    // Dana sees Science and Physics, not Law.
    let (_, seen) = dana.get("/api/v1/departments").await;
    let names: Vec<_> = seen
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["Science", "Science / Physics <&> \"Ünï\""]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn withdrawing_the_right_to_deploy_works_at_once_and_granting_restores_it() {
    let Delegated {
        _app,
        dana,
        mia_id,
        mia,
        ..
    } = delegated().await;
    let (status, _) = dana
        .update_member(mia_id, json!({"may_deploy": false}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(mia.deploy("mias-1").await.0, 403);
    dana.update_member(mia_id, json!({"may_deploy": true}))
        .await;
    assert_eq!(mia.deploy("mias-1").await.0, 202);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_without_the_right_to_deploy_gets_403_from_every_deploy_and_nothing_is_recorded()
{
    let app = TestApp::builder().set_up().start().await;
    let admin = app.admin().await;
    let physics = admin.create_department("Physics", None).await;
    let body = json!({"username": "ned", "password": PASSWORD,
        "department_id": physics, "may_deploy": false});
    let (status, ned) = admin.post("/api/v1/users", body).await;
    assert_eq!((status, &ned["may_deploy"]), (201, &json!(false)), "{ned}");
    let ned = app.sign_in("ned", PASSWORD).await;
    let (status, err) = ned.deploy("neds-1").await;
    assert_eq!((status, &err["error"]), (403, &json!("forbidden")), "{err}");
    // The portal's server function and the deploy form's stack ask for
    // the same right.
    let form = [("name", "neds-2"), ("size", "tiny"), ("params[title]", "t")];
    assert_eq!(ned.post_form("/fn/deploy", &form).await.0, 403);
    assert_eq!(ned.get("/api/v1/stack").await.0, 403);
    assert_eq!(ned.post_empty("/fn/stack").await.0, 403);
    // Nothing was recorded, for anyone to see.
    let (status, listed) = admin.get("/api/v1/instances").await;
    assert_eq!((status, listed), (200, json!([])));
    // The same form gets past the check for one who holds the right.
    let (status, accepted) = admin.post_form("/fn/deploy", &form).await;
    assert_eq!(status, 200, "{accepted}");
    assert!(accepted["task_id"].is_i64(), "{accepted}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn department_admins_set_quotas_below_their_own_which_bind_deploys() {
    let Delegated {
        _app,
        admin,
        science,
        physics,
        dana,
        mia_id,
        mia,
        ..
    } = delegated().await;
    assert_eq!(mia.deploy("mias-1").await.0, 202);
    // Quotas: Dana sets Physics' (below her own), not Science's.
    let (status, _) = dana
        .update_department(science, json!({"quota": {"instances": 100}}))
        .await;
    assert_eq!(status, 403);
    let (status, _) = dana
        .update_department(physics, json!({"quota": {"instances": -1}}))
        .await;
    assert_eq!(status, 422, "negative sizes are refused");
    let (status, view) = dana
        .update_department(physics, json!({"quota": {"instances": 2, "vcpus": 8}}))
        .await;
    assert_eq!(
        (status, &view["usage"]["instances"]),
        (200, &json!(1)),
        "{view}"
    );
    assert_eq!(mia.deploy("mias-2").await.0, 202);
    let (status, err) = mia.deploy("mias-3").await;
    assert_eq!(
        (status, err["error"].as_str()),
        (409, Some("quota_exceeded")),
        "{err}"
    );
    assert_eq!(
        err["message"],
        "Deploy refused: the quota of department Physics <&> \"Ünï\" allows 2 instances; 2 in use, this deploy needs 1 more: 1 over"
    );
    // A per-user quota binds before the department's.
    admin.update_department(physics, json!({"quota": {}})).await;
    dana.update_member(mia_id, json!({"quota": {"memory_mib": 600}}))
        .await;
    let (status, err) = mia.deploy("mias-3").await;
    assert_eq!(status, 409, "{err}");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .starts_with("Deploy refused: your quota allows 600 MiB of memory; 512 in use"),
        "{err}"
    );
    let (_, quotas) = mia.get("/api/v1/quotas").await;
    assert_eq!(quotas[0]["usage"]["instances"], 2, "{quotas}");
    assert_eq!(
        quotas[1]["scope"], "Department Physics <&> \"Ünï\"",
        "{quotas}"
    );
    assert_eq!(quotas[2]["scope"], "Department Science", "{quotas}");

    // Dana sees and manages Mia's instances; Mia sees only her own.
    let (_, list) = dana.instances().await;
    assert_eq!(list.as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_department_in_use_cannot_be_deleted_and_an_empty_one_can() {
    let Delegated {
        _app,
        admin,
        physics,
        law,
        mia,
        ..
    } = delegated().await;
    assert_eq!(mia.deploy("mias-1").await.0, 202);
    let in_use = admin
        .delete(&format!("/api/v1/departments/{physics}"))
        .await;
    assert_eq!(in_use.0, 409, "{}", in_use.1);
    let empty = admin.delete(&format!("/api/v1/departments/{law}")).await;
    assert_eq!(empty.0, 204, "{}", empty.1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_tells_who_did_what_and_department_admins_see_their_part() {
    let Delegated {
        _app,
        admin,
        physics,
        law,
        dana,
        mia_id,
        mia,
        ..
    } = delegated().await;
    // What the log should tell: a 403 at the edge, a change of Mia, a
    // deploy and a quota refusal, and a department deleted.
    let (status, _) = dana
        .post(
            "/api/v1/users",
            json!({"username": "lex", "password": PASSWORD, "department_id": law}),
        )
        .await;
    assert_eq!(status, 403);
    dana.update_member(mia_id, json!({"may_deploy": true}))
        .await;
    dana.update_department(physics, json!({"quota": {"instances": 1}}))
        .await;
    assert_eq!(mia.deploy("mias-1").await.0, 202);
    assert_eq!(mia.deploy("mias-2").await.0, 409);
    assert_eq!(
        admin.delete(&format!("/api/v1/departments/{law}")).await.0,
        204
    );

    // The audit log tells who did what; Dana sees her departments' part,
    // Mia none of it.
    let (status, log) = admin.get("/api/v1/audit?limit=200").await;
    assert_eq!(status, 200);
    let has = |log: &Value, actor: &str, action: &str, outcome: &str| {
        log.as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor"] == actor && e["action"] == action && e["outcome"] == outcome)
    };
    assert!(has(&log, "admin", "department.create", "ok"));
    assert!(has(&log, "dana", "user.create", "ok"));
    assert!(has(&log, "dana", "user.update", "ok"));
    assert!(
        has(&log, "mia", "instance.deploy", "refused"),
        "quota refusals"
    );
    assert!(has(&log, "dana", "refused", "refused"), "403s at the edge");
    assert!(has(&log, "mia", "sign_in", "ok"));
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .all(|e| e["address"] == "127.0.0.1")
    );
    assert!(!log.to_string().contains(PASSWORD));
    let (_, dana_log) = dana.get("/api/v1/audit?limit=200").await;
    assert!(has(&dana_log, "mia", "instance.deploy", "ok"));
    assert!(
        !has(&dana_log, "admin", "department.delete", "ok"),
        "Law is not hers: {dana_log}"
    );
    assert_eq!(mia.get("/api/v1/audit").await.0, 403);
    let (status, err) = admin.get("/api/v1/audit?outcome=maybe").await;
    assert_eq!((status, err["field"].as_str()), (422, Some("outcome")));
    let (status, _) = admin.get("/api/v1/audit?sort=asc").await;
    assert_eq!(status, 422, "unknown filters are refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_deploys_against_a_quota_of_ten_leave_exactly_ten() {
    let app = TestApp::builder().set_up().start().await;
    let admin = app.admin().await;
    let lab = admin.create_department("Lab", None).await;
    admin
        .update_department(lab, json!({"quota": {"instances": 10}}))
        .await;
    admin.create_member("rush", PASSWORD, lab, false).await;
    let rush = app.sign_in("rush", PASSWORD).await;
    let requests = (0..200).map(|n| {
        let rush = rush.clone();
        tokio::spawn(async move {
            rush.deploy_with(
                json!({"name": format!("rush-{n}"), "size": "tiny", "params": {"title": "T"}}),
            )
            .await
        })
    });
    let answers = futures::future::join_all(requests).await;
    let mut accepted = 0;
    for answer in answers {
        let (status, body) = answer.unwrap();
        match status {
            202 => accepted += 1,
            409 => assert_eq!(body["error"], "quota_exceeded", "{body}"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(accepted, 10);
    let (_, list) = admin.instances().await;
    assert_eq!(list.as_array().unwrap().len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_in_no_department_deploy_only_under_the_default_quota() {
    let app = TestApp::builder().set_up().start().await;
    let admin = app.admin().await;
    let science = admin.create_department("Science", None).await;
    let mia = admin.create_member("mia", PASSWORD, science, false).await;
    let (status, view) = admin
        .update_member(mia, json!({"may_deploy": true, "department_id": null}))
        .await;
    assert_eq!((status, &view["may_deploy"]), (200, &json!(true)), "{view}");
    let mia_client = app.sign_in("mia", PASSWORD).await;

    // Unset, the default quota allows nothing, and says so.
    let (status, quota) = admin.get("/api/v1/quotas/default").await;
    assert_eq!((status, &quota["instances"]), (200, &json!(0)), "{quota}");
    let (status, err) = mia_client.deploy("mia-1").await;
    assert_eq!(
        (status, err["error"].as_str()),
        (409, Some("quota_exceeded")),
        "{err}"
    );
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("the quota of accounts in no department allows 0 instances"),
        "{err}"
    );
    let (_, quotas) = mia_client.get("/api/v1/quotas").await;
    assert_eq!(
        quotas[1]["scope"], "Accounts in no department (each)",
        "{quotas}"
    );

    // Only the appliance admin sets it, and it binds everyone but them.
    let body = json!({"instances": 1});
    let (status, _) = mia_client.put("/api/v1/quotas/default", body.clone()).await;
    assert_eq!(status, 403);
    let (status, err) = admin
        .put("/api/v1/quotas/default", json!({"instances": -1}))
        .await;
    assert_eq!(status, 422, "{err}");
    let (status, quota) = admin.put("/api/v1/quotas/default", body).await;
    assert_eq!((status, &quota["instances"]), (200, &json!(1)), "{quota}");
    assert_eq!(mia_client.deploy("mia-1").await.0, 202);
    assert_eq!(mia_client.deploy("mia-2").await.0, 409);
    assert_eq!(admin.deploy("admins-1").await.0, 202);
    assert_eq!(admin.deploy("admins-2").await.0, 202);

    // Back in a department, the department's quota applies instead.
    admin
        .update_member(mia, json!({"department_id": science}))
        .await;
    assert_eq!(mia_client.deploy("mia-2").await.0, 202);
    let (_, audit) = admin.get("/api/v1/audit?action=quota.default").await;
    assert_eq!(audit.as_array().unwrap().len(), 1, "{audit}");
}
