//! The console page's WebSocket over real HTTP, against fake hosts whose
//! serial lines lead to an echoing fake guest (`common::fake_console`):
//! who may open it, from which origin, what the audit log keeps, and the
//! broker's one line shared by every viewer.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::common::console_socket::{cookie_of, open, read_until};
use crate::common::fake_console::GREETING;
use crate::common::{ADMIN, ADMIN_PASSWORD, Api, TestApp, USER_PASSWORD};

/// An appliance with one running instance of the admin's: its id.
async fn running_instance() -> (TestApp, Api, i64) {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    app.fake_host().lease_every_domain("127.0.0.1");
    let admin = app.api().signed_in(ADMIN, ADMIN_PASSWORD).await;
    let id = admin.deployed("console").await.id;
    admin
        .poll(
            &format!("/api/v1/instances/{id}"),
            Duration::from_secs(60),
            |v| v["state"] == "running",
        )
        .await;
    (app, admin, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_carries_keystrokes_both_ways_and_every_viewer_sees_the_same_line() {
    let (app, _admin, id) = running_instance().await;
    let cookie = cookie_of(&app, ADMIN, ADMIN_PASSWORD).await;
    let origin = app.origin();
    let mut first = open(&app, id, &cookie, Some(&origin)).await.unwrap();
    read_until(&mut first, GREETING).await;
    first
        .send(Message::binary(b"echo one\r".to_vec()))
        .await
        .unwrap();
    read_until(&mut first, "echo one").await;

    // A second viewer gets the scrollback, then shares the line.
    let mut second = open(&app, id, &cookie, Some(&origin)).await.unwrap();
    let replayed = read_until(&mut second, "echo one").await;
    assert!(replayed.starts_with(GREETING), "{replayed:?}");
    second
        .send(Message::binary(b"from the second\r".to_vec()))
        .await
        .unwrap();
    read_until(&mut first, "from the second").await;
    read_until(&mut second, "from the second").await;
    assert_eq!(
        app.fake_host().calls("open_console"),
        1,
        "one line for both viewers"
    );

    // A resize is typed on the line as stty; a malformed request ends the socket.
    first
        .send(Message::text(
            json!({"resize": {"rows": 40, "cols": 120}}).to_string(),
        ))
        .await
        .unwrap();
    read_until(&mut second, "stty rows 40 cols 120\r").await;
    first
        .send(Message::text(r#"{"resize": {"rows": 40}}"#))
        .await
        .unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match first.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| f.reason.to_string()),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(closed.as_deref(), Some("unknown request"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_opened_anew_starts_with_the_end_of_the_guests_console_log() {
    let (app, _admin, id) = running_instance().await;
    let uuid = app.instance_uuid(id).await;
    let log = format!("{}.log", app.volume_stem(&uuid));
    // Longer than the scrollback: only its end comes back, from a whole line.
    let mut boot = String::from("[    0.000000] Linux version 6.1\r\n");
    while boot.len() < 70 * 1024 {
        boot.push_str("[    1.000000] a line of the boot\r\n");
    }
    boot.push_str("wiki login: ");
    app.fake_host()
        .write_volume(&app.storage_pool(), &log, &boot);

    let cookie = cookie_of(&app, ADMIN, ADMIN_PASSWORD).await;
    let mut socket = open(&app, id, &cookie, Some(&app.origin())).await.unwrap();
    let first = read_until(&mut socket, GREETING).await;
    assert!(first.starts_with("[    1.000000]"), "{:?}", &first[..80]);
    assert!(first.contains("wiki login: "), "the log's last bytes");
    assert!(
        !first.contains("Linux version"),
        "the log's start is beyond the scrollback"
    );
    assert!(
        first.len() <= 64 * 1024 + GREETING.len() + 64,
        "{}",
        first.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_console_is_pinged_so_a_proxy_does_not_cut_it_and_it_still_answers_after() {
    let (app, _admin, id) = running_instance().await;
    let cookie = cookie_of(&app, ADMIN, ADMIN_PASSWORD).await;
    let mut socket = open(&app, id, &cookie, Some(&app.origin())).await.unwrap();
    read_until(&mut socket, GREETING).await;
    // Nothing is typed: within the portal's 25 s a ping comes, well
    // before the 60 s read timeout proxies commonly have.
    let pinged = tokio::time::timeout(Duration::from_secs(40), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Ping(_))) => return true,
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return false,
            }
        }
    })
    .await;
    assert_eq!(pinged, Ok(true), "a quiet console is pinged");
    socket
        .send(Message::binary(b"still here\r".to_vec()))
        .await
        .unwrap();
    read_until(&mut socket, "still here").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_websocket_from_another_origin_or_none_is_refused() {
    let (app, _admin, id) = running_instance().await;
    let cookie = cookie_of(&app, ADMIN, ADMIN_PASSWORD).await;
    for origin in [Some("http://evil.example"), Some("null"), None] {
        assert_eq!(
            open(&app, id, &cookie, origin).await.err(),
            Some(403),
            "{origin:?}"
        );
    }
    assert_eq!(
        app.fake_host().calls("open_console"),
        0,
        "no line was opened"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_without_access_gets_404_and_opening_is_audited() {
    let (app, admin, id) = running_instance().await;
    let science = admin.create_department("science", None).await;
    admin
        .create_member("stranger", USER_PASSWORD, science, false)
        .await;
    let origin = app.origin();
    let stranger = cookie_of(&app, "stranger", USER_PASSWORD).await;
    assert_eq!(
        open(&app, id, &stranger, Some(&origin)).await.err(),
        Some(404)
    );
    assert_eq!(app.fake_host().calls("open_console"), 0);

    let cookie = cookie_of(&app, ADMIN, ADMIN_PASSWORD).await;
    let mut socket = open(&app, id, &cookie, Some(&origin)).await.unwrap();
    read_until(&mut socket, GREETING).await;
    let (status, audit) = admin.get("/api/v1/audit?action=instance.console").await;
    assert_eq!(status, 200);
    let records = audit.as_array().unwrap();
    assert_eq!(records.len(), 1, "{audit}");
    assert_eq!(records[0]["actor"], ADMIN);
    assert_eq!(records[0]["outcome"], "ok");
    assert_eq!(records[0]["object"], "instance console");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_of_a_stopped_instance_is_refused_with_409() {
    let (app, admin, id) = running_instance().await;
    let (status, body) = admin.act(id, "poweroff").await;
    assert_eq!(status, 202, "{body}");
    admin
        .poll(
            &format!("/api/v1/instances/{id}"),
            Duration::from_secs(60),
            |v| v["state"] == "shut_off",
        )
        .await;
    let cookie = cookie_of(&app, ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(
        open(&app, id, &cookie, Some(&app.origin())).await.err(),
        Some(409)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_line_outlives_its_last_viewer_for_a_grace_then_closes() {
    let (app, _admin, id) = running_instance().await;
    let cookie = cookie_of(&app, ADMIN, ADMIN_PASSWORD).await;
    let origin = app.origin();
    let mut socket = open(&app, id, &cookie, Some(&origin)).await.unwrap();
    read_until(&mut socket, GREETING).await;
    socket
        .send(Message::binary(b"kept\r".to_vec()))
        .await
        .unwrap();
    read_until(&mut socket, "kept").await;
    drop(socket);

    // A reload within the grace finds the same line and its scrollback.
    let mut again = open(&app, id, &cookie, Some(&origin)).await.unwrap();
    let replayed = read_until(&mut again, "kept").await;
    assert_eq!(replayed, format!("{GREETING}kept\r"));
    assert_eq!(app.fake_host().calls("open_console"), 1);
    drop(again);

    // After it, the line is closed: the next viewer opens a new one.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let mut fresh = open(&app, id, &cookie, Some(&origin)).await.unwrap();
    let text = read_until(&mut fresh, GREETING).await;
    assert!(!text.contains("kept"), "{text:?}");
    assert_eq!(app.fake_host().calls("open_console"), 2);
}
