//! Server functions of the Approvals page, the navigation's count, and a
//! department's approval policy.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use super::respond;
use crate::error::AppError;
#[cfg(feature = "ssr")]
use crate::model::{ApprovalPolicy, ApprovalRule, Decision, SetApprovalPolicy};
use crate::model::{ApprovalPolicyView, ApprovalView};
#[cfg(feature = "ssr")]
use crate::policy::{authorize, rights};
#[cfg(feature = "ssr")]
use crate::service::{ApprovalService, request_context, service};

#[server(prefix = "/fn", endpoint = "approvals")]
pub async fn get_approvals() -> Result<Vec<ApprovalView>, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ViewApprovals>(ctx.principal.as_ref())?;
            service::<dyn ApprovalService>()?.approvals(who).await
        }
        .await,
    )
}

/// How many requests the caller may decide wait: the navigation's badge.
#[server(prefix = "/fn", endpoint = "pending_approvals")]
pub async fn get_pending_approvals() -> Result<u32, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ViewApprovals>(ctx.principal.as_ref())?;
            service::<dyn ApprovalService>()?
                .pending_approvals(who)
                .await
        }
        .await,
    )
}

/// The Approvals page's form: `verdict` is the button pressed, `approve`
/// or `reject`.
#[server(prefix = "/fn", endpoint = "decide_approval")]
pub async fn decide_approval(
    id: i64,
    verdict: String,
    #[server(default)] comment: String,
) -> Result<ApprovalView, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::DecideApprovals>(ctx.principal.as_ref())?;
            let decision = Decision { comment };
            let approvals = service::<dyn ApprovalService>()?;
            match verdict.as_str() {
                "approve" => approvals.approve(who, id, decision).await,
                "reject" => approvals.reject(who, id, decision).await,
                _ => Err(AppError::invalid("verdict", "approve or reject")),
            }
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "approval_policy")]
pub async fn get_approval_policy(id: i64) -> Result<ApprovalPolicyView, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageMembers>(ctx.principal.as_ref())?;
            service::<dyn ApprovalService>()?
                .approval_policy(who, id)
                .await
        }
        .await,
    )
}

/// The department page's approval policy form: `inherit` checked clears
/// the department's own policy; otherwise the fields are it.
#[server(prefix = "/fn", endpoint = "save_approval_policy")]
pub async fn save_approval_policy(
    id: i64,
    #[server(default)] inherit: Option<String>,
    #[server(default)] require: String,
    #[server(default)] max_vcpus: String,
    #[server(default)] max_memory_mib: String,
    #[server(default)] timeout_days: String,
) -> Result<ApprovalPolicyView, AppError> {
    respond(
        async move {
            let ctx = request_context().await?;
            let who = authorize::<rights::ManageDepartments>(ctx.principal.as_ref())?;
            fn number<T: std::str::FromStr + Default>(
                field: &str,
                text: &str,
            ) -> Result<T, AppError> {
                let text = text.trim();
                if text.is_empty() {
                    return Ok(T::default());
                }
                text.parse()
                    .map_err(|_| AppError::invalid(field, "a whole number"))
            }
            let policy = match inherit {
                Some(_) => None,
                None => Some(ApprovalPolicy {
                    require: require
                        .parse::<ApprovalRule>()
                        .map_err(|_| AppError::invalid("require", "choose when to ask"))?,
                    max_vcpus: number("max_vcpus", &max_vcpus)?,
                    max_memory_mib: number("max_memory_mib", &max_memory_mib)?,
                    timeout_days: match timeout_days.trim() {
                        "" => crate::model::DEFAULT_APPROVAL_TIMEOUT_DAYS,
                        text => number("timeout_days", text)?,
                    },
                }),
            };
            service::<dyn ApprovalService>()?
                .set_approval_policy(who, id, SetApprovalPolicy { policy })
                .await
        }
        .await,
    )
}
