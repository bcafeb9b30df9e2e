//! The portal's half of opening an application: a signed-in visitor gets
//! a single-use ticket for the application's origin, which the gateway
//! there takes (`gateway::ENTER_PATH`). Signed-out visitors sign in first
//! (the page guard sends them to `/login?next=…`).

use std::sync::Arc;

use app::service::RequestContext;
use axum::Extension;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::gateway::Gateway;
use crate::gateway::error::GatewayError;
use crate::gateway::pages::error_page;

#[derive(Deserialize)]
pub struct EnterQuery {
    /// The application URL the visitor asked for.
    to: String,
}

pub async fn enter(
    State(gateway): State<Arc<Gateway>>,
    Extension(ctx): Extension<RequestContext>,
    query: Result<Query<EnterQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return error_page(&GatewayError::NotAnApplication, None);
    };
    // The page guard lets only signed-in visitors through.
    let (Some(who), Some(session)) = (
        ctx.principal.as_ref(),
        ctx.session.as_ref().and_then(|s| s.id()),
    ) else {
        return Redirect::to("/login").into_response();
    };
    match gateway
        .access()
        .ticket(who, &session.to_string(), &query.to)
        .await
    {
        Ok(ticketed) => {
            let mut response = Redirect::to(&ticketed.redirect).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => error_page(&e, None),
    }
}
