//! Server functions of an instance's Resize control. A resize runs as a
//! task on the instance; its progress shows as the instance's task.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::respond;
use crate::error::AppError;
#[cfg(feature = "ssr")]
use crate::model::ResizeRequest;
use crate::model::{Accepted, ResizeOptions};
#[cfg(feature = "ssr")]
use crate::policy::{authorize, rights};
#[cfg(feature = "ssr")]
use crate::service::{ResizeService, request_context, service};

#[server(prefix = "/fn", endpoint = "resize_options")]
pub async fn get_resize_options(id: i64) -> Result<ResizeOptions, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ResizeInstances>(ctx.principal.as_ref())?;
            service::<dyn ResizeService>()?
                .resize_options(who, id)
                .await
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "resize")]
pub async fn resize_instance(id: i64, size: String) -> Result<Accepted, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ResizeInstances>(ctx.principal.as_ref())?;
            service::<dyn ResizeService>()?
                .resize(who, id, ResizeRequest { size })
                .await
        }
        .await,
    )
}
