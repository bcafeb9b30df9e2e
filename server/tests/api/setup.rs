//! The setup wizard over the API: before setup, bad input, the setup code,
//! libvirt URIs that must not run, and exactly one completion.

use reqwest::header::LOCATION;
use serde_json::json;

use crate::common::{ADMIN_PASSWORD, TestApp, status_json};

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

    let (status, body) = app.api().me().await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("setup_required"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_refuses_bad_input_with_the_field_at_fault() {
    let app = TestApp::builder().start().await;
    let api = app.api();
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
        let (status, err) = api.post("/api/v1/setup", body).await;
        assert_eq!(status, 422, "{key}={value}: {err}");
        assert_eq!(err["error"], "invalid");
        assert_eq!(err["field"], field, "{key}={value}: {err}");
        assert!(!err["message"].as_str().unwrap().is_empty());
    }

    // Unknown fields and wrong types are 422, unreadable JSON 400.
    let mut body = app.setup_body();
    body["is_admin"] = json!(true);
    let (status, err) = api.post("/api/v1/setup", body).await;
    assert_eq!(status, 422, "{err}");
    assert!(
        err["message"].as_str().unwrap().contains("is_admin"),
        "{err}"
    );
    let mut body = app.setup_body();
    body["admin_password"] = json!(-5);
    assert_eq!(api.post("/api/v1/setup", body).await.0, 422);
    let r = api
        .http()
        .post(app.url("/api/v1/setup"))
        .header("content-type", "application/json")
        .body("{\"appliance_name\": ")
        .send()
        .await
        .unwrap();
    let (status, err) = status_json(r).await;
    assert_eq!((status, err["error"].as_str()), (400, Some("bad_request")));
    let r = api
        .http()
        .post(app.url("/api/v1/setup"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "no JSON content type");

    // Nothing of it was kept.
    let (_, health) = api.get("/api/v1/health").await;
    assert_eq!(health["setup_complete"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_needs_the_code_and_wrong_codes_are_audited() {
    let app = TestApp::builder().start().await;
    let api = app.api();
    let code = app.setup_code();
    for wrong in ["", "ABCD-EFGH-JKMN-PQRS"] {
        let mut body = app.setup_body();
        body["setup_code"] = json!(wrong);
        let (status, err) = api.post("/api/v1/setup", body).await;
        assert_eq!(
            (status, err["field"].as_str()),
            (422, Some("setup_code")),
            "{err}"
        );
    }
    // The code as a person might type it.
    let mut body = app.setup_body();
    body["setup_code"] = json!(code.to_lowercase().replace('-', " "));
    assert_eq!(api.post("/api/v1/setup", body).await.0, 201);
    assert!(app.setup_code().is_empty(), "a used code is gone");
    let admin = app.admin().await;
    let (_, audit) = admin.get("/api/v1/audit?action=setup").await;
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_the_setup_code_is_throttled_and_the_probe_asks_for_it_too() {
    let app = TestApp::builder().start().await;
    let api = app.api();
    let probe = || {
        api.post_form(
            "/fn/probe_host",
            &[
                ("uri", "test:///default"),
                ("setup_code", "ABCD-EFGH-JKMN-PQRS"),
            ],
        )
    };
    assert_eq!(probe().await.0, 422);
    let mut last = 0;
    for _ in 0..40 {
        last = probe().await.0;
        if last == 429 {
            break;
        }
    }
    assert_eq!(last, 429, "guessing was never throttled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libvirt_uris_that_run_programs_or_read_files_are_refused() {
    let app = TestApp::builder().start().await;
    let api = app.api();
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
        let form = [("uri", uri.as_str()), ("setup_code", &app.setup_code())];
        let (status, body) = api.post_form("/fn/probe_host", &form).await;
        assert_eq!(status, 422, "{uri}: {body}");
        assert!(!body.to_string().contains("root:"), "{uri}: {body}");
        // ...and setup itself.
        let mut setup = app.setup_body();
        setup["host_uri"] = json!(uri);
        let (status, body) = api.post("/api/v1/setup", setup).await;
        assert_eq!(
            (status, body["field"].as_str()),
            (422, Some("host_uri")),
            "{uri}: {body}"
        );
    }
    assert!(!mark.exists(), "a URI ran a program");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_completes_once_and_cannot_be_rerun() {
    let app = TestApp::builder().start().await;
    let api = app.api();
    assert_eq!(api.post("/api/v1/setup", app.setup_body()).await.0, 201);
    let (_, health) = api.get("/api/v1/health").await;
    assert_eq!(health["setup_complete"], true);

    // A second wizard run, even with other credentials, cannot take over.
    let mut takeover = app.setup_body();
    takeover["admin_username"] = json!("mallory");
    let (status, err) = api.post("/api/v1/setup", takeover).await;
    assert_eq!((status, err["error"].as_str()), (409, Some("conflict")));
    assert_eq!(api.sign_in("mallory", ADMIN_PASSWORD).await.0, 401);

    // The wizard page now sends visitors to sign in, and its server function refuses.
    let r = api.http().get(app.url("/setup")).send().await.unwrap();
    assert_eq!(
        (r.status().as_u16(), r.headers()[LOCATION].to_str().unwrap()),
        (303, "/login")
    );
    let (status, body) = api
        .post_form(
            "/fn/complete_setup",
            &[
                ("setup_code", "ABCD-EFGH-JKMN-PQRS"),
                ("appliance_name", "x"),
                ("admin_username", "mallory"),
                ("admin_password", ADMIN_PASSWORD),
                ("admin_password_repeat", ADMIN_PASSWORD),
                ("host_uri", "test:///default"),
                ("storage_dir", "/tmp"),
                ("network", "default"),
            ],
        )
        .await;
    assert!((400..600).contains(&status), "{status}: {body}");
    assert_eq!(api.sign_in("mallory", ADMIN_PASSWORD).await.0, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_setups_have_exactly_one_winner() {
    let app = TestApp::builder().start().await;
    let attempts = (0..8).map(|i| {
        let api = app.api();
        let mut body = app.setup_body();
        body["admin_username"] = json!(format!("admin{i}"));
        async move { api.post("/api/v1/setup", body).await.0 }
    });
    let mut statuses = futures::future::join_all(attempts).await;
    statuses.sort();
    assert_eq!(statuses, [201, 409, 409, 409, 409, 409, 409, 409]);
}
