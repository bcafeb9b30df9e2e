//! Directory accounts: signing in, and the re-check that takes back what
//! the directory no longer vouches for (periodically, and when a token is
//! used after the last check has grown old).

use std::time::Duration;

use app::error::AppError;
use app::model::{AccountSource, Role};
use app::org::DirectorySettings;
use app::validate;

use super::Appliance;
use super::errors::store_err;
use crate::auth::directory::{self, DirectoryAccount, DirectoryError};
use crate::auth::password;
use crate::blocking::run_blocking;
use crate::error_chain;
use crate::store::audit::Audit;
use crate::store::now;
use crate::store::users::{self, UserRow};

/// Where the directory's groups place an account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Placement {
    /// In this department (or none, when there are no mappings), with or
    /// without its admin role.
    Mapped {
        department: Option<i64>,
        department_admin: bool,
    },
    /// In none of the mapped groups: not an account of this appliance.
    Unmapped,
}

fn placement(settings: &DirectorySettings, account: &DirectoryAccount) -> Placement {
    if settings.group_mappings.is_empty() {
        return Placement::Mapped {
            department: None,
            department_admin: false,
        };
    }
    let groups: Vec<String> = account.groups.iter().map(|g| g.to_lowercase()).collect();
    let matched: Vec<_> = settings
        .group_mappings
        .iter()
        .filter(|m| groups.contains(&m.group_dn.trim().to_lowercase()))
        .collect();
    // An admin mapping wins over a member one.
    let chosen = matched
        .iter()
        .find(|m| m.role == Role::DepartmentAdmin)
        .or(matched.first());
    match chosen {
        Some(m) => Placement::Mapped {
            department: Some(m.department_id),
            department_admin: m.role == Role::DepartmentAdmin,
        },
        None => Placement::Unmapped,
    }
}

/// What one re-check found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Recheck {
    Confirmed,
    /// Still vouched for, in another department or role now.
    Moved,
    /// Its entry or its mapped group is gone.
    Withdrawn,
}

/// What a re-check pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecheckReport {
    pub confirmed: usize,
    pub moved: usize,
    pub withdrawn: usize,
}

impl Appliance {
    pub(super) async fn directory_settings(&self) -> Result<Option<DirectorySettings>, AppError> {
        let secrets = self.secrets.clone();
        self.store
            .read(move |c| crate::store::directory::get(c, &secrets))
            .await
            .map_err(store_err)
    }

    /// Signs `account` in against the directory, creating or refreshing its
    /// local record (department and role from the mapped groups). `None`
    /// for no directory, an unknown account, a wrong password, or an
    /// account in none of the mapped groups.
    pub(super) async fn directory_sign_in(
        &self,
        account: &str,
        password: &str,
    ) -> Result<Option<UserRow>, AppError> {
        let Some(settings) = self.directory_settings().await? else {
            // Spend the time a check would, so the answer does not tell
            // whether the name exists.
            let password = password.to_owned();
            run_blocking(move || password::verify(None, &password)).await;
            return Ok(None);
        };
        if validate::username("username", account).is_err() {
            return Ok(None);
        }
        let found = directory::authenticate(&settings, account, password)
            .await
            .map_err(unreachable)?;
        let Some(found) = found else {
            return Ok(None);
        };
        let Placement::Mapped {
            department,
            department_admin,
        } = placement(&settings, &found)
        else {
            tracing::info!(account, "directory account in none of the mapped groups");
            return Ok(None);
        };
        let name = account.to_owned();
        let mail = found.mail.clone();
        // With no mappings anyone in the directory may sign in, and so may
        // deploy only once someone grants it.
        let may_deploy_when_new = !settings.group_mappings.is_empty();
        let row = self
            .store
            .write(move |tx| {
                users::upsert_directory_account(
                    tx,
                    &name,
                    department,
                    department_admin,
                    may_deploy_when_new,
                    mail.as_deref(),
                )
            })
            .await
            .map_err(store_err)?;
        Ok((row.source == AccountSource::Directory).then_some(row))
    }

    /// How long the directory's word on an account holds.
    fn recheck_after(&self) -> Duration {
        Duration::from_secs(u64::from(self.config.directory_recheck_minutes) * 60)
    }

