//! Directory accounts lose what the directory no longer grants them:
//! at the periodic pass, and at a token's use.

use serde_json::{Value, json};

use crate::slapd::{BASE, Slapd};
use crate::{ADA_PASSWORD, app_with_directory, ldif};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_accounts_lose_their_role_and_tokens_once_the_directory_drops_them() {
    let ldap = Slapd::start(&ldif());
    // 0: every use of a directory account's token asks the directory.
    let (app, admin, _) = app_with_directory(&ldap, Some(0)).await;
    let ada = app.sign_in("ada", ADA_PASSWORD).await;
    let carl = app.sign_in("carl", "carl-Secret-79").await;
    let carl_token = carl.create_token("ci").await;
    let (status, me) = ada.me_with_token(&carl_token).await;
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
    let (status, me) = ada.me_with_token(&carl_token).await;
    assert_eq!((status, me["role"].as_str()), (200, Some("user")), "{me}");

    // Carl's entry goes: his next token use finds out, and his session,
    // tokens, department and right to deploy go with it.
    ldap.modify(&format!(
        "dn: uid=carl,ou=people,{BASE}\nchangetype: delete\n"
    ));
    assert_eq!(ada.me_with_token(&carl_token).await.0, 401);
    assert_eq!(carl.me().await.0, 401, "the session ended");
    let carl_row = admin.member_named("carl").await;
    assert_eq!(
        (
            &carl_row["department_id"],
            &carl_row["may_deploy"],
            &carl_row["role"]
        ),
        (&Value::Null, &json!(false), &json!("user")),
        "{carl_row}"
    );
    let (_, log) = admin.get("/api/v1/audit?action=directory.withdraw").await;
    assert!(
        log.to_string().contains("its directory entry is gone"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_directory_takes_nothing_away_but_tokens_needing_its_word_get_503() {
    let ldap = Slapd::start(&ldif());
    // 0: every use of a directory account's token asks the directory.
    let (app, admin, physics) = app_with_directory(&ldap, Some(0)).await;
    let ada = app.sign_in("ada", ADA_PASSWORD).await;
    let ada_token = ada.create_token("ci").await;
    assert_eq!(ada.me_with_token(&ada_token).await.0, 200);

    // An unreachable directory takes nothing away, but a token that needs
    // its word gets a clear 503 rather than a stale yes.
    ldap.stop();
    let (status, err) = ada.me_with_token(&ada_token).await;
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
    let (status, me) = ada.me().await;
    assert_eq!(status, 200, "{me}");
    let (_, users) = admin.get("/api/v1/users").await;
    assert!(
        users
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["username"] == "ada" && u["department_id"] == physics),
        "{users}"
    );
}
