//! The graphics page's WebSocket over real HTTP, against fake hosts whose
//! guests' displays are fake VNC servers that greet as QEMU's does and
//! echo (`common::fake_console::fake_display`): the bridge carries RFB
//! byte for byte, and it is guarded and audited like the serial console.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use crate::common::console_socket::{Socket, cookie_of, open_graphics};
use crate::common::fake_console::RFB_GREETING;
use crate::common::{ADMIN, ADMIN_PASSWORD, Api, TestApp, USER_PASSWORD};

/// An appliance with one running instance of the admin's: its id.
async fn running_instance() -> (TestApp, Api, i64) {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    app.fake_host().lease_every_domain("127.0.0.1");
    let admin = app.api().signed_in(ADMIN, ADMIN_PASSWORD).await;
    let id = admin.deployed("display").await.id;
    admin
        .poll(
            &format!("/api/v1/instances/{id}"),
            Duration::from_secs(60),
            |v| v["state"] == "running",
        )
        .await;
    (app, admin, id)
}

/// The next `n` bytes of binary frames.
async fn read_bytes(socket: &mut Socket, n: usize) -> Vec<u8> {
    let mut seen = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        while seen.len() < n {
            match socket.next().await {
                Some(Ok(Message::Binary(bytes))) => seen.extend_from_slice(&bytes),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                other => panic!("the display's socket ended: {other:?} after {seen:?}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{n} bytes never came; got {seen:?}"));
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_graphics_socket_carries_the_displays_rfb_bytes_both_ways_unchanged() {
    let (app, _admin, id) = running_instance().await;
    let cookie = cookie_of(&app, ADMIN, ADMIN_PASSWORD).await;
    let mut socket = open_graphics(&app, id, &cookie, Some(&app.origin()))
        .await
        .unwrap();
    assert_eq!(
        read_bytes(&mut socket, RFB_GREETING.len()).await,
        RFB_GREETING
    );
    // Every byte value, as a framebuffer update may hold: none is lost
    // or re-encoded on the way.
    let every: Vec<u8> = (0..=255).collect();
    socket.send(Message::binary(every.clone())).await.unwrap();
    assert_eq!(read_bytes(&mut socket, every.len()).await, every);

    // Each viewer has a connection of its own (the VNC server shares the
    // screen between them).
    let mut second = open_graphics(&app, id, &cookie, Some(&app.origin()))
        .await
        .unwrap();
    assert_eq!(
        read_bytes(&mut second, RFB_GREETING.len()).await,
        RFB_GREETING
    );
    assert_eq!(app.fake_host().calls("open_graphics"), 2);

    // RFB has no text: a text frame ends the socket.
    socket.send(Message::text("hello")).await.unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match socket.next().await {
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
async fn a_quiet_display_is_pinged_so_a_proxy_does_not_cut_it_and_it_still_answers_after() {
    let (app, _admin, id) = running_instance().await;
    let cookie = cookie_of(&app, ADMIN, ADMIN_PASSWORD).await;
    let mut socket = open_graphics(&app, id, &cookie, Some(&app.origin()))
        .await
        .unwrap();
    read_bytes(&mut socket, RFB_GREETING.len()).await;
    // A viewer of a still screen sends nothing and gets nothing: within
    // the portal's 25 s a ping comes, before a proxy's common 60 s.
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
    assert_eq!(pinged, Ok(true), "a quiet display is pinged");
    socket
        .send(Message::binary(b"still here".to_vec()))
        .await
        .unwrap();
    assert_eq!(read_bytes(&mut socket, 10).await, b"still here");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graphics_websocket_from_another_origin_or_none_is_refused() {
    let (app, _admin, id) = running_instance().await;
    let cookie = cookie_of(&app, ADMIN, ADMIN_PASSWORD).await;
    for origin in [Some("http://evil.example"), Some("null"), None] {
        assert_eq!(
            open_graphics(&app, id, &cookie, origin).await.err(),
            Some(403),
            "{origin:?}"
        );
    }
    assert_eq!(
        app.fake_host().calls("open_graphics"),
        0,
        "no display was opened"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_without_access_gets_404_for_the_display_and_opening_it_is_audited() {
    let (app, admin, id) = running_instance().await;
    let science = admin.create_department("science", None).await;
    admin
        .create_member("stranger", USER_PASSWORD, science, false)
        .await;
    let origin = app.origin();
    let stranger = cookie_of(&app, "stranger", USER_PASSWORD).await;
    assert_eq!(
        open_graphics(&app, id, &stranger, Some(&origin))
            .await
            .err(),
        Some(404)
    );
    assert_eq!(app.fake_host().calls("open_graphics"), 0);

    let cookie = cookie_of(&app, ADMIN, ADMIN_PASSWORD).await;
    let mut socket = open_graphics(&app, id, &cookie, Some(&origin))
        .await
        .unwrap();
    read_bytes(&mut socket, RFB_GREETING.len()).await;
    let (status, audit) = admin.get("/api/v1/audit?action=instance.console").await;
    assert_eq!(status, 200);
    let records = audit.as_array().unwrap();
    assert_eq!(records.len(), 1, "{audit}");
    assert_eq!(records[0]["actor"], ADMIN);
    assert_eq!(records[0]["outcome"], "ok");
    assert_eq!(records[0]["object"], "instance display");
    assert_eq!(records[0]["detail"], "graphical");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_display_of_a_stopped_instance_is_refused_with_409() {
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
        open_graphics(&app, id, &cookie, Some(&app.origin()))
            .await
            .err(),
        Some(409)
    );
    assert_eq!(app.fake_host().calls("open_graphics"), 0);
}
