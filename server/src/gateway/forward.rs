//! Forwarding one request to an application and its answer back: bodies
//! streamed both ways, WebSocket (and any) upgrades spliced, dpe's own
//! credentials kept from the guest, and redirects passed on, not followed.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::uri::PathAndQuery;
use axum::http::{Response, Uri, Version};
use http_body_util::BodyExt;
use hyper::body::Body as _;
use hyper_util::rt::TokioIo;
use tower_http::timeout::TimeoutBody;

use super::error::GatewayError;
pub use super::upstream::Upstream;
use crate::engine::traffic::AppCounters;

/// How long it may take to start its answer, and then between two pieces
/// of the body either way.
const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// Headers about one connection, not the request (RFC 9110, 7.6.1), and
/// `proxy-*` ones meant for us.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Whether a cookie is dpe's own (the portal's session, the gateway's
/// sessions): never shown to a guest, never set by one.
pub fn is_dpe_cookie(name: &str) -> bool {
    let name = name.trim();
    let bare = name.strip_prefix("__Host-").unwrap_or(name);
    bare.starts_with("dpe_")
}

/// The name this gateway gives itself in `Via` (RFC 9110, 7.6.3): one per
/// process, so that only a request that has already passed through this
/// very gateway is taken for a loop, not one from another appliance.
#[derive(Clone)]
pub struct Pseudonym(HeaderValue);

impl Pseudonym {
    pub fn new() -> Pseudonym {
        let name = format!("1.1 dpe-{:016x}", rand::random::<u64>());
        // Hex digits are always a valid header value.
        Pseudonym(HeaderValue::from_str(&name).unwrap_or(HeaderValue::from_static("1.1 dpe")))
    }

    /// Whether `headers` show that the request went through this gateway
    /// before: an application whose address leads back to dpe itself
    /// (a guest's port forwarded to the portal, say) would otherwise send
    /// each request round until no socket was left.
    pub fn seen_in(&self, headers: &HeaderMap) -> bool {
        let ours = self.0.as_bytes();
        headers
            .get_all(header::VIA)
            .iter()
            .flat_map(|v| v.as_bytes().split(|b| *b == b','))
            .any(|entry| entry.trim_ascii() == ours)
    }
}

impl Default for Pseudonym {
    fn default() -> Pseudonym {
        Pseudonym::new()
    }
}

/// Where the request goes, and what the guest is told of it.
pub struct Destination {
    pub instance_id: i64,
    /// The guest's address and the application's port.
    pub address: IpAddr,
    pub port: u16,
    /// The public authority (`wiki.apps.example.org`, `dpe.lan:20001`):
    /// the upstream `Host` and `X-Forwarded-Host`.
    pub public_host: HeaderValue,
    pub secure: bool,
    pub peer: IpAddr,
    /// Added to the request's `Via`.
    pub via: Pseudonym,
}

/// The `Cookie` header without dpe's cookies; None when nothing is left.
fn guest_cookies(headers: &HeaderMap) -> Option<HeaderValue> {
    // HTTP/2 may split cookies over several headers: join them (RFC 9113).
    let kept: Vec<&str> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .filter(|pair| !is_dpe_cookie(pair.split('=').next().unwrap_or_default()))
        .collect();
    (!kept.is_empty())
        .then(|| HeaderValue::from_str(&kept.join("; ")).ok())
        .flatten()
}

/// Whether a request asks to switch protocols (a WebSocket).
fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

/// Removes hop-by-hop headers, and those the `Connection` header names.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for name in HOP_BY_HOP.iter().chain(&named) {
        headers.remove(name);
    }
}

