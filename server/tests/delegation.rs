//! Delegation through the REST API on libvirt's test driver: departments,
//! their admins and members, the right to deploy, quotas (atomic under
//! concurrency), the audit log, and an authorization matrix over every
//! endpoint × role × ownership.

// A test reports failure by panicking; its helpers may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{TestApp, status_json};
use reqwest::{Client, Method};
use serde_json::{Value, json};

const PASSWORD: &str = "Long-Enough-Pass-42";

async fn call(
    app: &TestApp,
    client: &Client,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = client.request(method, app.url(path));
    if let Some(body) = body {
        request = request.json(&body);
    }
    status_json(request.send().await.unwrap()).await
}

async fn sign_in(app: &TestApp, username: &str) -> Client {
    let client = app.client();
    let r = app.login(&client, username, PASSWORD).await;
    assert_eq!(r.status(), 200, "{username}: {}", r.text().await.unwrap());
    client
}

async fn department(app: &TestApp, admin: &Client, name: &str, parent: Option<i64>) -> i64 {
    let (status, d) = call(
        app,
        admin,
        Method::POST,
        "/api/v1/departments",
        Some(json!({"name": name, "parent_id": parent})),
    )
    .await;
    assert_eq!(status, 201, "{d}");
    d["id"].as_i64().unwrap()
}

async fn member(
    app: &TestApp,
    by: &Client,
    name: &str,
    department: i64,
    department_admin: bool,
) -> i64 {
    let (status, m) = call(
        app,
        by,
        Method::POST,
        "/api/v1/users",
        Some(json!({
        "username": name, "password": PASSWORD, "department_id": department,
        "department_admin": department_admin})),
    )
    .await;
    assert_eq!(status, 201, "{m}");
    m["id"].as_i64().unwrap()
}

/// `PATCH /api/v1/users/{id}` as `who`.
async fn patch(app: &TestApp, who: &Client, id: i64, body: Value) -> (u16, Value) {
    call(
        app,
        who,
        Method::PATCH,
        &format!("/api/v1/users/{id}"),
        Some(body),
    )
    .await
}

