//! Server functions of the Versions page (appliance admins): the stack's
//! versions, a look for new ones, and which one deploys use.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::respond;
use crate::error::AppError;
use crate::model::StackVersions;
#[cfg(feature = "ssr")]
use crate::policy::{authorize, rights};
#[cfg(feature = "ssr")]
use crate::service::{StackVersionService, request_context, service};

#[server(prefix = "/fn", endpoint = "stack_versions")]
pub async fn get_stack_versions() -> Result<StackVersions, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageStackVersions>(ctx.principal.as_ref())?;
            service::<dyn StackVersionService>()?
                .stack_versions(who)
                .await
        }
        .await,
    )
}

/// Registers the images built into the image directory since the last look.
#[server(prefix = "/fn", endpoint = "scan_stack_versions")]
pub async fn scan_stack_versions() -> Result<StackVersions, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageStackVersions>(ctx.principal.as_ref())?;
            service::<dyn StackVersionService>()?
                .scan_stack_versions(who)
                .await
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "make_stack_version_current")]
pub async fn make_stack_version_current(id: i64) -> Result<StackVersions, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageStackVersions>(ctx.principal.as_ref())?;
            service::<dyn StackVersionService>()?
                .make_stack_version_current(who, id)
                .await
        }
        .await,
    )
}
