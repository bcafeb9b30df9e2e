//! The application gateway, end to end: a stand-in application on
//! loopback (the fake host leases every guest 127.0.0.1), the apps under
//! the wildcard domain `localhost`, and browser-like clients that follow
//! the sign-in hand-over from the application's origin to the portal and
//! back.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::HeaderMap;
use reqwest::redirect::Policy;
use reqwest::{Client, Url};
use serde_json::{Value, json};
use server::clock::{Clock, ManualClock};

use crate::common::{ADMIN, ADMIN_PASSWORD, Api, TestApp, USER_PASSWORD, stack_on};

/// The stand-in application: answers every request with what reached it,
/// at `/set-cookies` tries to set the portal's session cookie, answers
/// `/status/CODE` with that status and `/bytes/N` with N bytes.
async fn application() -> u16 {
    counting_application().await.0
}

/// The connections requests from the gateway came on (by the peer's
/// address): the engine's health checks come on others, without `Via`.
type GatewayConnections = Arc<Mutex<HashSet<SocketAddr>>>;

/// The same, and the connections the gateway's requests have come on.
async fn counting_application() -> (u16, GatewayConnections) {
    async fn echo(headers: HeaderMap, uri: axum::http::Uri) -> axum::Json<Value> {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        axum::Json(json!({
            "path": uri.to_string(),
            "host": header("host"),
            "cookie": header("cookie"),
            "authorization": header("authorization"),
            "forwarded_for": header("x-forwarded-for"),
            "forwarded_proto": header("x-forwarded-proto"),
            "forwarded_host": header("x-forwarded-host"),
        }))
    }
    async fn set_cookies() -> impl axum::response::IntoResponse {
        (
            [
                ("set-cookie", "dpe_session=planted; Path=/"),
                ("set-cookie", "wiki_session=kept; Path=/"),
            ],
            "set",
        )
    }
    async fn echo_socket(upgrade: axum::extract::ws::WebSocketUpgrade) -> axum::response::Response {
        upgrade.on_upgrade(|mut socket| async move {
            while let Some(Ok(message)) = socket.recv().await {
                if socket.send(message).await.is_err() {
                    break;
                }
            }
        })
    }
    async fn moved() -> impl axum::response::IntoResponse {
        (
            axum::http::StatusCode::FOUND,
            [("location", "http://192.0.2.1/elsewhere")],
        )
    }
    async fn status(axum::extract::Path(code): axum::extract::Path<u16>) -> axum::http::StatusCode {
        axum::http::StatusCode::from_u16(code).unwrap()
    }
    async fn bytes(axum::extract::Path(n): axum::extract::Path<usize>) -> Vec<u8> {
        vec![b'x'; n]
    }
    let router = axum::Router::new()
        .route("/set-cookies", axum::routing::get(set_cookies))
        .route("/status/{code}", axum::routing::get(status))
        .route("/bytes/{n}", axum::routing::get(bytes))
        .route("/moved", axum::routing::get(moved))
        .route("/socket", axum::routing::get(echo_socket))
        .fallback(echo);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = GatewayConnections::default();
    let record = seen.clone();
    let router = router.layer(axum::middleware::from_fn(
        move |ConnectInfo(peer): ConnectInfo<SocketAddr>,
              request: axum::extract::Request,
              next: axum::middleware::Next| {
            if request.headers().contains_key("via") {
                record.lock().unwrap().insert(peer);
            }
            next.run(request)
        },
    ));
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await.unwrap() });
    (port, seen)
}

/// A browser: cookies kept per host, `*.localhost` resolved to the app.
fn browser(addr: SocketAddr, names: &[&str]) -> Client {
    let mut builder = Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .timeout(Duration::from_secs(30));
    for name in names {
        builder = builder.resolve(&format!("{name}.localhost"), addr);
    }
    builder.build().unwrap()
}

/// GETs `url` following redirects, as a browser does; the last answer's
/// status, body, and the URL it came from.
async fn open(client: &Client, url: &str) -> (u16, String, Url) {
    let mut url = Url::parse(url).unwrap();
    for _ in 0..8 {
        let response = client.get(url.clone()).send().await.unwrap();
        let status = response.status().as_u16();
        match response.headers().get("location") {
            Some(location) if (300..400).contains(&status) => {
                url = url.join(location.to_str().unwrap()).unwrap();
            }
            _ => return (status, response.text().await.unwrap(), url),
        }
    }
    panic!("too many redirects from {url}");
}

