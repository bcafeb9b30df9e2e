//! Server functions: the portal's calls to the server. Each one asks
//! [`crate::policy::authorize`] for the right it needs and passes the proof
//! it gets to its one call on the one capability of the service it needs
//! (see [`crate::service`]); without the proof that call does not compile.
//! Those that take none are public by design and say why.
//! They all sit under `/fn/` so they never mix with the REST API at `/api/v1/`.

// A server function takes one argument per form field (forms post them
// flat), and the macro writes a client function with as many.
#![allow(clippy::too_many_arguments)]

pub mod approvals;
pub mod backups;
pub mod console;
pub mod hosts;
pub mod leases;
pub mod notifications;
pub mod org;
pub mod passkeys;
pub mod pool;
pub mod resize;
pub mod second_factor;
pub mod snapshots;
pub mod usage;
pub mod versions;

use leptos::prelude::*;

use crate::error::AppError;
#[cfg(feature = "ssr")]
use crate::model::SetupRequest;
use crate::model::{Dashboard, HostProbe, Me, SetupStatus, TokensView};
#[cfg(feature = "ssr")]
use crate::policy::{authorize, rights};
#[cfg(feature = "ssr")]
use crate::service::{
    DashboardService, InstanceService, SecretShown, SessionService, SetupService, TokenService,
    ZoneService, request_context, service,
};

#[server(prefix = "/fn", endpoint = "setup_status")]
pub async fn get_setup_status() -> Result<SetupStatus, AppError> {
    respond(
        async move {
            // Public: the wizard needs it before any account exists.
            service::<dyn SetupService>()?.setup_status().await
        }
        .await,
    )
}

// One argument per field of the wizard's form, which posts them flat (the
// module allows the count, for the client function the macro writes too).
#[server(prefix = "/fn", endpoint = "complete_setup")]
pub async fn complete_setup(
    setup_code: String,
    appliance_name: String,
    admin_username: String,
    admin_password: String,
    admin_password_repeat: String,
    host_uri: String,
    storage_dir: String,
    network: String,
    #[server(default)] apps_domain: String,
) -> Result<(), AppError> {
    respond(
        async move {
            // Public while setup is incomplete; the service refuses it afterwards,
            // inside the same transaction that would complete it.
            if admin_password != admin_password_repeat {
                return Err(AppError::invalid(
                    "admin_password_repeat",
                    "the two passwords differ",
                ));
            }
            let request = SetupRequest {
                setup_code,
                appliance_name,
                admin_username,
                admin_password,
                host_uri,
                storage_dir: Some(storage_dir),
                network: Some(network),
                // Empty: the default, per-instance ports.
                apps: Some(apps_domain.trim())
                    .filter(|d| !d.is_empty())
                    .map(|domain| crate::model::AppsAddressing::Domain {
                        domain: domain.to_owned(),
                    }),
            };
            let ctx = request_context().await?;
            service::<dyn SetupService>()?
                .complete_setup(&ctx, request)
                .await?;
            leptos_axum::redirect("/login");
            Ok(())
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "probe_host")]
pub async fn probe_host(uri: String, setup_code: Option<String>) -> Result<HostProbe, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            // During setup no account exists yet, and the setup code stands
            // in for one; afterwards only admins probe. The service decides
            // which, as it alone knows the state.
            service::<dyn SetupService>()?
                .probe_host(&ctx, uri, setup_code)
                .await
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "sign_in")]
pub async fn sign_in(
    username: String,
    password: String,
    #[server(default)] next: String,
) -> Result<Me, AppError> {
    respond(
        async move {
            // Anyone may try; the service throttles per account and per address.
            let ctx = request_context().await?;
            let me = service::<dyn SessionService>()?
                .sign_in(&ctx, username, password)
                .await?;
            leptos_axum::redirect(crate::validate::local_path(&next));
            Ok(me)
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "sign_out")]
pub async fn sign_out() -> Result<(), AppError> {
    respond(
        async move {
            // Ending one's own session needs no permission beyond holding it.
            let ctx = request_context().await?;
            service::<dyn SessionService>()?.sign_out(&ctx).await?;
            leptos_axum::redirect("/login");
            Ok(())
        }
        .await,
    )
}

/// Changes the signed-in account's password; its other sessions end and
/// its API tokens are revoked.
#[server(prefix = "/fn", endpoint = "change_password")]
pub async fn change_password(
    current_password: String,
    new_password: String,
    repeated: String,
) -> Result<(), AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ViewSelf>(ctx.principal.as_ref())?;
            if new_password != repeated {
                return Err(AppError::invalid(
                    "repeated",
                    "does not match the new password",
                ));
            }
            service::<dyn SessionService>()?
                .change_password(&ctx, who, current_password, new_password)
                .await
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "me")]
pub async fn get_me() -> Result<Option<Me>, AppError> {
    respond(
        async move {
            // Anonymous callers get None: the shell shows the sign-in link.
            let ctx = request_context().await?;
            Ok(ctx.principal.as_ref().map(Me::from))
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "dashboard")]
pub async fn get_dashboard() -> Result<Dashboard, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ViewDashboard>(ctx.principal.as_ref())?;
            service::<dyn DashboardService>()?.dashboard(who).await
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "tokens")]
pub async fn get_tokens(
    #[server(default)] query: crate::model::TokenQuery,
) -> Result<TokensView, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageOwnTokens>(ctx.principal.as_ref())?;
            service::<dyn TokenService>()?
                .tokens_view(&ctx, who, query)
                .await
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "create_token")]
pub async fn create_token(
    name: String,
    expires_in_days: Option<String>,
    #[server(default)] code: Option<String>,
    #[server(default)] scope: Option<String>,
) -> Result<(), AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageOwnTokens>(ctx.principal.as_ref())?;
            // The secret is shown once, by the next `get_tokens`, so that the page
            // shows it the same way with and without JavaScript.
            // The form's choice: a number of days, or "never" (as when the
            // field is left out).
            let days = match expires_in_days.as_deref().map(str::trim) {
                None | Some("never" | "") => None,
                Some(days) => Some(days.parse::<u32>().map_err(|_| {
                    AppError::invalid("expires_in_days", "a number of days, or never")
                })?),
            };
            // The form's choice; left out, everything the account may do.
            let scope = match scope.as_deref().map(str::trim) {
                None | Some("") => crate::model::TokenScope::Full,
                Some(scope) => scope.parse().map_err(|_| {
                    AppError::invalid("scope", "full, or metrics (reading /metrics only)")
                })?,
            };
            service::<dyn TokenService>()?
                .create_token(
                    &ctx,
                    who,
                    crate::model::TokenRequest {
                        name,
                        scope,
                        expires_in_days: days,
                        code,
                    },
                    SecretShown::OnTheNextPage,
                )
                .await
                .map(|_| ())
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "revoke_token")]
pub async fn revoke_token(id: i64) -> Result<(), AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageOwnTokens>(ctx.principal.as_ref())?;
            service::<dyn TokenService>()?.revoke_token(who, id).await
        }
        .await,
    )
}

