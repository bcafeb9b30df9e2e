//! Notifications end to end on fake hosts: what the engine queues (deploy
//! succeeded or failed, host down once per fall), webhooks signed as
//! Standard Webhooks says and retried, and mail through a real SMTP
//! server on loopback (aiosmtpd) to those who want it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::model::NoticeKind;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use server::clock::ManualClock;
use server::store::outbox;

use super::common::smtp::SmtpSink;
use super::common::{Accepted, Api, TestApp, USER_PASSWORD};

async fn notices_of(app: &TestApp, kind: NoticeKind) -> Vec<outbox::NoticeRow> {
    app.appliance
        .store
        .read(move |c| outbox::of_kind(c, kind))
        .await
        .unwrap()
}

/// Polls `check` every 100 ms for up to thirty seconds: a host that
/// failed is looked at again after a backoff of 1, 2, 4 s, longer on a
/// loaded machine.
async fn within_thirty_seconds(mut check: impl FnMut() -> bool) -> bool {
    for _ in 0..300 {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_queues_its_success_and_a_failed_deploy_its_failure() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let admin = app.admin().await;
    let Accepted { id, task_id } = admin.deployed("fine").await;
    assert_eq!(admin.wait_task(task_id).await["state"], "succeeded");
    app.fake_host().fail_next("start_domain");
    let failed = admin.deployed("broken").await;
    assert_eq!(admin.wait_task(failed.task_id).await["state"], "failed");

    let succeeded = notices_of(&app, NoticeKind::DeploySucceeded).await;
    assert_eq!(succeeded.len(), 1, "{succeeded:?}");
    assert_eq!(succeeded[0].instance_id, Some(id));
    let failures = notices_of(&app, NoticeKind::DeployFailed).await;
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].instance_id, Some(failed.id));
    assert!(failures[0].detail.contains("start_domain"), "{failures:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_goes_down_is_told_once_per_fall_not_once_per_pass() {
    let app = TestApp::builder()
        .fake_hosts()
        .reconcile_every(Duration::from_millis(100))
        .set_up()
        .start()
        .await;
    let host = app.fake_host();
    let looks = host.calls("facts");
    // Down for three passes, up again, then down once more.
    for _ in 0..3 {
        host.fail_next("facts");
    }
    assert!(within_thirty_seconds(|| host.calls("facts") >= looks + 5).await);
    assert_eq!(notices_of(&app, NoticeKind::HostDown).await.len(), 1);
    host.fail_next("facts");
    let looks = host.calls("facts");
    assert!(within_thirty_seconds(|| host.calls("facts") >= looks + 3).await);
    let down = notices_of(&app, NoticeKind::HostDown).await;
    assert_eq!(down.len(), 2, "{down:?}");
    assert!(down[0].detail.contains("cannot be reached"), "{down:?}");
}

/// A webhook receiver on loopback: checks each request's signature with
/// the crate's verifier, and refuses the first two with a 500.
#[derive(Default)]
struct Receiver {
    secret: Mutex<String>,
    /// A second secret checked too (a rotation's other one).
    other: Mutex<Option<String>>,
    /// Whether each request verified with `other`.
    other_verified: Mutex<Vec<bool>>,
    /// How many requests get a 500 first.
    refuse: std::sync::atomic::AtomicUsize,
    /// (webhook-id, signature verified, body) of each request.
    seen: Mutex<Vec<(String, bool, Value)>>,
}

