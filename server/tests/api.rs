//! The REST API, the server functions and the page guards, end to end over
//! real HTTP against a real store.

// A test reports failure by panicking; its helpers may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{ADMIN, ADMIN_PASSWORD, TestApp, session_cookie, status_json};
use reqwest::Client;
use reqwest::header::{AUTHORIZATION, COOKIE, LOCATION, ORIGIN, RETRY_AFTER};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_setup_state_and_version() {
    let app = TestApp::builder().start().await;
    let (status, body) = status_json(
        app.client()
            .get(app.url("/api/v1/health"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["setup_complete"], false);
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn before_setup_pages_lead_to_the_wizard_and_the_api_says_so() {
    let app = TestApp::builder().start().await;
    let client = app.client();
    for path in ["/", "/login", "/tokens", "/no/such/page"] {
        let r = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 303, "{path}");
        assert_eq!(r.headers()[LOCATION], "/setup", "{path}");
    }
    let r = client.get(app.url("/setup")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("Welcome to dpe"), "{html}");
    assert!(html.contains("test connection") || html.contains("Test connection"));

    let (status, body) = status_json(client.get(app.url("/api/v1/me")).send().await.unwrap()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("setup_required"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_refuses_bad_input_with_the_field_at_fault() {
    let app = TestApp::builder().start().await;
    let client = app.client();
    let cases = [
        ("admin_password", json!("password1234"), "admin_password"),
        ("admin_password", json!("short"), "admin_password"),
        (
            "admin_username",
            json!("<script>alert('x')</script>"),
            "admin_username",
        ),
        ("admin_username", json!("Ünïcödé"), "admin_username"),
        ("appliance_name", json!(""), "appliance_name"),
        (
            "appliance_name",
            json!("x".repeat(100_000)),
            "appliance_name",
        ),
        ("host_uri", json!("xen:///"), "host_uri"),
        (
            "host_uri",
            json!("qemu+tcp://127.0.0.1:1/system"),
            "host_uri",
        ),
        ("storage_dir", json!("relative/path"), "storage_dir"),
        ("setup_code", json!("ABCD-EFGH-JKMN-PQRS"), "setup_code"),
        ("setup_code", json!(""), "setup_code"),
        ("network", json!("no-such-network"), "network"),
        ("network", json!("bad name"), "network"),
    ];
    for (key, value, field) in cases {
        let mut body = app.setup_body();
        body[key] = value.clone();
        let (status, err) = status_json(app.setup(&client, body).await).await;
        assert_eq!(status, 422, "{key}={value}: {err}");
        assert_eq!(err["error"], "invalid");
        assert_eq!(err["field"], field, "{key}={value}: {err}");
        assert!(!err["message"].as_str().unwrap().is_empty());
    }

    // Unknown fields and wrong types are 422, unreadable JSON 400.
    let mut body = app.setup_body();
    body["is_admin"] = json!(true);
    let (status, err) = status_json(app.setup(&client, body).await).await;
    assert_eq!(status, 422, "{err}");
    assert!(
        err["message"].as_str().unwrap().contains("is_admin"),
        "{err}"
    );
    let mut body = app.setup_body();
    body["admin_password"] = json!(-5);
    assert_eq!(app.setup(&client, body).await.status(), 422);
    let r = client
        .post(app.url("/api/v1/setup"))
        .header("content-type", "application/json")
        .body("{\"appliance_name\": ")
        .send()
        .await
        .unwrap();
    let (status, err) = status_json(r).await;
    assert_eq!((status, err["error"].as_str()), (400, Some("bad_request")));
    let r = client
        .post(app.url("/api/v1/setup"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "no JSON content type");

    // Nothing of it was kept.
    let (_, health) =
        status_json(client.get(app.url("/api/v1/health")).send().await.unwrap()).await;
    assert_eq!(health["setup_complete"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_needs_the_code_and_wrong_codes_are_audited_and_throttled() {
    let app = TestApp::builder().start().await;
    let client = app.client();
    let code = app.setup_code();
    for wrong in ["", "ABCD-EFGH-JKMN-PQRS"] {
        let mut body = app.setup_body();
        body["setup_code"] = json!(wrong);
        let (status, err) = status_json(app.setup(&client, body).await).await;
        assert_eq!(
            (status, err["field"].as_str()),
            (422, Some("setup_code")),
            "{err}"
        );
    }
    // The code as a person might type it.
    let mut body = app.setup_body();
    body["setup_code"] = json!(code.to_lowercase().replace('-', " "));
    assert_eq!(app.setup(&client, body).await.status(), 201);
    assert!(app.setup_code().is_empty(), "a used code is gone");
    let admin = app.admin().await;
    let (_, audit) = status_json(
        admin
            .get(app.url("/api/v1/audit?action=setup"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let outcomes: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes.iter().filter(|o| **o == "failed").count(),
        2,
        "{audit}"
    );
    assert_eq!(
        outcomes.iter().filter(|o| **o == "ok").count(),
        1,
        "{audit}"
    );

    // Guessing is throttled per address, and the probe asks for the code too.
    let app = TestApp::builder().start().await;
    let probe = |code: &'static str| {
        client
            .post(app.url("/fn/probe_host"))
            .form(&[("uri", "test:///default"), ("setup_code", code)])
            .send()
    };
    assert_eq!(
        status_json(probe("ABCD-EFGH-JKMN-PQRS").await.unwrap())
            .await
            .0,
        422
    );
    let mut last = 0;
    for _ in 0..40 {
        last = status_json(probe("ABCD-EFGH-JKMN-PQRS").await.unwrap())
            .await
            .0;
        if last == 429 {
            break;
        }
    }
    assert_eq!(last, 429, "guessing was never throttled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libvirt_uris_that_run_programs_or_read_files_are_refused() {
    let app = TestApp::builder().start().await;
    let client = app.client();
    // A program that leaves a mark if anyone runs it.
    let mark = app.data_path().join("ran");
    let program = app.data_path().join("evil.sh");
    std::fs::write(&program, format!("#!/bin/sh\ntouch {}\n", mark.display())).unwrap();
    std::fs::set_permissions(
        &program,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let uris = [
        format!("qemu+ext:///system?command={}", program.display()),
        format!("qemu:///system?socket={}", program.display()),
        "test:///etc/passwd".to_owned(),
        "qemu+tcp://127.0.0.1:1/system".to_owned(),
    ];
    for uri in &uris {
        // The wizard's probe, before setup (no sign-in needed then)...
        let r = client
            .post(app.url("/fn/probe_host"))
            .form(&[("uri", uri.as_str()), ("setup_code", &app.setup_code())])
            .send()
            .await
            .unwrap();
        let (status, body) = status_json(r).await;
        assert_eq!(status, 422, "{uri}: {body}");
        assert!(!body.to_string().contains("root:"), "{uri}: {body}");
        // ...and setup itself.
        let mut setup = app.setup_body();
        setup["host_uri"] = json!(uri);
        let (status, body) = status_json(app.setup(&client, setup).await).await;
        assert_eq!(
            (status, body["field"].as_str()),
            (422, Some("host_uri")),
            "{uri}: {body}"
        );
    }
    assert!(!mark.exists(), "a URI ran a program");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assets_come_precompressed_and_cached_for_a_year_and_answers_compressed() {
    let app = TestApp::builder().set_up().start().await;
    let pkg = app.data_path().join("site/pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(pkg.join("dpe.0123456789abcdef.css"), "body { color: red }").unwrap();
    std::fs::write(pkg.join("dpe.0123456789abcdef.css.br"), b"brotli bytes").unwrap();
    // A plain client: no automatic decompression, no cookies.
    let raw = reqwest::Client::builder()
        .no_brotli()
        .no_gzip()
        .build()
        .unwrap();
    let r = raw
        .get(app.url("/pkg/dpe.0123456789abcdef.css"))
        .header("accept-encoding", "br, gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-encoding"], "br");
    assert_eq!(
        r.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(
        r.headers().get("set-cookie").is_none(),
        "assets need no session"
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"brotli bytes");
    let r = raw
        .get(app.url("/pkg/dpe.0123456789abcdef.css"))
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("content-encoding").is_none());
    assert_eq!(r.text().await.unwrap(), "body { color: red }");
    let r = raw.get(app.url("/pkg/missing.js")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(
        r.headers().get("cache-control").is_none(),
        "a miss is not cached"
    );
    let r = raw.get(app.url("/favicon.svg")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/svg+xml");

    // Pages and JSON answers are compressed for clients that take it.
    let r = raw
        .get(app.url("/login"))
        .header("accept-encoding", "br")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-encoding"], "br");
    let r = raw
        .get(app.url("/api/v1/openapi.json"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-encoding"], "gzip");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_see_whether_hosts_are_available_not_how_they_are_reached() {
    let app = TestApp::builder().set_up().start().await;
    let dashboard = |client: Client| {
        let url = app.url("/fn/dashboard");
        async move { status_json(client.post(url).send().await.unwrap()).await }
    };
    let (status, admin_view) = dashboard(app.admin().await).await;
    assert_eq!(status, 200, "{admin_view}");
    assert_eq!(admin_view["hosts"][0]["probe"]["uri"], "test:///default");
    let member = app.user_client("zoe", app::model::Role::User).await;
    let (status, member_view) = dashboard(member).await;
    assert_eq!(status, 200, "{member_view}");
    let host = &member_view["hosts"][0];
    assert_eq!(host["probe"]["connected"], true, "{member_view}");
    let storage = app.data_path().join("storage").display().to_string();
    for hidden in ["test:///default", storage.as_str(), "Test"] {
        assert!(!host.to_string().contains(hidden), "{hidden} in {host}");
    }
    assert!(admin_view["hosts"][0].to_string().contains(&storage));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_authorization_header_is_refused_even_with_a_session() {
    let app = TestApp::builder().set_up().start().await;
    let client = app.admin().await;
    assert_eq!(
        client
            .get(app.url("/api/v1/me"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    for header in [
        "Basic YWRtaW46eA==",
        "garbage",
        "Bearer ",
        "Bearer dpe_forged",
    ] {
        let r = client
            .get(app.url("/api/v1/me"))
            .header(AUTHORIZATION, header)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{header}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_completes_once_and_cannot_be_rerun() {
    let app = TestApp::builder().start().await;
    let client = app.client();
    assert_eq!(app.setup(&client, app.setup_body()).await.status(), 201);
    let (_, health) =
        status_json(client.get(app.url("/api/v1/health")).send().await.unwrap()).await;
    assert_eq!(health["setup_complete"], true);

    // A second wizard run, even with other credentials, cannot take over.
    let mut takeover = app.setup_body();
    takeover["admin_username"] = json!("mallory");
    let (status, err) = status_json(app.setup(&client, takeover).await).await;
    assert_eq!((status, err["error"].as_str()), (409, Some("conflict")));
    assert_eq!(
        app.login(&client, "mallory", ADMIN_PASSWORD).await.status(),
        401
    );

    // The wizard page now sends visitors to sign in, and its server function refuses.
    let r = client.get(app.url("/setup")).send().await.unwrap();
    assert_eq!(
        (r.status().as_u16(), r.headers()[LOCATION].to_str().unwrap()),
        (303, "/login")
    );
    let r = client
        .post(app.url("/fn/complete_setup"))
        .form(&[
            ("setup_code", "ABCD-EFGH-JKMN-PQRS"),
            ("appliance_name", "x"),
            ("admin_username", "mallory"),
            ("admin_password", ADMIN_PASSWORD),
            ("admin_password_repeat", ADMIN_PASSWORD),
            ("host_uri", "test:///default"),
            ("storage_dir", "/tmp"),
            ("network", "default"),
        ])
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_server_error() || r.status().is_client_error(),
        "{}",
        r.status()
    );
    assert_eq!(
        app.login(&client, "mallory", ADMIN_PASSWORD).await.status(),
        401
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_setups_have_exactly_one_winner() {
    let app = TestApp::builder().start().await;
    let attempts = (0..8).map(|i| {
        let client = app.client();
        let mut body = app.setup_body();
        body["admin_username"] = json!(format!("admin{i}"));
        let url = app.url("/api/v1/setup");
        async move {
            client
                .post(url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    let mut statuses = futures::future::join_all(attempts).await;
    statuses.sort();
    assert_eq!(statuses, [201, 409, 409, 409, 409, 409, 409, 409]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_and_out() {
    let app = TestApp::builder().set_up().start().await;
    let client = app.client();
    let (status, body) = status_json(client.get(app.url("/api/v1/me")).send().await.unwrap()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unauthenticated"))
    );

    let wrong = status_json(app.login(&client, ADMIN, "wrong password!!").await).await;
    let unknown = status_json(app.login(&client, "nobody", "wrong password!!").await).await;
    assert_eq!(wrong.0, 401);
    assert_eq!(
        wrong, unknown,
        "one answer for unknown user and wrong password"
    );
    let empty = status_json(app.login(&client, ADMIN, "").await).await;
    assert_eq!(empty.0, 401);

    let r = app.login(&client, " Admin ", ADMIN_PASSWORD).await;
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain HTTP here: {cookie}");
    let old = session_cookie(&r).unwrap();
    let (_, me) = status_json(r).await;
    assert_eq!(me, json!({"username": "admin", "role": "admin"}));
    let (status, me) = status_json(client.get(app.url("/api/v1/me")).send().await.unwrap()).await;
    assert_eq!((status, me["username"].as_str()), (200, Some("admin")));

    assert_eq!(
        client
            .post(app.url("/api/v1/logout"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        client
            .get(app.url("/api/v1/me"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
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
    let client = app.client();
    assert_eq!(
        app.login(&client, ADMIN, ADMIN_PASSWORD).await.status(),
        200
    );
    let r = client.get(app.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    // With the product's lifetime, the same sign-in holds.
    let app = TestApp::builder().set_up().start().await;
    let client = app.admin().await;
    let r = client.get(app.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(r.status(), 200);
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
    let replay = app
        .client()
        .get(app.url("/api/v1/me"))
        .header(COOKIE, first)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 401);
    let fresh = app
        .client()
        .get(app.url("/api/v1/me"))
        .header(COOKIE, second)
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), 200);
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
    let client = app.client();
    for _ in 0..3 {
        assert_eq!(
            app.login(&client, ADMIN, "not the password").await.status(),
            401
        );
    }
    let r = app.login(&client, ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(r.status(), 429, "even the right password waits");
    let retry: u64 = r.headers()[RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry), "{retry}");
    let (_, body) = status_json(r).await;
    assert_eq!(body["error"], "throttled");
    // Another account is not locked out by it.
    assert_eq!(
        app.login(&client, "someone", "not the password")
            .await
            .status(),
        401
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_is_throttled_per_address() {
    let app = TestApp::builder()
        .sign_in_limits(100, 4)
        .set_up()
        .start()
        .await;
    let client = app.client();
    for i in 0..4 {
        assert_eq!(
            app.login(&client, &format!("user{i}"), "x-not-the-password")
                .await
                .status(),
            401
        );
    }
    assert_eq!(
        app.login(&client, ADMIN, ADMIN_PASSWORD).await.status(),
        429
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_origins_cannot_change_state() {
    let app = TestApp::builder().set_up().start().await;
    let client = app.admin().await;
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
    let (_, tokens) =
        status_json(client.get(app.url("/api/v1/tokens")).send().await.unwrap()).await;
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
async fn api_tokens_are_shown_once_work_as_bearer_and_can_be_revoked() {
    let app = TestApp::builder().set_up().start().await;
    let client = app.admin().await;
    let name = "backup <script> & 'quotes' \"ü\"";
    let (status, created) = status_json(
        client
            .post(app.url("/api/v1/tokens"))
            .json(&json!({"name": name}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["token"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("dpe_"));
    let id = created["id"].as_i64().unwrap();

    let (_, list) = status_json(client.get(app.url("/api/v1/tokens")).send().await.unwrap()).await;
    assert_eq!(list[0]["name"], name);
    assert!(
        list[0].get("token").is_none(),
        "secrets are never listed: {list}"
    );
    assert!(!list.to_string().contains(&secret));

    let bearer = app.client();
    let r = bearer
        .get(app.url("/api/v1/me"))
        .header(AUTHORIZATION, format!("Bearer {secret}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        status_json(r).await,
        (200, json!({"username": "admin", "role": "admin"}))
    );
    let (_, list) = status_json(client.get(app.url("/api/v1/tokens")).send().await.unwrap()).await;
    assert!(list[0]["last_used_at"].is_i64(), "use is recorded: {list}");

    // Bad input to the token endpoints.
    let r = client
        .post(app.url("/api/v1/tokens"))
        .json(&json!({"name": ""}))
        .send()
        .await
        .unwrap();
    assert_eq!(status_json(r).await.0, 422);
    let r = client
        .post(app.url("/api/v1/tokens"))
        .json(&json!({"name": "a", "scope": "all"}))
        .send()
        .await
        .unwrap();
    assert_eq!(status_json(r).await.0, 422);
    let r = client
        .delete(app.url("/api/v1/tokens/not-a-number"))
        .send()
        .await
        .unwrap();
    assert_eq!(status_json(r).await.0, 400);

    // Revoke: the secret stops working, a second click is a clean 404.
    let r = client
        .delete(app.url(&format!("/api/v1/tokens/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = client
        .delete(app.url(&format!("/api/v1/tokens/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(status_json(r).await.0, 404);
    let r = bearer
        .get(app.url("/api/v1/me"))
        .header(AUTHORIZATION, format!("Bearer {secret}"))
        .send()
        .await
        .unwrap();
    assert_eq!(status_json(r).await.0, 401);
    let r = bearer
        .get(app.url("/api/v1/me"))
        .header(AUTHORIZATION, "Bearer dpe_forged")
        .send()
        .await
        .unwrap();
    assert_eq!(status_json(r).await.0, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_expire_when_asked_to() {
    let app = TestApp::builder().set_up().start().await;
    let client = app.admin().await;
    let create =
        |body: serde_json::Value| client.post(app.url("/api/v1/tokens")).json(&body).send();
    for days in [0, 3651] {
        let (status, err) = status_json(
            create(json!({"name": "x", "expires_in_days": days}))
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (status, err["field"].as_str()),
            (422, Some("expires_in_days")),
            "{err}"
        );
    }
    let (status, created) = status_json(
        create(json!({"name": "ci", "expires_in_days": 90}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["token"].as_str().unwrap().to_owned();
    let (_, list) = status_json(client.get(app.url("/api/v1/tokens")).send().await.unwrap()).await;
    let expires_at = list[0]["expires_at"].as_i64().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((expires_at - now - 90 * 86_400).abs() < 60, "{list}");
    let me = || {
        app.client()
            .get(app.url("/api/v1/me"))
            .header(AUTHORIZATION, format!("Bearer {secret}"))
            .send()
    };
    assert_eq!(me().await.unwrap().status(), 200);
    // Ninety days later (the store's clock moved back by hand).
    let store = rusqlite::Connection::open(app.data_path().join("dpe.sqlite3")).unwrap();
    store
        .execute("UPDATE api_tokens SET expires_at = ?1", [now - 1])
        .unwrap();
    assert_eq!(me().await.unwrap().status(), 401);
    // Left out, a token lasts until revoked.
    let (_, created) = status_json(create(json!({"name": "forever"})).await.unwrap()).await;
    let (_, list) = status_json(client.get(app.url("/api/v1/tokens")).send().await.unwrap()).await;
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == created["id"] && t["expires_at"].is_null()),
        "{list}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_private_to_their_owner() {
    let app = TestApp::builder().set_up().start().await;
    let admin = app.admin().await;
    let (_, created) = status_json(
        admin
            .post(app.url("/api/v1/tokens"))
            .json(&json!({"name": "admin's"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let id = created["id"].as_i64().unwrap();

    let hash = server::auth::password::hash("other-User-pass-77").unwrap();
    app.appliance
        .store
        .write(move |tx| {
            server::store::users::insert(tx, "bob", Some(&hash), app::model::Role::User)
        })
        .await
        .unwrap();
    let bob = app.client();
    assert_eq!(
        app.login(&bob, "bob", "other-User-pass-77").await.status(),
        200
    );
    let (_, list) = status_json(bob.get(app.url("/api/v1/tokens")).send().await.unwrap()).await;
    assert_eq!(list, json!([]));
    let r = bob
        .delete(app.url(&format!("/api/v1/tokens/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        status_json(r).await.0,
        404,
        "someone else's token is not found"
    );
    let (_, list) = status_json(admin.get(app.url("/api/v1/tokens")).send().await.unwrap()).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "and still there");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_accounts_lose_sessions_and_tokens_at_once() {
    let app = TestApp::builder().set_up().start().await;
    let client = app.admin().await;
    let (_, created) = status_json(
        client
            .post(app.url("/api/v1/tokens"))
            .json(&json!({"name": "t"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let secret = created["token"].as_str().unwrap().to_owned();
    app.appliance
        .store
        .write(|tx| server::store::users::set_disabled(tx, ADMIN, true))
        .await
        .unwrap();
    assert_eq!(
        client
            .get(app.url("/api/v1/me"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let r = app
        .client()
        .get(app.url("/api/v1/me"))
        .header(AUTHORIZATION, format!("Bearer {secret}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        app.login(&app.client(), ADMIN, ADMIN_PASSWORD)
            .await
            .status(),
        401
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_api_routes_are_json_404s() {
    let app = TestApp::builder().set_up().start().await;
    let (status, body) = status_json(
        app.client()
            .get(app.url("/api/v1/nope"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_every_endpoint() {
    let app = TestApp::builder().start().await;
    let (status, doc) = status_json(
        app.client()
            .get(app.url("/api/v1/openapi.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/health",
        "/api/v1/setup",
        "/api/v1/login",
        "/api/v1/logout",
        "/api/v1/me",
        "/api/v1/tokens",
        "/api/v1/tokens/{id}",
        "/api/v1/zones",
        "/api/v1/zones/outside",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_forms_work_without_javascript() {
    let app = TestApp::builder().set_up().start().await;
    let client = app.client();
    // Signed out, pages lead to the sign-in page.
    let r = client.get(app.url("/")).send().await.unwrap();
    assert_eq!(r.headers()[LOCATION], "/login");

    // A plain form post (what the browser does with JS off).
    let r = client
        .post(app.url("/fn/sign_in"))
        .header("accept", "text/html")
        .header("referer", app.url("/login"))
        .form(&[("username", ADMIN), ("password", "wrong password!!")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let back = r.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(
        back.starts_with(&app.url("/login")) && back.contains("__err"),
        "{back}"
    );
    let page = client
        .get(&back)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("unknown user or wrong password"),
        "the error is shown"
    );

    let r = client
        .post(app.url("/fn/sign_in"))
        .header("accept", "text/html")
        .header("referer", app.url("/login"))
        .form(&[("username", ADMIN), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()[LOCATION], "/");

    // The dashboard shows the (escaped) appliance name and the live host.
    let html = client
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Physik &lt;Labor&gt; &amp;"), "escaped name");
    assert!(!html.contains("<Labor>"));
    assert!(html.contains("connected"));
    assert!(html.contains("test driver"));
    assert!(html.contains("admin"));

    // Create a token with a form post: the next page load shows it once.
    let r = client
        .post(app.url("/fn/create_token"))
        .header("accept", "text/html")
        .header("referer", app.url("/tokens"))
        .form(&[("name", "from the form")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let first = client
        .get(app.url("/tokens"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        first.contains("Copy it now") && first.contains("dpe_"),
        "shown once"
    );
    let second = client
        .get(app.url("/tokens"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        second.contains("from the form") && !second.contains("Copy it now"),
        "and only once"
    );
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
    let (status, token) = status_json(
        here.post(app.url("/api/v1/tokens"))
            .json(&json!({"name": "ci"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201, "{token}");
    let token = token["token"].as_str().unwrap().to_owned();
    let change = |body: serde_json::Value| {
        let request = here.post(app.url("/api/v1/me/password")).json(&body);
        async move { status_json(request.send().await.unwrap()).await }
    };

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

    let me = |client: &Client| client.get(app.url("/api/v1/me")).send();
    assert_eq!(
        me(&here).await.unwrap().status(),
        200,
        "this session goes on"
    );
    assert_eq!(
        me(&elsewhere).await.unwrap().status(),
        401,
        "the other one ended"
    );
    let with_token = Client::new()
        .get(app.url("/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(with_token.status(), 401, "the token is revoked");
    assert_eq!(
        app.login(&app.client(), ADMIN, ADMIN_PASSWORD)
            .await
            .status(),
        401
    );
    assert_eq!(app.login(&app.client(), ADMIN, new).await.status(), 200);
}
