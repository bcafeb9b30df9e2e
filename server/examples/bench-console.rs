//! Keystroke-to-echo latency through the portal's console WebSocket, for
//! `scripts/bench-console` (which starts dpe and a guest and passes their
//! details): signs in on the guest's serial line, then types one key at a
//! time and times each until its echo comes back. Prints figures.
//!
//!   bench-console BASE_URL SESSION_COOKIE INSTANCE_ID [KEYS]

// A benchmark reports failure by panicking, as a test does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Reads output until it holds `wanted`.
async fn until(socket: &mut Socket, wanted: &str, limit: Duration) {
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
        panic!("the console closed");
    };
    if tokio::time::timeout(limit, reading).await.is_err() {
        panic!(
            "no {wanted:?} within {limit:?}: {:?}",
            String::from_utf8_lossy(&seen)
        );
    }
}

/// The `q`-quantile of sorted durations, in milliseconds.
fn ms(sorted: &[Duration], q: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, base, cookie, id, rest @ ..] = args.as_slice() else {
        panic!("usage: bench-console BASE_URL SESSION_COOKIE INSTANCE_ID [KEYS]");
    };
    let keys: usize = rest.first().map_or(500, |k| k.parse().unwrap());
    let url = format!("{}/instances/{id}/console/ws", base.replace("http", "ws"));
    let mut request = url.into_client_request().unwrap();
    let headers = request.headers_mut();
    headers.insert("cookie", HeaderValue::from_str(cookie).unwrap());
    headers.insert("origin", HeaderValue::from_str(base).unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();

    let long = Duration::from_secs(180);
    socket.send(Message::binary(b"\r".to_vec())).await.unwrap();
    until(&mut socket, "login:", long).await;
    socket
        .send(Message::binary(b"root\r".to_vec()))
        .await
        .unwrap();
    until(&mut socket, "Password:", long).await;
    socket
        .send(Message::binary(b"dpe-console\r".to_vec()))
        .await
        .unwrap();
    until(&mut socket, "# ", long).await;

    let mut times = Vec::with_capacity(keys);
    for i in 0..keys {
        // A comment line, ended every 60 keys so it never wraps.
        if i % 60 == 0 {
            socket.send(Message::binary(b"\r#".to_vec())).await.unwrap();
            until(&mut socket, "#", long).await;
        }
        let key = b'a' + (i % 26) as u8;
        let sent = Instant::now();
        socket.send(Message::binary(vec![key])).await.unwrap();
        until(&mut socket, &(key as char).to_string(), long).await;
        times.push(sent.elapsed());
    }
    times.sort();
    println!(
        "figures: keystroke to echo through the portal, {keys} keys: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (target: p99 at most 50 ms)",
        ms(&times, 0.5),
        ms(&times, 0.99),
        ms(&times, 1.0)
    );
}
