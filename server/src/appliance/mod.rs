//! The appliance's service layer: the one type that implements every
//! capability trait of [`app::service`] (together, `PortalService`), shared
//! by the portal's server functions and the REST handlers. A capability
//! method that needs a signed-in caller takes the proof of its right
//! (`app::policy::Authorized`); the services check the object.
//!
//! Each capability's implementation is a file of its own: `setup`,
//! `sessions` (with `account` and the directory sign-in in `directory`),
//! `tokens`, `instances` (with `instance_query` and `apps`), `snapshots`,
//! `hosts`, `zones`, `pool`, `dashboard`, `organisation`,
//! `directory_settings`, `audit_log`, `quotas`, `events` and, for the
//! gateway, `gateway_access`. `errors` maps the lower layers' errors to
//! what callers may learn.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use app::error::AppError;
use app::model::{Principal, Role, TokenScope};

use crate::auth::secret_box::SecretBox;
use crate::auth::setup_code;
use crate::auth::throttle::{RefusalTally, SignInThrottle};
use crate::blocking::run_blocking;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::engine::connector::{Connector, LibvirtConnector};
use crate::engine::runtime::Engine;
use crate::error_chain;
use crate::host_credentials::HostCredentials;
use crate::stack::Stack;
use crate::store::{Store, StoreError, audit, departments, settings, users};

mod account;
mod approvals;
mod apps;
mod audit_log;
mod backups;
mod console;
mod dashboard;
mod directory;
mod directory_settings;
mod errors;
mod events;
mod gateway_access;
mod host_trust;
mod hosts;
mod instance_query;
mod instances;
mod leases;
mod leftovers;
mod metrics;
mod moves;
mod notifications;
mod organisation;
mod paging;
mod pool;
mod principal_cache;
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

pub use errors::StartError;

pub struct Appliance {
    pub store: Store,
    pub config: Config,
    pub engine: Arc<Engine>,
    throttle: SignInThrottle,
    refusals: RefusalTally,
    /// Seals the secrets kept in the store.
    pub(crate) secrets: SecretBox,
    /// Setup never reverts, so once true this saves a query per request.
    setup_complete: AtomicBool,
    /// Where applications open (None before setup): read on every gateway
    /// request, so kept here; the port listeners watch it.
    apps: tokio::sync::watch::Sender<Option<app::model::AppsSettings>>,
    /// The gateway's look-ups between two writes.
    gateway_cache: gateway_access::GatewayCache,
    /// Who is behind sessions and tokens, between requests.
    principals: principal_cache::PrincipalCache,
    /// The dashboard's instance counts, per reader scope.
    counts: dashboard::CountsCache,
    /// The hosts' loads, between two writes.
    loads: hosts::LoadsCache,
    /// Itself, for what outlives a call (live event streams).
    me: std::sync::Weak<Appliance>,
    /// dpe's CA, SSH key and pinned host keys, for remote hosts.
    host_credentials: HostCredentials,
}

/// The principal an account acts as; department admins carry the
/// departments they administer, so object checks need no store access.
pub(crate) fn principal_of(
    conn: &rusqlite::Connection,
    user: users::UserRow,
) -> Result<Principal, StoreError> {
    let role = user.effective_role();
    let managed_departments = match (role, user.department_id) {
        (Role::DepartmentAdmin, Some(d)) => departments::subtree(conn, d)?,
        (_, _) => Vec::new(),
    };
    Ok(Principal {
        user_id: user.id,
        username: user.username,
        role,
        department_id: user.department_id,
        managed_departments,
        may_deploy: user.may_deploy,
        address: None,
        scope: TokenScope::Full,
    })
}

/// The departments whose records `who` may read (the audit log, the
/// accounts): `None` for appliance admins, who read all.
fn department_scope(who: &Principal) -> Option<Vec<i64>> {
    match who.role {
        Role::Admin => None,
        Role::DepartmentAdmin | Role::User => Some(who.managed_departments.clone()),
    }
}

