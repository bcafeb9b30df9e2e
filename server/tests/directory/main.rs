//! Directory sign-in against a real slapd on loopback: LDAP and LDAPS,
//! group mappings to department and role, filter escaping, empty
//! passwords, group changes at the next sign-in, local accounts alongside,
//! and an unreachable directory. StartTLS, the cleartext switch, and the
//! bind password kept sealed and dropped when the server changes
//! (`settings.rs`); withdrawal by the directory (`withdrawal.rs`).

// A test reports failure by panicking; its helpers may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/certificates.rs"]
mod certificates;
#[path = "../common/mod.rs"]
mod common;
mod second_factor;
mod settings;
#[path = "../common/slapd.rs"]
mod slapd;
mod withdrawal;

use common::{ADMIN, ADMIN_PASSWORD, Api, TestApp};
use serde_json::{Value, json};
use slapd::{BASE, ROOT_DN, ROOT_PASSWORD, Slapd};

const ADA_PASSWORD: &str = "ada-Secret-77";

fn ldif() -> String {
    let person = |uid: &str, password: &str| {
        format!(
            "dn: uid={uid},ou=people,{BASE}\nobjectClass: inetOrgPerson\nuid: {uid}\n\
             cn: {uid}\nsn: {uid}\nmail: {uid}@example.org\nuserPassword: {password}\n\n"
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

/// A sign-in from a fresh client: its answer.
async fn sign_in(app: &TestApp, username: &str, password: &str) -> (u16, Value) {
    app.api().sign_in(username, password).await
}

/// Settings for `url`; an `ldap://` one is allowed to be cleartext (the
/// StartTLS test turns that off).
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

/// An app (sign-ins not throttled, directory answers held as configured),
/// its admin, and the id of its department Physics.
async fn app_with_physics(recheck_minutes: Option<u32>) -> (TestApp, Api, i64) {
    let mut builder = TestApp::builder().set_up().sign_in_limits(1000, 1000);
    if let Some(minutes) = recheck_minutes {
        builder = builder.directory_recheck_minutes(minutes);
    }
    let app = builder.start().await;
    let admin = app.admin().await;
    let physics = admin.create_department("Physics", None).await;
    (app, admin, physics)
}

/// As `app_with_physics`, with the directory at `ldap` saved.
async fn app_with_directory(ldap: &Slapd, recheck_minutes: Option<u32>) -> (TestApp, Api, i64) {
    let (app, admin, physics) = app_with_physics(recheck_minutes).await;
    let (status, view) = admin
        .put("/api/v1/directory", settings(&ldap.url(), physics))
        .await;
    assert_eq!(status, 200, "{view}");
    (app, admin, physics)
}

/// The sign-in records of the audit log, with none of `secrets` in them.
async fn sign_in_log_without(admin: &Api, secrets: &[&str]) -> Value {
    let (status, log) = admin.get("/api/v1/audit?action=sign_in&limit=200").await;
    assert_eq!(status, 200, "{log}");
    let text = log.to_string();
    for secret in secrets {
        assert!(!text.contains(secret), "{secret} leaked into the audit log");
    }
    log
}

/// How many records of `log` are by `actor` with `outcome`.
fn outcomes(log: &Value, actor: &str, outcome: &str) -> usize {
    log.as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == actor && e["outcome"] == outcome)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_directory_settings_name_their_field_and_the_test_button_counts_accounts() {
    let ldap = Slapd::start(&ldif());
    let (_app, admin, physics) = app_with_physics(None).await;

    // Bad settings name their field; the password is never read back.
    let mut bad = settings("http://127.0.0.1", physics);
    let (status, err) = admin.put("/api/v1/directory", bad).await;
    assert_eq!((status, err["field"].as_str()), (422, Some("url")), "{err}");
    bad = settings(&ldap.url(), physics);
    bad["user_filter"] = json!("(objectClass=inetOrgPerson");
    let (status, err) = admin.put("/api/v1/directory", bad).await;
    assert_eq!(
        (status, err["field"].as_str()),
        (422, Some("user_filter")),
        "{err}"
    );
    let (status, view) = admin
        .put("/api/v1/directory", settings(&ldap.url(), physics))
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["bind_password_set"], true);
    assert!(!view.to_string().contains(ROOT_PASSWORD), "{view}");

    // The test button binds and counts the accounts.
    let (status, tested) = admin
        .post("/api/v1/directory/test", settings(&ldap.url(), physics))
        .await;
    assert_eq!(
        (status, &tested["ok"], &tested["accounts"]),
        (200, &json!(true), &json!(3)),
        "{tested}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_accounts_sign_in_with_their_groups_department_and_role() {
    let ldap = Slapd::start(&ldif());
    let (app, admin, physics) = app_with_directory(&ldap, None).await;

    // A member of a mapped group signs in and is created in its department.
    let (status, me) = sign_in(&app, "ada", ADA_PASSWORD).await;
    assert_eq!((status, me["role"].as_str()), (200, Some("user")), "{me}");
    let ada = admin.member_named("ada").await;
    assert_eq!(
        (ada["source"].as_str(), ada["department_id"].as_i64()),
        (Some("directory"), Some(physics)),
        "{ada}"
    );
    // The directory's mail address is the account's, until the person
    // sets another, which the next sign-in keeps.
    let ada_api = app.sign_in("ada", ADA_PASSWORD).await;
    let (_, prefs) = ada_api.get("/api/v1/me/notification-preferences").await;
    assert_eq!(prefs["email"], "ada@example.org", "{prefs}");
    let mut own = prefs.clone();
    own["email"] = json!("ada@home.example.org");
    let (status, _) = ada_api
        .put("/api/v1/me/notification-preferences", own)
        .await;
    assert_eq!(status, 200);
    let again = app.sign_in("ada", ADA_PASSWORD).await;
    let (_, prefs) = again.get("/api/v1/me/notification-preferences").await;
    assert_eq!(prefs["email"], "ada@home.example.org", "{prefs}");
    // Group mapping is case-insensitive on DNs: carl is a department admin.
    let (status, me) = sign_in(&app, "carl", "carl-Secret-79").await;
    assert_eq!(
        (status, me["role"].as_str()),
        (200, Some("department_admin")),
        "{me}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_passwords_filter_injection_and_unmapped_accounts_get_one_answer() {
    let ldap = Slapd::start(&ldif());
    let (app, admin, _) = app_with_directory(&ldap, None).await;

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

    // Every attempt is in the audit log, and no password is.
    let secrets = [ADA_PASSWORD, ROOT_PASSWORD, "wrong-password-1"];
    let log = sign_in_log_without(&admin, &secrets).await;
    assert_eq!(outcomes(&log, "ada", "failed"), 2);
    // Names that could be no account's ("*", "ada)(uid=*", "a*") are
    // refused before they reach the directory, and recorded without them.
    assert_eq!(outcomes(&log, "*", "failed"), 0);
    let malformed = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"].is_null() && e["detail"] == "malformed user name")
        .count();
    assert_eq!(malformed, 3, "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_changes_apply_at_the_next_sign_in() {
    let ldap = Slapd::start(&ldif());
    let (app, admin, _) = app_with_directory(&ldap, None).await;
    let (status, me) = sign_in(&app, "ada", ADA_PASSWORD).await;
    assert_eq!((status, me["role"].as_str()), (200, Some("user")), "{me}");

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
    let log = sign_in_log_without(&admin, &[ADA_PASSWORD, ROOT_PASSWORD]).await;
    assert_eq!(outcomes(&log, "ada", "ok"), 2);
    assert_eq!(outcomes(&log, "ada", "failed"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ldaps_needs_the_directorys_ca_and_new_accounts_without_mappings_may_not_deploy() {
    let ldap = Slapd::start(&ldif());
    let (app, admin, physics) = app_with_physics(None).await;

    // LDAPS with the directory's CA; without it the test button says why.
    let mut tls = settings(&ldap.tls_url(), physics);
    let (_, tested) = admin.post("/api/v1/directory/test", tls.clone()).await;
    assert_eq!(tested["ok"], false, "{tested}");
    assert!(!tested["message"].as_str().unwrap().is_empty());
    tls["ca_certificate"] = json!(ldap.ca_pem());
    let (status, view) = admin.put("/api/v1/directory", tls.clone()).await;
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
    let (status, view) = admin.put("/api/v1/directory", open).await;
    assert_eq!(status, 200, "{view}");
    let (status, me) = sign_in(&app, "bob", "bob-Secret-78").await;
    assert_eq!(status, 200, "{me}");
    let bob = admin.member_named("bob").await;
    assert_eq!(bob["may_deploy"], false, "{bob}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_directory_answers_503_and_local_accounts_keep_working() {
    let ldap = Slapd::start(&ldif());
    let (app, admin, _) = app_with_directory(&ldap, None).await;
    assert_eq!(sign_in(&app, "carl", "carl-Secret-79").await.0, 200);

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

    // The attempt is in the audit log, and no password is.
    let log = sign_in_log_without(&admin, &[ROOT_PASSWORD, "carl-Secret-79"]).await;
    assert_eq!(
        outcomes(&log, "carl", "failed"),
        1,
        "the unreachable directory"
    );
}
