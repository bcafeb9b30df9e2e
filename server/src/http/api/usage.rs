//! What an instance uses over time, a department's use of its quota, and
//! each host's own figures, for charts and scripts.

use std::sync::Arc;

use app::model::{DepartmentUsageSeries, HostUsageSeries, UsageRange, UsageSeries};
use app::policy::{authorize, rights};
use app::service::{RequestContext, UsageService};
use axum::{Extension, Json};
use serde::Deserialize;

use super::{ApiQuery, ApiResult, IdPath};

/// `GET /api/v1/instances/{id}/usage` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    /// How far back: `hour` (a point every 10 s), `day` (5 minutes) or
    /// `month` (30 days, hourly); `hour` when absent.
    #[serde(default)]
    #[param(inline)]
    pub range: Option<UsageRange>,
}

/// The instance's CPU, memory, disk and network use over the range,
/// oldest first: readings every 10 s while it runs, kept for a day, and
/// their 5 minute and hourly means, kept for a month and a year.
#[utoipa::path(get, path = "/api/v1/instances/{id}/usage", tag = "instances",
    params(("id" = i64, Path), UsageQuery),
    responses((status = 200, body = UsageSeries), (status = 404, body = super::ErrorBody),
              (status = 422, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn of_instance(
    axum::extract::State(service): axum::extract::State<Arc<dyn UsageService>>,
    Extension(ctx): Extension<RequestContext>,
    IdPath(id): IdPath,
    ApiQuery(query): ApiQuery<UsageQuery>,
) -> ApiResult<Json<UsageSeries>> {
    let who = authorize::<rights::UseInstances>(ctx.principal.as_ref())?;
    let range = query.range.unwrap_or(UsageRange::Hour);
    Ok(Json(service.instance_usage(who, id, range).await?))
}

/// The department's use of its quota over the range, oldest first: what
/// its instances and its sub-departments' take (instances, vCPUs, memory,
/// disk) beside its quota as it then was, every 10 s for a day, and the
/// peak of each 5 minutes and hour for a month and a year. For appliance
/// admins and the department's own admins.
#[utoipa::path(get, path = "/api/v1/departments/{id}/usage", tag = "delegation",
    params(("id" = i64, Path), UsageQuery),
    responses((status = 200, body = DepartmentUsageSeries), (status = 403, body = super::ErrorBody),
              (status = 404, body = super::ErrorBody), (status = 422, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn of_department(
    axum::extract::State(service): axum::extract::State<Arc<dyn UsageService>>,
    Extension(ctx): Extension<RequestContext>,
    IdPath(id): IdPath,
    ApiQuery(query): ApiQuery<UsageQuery>,
) -> ApiResult<Json<DepartmentUsageSeries>> {
    let who = authorize::<rights::ManageMembers>(ctx.principal.as_ref())?;
    let range = query.range.unwrap_or(UsageRange::Hour);
    Ok(Json(service.department_usage(who, id, range).await?))
}

/// Each host's own figures over the range, oldest first, hosts by name:
/// the share of its CPUs in use (by anyone), its memory in use, what
/// dpe's storage pool holds, and its guests' network, every 10 s for a
/// day and the means of each 5 minutes and hour for a month and a year
/// (admins).
#[utoipa::path(get, path = "/api/v1/hosts/usage", tag = "hosts",
    params(UsageQuery),
    responses((status = 200, body = [HostUsageSeries]), (status = 403, body = super::ErrorBody),
              (status = 422, body = super::ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub async fn of_hosts(
    axum::extract::State(service): axum::extract::State<Arc<dyn UsageService>>,
    Extension(ctx): Extension<RequestContext>,
    ApiQuery(query): ApiQuery<UsageQuery>,
) -> ApiResult<Json<Vec<HostUsageSeries>>> {
    let who = authorize::<rights::ManageHosts>(ctx.principal.as_ref())?;
    let range = query.range.unwrap_or(UsageRange::Hour);
    Ok(Json(service.hosts_usage(who, range).await?))
}