impl Appliance {
    pub async fn new(store: Store, config: Config) -> Result<Arc<Appliance>, StartError> {
        let connector = LibvirtConnector::new(HostCredentials::under(&config.data_dir));
        Appliance::with_connector(store, config, Arc::new(connector)).await
    }

    /// An appliance whose engine opens hosts through `connector` (tests
    /// give it fake hosts).
    pub async fn with_connector(
        store: Store,
        config: Config,
        connector: Arc<dyn Connector>,
    ) -> Result<Arc<Appliance>, StartError> {
        Appliance::with_clock(store, config, connector, Arc::new(SystemClock)).await
    }

    /// An appliance whose leases run by `clock` (tests move it on by days).
    pub async fn with_clock(
        store: Store,
        config: Config,
        connector: Arc<dyn Connector>,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Appliance>, StartError> {
        let complete = store.read(settings::setup_complete).await?;
        let apps = store.read(settings::apps).await?;
        let stack = Arc::new(Stack::load(&config.stack_dir, &config.image_dir)?);
        if !complete {
            // Made now, so a plain `dpe serve` asks for one as the image does.
            setup_code::ensure(&config.data_dir).map_err(StartError::SetupCode)?;
        }
        let secrets =
            SecretBox::load_or_create(&config.secret_key_path()).map_err(StartError::SecretKey)?;
        // Before the engine, whose first pass may open a remote host.
        let host_credentials = HostCredentials::under(&config.data_dir);
        let making = host_credentials.clone();
        run_blocking(move || making.ensure())
            .await
            .map_err(StartError::HostCredentials)?;
        let sealing = secrets.clone();
        if store
            .write(move |tx| crate::store::directory::seal_legacy(tx, &sealing))
            .await?
        {
            tracing::info!("sealed the directory's bind password that was stored in the clear");
        }
        let engine = Engine::new(
            store.clone(),
            stack,
            config.engine(),
            connector,
            clock.clone(),
        )
        .await?;
        engine.start_background().await?;
        // The outbox's deliveries, started with the engine.
        Arc::new(crate::notify::worker::Notifier::new(
            store.clone(),
            secrets.clone(),
            clock.clone(),
            config.notify(),
        ))
        .spawn();
        let appliance = Arc::new_cyclic(|me| Appliance {
            secrets,
            engine,
            store,
            throttle: SignInThrottle::new(config.sign_in_per_account, config.sign_in_per_address),
            refusals: RefusalTally::default(),
            config,
            setup_complete: AtomicBool::new(complete),
            apps: tokio::sync::watch::Sender::new(None),
            gateway_cache: gateway_access::GatewayCache::default(),
            principals: principal_cache::PrincipalCache::default(),
            counts: dashboard::CountsCache::default(),
            loads: hosts::LoadsCache::default(),
            me: me.clone(),
            host_credentials,
        });
        appliance.apps_changed(apps).await?;
        Ok(appliance)
    }

    pub fn prune_throttle(&self) {
        self.throttle.prune();
    }

    /// Writes an audit record; a failure to write is logged, never shown.
    pub async fn audit(&self, record: audit::Record) {
        if let Err(e) = self.store.write(move |tx| audit::record(tx, &record)).await {
            tracing::error!(error = %error_chain(&e), "cannot write the audit log");
        }
    }

    /// Records a throttled attempt from `peer` as `refused`: a flood leaves
    /// one record a minute per address, with its count.
    async fn audit_throttled(&self, peer: IpAddr, refused: audit::Audit) {
        if let Some(n) = self.refusals.refused(peer) {
            let detail = format!("throttled: {n} refused since the last record");
            self.audit(refused.detail(detail).refused()).await;
        }
    }

    pub(crate) fn throttled(&self, account: &str, peer: IpAddr) -> Result<(), AppError> {
        self.throttle.attempt(account, peer).map_err(|wait| {
            tracing::warn!(account, %peer, "sign-in throttled");
            errors::throttled_for(wait)
        })
    }
}
