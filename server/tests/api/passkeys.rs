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
        (status, added["passkey"]["name"].as_str()),
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
    let key_id = added["passkey"]["id"].as_i64().unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passkey_only_account_creates_a_token_only_after_confirming_with_its_passkey_once_each() {
    let app = TestApp::builder().set_up().start().await;
    app.add_user("ann", USER_PASSWORD, Role::User).await;
    let origin = app.origin().replace("127.0.0.1", "localhost");
    let url = Url::parse(&origin).unwrap();
    let ann = Api::browser(&origin).signed_in("ann", USER_PASSWORD).await;
    let (status, body) = ann.post_empty("/api/v1/me/passkeys/confirm").await;
    assert_eq!(status, 404, "no key to confirm with yet: {body}");
    let mut key = WebauthnAuthenticator::new(SoftPasskey::new(true));
    let (_, challenge) = ann
        .post("/api/v1/me/passkeys", json!({"name": "soft key"}))
        .await;
    let answer = key
        .do_registration(url.clone(), options(&challenge))
        .unwrap();
    let (status, _) = ann
        .post("/api/v1/me/passkeys/finish", json!({"credential": answer}))
        .await;
    assert_eq!(status, 200);

    // Without a confirmation, no token.
    let (status, body) = ann.post("/api/v1/tokens", json!({"name": "ci"})).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (422, Some("code")),
        "{body}"
    );
    // A forged confirmation is refused and gives nothing.
    let (status, challenge) = ann.post_empty("/api/v1/me/passkeys/confirm").await;
    assert_eq!(status, 200, "{challenge}");
    let mut signed = serde_json::to_value(
        key.do_authentication(url.clone(), options(&challenge))
            .unwrap(),
    )
    .unwrap();
    signed["response"]["signature"] = json!("AAAA");
    let (status, _) = ann
        .post(
            "/api/v1/me/passkeys/confirm/finish",
            json!({"credential": signed}),
        )
        .await;
    assert_eq!(status, 422);
    let (status, _) = ann.post("/api/v1/tokens", json!({"name": "ci"})).await;
    assert_eq!(status, 422, "a refused answer confirms nothing");

    // A right one lets one token be made, and only one.
    let (_, challenge) = ann.post_empty("/api/v1/me/passkeys/confirm").await;
    let signed = key
        .do_authentication(url.clone(), options(&challenge))
        .unwrap();
    let (status, body) = ann
        .post(
            "/api/v1/me/passkeys/confirm/finish",
            json!({"credential": signed}),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (status, created) = ann.post("/api/v1/tokens", json!({"name": "ci"})).await;
    assert_eq!(status, 201, "{created}");
    assert!(created["token"].is_string());
    let (status, _) = ann.post("/api/v1/tokens", json!({"name": "ci 2"})).await;
    assert_eq!(status, 422, "each confirmation serves once");
    let (_, page) = ann.get("/api/v1/tokens").await;
    assert_eq!(page.as_array().map(Vec::len), Some(1), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_passkey_brings_ten_recovery_codes_each_signing_in_once_and_the_account_list_says_passkey()
 {
    let app = TestApp::builder().set_up().start().await;
    app.add_user("ann", USER_PASSWORD, Role::User).await;
    let origin = app.origin().replace("127.0.0.1", "localhost");
    let url = Url::parse(&origin).unwrap();
    let ann = Api::browser(&origin).signed_in("ann", USER_PASSWORD).await;
    let mut key = WebauthnAuthenticator::new(SoftPasskey::new(true));
    let mut add = async |name: &str| {
        let (_, challenge) = ann
            .post("/api/v1/me/passkeys", json!({ "name": name }))
            .await;
        let answer = key
            .do_registration(url.clone(), options(&challenge))
            .unwrap();
        let (status, added) = ann
            .post("/api/v1/me/passkeys/finish", json!({"credential": answer}))
            .await;
        assert_eq!(status, 200, "{added}");
        added
    };
    let first = add("first").await;
    let codes: Vec<String> =
        serde_json::from_value(first["recovery_codes"]["codes"].clone()).unwrap();
    assert_eq!(codes.len(), 10, "{first}");
    let second = add("second").await;
    assert!(
        second["recovery_codes"].is_null(),
        "only the first factor brings codes: {second}"
    );
    // The admin's list of accounts names the factor truthfully.
    let (status, users) = app.admin().await.get("/api/v1/users").await;
    assert_eq!(status, 200, "{users}");
    let listed = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "ann")
        .unwrap();
    assert_eq!(
        (&listed["authenticator_app"], &listed["passkeys"]),
        (&json!(false), &json!(true)),
        "{listed}"
    );
    let (_, status) = ann.get("/api/v1/me/second-factor").await;
    assert_eq!(status["recovery_codes_left"], 10, "{status}");

    let fresh = Api::browser(&origin);
    let (status, _) = fresh.sign_in("ann", USER_PASSWORD).await;
    assert_eq!(status, 401);
    let (status, me) = fresh
        .post("/api/v1/login/code", json!({"code": codes[2]}))
        .await;
    assert_eq!(
        (status, me["username"].as_str()),
        (200, Some("ann")),
        "{me}"
    );
    let again = Api::browser(&origin);
    let (status, _) = again.sign_in("ann", USER_PASSWORD).await;
    assert_eq!(status, 401);
    let (status, _) = again
        .post("/api/v1/login/code", json!({"code": codes[2]}))
        .await;
    assert_eq!(status, 422, "a recovery code works once");
    assert_eq!(again.me().await.0, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_that_must_enrol_may_enrol_a_passkey_which_signs_it_in_and_brings_ten_recovery_codes()
 {
    let app = TestApp::builder().set_up().start().await;
    app.add_user("ann", USER_PASSWORD, Role::User).await;
    let (status, _) = app
        .admin()
        .await
        .put(
            "/api/v1/settings/second-factor",
            json!({"required_of": "everyone"}),
        )
        .await;
    assert_eq!(status, 200);
    let origin = app.origin().replace("127.0.0.1", "localhost");
    let url = Url::parse(&origin).unwrap();
    let ann = Api::browser(&origin);
    let (status, body) = ann.sign_in("ann", USER_PASSWORD).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("second_factor_enrolment_required"))
    );
    let (status, _) = ann.post_empty("/api/v1/me/passkeys/confirm").await;
    assert_eq!(status, 401, "nothing else first");
    let (status, _) = ann.post_empty("/api/v1/login/passkey").await;
    assert_eq!(status, 401, "no passkey is awaited: an enrolment is");
    let mut key = WebauthnAuthenticator::new(SoftPasskey::new(true));
    let (status, challenge) = ann
        .post("/api/v1/login/passkey/enrol", json!({"name": "soft key"}))
        .await;
    assert_eq!(status, 200, "{challenge}");
    let answer = key
        .do_registration(url.clone(), options(&challenge))
        .unwrap();
    let (status, added) = ann
        .post(
            "/api/v1/login/passkey/enrol/finish",
            json!({"credential": answer}),
        )
        .await;
    assert_eq!(status, 200, "{added}");
    assert_eq!(
        added["recovery_codes"]["codes"].as_array().map(Vec::len),
        Some(10)
    );
    assert_eq!(ann.me().await.0, 200, "signed in");

    // Next time the key is asked for, not an enrolment.
    let again = Api::browser(&origin);
    let (status, body) = again.sign_in("ann", USER_PASSWORD).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("second_factor_required"))
    );
    let (status, _) = again
        .post("/api/v1/login/passkey/enrol", json!({"name": "other"}))
        .await;
    assert_eq!(status, 401, "no enrolment is awaited");
    let (_, challenge) = again.post_empty("/api/v1/login/passkey").await;
    let signed = key
        .do_authentication(url.clone(), options(&challenge))
        .unwrap();
    let (status, me) = again
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
}
