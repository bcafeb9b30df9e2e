//! HTTPS: the rustls server configuration (ring provider) from PEM files,
//! and the plain-HTTP listener that sends every request to HTTPS.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::Request;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_server::tls_rustls::RustlsConfig;
use rustls_ring::pki_types::pem::PemObject;
use rustls_ring::pki_types::{CertificateDer, PrivateKeyDer};

pub fn server_config(cert: &Path, key: &Path) -> anyhow::Result<RustlsConfig> {
    Ok(RustlsConfig::from_config(Arc::new(rustls_config(
        cert, key,
    )?)))
}

/// The rustls server configuration from PEM files: HTTP/2 and HTTP/1.1.
pub fn rustls_config(cert: &Path, key: &Path) -> anyhow::Result<rustls_ring::ServerConfig> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("cannot read the certificate {}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("cannot read the private key {}", key.display()))?;
    let provider = Arc::new(rustls_ring::crypto::ring::default_provider());
    let mut config = rustls_ring::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("the certificate and key do not make a TLS configuration")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// The HTTPS URL for a plain-HTTP request: same host, the HTTPS port
/// (left out when 443), same path and query.
fn https_target(host: Option<&str>, uri: &Uri, https_port: u16) -> Option<String> {
    let authority: axum::http::uri::Authority = host?.parse().ok()?;
    let port = match https_port {
        443 => String::new(),
        p => format!(":{p}"),
    };
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    Some(format!("https://{}{port}{path}", authority.host()))
}

async fn redirect(request: Request, https_port: u16) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok());
    match https_target(host, request.uri(), https_port) {
        Some(target) => Redirect::permanent(&target).into_response(),
        None => (StatusCode::BAD_REQUEST, "use https://").into_response(),
    }
}

/// Starts the redirecting listener; the task ends with the process.
pub async fn serve_redirect(
    addr: SocketAddr,
    https_port: u16,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    tracing::info!("redirecting http://{} to https", listener.local_addr()?);
    let app = Router::new().fallback(move |request: Request| redirect(request, https_port));
    Ok(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the HTTP redirect stopped");
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_keep_host_path_and_query_and_drop_the_default_port() {
        let uri: Uri = "/instances?x=1".parse().unwrap();
        assert_eq!(
            https_target(Some("dpe.example.org:80"), &uri, 443).as_deref(),
            Some("https://dpe.example.org/instances?x=1")
        );
        assert_eq!(
            https_target(Some("192.0.2.7"), &uri, 8443).as_deref(),
            Some("https://192.0.2.7:8443/instances?x=1")
        );
        assert_eq!(https_target(Some("bad host/"), &uri, 443), None);
        assert_eq!(https_target(None, &uri, 443), None);
    }
}
