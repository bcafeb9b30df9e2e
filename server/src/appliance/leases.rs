//! Leases: extending an instance's (within its policy, or anywhere for
//! appliance admins), and the lease policies of departments and the
//! appliance. The leases' course itself is the engine's
//! (`engine/leases.rs`).

use app::error::AppError;
use app::model::{
    ExtendRequest, InstanceStatus, InstanceView, LeasePolicy, LeasePolicyView, LeaseStage,
    SetLeasePolicy,
};
use app::policy::{Authorized, lease_extension, may_manage, rights};
use app::service::LeaseService;
use app::validate;
use async_trait::async_trait;
use rusqlite::Connection;

use super::Appliance;
use super::errors::store_err;
use crate::store::audit::Audit;
use crate::store::leases::{self, PolicySource};
use crate::store::{StoreError, departments, instances};

/// Unix seconds of an RFC 3339 date and time.
fn parse_expiry(text: &str) -> Result<i64, AppError> {
    time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|_| {
            AppError::invalid(
                "expires_at",
                "an RFC 3339 date and time, such as 2027-01-31T18:00:00Z",
            )
        })
}

fn view_of(conn: &Connection, department: i64) -> Result<LeasePolicyView, StoreError> {
    let own = leases::own_policy(conn, department)?;
    let (effective, source) = leases::effective(conn, Some(department))?;
    Ok(LeasePolicyView {
        own,
        effective,
        from: match source {
            PolicySource::Department(name) => name,
            PolicySource::ApplianceDefault => "the appliance's default".into(),
        },
    })
}

/// What extending came to, besides a store error.
enum Extended {
    /// The lease now ends there; `revived`: it had expired.
    Done {
        name: String,
        department: Option<i64>,
        revived: bool,
    },
    Refused(AppError),
}

#[async_trait]
impl LeaseService for Appliance {
    async fn extend(
        &self,
        who: Authorized<'_, rights::ExtendLease>,
        id: i64,
        request: ExtendRequest,
    ) -> Result<InstanceView, AppError> {
        let who = who.principal();
        let wanted = parse_expiry(&request.expires_at)?;
        let now = self.engine.now();
        let principal = who.clone();
        // Checked and written in one transaction: the lease pass cannot
        // delete it in between.
        let outcome = self
            .store
            .write(move |tx| {
                let refused = |e| Ok(Extended::Refused(e));
                let Some(row) = instances::by_id(tx, id)? else {
                    return refused(AppError::NotFound("instance".into()));
                };
                let (policy, _) = leases::effective(tx, row.department_id)?;
                if let Err(e) = lease_extension(
                    &principal,
                    row.owner_id,
                    row.department_id,
                    &policy,
                    now,
                    wanted,
                ) {
                    return refused(e);
                }
                let deleting = row.lease.is_some_and(|l| l.stage == LeaseStage::Deleting);
                match row.status {
                    InstanceStatus::Deleting => {
                        return refused(AppError::Conflict(format!(
                            "{} is being deleted",
                            row.name
                        )));
                    }
                    InstanceStatus::Provisioning
                    | InstanceStatus::Ready
                    | InstanceStatus::Failed
                        if deleting =>
                    {
                        return refused(AppError::Conflict(format!(
                            "the grace period of {} is over: it is being deleted",
                            row.name
                        )));
                    }
                    InstanceStatus::Provisioning
                    | InstanceStatus::Ready
                    | InstanceStatus::Failed => {}
                }
                leases::extend(tx, id, wanted)?;
                Ok(Extended::Done {
                    revived: row.lease.is_some_and(|l| l.stage.is_expired()),
                    name: row.name,
                    department: row.department_id,
                })
            })
            .await
            .map_err(store_err)?;
        let (name, department, revived) = match outcome {
            Extended::Done {
                name,
                department,
                revived,
            } => (name, department, revived),
            Extended::Refused(e) => {
                // A refusal of what the caller may see is on the record;
                // one of an instance they may not see tells nothing.
                if !matches!(e, AppError::NotFound(_)) {
                    let record = Audit::by(who)
                        .action("lease.extend")
                        .object(format!("instance {id}"))
                        .detail(e.to_string())
                        .refused();
                    self.audit(record).await;
                }
                return Err(e);
            }
        };
        let record = Audit::by(who)
            .action("lease.extend")
            .object(format!("instance {name}"))
            .department(department)
            .detail(format!(
                "until {}{}",
                request.expires_at.trim(),
                if revived {
                    " (revived after expiry)"
                } else {
                    ""
                }
            ))
            .ok();
        self.audit(record).await;
        let row = self.visible_instance(who, id).await?;
        Ok(self.instance_view(row.into()))
    }

    async fn lease_policy(
        &self,
        who: Authorized<'_, rights::ManageMembers>,
        department: i64,
    ) -> Result<LeasePolicyView, AppError> {
        if !may_manage(who.principal(), Some(department)) {
            return Err(AppError::NotFound("department".into()));
        }
        self.store
            .read(move |c| view_of(c, department))
            .await
            .map_err(store_err)
    }

    async fn set_lease_policy(
        &self,
        who: Authorized<'_, rights::ManageDepartments>,
        department: i64,
        request: SetLeasePolicy,
    ) -> Result<LeasePolicyView, AppError> {
        let who = who.principal();
        if let Some(policy) = &request.policy {
            validate::lease_policy("policy", policy)?;
        }
        let policy = request.policy;
        let (view, name) = self
            .store
            .write(move |tx| {
                let name = departments::get(tx, department)?
                    .ok_or(StoreError::NotFound("department"))?
                    .name;
                leases::set_own_policy(tx, department, policy.as_ref())?;
                Ok((view_of(tx, department)?, name))
            })
            .await
            .map_err(store_err)?;
        let detail = match &view.own {
            Some(p) => format!("lease policy: {}", describe(p)),
            None => format!("lease policy: inherited ({})", view.from),
        };
        let record = Audit::by(who)
            .action("lease.policy")
            .object(format!("department {name}"))
            .department(Some(department))
            .detail(detail)
            .ok();
        self.audit(record).await;
        Ok(view)
    }

    async fn default_lease_policy(
        &self,
        _who: Authorized<'_, rights::ManageMembers>,
    ) -> Result<LeasePolicy, AppError> {
        self.store
            .read(leases::default_policy)
            .await
            .map_err(store_err)
    }

    async fn set_default_lease_policy(
        &self,
        who: Authorized<'_, rights::ManageDepartments>,
        policy: LeasePolicy,
    ) -> Result<LeasePolicy, AppError> {
        validate::lease_policy("body", &policy)?;
        self.store
            .write(move |tx| leases::set_default_policy(tx, &policy))
            .await
            .map_err(store_err)?;
        let record = Audit::by(who.principal())
            .action("lease.policy")
            .object("the appliance's default")
            .detail(format!("lease policy: {}", describe(&policy)))
            .ok();
        self.audit(record).await;
        Ok(policy)
    }
}

/// A policy in words, for the audit log.
fn describe(p: &LeasePolicy) -> String {
    let lease = match p.lease_days {
        Some(d) => format!("{d} days"),
        None => "no lease".into(),
    };
    let extend = match p.extendable {
        true => format!("extendable up to {} days ahead", p.max_days),
        false => "not extendable".into(),
    };
    format!("{lease}, {extend}, {} days' grace", p.grace_days)
}