/// The request as the guest gets it: in origin form (`/path?query`), sent
/// on a connection to the guest's address.
fn upstream_request(mut request: Request, to: &Destination) -> Request {
    let upgrade = is_upgrade(request.headers())
        .then(|| request.headers().get(header::UPGRADE).cloned())
        .flatten();
    let uri = Uri::from(
        request
            .uri()
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/")),
    );
    let cookies = guest_cookies(request.headers());
    let headers = request.headers_mut();
    strip_hop_by_hop(headers);
    headers.remove(header::COOKIE);
    headers.remove(header::AUTHORIZATION);
    headers.remove(header::HOST);
    if let Some(cookies) = cookies {
        headers.insert(header::COOKIE, cookies);
    }
    headers.insert(header::HOST, to.public_host.clone());
    headers.insert("x-forwarded-host", to.public_host.clone());
    headers.insert(
        "x-forwarded-proto",
        HeaderValue::from_static(if to.secure { "https" } else { "http" }),
    );
    // Only the peer we saw: what a client claims before us is not trusted.
    if let Ok(peer) = HeaderValue::from_str(&to.peer.to_string()) {
        headers.insert("x-forwarded-for", peer);
    }
    headers.remove("forwarded");
    headers.append(header::VIA, to.via.0.clone());
    if let Some(protocol) = upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, protocol);
    }
    *request.uri_mut() = uri;
    // The guest speaks HTTP/1.1, whatever the browser spoke to us.
    *request.version_mut() = Version::HTTP_11;
    request.map(|body| {
        // Most requests have no body: nothing to time or count.
        if body.is_end_stream() {
            Body::empty()
        } else {
            Body::new(TimeoutBody::new(READ_TIMEOUT, body))
        }
    })
}

/// The guest's answer as the browser gets it.
fn downstream_response<B>(mut response: Response<B>) -> Response<B> {
    let switching = response.status() == axum::http::StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    let upgrade = headers.get(header::UPGRADE).cloned();
    strip_hop_by_hop(headers);
    if switching && let Some(protocol) = upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, protocol);
    }
    // A guest may not set (or clear) dpe's cookies: it shares their site.
    let kept: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter(|v| {
            let text = v.to_str().unwrap_or_default();
            !is_dpe_cookie(text.split(['=', ';']).next().unwrap_or_default())
        })
        .cloned()
        .collect();
    headers.remove(header::SET_COOKIE);
    for value in kept {
        headers.append(header::SET_COOKIE, value);
    }
    response
}

/// Sends `request` to the application and streams its answer back,
/// counting it in `counters`: its status, the time to the answer's head,
/// and the body bytes each way (as they pass, so a download cut short
/// counts what was sent).
pub async fn forward(
    client: &Arc<Upstream>,
    request: Request,
    to: Destination,
    counters: Arc<AppCounters>,
) -> Result<Response<Body>, GatewayError> {
    let started = Instant::now();
    let answer = forward_counted(client, request, to, &counters).await;
    let status = match &answer {
        Ok(response) => response.status().as_u16(),
        Err(GatewayError::Timeout { .. }) => 504,
        Err(GatewayError::Unreachable { .. }) => 502,
        // Never sent: not the application's traffic.
        Err(_) => return answer,
    };
    counters.answered(status, started.elapsed());
    answer
}

/// A body that counts its data frames' bytes with `count`.
fn counted(body: Body, counters: Arc<AppCounters>, count: fn(&AppCounters, u64)) -> Body {
    Body::new(body.map_frame(move |frame| {
        if let Some(data) = frame.data_ref() {
            count(&counters, data.len() as u64);
        }
        frame
    }))
}