    /// Asks the directory again about every directory account it has not
    /// vouched for within `max_age`. Stops at the first directory error:
    /// an unreachable directory withdraws nobody.
    pub async fn recheck_directory(&self, max_age: Duration) -> Result<RecheckReport, AppError> {
        let mut report = RecheckReport::default();
        let Some(settings) = self.directory_settings().await? else {
            return Ok(report);
        };
        let cutoff = now() - i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX);
        let stale = self
            .store
            .read(move |c| users::directory_accounts_checked_before(c, cutoff))
            .await
            .map_err(store_err)?;
        for user in stale {
            match self
                .recheck_account(&settings, user)
                .await
                .map_err(unreachable)?
            {
                Recheck::Confirmed => report.confirmed += 1,
                Recheck::Moved => report.moved += 1,
                Recheck::Withdrawn => report.withdrawn += 1,
            }
        }
        Ok(report)
    }

    /// The periodic pass: logs what it did, or why it could not.
    pub async fn recheck_directory_now(&self) {
        match self.recheck_directory(self.recheck_after()).await {
            Ok(RecheckReport {
                confirmed,
                moved,
                withdrawn,
            }) if moved + withdrawn > 0 => {
                tracing::info!(confirmed, moved, withdrawn, "re-checked directory accounts");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not re-check directory accounts"),
        }
    }

    /// `user` as it stands after asking the directory again, when the last
    /// answer is older than `directory_recheck_minutes`; `None` when the
    /// directory no longer vouches for it.
    pub(super) async fn recheck_if_stale(
        &self,
        user: UserRow,
    ) -> Result<Option<UserRow>, AppError> {
        let max_age = i64::try_from(self.recheck_after().as_secs()).unwrap_or(i64::MAX);
        let fresh = user
            .directory_checked_at
            .is_some_and(|at| now().saturating_sub(at) < max_age);
        if user.source != AccountSource::Directory || fresh {
            return Ok(Some(user));
        }
        let Some(settings) = self.directory_settings().await? else {
            return Ok(Some(user));
        };
        let id = user.id;
        match self
            .recheck_account(&settings, user)
            .await
            .map_err(unreachable)?
        {
            Recheck::Withdrawn => Ok(None),
            Recheck::Confirmed | Recheck::Moved => self
                .store
                .read(move |c| users::by_id(c, id))
                .await
                .map_err(store_err),
        }
    }

    async fn recheck_account(
        &self,
        settings: &DirectorySettings,
        user: UserRow,
    ) -> Result<Recheck, DirectoryError> {
        let found = directory::lookup(settings, &user.username).await?;
        let (outcome, action, why) = match found.as_ref().map(|a| placement(settings, a)) {
            Some(Placement::Mapped {
                department,
                department_admin,
            }) => {
                let id = user.id;
                self.store
                    .write(move |tx| {
                        users::confirm_directory_account(tx, id, department, department_admin)
                    })
                    .await
                    .map_err(|e| DirectoryError::Store(Box::new(e)))?;
                let same =
                    user.department_id == department && user.department_admin == department_admin;
                if same {
                    return Ok(Recheck::Confirmed);
                }
                (
                    Recheck::Moved,
                    "directory.move",
                    "its groups now place it elsewhere",
                )
            }
            Some(Placement::Unmapped) => {
                self.withdraw(user.id).await?;
                (
                    Recheck::Withdrawn,
                    "directory.withdraw",
                    "it is in none of the mapped groups now",
                )
            }
            None => {
                self.withdraw(user.id).await?;
                (
                    Recheck::Withdrawn,
                    "directory.withdraw",
                    "its directory entry is gone",
                )
            }
        };
        let record = Audit::by_appliance()
            .action(action)
            .object(format!("user {}", user.username))
            .detail(why)
            .department(user.department_id)
            .ok();
        self.audit(record).await;
        Ok(outcome)
    }

    async fn withdraw(&self, id: i64) -> Result<(), DirectoryError> {
        self.store
            .write(move |tx| users::withdraw_directory_account(tx, id))
            .await
            .map_err(|e| DirectoryError::Store(Box::new(e)))
    }
}

fn unreachable(e: DirectoryError) -> AppError {
    tracing::warn!(error = %error_chain(&e), "the directory could not be asked");
    AppError::Unavailable(
        "the directory server cannot be reached; local accounts still sign in".into(),
    )
}
