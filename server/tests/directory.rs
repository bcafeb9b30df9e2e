//! Directory sign-in against a real slapd on loopback: LDAP and LDAPS,
//! group mappings to department and role, filter escaping, empty
//! passwords, group changes at the next sign-in, local accounts alongside,
//! and an unreachable directory. StartTLS, the cleartext switch, and the
//! bind password kept sealed and dropped when the server changes.

// A test reports failure by panicking; its helpers may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/certificates.rs"]
mod certificates;
mod common;
#[path = "common/slapd.rs"]
mod slapd;

use common::{ADMIN, ADMIN_PASSWORD, TestApp, status_json};
use reqwest::Client;
use serde_json::{Value, json};
use slapd::{BASE, ROOT_DN, ROOT_PASSWORD, Slapd};

const ADA_PASSWORD: &str = "ada-Secret-77";

fn ldif() -> String {
    let person = |uid: &str, password: &str| {
        format!(
            "dn: uid={uid},ou=people,{BASE}\nobjectClass: inetOrgPerson\nuid: {uid}\n\
             cn: {uid}\nsn: {uid}\nuserPassword: {password}\n\n"
        )
    };
    format!(
        "dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n\
         dn: ou=people,{BASE}\nobjectClass: organizationalUnit\nou: people\n\n\
         dn: ou=groups,{BASE}\nobjectClass: organizationalUnit\nou: groups\n\n\
         {}{}{}\
         dn: cn=physics,ou=groups,{BASE}\nobjectClass: groupOfNames\ncn: physics\n\
         member: uid=ada,ou=people,{BASE}\nmember: uid=carl,ou=people,{BASE}\n\n\
         dn: cn=physics-admins,ou=groups,{BASE}\nobjectClass: groupOfNames\ncn: physics-admins\n\
         member: uid=carl,ou=people,{BASE}\n",
        person("ada", ADA_PASSWORD),
        person("bob", "bob-Secret-78"),
        person("carl", "carl-Secret-79"),
    )
}

async fn sign_in(app: &TestApp, username: &str, password: &str) -> (u16, Value) {
    status_json(app.login(&app.client(), username, password).await).await
}

/// Settings for `url`; an `ldap://` one is allowed to be cleartext (the
/// StartTLS test below turns that off).
fn settings(url: &str, physics: i64) -> Value {
    json!({
        "url": url,
        "allow_cleartext": url.starts_with("ldap://"),
        "bind_dn": ROOT_DN,
        "bind_password": ROOT_PASSWORD,
        "user_base": format!("ou=people,{BASE}"),
        "group_base": format!("ou=groups,{BASE}"),
        "group_mappings": [
            {"group_dn": format!("cn=physics,ou=groups,{BASE}"), "department_id": physics, "role": "user"},
            {"group_dn": format!("CN=Physics-Admins,ou=groups,{BASE}"), "department_id": physics, "role": "department_admin"},
        ],
    })
}

