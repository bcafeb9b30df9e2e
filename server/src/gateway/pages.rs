//! The pages the gateway answers with itself: plain HTML, no script, a
//! link back to the instance in the portal. A browser error page would
//! leave the visitor with nothing to do.

use app::model::{InstanceState, Power};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::error::GatewayError;
use crate::error_chain;
use crate::stack::html_escape;

/// What the page says, and where its link goes.
struct Page {
    status: StatusCode,
    title: &'static str,
    text: String,
    /// Path in the portal.
    link: String,
    link_text: &'static str,
}

fn why_not_running(state: InstanceState) -> &'static str {
    match state {
        InstanceState::Provisioning => "It is still being deployed.",
        InstanceState::Failed => "Its deployment failed.",
        InstanceState::Deleting => "It is being deleted.",
        InstanceState::Ready(Power::ShutOff | Power::Crashed) => {
            "It is stopped: start it from its page."
        }
        InstanceState::Ready(Power::Paused) => "It is paused.",
        InstanceState::Ready(Power::ShuttingDown) => "It is shutting down.",
        InstanceState::Ready(Power::Running | Power::Unknown) => "It is starting.",
    }
}

fn page_of(error: &GatewayError) -> Page {
    let instance = |id: &i64| format!("/instances/{id}");
    match error {
        GatewayError::NotSetUp => Page {
            status: StatusCode::SERVICE_UNAVAILABLE,
            title: "Not set up yet",
            text: "The appliance is not set up yet.".into(),
            link: "/".into(),
            link_text: "Open the portal",
        },
        GatewayError::Gone | GatewayError::NotAnApplication => Page {
            status: StatusCode::NOT_FOUND,
            title: "No such application",
            text: "No application has this address: it may have been deleted.".into(),
            link: "/instances".into(),
            link_text: "See your instances",
        },
        GatewayError::Forbidden { instance_id } => Page {
            status: StatusCode::FORBIDDEN,
            title: "Not shared with you",
            text: "This application is not shared with your account. Its owner can share it \
                   on its page in the portal."
                .into(),
            link: instance(instance_id),
            link_text: "Open its page in the portal",
        },
        GatewayError::TicketRefused { instance_id } => Page {
            status: StatusCode::FORBIDDEN,
            title: "Sign-in link expired",
            text: "This sign-in link has expired or was already used. Open the application \
                   again from the portal."
                .into(),
            link: instance(instance_id),
            link_text: "Open its page in the portal",
        },
        GatewayError::NotRunning { instance_id, state } => Page {
            status: StatusCode::SERVICE_UNAVAILABLE,
            title: "Not running",
            text: format!(
                "The application is not running. {}",
                why_not_running(*state)
            ),
            link: instance(instance_id),
            link_text: "Open its page in the portal",
        },
        GatewayError::Unreachable { instance_id, .. } => Page {
            status: StatusCode::BAD_GATEWAY,
            title: "Not answering",
            text: "The application does not answer yet. If it has just started, try again \
                   in a minute."
                .into(),
            link: instance(instance_id),
            link_text: "Open its page in the portal",
        },
        GatewayError::Loop { instance_id } => Page {
            status: StatusCode::LOOP_DETECTED,
            title: "Address leads back here",
            text: "The application's address leads back to this appliance, so it cannot \
                   be reached. Its guest's network needs looking at."
                .into(),
            link: instance(instance_id),
            link_text: "Open its page in the portal",
        },
        GatewayError::Timeout { instance_id } => Page {
            status: StatusCode::GATEWAY_TIMEOUT,
            title: "Too slow",
            text: "The application took too long to answer.".into(),
            link: instance(instance_id),
            link_text: "Open its page in the portal",
        },
        GatewayError::Store(_) | GatewayError::Account(_) => Page {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            title: "Something went wrong",
            text: "The appliance could not handle this request; it is in its log.".into(),
            link: "/".into(),
            link_text: "Open the portal",
        },
    }
}

/// The page for `error`; `portal` is the portal's origin for its link.
pub fn error_page(error: &GatewayError, portal: Option<&str>) -> Response {
    let page = page_of(error);
    if page.status.is_server_error() {
        tracing::warn!(error = %error_chain(error), "gateway");
    }
    let link = format!("{}{}", portal.unwrap_or(""), page.link);
    let body = format!(
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>\
         <meta name=viewport content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>body{{font:16px/1.5 system-ui,sans-serif;max-width:36rem;\
         margin:4rem auto;padding:0 1rem;color:#1d2733}}a{{color:#1f5fbf}}</style></head>\
         <body><h1>{title}</h1><p>{text}</p><p><a href=\"{link}\">{link_text}</a></p></body></html>",
        title = page.title,
        text = html_escape(&page.text),
        link = html_escape(&link),
        link_text = page.link_text,
    );
    let mut response = (page.status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        ),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
