//! Members moved between departments, taken out of them, and department
//! admins who may not widen their own rights.

use serde_json::{Value, json};

use crate::PASSWORD;
use crate::common::{Api, TestApp};

/// Science above Physics, and Law; Dana administers Science and added
/// Mia to it.
struct Moves {
    app: TestApp,
    admin: Api,
    physics: i64,
    law: i64,
    dana_id: i64,
    dana: Api,
    mia: i64,
}

async fn moves() -> Moves {
    let app = TestApp::builder().set_up().start().await;
    let admin = app.admin().await;
    let science = admin.create_department("Science", None).await;
    let physics = admin.create_department("Physics", Some(science)).await;
    let law = admin.create_department("Law", None).await;
    let dana_id = admin.create_member("dana", PASSWORD, science, true).await;
    let dana = app.sign_in("dana", PASSWORD).await;
    let mia = dana.create_member("mia", PASSWORD, science, false).await;
    Moves {
        app,
        admin,
        physics,
        law,
        dana_id,
        dana,
        mia,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_move_between_departments_within_their_admins_reach() {
    let Moves {
        app: _app,
        dana,
        physics,
        law,
        mia,
        ..
    } = moves().await;

    // Within her subtree Dana moves Mia; out of it she may not.
    let (status, view) = dana
        .update_member(mia, json!({"department_id": physics}))
        .await;
    assert_eq!(
        (status, view["department"].as_str()),
        (200, Some("Physics")),
        "{view}"
    );
    let moved_out = dana.update_member(mia, json!({"department_id": law})).await;
    assert_eq!(moved_out.0, 403, "{}", moved_out.1);
    // A missing key keeps the department; a wrong type is refused.
    let (_, view) = dana.update_member(mia, json!({"may_deploy": false})).await;
    assert_eq!(view["department_id"], physics, "{view}");
    let (status, _) = dana
        .update_member(mia, json!({"department_id": "none"}))
        .await;
    assert_eq!(status, 422);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_can_be_taken_out_of_every_department_and_brought_back() {
    let Moves {
        app,
        admin,
        physics,
        law,
        dana_id,
        dana,
        mia,
    } = moves().await;
    // `null` takes Mia out: the account stays, Dana no longer manages it,
    // and the audit record stays with the department she left.
    let (status, view) = dana
        .update_member(mia, json!({"department_id": null}))
        .await;
    assert_eq!(
        (status, &view["department_id"], &view["role"]),
        (200, &Value::Null, &json!("user")),
        "{view}"
    );
    let (_, members) = dana.get("/api/v1/users").await;
    assert!(!members.to_string().contains("\"mia\""), "{members}");
    let (status, _) = dana
        .update_member(mia, json!({"department_id": physics}))
        .await;
    assert_eq!(status, 404);
    let (_, audit) = dana.get("/api/v1/audit?action=user.update").await;
    assert!(audit.to_string().contains("no department"), "{audit}");
    assert_eq!(app.sign_in("mia", PASSWORD).await.me().await.0, 200);

    // Dana cannot take herself out; the appliance admin can, which ends
    // her admin role with it.
    let (status, err) = dana
        .update_member(dana_id, json!({"department_id": null}))
        .await;
    assert_eq!(
        (status, err["field"].as_str()),
        (422, Some("department_id")),
        "{err}"
    );
    let (status, view) = admin
        .update_member(dana_id, json!({"department_id": null}))
        .await;
    assert_eq!((status, &view["role"]), (200, &json!("user")), "{view}");
    // An admin role needs a department.
    let (status, err) = admin
        .update_member(
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
    let (status, view) = admin
        .update_member(mia, json!({"department_id": law}))
        .await;
    assert_eq!((status, view["department"].as_str()), (200, Some("Law")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn department_admins_cannot_widen_their_own_rights_or_unseat_each_other() {
    let app = TestApp::builder().set_up().start().await;
    let admin = app.admin().await;
    let science = admin.create_department("Science", None).await;
    let physics = admin.create_department("Physics", Some(science)).await;
    let dana_id = admin.create_member("dana", PASSWORD, science, true).await;
    let erin_id = admin.create_member("erin", PASSWORD, science, true).await;
    let dana = app.sign_in("dana", PASSWORD).await;
    let mia_id = dana.create_member("mia", PASSWORD, science, false).await;

    // Her own right to deploy and her own quota are set from above.
    let (status, _) = dana
        .update_member(dana_id, json!({"may_deploy": true}))
        .await;
    assert_eq!(status, 403);
    let unlimited =
        json!({"quota": {"instances": null, "vcpus": null, "memory_mib": null, "disk_gib": null}});
    assert_eq!(dana.update_member(dana_id, unlimited).await.0, 403);
    // A fellow department admin is neither moved nor taken out by her.
    let (status, _) = dana
        .update_member(erin_id, json!({"department_id": physics}))
        .await;
    assert_eq!(status, 403);
    let (status, _) = dana
        .update_member(erin_id, json!({"department_id": null}))
        .await;
    assert_eq!(status, 403);
    // Moved by the appliance admin, Erin keeps no admin role that Physics
    // did not grant.
    let (status, view) = admin
        .update_member(erin_id, json!({"department_id": physics}))
        .await;
    assert_eq!((status, &view["role"]), (200, &json!("user")), "{view}");

    // Taken out by Dana, Mia keeps neither her right to deploy nor her tokens.
    let mia = app.sign_in("mia", PASSWORD).await;
    let token = mia.create_token("ci").await;
    assert_eq!(mia.me_with_token(&token).await.0, 200);
    let (status, view) = dana
        .update_member(mia_id, json!({"department_id": null}))
        .await;
    assert_eq!(
        (status, &view["may_deploy"]),
        (200, &json!(false)),
        "{view}"
    );
    assert_eq!(mia.me_with_token(&token).await.0, 401);
    assert_ne!(mia.deploy("escaped").await.0, 202);
}