async fn forward_counted(
    client: &Arc<Upstream>,
    request: Request,
    to: Destination,
    counters: &Arc<AppCounters>,
) -> Result<Response<Body>, GatewayError> {
    let instance_id = to.instance_id;
    if to.via.seen_in(request.headers()) {
        return Err(GatewayError::Loop { instance_id });
    }
    let mut request = request.map(|body| {
        if body.is_end_stream() {
            body
        } else {
            counted(body, counters.clone(), AppCounters::received)
        }
    });
    let downstream_upgrade = is_upgrade(request.headers())
        .then(|| {
            request
                .extensions_mut()
                .remove::<hyper::upgrade::OnUpgrade>()
        })
        .flatten();
    let upstream = upstream_request(request, &to);
    let guest = SocketAddr::new(to.address, to.port);
    let exchange = async {
        match &downstream_upgrade {
            Some(_) => client.upgrade(guest, upstream).await,
            None => client.send(guest, upstream).await,
        }
    };
    let mut response = match tokio::time::timeout(READ_TIMEOUT, exchange).await {
        Err(_) => return Err(GatewayError::Timeout { instance_id }),
        Ok(Err(source)) => {
            return Err(GatewayError::Unreachable {
                instance_id,
                source,
            });
        }
        Ok(Ok(response)) => response,
    };
    if response.status() == axum::http::StatusCode::SWITCHING_PROTOCOLS
        && let Some(downstream) = downstream_upgrade
    {
        let upstream = hyper::upgrade::on(&mut response);
        let counters = counters.clone();
        tokio::spawn(async move {
            match tokio::try_join!(downstream, upstream) {
                Ok((down, up)) => {
                    let (mut down, mut up) = (TokioIo::new(down), TokioIo::new(up));
                    match tokio::io::copy_bidirectional(&mut down, &mut up).await {
                        Ok((received, sent)) => {
                            counters.received(received);
                            counters.sent(sent);
                        }
                        Err(e) => tracing::debug!(error = %e, "an upgraded connection ended"),
                    }
                }
                Err(e) => tracing::debug!(error = %e, "an upgrade did not complete"),
            }
        });
    }
    let counters = counters.clone();
    Ok(downstream_response(response).map(|body| {
        counted(
            Body::new(TimeoutBody::new(READ_TIMEOUT, body)),
            counters,
            AppCounters::sent,
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpe_cookies_are_kept_from_the_guest() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; __Host-dpe_session=s; dpe_app_20001=g"),
        );
        headers.append(header::COOKIE, HeaderValue::from_static("DokuWiki=w"));
        assert_eq!(
            guest_cookies(&headers).unwrap(),
            HeaderValue::from_static("a=1; DokuWiki=w")
        );
        let mut only_ours = HeaderMap::new();
        only_ours.insert(header::COOKIE, HeaderValue::from_static("dpe_session=s"));
        assert_eq!(guest_cookies(&only_ours), None);
    }

    #[test]
    fn a_request_is_known_again_only_by_the_gateway_it_passed() {
        let (ours, theirs) = (Pseudonym::new(), Pseudonym::new());
        let mut headers = HeaderMap::new();
        assert!(!ours.seen_in(&headers));
        headers.append(
            header::VIA,
            HeaderValue::from_static("1.0 fred, 1.1 p.example.net"),
        );
        headers.append(header::VIA, theirs.0.clone());
        assert!(
            !ours.seen_in(&headers),
            "another appliance's gateway is no loop"
        );
        let to = Destination {
            instance_id: 1,
            address: IpAddr::from([127, 0, 0, 1]),
            port: 80,
            public_host: HeaderValue::from_static("wiki.localhost"),
            secure: false,
            peer: IpAddr::from([127, 0, 0, 1]),
            via: ours.clone(),
        };
        let mut request = Request::new(Body::empty());
        *request.headers_mut() = headers;
        let forwarded = upstream_request(request, &to);
        assert!(ours.seen_in(forwarded.headers()));
        assert_eq!(
            forwarded.headers().get_all(header::VIA).iter().count(),
            3,
            "earlier proxies are kept"
        );
    }

    #[test]
    fn a_guest_cannot_set_dpe_cookies() {
        let mut response = Response::new(());
        let h = response.headers_mut();
        h.append(
            header::SET_COOKIE,
            HeaderValue::from_static("__Host-dpe_session=x; Path=/"),
        );
        h.append(header::SET_COOKIE, HeaderValue::from_static("dpe_app=y"));
        h.append(
            header::SET_COOKIE,
            HeaderValue::from_static("DokuWiki=z; HttpOnly"),
        );
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-private"),
        );
        h.insert("x-private", HeaderValue::from_static("1"));
        let response = downstream_response(response);
        let cookies: Vec<_> = response
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .collect();
        assert_eq!(cookies, [HeaderValue::from_static("DokuWiki=z; HttpOnly")]);
        assert!(
            response.headers().get("x-private").is_none(),
            "named in Connection"
        );
    }
}
