//! Sessions: sign-in and out, the session's lifetime and id, throttling,
//! foreign origins, malformed credentials, disabled accounts and a
//! password change.

use reqwest::header::{AUTHORIZATION, COOKIE, ORIGIN, RETRY_AFTER};
use serde_json::json;

use crate::common::{ADMIN, ADMIN_PASSWORD, TestApp, session_cookie, status_json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_and_out() {
    let app = TestApp::builder().set_up().start().await;
    let api = app.api();
    let (status, body) = api.me().await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unauthenticated"))
    );

    let wrong = api.sign_in(ADMIN, "wrong password!!").await;
    let unknown = api.sign_in("nobody", "wrong password!!").await;
    assert_eq!(wrong.0, 401);
    assert_eq!(
        wrong, unknown,
        "one answer for unknown user and wrong password"
    );
    assert_eq!(api.sign_in(ADMIN, "").await.0, 401);

    let r = app.login(api.http(), " Admin ", ADMIN_PASSWORD).await;
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain HTTP here: {cookie}");
    let old = session_cookie(&r).unwrap();
    let (_, me) = status_json(r).await;
    assert_eq!(me, json!({"username": "admin", "role": "admin"}));
    let (status, me) = api.me().await;
    assert_eq!((status, me["username"].as_str()), (200, Some("admin")));

    assert_eq!(api.sign_out().await, 204);
    assert_eq!(api.me().await.0, 401);
    // The old cookie is dead server-side, not just forgotten by the client.
    let replay = app
        .client()
        .get(app.url("/api/v1/me"))
        .header(COOKIE, old)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ends_at_its_lifetime_however_busy() {
    // A lifetime of zero hours: every session is already too old when used.
    let app = TestApp::builder()
        .set_up()
        .session_max_hours(0)
        .start()
        .await;
    let api = app.api();
    assert_eq!(api.sign_in(ADMIN, ADMIN_PASSWORD).await.0, 200);
    assert_eq!(api.me().await.0, 401);
    // With the product's lifetime, the same sign-in holds.
    let app = TestApp::builder().set_up().start().await;
    assert_eq!(app.admin().await.me().await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_id_changes_at_sign_in() {
    let app = TestApp::builder().set_up().start().await;
    let client = app.client();
    let first = session_cookie(&app.login(&client, ADMIN, ADMIN_PASSWORD).await).unwrap();
    // Signing in again on the same session must issue a new id...
    let second = session_cookie(&app.login(&client, ADMIN, ADMIN_PASSWORD).await).unwrap();
    assert_ne!(first, second);
    // ...and the id from before is no longer accepted.
    let me_with = |cookie: String| {
        app.client()
            .get(app.url("/api/v1/me"))
            .header(COOKIE, cookie)
            .send()
    };
    assert_eq!(me_with(first).await.unwrap().status(), 401);
    assert_eq!(me_with(second).await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_survive_a_restart() {
    let app = TestApp::builder().set_up().start().await;
    let client = app.client();
    let cookie = session_cookie(&app.login(&client, ADMIN, ADMIN_PASSWORD).await).unwrap();
    let app = app.restart().await;
    let r = app
        .client()
        .get(app.url("/api/v1/me"))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_is_throttled_per_account_with_retry_after() {
    let app = TestApp::builder()
        .sign_in_limits(3, 1000)
        .set_up()
        .start()
        .await;
    // set_up() signed in nobody; three attempts are allowed.
    let api = app.api();
    for _ in 0..3 {
        assert_eq!(api.sign_in(ADMIN, "not the password").await.0, 401);
    }
    let r = app.login(api.http(), ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(r.status(), 429, "even the right password waits");
    let retry: u64 = r.headers()[RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry), "{retry}");
    let (_, body) = status_json(r).await;
    assert_eq!(body["error"], "throttled");
    // Another account is not locked out by it.
    assert_eq!(api.sign_in("someone", "not the password").await.0, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_is_throttled_per_address() {
    let app = TestApp::builder()
        .sign_in_limits(100, 4)
        .set_up()
        .start()
        .await;
    let api = app.api();
    for i in 0..4 {
        let (status, _) = api.sign_in(&format!("user{i}"), "x-not-the-password").await;
        assert_eq!(status, 401);
    }
    assert_eq!(api.sign_in(ADMIN, ADMIN_PASSWORD).await.0, 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_origins_cannot_change_state() {
    let app = TestApp::builder().set_up().start().await;
    let admin = app.admin().await;
    let client = admin.http();
    let evil = "https://evil.example";
    let attempts = [
        client.post(app.url("/api/v1/logout")),
        client
            .post(app.url("/api/v1/tokens"))
            .json(&json!({"name": "x"})),
        client.delete(app.url("/api/v1/tokens/1")),
        client.post(app.url("/fn/sign_out")),
        client
            .post(app.url("/fn/create_token"))
            .form(&[("name", "x")]),
    ];
    for request in attempts {
        let (status, body) = status_json(request.header(ORIGIN, evil).send().await.unwrap()).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (403, Some("cross_origin"))
        );
    }
    let r = app
        .client()
        .post(app.url("/api/v1/login"))
        .header(ORIGIN, "null")
        .json(&json!({"username": ADMIN, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Nothing happened: still signed in, no token made.
    let (_, tokens) = admin.get("/api/v1/tokens").await;
    assert_eq!(tokens, json!([]));
    // The portal's own origin is fine.
    let r = client
        .post(app.url("/api/v1/tokens"))
        .header(ORIGIN, app.origin())
        .json(&json!({"name": "same origin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_authorization_header_is_refused_even_with_a_session() {
    let app = TestApp::builder().set_up().start().await;
    let admin = app.admin().await;
    assert_eq!(admin.me().await.0, 200);
    for header in [
        "Basic YWRtaW46eA==",
        "garbage",
        "Bearer ",
        "Bearer dpe_forged",
    ] {
        let r = admin
            .http()
            .get(app.url("/api/v1/me"))
            .header(AUTHORIZATION, header)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{header}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_accounts_lose_sessions_and_tokens_at_once() {
    let app = TestApp::builder().set_up().start().await;
    let admin = app.admin().await;
    let secret = admin.create_token("t").await;
    // Both known, and kept in memory, before the account is disabled.
    assert_eq!(admin.me().await.0, 200);
    assert_eq!(admin.me_with_token(&secret).await.0, 200);
    app.appliance
        .store
        .write(|tx| server::store::users::set_disabled(tx, ADMIN, true))
        .await
        .unwrap();
    assert_eq!(admin.me().await.0, 401);
    assert_eq!(admin.me_with_token(&secret).await.0, 401);
    assert_eq!(app.api().sign_in(ADMIN, ADMIN_PASSWORD).await.0, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_disabled_by_another_process_loses_access_within_a_second() {
    let app = TestApp::builder().set_up().start().await;
    let admin = app.admin().await;
    let secret = admin.create_token("t").await;
    assert_eq!(admin.me().await.0, 200);
    assert_eq!(admin.me_with_token(&secret).await.0, 200);
    // What `dpe user disable` does, on a connection of its own.
    let other = rusqlite::Connection::open(app.appliance.store.path()).unwrap();
    other
        .busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    assert!(server::store::users::set_disabled(&other, ADMIN, true).unwrap());
    let started = std::time::Instant::now();
    while admin.me().await.0 == 200 {
        assert!(started.elapsed().as_secs() < 2, "the session still works");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(admin.me_with_token(&secret).await.0, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_in_a_session_move_its_expiry_in_memory_not_in_the_store_each_time() {
    let app = TestApp::builder().set_up().start().await;
    let admin = app.admin().await;
    let stored = || async {
        app.appliance
            .store
            .read(|c| {
                Ok(
                    c.query_row("SELECT max(expires_at) FROM sessions", [], |r| {
                        r.get::<_, i64>(0)
                    })?,
                )
            })
            .await
            .unwrap()
    };
    assert_eq!(admin.me().await.0, 200);
    let before = stored().await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    for _ in 0..5 {
        assert_eq!(admin.me().await.0, 200);
    }
    assert_eq!(stored().await, before, "five requests, no session write");
    // Signing out still ends it for good.
    assert_eq!(admin.sign_out().await, 204);
    assert_eq!(admin.me().await.0, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_the_cookie_is_secure_and_host_prefixed() {
    let app = TestApp::builder().secure_cookies().set_up().start().await;
    let r = app.login(&app.client(), ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("__Host-dpe_session="), "{cookie}");
    for attribute in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
    assert!(!cookie.contains("Domain="), "{cookie}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_ones_password_ends_other_sessions_and_tokens_but_not_this_one() {
    let app = TestApp::builder()
        .set_up()
        .sign_in_limits(1000, 1000)
        .start()
        .await;
    let here = app.admin().await;
    let elsewhere = app.admin().await;
    let token = here.create_token("ci").await;
    let change = |body| here.post("/api/v1/me/password", body);

    let (status, err) =
        change(json!({"current_password": "wrong-Password-99", "new_password": "x"})).await;
    assert_eq!(
        (status, err["field"].as_str()),
        (422, Some("current_password")),
        "{err}"
    );
    let (status, err) =
        change(json!({"current_password": ADMIN_PASSWORD, "new_password": "admin"})).await;
    assert_eq!(
        (status, err["field"].as_str()),
        (422, Some("new_password")),
        "{err}"
    );
    let new = "Fresh-Orchard-Lantern-62";
    let (status, body) =
        change(json!({"current_password": ADMIN_PASSWORD, "new_password": new})).await;
    assert_eq!(status, 204, "{body}");

    assert_eq!(here.me().await.0, 200, "this session goes on");
    assert_eq!(elsewhere.me().await.0, 401, "the other one ended");
    assert_eq!(
        here.me_with_token(&token).await.0,
        401,
        "the token is revoked"
    );
    assert_eq!(app.api().sign_in(ADMIN, ADMIN_PASSWORD).await.0, 401);
    assert_eq!(app.api().sign_in(ADMIN, new).await.0, 200);
}
