//! Server functions of the Hosts page (appliance admins): the hosts, dpe's
//! side of a remote host's trust, a `qemu+tls` host's server certificate,
//! adding a host, draining and resuming one, letting the reconciler
//! remove what it kept after a restored store; and moving an instance to
//! another host (the instance page, for the same admins). Each
//! authorizes, then makes one call.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::respond;
use crate::error::AppError;
#[cfg(feature = "ssr")]
use crate::model::{AddHost, HostMode, MoveRequest, ServerCertificateRequest};
use crate::model::{Adopted, HostCredentialsView, HostStatus, Leftovers, ServerCertificateBundle};
#[cfg(feature = "ssr")]
use crate::policy::{authorize, rights};
#[cfg(feature = "ssr")]
use crate::service::{HostService, request_context, service};

#[server(prefix = "/fn", endpoint = "get_hosts")]
pub async fn get_hosts() -> Result<Vec<HostStatus>, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageHosts>(ctx.principal.as_ref())?;
            service::<dyn HostService>()?.hosts(who).await
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "get_host_credentials")]
pub async fn get_host_credentials() -> Result<HostCredentialsView, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageHosts>(ctx.principal.as_ref())?;
            service::<dyn HostService>()?.host_credentials(who).await
        }
        .await,
    )
}

/// The server certificate of the `qemu+tls` host `host`, with its key
/// (shown once) and what to install where.
#[server(prefix = "/fn", endpoint = "issue_host_certificate")]
pub async fn issue_host_certificate(host: String) -> Result<ServerCertificateBundle, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageHosts>(ctx.principal.as_ref())?;
            service::<dyn HostService>()?
                .issue_server_certificate(who, ServerCertificateRequest { host })
                .await
        }
        .await,
    )
}

/// Adds a host; empty optional fields are absent.
#[server(prefix = "/fn", endpoint = "add_pool_host")]
pub async fn add_pool_host(
    uri: String,
    storage_dir: String,
    network: String,
    #[server(default)] name: Option<String>,
    #[server(default)] ssh_host_key: Option<String>,
) -> Result<HostStatus, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageHosts>(ctx.principal.as_ref())?;
            let given = |text: Option<String>| text.filter(|t| !t.trim().is_empty());
            let request = AddHost {
                name: given(name),
                uri,
                storage_dir,
                network,
                ssh_host_key: given(ssh_host_key),
            };
            service::<dyn HostService>()?.add_host(who, request).await
        }
        .await,
    )
}

/// Drains host `id` (`mode` = `draining`) or resumes it (`active`).
#[server(prefix = "/fn", endpoint = "set_host_mode")]
pub async fn set_host_mode(id: i64, mode: String) -> Result<HostStatus, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageHosts>(ctx.principal.as_ref())?;
            let mode = mode
                .parse::<HostMode>()
                .map_err(|_| AppError::invalid("mode", "draining or active"))?;
            service::<dyn HostService>()?
                .set_host_mode(who, id, mode)
                .await
        }
        .await,
    )
}

/// Records kept guest `instance_uuid` as an instance of the owner its
/// metadata names.
#[server(prefix = "/fn", endpoint = "adopt_leftover")]
pub async fn adopt_leftover(instance_uuid: String) -> Result<Adopted, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageHosts>(ctx.principal.as_ref())?;
            service::<dyn HostService>()?
                .adopt_leftover(
                    who,
                    crate::model::AdoptRequest {
                        instance_uuid,
                        owner: None,
                    },
                )
                .await
        }
        .await,
    )
}

/// Lets the reconciler remove what it keeps after a restored store.
#[server(prefix = "/fn", endpoint = "release_leftovers")]
pub async fn release_leftovers() -> Result<Leftovers, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageHosts>(ctx.principal.as_ref())?;
            service::<dyn HostService>()?.release_leftovers(who).await
        }
        .await,
    )
}

/// Moves instance `id` to host `host`: the task's id.
#[server(prefix = "/fn", endpoint = "move_instance")]
pub async fn move_instance(id: i64, host: i64) -> Result<i64, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageHosts>(ctx.principal.as_ref())?;
            service::<dyn HostService>()?
                .move_instance(who, id, MoveRequest { host })
                .await
        }
        .await,
    )
}
