//! The application gateway: every instance's application, reachable through
//! the appliance on an origin of its own, so that an application's pages
//! can never act on the portal, or on another application, as the person
//! viewing them.
//!
//! - `address`: where each application opens (a port each, or a name under
//!   a wildcard domain), and which instance a request names.
//! - `access`: the capability the gateway asks the appliance for, and the
//!   sign-in hand-over: the portal makes a single-use ticket, the
//!   application's origin takes it and sets a session cookie of its own.
//! - `forward`: the proxy itself.
//! - `listeners`: one listener a port, while applications have ports.
//! - `pages`: what the gateway answers itself (stopped, refused, gone).
//! - `upstream`: the pooled keep-alive connections to the guests.

pub mod access;
pub mod error;
pub mod forward;
pub mod listeners;
pub mod pages;
pub mod upstream;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use app::model::{InstanceState, Power};
use app::policy::may_open;
use axum::body::Body;
use axum::extract::{Query, Request};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use self::access::GatewayAccess;
use self::error::GatewayError;
use self::forward::{Destination, Pseudonym, Upstream};
use crate::addressing::app_origins::{self, Target};
use crate::addressing::origin::WebOrigin;
use crate::engine::traffic::TrafficMeter;
use crate::store::instances::InstanceRow;

/// Where a ticket is taken on an application's origin.
pub const ENTER_PATH: &str = "/.well-known/dpe/enter";
/// The portal's page that makes tickets.
pub const PORTAL_ENTER_PATH: &str = "/gateway/enter";

/// The gateway: the appliance's answers, the upstream client, the
/// application's port on every guest, the listeners' scheme, and where
/// each application's traffic is counted.
pub struct Gateway {
    access: Arc<dyn GatewayAccess>,
    traffic: Arc<TrafficMeter>,
    client: Arc<Upstream>,
    via: Pseudonym,
    app_port: u16,
    secure: bool,
}

/// The query of [`ENTER_PATH`].
#[derive(Deserialize)]
struct Enter {
    ticket: String,
    #[serde(default)]
    next: String,
}

impl Gateway {
    pub fn new(
        access: Arc<dyn GatewayAccess>,
        traffic: Arc<TrafficMeter>,
        app_port: u16,
        secure: bool,
    ) -> Arc<Gateway> {
        Arc::new(Gateway {
            access,
            traffic,
            client: Upstream::new(),
            via: Pseudonym::new(),
            app_port,
            secure,
        })
    }

    pub fn access(&self) -> &Arc<dyn GatewayAccess> {
        &self.access
    }

    /// The application a request to the portal's listener is for, when
    /// the apps have a wildcard domain and its host is under it (and is
    /// not the portal's own).
    pub fn target_of_request(&self, request: &Request) -> Option<Target> {
        let apps = self.access.apps().ok()?;
        let origin = WebOrigin::of_request(self.secure, request.uri(), request.headers())?;
        let portal = WebOrigin::parse(&apps.portal_origin);
        if portal.is_some_and(|p| p.host() == origin.host()) {
            return None;
        }
        app_origins::target_of_host(&apps.addressing, origin.host())
    }

    /// The gateway's cookie on an application's origin. Browsers share
    /// cookies across ports, so with ports each origin has its own name.
    fn cookie_name(&self, target: &Target) -> String {
        let prefix = if self.secure { "__Host-" } else { "" };
        match target {
            Target::Port(port) => format!("{prefix}dpe_app_{port}"),
            Target::Name(_) => format!("{prefix}dpe_app"),
        }
    }

