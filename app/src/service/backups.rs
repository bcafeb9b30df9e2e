//! Instances' backups: list them, start one now, check one, restore one
//! into a new instance; and the policies that schedule them. Backups are
//! shown to whoever may use their instance, and stay (with their
//! instance's owner and department) after the instance is deleted.

use async_trait::async_trait;

use crate::error::AppError;
use crate::model::{
    Accepted, BackupFilter, BackupPolicy, BackupStoreSpec, BackupStoreView, BackupView,
    BackupsView, DepartmentBackupPolicy, RestoreInPlaceRequest, RestoreRequest,
};
use crate::policy::{Authorized, rights};

#[async_trait]
pub trait BackupService: Send + Sync + 'static {
    /// The instance's backups, newest first, and its policy; `NotFound`
    /// when `who` may not use the instance.
    async fn instance_backups(
        &self,
        who: Authorized<'_, rights::UseInstances>,
        instance: i64,
    ) -> Result<BackupsView, AppError>;
    /// Backs the instance up now, as a task: the backup's id and the
    /// task's. `Conflict` while it is busy.
    async fn start_backup(
        &self,
        who: Authorized<'_, rights::UseInstances>,
        instance: i64,
    ) -> Result<Accepted, AppError>;
    /// The backups `who` may see (of deleted instances too), newest
    /// first; failed and damaged ones first for admins' attention.
    async fn backups(
        &self,
        who: Authorized<'_, rights::UseInstances>,
        filter: BackupFilter,
    ) -> Result<Vec<BackupView>, AppError>;
    /// Checks the backup's file (and those it builds on) against their
    /// checksums now; the backup as it then stands.
    async fn verify_backup(
        &self,
        who: Authorized<'_, rights::UseInstances>,
        backup: i64,
    ) -> Result<BackupView, AppError>;
    /// Makes a new instance from the backup, as a task: the new
    /// instance's id and the task's. `Conflict` for a damaged or
    /// unfinished backup; `QuotaExceeded` as a deploy would be.
    async fn restore_backup(
        &self,
        who: Authorized<'_, rights::Deploy>,
        backup: i64,
        request: RestoreRequest,
    ) -> Result<Accepted, AppError>;
    /// Restores one of the instance's backups over it, as a task: the
    /// instance's id and the task's. Its internal snapshots go; its disk
    /// as it is now is kept as a snapshot. `Conflict` for a damaged or
    /// unfinished backup, another instance's, or a busy instance.
    async fn restore_in_place(
        &self,
        who: Authorized<'_, rights::UseInstances>,
        instance: i64,
        request: RestoreInPlaceRequest,
    ) -> Result<Accepted, AppError>;
    /// Starts a restore drill of the backup now: it is restored into a
    /// throwaway guest on an isolated network, checked, and destroyed;
    /// the backup as it then stands (its drill running). `Conflict` while
    /// another drill runs, or for a damaged or unfinished backup.
    async fn drill_backup(
        &self,
        who: Authorized<'_, rights::UseInstances>,
        backup: i64,
    ) -> Result<BackupView, AppError>;
    /// The backup store and how full it is.
    async fn backup_store(
        &self,
        who: Authorized<'_, rights::ManageBackups>,
    ) -> Result<BackupStoreView, AppError>;
    /// Chooses where new backups go, once every host has the store's
    /// pool started; the store as it then stands. `Invalid` for a path or
    /// server that cannot be one, or a host that cannot use the store
    /// (which changes nothing).
    async fn set_backup_store(
        &self,
        who: Authorized<'_, rights::ManageBackups>,
        spec: BackupStoreSpec,
    ) -> Result<BackupStoreView, AppError>;
    /// The default policy: what departments without their own follow.
    async fn default_backup_policy(
        &self,
        who: Authorized<'_, rights::ManageBackups>,
    ) -> Result<BackupPolicy, AppError>;
    async fn set_default_backup_policy(
        &self,
        who: Authorized<'_, rights::ManageBackups>,
        policy: BackupPolicy,
    ) -> Result<BackupPolicy, AppError>;
    /// A department's own policy and the one that applies to it.
    async fn department_backup_policy(
        &self,
        who: Authorized<'_, rights::ManageMembers>,
        department: i64,
    ) -> Result<DepartmentBackupPolicy, AppError>;
    /// Sets the department's own policy, or (`None`) makes it follow its
    /// parent's again.
    async fn set_department_backup_policy(
        &self,
        who: Authorized<'_, rights::ManageMembers>,
        department: i64,
        policy: Option<BackupPolicy>,
    ) -> Result<DepartmentBackupPolicy, AppError>;
}