/// Answers a failed server function with the error's own HTTP status
/// (leptos would send 500 for all), so logs and tools see 401, 422...
/// Plain form posts (JavaScript off) keep Leptos' redirect back to the form.
#[cfg(feature = "ssr")]
fn respond<T>(result: Result<T, AppError>) -> Result<T, AppError> {
    let form_post = use_context::<axum::http::request::Parts>().is_some_and(|parts| {
        parts
            .headers
            .get(axum::http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"))
    });
    if let Err(err) = &result
        && let Some(response) = use_context::<leptos_axum::ResponseOptions>()
    {
        if !form_post && let Ok(status) = axum::http::StatusCode::from_u16(err.status()) {
            response.set_status(status);
        }
        // A form post keeps its redirect, so tell the server's audit
        // layer about the refusal by a header it removes.
        if form_post && *err == AppError::Forbidden {
            response.insert_header(
                axum::http::HeaderName::from_static(crate::service::REFUSED_HEADER),
                axum::http::HeaderValue::from_static("1"),
            );
        }
    }
    result
}

#[server(prefix = "/fn", endpoint = "stack")]
pub async fn get_stack() -> Result<crate::model::StackInfo, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::RequestDeploy>(ctx.principal.as_ref())?;
            service::<dyn InstanceService>()?.stack(who).await
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "deploy")]
pub async fn deploy_instance(
    name: String,
    size: String,
    #[server(default)] params: std::collections::BTreeMap<String, String>,
    #[server(default)] zone: Option<String>,
) -> Result<crate::model::DeployAccepted, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::RequestDeploy>(ctx.principal.as_ref())?;
            let zone = match zone.as_deref() {
                None | Some("") => None,
                Some(text) => Some(
                    text.parse::<crate::model::NetworkZone>()
                        .map_err(|_| AppError::invalid("zone", "choose inside or outside"))?,
                ),
            };
            let request = crate::model::DeployRequest {
                name,
                size,
                params,
                network: None,
                zone,
            };
            let accepted = service::<dyn InstanceService>()?
                .deploy(who, request)
                .await?;
            leptos_axum::redirect(&format!("/instances/{}", accepted.id));
            Ok(accepted)
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "instances")]
pub async fn list_instances(
    // Every field of the query may be absent, and then so is the query.
    #[server(default)] query: crate::model::InstanceQuery,
) -> Result<crate::model::Page<crate::model::InstanceListItem>, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::UseInstances>(ctx.principal.as_ref())?;
            let page = service::<dyn InstanceService>()?
                .instances(who, query)
                .await?;
            Ok(page.map(crate::model::InstanceListItem::from))
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "instance")]
pub async fn get_instance(id: i64) -> Result<crate::model::InstanceView, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::UseInstances>(ctx.principal.as_ref())?;
            service::<dyn InstanceService>()?.instance(who, id).await
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "task")]
pub async fn get_task(id: i64) -> Result<crate::model::TaskView, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::UseInstances>(ctx.principal.as_ref())?;
            service::<dyn InstanceService>()?.task(who, id).await
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "instance_action")]
pub async fn instance_action(id: i64, action: String) -> Result<i64, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::UseInstances>(ctx.principal.as_ref())?;
            use crate::model::TaskKind;
            let kind = match action.parse::<TaskKind>().ok() {
                Some(
                    kind @ (TaskKind::Start
                    | TaskKind::Shutdown
                    | TaskKind::Reboot
                    | TaskKind::Poweroff
                    | TaskKind::Delete),
                ) => kind,
                // Deploys, snapshot work, moves and resizes have server functions of
                // their own.
                Some(
                    TaskKind::Deploy
                    | TaskKind::Snapshot
                    | TaskKind::Revert
                    | TaskKind::DeleteSnapshot
                    | TaskKind::Backup
                    | TaskKind::Restore
                    | TaskKind::RestoreInPlace
                    | TaskKind::Move
                    | TaskKind::Resize,
                )
                | None => {
                    return Err(AppError::invalid("action", "unknown action"));
                }
            };
            let task = service::<dyn InstanceService>()?.act(who, id, kind).await?;
            if kind == crate::model::TaskKind::Delete {
                leptos_axum::redirect("/instances");
            }
            Ok(task)
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "zones")]
pub async fn get_zones() -> Result<crate::model::ZonesView, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ViewDashboard>(ctx.principal.as_ref())?;
            service::<dyn ZoneService>()?.zones(who).await
        }
        .await,
    )
}

