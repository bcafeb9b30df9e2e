//! Second factors over the API: enrolling an authenticator app, signing in
//! with its code or a recovery code (each once), removal, the lock after
//! wrong codes and an admin's unlock and reset. The codes are computed
//! here from the secret the enrolment hands out, as the app would.

use app::model::Role;
use serde_json::{Value, json};

use crate::common::{Api, TestApp, USER_PASSWORD};

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The app's code for `secret`, `steps` steps of 30 s from now.
fn code(secret: &str, steps: i64) -> String {
    let at = now().saturating_add_signed(steps * 30);
    server::auth::totp::code_at(secret, at).unwrap()
}

/// Enrols an authenticator app for the signed-in `api`: its secret and
/// the recovery codes.
async fn enrol(api: &Api) -> (String, Vec<String>) {
    let (status, enrolment) = api.post_empty("/api/v1/me/totp").await;
    assert_eq!(status, 200, "{enrolment}");
    let secret = enrolment["secret"].as_str().unwrap().to_owned();
    assert!(
        enrolment["qr_code"]
            .as_str()
            .unwrap()
            .starts_with("data:image/svg+xml;base64,")
    );
    let (status, codes) = api
        .post("/api/v1/me/totp/confirm", json!({"code": code(&secret, 0)}))
        .await;
    assert_eq!(status, 200, "{codes}");
    let codes: Vec<String> = serde_json::from_value(codes["codes"].clone()).unwrap();
    (secret, codes)
}

