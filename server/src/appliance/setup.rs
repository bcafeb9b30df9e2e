//! The first-boot setup: the wizard, its setup code, and the probe that
//! checks a host before it joins the pool.

use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use app::error::AppError;
use app::model::{
    AppsAddressing, AppsSettings, HostProbe, Role, SetupDefaults, SetupRequest, SetupStatus,
};
use app::policy::{authorize, rights};
use app::service::{RequestContext, SetupService};
use app::validate;
use async_trait::async_trait;

use super::Appliance;
use super::errors::{engine_err, internal, store_err, throttled_for};
use crate::auth::{password, setup_code};
use crate::blocking::run_blocking;
use crate::engine::libvirt::{probe, test_driver};
use crate::error_chain;
use crate::host_credentials::HostCredentials;
use crate::store::audit::{self, Audit};
use crate::store::{StoreError, hosts, settings, users};

/// How long adding a host waits for this machine's libvirtd to finish
/// starting, and how often it asks.
const STARTING_PATIENCE: Duration = Duration::from_secs(180);

const STARTING_RETRY: Duration = Duration::from_secs(2);

/// How long to wait for a host that is still starting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Patience {
    /// The wizard, completed right after the appliance booted, finds its
    /// libvirtd still checking QEMU: wait for it rather than fail.
    UntilStarted,
    /// Later, a host that does not answer is reported at once.
    None,
}

/// Checks a host before it joins the pool: it answers, it has the
/// network, and (when local) its storage directory is usable. `uri_field`
/// names the form field the URI came in.
pub(super) async fn probe_new_host(
    credentials: &HostCredentials,
    uri_field: &str,
    uri: &str,
    network: &str,
    storage_dir: &str,
    patience: Patience,
) -> Result<probe::ProbeReport, AppError> {
    let deadline = tokio::time::Instant::now()
        + match patience {
            Patience::UntilStarted => STARTING_PATIENCE,
            Patience::None => Duration::ZERO,
        };
    let report = loop {
        match probe::probe(uri, &credentials.open_uri(uri)).await {
            Ok(report) => break report,
            Err(e) if probe::is_starting(uri, &e) && tokio::time::Instant::now() < deadline => {
                tracing::info!(uri, "the host is still starting; trying again");
                tokio::time::sleep(STARTING_RETRY).await;
            }
            Err(e) if probe::is_host_key_refusal(&e) => {
                tracing::warn!(uri, error = %error_chain(&e), "a new host's SSH key was refused");
                return Err(AppError::invalid(
                    "ssh_host_key",
                    "the host presented an SSH host key other than the one pinned: compare the \
                     key given with the host's /etc/ssh/ssh_host_ed25519_key.pub (another key \
                     can mean someone stands between dpe and the host)",
                ));
            }
            Err(e) => {
                // The caller learns what failed, the log why (libvirt's
                // words can quote files and programs).
                tracing::warn!(uri, error = %error_chain(&e), "a new host could not be probed");
                return Err(AppError::invalid(
                    uri_field,
                    format!("could not connect: {e}"),
                ));
            }
        }
    };
    if !report.networks.iter().any(|n| n == network) {
        return Err(AppError::invalid(
            "network",
            format!(
                "the host has no network {network:?}; it has: {}",
                report.networks.join(", ")
            ),
        ));
    }
    prepare_local_storage(uri, storage_dir)?;
    Ok(report)
}

/// Creates the storage directory when the host is this machine.
fn prepare_local_storage(uri: &str, dir: &str) -> Result<(), AppError> {
    if !probe::is_local(uri) || test_driver::is_test_driver(uri) {
        return Ok(());
    }
    std::fs::create_dir_all(Path::new(dir)).map_err(|e| {
        AppError::invalid("storage_dir", format!("cannot create the directory: {e}"))
    })?;
    // QEMU runs as its own user: every directory on the way must let others
    // through, or guests fail at start with "Permission denied".
    use std::os::unix::fs::PermissionsExt;
    for ancestor in Path::new(dir).ancestors() {
        let mode = std::fs::metadata(ancestor)
            .map(|m| m.permissions().mode())
            .unwrap_or(0o755);
        if mode & 0o001 == 0 {
            return Err(AppError::invalid(
                "storage_dir",
                format!(
                    "QEMU could not reach it: {} is closed to other users \
                     (chmod o+x, or choose another directory)",
                    ancestor.display()
                ),
            ));
        }
    }
    Ok(())
}

