//! A client of the console page's WebSocket, as a browser opens it.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use reqwest::Client;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::{ADMIN, ADMIN_PASSWORD, TestApp, session_cookie};

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The session cookie of `username`, signed in afresh.
pub async fn cookie_of(app: &TestApp, username: &str, password: &str) -> String {
    let response = app.login(&Client::new(), username, password).await;
    assert_eq!(response.status(), 200);
    session_cookie(&response).expect("a session cookie")
}

/// Opens instance `id`'s console as the holder of `cookie`, from `origin`
/// (none: no `Origin` header): the socket, or the refusal's status.
pub async fn open(
    app: &TestApp,
    id: i64,
    cookie: &str,
    origin: Option<&str>,
) -> Result<Socket, u16> {
    open_at(app, &format!("/instances/{id}/console/ws"), cookie, origin).await
}

/// Opens instance `id`'s graphical console (its display's WebSocket), as
/// [`open`] does the serial one.
pub async fn open_graphics(
    app: &TestApp,
    id: i64,
    cookie: &str,
    origin: Option<&str>,
) -> Result<Socket, u16> {
    open_at(app, &format!("/instances/{id}/vnc/ws"), cookie, origin).await
}

async fn open_at(
    app: &TestApp,
    path: &str,
    cookie: &str,
    origin: Option<&str>,
) -> Result<Socket, u16> {
    let url = format!("ws://{}{path}", app.addr);
    let mut request = url.into_client_request().unwrap();
    let headers = request.headers_mut();
    headers.insert("cookie", HeaderValue::from_str(cookie).unwrap());
    if let Some(origin) = origin {
        headers.insert("origin", HeaderValue::from_str(origin).unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(response.status().as_u16())
        }
        Err(e) => panic!("the WebSocket failed otherwise: {e}"),
    }
}

/// Reads binary frames until their text holds `wanted`; all read so far.
pub async fn read_until(socket: &mut Socket, wanted: &str) -> String {
    read_within(socket, wanted, Duration::from_secs(10)).await
}

/// The same, waiting up to `limit`.
pub async fn read_within(socket: &mut Socket, wanted: &str, limit: Duration) -> String {
    match try_read_within(socket, wanted, limit).await {
        Ok(text) => text,
        Err(text) => panic!("{wanted:?} never came; got {text:?}"),
    }
}

/// Reads until the text holds `wanted` or `limit` passes: all read, as
/// `Err` when `wanted` never came.
pub async fn try_read_within(
    socket: &mut Socket,
    wanted: &str,
    limit: Duration,
) -> Result<String, String> {
    let mut seen = Vec::new();
    let reading = async {
        while let Some(message) = socket.next().await {
            if let Message::Binary(bytes) = message.unwrap() {
                seen.extend_from_slice(&bytes);
                if String::from_utf8_lossy(&seen).contains(wanted) {
                    return;
                }
            }
        }
    };
    let ended = tokio::time::timeout(limit, reading).await;
    let text = String::from_utf8_lossy(&seen).into_owned();
    match ended {
        Ok(()) => Ok(text),
        Err(_) => Err(text),
    }
}

/// Opens instance `id`'s console as the appliance's admin; the start step
/// may not have recorded the guest running yet (409), so it tries again
/// for a while.
pub async fn open_as_admin(app: &TestApp, id: i64) -> Socket {
    open_as_admin_at(app, &format!("/instances/{id}/console/ws")).await
}

/// Opens instance `id`'s graphical console as the appliance's admin, as
/// [`open_as_admin`] does the serial one.
pub async fn open_graphics_as_admin(app: &TestApp, id: i64) -> Socket {
    open_as_admin_at(app, &format!("/instances/{id}/vnc/ws")).await
}

async fn open_as_admin_at(app: &TestApp, path: &str) -> Socket {
    let cookie = cookie_of(app, ADMIN, ADMIN_PASSWORD).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match open_at(app, path, &cookie, Some(&app.origin())).await {
            Ok(socket) => return socket,
            Err(409) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(status) => panic!("{path} answered {status}"),
        }
    }
}

/// Types `text` on the line.
pub async fn type_in(socket: &mut Socket, text: &str) {
    socket
        .send(Message::binary(text.as_bytes().to_vec()))
        .await
        .unwrap();
}

/// Signs in on the line as `user`, and waits for the shell's `prompt`;
/// `within` bounds that wait (a guest under TCG checks a bcrypt hash
/// slowly). Enter first asks for a fresh login prompt: the one on the
/// line may be old, or cut short (agetty prints it again, flushing, when
/// the guest's addresses change, as a claimed member's do).
pub async fn sign_in(
    socket: &mut Socket,
    user: &str,
    password: &str,
    prompt: &str,
    within: Duration,
) {
    let mut said = String::new();
    for _ in 0..3 {
        type_in(socket, "\r").await;
        match try_read_within(socket, "login:", Duration::from_secs(15)).await {
            Ok(_) => {}
            Err(text) => {
                said.push_str(&text);
                continue;
            }
        }
        type_in(socket, &format!("{user}\r")).await;
        match try_read_within(socket, "Password:", within).await {
            Ok(_) => {}
            Err(text) => {
                said.push_str(&text);
                continue;
            }
        }
        type_in(socket, &format!("{password}\r")).await;
        // Signed in, the shell's first prompt was once seen cut short
        // ("wikiadmin@team-w") on a claimed member, as agetty's is: Enter
        // asks for another, as a person at the console would.
        if let Err(text) = try_read_within(socket, prompt, within).await {
            said.push_str(&text);
            type_in(socket, "\r").await;
            read_within(socket, prompt, Duration::from_secs(30)).await;
        }
        return;
    }
    panic!("no login prompt took {user:?}; the line said {said:?}");
}
