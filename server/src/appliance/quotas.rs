//! Quotas as their holders see them, and the default quota of accounts in
//! no department. Only the store is read: no host is asked.

use app::error::AppError;
use app::model::{Principal, Role};
use app::org::{Quota, QuotaUse};
use app::policy::{Authorized, rights};
use app::service::QuotaService;
use app::validate;
use async_trait::async_trait;

use super::Appliance;
use super::errors::store_err;
use crate::store::audit::Audit;
use crate::store::{StoreError, departments, quotas, users};
use rusqlite::Connection;

/// Whose quotas: enough of a principal to read them inside another read
/// (the dashboard's).
#[derive(Clone, Copy)]
pub(super) struct Binding {
    user_id: i64,
    department: Option<i64>,
    role: Role,
}

impl Binding {
    pub(super) fn of(who: &Principal) -> Binding {
        Binding {
            user_id: who.user_id,
            department: who.department_id,
            role: who.role,
        }
    }

    pub(super) fn read(self, c: &Connection) -> Result<Vec<QuotaUse>, StoreError> {
        let Binding {
            user_id,
            department,
            role,
        } = self;
        let own = users::by_id(c, user_id)?
            .map(|u| u.quota)
            .unwrap_or_default();
        let usage = quotas::user_usage(c, user_id)?;
        let mut uses = vec![QuotaUse {
            scope: "Your instances".into(),
            quota: own,
            usage,
        }];
        if quotas::bound_by_default_quota(role, department) {
            uses.push(QuotaUse {
                scope: "Accounts in no department (each)".into(),
                quota: quotas::default_quota(c)?,
                usage,
            });
        }
        if let Some(d) = department {
            for dept in departments::ancestry(c, d)? {
                uses.push(QuotaUse {
                    scope: format!("Department {}", dept.name),
                    quota: dept.quota,
                    usage: quotas::department_usage(c, dept.id)?,
                });
            }
        }
        Ok(uses)
    }
}

#[async_trait]
impl QuotaService for Appliance {
    /// The quotas that bind `who`: their own, then each department up the
    /// tree, with what is in use.
    async fn quotas(
        &self,
        who: Authorized<'_, rights::ViewSelf>,
    ) -> Result<Vec<QuotaUse>, AppError> {
        let who = who.principal();
        let binding = Binding::of(who);
        self.store
            .read(move |c| binding.read(c))
            .await
            .map_err(store_err)
    }

    async fn default_quota(
        &self,
        _who: Authorized<'_, rights::ManageDepartments>,
    ) -> Result<Quota, AppError> {
        self.store
            .read(quotas::default_quota)
            .await
            .map_err(store_err)
    }

    async fn set_default_quota(
        &self,
        who: Authorized<'_, rights::ManageDepartments>,
        quota: Quota,
    ) -> Result<Quota, AppError> {
        let who = who.principal();
        validate::quota("body", &quota)?;
        self.store
            .write(move |tx| quotas::set_default_quota(tx, &quota))
            .await
            .map_err(store_err)?;
        let record = Audit::by(who)
            .action("quota.default")
            .object("accounts in no department")
            .detail(format!("quota: {quota}"))
            .ok();
        self.audit(record).await;
        Ok(quota)
    }
}
