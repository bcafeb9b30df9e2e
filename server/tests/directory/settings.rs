//! The directory's settings: the cleartext switch and StartTLS, the bind
//! password kept sealed and never sent to another server, and the
//! portal's form.

use serde_json::json;

use crate::common::TestApp;
use crate::slapd::{BASE, ROOT_DN, ROOT_PASSWORD, Slapd};
use crate::{ADA_PASSWORD, app_with_physics, ldif, settings, sign_in};

/// Every file of the data directory but the key, as bytes.
fn store_files(app: &TestApp) -> Vec<(String, Vec<u8>)> {
    std::fs::read_dir(app.data_path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && !p.ends_with("secret.key"))
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect()
}

/// The bind password is nowhere in the store's files, WAL included.
fn assert_bind_password_nowhere_in_the_store(app: &TestApp) {
    for (path, bytes) in store_files(app) {
        assert!(
            !bytes
                .windows(ROOT_PASSWORD.len())
                .any(|w| w == ROOT_PASSWORD.as_bytes()),
            "the bind password is in the clear in {path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleartext_ldap_needs_an_explicit_switch_and_starttls_carries_the_bind() {
    let ldap = Slapd::start(&ldif());
    let (app, admin, _) = app_with_physics(None).await;
    // By name, so that the certificate offered after StartTLS matches.
    let url = ldap.url().replace("127.0.0.1", "localhost");
    let mut body = settings(&url, 0);
    body["group_mappings"] = json!([]);

    body["allow_cleartext"] = json!(false);
    let (status, err) = admin.put("/api/v1/directory", body.clone()).await;
    assert_eq!((status, err["field"].as_str()), (422, Some("url")), "{err}");
    assert!(
        err["message"].as_str().unwrap().contains("StartTLS"),
        "{err}"
    );
    let mut ldaps_with_starttls = settings(&ldap.tls_url(), 0);
    ldaps_with_starttls["starttls"] = json!(true);
    let (status, err) = admin
        .put("/api/v1/directory", ldaps_with_starttls.clone())
        .await;
    assert_eq!((status, err["field"].as_str()), (422, Some("url")), "{err}");

    // StartTLS really happens: without the directory's CA, the upgrade
    // fails on the certificate; with it, accounts sign in.
    body["starttls"] = json!(true);
    let (status, tested) = admin.post("/api/v1/directory/test", body.clone()).await;
    assert_eq!((status, &tested["ok"]), (200, &json!(false)), "{tested}");
    body["ca_certificate"] = json!(ldap.ca_pem());
    let (status, view) = admin.put("/api/v1/directory", body.clone()).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["settings"]["starttls"], true, "{view}");
    assert_eq!(sign_in(&app, "ada", ADA_PASSWORD).await.0, 200);

    assert_bind_password_nowhere_in_the_store(&app);

    // Saved again with the password left out, it is kept...
    let mut kept = body.clone();
    kept.as_object_mut().unwrap().remove("bind_password");
    let (status, view) = admin.put("/api/v1/directory", kept.clone()).await;
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
    let (status, tested) = admin.post("/api/v1/directory/test", moved.clone()).await;
    assert_eq!((status, &tested["ok"]), (200, &json!(false)), "{tested}");
    assert!(
        tested["message"]
            .as_str()
            .unwrap()
            .contains("no bind password"),
        "{tested}"
    );
    let (status, view) = admin.put("/api/v1/directory", moved.clone()).await;
    assert_eq!(
        (status, &view["bind_password_set"]),
        (200, &json!(false)),
        "{view}"
    );
    let mut renamed = kept.clone();
    // The password back first, or the next check would pass regardless.
    let (status, view) = admin.put("/api/v1/directory", body.clone()).await;
    assert_eq!(
        (status, &view["bind_password_set"]),
        (200, &json!(true)),
        "{view}"
    );
    renamed["bind_dn"] = json!(format!("cn=someone-else,{BASE}"));
    let (status, view) = admin.put("/api/v1/directory", renamed.clone()).await;
    assert_eq!(
        (status, &view["bind_password_set"]),
        (200, &json!(false)),
        "{view}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portals_directory_form_names_departments_and_tests_what_was_saved() {
    let ldap = Slapd::start(&ldif());
    let app = TestApp::builder().set_up().start().await;
    let admin = app.admin().await;
    let physics = admin.create_department("Physics", None).await;
    let post = |endpoint: &'static str, form: Vec<(String, String)>| {
        let admin = admin.clone();
        async move { admin.post_form(endpoint, &form).await }
    };

    let (status, err) = post("/fn/test_directory", Vec::new()).await;
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
    let (status, err) = post("/fn/save_directory", form(&unknown)).await;
    assert_eq!(status, 422, "{err}");
    assert!(
        err.to_string()
            .contains("line 3: there is no department \\\"Chemistry\\\""),
        "{err}"
    );

    let mapped = format!("{physicists} | Physics | department_admin");
    let (status, view) = post("/fn/save_directory", form(&mapped)).await;
    assert_eq!(status, 200, "{view}");
    let mappings = &view["settings"]["group_mappings"];
    assert_eq!(
        *mappings,
        json!([{"group_dn": physicists, "department_id": physics, "role": "department_admin"}]),
        "{view}"
    );

    let (status, tested) = post("/fn/test_directory", Vec::new()).await;
    assert_eq!(status, 200, "{tested}");
    assert_eq!(
        tested["ok"], true,
        "the saved bind password is used: {tested}"
    );
    assert_eq!(tested["accounts"], 3, "{tested}");
}
