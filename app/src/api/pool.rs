//! Server functions of the warm pool's card on the dashboard (appliance
//! admins). Targets arrive as text per size, so that a typo gets its own
//! message, not a decoding error.

use std::collections::BTreeMap;

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::respond;
use crate::error::AppError;
#[cfg(feature = "ssr")]
use crate::model::PoolTargets;
use crate::model::PoolView;
#[cfg(feature = "ssr")]
use crate::policy::{authorize, rights};
#[cfg(feature = "ssr")]
use crate::service::{PoolService, request_context, service};

#[server(prefix = "/fn", endpoint = "get_pool")]
pub async fn get_pool() -> Result<PoolView, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManagePool>(ctx.principal.as_ref())?;
            service::<dyn PoolService>()?.pool(who).await
        }
        .await,
    )
}

/// `targets[SIZE]=N` for each size; an empty field keeps none.
#[server(prefix = "/fn", endpoint = "set_pool_targets")]
pub async fn set_pool_targets(
    #[server(default)] targets: BTreeMap<String, String>,
) -> Result<PoolView, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManagePool>(ctx.principal.as_ref())?;
            let mut parsed = BTreeMap::new();
            for (size, text) in targets {
                let text = text.trim();
                let count = if text.is_empty() {
                    0
                } else {
                    text.parse().map_err(|_| {
                        AppError::invalid(
                            &format!("targets.{size}"),
                            "use a whole number of 0 or more",
                        )
                    })?
                };
                parsed.insert(size, count);
            }
            service::<dyn PoolService>()?
                .set_pool_targets(who, PoolTargets { targets: parsed })
                .await
        }
        .await,
    )
}