async fn put_directory(app: &TestApp, admin: &Client, body: &Value) -> (u16, Value) {
    status_json(
        admin
            .put(app.url("/api/v1/directory"))
            .json(body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_accounts_sign_in_with_their_groups_department_and_role() {
    let ldap = Slapd::start(&ldif());
    let app = TestApp::builder()
        .set_up()
        .sign_in_limits(1000, 1000)
        .start()
        .await;
    let admin = app.admin().await;
    let (status, physics) = status_json(
        admin
            .post(app.url("/api/v1/departments"))
            .json(&json!({"name": "Physics"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201, "{physics}");
    let physics = physics["id"].as_i64().unwrap();

    // Bad settings name their field; the password is never read back.
    let mut bad = settings("http://127.0.0.1", physics);
    let (status, err) = put_directory(&app, &admin, &bad).await;
    assert_eq!((status, err["field"].as_str()), (422, Some("url")), "{err}");
    bad = settings(&ldap.url(), physics);
    bad["user_filter"] = json!("(objectClass=inetOrgPerson");
    let (status, err) = put_directory(&app, &admin, &bad).await;
    assert_eq!(
        (status, err["field"].as_str()),
        (422, Some("user_filter")),
        "{err}"
    );
    let (status, view) = put_directory(&app, &admin, &settings(&ldap.url(), physics)).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["bind_password_set"], true);
    assert!(!view.to_string().contains(ROOT_PASSWORD), "{view}");

    // The test button binds and counts the accounts.
    let (status, tested) = status_json(
        admin
            .post(app.url("/api/v1/directory/test"))
            .json(&settings(&ldap.url(), physics))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, &tested["ok"], &tested["accounts"]),
        (200, &json!(true), &json!(3)),
        "{tested}"
    );

    // A member of a mapped group signs in and is created in its department.
    let (status, me) = sign_in(&app, "ada", ADA_PASSWORD).await;
    assert_eq!((status, me["role"].as_str()), (200, Some("user")), "{me}");
    let (_, people) = status_json(admin.get(app.url("/api/v1/users")).send().await.unwrap()).await;
    let ada = people
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "ada")
        .unwrap()
        .clone();
    assert_eq!(
        (ada["source"].as_str(), ada["department_id"].as_i64()),
        (Some("directory"), Some(physics)),
        "{ada}"
    );
    // Group mapping is case-insensitive on DNs: carl is a department admin.
    let (status, me) = sign_in(&app, "carl", "carl-Secret-79").await;
    assert_eq!(
        (status, me["role"].as_str()),
        (200, Some("department_admin")),
        "{me}"
    );

    // Wrong or empty passwords, filter injection, and accounts in no
    // mapped group all get the one answer.
    for (user, password) in [
        ("ada", "wrong-password-1"),
        ("ada", ""),
        ("*", ADA_PASSWORD),
        ("ada)(uid=*", ADA_PASSWORD),
        ("a*", ADA_PASSWORD),
        ("bob", "bob-Secret-78"),
        ("nobody", ADA_PASSWORD),
    ] {
        let (status, err) = sign_in(&app, user, password).await;
        assert_eq!(
            (status, err["error"].as_str()),
            (401, Some("invalid_credentials")),
            "{user:?}: {err}"
        );
    }

    // Group changes apply at the next sign-in.
    ldap.modify(&format!(
        "dn: cn=physics-admins,ou=groups,{BASE}\nchangetype: modify\nadd: member\n\
         member: uid=ada,ou=people,{BASE}\n"
    ));
    let (status, me) = sign_in(&app, "ada", ADA_PASSWORD).await;
    assert_eq!(
        (status, me["role"].as_str()),
        (200, Some("department_admin")),
        "{me}"
    );
    ldap.modify(&format!(
        "dn: cn=physics,ou=groups,{BASE}\nchangetype: modify\ndelete: member\n\
         member: uid=ada,ou=people,{BASE}\n\ndn: cn=physics-admins,ou=groups,{BASE}\n\
         changetype: modify\ndelete: member\nmember: uid=ada,ou=people,{BASE}\n"
    ));
    assert_eq!(
        sign_in(&app, "ada", ADA_PASSWORD).await.0,
        401,
        "in no mapped group now"
    );

    // LDAPS with the directory's CA; without it the test button says why.
    let mut tls = settings(&ldap.tls_url(), physics);
    let (_, tested) = status_json(
        admin
            .post(app.url("/api/v1/directory/test"))
            .json(&tls)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(tested["ok"], false, "{tested}");
    assert!(!tested["message"].as_str().unwrap().is_empty());
    tls["ca_certificate"] = json!(ldap.ca_pem());
    let (status, view) = put_directory(&app, &admin, &tls).await;
    assert_eq!(status, 200, "{view}");
    let (status, me) = sign_in(&app, "carl", "carl-Secret-79").await;
    assert_eq!(
        (status, me["role"].as_str()),
        (200, Some("department_admin")),
        "{me}"
    );

    // With no group mappings, anyone in the directory signs in, but an
    // account new here may deploy only once someone grants it.
    let mut open = tls.clone();
    open["group_mappings"] = json!([]);
    let (status, view) = put_directory(&app, &admin, &open).await;
    assert_eq!(status, 200, "{view}");
    let (status, me) = sign_in(&app, "bob", "bob-Secret-78").await;
    assert_eq!(status, 200, "{me}");
    let (_, users) = status_json(admin.get(app.url("/api/v1/users")).send().await.unwrap()).await;
    let bob = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "bob")
        .unwrap_or_else(|| panic!("{users}"));
    assert_eq!(bob["may_deploy"], false, "{bob}");
    put_directory(&app, &admin, &tls).await;

    // The directory goes away: its accounts get a clear 503, local
    // accounts keep working.
    ldap.stop();
    let (status, err) = sign_in(&app, "carl", "carl-Secret-79").await;
    assert_eq!(
        (status, err["error"].as_str()),
        (503, Some("unavailable")),
        "{err}"
    );
    assert_eq!(sign_in(&app, ADMIN, ADMIN_PASSWORD).await.0, 200);

    // Every attempt is in the audit log, and no password is.
    let (status, log) = status_json(
        admin
            .get(app.url("/api/v1/audit?action=sign_in&limit=1000"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{log}");
    let text = log.to_string();
    for secret in [
        ADA_PASSWORD,
        ROOT_PASSWORD,
        "carl-Secret-79",
        "wrong-password-1",
    ] {
        assert!(!text.contains(secret), "{secret} leaked into the audit log");
    }
    let outcomes = |actor: &str, outcome: &str| {
        log.as_array()
            .unwrap()
            .iter()
            .filter(|e| e["actor"] == actor && e["outcome"] == outcome)
            .count()
    };
    assert_eq!(outcomes("ada", "ok"), 2);
    assert_eq!(outcomes("ada", "failed"), 3);
    // Names that could be no account's ("*", "ada)(uid=*", "a*") are
    // refused before they reach the directory, and recorded without them.
    assert_eq!(outcomes("*", "failed"), 0);
    let malformed = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"].is_null() && e["detail"] == "malformed user name")
        .count();
    assert_eq!(malformed, 3, "{log}");
    assert_eq!(outcomes("carl", "failed"), 1, "the unreachable directory");
}

/// Every file of the data directory but the key, as bytes.
fn store_files(app: &TestApp) -> Vec<(String, Vec<u8>)> {
    std::fs::read_dir(app.data_path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && !p.ends_with("secret.key"))
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleartext_ldap_needs_an_explicit_switch_and_starttls_carries_the_bind() {
    let ldap = Slapd::start(&ldif());
    let app = TestApp::builder()
        .set_up()
        .sign_in_limits(1000, 1000)
        .start()
        .await;
    let admin = app.admin().await;
    // By name, so that the certificate offered after StartTLS matches.
    let url = ldap.url().replace("127.0.0.1", "localhost");
    let mut body = settings(&url, 0);
    body["group_mappings"] = json!([]);

    body["allow_cleartext"] = json!(false);
    let (status, err) = put_directory(&app, &admin, &body).await;
    assert_eq!((status, err["field"].as_str()), (422, Some("url")), "{err}");
    assert!(
        err["message"].as_str().unwrap().contains("StartTLS"),
        "{err}"
    );
    let mut ldaps_with_starttls = settings(&ldap.tls_url(), 0);
    ldaps_with_starttls["starttls"] = json!(true);
    let (status, err) = put_directory(&app, &admin, &ldaps_with_starttls).await;
    assert_eq!((status, err["field"].as_str()), (422, Some("url")), "{err}");

    // StartTLS really happens: without the directory's CA, the upgrade
    // fails on the certificate; with it, accounts sign in.
    body["starttls"] = json!(true);
    let (status, tested) = status_json(
        admin
            .post(app.url("/api/v1/directory/test"))
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, &tested["ok"]), (200, &json!(false)), "{tested}");
    body["ca_certificate"] = json!(ldap.ca_pem());
    let (status, view) = put_directory(&app, &admin, &body).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["settings"]["starttls"], true, "{view}");
    assert_eq!(sign_in(&app, "ada", ADA_PASSWORD).await.0, 200);

    // The bind password is nowhere in the store's files, WAL included.
    for (path, bytes) in store_files(&app) {
        assert!(
            !bytes
                .windows(ROOT_PASSWORD.len())
                .any(|w| w == ROOT_PASSWORD.as_bytes()),
            "the bind password is in the clear in {path}"
        );
    }

    // Saved again with the password left out, it is kept...
    let mut kept = body.clone();
    kept.as_object_mut().unwrap().remove("bind_password");
    let (status, view) = put_directory(&app, &admin, &kept).await;
    assert_eq!(
        (status, &view["bind_password_set"]),
        (200, &json!(true)),
        "{view}"
    );

    // ...but a new server, or a new bind DN, never receives it: testing
    // one binds with no password, and saving one drops it.
    let mut moved = kept.clone();
    moved["url"] = json!(ldap.tls_url());
    moved["starttls"] = json!(false);
    let (status, tested) = status_json(
        admin
            .post(app.url("/api/v1/directory/test"))
            .json(&moved)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, &tested["ok"]), (200, &json!(false)), "{tested}");
    assert!(
        tested["message"]
            .as_str()
            .unwrap()
            .contains("no bind password"),
        "{tested}"
    );
    let (status, view) = put_directory(&app, &admin, &moved).await;
    assert_eq!(
        (status, &view["bind_password_set"]),
        (200, &json!(false)),
        "{view}"
    );
    let mut renamed = kept.clone();
    put_directory(&app, &admin, &body).await;
    renamed["bind_dn"] = json!(format!("cn=someone-else,{BASE}"));
    let (status, view) = put_directory(&app, &admin, &renamed).await;
    assert_eq!(
        (status, &view["bind_password_set"]),
        (200, &json!(false)),
        "{view}"
    );
}

/// A token of `client`'s account.
async fn token_of(app: &TestApp, client: &Client) -> String {
    let (status, body) = status_json(
        client
            .post(app.url("/api/v1/tokens"))
            .json(&json!({"name": "ci"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

/// `GET /api/v1/me` with `token`.
async fn me_with(app: &TestApp, token: &str) -> (u16, Value) {
    status_json(
        reqwest::Client::new()
            .get(app.url("/api/v1/me"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_accounts_lose_their_role_and_tokens_once_the_directory_drops_them() {
    let ldap = Slapd::start(&ldif());
    // 0: every use of a directory account's token asks the directory.
    let app = TestApp::builder()
        .set_up()
        .sign_in_limits(1000, 1000)
        .directory_recheck_minutes(0)
        .start()
        .await;
    let admin = app.admin().await;
    let (_, physics) = status_json(
        admin
            .post(app.url("/api/v1/departments"))
            .json(&json!({"name": "Physics"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let physics = physics["id"].as_i64().unwrap();
    let (status, view) = put_directory(&app, &admin, &settings(&ldap.url(), physics)).await;
    assert_eq!(status, 200, "{view}");
    let ada = app.client();
    assert_eq!(app.login(&ada, "ada", ADA_PASSWORD).await.status(), 200);
    let carl = app.client();
    assert_eq!(
        app.login(&carl, "carl", "carl-Secret-79").await.status(),
        200
    );
    let ada_token = token_of(&app, &ada).await;
    let carl_token = token_of(&app, &carl).await;
    let (status, me) = me_with(&app, &carl_token).await;
    assert_eq!(
        (status, me["role"].as_str()),
        (200, Some("department_admin")),
        "{me}"
    );

    // Bob replaces Carl in the admins' group: the periodic pass demotes
    // Carl (Bob has never signed in here, so has no account to promote).
    ldap.modify(&format!(
        "dn: cn=physics-admins,ou=groups,{BASE}\nchangetype: modify\nreplace: member\n\
         member: uid=bob,ou=people,{BASE}\n"
    ));
    let report = app
        .appliance
        .recheck_directory(std::time::Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(
        (report.confirmed, report.moved, report.withdrawn),
        (1, 1, 0),
        "{report:?}"
    );
    let (status, me) = me_with(&app, &carl_token).await;
    assert_eq!((status, me["role"].as_str()), (200, Some("user")), "{me}");

    // Carl's entry goes: his next token use finds out, and his session,
    // tokens, department and right to deploy go with it.
    ldap.modify(&format!(
        "dn: uid=carl,ou=people,{BASE}\nchangetype: delete\n"
    ));
    assert_eq!(me_with(&app, &carl_token).await.0, 401);
    let session = carl.get(app.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(session.status(), 401);
    let (_, users) = status_json(admin.get(app.url("/api/v1/users")).send().await.unwrap()).await;
    let carl_row = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "carl")
        .unwrap_or_else(|| panic!("{users}"));
    assert_eq!(
        (
            &carl_row["department_id"],
            &carl_row["may_deploy"],
            &carl_row["role"]
        ),
        (&Value::Null, &json!(false), &json!("user")),
        "{carl_row}"
    );
    let (_, log) = status_json(
        admin
            .get(app.url("/api/v1/audit?action=directory.withdraw"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(
        log.to_string().contains("its directory entry is gone"),
        "{log}"
    );

    // An unreachable directory takes nothing away, but a token that needs
    // its word gets a clear 503 rather than a stale yes.
    ldap.stop();
    let (status, err) = me_with(&app, &ada_token).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (503, Some("unavailable")),
        "{err}"
    );
    assert!(
        app.appliance
            .recheck_directory(std::time::Duration::ZERO)
            .await
            .is_err()
    );
    let (status, me) = status_json(ada.get(app.url("/api/v1/me")).send().await.unwrap()).await;
    assert_eq!(status, 200, "{me}");
    let (_, users) = status_json(admin.get(app.url("/api/v1/users")).send().await.unwrap()).await;
    assert!(
        users
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["username"] == "ada" && u["department_id"] == physics),
        "{users}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portals_directory_form_names_departments_and_tests_what_was_saved() {
    let ldap = Slapd::start(&ldif());
    let app = TestApp::builder().set_up().start().await;
    let admin = app.admin().await;
    let (status, physics) = status_json(
        admin
            .post(app.url("/api/v1/departments"))
            .json(&json!({"name": "Physics"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201, "{physics}");
    let physics = physics["id"].as_i64().unwrap();
    let post = |endpoint: &str, form: Vec<(String, String)>| {
        admin.post(app.url(endpoint)).form(&form).send()
    };

    let (status, err) = status_json(post("/fn/test_directory", Vec::new()).await.unwrap()).await;
    assert_eq!(status, 409, "nothing saved yet: {err}");

    let form = |mappings: &str| {
        [
            ("url", ldap.url()),
            ("allow_cleartext", "on".to_owned()),
            ("bind_dn", ROOT_DN.to_owned()),
            ("bind_password", ROOT_PASSWORD.to_owned()),
            ("user_base", format!("ou=people,{BASE}")),
            ("user_filter", "(objectClass=inetOrgPerson)".to_owned()),
            ("username_attribute", "uid".to_owned()),
            ("group_base", format!("ou=groups,{BASE}")),
            ("mappings", mappings.to_owned()),
        ]
        .into_iter()
        .map(|(field, value)| (format!("form[{field}]"), value))
        .collect::<Vec<_>>()
    };
    let physicists = format!("cn=physics,ou=groups,{BASE}");
    let unknown = format!("{physicists} | Physics | user\n\n{physicists} | Chemistry | user");
    let (status, err) =
        status_json(post("/fn/save_directory", form(&unknown)).await.unwrap()).await;
    assert_eq!(status, 422, "{err}");
    assert!(
        err.to_string()
            .contains("line 3: there is no department \\\"Chemistry\\\""),
        "{err}"
    );

    let mapped = format!("{physicists} | Physics | department_admin");
    let (status, view) =
        status_json(post("/fn/save_directory", form(&mapped)).await.unwrap()).await;
    assert_eq!(status, 200, "{view}");
    let mappings = &view["settings"]["group_mappings"];
    assert_eq!(
        *mappings,
        json!([{"group_dn": physicists, "department_id": physics, "role": "department_admin"}]),
        "{view}"
    );

    let (status, tested) = status_json(post("/fn/test_directory", Vec::new()).await.unwrap()).await;
    assert_eq!(status, 200, "{tested}");
    assert_eq!(
        tested["ok"], true,
        "the saved bind password is used: {tested}"
    );
    assert_eq!(tested["accounts"], 3, "{tested}");
}