async fn deploy(app: &TestApp, client: &Client, name: &str) -> (u16, Value) {
    call(
        app,
        client,
        Method::POST,
        "/api/v1/instances",
        Some(json!({"name": name, "size": "tiny", "params": {"title": "T"}})),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_delegate_to_departments_which_grant_members_within_quotas() {
    let app = TestApp::builder().set_up().start().await;
    let admin = app.admin().await;
    let science = department(&app, &admin, "Science", None).await;
    let physics = department(&app, &admin, "Physics <&> \"Ünï\"", Some(science)).await;
    let law = department(&app, &admin, "Law", None).await;
    // Names are unique; parents must exist; unknown fields are refused.
    assert_eq!(
        call(
            &app,
            &admin,
            Method::POST,
            "/api/v1/departments",
            Some(json!({"name": "Law"}))
        )
        .await
        .0,
        409
    );
    let (status, err) = call(
        &app,
        &admin,
        Method::POST,
        "/api/v1/departments",
        Some(json!({"name": "X", "parent_id": 999})),
    )
    .await;
    assert_eq!(
        (status, err["field"].as_str()),
        (422, Some("parent_id")),
        "{err}"
    );
    assert_eq!(
        call(
            &app,
            &admin,
            Method::POST,
            "/api/v1/departments",
            Some(json!({"name": "X", "color": 1}))
        )
        .await
        .0,
        422
    );

    // The admin appoints Science's admin, who adds a member in Physics.
    member(&app, &admin, "dana", science, true).await;
    let dana = sign_in(&app, "dana").await;
    let (_, me) = call(&app, &dana, Method::GET, "/api/v1/me", None).await;
    assert_eq!(me["role"], "department_admin");
    let mia = member(&app, &dana, "mia", physics, false).await;
    // Not in another department, and no appointing admins.
    let (status, _) = call(
        &app,
        &dana,
        Method::POST,
        "/api/v1/users",
        Some(json!({
        "username": "lex", "password": PASSWORD, "department_id": law})),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = call(&app, &dana, Method::POST, "/api/v1/users", Some(json!({
        "username": "ben", "password": PASSWORD, "department_id": physics, "department_admin": true}))).await;
    assert_eq!(status, 403);
    let (status, err) = call(
        &app,
        &dana,
        Method::POST,
        "/api/v1/users",
        Some(json!({
        "username": "weak", "password": "password", "department_id": physics})),
    )
    .await;
    assert_eq!(
        (status, err["field"].as_str()),
        (422, Some("password")),
        "{err}"
    );
    // Dana sees Science and Physics, not Law.
    let (_, seen) = call(&app, &dana, Method::GET, "/api/v1/departments", None).await;
    let names: Vec<_> = seen
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["Science", "Science / Physics <&> \"Ünï\""]);

    // Withdrawing the right to deploy works at once; granting restores it.
    let mia_client = sign_in(&app, "mia").await;
    let (status, _) = call(
        &app,
        &dana,
        Method::PATCH,
        &format!("/api/v1/users/{mia}"),
        Some(json!({"may_deploy": false})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(deploy(&app, &mia_client, "mias-1").await.0, 403);
    call(
        &app,
        &dana,
        Method::PATCH,
        &format!("/api/v1/users/{mia}"),
        Some(json!({"may_deploy": true})),
    )
    .await;
    assert_eq!(deploy(&app, &mia_client, "mias-1").await.0, 202);

    // Quotas: Dana sets Physics' (below her own), not Science's.
    let (status, _) = call(
        &app,
        &dana,
        Method::PATCH,
        &format!("/api/v1/departments/{science}"),
        Some(json!({"quota": {"instances": 100}})),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = call(
        &app,
        &dana,
        Method::PATCH,
        &format!("/api/v1/departments/{physics}"),
        Some(json!({"quota": {"instances": -1}})),
    )
    .await;
    assert_eq!(status, 422, "negative sizes are refused");
    let (status, view) = call(
        &app,
        &dana,
        Method::PATCH,
        &format!("/api/v1/departments/{physics}"),
        Some(json!({"quota": {"instances": 2, "vcpus": 8}})),
    )
    .await;
    assert_eq!(
        (status, &view["usage"]["instances"]),
        (200, &json!(1)),
        "{view}"
    );
    assert_eq!(deploy(&app, &mia_client, "mias-2").await.0, 202);
    let (status, err) = deploy(&app, &mia_client, "mias-3").await;
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
    call(
        &app,
        &admin,
        Method::PATCH,
        &format!("/api/v1/departments/{physics}"),
        Some(json!({"quota": {}})),
    )
    .await;
    call(
        &app,
        &dana,
        Method::PATCH,
        &format!("/api/v1/users/{mia}"),
        Some(json!({"quota": {"memory_mib": 600}})),
    )
    .await;
    let (status, err) = deploy(&app, &mia_client, "mias-3").await;
    assert_eq!(status, 409, "{err}");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .starts_with("Deploy refused: your quota allows 600 MiB of memory; 512 in use"),
        "{err}"
    );
    let (_, quotas) = call(&app, &mia_client, Method::GET, "/api/v1/quotas", None).await;
    assert_eq!(quotas[0]["usage"]["instances"], 2, "{quotas}");
    assert_eq!(
        quotas[1]["scope"], "Department Physics <&> \"Ünï\"",
        "{quotas}"
    );
    assert_eq!(quotas[2]["scope"], "Department Science", "{quotas}");

    // Dana sees and manages Mia's instances; Mia sees only her own.
    let (_, list) = call(&app, &dana, Method::GET, "/api/v1/instances", None).await;
    assert_eq!(list.as_array().unwrap().len(), 2);

    // A department in use cannot go; an empty one can.
    assert_eq!(
        call(
            &app,
            &admin,
            Method::DELETE,
            &format!("/api/v1/departments/{physics}"),
            None
        )
        .await
        .0,
        409
    );
    assert_eq!(
        call(
            &app,
            &admin,
            Method::DELETE,
            &format!("/api/v1/departments/{law}"),
            None
        )
        .await
        .0,
        204
    );

    // The audit log tells who did what; Dana sees her departments' part,
    // Mia none of it.
    let (status, log) = call(&app, &admin, Method::GET, "/api/v1/audit?limit=1000", None).await;
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
    let (_, dana_log) = call(&app, &dana, Method::GET, "/api/v1/audit?limit=1000", None).await;
    assert!(has(&dana_log, "mia", "instance.deploy", "ok"));
    assert!(
        !has(&dana_log, "admin", "department.delete", "ok"),
        "Law is not hers: {dana_log}"
    );
    assert_eq!(
        call(&app, &mia_client, Method::GET, "/api/v1/audit", None)
            .await
            .0,
        403
    );
    let (status, err) = call(
        &app,
        &admin,
        Method::GET,
        "/api/v1/audit?outcome=maybe",
        None,
    )
    .await;
    assert_eq!((status, err["field"].as_str()), (422, Some("outcome")));
    let (status, _) = call(&app, &admin, Method::GET, "/api/v1/audit?sort=asc", None).await;
    assert_eq!(status, 422, "unknown filters are refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_move_between_departments_and_can_be_taken_out() {
    let app = TestApp::builder().set_up().start().await;
    let admin = app.admin().await;
    let science = department(&app, &admin, "Science", None).await;
    let physics = department(&app, &admin, "Physics", Some(science)).await;
    let law = department(&app, &admin, "Law", None).await;
    let dana_id = member(&app, &admin, "dana", science, true).await;
    let dana = sign_in(&app, "dana").await;
    let mia = member(&app, &dana, "mia", science, false).await;

    // Within her subtree Dana moves Mia; out of it she may not.
    let (status, view) = patch(&app, &dana, mia, json!({"department_id": physics})).await;
    assert_eq!(
        (status, view["department"].as_str()),
        (200, Some("Physics")),
        "{view}"
    );
    assert_eq!(
        patch(&app, &dana, mia, json!({"department_id": law}))
            .await
            .0,
        403
    );
    // A missing key keeps the department; a wrong type is refused.
    let (_, view) = patch(&app, &dana, mia, json!({"may_deploy": false})).await;
    assert_eq!(view["department_id"], physics, "{view}");
    assert_eq!(
        patch(&app, &dana, mia, json!({"department_id": "none"}))
            .await
            .0,
        422
    );

    // `null` takes Mia out: the account stays, Dana no longer manages it,
    // and the audit record stays with the department she left.
    let (status, view) = patch(&app, &dana, mia, json!({"department_id": null})).await;
    assert_eq!(
        (status, &view["department_id"], &view["role"]),
        (200, &Value::Null, &json!("user")),
        "{view}"
    );
    let (_, members) = call(&app, &dana, Method::GET, "/api/v1/users", None).await;
    assert!(!members.to_string().contains("\"mia\""), "{members}");
    assert_eq!(
        patch(&app, &dana, mia, json!({"department_id": physics}))
            .await
            .0,
        404
    );
    let (_, audit) = call(
        &app,
        &dana,
        Method::GET,
        "/api/v1/audit?action=user.update",
        None,
    )
    .await;
    assert!(audit.to_string().contains("no department"), "{audit}");
    assert_eq!(
        sign_in(&app, "mia")
            .await
            .get(app.url("/api/v1/me"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // Dana cannot take herself out; the appliance admin can, which ends
    // her admin role with it.
    let (status, err) = patch(&app, &dana, dana_id, json!({"department_id": null})).await;
    assert_eq!(
        (status, err["field"].as_str()),
        (422, Some("department_id")),
        "{err}"
    );
    let (status, view) = patch(&app, &admin, dana_id, json!({"department_id": null})).await;
    assert_eq!((status, &view["role"]), (200, &json!("user")), "{view}");
    // An admin role needs a department.
    let (status, err) = patch(
        &app,
        &admin,
        dana_id,
        json!({"department_id": null, "department_admin": true}),
    )
    .await;
    assert_eq!(
        (status, err["field"].as_str()),
        (422, Some("department_id")),
        "{err}"
    );
    // The admin brings Mia back.
    let (status, view) = patch(&app, &admin, mia, json!({"department_id": law})).await;
    assert_eq!((status, view["department"].as_str()), (200, Some("Law")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn department_admins_cannot_widen_their_own_rights_or_unseat_each_other() {
    let app = TestApp::builder().set_up().start().await;
    let admin = app.admin().await;
    let science = department(&app, &admin, "Science", None).await;
    let physics = department(&app, &admin, "Physics", Some(science)).await;
    let dana_id = member(&app, &admin, "dana", science, true).await;
    let erin_id = member(&app, &admin, "erin", science, true).await;
    let dana = sign_in(&app, "dana").await;
    let mia_id = member(&app, &dana, "mia", science, false).await;

    // Her own right to deploy and her own quota are set from above.
    assert_eq!(
        patch(&app, &dana, dana_id, json!({"may_deploy": true}))
            .await
            .0,
        403
    );
    let unlimited =
        json!({"quota": {"instances": null, "vcpus": null, "memory_mib": null, "disk_gib": null}});
    assert_eq!(patch(&app, &dana, dana_id, unlimited).await.0, 403);
    // A fellow department admin is neither moved nor taken out by her.
    assert_eq!(
        patch(&app, &dana, erin_id, json!({"department_id": physics}))
            .await
            .0,
        403
    );
    assert_eq!(
        patch(&app, &dana, erin_id, json!({"department_id": null}))
            .await
            .0,
        403
    );
    // Moved by the appliance admin, Erin keeps no admin role that Physics
    // did not grant.
    let (status, view) = patch(&app, &admin, erin_id, json!({"department_id": physics})).await;
    assert_eq!((status, &view["role"]), (200, &json!("user")), "{view}");

    // Taken out by Dana, Mia keeps neither her right to deploy nor her tokens.
    let mia = sign_in(&app, "mia").await;
    let (status, token) = call(
        &app,
        &mia,
        Method::POST,
        "/api/v1/tokens",
        Some(json!({"name": "ci"})),
    )
    .await;
    assert_eq!(status, 201, "{token}");
    let bearer = |t: &Value| {
        app.client()
            .get(app.url("/api/v1/me"))
            .bearer_auth(t["token"].as_str().unwrap())
            .send()
    };
    assert_eq!(bearer(&token).await.unwrap().status(), 200);
    let (status, view) = patch(&app, &dana, mia_id, json!({"department_id": null})).await;
    assert_eq!(
        (status, &view["may_deploy"]),
        (200, &json!(false)),
        "{view}"
    );
    assert_eq!(bearer(&token).await.unwrap().status(), 401);
    assert_ne!(deploy(&app, &mia, "escaped").await.0, 202);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_deploys_against_a_quota_of_ten_leave_exactly_ten() {
    let app = TestApp::builder().set_up().start().await;
    let admin = app.admin().await;
    let lab = department(&app, &admin, "Lab", None).await;
    call(
        &app,
        &admin,
        Method::PATCH,
        &format!("/api/v1/departments/{lab}"),
        Some(json!({"quota": {"instances": 10}})),
    )
    .await;
    member(&app, &admin, "rush", lab, false).await;
    let rush = sign_in(&app, "rush").await;
    let requests = (0..200).map(|n| {
        let (client, url) = (rush.clone(), app.url("/api/v1/instances"));
        tokio::spawn(async move {
            let r = client
                .post(url)
                .json(
                    &json!({"name": format!("rush-{n}"), "size": "tiny", "params": {"title": "T"}}),
                )
                .send()
                .await
                .unwrap();
            status_json(r).await
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
    let (_, list) = call(&app, &admin, Method::GET, "/api/v1/instances", None).await;
    assert_eq!(list.as_array().unwrap().len(), 10);
}

/// Who asks, in the matrix.
#[derive(Clone, Copy, Debug)]
enum Who {
    Anonymous,
    /// Owns the instance; member of Physics.
    Owner,
    /// Another member of Physics.
    Colleague,
    /// A member of Law.
    Outsider,
    /// Admin of Science, above Physics.
    ScienceAdmin,
    /// Admin of Law.
    LawAdmin,
    Admin,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_reaches_what_is_not_theirs() {
    use Who::*;
    let app = TestApp::builder().set_up().start().await;
    let admin = app.admin().await;
    let science = department(&app, &admin, "Science", None).await;
    let physics = department(&app, &admin, "Physics", Some(science)).await;
    let law = department(&app, &admin, "Law", None).await;
    let owner_id = member(&app, &admin, "owner", physics, false).await;
    member(&app, &admin, "colleague", physics, false).await;
    member(&app, &admin, "outsider", law, false).await;
    member(&app, &admin, "sciadmin", science, true).await;
    member(&app, &admin, "lawadmin", law, true).await;
    let clients = [
        (Anonymous, app.client()),
        (Owner, sign_in(&app, "owner").await),
        (Colleague, sign_in(&app, "colleague").await),
        (Outsider, sign_in(&app, "outsider").await),
        (ScienceAdmin, sign_in(&app, "sciadmin").await),
        (LawAdmin, sign_in(&app, "lawadmin").await),
        (Admin, admin.clone()),
    ];
    let owner = &clients[1].1;
    let (status, accepted) = deploy(&app, owner, "owned").await;
    assert_eq!(status, 202, "{accepted}");
    let (instance, task) = (
        accepted["id"].as_i64().unwrap(),
        accepted["task_id"].as_i64().unwrap(),
    );

    // Expected status by who asks; others' instances are 404 so they do
    // not even learn they exist.
    type Row = (Method, String, Option<Value>, [u16; 7]);
    let i = format!("/api/v1/instances/{instance}");
    let rows: Vec<Row> = vec![
        //                                                     anon own  coll out  sci  law  admin
        (
            Method::GET,
            i.clone(),
            None,
            [401, 200, 404, 404, 200, 404, 200],
        ),
        (
            Method::GET,
            format!("/api/v1/tasks/{task}"),
            None,
            [401, 200, 404, 404, 200, 404, 200],
        ),
        // 0: allowed (202, or 409 while the last reboot still runs).
        (
            Method::POST,
            format!("{i}/reboot"),
            None,
            [401, 0, 404, 404, 0, 404, 0],
        ),
        (
            Method::GET,
            "/api/v1/departments".into(),
            None,
            [401, 403, 403, 403, 200, 200, 200],
        ),
        (
            Method::POST,
            "/api/v1/departments".into(),
            Some(json!({"name": "New"})),
            [401, 403, 403, 403, 403, 403, 201],
        ),
        (
            Method::PATCH,
            format!("/api/v1/departments/{physics}"),
            Some(json!({"quota": {"instances": 50}})),
            [401, 403, 403, 403, 200, 404, 200],
        ),
        (
            Method::PATCH,
            format!("/api/v1/departments/{science}"),
            Some(json!({"quota": {"instances": 50}})),
            [401, 403, 403, 403, 403, 404, 200],
        ),
        (
            Method::DELETE,
            format!("/api/v1/departments/{law}"),
            None,
            [401, 403, 403, 403, 403, 403, 409],
        ),
        (
            Method::GET,
            "/api/v1/users".into(),
            None,
            [401, 403, 403, 403, 200, 200, 200],
        ),
        (
            Method::GET,
            format!("/api/v1/users?department={physics}"),
            None,
            [401, 403, 403, 403, 200, 404, 200],
        ),
        (
            Method::PATCH,
            format!("/api/v1/users/{owner_id}"),
            Some(json!({"may_deploy": true})),
            [401, 403, 403, 403, 200, 404, 200],
        ),
        (
            Method::PATCH,
            format!("/api/v1/users/{owner_id}"),
            Some(json!({"department_admin": false})),
            [401, 403, 403, 403, 403, 404, 200],
        ),
        (
            Method::GET,
            "/api/v1/audit".into(),
            None,
            [401, 403, 403, 403, 200, 200, 200],
        ),
        (
            Method::GET,
            "/api/v1/directory".into(),
            None,
            [401, 403, 403, 403, 403, 403, 200],
        ),
        (
            Method::GET,
            "/api/v1/hosts".into(),
            None,
            [401, 403, 403, 403, 403, 403, 200],
        ),
        (
            Method::GET,
            "/api/v1/orphans".into(),
            None,
            [401, 403, 403, 403, 403, 403, 200],
        ),
        (
            Method::PUT,
            "/api/v1/zones/outside".into(),
            Some(
                json!({"bridge": "br0", "first_address": "127.0.0.10", "last_address": "127.0.0.11", "prefix_len": 8}),
            ),
            [401, 403, 403, 403, 403, 403, 200],
        ),
        (
            Method::DELETE,
            "/api/v1/zones/outside".into(),
            None,
            [401, 403, 403, 403, 403, 403, 204],
        ),
        // Authorized callers get past the checks to validation (a weak
        // password, a bad URL): 422; the others stop at 403.
        (
            Method::POST,
            "/api/v1/users".into(),
            Some(json!({"username": "new", "password": "password", "department_id": physics})),
            [401, 403, 403, 403, 422, 403, 422],
        ),
        (
            Method::PUT,
            "/api/v1/directory".into(),
            Some(json!({"url": "http://x", "user_base": "dc=x"})),
            [401, 403, 403, 403, 403, 403, 422],
        ),
        (
            Method::POST,
            "/api/v1/directory/test".into(),
            Some(json!({"url": "http://x", "user_base": "dc=x"})),
            [401, 403, 403, 403, 403, 403, 422],
        ),
        (
            Method::POST,
            "/api/v1/hosts".into(),
            Some(json!({"uri": "nope", "storage_dir": "/srv", "network": "default"})),
            [401, 403, 403, 403, 403, 403, 422],
        ),
        (
            Method::DELETE,
            "/api/v1/hosts/999".into(),
            None,
            [401, 403, 403, 403, 403, 403, 404],
        ),
        (
            Method::GET,
            "/api/v1/zones".into(),
            None,
            [401, 200, 200, 200, 200, 200, 200],
        ),
        (
            Method::GET,
            "/api/v1/quotas".into(),
            None,
            [401, 200, 200, 200, 200, 200, 200],
        ),
        (
            Method::GET,
            "/api/v1/instances".into(),
            None,
            [401, 200, 200, 200, 200, 200, 200],
        ),
    ];
    let mut failures = Vec::new();
    for (method, path, body, expected) in rows {
        for ((who, client), want) in clients.iter().zip(expected) {
            let (got, answer) = call(&app, client, method.clone(), &path, body.clone()).await;
            let allowed = want == 0 && (got == 202 || got == 409);
            if got != want && !allowed {
                failures.push(format!(
                    "{method} {path} as {who:?}: {got}, want {want}: {answer}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // What each sees in the instance list.
    for ((who, client), want) in
        clients
            .iter()
            .zip([None, Some(1), Some(0), Some(0), Some(1), Some(0), Some(1)])
    {
        let (_, list) = call(&app, client, Method::GET, "/api/v1/instances", None).await;
        assert_eq!(list.as_array().map(Vec::len), want, "{who:?}: {list}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_in_no_department_deploy_only_under_the_default_quota() {
    let app = TestApp::builder().set_up().start().await;
    let admin = app.admin().await;
    let science = department(&app, &admin, "Science", None).await;
    let mia = member(&app, &admin, "mia", science, false).await;
    let (status, view) = patch(
        &app,
        &admin,
        mia,
        json!({"may_deploy": true, "department_id": null}),
    )
    .await;
    assert_eq!((status, &view["may_deploy"]), (200, &json!(true)), "{view}");
    let mia_client = sign_in(&app, "mia").await;

    // Unset, the default quota allows nothing, and says so.
    let (status, quota) = call(&app, &admin, Method::GET, "/api/v1/quotas/default", None).await;
    assert_eq!((status, &quota["instances"]), (200, &json!(0)), "{quota}");
    let (status, err) = deploy(&app, &mia_client, "mia-1").await;
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
    let (_, quotas) = call(&app, &mia_client, Method::GET, "/api/v1/quotas", None).await;
    assert_eq!(
        quotas[1]["scope"], "Accounts in no department (each)",
        "{quotas}"
    );

    // Only the appliance admin sets it, and it binds everyone but them.
    let body = json!({"instances": 1});
    let (status, _) = call(
        &app,
        &mia_client,
        Method::PUT,
        "/api/v1/quotas/default",
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, 403);
    let (status, err) = call(
        &app,
        &admin,
        Method::PUT,
        "/api/v1/quotas/default",
        Some(json!({"instances": -1})),
    )
    .await;
    assert_eq!(status, 422, "{err}");
    let (status, quota) = call(
        &app,
        &admin,
        Method::PUT,
        "/api/v1/quotas/default",
        Some(body),
    )
    .await;
    assert_eq!((status, &quota["instances"]), (200, &json!(1)), "{quota}");
    assert_eq!(deploy(&app, &mia_client, "mia-1").await.0, 202);
    assert_eq!(deploy(&app, &mia_client, "mia-2").await.0, 409);
    assert_eq!(deploy(&app, &admin, "admins-1").await.0, 202);
    assert_eq!(deploy(&app, &admin, "admins-2").await.0, 202);

    // Back in a department, the department's quota applies instead.
    patch(&app, &admin, mia, json!({"department_id": science})).await;
    assert_eq!(deploy(&app, &mia_client, "mia-2").await.0, 202);
    let (_, audit) = call(
        &app,
        &admin,
        Method::GET,
        "/api/v1/audit?action=quota.default",
        None,
    )
    .await;
    assert_eq!(audit.as_array().unwrap().len(), 1, "{audit}");
}
