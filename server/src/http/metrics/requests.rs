//! The portal's requests, counted by kind of method and class of status:
//! a counter that lives as long as the process (Prometheus handles its
//! restart to zero).

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use std::sync::Arc;

/// `method` is `read` or `write`, `status` its class (`2xx`...): a few
/// series, whatever the paths and methods asked for.
pub type RequestLabels = [(&'static str, &'static str); 2];

#[derive(Clone, Debug, Default)]
pub struct RequestCounts {
    pub(super) family: Family<RequestLabels, Counter>,
}

impl RequestCounts {
    fn count(&self, method: &Method, status: u16) {
        let method = if method.is_safe() { "read" } else { "write" };
        let status = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.family
            .get_or_create(&[("method", method), ("status", status)])
            .inc();
    }
}

/// Counts each request once its answer's status is known.
pub async fn count(
    State(counts): State<Arc<RequestCounts>>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let response = next.run(request).await;
    counts.count(&method, response.status().as_u16());
    response
}
