//! Server functions of an instance's Lease section and a department's
//! lease policy.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::respond;
use crate::error::AppError;
#[cfg(feature = "ssr")]
use crate::model::{ExtendRequest, LeasePolicy, SetLeasePolicy};
use crate::model::{InstanceView, LeasePolicyView};
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

#[server(prefix = "/fn", endpoint = "lease_policy")]
pub async fn get_lease_policy(id: i64) -> Result<LeasePolicyView, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageMembers>(ctx.principal.as_ref())?;
            service::<dyn LeaseService>()?.lease_policy(who, id).await
        }
        .await,
    )
}

/// The department page's lease policy form: `inherit` checked clears the
/// department's own policy; otherwise the fields are it (an empty lease:
/// no lease).
#[server(prefix = "/fn", endpoint = "save_lease_policy")]
pub async fn save_lease_policy(
    id: i64,
    #[server(default)] inherit: Option<String>,
    #[server(default)] lease_days: String,
    #[server(default)] extendable: Option<String>,
    #[server(default)] max_days: String,
    #[server(default)] grace_days: String,
    #[server(default)] follow_use_days: String,
) -> Result<LeasePolicyView, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageDepartments>(ctx.principal.as_ref())?;
            let days = |field: &str, text: &str| -> Result<Option<u32>, AppError> {
                let text = text.trim();
                if text.is_empty() {
                    return Ok(None);
                }
                text.parse()
                    .map(Some)
                    .map_err(|_| AppError::invalid(field, "a whole number of days"))
            };
            let policy = match inherit {
                Some(_) => None,
                None => Some(LeasePolicy {
                    lease_days: days("lease_days", &lease_days)?,
                    extendable: extendable.is_some(),
                    max_days: days("max_days", &max_days)?
                        .ok_or_else(|| AppError::invalid("max_days", "required"))?,
                    grace_days: days("grace_days", &grace_days)?
                        .unwrap_or(crate::model::DEFAULT_GRACE_DAYS),
                    follow_use_days: days("follow_use_days", &follow_use_days)?.unwrap_or(0),
                }),
            };
            service::<dyn LeaseService>()?
                .set_lease_policy(who, id, SetLeasePolicy { policy })
                .await
        }
        .await,
    )
}
