//! Server functions of an instance's Usage section, a department's, and
//! the Hosts page's.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::respond;
use crate::error::AppError;
use crate::model::{DepartmentUsageSeries, HostUsageSeries, UsageRange, UsageSeries};
#[cfg(feature = "ssr")]
use crate::policy::{authorize, rights};
#[cfg(feature = "ssr")]
use crate::service::{UsageService, request_context, service};

#[server(prefix = "/fn", endpoint = "usage")]
pub async fn get_usage(id: i64, range: UsageRange) -> Result<UsageSeries, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::UseInstances>(ctx.principal.as_ref())?;
            service::<dyn UsageService>()?
                .instance_usage(who, id, range)
                .await
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "department_usage")]
pub async fn get_department_usage(
    id: i64,
    range: UsageRange,
) -> Result<DepartmentUsageSeries, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageMembers>(ctx.principal.as_ref())?;
            service::<dyn UsageService>()?
                .department_usage(who, id, range)
                .await
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "hosts_usage")]
pub async fn get_hosts_usage(range: UsageRange) -> Result<Vec<HostUsageSeries>, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageHosts>(ctx.principal.as_ref())?;
            service::<dyn UsageService>()?.hosts_usage(who, range).await
        }
        .await,
    )
}