/// The networks page's form; every field arrives as text so a typo gets
/// its own message rather than a decoding error.
#[server(prefix = "/fn", endpoint = "set_outside_zone")]
pub async fn set_outside_zone(
    bridge: String,
    first_address: String,
    last_address: String,
    prefix_len: String,
    #[server(default)] gateway: String,
    #[server(default)] dns: String,
) -> Result<crate::model::ZonesView, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageNetworks>(ctx.principal.as_ref())?;
            let prefix_len = prefix_len
                .trim()
                .parse::<u8>()
                .map_err(|_| AppError::invalid("prefix_len", "must be between 1 and 30"))?;
            let settings = crate::model::OutsideZoneSettings {
                bridge,
                first_address,
                last_address,
                prefix_len,
                gateway: Some(gateway),
                dns: vec![dns],
            };
            service::<dyn ZoneService>()?
                .set_outside_zone(who, settings)
                .await
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "clear_outside_zone")]
pub async fn clear_outside_zone() -> Result<(), AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageNetworks>(ctx.principal.as_ref())?;
            service::<dyn ZoneService>()?.clear_outside_zone(who).await
        }
        .await,
    )
}

/// The instance page's "Who may open it" form: one field, the share's
/// text, so an unknown one gets its own message.
#[server(prefix = "/fn", endpoint = "patch_instance")]
pub async fn patch_instance(
    id: i64,
    share: String,
) -> Result<crate::model::InstanceView, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::UseInstances>(ctx.principal.as_ref())?;
            let share = <crate::model::Share as std::str::FromStr>::from_str(share.trim())
                .map_err(|_| AppError::invalid("share", "choose who may open it"))?;
            let patch = crate::model::InstancePatch { share: Some(share) };
            service::<dyn InstanceService>()?
                .patch(who, id, patch)
                .await
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "apps_settings")]
pub async fn get_apps_settings() -> Result<crate::model::AppsSettings, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            // Any signed-in account may read where applications open.
            let who = authorize::<rights::ViewSelf>(ctx.principal.as_ref())?;
            service::<dyn InstanceService>()?.apps_settings(who).await
        }
        .await,
    )
}

/// The settings page's form: `mode` is `ports` (with `first` and `last`)
/// or `domain` (with `domain`); every field arrives as text so a typo
/// gets its own message rather than a decoding error.
#[server(prefix = "/fn", endpoint = "set_apps_settings")]
pub async fn set_apps_settings(
    portal_origin: String,
    mode: String,
    #[server(default)] first: String,
    #[server(default)] last: String,
    #[server(default)] domain: String,
) -> Result<crate::model::AppsSettings, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ConfigureGateway>(ctx.principal.as_ref())?;
            let port = |field: &str, text: &str| {
                text.trim()
                    .parse::<u16>()
                    .map_err(|_| AppError::invalid(field, "a port number, from 1024 to 65535"))
            };
            let addressing = match mode.trim() {
                "ports" => crate::model::AppsAddressing::Ports {
                    first: port("first", &first)?,
                    last: port("last", &last)?,
                },
                "domain" => crate::model::AppsAddressing::Domain { domain },
                _ => return Err(AppError::invalid("mode", "choose ports or a domain")),
            };
            let settings = crate::model::AppsSettings {
                portal_origin,
                addressing,
            };
            service::<dyn InstanceService>()?
                .set_apps_settings(who, settings)
                .await
        }
        .await,
    )
}
