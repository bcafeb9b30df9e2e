//! The directory's settings: reading, validating, saving and testing
//! them. Signing in with them is in `directory.rs`.

use app::error::AppError;
use app::model::Role;
use app::org::{DirectorySettings, DirectoryTest, DirectoryView, group_mappings_from_lines};
use app::policy::{Authorized, rights};
use app::service::DirectoryService;
use async_trait::async_trait;

use super::Appliance;
use super::errors::store_err;
use crate::auth::directory;
use crate::error_chain;
use crate::store::audit::Audit;
use crate::store::directory as directory_store;

fn validate_directory(settings: &DirectorySettings) -> Result<(), AppError> {
    if settings.url.trim().len() > 512 {
        return Err(AppError::invalid("url", "is too long"));
    }
    settings
        .transport()
        .map_err(|why| AppError::invalid("url", why))?;
    if settings.user_base.trim().is_empty() {
        return Err(AppError::invalid("user_base", "is required"));
    }
    let filter = settings.user_filter.trim();
    let balanced = filter.chars().try_fold(0i32, |depth, c| match c {
        '(' => Some(depth + 1),
        ')' if depth > 0 => Some(depth - 1),
        ')' => None,
        _ => Some(depth),
    });
    if !(filter.starts_with('(') && filter.ends_with(')') && balanced == Some(0)) {
        return Err(AppError::invalid(
            "user_filter",
            "must be one LDAP filter in parentheses, e.g. (objectClass=inetOrgPerson)",
        ));
    }
    let attribute = &settings.username_attribute;
    if attribute.is_empty()
        || attribute.len() > 64
        || !attribute
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(AppError::invalid(
            "username_attribute",
            "use an attribute name such as uid",
        ));
    }
    for m in &settings.group_mappings {
        if m.group_dn.trim().is_empty() {
            return Err(AppError::invalid("group_mappings", "a group DN is empty"));
        }
        if m.role == Role::Admin {
            return Err(AppError::invalid(
                "group_mappings",
                "groups map to user or department_admin; appliance admins are local accounts",
            ));
        }
    }
    Ok(())
}

impl Appliance {
    /// Fills in the saved bind password when `settings` leave it out, as
    /// forms and the API do to keep it. Only for the same URL and bind DN:
    /// a changed server must never be handed the old secret.
    async fn keep_bind_password(&self, settings: &mut DirectorySettings) -> Result<(), AppError> {
        if settings
            .bind_password
            .as_deref()
            .is_some_and(|p| !p.is_empty())
        {
            return Ok(());
        }
        settings.bind_password = self.directory_settings().await?.and_then(|stored| {
            (stored.url.trim() == settings.url.trim()
                && stored.bind_dn.trim() == settings.bind_dn.trim())
            .then_some(stored.bind_password)
            .flatten()
        });
        Ok(())
    }
}

#[async_trait]
impl DirectoryService for Appliance {
    async fn directory(
        &self,
        _who: Authorized<'_, rights::ManageDirectory>,
    ) -> Result<DirectoryView, AppError> {
        let stored = self.directory_settings().await?;
        let bind_password_set = stored
            .as_ref()
            .is_some_and(|s| s.bind_password.as_deref().is_some_and(|p| !p.is_empty()));
        Ok(DirectoryView {
            settings: stored.map(|s| DirectorySettings {
                bind_password: None,
                ..s
            }),
            bind_password_set,
        })
    }

    async fn set_directory(
        &self,
        who: Authorized<'_, rights::ManageDirectory>,
        mut settings: DirectorySettings,
    ) -> Result<DirectoryView, AppError> {
        validate_directory(&settings)?;
        for m in &settings.group_mappings {
            self.existing_department("group_mappings", m.department_id)
                .await?;
        }
        self.keep_bind_password(&mut settings).await?;
        let url = settings.url.clone();
        let secrets = self.secrets.clone();
        self.store
            .write(move |tx| directory_store::set(tx, &secrets, &settings))
            .await
            .map_err(store_err)?;
        let record = Audit::by(&who)
            .action("directory.set")
            .object(format!("directory {url}"))
            .ok();
        self.audit(record).await;
        self.directory(who).await
    }

    async fn set_directory_from_form(
        &self,
        who: Authorized<'_, rights::ManageDirectory>,
        mut settings: DirectorySettings,
        mapping_lines: String,
    ) -> Result<DirectoryView, AppError> {
        let departments = self.department_views(&who).await?;
        settings.group_mappings = group_mappings_from_lines(&mapping_lines, &departments)?;
        self.set_directory(who, settings).await
    }

    async fn test_directory(
        &self,
        _who: Authorized<'_, rights::ManageDirectory>,
        mut settings: DirectorySettings,
    ) -> Result<DirectoryTest, AppError> {
        validate_directory(&settings)?;
        self.keep_bind_password(&mut settings).await?;
        Ok(match directory::test(&settings).await {
            Ok(accounts) => DirectoryTest {
                ok: true,
                message: format!("Connected and bound; the filter finds {accounts} account(s)."),
                accounts,
            },
            Err(e) => DirectoryTest {
                ok: false,
                message: error_chain(&e),
                accounts: 0,
            },
        })
    }

    async fn test_saved_directory(
        &self,
        who: Authorized<'_, rights::ManageDirectory>,
    ) -> Result<DirectoryTest, AppError> {
        // Read as callers see it (no bind password): test_directory puts
        // the stored one back, as it does for an unchanged form.
        let Some(settings) = self.directory(who).await?.settings else {
            return Err(AppError::Conflict(
                "save the directory settings first".into(),
            ));
        };
        self.test_directory(who, settings).await
    }
}
