//! The server function of an instance's console page (its terminal talks
//! over a WebSocket of its own, `server/src/http/console.rs`).

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::respond;
use crate::error::AppError;
use crate::model::ConsoleView;
#[cfg(feature = "ssr")]
use crate::policy::{authorize, rights};
#[cfg(feature = "ssr")]
use crate::service::{ConsoleService, request_context, service};

#[server(prefix = "/fn", endpoint = "console")]
pub async fn get_console(id: i64) -> Result<ConsoleView, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::UseInstances>(ctx.principal.as_ref())?;
            service::<dyn ConsoleService>()?.console_page(who, id).await
        }
        .await,
    )
}
