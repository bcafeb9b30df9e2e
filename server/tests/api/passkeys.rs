//! Passkeys and security keys over the API, with webauthn-authenticator-rs's
//! software passkey in the browser's place: adding one, signing in with it
//! after the password, a forged answer counted as a wrong code, a key with
//! no PIN beside a passkey, and removal (the last factor's taking the
//! recovery codes). The portal is addressed as `localhost`: a relying
//! party is a name.

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

/// A software authenticator. It verifies its user exactly when the
/// options require it: under "preferred" or "discouraged" it answers with
/// a touch alone, as a key with no PIN does.
type SoftKey = WebauthnAuthenticator<SoftPasskey>;

fn soft_key() -> SoftKey {
    WebauthnAuthenticator::new(SoftPasskey::new(true))
}

/// An appliance with the account "ann", reached as `localhost` (a relying
/// party is a name, not an address).
struct Localhost {
    app: TestApp,
    origin: String,
    url: Url,
}

impl Localhost {
    async fn with_ann() -> Localhost {
        let app = TestApp::builder().set_up().start().await;
        app.add_user("ann", USER_PASSWORD, Role::User).await;
        let origin = app.origin().replace("127.0.0.1", "localhost");
        let url = Url::parse(&origin).unwrap();
        Localhost { app, origin, url }
    }

    /// A browser with ann signed in (by her password alone: she has no
    /// second factor yet).
    async fn ann(&self) -> Api {
        Api::browser(&self.origin)
            .signed_in("ann", USER_PASSWORD)
            .await
    }

    /// A new browser past ann's password, asked for her second factor.
    async fn at_second_step(&self) -> Api {
        let fresh = Api::browser(&self.origin);
        let (status, body) = fresh.sign_in("ann", USER_PASSWORD).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("second_factor_required")),
            "{body}"
        );
        fresh
    }

    /// Adds `key` to the signed-in `api`'s account as a key of `kind`
    /// called `name`: the finishing answer.
    async fn add(&self, api: &Api, key: &mut SoftKey, name: &str, kind: &str) -> Value {
        let (status, challenge) = api
            .post("/api/v1/me/passkeys", json!({"name": name, "kind": kind}))
            .await;
        assert_eq!(status, 200, "{challenge}");
        let answer = key
            .do_registration(self.url.clone(), options(&challenge))
            .unwrap();
        let (status, added) = api
            .post("/api/v1/me/passkeys/finish", json!({"credential": answer}))
            .await;
        assert_eq!(status, 200, "{added}");
        added
    }

    /// The sign-in's challenge for `api`, past the password.
    async fn sign_in_challenge(&self, api: &Api) -> Value {
        let (status, challenge) = api.post_empty("/api/v1/login/passkey").await;
        assert_eq!(status, 200, "{challenge}");
        challenge
    }

    /// Answers `challenge` with `key` and finishes the sign-in with it.
    async fn answer(&self, api: &Api, key: &mut SoftKey, challenge: &Value) -> (u16, Value) {
        let signed = key
            .do_authentication(self.url.clone(), options(challenge))
            .unwrap();
        api.post(
            "/api/v1/login/passkey/finish",
            json!({"credential": signed}),
        )
        .await
    }

    async fn user_id(&self) -> i64 {
        self.app
            .appliance
            .store
            .read(|c| server::store::users::by_name(c, "ann"))
            .await
            .unwrap()
            .unwrap()
            .id
    }
}

/// The app's current code for `secret`.
fn app_code(secret: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    server::auth::totp::code_at(secret, now).unwrap()
}

/// Enrols an authenticator app for the signed-in `api`.
async fn enrol_app(api: &Api) {
    let (status, enrolment) = api.post_empty("/api/v1/me/totp").await;
    assert_eq!(status, 200, "{enrolment}");
    let secret = enrolment["secret"].as_str().unwrap();
    let (status, codes) = api
        .post("/api/v1/me/totp/confirm", json!({"code": app_code(secret)}))
        .await;
    assert_eq!(status, 200, "{codes}");
}

