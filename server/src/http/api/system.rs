use std::sync::Arc;

use app::model::SetupRequest;
use app::service::{RequestContext, SetupService};
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Serialize;

use super::{ApiJson, ApiResult};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always "ok" when the server answers.
    pub status: &'static str,
    pub setup_complete: bool,
    pub version: &'static str,
}

/// Liveness, and whether the first-boot setup is done. No authentication.
#[utoipa::path(get, path = "/api/v1/health", tag = "system",
    responses((status = 200, body = Health)))]
pub async fn health(State(service): State<Arc<dyn SetupService>>) -> Json<Health> {
    Json(Health {
        status: "ok",
        setup_complete: service.is_set_up(),
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// Completes the first-boot setup in one atomic step. Allowed to anyone
/// until it succeeds, then never again (409).
#[utoipa::path(post, path = "/api/v1/setup", tag = "system", request_body = SetupRequest,
    responses((status = 201, description = "set up"),
              (status = 409, body = super::ErrorBody), (status = 422, body = super::ErrorBody)))]
pub async fn setup(
    State(service): State<Arc<dyn SetupService>>,
    Extension(ctx): Extension<RequestContext>,
    ApiJson(request): ApiJson<SetupRequest>,
) -> ApiResult<StatusCode> {
    // Authorization is the state itself: only a fresh appliance accepts it,
    // checked again inside the transaction that completes it.
    service.complete_setup(&ctx, request).await?;
    Ok(StatusCode::CREATED)
}
