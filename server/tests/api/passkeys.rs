//! Passkeys over the API, with webauthn-authenticator-rs's software
//! passkey in the browser's place: adding one, signing in with it after
//! the password, a forged answer counted as a wrong code, and removal.
//! The portal is addressed as `localhost`: a relying party is a name.

use app::model::Role;
use serde_json::{Value, json};
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::prelude::Url;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

use crate::common::{Api, TestApp, USER_PASSWORD};

/// Wrong second-factor answers in a row of the account `user_id`.
async fn failures(app: &TestApp, user_id: i64) -> i64 {
    app.appliance
        .store
        .read(move |c| {
            Ok(c.query_row(
                "SELECT coalesce(max(failures), 0) FROM second_factor_failures WHERE user_id = ?1",
                [user_id],
                |r| r.get(0),
            )?)
        })
        .await
        .unwrap()
}

/// The options of a challenge answer, as the authenticator reads them.
fn options<T: serde::de::DeserializeOwned>(challenge: &Value) -> T {
    serde_json::from_value(challenge["options"].clone()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passkey_signs_in_after_the_password_and_a_forged_answer_counts_as_a_wrong_code() {
    let app = TestApp::builder().set_up().start().await;
    app.add_user("ann", USER_PASSWORD, Role::User).await;
    let by_address = app.sign_in("ann", USER_PASSWORD).await;
    let (status, body) = by_address
        .post("/api/v1/me/passkeys", json!({"name": "soft"}))
        .await;
    assert_eq!(status, 409, "an address is no relying party: {body}");

    let origin = app.origin().replace("127.0.0.1", "localhost");
    let url = Url::parse(&origin).unwrap();
    let ann = Api::browser(&origin).signed_in("ann", USER_PASSWORD).await;
    let mut key = WebauthnAuthenticator::new(SoftPasskey::new(true));
    let (status, body) = ann.post("/api/v1/me/passkeys", json!({"name": " "})).await;
    assert_eq!((status, body["field"].as_str()), (422, Some("name")));
    let (status, challenge) = ann
        .post("/api/v1/me/passkeys", json!({"name": "soft key"}))
        .await;
    assert_eq!(status, 200, "{challenge}");
    let answer = key
        .do_registration(url.clone(), options(&challenge))
        .unwrap();
    let answer = serde_json::to_value(answer).unwrap();
    let (status, added) = ann
        .post("/api/v1/me/passkeys/finish", json!({"credential": answer}))
        .await;
    assert_eq!(
        (status, added["name"].as_str()),
        (200, Some("soft key")),
        "{added}"
    );
    let (status, _) = ann
        .post("/api/v1/me/passkeys/finish", json!({"credential": answer}))
        .await;
    assert_eq!(status, 409, "each challenge answers once");
    let (_, second) = ann.get("/api/v1/me/second-factor").await;
    assert_eq!(second["passkeys"][0]["name"], "soft key");
    assert_eq!(ann.sign_out().await, 204);

    // The password alone no longer signs in.
    let fresh = Api::browser(&origin);
    let (status, body) = fresh.sign_in("ann", USER_PASSWORD).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("second_factor_required"))
    );
    let key_id = added["id"].as_i64().unwrap();
    let user_id = app
        .appliance
        .store
        .read(|c| server::store::users::by_name(c, "ann"))
        .await
        .unwrap()
        .unwrap()
        .id;
    // A forged signature is refused, and counted as a wrong code.
    let (status, challenge) = fresh.post_empty("/api/v1/login/passkey").await;
    assert_eq!(status, 200, "{challenge}");
    let mut signed = serde_json::to_value(
        key.do_authentication(url.clone(), options(&challenge))
            .unwrap(),
    )
    .unwrap();
    let signature = signed["response"]["signature"].as_str().unwrap().to_owned();
    let mid = signature.len() / 2;
    let flipped = if &signature[mid..=mid] == "A" {
        "B"
    } else {
        "A"
    };
    signed["response"]["signature"] = json!(format!(
        "{}{flipped}{}",
        &signature[..mid],
        &signature[mid + 1..]
    ));
    let (status, body) = fresh
        .post(
            "/api/v1/login/passkey/finish",
            json!({"credential": signed}),
        )
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (422, Some("credential")),
        "{body}"
    );
    assert_eq!(failures(&app, user_id).await, 1);
    assert_eq!(fresh.me().await.0, 401);

    // A new challenge, rightly signed, signs in and clears the count.
    let (_, challenge) = fresh.post_empty("/api/v1/login/passkey").await;
    let signed = key
        .do_authentication(url.clone(), options(&challenge))
        .unwrap();
    let (status, me) = fresh
        .post(
            "/api/v1/login/passkey/finish",
            json!({"credential": signed}),
        )
        .await;
    assert_eq!(
        (status, me["username"].as_str()),
        (200, Some("ann")),
        "{me}"
    );
    assert_eq!(failures(&app, user_id).await, 0);
    let (_, second) = fresh.get("/api/v1/me/second-factor").await;
    assert!(second["passkeys"][0]["last_used_at"].is_i64(), "{second}");

    // Removal takes the password; then the password alone signs in.
    let remove = format!("/api/v1/me/passkeys/{key_id}/remove");
    let (status, _) = fresh.post(&remove, json!({"password": "wrong"})).await;
    assert_eq!(status, 422);
    let (status, _) = fresh
        .post(&remove, json!({"password": USER_PASSWORD}))
        .await;
    assert_eq!(status, 204);
    let (status, _) = fresh
        .post(&remove, json!({"password": USER_PASSWORD}))
        .await;
    assert_eq!(status, 404);
    let (status, _) = Api::browser(&origin).sign_in("ann", USER_PASSWORD).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passkey_sign_in_needs_a_right_password_first() {
    let app = TestApp::builder().set_up().start().await;
    let origin = app.origin().replace("127.0.0.1", "localhost");
    let nobody = Api::browser(&origin);
    assert_eq!(nobody.post_empty("/api/v1/login/passkey").await.0, 401);
    let (status, _) = nobody
        .post("/api/v1/login/passkey/finish", json!({"credential": {}}))
        .await;
    assert_eq!(status, 401);
}
