//! `BackupService`: instances' backups, for whoever may use the instance
//! (and, once it is deleted, whoever could: its owner and the admins of
//! its department); the backup store and the policies, for admins. Each
//! change is audited.

use app::error::AppError;
use app::model::{
    Accepted, BackupFilter, BackupPolicy, BackupStoreSpec, BackupStoreView, BackupView,
    BackupsView, DepartmentBackupPolicy, DrillView, Principal, RestoreInPlaceRequest,
    RestoreRequest, Role, TaskKind,
};
use app::policy::{Authorized, may_manage, may_use, rights};
use app::service::BackupService;
use app::validate;
use async_trait::async_trait;

use super::Appliance;
use super::errors::{engine_err, refusal_err, store_err};
use crate::clock::rfc3339;
use crate::engine::EngineError;
use crate::engine::Refusal;
use crate::engine::backup_admission::{RestoreInPlacePlan, RestorePlan};
use crate::store::StoreError;
use crate::store::audit::Audit;
use crate::store::backups::{self, BackupRow};
use crate::store::{departments, users};

/// The most backups one list answers with.
const LIST_LIMIT: u32 = 500;

fn seconds(at: i64) -> String {
    rfc3339(at)
}

fn view_of(row: BackupRow) -> BackupView {
    BackupView {
        id: row.id,
        instance_id: row.instance_id,
        instance_name: row.instance_name,
        kind: row.kind,
        state: row.state,
        parent_id: row.parent_id,
        reason: row.reason,
        size_bytes: row.size_bytes,
        duration_ms: row.duration_ms,
        frozen_ms: row.frozen_ms,
        sha256: row.sha256,
        damaged: row.damaged,
        verified_at: row.verified_at.map(seconds),
        error: row.error,
        created_at: seconds(row.created_at),
        finished_at: row.finished_at.map(seconds),
        created_by: row.created_by,
        drill: row.drill.map(|(state, at, note)| DrillView {
            state,
            at: seconds(at),
            note,
        }),
    }
}

/// Whether `who` may see the backup: as they may its instance, judged by
/// the owner and department the backup keeps.
fn may_see(who: &Principal, row: &BackupRow) -> bool {
    may_use(who, row.owner_id, row.department_id)
}

impl Appliance {
    /// The backup, when `who` may see it; `NotFound` otherwise.
    async fn visible_backup(&self, who: &Principal, id: i64) -> Result<BackupRow, AppError> {
        self.store
            .read(move |c| backups::by_id(c, id))
            .await
            .map_err(store_err)?
            .filter(|row| may_see(who, row))
            .ok_or_else(|| AppError::NotFound("backup".into()))
    }

    async fn audit_backup(&self, record: Audit) {
        self.audit(record.ok()).await;
    }

    /// Whose restored instance it is: `who`, or the account named, which
    /// an admin may name freely and a department admin from their
    /// departments. The owner's id and department.
    async fn restore_owner(
        &self,
        who: &Principal,
        owner: Option<&str>,
    ) -> Result<(i64, Option<i64>), AppError> {
        let Some(name) = owner.filter(|n| *n != who.username) else {
            return Ok((who.user_id, who.department_id));
        };
        let name = name.to_owned();
        let row = self
            .store
            .read(move |c| users::by_name(c, &name))
            .await
            .map_err(store_err)?;
        match row {
            Some(u)
                if !u.disabled && may_manage(who, u.department_id) && who.role != Role::User =>
            {
                Ok((u.id, u.department_id))
            }
            _ => Err(AppError::invalid(
                "owner",
                "no account of that name that you may restore for",
            )),
        }
    }
}

#[async_trait]
impl BackupService for Appliance {
    async fn instance_backups(
        &self,
        who: Authorized<'_, rights::UseInstances>,
        instance: i64,
    ) -> Result<BackupsView, AppError> {
        let (rows, policy) = self
            .read_visible(&who, instance, |c, row| {
                Ok((
                    backups::of_instance(c, &row.uuid)?,
                    backups::effective_policy(c, row.department_id)?,
                ))
            })
            .await?;
        Ok(BackupsView {
            backups: rows.into_iter().map(view_of).collect(),
            policy: Some(policy),
        })
    }