async fn receive(
    State(receiver): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let secret = receiver.secret.lock().unwrap().clone();
    let verified = standardwebhooks::Webhook::new(&secret)
        .unwrap()
        .verify(&body, &headers)
        .is_ok();
    if let Some(other) = receiver.other.lock().unwrap().clone() {
        let ok = standardwebhooks::Webhook::new(&other)
            .unwrap()
            .verify(&body, &headers)
            .is_ok();
        receiver.other_verified.lock().unwrap().push(ok);
    }
    let id = headers["webhook-id"].to_str().unwrap().to_owned();
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut seen = receiver.seen.lock().unwrap();
    seen.push((id, verified, json));
    let refuse = receiver.refuse.load(std::sync::atomic::Ordering::SeqCst);
    if seen.len() <= refuse {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

async fn start_receiver(refuse: usize) -> (Arc<Receiver>, String) {
    let receiver = Arc::new(Receiver {
        refuse: refuse.into(),
        ..Receiver::default()
    });
    let router = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (receiver, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_is_signed_retried_with_backoff_and_delivered_once() {
    let clock = Arc::new(ManualClock::starting_now());
    let app = TestApp::builder()
        .fake_hosts()
        .clock(clock.clone())
        .set_up()
        .start()
        .await;
    let admin = app.admin().await;
    let (receiver, url) = start_receiver(2).await;
    let (status, created) = admin
        .post(
            "/api/v1/notifications/webhooks",
            json!({"name": "ops", "url": url, "department_id": null}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"), "{created}");
    *receiver.secret.lock().unwrap() = secret.to_owned();
    let (_, listed) = admin.get("/api/v1/notifications/webhooks").await;
    assert!(!listed.to_string().contains(secret), "never shown again");
    let hook = created["webhook"]["id"].as_i64().unwrap();
    let (status, matcher) = admin
        .post(
            "/api/v1/notifications/matchers",
            json!({"name": "deploys to ops", "kinds": ["deploy_succeeded"],
                "min_severity": "info", "department_id": null, "mail": false,
                "webhooks": [hook]}),
        )
        .await;
    assert_eq!(status, 201, "{matcher}");

    let Accepted { id, task_id } = admin.deployed("hooked").await;
    assert_eq!(admin.wait_task(task_id).await["state"], "succeeded");
    let seen = |n: usize| {
        let receiver = receiver.clone();
        move || receiver.seen.lock().unwrap().len() >= n
    };
    assert!(within_thirty_seconds(seen(1)).await, "first attempt");
    // Refused: tried again after 60 s, then after 120 s, by dpe's clock.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        receiver.seen.lock().unwrap().len(),
        1,
        "not before its time"
    );
    clock.advance(60);
    assert!(within_thirty_seconds(seen(2)).await, "second attempt");
    clock.advance(120);
    assert!(within_thirty_seconds(seen(3)).await, "third attempt");
    clock.advance(100_000);
    tokio::time::sleep(Duration::from_millis(500)).await;

    let seen = receiver.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "answered 200 the third time: sent once");
    assert!(seen.iter().all(|(_, verified, _)| *verified), "{seen:?}");
    assert!(
        seen.iter().all(|(wid, _, _)| *wid == seen[0].0),
        "one webhook-id"
    );
    let body = &seen[2].2;
    assert_eq!(body["type"], "deploy_succeeded", "{body}");
    assert_eq!(body["data"]["instance_id"], id, "{body}");
    assert!(
        body["data"]["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/instances/{id}")),
        "{body}"
    );
    let (_, deliveries) = admin.get("/api/v1/notifications/deliveries").await;
    let delivery = &deliveries[0];
    assert_eq!(delivery["state"], "sent", "{deliveries}");
    assert_eq!(delivery["attempts"], 3, "{deliveries}");
    assert_eq!(delivery["channel"], "webhook", "{deliveries}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_that_keeps_failing_is_given_up_and_shown_as_failed() {
    let clock = Arc::new(ManualClock::starting_now());
    let app = TestApp::builder()
        .fake_hosts()
        .clock(clock.clone())
        .set_up()
        .start()
        .await;
    let admin = app.admin().await;
    // Nothing listens there: every attempt is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (_, created) = admin
        .post(
            "/api/v1/notifications/webhooks",
            json!({"name": "gone", "url": format!("http://127.0.0.1:{port}/"),
                "department_id": null}),
        )
        .await;
    let hook = created["webhook"]["id"].as_i64().unwrap();
    let (status, _) = admin
        .post(
            "/api/v1/notifications/matchers",
            json!({"name": "all", "kinds": [], "min_severity": "info",
                "department_id": null, "mail": false, "webhooks": [hook]}),
        )
        .await;
    assert_eq!(status, 201);
    let Accepted { task_id, .. } = admin.deployed("lonely").await;
    assert_eq!(admin.wait_task(task_id).await["state"], "succeeded");
    let mut failed = Value::Null;
    for _ in 0..100 {
        clock.advance(3_600);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (_, list) = admin
            .get("/api/v1/notifications/deliveries?state=failed")
            .await;
        if list.as_array().is_some_and(|l| !l.is_empty()) {
            failed = list;
            break;
        }
    }
    assert_eq!(failed[0]["attempts"], 6, "{failed}");
    assert!(
        failed[0]["last_error"]
            .as_str()
            .unwrap()
            .contains("could not be reached"),
        "{failed}"
    );
}

/// Signs `name` in and sets their address and the kinds they want.
async fn wants(app: &TestApp, name: &str, kinds: Value) -> Api {
    let api = app.sign_in(name, USER_PASSWORD).await;
    let (status, body) = api
        .put(
            "/api/v1/me/notification-preferences",
            json!({"email": format!("{name}@example.org"), "kinds": kinds}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    api
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_goes_to_the_owner_and_department_admins_who_want_that_kind_of_notice() {
    let sink = tokio::task::spawn_blocking(|| SmtpSink::start(Some("dpe:sesame")))
        .await
        .unwrap();
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let admin = app.admin().await;
    let (status, smtp) = admin
        .put(
            "/api/v1/notifications/smtp",
            json!({"host": "127.0.0.1", "port": sink.port, "security": "none",
                "username": "dpe", "password": "sesame", "from": "dpe@example.org"}),
        )
        .await;
    assert_eq!(status, 200, "{smtp}");
    assert_eq!(smtp["has_password"], true);
    assert!(!smtp.to_string().contains("sesame"), "{smtp}");
    // Unencrypted mail goes to this machine only.
    let (status, refused) = admin
        .put(
            "/api/v1/notifications/smtp",
            json!({"host": "192.0.2.1", "port": 25, "security": "none",
                "username": null, "from": "dpe@example.org"}),
        )
        .await;
    assert_eq!(status, 422, "{refused}");

    let science = admin.create_department("Science", None).await;
    let physics = admin.create_department("Physics", Some(science)).await;
    for (name, department, department_admin) in [
        ("owner", physics, false),
        ("colleague", physics, false),
        ("physadmin", physics, true),
        ("sciadmin", science, true),
    ] {
        admin
            .create_member(name, USER_PASSWORD, department, department_admin)
            .await;
    }
    let every = json!(NoticeKind::ALL);
    let owner = wants(&app, "owner", every.clone()).await;
    wants(&app, "colleague", every.clone()).await;
    wants(&app, "physadmin", every).await;
    wants(&app, "sciadmin", json!(["deploy_failed"])).await;

    let Accepted { id, task_id } = owner.deployed("mailed").await;
    assert_eq!(owner.wait_task(task_id).await["state"], "succeeded");
    let got = tokio::task::spawn_blocking(move || {
        let got = sink.wait_for(2, 20);
        // Anything more would come now.
        std::thread::sleep(Duration::from_secs(2));
        (sink.received(), got, sink)
    })
    .await
    .unwrap();
    let (all, _, sink) = got;
    let mut to: Vec<_> = all
        .iter()
        .map(|m| m["rcpt_tos"][0].as_str().unwrap().to_owned())
        .collect();
    to.sort();
    assert_eq!(
        to,
        ["owner@example.org", "physadmin@example.org"],
        "{all:?}"
    );
    for mail in &all {
        assert_eq!(mail["login"], "dpe", "{mail}");
        assert!(
            mail["subject"]
                .as_str()
                .unwrap()
                .contains("Deploy succeeded: mailed"),
            "{mail}"
        );
        assert!(
            mail["text"]
                .as_str()
                .unwrap()
                .contains(&format!("/instances/{id}")),
            "{mail}"
        );
        assert!(!mail["text"].as_str().unwrap().contains("sesame"));
    }
    assert_ne!(all[0]["message_id"], all[1]["message_id"]);

    // The admin's Send test goes through the same server.
    let (status, test) = admin
        .post(
            "/api/v1/notifications/test",
            json!({"to": "ann@example.org"}),
        )
        .await;
    assert_eq!(status, 200, "{test}");
    assert_eq!(test["sent"], true, "{test}");
    let all = tokio::task::spawn_blocking(move || sink.wait_for(3, 10))
        .await
        .unwrap();
    assert_eq!(all[2]["rcpt_tos"][0], "ann@example.org", "{all:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_secret_signs_beside_the_old_one_for_a_day_then_alone() {
    let clock = Arc::new(ManualClock::starting_now());
    let app = TestApp::builder()
        .fake_hosts()
        .clock(clock.clone())
        .set_up()
        .start()
        .await;
    let admin = app.admin().await;
    let (receiver, url) = start_receiver(0).await;
    let (_, created) = admin
        .post(
            "/api/v1/notifications/webhooks",
            json!({"name": "ops", "url": url, "department_id": null}),
        )
        .await;
    let hook = created["webhook"]["id"].as_i64().unwrap();
    let (status, rotated) = admin
        .post_empty(&format!("/api/v1/notifications/webhooks/{hook}/rotate"))
        .await;
    assert_eq!(status, 200, "{rotated}");
    assert!(
        rotated["webhook"]["old_secret_until"].is_string(),
        "{rotated}"
    );
    assert_ne!(rotated["secret"], created["secret"]);
    *receiver.secret.lock().unwrap() = rotated["secret"].as_str().unwrap().to_owned();
    *receiver.other.lock().unwrap() = Some(created["secret"].as_str().unwrap().to_owned());
    let (status, _) = admin
        .post(
            "/api/v1/notifications/matchers",
            json!({"name": "deploys", "kinds": ["deploy_succeeded"], "min_severity": "info",
                "department_id": null, "mail": false, "webhooks": [hook]}),
        )
        .await;
    assert_eq!(status, 201);

    for (n, name) in ["during", "after"].into_iter().enumerate() {
        let Accepted { task_id, .. } = admin.deployed(name).await;
        assert_eq!(admin.wait_task(task_id).await["state"], "succeeded");
        let arrived = {
            let receiver = receiver.clone();
            move || receiver.seen.lock().unwrap().len() > n
        };
        assert!(within_thirty_seconds(arrived).await, "{name}");
        // A day after the rotation, only the new secret signs.
        clock.advance(86_400 + 1);
    }
    let seen = receiver.seen.lock().unwrap().clone();
    assert!(seen.iter().all(|(_, new, _)| *new), "{seen:?}");
    assert_eq!(*receiver.other_verified.lock().unwrap(), [true, false]);
}