    fn cookie<'r>(&self, request: &'r Request, target: &Target) -> Option<&'r str> {
        let name = self.cookie_name(target);
        request
            .headers()
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(n, _)| *n == name)
            .map(|(_, value)| value)
    }

    /// Answers one request to the application `target` names.
    pub async fn handle(&self, target: Target, peer: IpAddr, request: Request) -> Response {
        match self.try_handle(&target, peer, request).await {
            Ok(response) => response,
            Err(error) => {
                let portal = self.access.apps().ok().map(|a| a.portal_origin);
                pages::error_page(&error, portal.as_deref())
            }
        }
    }

    async fn try_handle(
        &self,
        target: &Target,
        peer: IpAddr,
        request: Request,
    ) -> Result<Response, GatewayError> {
        let apps = self.access.apps()?;
        let instance = self.access.instance(target).await?;
        let origin = app_origins::app_origin(&apps, &instance.name, instance.app_port)
            .ok_or(GatewayError::NotAnApplication)?;
        if request.uri().path() == ENTER_PATH {
            let enter = Query::<Enter>::try_from_uri(request.uri())
                .ok()
                .map(|q| q.0);
            return self.enter(target, &instance, enter).await;
        }
        let secret = self.cookie(&request, target).map(str::to_owned);
        let visitor = match secret {
            Some(secret) => self.access.visitor(&instance, &secret).await?,
            None => None,
        };
        if !may_open(
            visitor.as_ref(),
            instance.share,
            instance.owner_id,
            instance.department_id,
        ) {
            return match (visitor, request.method()) {
                (Some(_), _) => Err(GatewayError::Forbidden {
                    instance_id: instance.id,
                }),
                (None, &Method::GET | &Method::HEAD) => {
                    Ok(sign_in_redirect(&apps.portal_origin, &origin, &request))
                }
                (None, _) => Ok((StatusCode::UNAUTHORIZED, "sign in first").into_response()),
            };
        }
        let state = InstanceState::of(instance.status, instance.power);
        let address = match (state, instance.ip.as_deref().and_then(|ip| ip.parse().ok())) {
            (InstanceState::Ready(Power::Running), Some(address)) => address,
            (state, _) => {
                return Err(GatewayError::NotRunning {
                    instance_id: instance.id,
                    state,
                });
            }
        };
        // A signed-in visitor's use may extend the lease (leases that
        // follow use); at most one write a day, before the request goes on.
        if let Some(visitor) = &visitor {
            self.access.used(&instance, visitor).await;
        }
        let public_host = HeaderValue::from_str(&authority_of(&origin))
            .map_err(|_| GatewayError::NotAnApplication)?;
        let destination = Destination {
            instance_id: instance.id,
            address,
            port: self.app_port,
            public_host,
            secure: self.secure,
            peer,
            via: self.via.clone(),
        };
        let counters = self.traffic.counters(instance.id);
        forward::forward(&self.client, request, destination, counters).await
    }

    /// Takes a ticket from the portal and sets the origin's session cookie.
    async fn enter(
        &self,
        target: &Target,
        instance: &InstanceRow,
        enter: Option<Enter>,
    ) -> Result<Response, GatewayError> {
        let Some(enter) = enter else {
            return Err(GatewayError::TicketRefused {
                instance_id: instance.id,
            });
        };
        let secret = self.access.redeem(instance, &enter.ticket).await?;
        let secure = if self.secure { "; Secure" } else { "" };
        let cookie = format!(
            "{}={secret}; Path=/; HttpOnly; SameSite=Lax{secure}",
            self.cookie_name(target)
        );
        let mut response = Redirect::to(app::validate::local_path(&enter.next)).into_response();
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().insert(header::SET_COOKIE, value);
        }
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Ok(response)
    }
}

/// `host[:port]` of an origin, as a `Host` header says it.
fn authority_of(origin: &WebOrigin) -> String {
    origin
        .to_string()
        .split_once("://")
        .map_or_else(String::new, |(_, authority)| authority.to_owned())
}

/// Sends a signed-out visitor to the portal, which sends them back with a
/// ticket once they have signed in.
fn sign_in_redirect(portal: &str, origin: &WebOrigin, request: &Request) -> Response {
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let to = format!("{origin}{path}");
    let query = serde_urlencoded::to_string([("to", to.as_str())]).unwrap_or_default();
    let mut response =
        Redirect::to(&format!("{portal}{PORTAL_ENTER_PATH}?{query}")).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Serves the gateway alone (a port listener): every request is for the
/// application `target` names.
pub fn port_router(gateway: Arc<Gateway>, port: u16) -> axum::Router {
    axum::Router::new()
        .fallback(
            move |axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<SocketAddr>,
                  request: Request<Body>| {
                let gateway = gateway.clone();
                async move { gateway.handle(Target::Port(port), peer.ip(), request).await }
            },
        )
        .layer(tower_http::trace::TraceLayer::new_for_http())
}

/// On the portal's listener: hands requests for an application's host
/// (wildcard domain) to the gateway before any of the portal's layers.
pub async fn dispatch(
    axum::extract::State(gateway): axum::extract::State<Arc<Gateway>>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<SocketAddr>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    match gateway.target_of_request(&request) {
        Some(target) => gateway.handle(target, peer.ip(), request).await,
        None => next.run(request).await,
    }
}

#[cfg(test)]
mod tests {
    use app::validate::local_path;

    #[test]
    fn a_ticket_returns_to_a_path_of_the_same_origin_only() {
        assert_eq!(local_path("/doku.php?id=start"), "/doku.php?id=start");
        for elsewhere in [
            "//evil.example/",
            "/\\evil.example",
            "https://evil.example/",
            "",
        ] {
            assert_eq!(local_path(elsewhere), "/", "{elsewhere}");
        }
    }
}
