//! Directory accounts with an authenticator app: the code after the
//! directory's password, removal with that password, and a department
//! admin who may not reset a directory account's factors.

use serde_json::json;

use crate::{ADA_PASSWORD, app_with_directory, ldif, slapd::Slapd};

fn code(secret: &str, steps: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    server::auth::totp::code_at(secret, now.saturating_add_signed(steps * 30)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_account_signs_in_with_a_code_after_the_directorys_password() {
    let ldap = Slapd::start(&ldif());
    let (app, admin, _) = app_with_directory(&ldap, None).await;
    let ada = app.sign_in("ada", ADA_PASSWORD).await;
    let (status, enrolment) = ada.post_empty("/api/v1/me/totp").await;
    assert_eq!(status, 200, "{enrolment}");
    let secret = enrolment["secret"].as_str().unwrap().to_owned();
    let (status, _) = ada
        .post("/api/v1/me/totp/confirm", json!({"code": code(&secret, 0)}))
        .await;
    assert_eq!(status, 200);

    let again = app.api();
    let (status, body) = again.sign_in("ada", ADA_PASSWORD).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("second_factor_required"))
    );
    let (status, me) = again
        .post("/api/v1/login/code", json!({"code": code(&secret, 1)}))
        .await;
    assert_eq!(
        (status, me["username"].as_str()),
        (200, Some("ada")),
        "{me}"
    );

    // Carl administers Physics, but ada's account is the directory's.
    let carl = app.sign_in("carl", "carl-Secret-79").await;
    let id = admin.member_named("ada").await["id"].as_i64().unwrap();
    let reset = format!("/api/v1/users/{id}/second-factor/reset");
    assert_eq!(carl.post_empty(&reset).await.0, 404);

    // The directory's password removes the app.
    let (status, _) = again
        .post(
            "/api/v1/me/totp/remove",
            json!({"password": "not-ada-Secret"}),
        )
        .await;
    assert_eq!(status, 422);
    let (status, _) = again
        .post("/api/v1/me/totp/remove", json!({"password": ADA_PASSWORD}))
        .await;
    assert_eq!(status, 204);
    assert_eq!(app.api().sign_in("ada", ADA_PASSWORD).await.0, 200);
}