/// The wizard's answers, validated, with the defaults filled in.
struct CheckedSetup {
    appliance_name: String,
    username: String,
    host_uri: String,
    storage_dir: String,
    network: String,
    apps: AppsSettings,
}

/// Completes setup in the caller's write transaction: the name, the first
/// admin, the first host and the audit record together. `false` when
/// another wizard completed it first.
fn record_setup(
    tx: &rusqlite::Connection,
    setup: &CheckedSetup,
    admin_password_hash: &str,
    host_name: &str,
    peer: IpAddr,
) -> Result<bool, StoreError> {
    // Checked under the write lock: two racing wizards, one winner.
    if settings::setup_complete(tx)? {
        return Ok(false);
    }
    settings::set(tx, settings::APPLIANCE_NAME, &setup.appliance_name)?;
    settings::set_apps(tx, &setup.apps)?;
    let admin_id = users::insert(tx, &setup.username, Some(admin_password_hash), Role::Admin)?;
    hosts::insert(
        tx,
        host_name,
        &setup.host_uri,
        &setup.storage_dir,
        &setup.network,
    )?;
    let record = Audit::by_account(setup.username.clone(), admin_id)
        .from_address(peer)
        .action("setup")
        .object(format!("appliance {}", setup.appliance_name))
        .detail(format!("first host {}", setup.host_uri))
        .ok();
    audit::record(tx, &record)?;
    settings::set(
        tx,
        settings::SETUP_COMPLETED_AT,
        &crate::store::now().to_string(),
    )?;
    Ok(true)
}

impl Appliance {
    /// Validates the wizard's fields in the order the form shows them.
    fn check_setup_request(
        &self,
        request: &SetupRequest,
        portal_origin: Option<&str>,
    ) -> Result<CheckedSetup, AppError> {
        let defaults = self.defaults();
        let appliance_name = validate::display_name("appliance_name", &request.appliance_name)?;
        let username = validate::username("admin_username", &request.admin_username)?;
        if let Some(why) =
            password::weakness(&request.admin_password, &[&username, &appliance_name])
        {
            return Err(AppError::invalid("admin_password", why));
        }
        let host_uri =
            validate::libvirt_uri("host_uri", &request.host_uri, self.config.test_driver())?;
        let storage_dir = validate::absolute_dir(
            "storage_dir",
            request
                .storage_dir
                .as_deref()
                .unwrap_or(&defaults.storage_dir),
        )?;
        let network = validate::libvirt_name(
            "network",
            request.network.as_deref().unwrap_or(&defaults.network),
        )?;
        let addressing = match &request.apps {
            None => AppsAddressing::DEFAULT_PORTS,
            Some(apps) => validate::apps_addressing("apps", apps)?,
        };
        // Where the wizard was opened is where users reach the portal
        // (a configured public origin wins); Settings can change it.
        let portal_origin = self
            .config
            .public_origin
            .as_deref()
            .or(portal_origin)
            .ok_or(AppError::Internal)?
            .to_owned();
        Ok(CheckedSetup {
            appliance_name,
            username,
            host_uri,
            storage_dir,
            network,
            apps: AppsSettings {
                portal_origin,
                addressing,
            },
        })
    }