    async fn start_backup(
        &self,
        who: Authorized<'_, rights::UseInstances>,
        instance: i64,
    ) -> Result<Accepted, AppError> {
        let who = who.principal();
        let row = self.instance_for(who, instance, TaskKind::Backup).await?;
        match self
            .engine
            .submit_backup(row.id, Some(who.user_id), crate::store::now())
            .await
        {
            Ok(accepted) => {
                let record = Audit::by(who)
                    .action("instance.backup")
                    .object(format!("instance {}, backup #{}", row.name, accepted.id))
                    .department(row.department_id);
                self.audit_backup(record).await;
                Ok(accepted)
            }
            Err(EngineError::Store(StoreError::Duplicate(_))) => Err(AppError::Conflict(format!(
                "{} is busy with another task; try again when it ends",
                row.name
            ))),
            Err(e) => Err(engine_err(e)),
        }
    }

    async fn backups(
        &self,
        who: Authorized<'_, rights::UseInstances>,
        filter: BackupFilter,
    ) -> Result<Vec<BackupView>, AppError> {
        let who = who.principal();
        let uuid = match filter.instance {
            Some(id) => Some(self.visible_instance(who, id).await?.uuid),
            None => None,
        };
        let rows = self
            .store
            .read(move |c| backups::matching(c, &filter, uuid.as_deref(), LIST_LIMIT))
            .await
            .map_err(store_err)?;
        Ok(rows
            .into_iter()
            .filter(|row| may_see(who, row))
            .map(view_of)
            .collect())
    }

    async fn verify_backup(
        &self,
        who: Authorized<'_, rights::UseInstances>,
        backup: i64,
    ) -> Result<BackupView, AppError> {
        let who = who.principal();
        let row = self.visible_backup(who, backup).await?;
        let damaged = self
            .engine
            .verify_backup(row.id)
            .await
            .map_err(engine_err)?;
        let record = Audit::by(who)
            .action("backup.verify")
            .object(format!(
                "instance {}, backup #{}",
                row.instance_name, row.id
            ))
            .department(row.department_id)
            .detail(if damaged.is_empty() {
                "sound".to_owned()
            } else {
                format!("damaged: {damaged:?}")
            });
        self.audit_backup(record).await;
        let row = self.visible_backup(who, backup).await?;
        Ok(view_of(row))
    }

    async fn restore_backup(
        &self,
        who: Authorized<'_, rights::Deploy>,
        backup: i64,
        request: RestoreRequest,
    ) -> Result<Accepted, AppError> {
        let who = who.principal();
        let row = self.visible_backup(who, backup).await?;
        let name = validate::dns_label("name", &request.name)?;
        let stack = self.engine.stack().clone();
        let size = stack
            .size(request.size.as_deref().unwrap_or(&row.size))?
            .clone();
        let (owner_id, department_id) = self.restore_owner(who, request.owner.as_deref()).await?;
        let plan = RestorePlan {
            backup_id: row.id,
            name: name.clone(),
            size,
            owner_id,
            department_id,
        };
        let record = Audit::by(who)
            .action("backup.restore")
            .object(format!("instance {name}, from backup #{}", row.id))
            .department(department_id);
        match self.engine.submit_restore(plan).await {
            Ok(Ok(accepted)) => {
                self.audit_backup(record.detail(format!("of instance {}", row.instance_name)))
                    .await;
                Ok(accepted)
            }
            Ok(Err(refusal)) => {
                self.audit(record.detail(refusal.to_string()).refused())
                    .await;
                match refusal {
                    Refusal::Quota(exceeded) => Err(AppError::QuotaExceeded(format!(
                        "Restore refused: {exceeded}"
                    ))),
                    other => Err(refusal_err(other)),
                }
            }
            Err(EngineError::Store(StoreError::Duplicate(_))) => Err(AppError::invalid(
                "name",
                format!("an instance named {name} exists"),
            )),
            Err(e) => Err(engine_err(e)),
        }
    }

