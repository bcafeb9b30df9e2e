//! Directory sign-in against a real slapd on loopback: LDAP and LDAPS,
//! group mappings to department and role, filter escaping, empty
//! passwords, group changes at the next sign-in, local accounts alongside,
//! and an unreachable directory.

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

fn settings(url: &str, physics: i64) -> Value {
    json!({
        "url": url,
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
