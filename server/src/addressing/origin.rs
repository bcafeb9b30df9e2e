//! Web origins (scheme, host, port), to tell the portal's own pages from
//! other sites' on state-changing requests.
//!
//! A request names the authority it was sent to in its URI (HTTP/2's
//! `:authority`, HTTP/1.1's absolute form) or, in HTTP/1.1's usual form, in
//! `Host`. HTTP/2 requests carry no `Host` at all, so both must be read.

use axum::http::header::HOST;
use axum::http::uri::{Authority, Scheme};
use axum::http::{HeaderMap, Uri};

/// A browser origin, as in the `Origin` header: its parts compared, not its
/// spelling (`https://DPE.lan:443` is `https://dpe.lan`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebOrigin {
    secure: bool,
    host: String,
    port: u16,
}

impl WebOrigin {
    /// Parses `http[s]://host[:port]`, with nothing after it but an optional
    /// `/`. Anything else (`null`, a path, a user) is `None`.
    pub fn parse(text: &str) -> Option<WebOrigin> {
        let uri: Uri = text.parse().ok()?;
        let path_is_empty = uri
            .path_and_query()
            .is_none_or(|p| p.as_str().is_empty() || p.as_str() == "/");
        let scheme = uri.scheme()?;
        let secure = if *scheme == Scheme::HTTPS {
            true
        } else if *scheme == Scheme::HTTP {
            false
        } else {
            return None;
        };
        let authority = uri.authority()?;
        if !path_is_empty || authority.as_str().contains('@') {
            return None;
        }
        Some(WebOrigin::at(secure, authority))
    }

    pub fn secure(&self) -> bool {
        self.secure
    }

    /// Lower-case.
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The origin with another host or port (an application's, beside the
    /// portal's).
    pub fn with(&self, host: &str, port: u16) -> WebOrigin {
        WebOrigin {
            secure: self.secure,
            host: host.to_ascii_lowercase(),
            port,
        }
    }

    /// The origin of a page served at `authority` over HTTPS or HTTP.
    pub fn at(secure: bool, authority: &Authority) -> WebOrigin {
        let default_port = if secure { 443 } else { 80 };
        WebOrigin {
            secure,
            host: authority.host().to_ascii_lowercase(),
            port: authority.port_u16().unwrap_or(default_port),
        }
    }

    /// The origin a request was addressed to, on a listener that serves
    /// HTTPS (`secure`) or plain HTTP: the URI's authority when it has one
    /// (always over HTTP/2), else the `Host` header.
    pub fn of_request(secure: bool, uri: &Uri, headers: &HeaderMap) -> Option<WebOrigin> {
        if let Some(authority) = uri.authority() {
            return Some(WebOrigin::at(secure, authority));
        }
        let host: Authority = headers.get(HOST)?.to_str().ok()?.parse().ok()?;
        Some(WebOrigin::at(secure, &host))
    }
}

/// Where the portal's own pages come from.
#[derive(Clone, Debug)]
pub enum PortalOrigin {
    /// `public_origin`, for a portal behind a proxy that serves it there.
    Configured(WebOrigin),
    /// Whatever authority each request was sent to, on the listener's
    /// scheme.
    Listener { secure: bool },
}

impl PortalOrigin {
    /// The portal's origin as far as this request is concerned.
    pub fn for_request(&self, uri: &Uri, headers: &HeaderMap) -> Option<WebOrigin> {
        match self {
            PortalOrigin::Configured(origin) => Some(origin.clone()),
            PortalOrigin::Listener { secure } => WebOrigin::of_request(*secure, uri, headers),
        }
    }
}

impl std::fmt::Display for WebOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.secure { "https" } else { "http" };
        match (self.secure, self.port) {
            (true, 443) | (false, 80) => write!(f, "{scheme}://{}", self.host),
            (true | false, port) => write!(f, "{scheme}://{}:{port}", self.host),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn host(value: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(HOST, HeaderValue::from_static(value));
        h
    }

    #[test]
    fn origins_compare_by_scheme_host_and_port() {
        let a = WebOrigin::parse("https://DPE.lan").unwrap();
        assert_eq!(a, WebOrigin::parse("https://dpe.lan:443/").unwrap());
        assert_ne!(a, WebOrigin::parse("http://dpe.lan:443").unwrap());
        assert_ne!(a, WebOrigin::parse("https://dpe.lan:8443").unwrap());
        assert_ne!(a, WebOrigin::parse("https://evil.example").unwrap());
        assert_eq!(a.to_string(), "https://dpe.lan");
        assert_eq!(
            WebOrigin::parse("http://[::1]:8080").unwrap().to_string(),
            "http://[::1]:8080"
        );
    }

    #[test]
    fn what_is_not_an_origin_is_refused() {
        for bad in [
            "null",
            "",
            "dpe.lan",
            "https://dpe.lan/path",
            "https://user@dpe.lan",
            "ftp://dpe.lan",
            "https://",
        ] {
            assert_eq!(WebOrigin::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn an_http2_request_is_addressed_by_its_uri_without_a_host_header() {
        let uri: Uri = "https://127.0.0.1:18443/api/v1/setup".parse().unwrap();
        let origin = WebOrigin::of_request(true, &uri, &HeaderMap::new()).unwrap();
        assert_eq!(origin, WebOrigin::parse("https://127.0.0.1:18443").unwrap());
    }

    #[test]
    fn an_http1_request_is_addressed_by_its_host_header() {
        let uri: Uri = "/api/v1/setup".parse().unwrap();
        let origin = WebOrigin::of_request(false, &uri, &host("dpe.lan:8080")).unwrap();
        assert_eq!(origin, WebOrigin::parse("http://dpe.lan:8080").unwrap());
        // The listener's scheme decides the default port.
        let origin = WebOrigin::of_request(true, &uri, &host("dpe.lan")).unwrap();
        assert_eq!(origin, WebOrigin::parse("https://dpe.lan").unwrap());
        assert_eq!(WebOrigin::of_request(true, &uri, &HeaderMap::new()), None);
        assert_eq!(WebOrigin::of_request(true, &uri, &host("bad host/")), None);
    }
}