    async fn restore_in_place(
        &self,
        who: Authorized<'_, rights::UseInstances>,
        instance: i64,
        request: RestoreInPlaceRequest,
    ) -> Result<Accepted, AppError> {
        let who = who.principal();
        let row = self
            .instance_for(who, instance, TaskKind::RestoreInPlace)
            .await?;
        // A backup the caller may not see is one that does not exist.
        let backup = self.visible_backup(who, request.backup_id).await?;
        let plan = RestoreInPlacePlan {
            instance_id: row.id,
            backup_id: backup.id,
            by: who.user_id,
            snapshot_limit: self.config.snapshot_limit,
        };
        let record = Audit::by(who)
            .action("instance.restore")
            .object(format!("instance {}, from backup #{}", row.name, backup.id))
            .department(row.department_id);
        match self.engine.submit_restore_in_place(plan).await {
            Ok(Ok(accepted)) => {
                self.audit_backup(record).await;
                Ok(accepted)
            }
            Ok(Err(refusal)) => {
                self.audit(record.detail(refusal.to_string()).refused())
                    .await;
                match refusal {
                    Refusal::Quota(exceeded) => Err(AppError::QuotaExceeded(format!(
                        "Restore refused: {exceeded}"
                    ))),
                    other => Err(refusal_err(other)),
                }
            }
            Err(EngineError::Store(StoreError::Duplicate(_))) => Err(AppError::Conflict(format!(
                "{} is busy with another task; try again when it ends",
                row.name
            ))),
            Err(e) => Err(engine_err(e)),
        }
    }

    async fn drill_backup(
        &self,
        who: Authorized<'_, rights::UseInstances>,
        backup: i64,
    ) -> Result<BackupView, AppError> {
        let who = who.principal();
        let row = self.visible_backup(who, backup).await?;
        let record = Audit::by(who)
            .action("backup.drill")
            .object(format!(
                "instance {}, backup #{}",
                row.instance_name, row.id
            ))
            .department(row.department_id);
        match self.engine.submit_drill(row.id).await {
            Ok(()) => self.audit_backup(record).await,
            Err(EngineError::Store(StoreError::Duplicate(_))) => {
                return Err(AppError::Conflict(
                    "a restore drill is under way; one runs at a time, try again when it ends"
                        .into(),
                ));
            }
            Err(e) => return Err(engine_err(e)),
        }
        let row = self.visible_backup(who, backup).await?;
        Ok(view_of(row))
    }

    async fn backup_store(
        &self,
        _who: Authorized<'_, rights::ManageBackups>,
    ) -> Result<BackupStoreView, AppError> {
        self.engine.backup_store().await.map_err(engine_err)
    }

    async fn set_backup_store(
        &self,
        who: Authorized<'_, rights::ManageBackups>,
        spec: BackupStoreSpec,
    ) -> Result<BackupStoreView, AppError> {
        let spec = check_store(spec)?;
        let record = Audit::by(&who)
            .action("backup_store.set")
            .object("the backup store")
            .detail(describe_store(&spec));
        match self.engine.set_backup_store(spec).await {
            Ok(Ok(())) => self.audit_backup(record).await,
            Ok(Err((host, e))) => {
                tracing::warn!(host, error = %crate::error_chain(&e),
                    "a host cannot use the backup store");
                self.audit(
                    record
                        .detail(format!("host {host}: {}", e.for_users()))
                        .refused(),
                )
                .await;
                let field = match e {
                    EngineError::Host(crate::engine::hypervisor::HostError::Unsupported(_)) => {
                        "kind"
                    }
                    _ => "path",
                };
                return Err(AppError::invalid(
                    field,
                    format!("host {host} cannot use this store: {}", e.for_users()),
                ));
            }
            Err(e) => return Err(engine_err(e)),
        }
        self.engine.backup_store().await.map_err(engine_err)
    }

    async fn default_backup_policy(
        &self,
        _who: Authorized<'_, rights::ManageBackups>,
    ) -> Result<BackupPolicy, AppError> {
        self.store
            .read(backups::default_policy)
            .await
            .map_err(store_err)
    }

    async fn set_default_backup_policy(
        &self,
        who: Authorized<'_, rights::ManageBackups>,
        policy: BackupPolicy,
    ) -> Result<BackupPolicy, AppError> {
        check_policy(&policy)?;
        self.store
            .write(move |tx| backups::set_default_policy(tx, &policy))
            .await
            .map_err(store_err)?;
        let record = Audit::by(&who)
            .action("backup_policy.set")
            .object("the default backup policy")
            .detail(describe(&policy));
        self.audit_backup(record).await;
        Ok(policy)
    }

