//! The narrow interfaces through which server functions and the REST
//! handlers reach the server (engine, store, authentication), one trait
//! per capability in the style of lldap's handlers. The `server` crate
//! implements them all on one type and provides it as a [`SharedService`]
//! (Leptos context for the page renderer and the server functions, axum
//! state for the handlers); each caller narrows it to the one capability
//! it uses with [`service`] or axum's `State`.
//!
//! A method that needs a signed-in, authorized caller takes the proof of
//! its right, [`Authorized<'_, rights::X>`](crate::policy::Authorized),
//! which only [`crate::policy::authorize`] makes: the caller cannot reach
//! it without asking the policy first, for that very right. The methods
//! that take none are public by design (setup, signing in and out), decide
//! for themselves (`probe_host`), or serve the edge (resolving principals,
//! recording refusals); each says why.
//!
//! ```
//! use app::error::AppError;
//! use app::model::{DeployAccepted, DeployRequest};
//! use app::policy::{authorize, rights};
//! use app::service::{InstanceService, RequestContext};
//!
//! async fn deploy(
//!     service: &dyn InstanceService,
//!     ctx: &RequestContext,
//!     request: DeployRequest,
//! ) -> Result<DeployAccepted, AppError> {
//!     let who = authorize::<rights::RequestDeploy>(ctx.principal.as_ref())?;
//!     service.deploy(who, request).await
//! }
//! ```
//!
//! Skipping [`crate::policy::authorize`] does not compile:
//!
//! ```compile_fail,E0308
//! use app::error::AppError;
//! use app::model::{DeployAccepted, DeployRequest};
//! use app::service::{InstanceService, RequestContext};
//!
//! async fn deploy(
//!     service: &dyn InstanceService,
//!     ctx: &RequestContext,
//!     request: DeployRequest,
//! ) -> Result<DeployAccepted, AppError> {
//!     let who = ctx.principal.as_ref().ok_or(AppError::Unauthenticated)?;
//!     service.deploy(who, request).await
//! }
//! ```

mod approvals;
mod audit;
mod backups;
mod console;
mod dashboard;
mod directory;
mod events;
mod hosts;
mod instances;
mod leases;
mod metrics;
mod notifications;
mod organisation;
mod passkeys;
mod pool;
mod quotas;
mod resize;
mod second_factor;
mod sessions;
mod setup;
mod snapshots;
mod tokens;
mod usage;
mod versions;
mod zones;

use std::net::IpAddr;
use std::sync::Arc;

use tower_sessions::Session;

pub use self::approvals::ApprovalService;
pub use self::audit::AuditService;
pub use self::backups::BackupService;
pub use self::console::{ConsoleService, ConsoleSession, GraphicsSession};
pub use self::dashboard::DashboardService;
pub use self::directory::DirectoryService;
pub use self::events::{Credential, EventService, LiveEvent, LiveEvents, Numbered};
pub use self::hosts::HostService;
pub use self::instances::{InstanceService, TaskUpdates};
pub use self::leases::LeaseService;
pub use self::metrics::MetricsService;
pub use self::notifications::NotificationService;
pub use self::organisation::OrganisationService;
pub use self::passkeys::PasskeyService;
pub use self::pool::PoolService;
pub use self::quotas::QuotaService;
pub use self::resize::ResizeService;
pub use self::second_factor::SecondFactorService;
pub use self::sessions::SessionService;
pub use self::setup::SetupService;
pub use self::snapshots::SnapshotService;
pub use self::tokens::{SecretShown, TokenService};
pub use self::usage::UsageService;
pub use self::versions::StackVersionService;
pub use self::zones::ZoneService;
use crate::error::AppError;
use crate::model::Principal;

/// Marks a refused no-JavaScript form post (whose answer is a redirect,
/// not a 403) for the server's audit layer, which removes it.
pub const REFUSED_HEADER: &str = "x-dpe-refused";

/// Who is asking, resolved once per request by the server's middleware.
#[derive(Clone, Debug)]
pub struct RequestContext {
    /// The signed-in account, from the session cookie or a bearer token.
    pub principal: Option<Principal>,
    /// What proved the principal: set exactly when `principal` is.
    pub credential: Option<Credential>,
    /// The peer's address, for throttling and the audit trail.
    pub peer: IpAddr,
    /// The cookie session; absent on requests authenticated by a token.
    pub session: Option<Session>,
    /// The portal's origin as this request addressed it
    /// (`https://dpe.example.org`): the setup wizard records it as the
    /// base of the applications' addresses.
    pub portal_origin: Option<String>,
}

/// A capability trait object the whole service narrows to, so that a
/// caller holds only what it uses.
pub trait Capability: Send + Sync + 'static {
    fn narrow(service: SharedService) -> Arc<Self>;
}

/// Declares the capabilities once: `PortalService` (all of them, which
/// the server implements and hands out), its blanket impl, and each one's
/// `Capability`. A new capability is one more name here.
macro_rules! capabilities {
    ($($capability:ident),+ $(,)?) => {
        /// Every capability at once: what the server implements and hands
        /// out. Nothing calls it as a whole; callers narrow it to one
        /// capability.
        pub trait PortalService: $($capability +)+ {}

        impl<T> PortalService for T where T: $($capability +)+ ?Sized {}

        $(impl Capability for dyn $capability {
            fn narrow(service: SharedService) -> Arc<Self> {
                service
            }
        })+
    };
}

capabilities!(
    SetupService,
    StackVersionService,
    SessionService,
    SecondFactorService,
    PasskeyService,
    TokenService,
    InstanceService,
    ConsoleService,
    HostService,
    ZoneService,
    PoolService,
    DashboardService,
    OrganisationService,
    DirectoryService,
    AuditService,
    QuotaService,
    EventService,
    SnapshotService,
    ResizeService,
    BackupService,
    LeaseService,
    NotificationService,
    ApprovalService,
    UsageService,
    MetricsService,
);

pub type SharedService = Arc<dyn PortalService>;

/// The service provided as context by the server, narrowed to the one
/// capability the caller uses: `service::<dyn TokenService>()`.
pub fn service<C: Capability + ?Sized>() -> Result<Arc<C>, AppError> {
    leptos::prelude::use_context::<SharedService>()
        .map(C::narrow)
        .ok_or(AppError::Internal)
}

/// The request's context, put in the request extensions by the server.
pub async fn request_context() -> Result<RequestContext, AppError> {
    leptos_axum::extract::<axum::Extension<RequestContext>>()
        .await
        .map(|axum::Extension(ctx)| ctx)
        .map_err(|_| AppError::Internal)
}