    /// Checks the setup code of a request made before setup: throttled like
    /// sign-ins, and a wrong one audited.
    async fn check_setup_code(&self, peer: IpAddr, given: &str) -> Result<(), AppError> {
        let attempt = || Audit::anonymous().from_address(peer).action("setup");
        if let Err(wait) = self.throttle.attempt_setup_code(peer) {
            tracing::warn!(%peer, "setup code tries throttled");
            self.audit_throttled(peer, attempt()).await;
            return Err(throttled_for(wait));
        }
        let data_dir = self.config.data_dir.clone();
        let expected = run_blocking(move || setup_code::ensure(&data_dir))
            .await
            .map_err(|e| internal(&e))?;
        if setup_code::matches(&expected, given) {
            return Ok(());
        }
        tracing::warn!(%peer, "wrong setup code");
        self.audit(attempt().detail("wrong setup code").failed())
            .await;
        Err(AppError::invalid(
            "setup_code",
            "wrong setup code: it is on the appliance's console, or run `dpe setup-code` there",
        ))
    }

    fn defaults(&self) -> SetupDefaults {
        let data_dir = std::path::absolute(&self.config.data_dir)
            .unwrap_or_else(|_| self.config.data_dir.clone());
        SetupDefaults {
            host_uri: "qemu:///system".to_owned(),
            storage_dir: data_dir.join("storage").display().to_string(),
            network: "default".to_owned(),
            apps_domain: self.config.setup_apps_domain.clone().unwrap_or_default(),
        }
    }
}

#[async_trait]
impl SetupService for Appliance {
    fn is_set_up(&self) -> bool {
        self.setup_complete.load(Ordering::Acquire)
    }

    async fn setup_status(&self) -> Result<SetupStatus, AppError> {
        Ok(SetupStatus {
            complete: self.is_set_up(),
            defaults: self.defaults(),
        })
    }

    async fn complete_setup(
        &self,
        ctx: &RequestContext,
        request: SetupRequest,
    ) -> Result<(), AppError> {
        let peer = ctx.peer;
        if self.is_set_up() {
            return Err(AppError::Conflict("the appliance is already set up".into()));
        }
        self.check_setup_code(ctx.peer, &request.setup_code).await?;
        let setup = self.check_setup_request(&request, ctx.portal_origin.as_deref())?;
        let apps = setup.apps.clone();
        let report = probe_new_host(
            &self.host_credentials,
            "host_uri",
            &setup.host_uri,
            &setup.network,
            &setup.storage_dir,
            Patience::UntilStarted,
        )
        .await?;

        let password = request.admin_password;
        let hash = run_blocking(move || password::hash(&password))
            .await
            .map_err(|e| internal(&e))?;
        let host_name = report
            .probe
            .hostname
            .clone()
            .unwrap_or_else(|| "host-1".to_owned());
        let completed = self
            .store
            .write(move |tx| record_setup(tx, &setup, &hash, &host_name, peer))
            .await
            .map_err(store_err)?;
        if !completed {
            self.setup_complete.store(true, Ordering::Release);
            return Err(AppError::Conflict("the appliance is already set up".into()));
        }
        self.engine.sync_hosts().await.map_err(engine_err)?;
        self.apps_changed(Some(apps)).await.map_err(store_err)?;
        self.setup_complete.store(true, Ordering::Release);
        if let Err(e) = setup_code::remove(&self.config.data_dir) {
            tracing::warn!(error = %e, "could not remove the used setup code");
        }
        tracing::info!("setup completed");
        Ok(())
    }

    async fn probe_host(
        &self,
        ctx: &RequestContext,
        uri: String,
        setup_code: Option<String>,
    ) -> Result<HostProbe, AppError> {
        // During setup no account exists yet, and the setup code stands in
        // for one; afterwards only admins probe. Decided here, where the
        // state is known, so the caller makes one call.
        if self.is_set_up() {
            authorize::<rights::ProbeHost>(ctx.principal.as_ref())?;
        } else {
            self.check_setup_code(ctx.peer, setup_code.as_deref().unwrap_or_default())
                .await?;
        }
        let uri = validate::libvirt_uri("uri", &uri, self.config.test_driver())?;
        Ok(probe::probe_status(&uri, &self.host_credentials.open_uri(&uri)).await)
    }
}