async fn user_id(app: &TestApp, name: &str) -> i64 {
    let name = name.to_owned();
    app.appliance
        .store
        .read(move |c| server::store::users::by_name(c, &name))
        .await
        .unwrap()
        .unwrap()
        .id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_alone_no_longer_signs_in_once_an_app_is_enrolled() {
    let app = TestApp::builder().set_up().start().await;
    let ann = app.user_client("ann", Role::User).await;
    let (secret, recovery) = enrol(&ann).await;
    assert_eq!(recovery.len(), 10);
    let (_, status) = ann.get("/api/v1/me/second-factor").await;
    assert_eq!(
        status,
        json!({"totp": true, "recovery_codes_left": 10, "locked_until": null, "passkeys": []})
    );
    assert_eq!(ann.sign_out().await, 204);

    let fresh = app.api();
    let (status, body) = fresh.sign_in("ann", USER_PASSWORD).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("second_factor_required"))
    );
    assert_eq!(fresh.me().await.0, 401, "not signed in before the code");
    let (status, body) = fresh
        .post("/api/v1/login/code", json!({"code": "000000"}))
        .await;
    assert_eq!((status, body["field"].as_str()), (422, Some("code")));
    // The confirming code's step is spent: the next step's code works.
    let next = code(&secret, 1);
    let (status, me) = fresh
        .post("/api/v1/login/code", json!({"code": next}))
        .await;
    assert_eq!(
        (status, me["username"].as_str()),
        (200, Some("ann")),
        "{me}"
    );
    assert_eq!(fresh.me().await.0, 200);

    // The same code again, on another sign-in, is refused.
    let other = app.api();
    assert_eq!(other.sign_in("ann", USER_PASSWORD).await.0, 401);
    let (status, _) = other
        .post("/api/v1/login/code", json!({"code": next}))
        .await;
    assert_eq!(status, 422, "a used code is refused");
    // A recovery code signs in once.
    let (status, _) = other
        .post("/api/v1/login/code", json!({"code": recovery[3]}))
        .await;
    assert_eq!(status, 200);
    let third = app.api();
    assert_eq!(third.sign_in("ann", USER_PASSWORD).await.0, 401);
    let (status, _) = third
        .post("/api/v1/login/code", json!({"code": recovery[3]}))
        .await;
    assert_eq!(status, 422, "a recovery code works once");
    let (_, status) = other.get("/api/v1/me/second-factor").await;
    assert_eq!(status["recovery_codes_left"], 9);

    let admin = app.admin().await;
    let (_, log) = admin.get("/api/v1/audit?limit=200").await;
    let actions: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for expected in [
        "second_factor.totp.begin",
        "second_factor.totp.enrol",
        "second_factor.recovery_code",
        "sign_in.password",
    ] {
        assert!(actions.contains(&expected), "{expected} in {actions:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_without_a_password_first_signs_nobody_in() {
    let app = TestApp::builder().set_up().start().await;
    let (status, body) = app
        .api()
        .post("/api/v1/login/code", json!({"code": "123456"}))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unauthenticated"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enrolment_counts_only_once_confirmed_and_is_removed_with_the_password_or_a_code() {
    let app = TestApp::builder().set_up().start().await;
    let ann = app.user_client("ann", Role::User).await;
    let (status, enrolment) = ann.post_empty("/api/v1/me/totp").await;
    assert_eq!(status, 200);
    let secret = enrolment["secret"].as_str().unwrap();
    let (status, _) = ann
        .post("/api/v1/me/totp/confirm", json!({"code": "999999"}))
        .await;
    assert_eq!(status, 422, "a wrong confirming code");
    // Unconfirmed, it asks for nothing at sign-in.
    assert_eq!(app.api().sign_in("ann", USER_PASSWORD).await.0, 200);
    let (status, _) = ann
        .post("/api/v1/me/totp/confirm", json!({"code": code(secret, 0)}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        ann.post_empty("/api/v1/me/totp").await.0,
        409,
        "enrolled already"
    );

    let (status, _) = ann
        .post(
            "/api/v1/me/totp/remove",
            json!({"password": "not the password"}),
        )
        .await;
    assert_eq!(status, 422);
    let (status, _) = ann
        .post("/api/v1/me/totp/remove", json!({"password": USER_PASSWORD}))
        .await;
    assert_eq!(status, 204);
    assert_eq!(app.api().sign_in("ann", USER_PASSWORD).await.0, 200);

    let (secret, _) = enrol(&ann).await;
    let (status, _) = ann
        .post("/api/v1/me/totp/remove", json!({"code": code(&secret, 1)}))
        .await;
    assert_eq!(status, 204);
    let (_, status) = ann.get("/api/v1/me/second-factor").await;
    assert_eq!(status["totp"], false);
    assert_eq!(status["recovery_codes_left"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_wrong_codes_lock_the_second_factor_until_an_admin_lifts_it() {
    // Sign-in throttling out of the way: the lock is what is tested.
    let app = TestApp::builder()
        .set_up()
        .sign_in_limits(1000, 1000)
        .start()
        .await;
    let ann = app.user_client("ann", Role::User).await;
    let (secret, _) = enrol(&ann).await;
    let attempt = app.api();
    assert_eq!(attempt.sign_in("ann", USER_PASSWORD).await.0, 401);
    for _ in 0..7 {
        let (status, _) = attempt
            .post("/api/v1/login/code", json!({"code": "000000"}))
            .await;
        assert_eq!(status, 422);
    }
    let (status, body) = attempt
        .post("/api/v1/login/code", json!({"code": "000000"}))
        .await;
    assert_eq!((status, body["error"].as_str()), (429, Some("throttled")));
    // Locked: even the right code is refused.
    let (status, _) = attempt
        .post("/api/v1/login/code", json!({"code": code(&secret, 1)}))
        .await;
    assert_eq!(status, 429);

    let id = user_id(&app, "ann").await;
    let bob = app.user_client("bob", Role::User).await;
    let unlock = format!("/api/v1/users/{id}/second-factor/unlock");
    assert_eq!(bob.post_empty(&unlock).await.0, 403);
    let admin = app.admin().await;
    assert_eq!(admin.post_empty(&unlock).await.0, 204);
    let (status, _) = attempt
        .post("/api/v1/login/code", json!({"code": code(&secret, 1)}))
        .await;
    assert_eq!(status, 200);
    let (_, log) = admin.get("/api/v1/audit?limit=200").await;
    let actions: Vec<&Value> = log.as_array().unwrap().iter().collect();
    assert!(actions.iter().any(|e| e["action"] == "second_factor.lock"));
    assert!(
        actions
            .iter()
            .any(|e| e["action"] == "second_factor.unlock")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_reset_removes_the_factors_and_ends_the_sessions() {
    let app = TestApp::builder().set_up().start().await;
    let ann = app.user_client("ann", Role::User).await;
    enrol(&ann).await;
    assert_eq!(ann.me().await.0, 200);
    let id = user_id(&app, "ann").await;
    let reset = format!("/api/v1/users/{id}/second-factor/reset");
    assert_eq!(app.admin().await.post_empty(&reset).await.0, 204);
    assert_eq!(ann.me().await.0, 401, "its session ended");
    assert_eq!(app.api().sign_in("ann", USER_PASSWORD).await.0, 200);
    let missing = "/api/v1/users/999999/second-factor/reset";
    assert_eq!(app.admin().await.post_empty(missing).await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_that_must_use_a_second_factor_enrols_before_anything_else() {
    let app = TestApp::builder().set_up().start().await;
    let admin = app.admin().await;
    let science = admin.create_department("Science", None).await;
    let physics = admin.create_department("Physics", Some(science)).await;
    admin
        .create_member("ann", USER_PASSWORD, physics, false)
        .await;
    let (status, _) = admin
        .put(
            "/api/v1/settings/second-factor",
            json!({"required_of": "departments", "departments": [999]}),
        )
        .await;
    assert_eq!(status, 404, "no such department: nothing changes");
    let policy = json!({"required_of": "departments", "departments": [science]});
    let (status, body) = admin
        .put("/api/v1/settings/second-factor", policy.clone())
        .await;
    assert_eq!((status, &body), (200, &policy));
    assert_eq!(admin.get("/api/v1/settings/second-factor").await.1, policy);

    let ann = app.api();
    let (status, body) = ann.sign_in("ann", USER_PASSWORD).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("second_factor_enrolment_required")),
        "Science is above Physics: {body}"
    );
    assert_eq!(ann.me().await.0, 401, "nothing else first");
    assert_eq!(ann.get("/api/v1/instances").await.0, 401);
    let (status, _) = ann
        .post("/api/v1/login/code", json!({"code": "123456"}))
        .await;
    assert_eq!(status, 401, "no code is awaited: an enrolment is");
    let (status, enrolment) = ann.post_empty("/api/v1/login/totp").await;
    assert_eq!(status, 200, "{enrolment}");
    let secret = enrolment["secret"].as_str().unwrap();
    let (status, codes) = ann
        .post(
            "/api/v1/login/totp/confirm",
            json!({"code": code(secret, 0)}),
        )
        .await;
    assert_eq!(status, 200, "{codes}");
    assert_eq!(codes["codes"].as_array().unwrap().len(), 10);
    assert_eq!(ann.me().await.0, 200, "signed in once enrolled");

    // Someone not in Science signs in with the password alone...
    let bob = app.user_client("bob", Role::User).await;
    assert_eq!(bob.me().await.0, 200);
    // ...until every account must use a second factor.
    let everyone = json!({"required_of": "everyone", "departments": []});
    assert_eq!(
        admin
            .put("/api/v1/settings/second-factor", everyone)
            .await
            .0,
        200
    );
    let (status, body) = app.api().sign_in("bob", USER_PASSWORD).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("second_factor_enrolment_required"))
    );
    assert_eq!(bob.get("/api/v1/settings/second-factor").await.0, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_a_token_needs_a_current_code_once_an_app_is_enrolled() {
    let app = TestApp::builder().set_up().start().await;
    let ann = app.user_client("ann", Role::User).await;
    // Without an app, as before.
    let before = ann.create_token("before").await;
    let (secret, recovery) = enrol(&ann).await;
    let (status, body) = ann.post("/api/v1/tokens", json!({"name": "ci"})).await;
    assert_eq!((status, body["field"].as_str()), (422, Some("code")));
    let (status, _) = ann
        .post("/api/v1/tokens", json!({"name": "ci", "code": recovery[0]}))
        .await;
    assert_eq!(status, 422, "not with a recovery code");
    let (status, body) = ann
        .post(
            "/api/v1/tokens",
            json!({"name": "ci", "code": code(&secret, 1)}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    // Tokens need no second factor to be used: they are the scripts' way.
    assert_eq!(
        ann.me_with_token(body["token"].as_str().unwrap()).await.0,
        200
    );
    assert_eq!(ann.me_with_token(&before).await.0, 200);
}