    async fn department_backup_policy(
        &self,
        who: Authorized<'_, rights::ManageMembers>,
        department: i64,
    ) -> Result<DepartmentBackupPolicy, AppError> {
        self.managed_department(&who, department).await?;
        self.store
            .read(move |c| {
                Ok(DepartmentBackupPolicy {
                    own: backups::department_policy(c, department)?,
                    effective: backups::effective_policy(c, Some(department))?,
                })
            })
            .await
            .map_err(store_err)
    }

    async fn set_department_backup_policy(
        &self,
        who: Authorized<'_, rights::ManageMembers>,
        department: i64,
        policy: Option<BackupPolicy>,
    ) -> Result<DepartmentBackupPolicy, AppError> {
        let name = self.managed_department(&who, department).await?;
        if let Some(p) = &policy {
            check_policy(p)?;
        }
        let set = self
            .store
            .write(move |tx| {
                backups::set_department_policy(tx, department, policy.as_ref())?;
                Ok(DepartmentBackupPolicy {
                    own: backups::department_policy(tx, department)?,
                    effective: backups::effective_policy(tx, Some(department))?,
                })
            })
            .await
            .map_err(store_err)?;
        let record = Audit::by(&who)
            .action("backup_policy.set")
            .object(format!("department {name}"))
            .department(Some(department))
            .detail(match &policy {
                Some(p) => describe(p),
                None => "follows its parent's".to_owned(),
            });
        self.audit_backup(record).await;
        Ok(set)
    }
}

impl Appliance {
    /// The department's name, when `who` manages it; `NotFound` otherwise
    /// (a department admin does not learn of others' departments).
    async fn managed_department(&self, who: &Principal, id: i64) -> Result<String, AppError> {
        let row = self
            .store
            .read(move |c| departments::get(c, id))
            .await
            .map_err(store_err)?
            .filter(|_| may_manage(who, Some(id)))
            .ok_or_else(|| AppError::NotFound("department".into()))?;
        Ok(row.name)
    }
}

fn check_policy(p: &BackupPolicy) -> Result<(), AppError> {
    if p.hour > 23 {
        return Err(AppError::invalid("hour", "an hour of the day, 0 to 23"));
    }
    if !(1..=100).contains(&p.keep) {
        return Err(AppError::invalid("keep", "1 to 100 restore points"));
    }
    Ok(())
}

/// The store with its paths tidied; `Invalid` naming the field at fault.
fn check_store(spec: BackupStoreSpec) -> Result<BackupStoreSpec, AppError> {
    let path = |field: &'static str, text: &str| -> Result<String, AppError> {
        let tidy = text.trim().trim_end_matches('/');
        let sound = tidy.starts_with('/')
            && tidy.len() <= 255
            && !tidy.chars().any(char::is_control)
            && tidy
                .split('/')
                .skip(1)
                .all(|part| !part.is_empty() && part != "." && part != "..");
        if sound {
            Ok(tidy.to_owned())
        } else {
            Err(AppError::invalid(
                field,
                "an absolute path, such as /srv/backups, without . or .. in it",
            ))
        }
    };
    match spec {
        BackupStoreSpec::Local => Ok(BackupStoreSpec::Local),
        BackupStoreSpec::Directory { path: p } => Ok(BackupStoreSpec::Directory {
            path: path("path", &p)?,
        }),
        BackupStoreSpec::Nfs { server, export } => {
            let server = server.trim().to_owned();
            let sound = !server.is_empty()
                && server.len() <= 253
                && !server.starts_with(['-', '.'])
                && server
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'));
            if !sound {
                return Err(AppError::invalid(
                    "server",
                    "the NFS server's host name or address",
                ));
            }
            Ok(BackupStoreSpec::Nfs {
                server,
                export: path("export", &export)?,
            })
        }
    }
}

fn describe_store(spec: &BackupStoreSpec) -> String {
    match spec {
        BackupStoreSpec::Local => "beside each host's storage directory".into(),
        BackupStoreSpec::Directory { path } => format!("directory {path} on each host"),
        BackupStoreSpec::Nfs { server, export } => format!("NFS {server}:{export}"),
    }
}

fn describe(p: &BackupPolicy) -> String {
    format!(
        "{} at {:02}:00, keep {}, restore drill {}",
        p.frequency, p.hour, p.keep, p.drill
    )
}
