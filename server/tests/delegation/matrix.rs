//! The authorization matrix: every endpoint × who asks × whose object.

use reqwest::Method;
use serde_json::{Value, json};

use crate::PASSWORD;
use crate::common::{Accepted, Api, TestApp};

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

/// A request, and the status each `Who` gets, in their order.
type Row = (Method, String, Option<Value>, [u16; 7]);

/// The objects the rows name.
struct Ids {
    instance: i64,
    task: i64,
    /// A ready backup of the instance.
    backup: i64,
    science: i64,
    physics: i64,
    law: i64,
    owner_id: i64,
    /// A pending deploy request of the owner's.
    approval: i64,
}

/// The matrix (a declarative table).
fn rows(ids: &Ids) -> Vec<Row> {
    let Ids {
        instance,
        task,
        backup,
        science,
        physics,
        law,
        owner_id,
        approval,
    } = *ids;
    let a = format!("/api/v1/approvals/{approval}");
    let long_comment = json!({"comment": "x".repeat(1001)});
    // Expected status by who asks; others' instances are 404 so they do
    // not even learn they exist.
    let i = format!("/api/v1/instances/{instance}");
    vec![
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
        // 0: allowed, past the checks (202; 409 while the last task still
        // runs; 422 for what the body says).
        (
            Method::POST,
            format!("{i}/reboot"),
            None,
            [401, 0, 404, 404, 0, 404, 0],
        ),
        (
            Method::GET,
            format!("{i}/snapshots"),
            None,
            [401, 200, 404, 404, 200, 404, 200],
        ),
        (
            Method::POST,
            format!("{i}/snapshots"),
            Some(json!({"name": "   "})),
            [401, 0, 404, 404, 0, 404, 0],
        ),
        (
            Method::GET,
            format!("{i}/backups"),
            None,
            [401, 200, 404, 404, 200, 404, 200],
        ),
        (
            Method::POST,
            format!("{i}/backups"),
            None,
            [401, 0, 404, 404, 0, 404, 0],
        ),
        (
            Method::POST,
            format!("/api/v1/backups/{backup}/verify"),
            None,
            [401, 200, 404, 404, 200, 404, 200],
        ),
        // Past the checks to validation: a name that is no DNS label.
        (
            Method::POST,
            format!("/api/v1/backups/{backup}/restore"),
            Some(json!({"name": "Not A Label"})),
            [401, 422, 404, 404, 422, 404, 422],
        ),
        (
            Method::GET,
            "/api/v1/backups".into(),
            None,
            [401, 200, 200, 200, 200, 200, 200],
        ),
        (
            Method::GET,
            "/api/v1/backup-store".into(),
            None,
            [401, 403, 403, 403, 403, 403, 200],
        ),
        (
            Method::GET,
            "/api/v1/backup-policy".into(),
            None,
            [401, 403, 403, 403, 403, 403, 200],
        ),
        (
            Method::PUT,
            "/api/v1/backup-policy".into(),
            Some(json!({"frequency": "weekly", "hour": 24, "keep": 3})),
            [401, 403, 403, 403, 403, 403, 422],
        ),
        (
            Method::GET,
            format!("/api/v1/departments/{physics}/backup-policy"),
            None,
            [401, 403, 403, 403, 200, 404, 200],
        ),
        (
            Method::PUT,
            format!("/api/v1/departments/{law}/backup-policy"),
            Some(json!({"frequency": "weekly", "hour": 3, "keep": 4})),
            [401, 403, 403, 403, 404, 200, 200],
        ),
        (
            Method::DELETE,
            format!("/api/v1/departments/{science}/backup-policy"),
            None,
            [401, 403, 403, 403, 200, 404, 200],
        ),
        (
            Method::GET,
            "/api/v1/departments".into(),
            None,
            [401, 403, 403, 403, 200, 200, 200],
        ),
        // A top-level department is the appliance admin's; department
        // admins create them below their own, and rename and remove those.
        (
            Method::POST,
            "/api/v1/departments".into(),
            Some(json!({"name": "New"})),
            [401, 403, 403, 403, 422, 422, 201],
        ),
        (
            Method::POST,
            "/api/v1/departments".into(),
            Some(json!({"name": "Optics", "parent_id": physics})),
            [401, 403, 403, 403, 201, 422, 409],
        ),
        (
            Method::PATCH,
            format!("/api/v1/departments/{physics}"),
            Some(json!({"name": "Physics"})),
            [401, 403, 403, 403, 200, 404, 200],
        ),
        (
            Method::PATCH,
            format!("/api/v1/departments/{science}"),
            Some(json!({"name": "Science"})),
            [401, 403, 403, 403, 403, 404, 200],
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
            [401, 403, 403, 403, 404, 403, 409],
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
        // A second factor's lock: lifted by the admin of the account's
        // department (above it too) or the appliance's.
        (
            Method::POST,
            format!("/api/v1/users/{owner_id}/second-factor/unlock"),
            None,
            [401, 403, 403, 403, 204, 404, 204],
        ),
        (
            Method::GET,
            "/api/v1/me/second-factor".into(),
            None,
            [401, 200, 200, 200, 200, 200, 200],
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
        // No kept guest has that UUID: 404.
        (
            Method::POST,
            "/api/v1/orphans/adopt".into(),
            Some(json!({"instance_uuid": "no-such-guest"})),
            [401, 403, 403, 403, 403, 403, 404],
        ),
        // Nothing is kept on a store that was never restored: 409.
        (
            Method::POST,
            "/api/v1/orphans/release".into(),
            None,
            [401, 403, 403, 403, 403, 403, 409],
        ),
        // The stack's versions are the appliance admins' alone.
        (
            Method::GET,
            "/api/v1/stack/versions".into(),
            None,
            [401, 403, 403, 403, 403, 403, 200],
        ),
        (
            Method::POST,
            "/api/v1/stack/versions/scan".into(),
            None,
            [401, 403, 403, 403, 403, 403, 200],
        ),
        (
            Method::POST,
            "/api/v1/stack/versions/999/current".into(),
            None,
            [401, 403, 403, 403, 403, 403, 404],
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
            Method::GET,
            "/api/v1/hosts/credentials".into(),
            None,
            [401, 403, 403, 403, 403, 403, 200],
        ),
        (
            Method::POST,
            "/api/v1/hosts/server-certificate".into(),
            Some(json!({"host": "not a host"})),
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
        // Leases: whoever may use the instance gets past the checks to
        // the date (in the past: 422); policies are the admins'.
        (
            Method::POST,
            format!("{i}/extend"),
            Some(json!({"expires_at": "2001-01-01T00:00:00Z"})),
            [401, 422, 404, 404, 422, 404, 422],
        ),
        (
            Method::GET,
            format!("/api/v1/departments/{physics}/lease-policy"),
            None,
            [401, 403, 403, 403, 200, 404, 200],
        ),
        (
            Method::PUT,
            format!("/api/v1/departments/{physics}/lease-policy"),
            Some(json!({"policy": null})),
            [401, 403, 403, 403, 403, 403, 200],
        ),
        (
            Method::GET,
            "/api/v1/lease-policy".into(),
            None,
            [401, 403, 403, 403, 200, 200, 200],
        ),
        (
            Method::PUT,
            "/api/v1/lease-policy".into(),
            Some(json!({"lease_days": 0, "extendable": true, "max_days": 30})),
            [401, 403, 403, 403, 403, 403, 422],
        ),
        // Notifications: appliance admins set them up; everyone sets
        // their own mail preferences.
        (
            Method::GET,
            "/api/v1/notifications/matchers".into(),
            None,
            [401, 403, 403, 403, 403, 403, 200],
        ),
        (
            Method::POST,
            "/api/v1/notifications/matchers".into(),
            Some(json!({"name": "", "kinds": [], "min_severity": "info",
                "department_id": null, "mail": true, "webhooks": []})),
            [401, 403, 403, 403, 403, 403, 422],
        ),
        (
            Method::GET,
            "/api/v1/notifications/webhooks".into(),
            None,
            [401, 403, 403, 403, 403, 403, 200],
        ),
        (
            Method::POST,
            "/api/v1/notifications/webhooks".into(),
            Some(json!({"name": "ops", "url": "ftp://x", "department_id": null})),
            [401, 403, 403, 403, 403, 403, 422],
        ),
        (
            Method::PUT,
            "/api/v1/notifications/smtp".into(),
            Some(
                json!({"host": "", "port": 25, "security": "none", "username": null,
                "from": "dpe@example.org"}),
            ),
            [401, 403, 403, 403, 403, 403, 422],
        ),
        (
            Method::POST,
            "/api/v1/notifications/test".into(),
            Some(json!({"to": "ann@example.org"})),
            [401, 403, 403, 403, 403, 403, 409],
        ),
        (
            Method::GET,
            "/api/v1/notifications/deliveries".into(),
            None,
            [401, 403, 403, 403, 403, 403, 200],
        ),
        (
            Method::GET,
            "/api/v1/me/notification-preferences".into(),
            None,
            [401, 200, 200, 200, 200, 200, 200],
        ),
        (
            Method::PUT,
            "/api/v1/me/notification-preferences".into(),
            Some(json!({"email": "not an address", "kinds": []})),
            [401, 422, 422, 422, 422, 422, 422],
        ),
        // Approvals: everyone lists (their own and what they decide);
        // the admins of the request's department or above, and the
        // appliance admin, get past the checks to the comment (too long:
        // 422); others' are 404; members have no right to decide (403).
        (
            Method::GET,
            "/api/v1/approvals".into(),
            None,
            [401, 200, 200, 200, 200, 200, 200],
        ),
        (
            Method::POST,
            format!("{a}/approve"),
            Some(long_comment.clone()),
            [401, 403, 403, 403, 422, 404, 422],
        ),
        (
            Method::POST,
            format!("{a}/reject"),
            Some(long_comment),
            [401, 403, 403, 403, 422, 404, 422],
        ),
        (
            Method::GET,
            format!("/api/v1/departments/{physics}/approval-policy"),
            None,
            [401, 403, 403, 403, 200, 404, 200],
        ),
        (
            Method::PUT,
            format!("/api/v1/departments/{physics}/approval-policy"),
            Some(json!({"policy": {"require": "every_deploy", "timeout_days": 0}})),
            [401, 403, 403, 403, 403, 403, 422],
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_reaches_what_is_not_theirs() {
    use Who::*;
    let app = TestApp::builder().set_up().start().await;
    let admin = app.admin().await;
    let science = admin.create_department("Science", None).await;
    let physics = admin.create_department("Physics", Some(science)).await;
    let law = admin.create_department("Law", None).await;
    let owner_id = admin.create_member("owner", PASSWORD, physics, false).await;
    let members = [
        ("colleague", physics, false),
        ("outsider", law, false),
        ("sciadmin", science, true),
        ("lawadmin", law, true),
    ];
    for (name, department, department_admin) in members {
        admin
            .create_member(name, PASSWORD, department, department_admin)
            .await;
    }
    let clients: [(Who, Api); 7] = [
        (Anonymous, app.api()),
        (Owner, app.sign_in("owner", PASSWORD).await),
        (Colleague, app.sign_in("colleague", PASSWORD).await),
        (Outsider, app.sign_in("outsider", PASSWORD).await),
        (ScienceAdmin, app.sign_in("sciadmin", PASSWORD).await),
        (LawAdmin, app.sign_in("lawadmin", PASSWORD).await),
        (Admin, admin.clone()),
    ];
    let Accepted { id, task_id } = clients[1].1.deployed("owned").await;
    let owner = &clients[1].1;
    assert_eq!(owner.wait_task(task_id).await["state"], "succeeded");
    let (status, body) = owner
        .post_empty(&format!("/api/v1/instances/{id}/backups"))
        .await;
    assert_eq!(status, 202, "{body}");
    let backup = Accepted::of(&body);
    let done = owner.wait_task(backup.task_id).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    // A request that waits: Physics asks approval for every deploy.
    let (status, body) = admin
        .put(
            &format!("/api/v1/departments/{physics}/approval-policy"),
            json!({"policy": {"require": "every_deploy"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = owner.deploy("asked").await;
    assert_eq!(status, 202, "{body}");
    let approval = body["approval_id"].as_i64().unwrap();
    let ids = Ids {
        approval,
        instance: id,
        task: task_id,
        backup: backup.id,
        science,
        physics,
        law,
        owner_id,
    };

    let mut failures = Vec::new();
    for (method, path, body, expected) in rows(&ids) {
        for ((who, client), want) in clients.iter().zip(expected) {
            let (got, answer) = client.call(method.clone(), &path, body.clone()).await;
            let allowed = want == 0 && matches!(got, 202 | 409 | 422);
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
            .zip([None, Some(2), Some(0), Some(0), Some(2), Some(0), Some(2)])
    {
        // The instance and the owner's request.
        let (_, list) = client.instances().await;
        assert_eq!(list.as_array().map(Vec::len), want, "{who:?}: {list}");
        // Their backups too (and only the owner's own remain after the
        // rows above, which took more).
        let (_, backups) = client.get("/api/v1/backups").await;
        let seen = backups.as_array().map(|b| !b.is_empty());
        assert_eq!(seen, want.map(|n| n > 0), "{who:?}: {backups}");
    }
}