/// The details the audit log holds for `action`.
async fn audited(app: &TestApp, action: &str) -> Vec<String> {
    let (_, log) = app.admin().await.get("/api/v1/audit?limit=200").await;
    log.as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == action)
        .filter_map(|e| e["detail"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_the_last_second_factor_deletes_the_recovery_codes_whether_it_is_a_key_or_the_app()
{
    let site = Localhost::with_ann().await;
    let ann = site.ann().await;
    let mut key = soft_key();
    let password = json!({"password": USER_PASSWORD});

    // A key, then the app: removing the app leaves the key and the codes.
    let added = site.add(&ann, &mut key, "laptop", "passkey").await;
    let key_id = added["passkey"]["id"].as_i64().unwrap();
    enrol_app(&ann).await;
    let (status, _) = ann.post("/api/v1/me/totp/remove", password.clone()).await;
    assert_eq!(status, 204);
    let (_, state) = ann.get("/api/v1/me/second-factor").await;
    assert_eq!(
        (&state["totp"], state["passkeys"].as_array().map(Vec::len)),
        (&json!(false), Some(1)),
        "the key stays: {state}"
    );
    assert_eq!(state["recovery_codes_left"], 10, "{state}");
    // The key, now the last factor: its codes go with it.
    let (status, _) = ann
        .post(
            &format!("/api/v1/me/passkeys/{key_id}/remove"),
            password.clone(),
        )
        .await;
    assert_eq!(status, 204);
    let (_, state) = ann.get("/api/v1/me/second-factor").await;
    assert_eq!(state["recovery_codes_left"], 0, "{state}");

    // The app, then a key: removing the key leaves the app and the codes;
    // removing the app, the last, takes them.
    enrol_app(&ann).await;
    let added = site.add(&ann, &mut key, "laptop", "security_key").await;
    let key_id = added["passkey"]["id"].as_i64().unwrap();
    let (status, _) = ann
        .post(
            &format!("/api/v1/me/passkeys/{key_id}/remove"),
            password.clone(),
        )
        .await;
    assert_eq!(status, 204);
    let (_, state) = ann.get("/api/v1/me/second-factor").await;
    assert_eq!(
        (&state["totp"], &state["recovery_codes_left"]),
        (&json!(true), &json!(10)),
        "{state}"
    );
    let (status, _) = ann.post("/api/v1/me/totp/remove", password).await;
    assert_eq!(status, 204);
    let (_, state) = ann.get("/api/v1/me/second-factor").await;
    assert_eq!(state["recovery_codes_left"], 0, "{state}");

    let removed_keys = audited(&site.app, "second_factor.passkey.remove").await;
    assert!(
        removed_keys.iter().any(|d| d
            == "passkey \"laptop\" removed; its 10 recovery codes deleted with the last second factor"),
        "{removed_keys:?}"
    );
    assert!(
        removed_keys
            .iter()
            .any(|d| d == "security key \"laptop\" removed"),
        "{removed_keys:?}"
    );
    let removed_apps = audited(&site.app, "second_factor.totp.remove").await;
    assert!(
        removed_apps
            .iter()
            .any(|d| d == "authenticator app removed"),
        "{removed_apps:?}"
    );
    assert!(
        removed_apps.iter().any(|d| d
            == "authenticator app removed; its 10 recovery codes deleted with the last second factor"),
        "{removed_apps:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_security_key_without_a_pin_signs_in_with_a_touch_while_a_passkey_beside_it_must_still_verify()
 {
    let site = Localhost::with_ann().await;
    let ann = site.ann().await;
    let (status, body) = ann
        .post(
            "/api/v1/me/passkeys",
            json!({"name": "k", "kind": "fingerprint"}),
        )
        .await;
    assert!(status == 400 || status == 422, "{status} {body}");

    // A security key is asked for a touch only, at enrolment and sign-in.
    let mut touch = soft_key();
    let (_, challenge) = ann
        .post(
            "/api/v1/me/passkeys",
            json!({"name": "yubikey", "kind": "security_key"}),
        )
        .await;
    assert_eq!(
        challenge["options"]["publicKey"]["authenticatorSelection"]["userVerification"],
        "discouraged",
        "{challenge}"
    );
    let answer = touch
        .do_registration(site.url.clone(), options(&challenge))
        .unwrap();
    let (status, added) = ann
        .post("/api/v1/me/passkeys/finish", json!({"credential": answer}))
        .await;
    assert_eq!(status, 200, "{added}");
    assert_eq!(added["passkey"]["kind"], "security_key");
    assert_eq!(
        added["recovery_codes"]["codes"].as_array().map(Vec::len),
        Some(10)
    );
    let fresh = site.at_second_step().await;
    let challenge = site.sign_in_challenge(&fresh).await;
    assert_eq!(
        challenge["options"]["publicKey"]["userVerification"],
        "discouraged"
    );
    let (status, me) = site.answer(&fresh, &mut touch, &challenge).await;
    assert_eq!(
        (status, me["username"].as_str()),
        (200, Some("ann")),
        "{me}"
    );

    // Beside it a passkey: one ceremony asks for either, verification
    // preferred.
    let mut passkey = soft_key();
    let added = site.add(&ann, &mut passkey, "laptop", "passkey").await;
    assert_eq!(added["passkey"]["kind"], "passkey");
    let (_, state) = ann.get("/api/v1/me/second-factor").await;
    let kinds: Vec<&Value> = state["passkeys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| &k["kind"])
        .collect();
    assert_eq!(kinds, [&json!("security_key"), &json!("passkey")]);
    let fresh = site.at_second_step().await;
    let challenge = site.sign_in_challenge(&fresh).await;
    assert_eq!(
        challenge["options"]["publicKey"]["userVerification"],
        "preferred"
    );
    assert_eq!(
        challenge["options"]["publicKey"]["allowCredentials"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    let (status, me) = site.answer(&fresh, &mut touch, &challenge).await;
    assert_eq!((status, me["username"].as_str()), (200, Some("ann")));

    // The passkey's answer with a touch alone is refused (and counted)...
    let fresh = site.at_second_step().await;
    let challenge = site.sign_in_challenge(&fresh).await;
    let (status, body) = site.answer(&fresh, &mut passkey, &challenge).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (422, Some("credential")),
        "{body}"
    );
    assert_eq!(failures(&site.app, site.user_id().await).await, 1);
    assert_eq!(fresh.me().await.0, 401);
    // ...and accepted when it verifies its holder, as a passkey does when
    // verification is preferred.
    let mut challenge = site.sign_in_challenge(&fresh).await;
    challenge["options"]["publicKey"]["userVerification"] = json!("required");
    let (status, me) = site.answer(&fresh, &mut passkey, &challenge).await;
    assert_eq!(
        (status, me["username"].as_str()),
        (200, Some("ann")),
        "{me}"
    );
    let used = audited(&site.app, "second_factor.passkey.use").await;
    assert!(
        used.iter().any(|d| d == "security key \"yubikey\""),
        "{used:?}"
    );
    assert!(used.iter().any(|d| d == "passkey \"laptop\""), "{used:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passkey_signs_in_after_the_password_and_a_forged_answer_counts_as_a_wrong_code() {
    let site = Localhost::with_ann().await;
    let (app, url) = (&site.app, &site.url);
    let by_address = app.sign_in("ann", USER_PASSWORD).await;
    let (status, body) = by_address
        .post("/api/v1/me/passkeys", json!({"name": "soft"}))
        .await;
    assert_eq!(status, 409, "an address is no relying party: {body}");

    let ann = site.ann().await;
    let mut key = soft_key();
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
    let fresh = site.at_second_step().await;
    let key_id = added["passkey"]["id"].as_i64().unwrap();
    let user_id = site.user_id().await;
    // A forged signature is refused, and counted as a wrong code.
    let challenge = site.sign_in_challenge(&fresh).await;
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
    assert_eq!(failures(app, user_id).await, 1);
    assert_eq!(fresh.me().await.0, 401);

    // A new challenge, rightly signed, signs in and clears the count.
    let challenge = site.sign_in_challenge(&fresh).await;
    let (status, me) = site.answer(&fresh, &mut key, &challenge).await;
    assert_eq!(
        (status, me["username"].as_str()),
        (200, Some("ann")),
        "{me}"
    );
    assert_eq!(failures(app, user_id).await, 0);
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
    let (status, _) = Api::browser(&site.origin)
        .sign_in("ann", USER_PASSWORD)
        .await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passkey_sign_in_needs_a_right_password_first() {
    let site = Localhost::with_ann().await;
    let nobody = Api::browser(&site.origin);
    assert_eq!(nobody.post_empty("/api/v1/login/passkey").await.0, 401);
    let (status, _) = nobody
        .post("/api/v1/login/passkey/finish", json!({"credential": {}}))
        .await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passkey_only_account_creates_a_token_only_after_confirming_with_its_passkey_once_each() {
    let site = Localhost::with_ann().await;
    let url = &site.url;
    let ann = site.ann().await;
    let (status, body) = ann.post_empty("/api/v1/me/passkeys/confirm").await;
    assert_eq!(status, 404, "no key to confirm with yet: {body}");
    let mut key = soft_key();
    site.add(&ann, &mut key, "soft key", "passkey").await;

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
    let site = Localhost::with_ann().await;
    let ann = site.ann().await;
    let mut key = soft_key();
    let first = site.add(&ann, &mut key, "first", "passkey").await;
    let codes: Vec<String> =
        serde_json::from_value(first["recovery_codes"]["codes"].clone()).unwrap();
    assert_eq!(codes.len(), 10, "{first}");
    let second = site.add(&ann, &mut key, "second", "passkey").await;
    assert!(
        second["recovery_codes"].is_null(),
        "only the first factor brings codes: {second}"
    );
    // The admin's list of accounts names the factor truthfully.
    let (status, users) = site.app.admin().await.get("/api/v1/users").await;
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

    let fresh = site.at_second_step().await;
    let (status, me) = fresh
        .post("/api/v1/login/code", json!({"code": codes[2]}))
        .await;
    assert_eq!(
        (status, me["username"].as_str()),
        (200, Some("ann")),
        "{me}"
    );
    let again = site.at_second_step().await;
    let (status, _) = again
        .post("/api/v1/login/code", json!({"code": codes[2]}))
        .await;
    assert_eq!(status, 422, "a recovery code works once");
    assert_eq!(again.me().await.0, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_that_must_enrol_may_enrol_a_security_key_which_signs_it_in_and_brings_ten_recovery_codes()
 {
    let site = Localhost::with_ann().await;
    let (status, _) = site
        .app
        .admin()
        .await
        .put(
            "/api/v1/settings/second-factor",
            json!({"required_of": "everyone"}),
        )
        .await;
    assert_eq!(status, 200);
    let ann = Api::browser(&site.origin);
    let (status, body) = ann.sign_in("ann", USER_PASSWORD).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("second_factor_enrolment_required"))
    );
    let (status, _) = ann.post_empty("/api/v1/me/passkeys/confirm").await;
    assert_eq!(status, 401, "nothing else first");
    let (status, _) = ann.post_empty("/api/v1/login/passkey").await;
    assert_eq!(status, 401, "no passkey is awaited: an enrolment is");
    let mut key = soft_key();
    let (status, challenge) = ann
        .post(
            "/api/v1/login/passkey/enrol",
            json!({"name": "soft key", "kind": "security_key"}),
        )
        .await;
    assert_eq!(status, 200, "{challenge}");
    let answer = key
        .do_registration(site.url.clone(), options(&challenge))
        .unwrap();
    let (status, added) = ann
        .post(
            "/api/v1/login/passkey/enrol/finish",
            json!({"credential": answer}),
        )
        .await;
    assert_eq!(status, 200, "{added}");
    assert_eq!(added["passkey"]["kind"], "security_key");
    assert_eq!(
        added["recovery_codes"]["codes"].as_array().map(Vec::len),
        Some(10)
    );
    assert_eq!(ann.me().await.0, 200, "signed in");

    // Next time the key is asked for (a touch), not an enrolment.
    let again = site.at_second_step().await;
    let (status, _) = again
        .post("/api/v1/login/passkey/enrol", json!({"name": "other"}))
        .await;
    assert_eq!(status, 401, "no enrolment is awaited");
    let challenge = site.sign_in_challenge(&again).await;
    let (status, me) = site.answer(&again, &mut key, &challenge).await;
    assert_eq!(
        (status, me["username"].as_str()),
        (200, Some("ann")),
        "{me}"
    );
}
