//! Server functions of an instance's Lease section.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::respond;
use crate::error::AppError;
#[cfg(feature = "ssr")]
use crate::model::ExtendRequest;
use crate::model::InstanceView;
#[cfg(feature = "ssr")]
use crate::policy::{authorize, rights};
#[cfg(feature = "ssr")]
use crate::service::{LeaseService, request_context, service};

/// The form's date (`YYYY-MM-DD`, a date input's value): the lease then
/// ends at the end of that day, UTC.
#[server(prefix = "/fn", endpoint = "extend_lease")]
pub async fn extend_lease(id: i64, until: String) -> Result<InstanceView, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ExtendLease>(ctx.principal.as_ref())?;
            let date = until.trim();
            if date.is_empty() {
                return Err(AppError::invalid("expires_at", "choose a date"));
            }
            let request = ExtendRequest {
                expires_at: format!("{date}T23:59:59Z"),
            };
            service::<dyn LeaseService>()?
                .extend(who, id, request)
                .await
        }
        .await,
    )
}
