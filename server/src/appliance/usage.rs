//! `UsageService`: an instance's use over time, for whoever may use it,
//! a department's use of its quota, for whoever manages it, and each
//! host's own figures, for appliance admins.

use app::error::AppError;
use app::model::{DepartmentUsageSeries, HostUsageSeries, UsageRange, UsageSeries};
use app::policy::{Authorized, may_manage, rights};
use app::service::UsageService;
use async_trait::async_trait;

use super::Appliance;
use super::errors::store_err;
use crate::store::{StoreError, department_usage, departments, host_usage, hosts, traffic, usage};

#[async_trait]
impl UsageService for Appliance {
    async fn instance_usage(
        &self,
        who: Authorized<'_, rights::UseInstances>,
        instance: i64,
        range: UsageRange,
    ) -> Result<UsageSeries, AppError> {
        let until = self.engine.now();
        let (points, traffic) = self
            .read_visible(&who, instance, move |c, row| {
                Ok((
                    usage::series(c, row.id, range, until)?,
                    traffic::series(c, row.id, range, until)?,
                ))
            })
            .await?;
        Ok(UsageSeries {
            range,
            tier_seconds: range.tier_seconds(),
            until,
            points,
            traffic,
        })
    }

    async fn department_usage(
        &self,
        who: Authorized<'_, rights::ManageMembers>,
        department: i64,
        range: UsageRange,
    ) -> Result<DepartmentUsageSeries, AppError> {
        if !may_manage(who.principal(), Some(department)) {
            return Err(AppError::NotFound("department".into()));
        }
        let until = self.engine.now();
        let points = self
            .store
            .read(move |c| {
                departments::get(c, department)?.ok_or(StoreError::NotFound("department"))?;
                department_usage::series(c, department, range, until)
            })
            .await
            .map_err(store_err)?;
        Ok(DepartmentUsageSeries {
            range,
            tier_seconds: range.tier_seconds(),
            until,
            points,
        })
    }

    async fn hosts_usage(
        &self,
        _who: Authorized<'_, rights::ManageHosts>,
        range: UsageRange,
    ) -> Result<Vec<HostUsageSeries>, AppError> {
        let until = self.engine.now();
        self.store
            .read(move |c| {
                let mut all = Vec::new();
                for h in hosts::list(c)? {
                    all.push(HostUsageSeries {
                        host_id: h.id,
                        points: host_usage::series(c, h.id, range, until)?,
                        host: h.name,
                        range,
                        tier_seconds: range.tier_seconds(),
                        until,
                    });
                }
                all.sort_by(|a, b| a.host.cmp(&b.host));
                Ok(all)
            })
            .await
            .map_err(store_err)
    }
}
