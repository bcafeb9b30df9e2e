//! API tokens: shown once, used as bearer, revoked, expiring, private.

use app::model::Role;
use reqwest::header::AUTHORIZATION;
use serde_json::json;

use crate::common::{TestApp, status_json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_tokens_are_shown_once_work_as_bearer_and_can_be_revoked() {
    let app = TestApp::builder().set_up().start().await;
    let client = app.admin().await;
    let name = "backup <script> & 'quotes' \"ü\"";
    let (status, created) = client.post("/api/v1/tokens", json!({"name": name})).await;
    assert_eq!(status, 201, "{created}");
    let secret = created["token"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("dpe_"));
    let id = created["id"].as_i64().unwrap();

    let (_, list) = client.get("/api/v1/tokens").await;
    assert_eq!(list[0]["name"], name);
    assert!(
        list[0].get("token").is_none(),
        "secrets are never listed: {list}"
    );
    assert!(!list.to_string().contains(&secret));

    let bearer = app.client();
    let me = |header: String| {
        bearer
            .get(app.url("/api/v1/me"))
            .header(AUTHORIZATION, header)
            .send()
    };
    assert_eq!(
        status_json(me(format!("Bearer {secret}")).await.unwrap()).await,
        (200, json!({"username": "admin", "role": "admin"}))
    );
    let (_, list) = client.get("/api/v1/tokens").await;
    assert!(list[0]["last_used_at"].is_i64(), "use is recorded: {list}");

    // Bad input to the token endpoints.
    let (status, _) = client.post("/api/v1/tokens", json!({"name": ""})).await;
    assert_eq!(status, 422);
    let (status, _) = client
        .post("/api/v1/tokens", json!({"name": "a", "scope": "all"}))
        .await;
    assert_eq!(status, 422);
    assert_eq!(client.delete("/api/v1/tokens/not-a-number").await.0, 400);

    // Revoke: the secret stops working, a second click is a clean 404.
    assert_eq!(client.delete(&format!("/api/v1/tokens/{id}")).await.0, 204);
    assert_eq!(client.delete(&format!("/api/v1/tokens/{id}")).await.0, 404);
    let r = me(format!("Bearer {secret}")).await.unwrap();
    assert_eq!(status_json(r).await.0, 401);
    let r = me("Bearer dpe_forged".to_owned()).await.unwrap();
    assert_eq!(status_json(r).await.0, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_expire_when_asked_to() {
    let app = TestApp::builder().set_up().start().await;
    let client = app.admin().await;
    let create = |body| client.post("/api/v1/tokens", body);
    for days in [0, 3651] {
        let (status, err) = create(json!({"name": "x", "expires_in_days": days})).await;
        assert_eq!(
            (status, err["field"].as_str()),
            (422, Some("expires_in_days")),
            "{err}"
        );
    }
    let (status, created) = create(json!({"name": "ci", "expires_in_days": 90})).await;
    assert_eq!(status, 201, "{created}");
    let secret = created["token"].as_str().unwrap().to_owned();
    let (_, list) = client.get("/api/v1/tokens").await;
    let expires_at = list[0]["expires_at"].as_i64().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((expires_at - now - 90 * 86_400).abs() < 60, "{list}");
    assert_eq!(client.me_with_token(&secret).await.0, 200);
    // Ninety days later (the store's clock moved back by hand).
    let store = rusqlite::Connection::open(app.data_path().join("dpe.sqlite3")).unwrap();
    store
        .execute("UPDATE api_tokens SET expires_at = ?1", [now - 1])
        .unwrap();
    assert_eq!(client.me_with_token(&secret).await.0, 401);
    // Left out, a token lasts until revoked.
    let (_, created) = create(json!({"name": "forever"})).await;
    let (_, list) = client.get("/api/v1/tokens").await;
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
    let (_, created) = admin
        .post("/api/v1/tokens", json!({"name": "admin's"}))
        .await;
    let id = created["id"].as_i64().unwrap();

    let bob = app.user_client("bob", Role::User).await;
    let (_, list) = bob.get("/api/v1/tokens").await;
    assert_eq!(list, json!([]));
    assert_eq!(
        bob.delete(&format!("/api/v1/tokens/{id}")).await.0,
        404,
        "someone else's token is not found"
    );
    let (_, list) = admin.get("/api/v1/tokens").await;
    assert_eq!(list.as_array().unwrap().len(), 1, "and still there");
}
