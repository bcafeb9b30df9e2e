//! Server functions of the instance page's Backups section and of the
//! admins' Backups page. A backup and a restore run as tasks; a restore
//! leads to the new instance's page.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::respond;
use crate::error::AppError;
use crate::model::{Accepted, BackupStoreView, BackupView, BackupsView};
#[cfg(feature = "ssr")]
use crate::model::{BackupFilter, BackupStoreSpec, RestoreInPlaceRequest, RestoreRequest};
#[cfg(feature = "ssr")]
use crate::policy::{authorize, rights};
#[cfg(feature = "ssr")]
use crate::service::{BackupService, request_context, service};

#[server(prefix = "/fn", endpoint = "instance_backups")]
pub async fn get_instance_backups(id: i64) -> Result<BackupsView, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::UseInstances>(ctx.principal.as_ref())?;
            service::<dyn BackupService>()?
                .instance_backups(who, id)
                .await
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "start_backup")]
pub async fn start_backup(id: i64) -> Result<Accepted, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::UseInstances>(ctx.principal.as_ref())?;
            service::<dyn BackupService>()?.start_backup(who, id).await
        }
        .await,
    )
}

/// Restores `backup` into a new instance `name` and leads to its page.
#[server(prefix = "/fn", endpoint = "restore_backup")]
pub async fn restore_backup(backup: i64, name: String) -> Result<Accepted, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::Deploy>(ctx.principal.as_ref())?;
            let request = RestoreRequest {
                name,
                size: None,
                owner: None,
            };
            let accepted = service::<dyn BackupService>()?
                .restore_backup(who, backup, request)
                .await?;
            leptos_axum::redirect(&format!("/instances/{}", accepted.id));
            Ok(accepted)
        }
        .await,
    )
}

/// Restores one of the instance's backups over it, and stays on its page
/// (the live feed shows the task).
#[server(prefix = "/fn", endpoint = "restore_in_place")]
pub async fn restore_in_place(id: i64, backup: i64) -> Result<Accepted, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::UseInstances>(ctx.principal.as_ref())?;
            service::<dyn BackupService>()?
                .restore_in_place(who, id, RestoreInPlaceRequest { backup_id: backup })
                .await
        }
        .await,
    )
}

/// Starts a restore drill of the backup (the live feed shows its end).
#[server(prefix = "/fn", endpoint = "drill_backup")]
pub async fn drill_backup(backup: i64) -> Result<BackupView, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::UseInstances>(ctx.principal.as_ref())?;
            service::<dyn BackupService>()?
                .drill_backup(who, backup)
                .await
        }
        .await,
    )
}

/// Chooses the backup store (admins): `kind` is `local`, `directory`
/// (with `path`) or `nfs` (with `server` and `export`).
#[server(prefix = "/fn", endpoint = "set_backup_store")]
pub async fn set_backup_store(
    kind: String,
    #[server(default)] path: String,
    #[server(default)] server: String,
    #[server(default)] export: String,
) -> Result<BackupStoreView, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageBackups>(ctx.principal.as_ref())?;
            let spec = match kind.as_str() {
                "local" => BackupStoreSpec::Local,
                "directory" => BackupStoreSpec::Directory { path },
                "nfs" => BackupStoreSpec::Nfs { server, export },
                _ => return Err(AppError::invalid("kind", "local, directory or nfs")),
            };
            service::<dyn BackupService>()?
                .set_backup_store(who, spec)
                .await
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "verify_backup")]
pub async fn verify_backup(backup: i64) -> Result<BackupView, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::UseInstances>(ctx.principal.as_ref())?;
            service::<dyn BackupService>()?
                .verify_backup(who, backup)
                .await
        }
        .await,
    )
}

/// Every backup the caller may see, failed and damaged first; and, for
/// admins, the backup store.
#[server(prefix = "/fn", endpoint = "all_backups")]
pub async fn get_all_backups() -> Result<(Vec<BackupView>, Option<BackupStoreView>), AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::UseInstances>(ctx.principal.as_ref())?;
            let backups = service::<dyn BackupService>()?;
            let list = backups.backups(who, BackupFilter::default()).await?;
            let store = match authorize::<rights::ManageBackups>(ctx.principal.as_ref()) {
                Ok(admin) => Some(backups.backup_store(admin).await?),
                Err(_) => None,
            };
            Ok((list, store))
        }
        .await,
    )
}