async fn sign_in(app: &TestApp, client: &Client, user: &str, password: &str) {
    let response = client
        .post(app.url("/api/v1/login"))
        .json(&json!({"username": user, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{user} signs in");
}

struct World {
    app: TestApp,
    admin: Api,
    owner: Api,
    wiki: i64,
    url: String,
    _stack: tempfile::TempDir,
}

/// An appliance whose account `owner` in department `science` runs `wiki`;
/// `colleague` is in science too, `stranger` in `arts`, `dana` administers
/// science.
async fn world() -> World {
    world_on(application().await).await
}

/// The same, with the application's port `port`.
async fn world_on(port: u16) -> World {
    world_built(port, None).await
}

/// The same, with the appliance's clock `clock` when given.
async fn world_built(port: u16, clock: Option<Arc<ManualClock>>) -> World {
    let stack = stack_on(port);
    let mut builder = TestApp::builder()
        .fake_hosts()
        .stack_dir(stack.path().to_owned());
    if let Some(clock) = clock {
        builder = builder.clock(clock);
    }
    let app = builder.set_up().start().await;
    app.fake_host().lease_every_domain("127.0.0.1");
    let admin = app.api().signed_in(ADMIN, ADMIN_PASSWORD).await;
    admin.open_apps_under(&app.origin(), "localhost").await;
    let science = admin.create_department("science", None).await;
    let arts = admin.create_department("arts", None).await;
    admin
        .create_member("owner", USER_PASSWORD, science, false)
        .await;
    admin
        .create_member("colleague", USER_PASSWORD, science, false)
        .await;
    admin
        .create_member("stranger", USER_PASSWORD, arts, false)
        .await;
    admin
        .create_member("dana", USER_PASSWORD, science, true)
        .await;
    let owner = app.api().signed_in("owner", USER_PASSWORD).await;
    let wiki = owner.deployed("wiki").await.id;
    let view = owner
        .poll(
            &format!("/api/v1/instances/{wiki}"),
            Duration::from_secs(60),
            |v| v["state"] == "running" && v["ip"] == "127.0.0.1",
        )
        .await;
    let url = view["url"].as_str().unwrap().to_owned();
    assert_eq!(url, format!("http://wiki.localhost:{}/", app.addr.port()));
    World {
        app,
        admin,
        owner,
        wiki,
        url,
        _stack: stack,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_share_lets_in_exactly_whom_it_names() {
    let w = world().await;
    let addr = w.app.addr;
    let page = format!("{}doku.php?id=start", w.url);
    for share in ["owner", "department", "signed_in", "public"] {
        let (status, view) = w
            .owner
            .patch(
                &format!("/api/v1/instances/{}", w.wiki),
                json!({"share": share}),
            )
            .await;
        assert_eq!(status, 200, "{view}");
        assert_eq!(view["share"], share);
        for (who, password) in [
            ("owner", USER_PASSWORD),
            ("colleague", USER_PASSWORD),
            ("stranger", USER_PASSWORD),
            ("dana", USER_PASSWORD),
            (ADMIN, ADMIN_PASSWORD),
            ("nobody", ""),
        ] {
            let client = browser(addr, &["wiki"]);
            if who != "nobody" {
                sign_in(&w.app, &client, who, password).await;
            }
            let (status, body, at) = open(&client, &page).await;
            let expected = match (share, who) {
                (_, "owner" | "dana" | "admin") | ("public", _) => true,
                ("department", "colleague") => true,
                ("signed_in", "colleague" | "stranger") => true,
                (_, _) => false,
            };
            if expected {
                assert_eq!(status, 200, "{share}: {who} gets in: {body}");
                let echo: Value = serde_json::from_str(&body).unwrap();
                assert_eq!(echo["path"], "/doku.php?id=start", "{share}: {who}");
                assert_eq!(at.as_str(), page, "{share}: {who} ends where they asked");
            } else if who == "nobody" {
                assert_eq!(at.path(), "/login", "{share}: signed out, sent to sign in");
            } else {
                assert_eq!(status, 403, "{share}: {who} is refused: {body}");
                assert!(body.contains("Not shared with you"), "{body}");
            }
        }
    }
    let (_, audit) = w.admin.get("/api/v1/audit?action=instance.share").await;
    assert!(
        audit.to_string().contains("from department to signed_in"),
        "{audit}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_returns_to_the_application_and_signing_out_ends_its_session() {
    let w = world().await;
    let client = browser(w.app.addr, &["wiki"]);
    // Signed out: the portal's sign-in, with the way back kept.
    let (_, _, at) = open(&client, &w.url).await;
    assert_eq!(at.path(), "/login");
    let next = at
        .query_pairs()
        .find(|(k, _)| k == "next")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    assert!(next.starts_with("/gateway/enter?to="), "{next}");
    sign_in(&w.app, &client, "owner", USER_PASSWORD).await;
    let (status, _, at) = open(&client, &w.app.url(&next)).await;
    assert_eq!((status, at.as_str()), (200, w.url.as_str()));
    // The portal's sign-out ends the application's session too.
    let response = client
        .post(w.app.url("/api/v1/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let (_, _, at) = open(&client, &w.url).await;
    assert_eq!(at.path(), "/login", "signed out everywhere");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_sends_sign_ins_only_to_applications_that_exist() {
    let w = world().await;
    let client = browser(w.app.addr, &["wiki", "ghost"]);
    sign_in(&w.app, &client, "owner", USER_PASSWORD).await;
    let port = w.app.addr.port();
    for elsewhere in [
        "https://evil.example/".to_owned(),
        format!("http://evil.example:{port}/"),
        format!("http://ghost.localhost:{port}/"),
        format!("http://127.0.0.1:{port}/instances"),
        "/instances".to_owned(),
        "javascript:alert(1)".to_owned(),
    ] {
        let query = serde_urlencoded::to_string([("to", elsewhere.as_str())]).unwrap();
        let response = client
            .get(w.app.url(&format!("/gateway/enter?{query}")))
            .send()
            .await
            .unwrap();
        assert!(
            response.headers().get("location").is_none(),
            "{elsewhere}: no redirect"
        );
        assert_eq!(response.status(), 404, "{elsewhere}");
    }
    // A ticket works once.
    let query = serde_urlencoded::to_string([("to", w.url.as_str())]).unwrap();
    let response = client
        .get(w.app.url(&format!("/gateway/enter?{query}")))
        .send()
        .await
        .unwrap();
    let ticketed = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(ticketed.starts_with(&format!("{}.well-known/dpe/enter?ticket=", w.url)));
    let first = browser(w.app.addr, &["wiki"])
        .get(&ticketed)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 303);
    let again = browser(w.app.addr, &["wiki"])
        .get(&ticketed)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 403, "used once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guest_never_sees_or_sets_dpe_s_credentials() {
    let w = world().await;
    let (status, _) = w
        .owner
        .patch(
            &format!("/api/v1/instances/{}", w.wiki),
            json!({"share": "public"}),
        )
        .await;
    assert_eq!(status, 200);
    let client = browser(w.app.addr, &["wiki"]);
    let echo: Value = client
        .get(format!("{}anything", w.url))
        .header(
            "cookie",
            "dpe_session=s1; __Host-dpe_session=s2; dpe_app=g; mine=1",
        )
        .header("authorization", "Bearer dpe_secret")
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(echo["cookie"], "mine=1");
    assert_eq!(echo["authorization"], Value::Null);
    assert_eq!(echo["forwarded_for"], "127.0.0.1", "only the peer we saw");
    assert_eq!(echo["forwarded_proto"], "http");
    let public_host = format!("wiki.localhost:{}", w.app.addr.port());
    assert_eq!(echo["host"], public_host.as_str());
    assert_eq!(echo["forwarded_host"], public_host.as_str());
    let response = client
        .get(format!("{}set-cookies", w.url))
        .send()
        .await
        .unwrap();
    let set: Vec<_> = response.headers().get_all("set-cookie").iter().collect();
    assert_eq!(set.len(), 1, "{set:?}");
    assert!(set[0].to_str().unwrap().starts_with("wiki_session=kept"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_or_deleted_application_gets_a_page_that_leads_back() {
    let w = world().await;
    w.owner
        .patch(
            &format!("/api/v1/instances/{}", w.wiki),
            json!({"share": "public"}),
        )
        .await;
    let client = browser(w.app.addr, &["wiki"]);
    let task = w.owner.act(w.wiki, "poweroff").await.1["task_id"]
        .as_i64()
        .unwrap();
    w.owner.wait_task(task).await;
    w.owner.wait_state(w.wiki, "shut_off").await;
    let (status, body, _) = open(&client, &w.url).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("It is stopped") && body.contains(&format!("/instances/{}", w.wiki)));
    w.owner.remove(w.wiki).await;
    let (status, body, _) = open(&client, &w.url).await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("No application has this address"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_passes_through_both_ways() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let w = world().await;
    w.owner
        .patch(
            &format!("/api/v1/instances/{}", w.wiki),
            json!({"share": "public"}),
        )
        .await;
    let stream = tokio::net::TcpStream::connect(w.app.addr).await.unwrap();
    let url = format!("ws://wiki.localhost:{}/socket", w.app.addr.port());
    let (mut socket, answer) = tokio_tungstenite::client_async(url, stream).await.unwrap();
    assert_eq!(answer.status(), 101);
    for text in ["hello", "through the gateway"] {
        socket.send(Message::text(text)).await.unwrap();
        let back = socket.next().await.unwrap().unwrap();
        assert_eq!(back.into_text().unwrap().as_str(), text);
    }
    socket.close(None).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_one_after_another_reuse_one_kept_alive_connection_to_the_guest() {
    let (port, accepted) = counting_application().await;
    let w = world_on(port).await;
    w.owner
        .patch(
            &format!("/api/v1/instances/{}", w.wiki),
            json!({"share": "public"}),
        )
        .await;
    let client = browser(w.app.addr, &["wiki"]);
    // Bodies in one piece and in many, none at all, and a HEAD's.
    for path in ["bytes/10240", "bytes/1000000", "status/204", "bytes/5"] {
        for _ in 0..5 {
            let response = client.get(format!("{}{path}", w.url)).send().await.unwrap();
            assert!(response.status().is_success(), "{path}");
            let length = response.bytes().await.unwrap().len();
            if let Some(n) = path.strip_prefix("bytes/") {
                assert_eq!(length, n.parse::<usize>().unwrap(), "{path}");
            }
        }
        let head = client
            .head(format!("{}{path}", w.url))
            .send()
            .await
            .unwrap();
        assert!(head.status().is_success(), "HEAD {path}");
    }
    assert_eq!(
        accepted.lock().unwrap().len(),
        1,
        "connections from the gateway"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_the_browser_leaves_halfway_closes_its_connection_and_the_next_request_passes() {
    let (port, accepted) = counting_application().await;
    let w = world_on(port).await;
    w.owner
        .patch(
            &format!("/api/v1/instances/{}", w.wiki),
            json!({"share": "public"}),
        )
        .await;
    let client = browser(w.app.addr, &["wiki"]);
    let mut response = client
        .get(format!("{}bytes/50000000", w.url))
        .send()
        .await
        .unwrap();
    assert!(
        response.chunk().await.unwrap().is_some(),
        "the download began"
    );
    drop(response);
    let response = client
        .get(format!("{}bytes/10", w.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.bytes().await.unwrap().len(), 10);
    assert_eq!(
        accepted.lock().unwrap().len(),
        2,
        "the connection left halfway is not used again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_from_the_guest_reaches_the_browser_unfollowed() {
    let w = world().await;
    w.owner
        .patch(
            &format!("/api/v1/instances/{}", w.wiki),
            json!({"share": "public"}),
        )
        .await;
    let client = browser(w.app.addr, &["wiki"]);
    let response = client.get(format!("{}moved", w.url)).send().await.unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(response.headers()["location"], "http://192.0.2.1/elsewhere");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_that_does_not_answer_gets_a_page_not_an_error() {
    // A port nothing listens on, held (bound, never listening) for the
    // whole test: a port merely closed again may be handed to the next
    // listener, and when that was this very appliance, its gateway sent
    // each request round to itself until the process ran out of files.
    let held = tokio::net::TcpSocket::new_v4().unwrap();
    held.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let closed = held.local_addr().unwrap().port();
    let w = world_on(closed).await;
    w.owner
        .patch(
            &format!("/api/v1/instances/{}", w.wiki),
            json!({"share": "public"}),
        )
        .await;
    let (status, body, _) = open(&browser(w.app.addr, &["wiki"]), &w.url).await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("does not answer yet"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_address_that_leads_back_to_the_appliance_is_refused_not_looped() {
    // The guest's application port, forwarded to the portal itself.
    let relay = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = relay.local_addr().unwrap().port();
    let (portal_is, portal) = tokio::sync::watch::channel(None::<SocketAddr>);
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = relay.accept().await {
            let mut portal = portal.clone();
            tokio::spawn(async move {
                let Ok(addr) = portal.wait_for(Option::is_some).await.map(|a| a.unwrap()) else {
                    return;
                };
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(addr).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    let w = world_on(port).await;
    portal_is.send_replace(Some(w.app.addr));
    w.owner
        .patch(
            &format!("/api/v1/instances/{}", w.wiki),
            json!({"share": "public"}),
        )
        .await;
    let (status, body, _) = open(&browser(w.app.addr, &["wiki"]), &w.url).await;
    assert_eq!(status, 508, "{body}");
    assert!(body.contains("leads back to this appliance"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_instance_keeps_its_port_until_it_is_deleted() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let admin = app.admin().await;
    let port = |view: &Value| {
        Url::parse(view["url"].as_str().unwrap())
            .unwrap()
            .port()
            .unwrap()
    };
    let (status, _) = admin
        .put(
            "/api/v1/settings/apps",
            json!({"portal_origin": "https://dpe.example.org",
                   "addressing": {"mode": "ports", "first": 31000, "last": 31001}}),
        )
        .await;
    assert_eq!(status, 200);
    let deploy_a = admin.deployed("a").await;
    let a = deploy_a.id;
    let b = admin.deployed("b").await.id;
    let (_, view_a) = admin.instance(a).await;
    let (_, view_b) = admin.instance(b).await;
    assert_eq!(view_a["url"], "https://dpe.example.org:31000/");
    assert_eq!(port(&view_b), 31001);
    let (status, refused) = admin.deploy("c").await;
    assert_eq!(status, 409, "the range is full: {refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("31000 to 31001")
    );
    // Running is not yet done: the deploy still waits for the health
    // check, and until it ends the instance refuses other tasks.
    let deployed = admin.wait_task(deploy_a.task_id).await;
    assert_eq!(deployed["state"], "succeeded", "{deployed}");
    admin.remove(a).await;
    let c = admin.deployed("c").await.id;
    let (_, view_c) = admin.instance(c).await;
    assert_eq!(port(&view_c), 31000, "a's port, freed");
    let app = app.restart().await;
    let admin = app.admin().await;
    let (_, view_b) = admin.instance(b).await;
    assert_eq!(port(&view_b), 31001, "the same after a restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_of_use_by_someone_signed_in_moves_the_lease_once_never_past_the_maximum() {
    use app::model::DAY;
    let clock = Arc::new(ManualClock::starting_now());
    // An hour into a day, so that the requests below share one.
    clock.advance(DAY - clock.now().rem_euclid(DAY) + 3600);
    let w = world_built(application().await, Some(clock.clone())).await;
    let at = |days: i64| {
        time::OffsetDateTime::from_unix_timestamp(clock.now() + days * DAY)
            .unwrap()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    // Use may not reach beyond what an extension may.
    let (status, body) = w
        .admin
        .put(
            "/api/v1/lease-policy",
            json!({"lease_days": 10, "extendable": true, "max_days": 20, "follow_use_days": 21}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = w
        .admin
        .put(
            "/api/v1/lease-policy",
            json!({"lease_days": 10, "extendable": true, "max_days": 20, "follow_use_days": 7}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = w
        .admin
        .post(
            &format!("/api/v1/instances/{}/extend", w.wiki),
            json!({"expires_at": at(3)}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let expiry = || async {
        let (_, view) = w.owner.get(&format!("/api/v1/instances/{}", w.wiki)).await;
        view["lease"]["expires_at"].as_str().unwrap().to_owned()
    };
    let uses = || async {
        let (_, audit) = w.admin.get("/api/v1/audit?action=lease.use").await;
        audit.as_array().unwrap().len()
    };

    // The owner opens the application: the lease moves to 7 days ahead.
    let client = browser(w.app.addr, &["wiki"]);
    sign_in(&w.app, &client, "owner", USER_PASSWORD).await;
    let next = format!("/gateway/enter?to={}", w.url);
    let (status, _, _) = open(&client, &w.app.url(&next)).await;
    assert_eq!(status, 200);
    let first = expiry().await;
    assert_eq!(first, at(7));
    assert_eq!(uses().await, 1);
    // More use the same day, later: no more writes.
    clock.advance(3600);
    for _ in 0..5 {
        assert_eq!(open(&client, &w.url).await.0, 200);
    }
    assert_eq!(expiry().await, first, "the expiry set an hour ago stands");
    assert_eq!(uses().await, 1, "one write a day");

    // The next day, use moves it on by that day.
    clock.advance(DAY);
    assert_eq!(open(&client, &w.url).await.0, 200);
    assert_eq!(expiry().await, at(7));
    assert_eq!(uses().await, 2);

    // Someone not signed in (a public share) moves nothing.
    let (status, _) = w
        .owner
        .patch(
            &format!("/api/v1/instances/{}", w.wiki),
            json!({"share": "public"}),
        )
        .await;
    assert_eq!(status, 200);
    clock.advance(DAY);
    let anonymous = browser(w.app.addr, &["wiki"]);
    assert_eq!(open(&anonymous, &w.url).await.0, 200);
    assert_eq!(expiry().await, at(6), "still yesterday's");
    assert_eq!(uses().await, 2);

    // A lease that reaches further already is left as it is.
    let (status, _) = w
        .admin
        .post(
            &format!("/api/v1/instances/{}/extend", w.wiki),
            json!({"expires_at": at(15)}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(open(&client, &w.url).await.0, 200);
    assert_eq!(expiry().await, at(15));
    assert_eq!(uses().await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_applications_requests_errors_response_times_and_bytes_are_counted_charted_and_exported()
 {
    let w = world().await;
    let client = browser(w.app.addr, &["wiki"]);
    sign_in(&w.app, &client, "owner", USER_PASSWORD).await;
    // The hand-over: a redirect through the portal, then the page (200).
    assert_eq!(open(&client, &w.url).await.0, 200);
    let get = |path: &str| {
        let url = format!("{}{path}", w.url);
        let client = client.clone();
        async move { client.get(url).send().await.unwrap() }
    };
    for _ in 0..5 {
        let body = get("bytes/100000").await.bytes().await.unwrap();
        assert_eq!(body.len(), 100_000);
    }
    for (path, status) in [
        ("status/404", 404),
        ("status/404", 404),
        ("status/503", 503),
    ] {
        assert_eq!(get(path).await.status(), status);
    }
    let uploaded = client
        .post(format!("{}upload", w.url))
        .body(vec![b'y'; 7_000])
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), 200);

    // Charted: the usage series of the hour has the windows.
    let path = format!("/api/v1/instances/{}/usage", w.wiki);
    let series = w
        .owner
        .poll(&path, Duration::from_secs(30), |v| {
            let sum = |field: &str| -> f64 {
                v["traffic"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p[field].as_f64())
                    .sum()
            };
            sum("server_errors_per_s") > 0.0 && sum("client_errors_per_s") > 0.0
        })
        .await;
    let traffic = series["traffic"].as_array().unwrap();
    assert!(
        traffic
            .iter()
            .any(|p| p["bytes_out_bps"].as_f64().unwrap() > 1e4),
        "{series}"
    );
    assert!(
        traffic.iter().any(|p| p["p99_ms"].as_f64().is_some()),
        "{series}"
    );

    // Exported: exact running totals, labelled like the instance's use.
    let secret = crate::metrics::token(&w.admin, "prometheus", "metrics").await;
    let (status, _, text) = crate::metrics::scrape(&w.app, Some(&secret)).await;
    assert_eq!(status, 200, "{text}");
    let total = |class: &str| {
        crate::metrics::samples(&text, "dpe_app_requests_total")
            .into_iter()
            .find(|l| l.contains("name=\"wiki\"") && l.contains(&format!("class=\"{class}\"")))
            .and_then(|l| l.rsplit(' ').next())
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no {class} line in\n{text}"))
    };
    // The first page and the 5 downloads and the upload; the hand-over's
    // redirect is the gateway's own answer, not the application's.
    assert_eq!(total("2xx"), "7.0");
    assert_eq!(total("4xx"), "2.0");
    assert_eq!(total("5xx"), "1.0");
    let bytes = crate::metrics::samples(&text, "dpe_app_body_bytes_total");
    assert!(
        bytes
            .iter()
            .any(|l| l.contains("direction=\"in\"") && l.ends_with(" 7000.0")),
        "{bytes:?}"
    );
    let count = crate::metrics::samples(&text, "dpe_app_response_seconds_count");
    assert!(
        count
            .iter()
            .any(|l| l.contains("department=\"science\"") && l.ends_with(" 10")),
        "{count:?}"
    );
}
