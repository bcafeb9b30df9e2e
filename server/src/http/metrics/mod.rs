//! `GET /metrics`: dpe's figures for a Prometheus server, in the
//! OpenMetrics text format. Outside `/api/v1`, where Prometheus looks; read
//! with a metrics-scoped token (or an admin's full one).

mod exposition;
mod requests;

use std::sync::Arc;

use app::policy::{authorize, rights};
use app::service::{MetricsService, RequestContext};
use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

pub use requests::{RequestCounts, count};

use super::api::ApiResult;

/// Where Prometheus scrapes.
pub const PATH: &str = "/metrics";

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// dpe's figures now: counts by state, task totals, the store's size and
/// each instance's and host's latest use.
#[utoipa::path(get, path = "/metrics", tag = "metrics",
    responses((status = 200, content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8",
               body = String, description = "The OpenMetrics exposition"),
              (status = 401, body = super::api::ErrorBody,
               description = "No token, or an unknown, expired or malformed one"),
              (status = 403, body = super::api::ErrorBody,
               description = "Not an appliance admin's token")),
    security(("bearer" = []), ("session" = [])))]
pub async fn metrics(
    State(service): State<Arc<dyn MetricsService>>,
    State(requests): State<Arc<RequestCounts>>,
    Extension(ctx): Extension<RequestContext>,
) -> ApiResult<Response> {
    let who = authorize::<rights::ReadMetrics>(ctx.principal.as_ref())?;
    let snapshot = service.metrics_snapshot(who).await?;
    let text = exposition::render(&snapshot, &requests);
    Ok((
        [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
        text,
    )
        .into_response())
}
