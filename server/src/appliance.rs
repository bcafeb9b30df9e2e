//! The appliance's service layer: the one implementation of
//! [`PortalService`], shared by the portal's server functions and the REST
//! handlers. Callers have already authorized the request.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use app::error::AppError;
use app::model::{
    Accepted, AddHost, Dashboard, DeployRequest, HostProbe, HostStatus, InstanceView, Me, NewToken,
    OutsideZoneSettings, OutsideZoneView, ParamInfo, Power, Principal, Role, SetupDefaults,
    SetupRequest, SetupStatus, SizeInfo, StackInfo, StepView, TaskKind, TaskView, TokensView,
    ZonesView,
};
use app::org::QuotaUse;
use app::policy::may_use;
use app::service::{PortalService, RequestContext};
use app::validate;
use async_trait::async_trait;

use crate::auth::secret_box::{SecretBox, SecretBoxError};
use crate::auth::throttle::{RefusalTally, SignInThrottle};
use crate::auth::{SESSION_SIGNED_IN_AT, SESSION_USER, password, setup_code, token};
use crate::blocking::run_blocking;
use crate::config::Config;
use crate::engine::connector::{Connector, LibvirtConnector};
use crate::engine::probe;
use crate::engine::runtime::{DeployPlan, Engine};
use crate::engine::{EngineError, Refusal};
use crate::error_chain;
use crate::stack::{Stack, StackError};
use crate::store::instances::InstanceRow;
use crate::store::tasks::TaskRow;
use crate::store::{
    Store, StoreError, audit, departments, hosts, instances, quotas, settings, tasks, tokens,
    users, zones,
};

mod account;
mod delegation;
mod directory;

/// Session keys.
const SESSION_NEW_TOKEN: &str = "new_token";

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
}

/// Logs the whole chain and answers with a message that reveals nothing.
fn internal(err: &dyn std::error::Error) -> AppError {
    tracing::error!(error = %error_chain(err), "internal error");
    AppError::Internal
}

fn store_err(err: StoreError) -> AppError {
    match err {
        StoreError::Duplicate(what) => AppError::Conflict(format!("{what} already exists")),
        StoreError::NotFound(what) => AppError::NotFound(what.into()),
        e @ (StoreError::Open { .. }
        | StoreError::SchemaTooNew { .. }
        | StoreError::Migration { .. }
        | StoreError::Sqlite(_)
        | StoreError::Pool(_)
        | StoreError::Io { .. }
        | StoreError::Corrupt(_)) => internal(&e),
    }
}

pub(crate) fn session_err(err: tower_sessions::session::Error) -> AppError {
    internal(&err)
}

/// What the caller may learn of an engine error. Every variant is listed so
/// that a new one is a decision here, not a silent 500.
fn engine_err(err: EngineError) -> AppError {
    match err {
        EngineError::Store(e) => store_err(e),
        EngineError::HostDown(host) => {
            AppError::Unavailable(format!("host {host} is not connected"))
        }
        EngineError::HostStarting(host) => AppError::Unavailable(format!(
            "host {host} is still starting; try again in a few seconds"
        )),
        e @ (EngineError::NoCapacity { .. } | EngineError::NotPlaced(_)) => {
            AppError::Unavailable(e.to_string())
        }
        // Host internals (URIs, paths, libvirt's words) stay in the log.
        e @ (EngineError::Connect { .. }
        | EngineError::Libvirt { .. }
        | EngineError::Capabilities { .. }
        | EngineError::Timeout { .. }
        | EngineError::Xml(_)
        | EngineError::Io(_)
        | EngineError::NoDomain(_)
        | EngineError::VolumeMissing(_)
        | EngineError::Seed(_)
        | EngineError::Image { .. }
        | EngineError::PoolElsewhere { .. }) => internal(&e),
    }
}

/// What the caller is told of a refused deploy.
fn refusal_err(refusal: Refusal) -> AppError {
    match refusal {
        Refusal::Quota(exceeded) => AppError::QuotaExceeded(format!("Deploy refused: {exceeded}")),
        e @ Refusal::NoOutsideZone => AppError::invalid("zone", e.to_string()),
        e @ Refusal::PoolExhausted { .. } => AppError::Conflict(e.to_string()),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot open the store")]
    Store(#[from] StoreError),
    #[error("cannot load the application stack")]
    Stack(#[from] StackError),
    #[error("cannot start the engine")]
    Engine(#[from] EngineError),
    #[error("cannot make the setup code")]
    SetupCode(#[source] std::io::Error),
    #[error("cannot load the secret key")]
    SecretKey(#[source] SecretBoxError),
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
    })
}

/// RFC 3339 of unix milliseconds.
fn rfc3339_ms(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn task_view(task: TaskRow) -> TaskView {
    let done = task.steps.iter().filter(|s| s.state == "done").count();
    let total = task.steps.len().max(1);
    TaskView {
        id: task.id,
        kind: task.kind,
        state: task.state,
        instance_id: task.instance_id,
        progress: u8::try_from(done * 100 / total).unwrap_or(100),
        created_at: rfc3339_ms(task.created_ms),
        finished_at: task.finished_ms.map(rfc3339_ms),
        steps: task
            .steps
            .into_iter()
            .map(|s| StepView {
                name: s.name,
                state: s.state,
                started_at: s.started_ms.map(rfc3339_ms),
                finished_at: s.finished_ms.map(rfc3339_ms),
            })
            .collect(),
        error: task.error,
    }
}

impl Appliance {
    fn instance_view(&self, row: InstanceRow) -> InstanceView {
        let state = match row.status.as_str() {
            "ready" => row.power.as_str().to_owned(),
            other => other.to_owned(),
        };
        let url = match (&row.ip, row.status.as_str(), row.power) {
            (Some(ip), "ready", Power::Running) => {
                let vars = [
                    ("ip".to_owned(), ip.clone()),
                    ("name".to_owned(), row.name.clone()),
                ]
                .into();
                Some(Stack::fill(&self.engine.stack().manifest.app.url, &vars))
            }
            _ => None,
        };
        InstanceView {
            id: row.id,
            name: row.name,
            state,
            host: row.host,
            ip: row.ip,
            url,
            owner: row.owner,
            size: row.size,
            created_at: rfc3339_ms(row.created_at * 1000),
            task_id: row.running_task,
            error: row.error,
            health: row.health,
            zone: row.zone,
        }
    }

    /// The instance `id` if `who` may use it, else `NotFound` (never 403:
    /// that would tell that it exists).
    async fn visible_instance(&self, who: &Principal, id: i64) -> Result<InstanceRow, AppError> {
        let row = self
            .store
            .read(move |c| instances::by_id(c, id))
            .await
            .map_err(store_err)?
            .filter(|r| may_use(who, r.owner_id, r.department_id));
        row.ok_or_else(|| AppError::NotFound("instance".into()))
    }

    /// A pool host's status through the engine's kept connection (cheap);
    /// an unreachable one says why.
    async fn host_status(&self, row: hosts::HostRow) -> HostStatus {
        let facts = match self.engine.connect(row.id).await {
            Ok(host) => run_blocking(move || host.facts()).await,
            Err(e) => Err(e),
        };
        let probe = facts.unwrap_or_else(|e| probe::disconnected(&row.uri, &e));
        HostStatus {
            probe,
            id: row.id,
            name: row.name,
            storage_dir: row.storage_dir,
            network: row.network,
        }
    }

    pub async fn new(store: Store, config: Config) -> Result<Arc<Appliance>, StartError> {
        Appliance::with_connector(store, config, Arc::new(LibvirtConnector)).await
    }

    /// An appliance whose engine opens hosts through `connector` (tests
    /// give it fake hosts).
    pub async fn with_connector(
        store: Store,
        config: Config,
        connector: Arc<dyn Connector>,
    ) -> Result<Arc<Appliance>, StartError> {
        let complete = store.read(settings::setup_complete).await?;
        let stack = Arc::new(Stack::load(&config.stack_dir, &config.image_dir)?);
        if !complete {
            // Made now, so a plain `dpe serve` asks for one as the image does.
            setup_code::ensure(&config.data_dir).map_err(StartError::SetupCode)?;
        }
        let secrets =
            SecretBox::load_or_create(&config.secret_key_path()).map_err(StartError::SecretKey)?;
        let sealing = secrets.clone();
        if store
            .write(move |tx| crate::store::directory::seal_legacy(tx, &sealing))
            .await?
        {
            tracing::info!("sealed the directory's bind password that was stored in the clear");
        }
        let engine = Engine::new(store.clone(), stack, config.engine(), connector).await?;
        engine.start_background().await?;
        Ok(Arc::new(Appliance {
            secrets,
            engine,
            store,
            throttle: SignInThrottle::new(config.sign_in_per_account, config.sign_in_per_address),
            refusals: RefusalTally::default(),
            config,
            setup_complete: AtomicBool::new(complete),
        }))
    }

    pub fn is_set_up(&self) -> bool {
        self.setup_complete.load(Ordering::Acquire)
    }

    /// Checks the setup code of a request made before setup: throttled like
    /// sign-ins, and a wrong one audited.
    async fn check_setup_code(&self, peer: IpAddr, given: &str) -> Result<(), AppError> {
        let refuse = |outcome: &'static str, detail: &str| audit::Record {
            address: Some(peer.to_string()),
            action: "setup".into(),
            outcome,
            detail: Some(detail.to_owned()),
            ..audit::Record::default()
        };
        if let Err(wait) = self.throttle.attempt_setup_code(peer) {
            tracing::warn!(%peer, "setup code tries throttled");
            if let Some(n) = self.refusals.refused(peer) {
                let detail = format!("throttled: {n} refused since the last record");
                self.audit(refuse("refused", &detail)).await;
            }
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
        self.audit(refuse("failed", "wrong setup code")).await;
        Err(AppError::invalid(
            "setup_code",
            "wrong setup code: it is on the appliance's console, or run `dpe setup-code` there",
        ))
    }

    pub fn prune_throttle(&self) {
        self.throttle.prune();
    }

    /// The account bound to a session, unless it was disabled since.
    pub async fn principal_for_user(&self, user_id: i64) -> Result<Option<Principal>, AppError> {
        self.store
            .read(move |c| match users::by_id(c, user_id)? {
                Some(u) if !u.disabled => Ok(Some(principal_of(c, u)?)),
                Some(_) | None => Ok(None),
            })
            .await
            .map_err(store_err)
    }

    /// The account behind a bearer token, unless unknown or disabled.
    pub async fn principal_for_token(&self, secret: &str) -> Result<Option<Principal>, AppError> {
        let hash = token::digest(secret);
        let found = self
            .store
            .read(move |c| tokens::owner_of(c, &hash))
            .await
            .map_err(store_err)?;
        let Some((token_id, user)) = found.filter(|(_, u)| !u.disabled) else {
            return Ok(None);
        };
        // A token outlives sessions: the directory is asked again whether
        // it still vouches for its account, once the last answer is old.
        let user = match self.recheck_if_stale(user).await? {
            Some(user) => user,
            None => return Ok(None),
        };
        let principal = self
            .store
            .read(move |c| principal_of(c, user))
            .await
            .map_err(store_err)?;
        self.store
            .write(move |tx| tokens::touch(tx, token_id))
            .await
            .map_err(store_err)?;
        Ok(Some(principal))
    }

    /// The quotas that bind `who`: their own, then each department up the
    /// tree, with what is in use.
    pub(crate) async fn quota_uses(&self, who: &Principal) -> Result<Vec<QuotaUse>, AppError> {
        let (user_id, department, role) = (who.user_id, who.department_id, who.role);
        self.store
            .read(move |c| {
                let own = users::by_id(c, user_id)?
                    .map(|u| u.quota)
                    .unwrap_or_default();
                let usage = quotas::user_usage(c, user_id)?;
                let mut uses = vec![QuotaUse {
                    scope: "Your instances".into(),
                    quota: own,
                    usage,
                }];
                if quotas::bound_by_default_quota(role, department) {
                    uses.push(QuotaUse {
                        scope: "Accounts in no department (each)".into(),
                        quota: quotas::default_quota(c)?,
                        usage,
                    });
                }
                if let Some(d) = department {
                    for dept in departments::ancestry(c, d)? {
                        uses.push(QuotaUse {
                            scope: format!("Department {}", dept.name),
                            quota: dept.quota,
                            usage: quotas::department_usage(c, dept.id)?,
                        });
                    }
                }
                Ok(uses)
            })
            .await
            .map_err(store_err)
    }

    /// Writes an audit record; a failure to write is logged, never shown.
    pub async fn audit(&self, record: audit::Record) {
        if let Err(e) = self.store.write(move |tx| audit::record(tx, &record)).await {
            tracing::error!(error = %error_chain(&e), "cannot write the audit log");
        }
    }

    /// Records a request the edge refused (403).
    pub async fn audit_refusal(&self, who: Option<&Principal>, peer: IpAddr, what: String) {
        self.audit(audit::Record {
            actor: who.map(|p| p.username.clone()),
            actor_id: who.map(|p| p.user_id),
            address: Some(peer.to_string()),
            action: "refused".into(),
            object: Some(what),
            outcome: "refused",
            detail: None,
            department_id: who.and_then(|p| p.department_id),
        })
        .await;
    }

    /// Records a change `who` made.
    pub(crate) async fn audit_change(
        &self,
        who: &Principal,
        action: &str,
        object: impl Into<String>,
        department_id: Option<i64>,
        detail: Option<String>,
    ) {
        self.audit(audit::Record {
            actor: Some(who.username.clone()),
            actor_id: Some(who.user_id),
            address: who.address.clone(),
            action: action.to_owned(),
            object: Some(object.into()),
            outcome: "ok",
            detail,
            department_id: department_id.or(who.department_id),
        })
        .await;
    }

    fn defaults(&self) -> SetupDefaults {
        let data_dir = std::path::absolute(&self.config.data_dir)
            .unwrap_or_else(|_| self.config.data_dir.clone());
        SetupDefaults {
            host_uri: "qemu:///system".to_owned(),
            storage_dir: data_dir.join("storage").display().to_string(),
            network: "default".to_owned(),
        }
    }

    pub(crate) fn throttled(&self, account: &str, peer: IpAddr) -> Result<(), AppError> {
        self.throttle.attempt(account, peer).map_err(|wait| {
            tracing::warn!(account, %peer, "sign-in throttled");
            throttled_for(wait)
        })
    }
}

/// A host as members see it: its name, and whether it is available.
fn availability_only(host: HostStatus) -> HostStatus {
    HostStatus {
        id: host.id,
        name: host.name,
        storage_dir: String::new(),
        network: String::new(),
        probe: HostProbe::without_facts(
            String::new(),
            host.probe.connected,
            host.probe.starting,
            None,
        ),
    }
}

/// The refusal of a throttled attempt, with whole seconds to wait.
fn throttled_for(wait: Duration) -> AppError {
    AppError::Throttled {
        retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
    }
}

/// How long adding a host waits for this machine's libvirtd to finish
/// starting, and how often it asks.
const STARTING_PATIENCE: Duration = Duration::from_secs(180);
const STARTING_RETRY: Duration = Duration::from_secs(2);

/// How long to wait for a host that is still starting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Patience {
    /// The wizard, completed right after the appliance booted, finds its
    /// libvirtd still checking QEMU: wait for it rather than fail.
    UntilStarted,
    /// Later, a host that does not answer is reported at once.
    None,
}

/// Checks a host before it joins the pool: it answers, it has the
/// network, and (when local) its storage directory is usable. `uri_field`
/// names the form field the URI came in.
async fn probe_new_host(
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
        match probe::probe(uri).await {
            Ok(report) => break report,
            Err(e) if probe::is_starting(uri, &e) && tokio::time::Instant::now() < deadline => {
                tracing::info!(uri, "the host is still starting; trying again");
                tokio::time::sleep(STARTING_RETRY).await;
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
    if !probe::is_local(uri) || uri.starts_with("test:") {
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

#[async_trait]
impl PortalService for Appliance {
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
        let address = ctx.peer.to_string();
        if self.is_set_up() {
            return Err(AppError::Conflict("the appliance is already set up".into()));
        }
        self.check_setup_code(ctx.peer, &request.setup_code).await?;
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

        let report = probe_new_host(
            "host_uri",
            &host_uri,
            &network,
            &storage_dir,
            Patience::UntilStarted,
        )
        .await?;

        let password = request.admin_password;
        let hash = run_blocking(move || password::hash(&password)).await;
        let host_name = report
            .probe
            .hostname
            .clone()
            .unwrap_or_else(|| "host-1".to_owned());
        let completed = self
            .store
            .write(move |tx| {
                // Checked under the write lock: two racing wizards, one winner.
                if settings::setup_complete(tx)? {
                    return Ok(false);
                }
                settings::set(tx, settings::APPLIANCE_NAME, &appliance_name)?;
                let admin_id = users::insert(tx, &username, Some(&hash), Role::Admin)?;
                hosts::insert(tx, &host_name, &host_uri, &storage_dir, &network)?;
                audit::record(
                    tx,
                    &audit::Record {
                        actor: Some(username.clone()),
                        actor_id: Some(admin_id),
                        address: Some(address),
                        action: "setup".into(),
                        object: Some(format!("appliance {appliance_name}")),
                        outcome: "ok",
                        detail: Some(format!("first host {host_uri}")),
                        ..audit::Record::default()
                    },
                )?;
                settings::set(
                    tx,
                    settings::SETUP_COMPLETED_AT,
                    &crate::store::now().to_string(),
                )?;
                Ok(true)
            })
            .await
            .map_err(store_err)?;
        if !completed {
            self.setup_complete.store(true, Ordering::Release);
            return Err(AppError::Conflict("the appliance is already set up".into()));
        }
        self.engine.sync_hosts().await.map_err(engine_err)?;
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
        if !self.is_set_up() {
            self.check_setup_code(ctx.peer, setup_code.as_deref().unwrap_or_default())
                .await?;
        }
        let uri = validate::libvirt_uri("uri", &uri, self.config.test_driver())?;
        Ok(probe::probe_status(&uri).await)
    }

    async fn sign_in(
        &self,
        ctx: &RequestContext,
        username: String,
        password: String,
    ) -> Result<Me, AppError> {
        let session = ctx.session.as_ref().ok_or(AppError::Internal)?;
        // A name that could be no account's is refused before it reaches
        // the log or the audit, and counts against its address only.
        let well_formed = validate::username("username", &username).ok();
        let account = well_formed
            .clone()
            .unwrap_or_else(|| "(malformed name)".to_owned());
        let refuse = |outcome: &'static str, detail: &str| audit::Record {
            actor: well_formed.clone(),
            actor_id: None,
            address: Some(ctx.peer.to_string()),
            action: "sign_in".into(),
            object: None,
            outcome,
            detail: Some(detail.to_owned()),
            department_id: None,
        };
        if let Err(e) = self.throttled(&account, ctx.peer) {
            // A flood leaves one record a minute per address, with its count.
            if let Some(n) = self.refusals.refused(ctx.peer) {
                let detail = format!("throttled: {n} refused since the last record");
                self.audit(refuse("refused", &detail)).await;
            }
            return Err(e);
        }
        if well_formed.is_none() {
            self.audit(refuse("failed", "malformed user name")).await;
            return Err(AppError::InvalidCredentials);
        }
        if password.is_empty() || password.len() > password::MAX_LENGTH {
            self.audit(refuse("failed", "empty or oversized password"))
                .await;
            return Err(AppError::InvalidCredentials);
        }
        let lookup = account.clone();
        let user = self
            .store
            .read(move |c| users::by_name(c, &lookup))
            .await
            .map_err(store_err)?;
        // A local account answers for its name; directory accounts, and
        // names unknown here, go to the directory when one is configured.
        let verified = match user {
            Some(u) if u.source == "local" => {
                let stored = u.password_hash.clone();
                let ok = run_blocking(move || password::verify(stored.as_deref(), &password)).await;
                ok.then_some(u)
            }
            Some(_) | None => match self.directory_sign_in(&account, &password).await {
                Ok(found) => found,
                Err(e) => {
                    self.audit(refuse("failed", "directory unreachable")).await;
                    return Err(e);
                }
            },
        };
        let Some(user) = verified.filter(|u| !u.disabled) else {
            tracing::info!(account, peer = %ctx.peer, "sign-in refused");
            self.audit(refuse("failed", "unknown user or wrong password"))
                .await;
            return Err(AppError::InvalidCredentials);
        };
        // A new id at the privilege change defeats session fixation.
        session.cycle_id().await.map_err(session_err)?;
        session
            .insert(SESSION_USER, user.id)
            .await
            .map_err(session_err)?;
        session
            .insert(SESSION_SIGNED_IN_AT, crate::store::now())
            .await
            .map_err(session_err)?;
        tracing::info!(account, peer = %ctx.peer, "signed in");
        self.audit(audit::Record {
            actor: Some(user.username.clone()),
            actor_id: Some(user.id),
            address: Some(ctx.peer.to_string()),
            action: "sign_in".into(),
            object: None,
            outcome: "ok",
            detail: Some(format!("{} account", user.source)),
            department_id: user.department_id,
        })
        .await;
        Ok(Me {
            role: user.effective_role(),
            username: user.username,
        })
    }

    async fn change_password(
        &self,
        ctx: &RequestContext,
        current_password: String,
        new_password: String,
    ) -> Result<(), AppError> {
        self.change_own_password(ctx, current_password, new_password)
            .await
    }

    async fn sign_out(&self, ctx: &RequestContext) -> Result<(), AppError> {
        if let Some(session) = &ctx.session {
            session.flush().await.map_err(session_err)?;
        }
        Ok(())
    }

    async fn dashboard(&self, who: &Principal) -> Result<Dashboard, AppError> {
        let (name, host_rows) = self
            .store
            .read(|c| Ok((settings::get(c, settings::APPLIANCE_NAME)?, hosts::list(c)?)))
            .await
            .map_err(store_err)?;
        let hosts =
            futures::future::join_all(host_rows.into_iter().map(|h| self.host_status(h))).await;
        // Only the appliance admin sees how hosts are reached: URIs,
        // storage paths and libvirt's words are the infrastructure's.
        let hosts = match who.role {
            Role::Admin => hosts,
            Role::DepartmentAdmin | Role::User => {
                hosts.into_iter().map(availability_only).collect()
            }
        };
        Ok(Dashboard {
            appliance_name: name.unwrap_or_else(|| "dpe".to_owned()),
            me: Me::from(who),
            hosts,
            cleaned_orphans: match who.role {
                Role::Admin => self.engine.cleaned_orphans(),
                Role::DepartmentAdmin | Role::User => Vec::new(),
            },
            quotas: self.quota_uses(who).await?,
        })
    }

    async fn tokens_view(
        &self,
        ctx: &RequestContext,
        who: &Principal,
    ) -> Result<TokensView, AppError> {
        let user_id = who.user_id;
        let tokens = self
            .store
            .read(move |c| tokens::list_for_user(c, user_id))
            .await
            .map_err(store_err)?;
        let just_created = match &ctx.session {
            Some(s) => s
                .remove::<NewToken>(SESSION_NEW_TOKEN)
                .await
                .map_err(session_err)?,
            None => None,
        };
        Ok(TokensView {
            tokens,
            just_created,
        })
    }

    async fn create_token(
        &self,
        ctx: &RequestContext,
        who: &Principal,
        name: String,
        expires_in_days: Option<u32>,
    ) -> Result<NewToken, AppError> {
        let name = validate::display_name("name", &name)?;
        let expires_at = match expires_in_days {
            None => None,
            Some(days @ 1..=validate::TOKEN_DAYS_MAX) => {
                Some(crate::store::now() + i64::from(days) * 86_400)
            }
            Some(_) => {
                return Err(AppError::invalid(
                    "expires_in_days",
                    format!("from 1 to {} days, or none", validate::TOKEN_DAYS_MAX),
                ));
            }
        };
        let (secret, hash) = token::generate();
        let (user_id, stored_name) = (who.user_id, name.clone());
        let id = self
            .store
            .write(move |tx| tokens::insert(tx, user_id, &stored_name, &hash, expires_at))
            .await
            .map_err(store_err)?;
        self.audit_change(who, "token.create", format!("token {name:?}"), None, None)
            .await;
        let created = NewToken {
            id,
            name,
            token: secret,
        };
        if let Some(session) = &ctx.session {
            session
                .insert(SESSION_NEW_TOKEN, &created)
                .await
                .map_err(session_err)?;
        }
        Ok(created)
    }

    async fn revoke_token(&self, who: &Principal, id: i64) -> Result<(), AppError> {
        let user_id = who.user_id;
        let deleted = self
            .store
            .write(move |tx| tokens::delete_for_user(tx, user_id, id))
            .await
            .map_err(store_err)?;
        if deleted {
            self.audit_change(who, "token.revoke", format!("token #{id}"), None, None)
                .await;
            Ok(())
        } else {
            Err(AppError::NotFound("token".into()))
        }
    }

    async fn stack(&self) -> Result<StackInfo, AppError> {
        let m = &self.engine.stack().manifest;
        Ok(StackInfo {
            name: m.name.clone(),
            title: m.title.clone(),
            description: m.description.clone(),
            sizes: m
                .sizes
                .iter()
                .map(|s| SizeInfo {
                    name: s.name.clone(),
                    label: s.label.clone(),
                    vcpus: s.vcpus,
                    memory_mib: s.memory_mib,
                    disk_gib: s.disk_gib,
                })
                .collect(),
            params: m
                .params
                .iter()
                .map(|p| ParamInfo {
                    name: p.name.clone(),
                    label: p.label.clone(),
                    kind: serde_json::to_value(p.kind)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    help: p.help.clone(),
                    required: p.required,
                    default: p.default.clone(),
                    max_length: p.max_length,
                })
                .collect(),
        })
    }

    async fn deploy(&self, who: &Principal, request: DeployRequest) -> Result<Accepted, AppError> {
        let name = validate::dns_label("name", &request.name)?;
        let stack = self.engine.stack().clone();
        let size = stack.size(&request.size)?.clone();
        let network = request
            .network
            .as_deref()
            .map(|n| validate::libvirt_name("network", n))
            .transpose()?;
        if let Some(n) = &network {
            let known = self.store.read(hosts::list).await.map_err(store_err)?;
            if !known.iter().any(|h| &h.network == n) {
                return Err(AppError::invalid(
                    "network",
                    format!("no host offers the network {n:?}"),
                ));
            }
        }
        // bcrypt is slow on purpose: off the runtime.
        let params = request.params;
        let hostname = name.clone();
        let (checked, user_data) = run_blocking(move || {
            let mut checked = stack.check_params(&params)?;
            checked.template.insert("hostname".into(), hostname);
            let user_data = stack
                .render_user_data(&checked.template)
                .map_err(|e| internal(&e))?;
            Ok::<_, AppError>((checked, user_data))
        })
        .await?;
        let health_expect = Stack::fill(
            &self.engine.stack().manifest.app.health_expect,
            &checked.template,
        );
        let plan = DeployPlan {
            name,
            size,
            public_params: checked.public,
            user_data,
            network,
            zone: request.zone.unwrap_or_default(),
            health_expect,
        };
        let name = plan.name.clone();
        let size = plan.size.name.clone();
        match self
            .engine
            .submit_deploy(who, plan)
            .await
            .map_err(engine_err)?
        {
            Ok(accepted) => {
                let object = format!("instance {name}");
                let detail = Some(format!("size {size}"));
                self.audit_change(who, "instance.deploy", object, None, detail)
                    .await;
                Ok(accepted)
            }
            Err(Refusal::Quota(exceeded)) => {
                let why = exceeded.to_string();
                self.audit(audit::Record {
                    actor: Some(who.username.clone()),
                    actor_id: Some(who.user_id),
                    address: who.address.clone(),
                    action: "instance.deploy".into(),
                    object: Some(format!("instance {name}")),
                    outcome: "refused",
                    detail: Some(why.clone()),
                    department_id: who.department_id,
                })
                .await;
                Err(refusal_err(Refusal::Quota(exceeded)))
            }
            Err(refusal) => Err(refusal_err(refusal)),
        }
    }

    async fn instances(&self, who: &Principal) -> Result<Vec<InstanceView>, AppError> {
        let owner = match who.role {
            Role::Admin | Role::DepartmentAdmin => None,
            Role::User => Some(who.user_id),
        };
        let rows = self
            .store
            .read(move |c| instances::list(c, owner))
            .await
            .map_err(store_err)?;
        Ok(rows
            .into_iter()
            .filter(|r| may_use(who, r.owner_id, r.department_id))
            .map(|r| self.instance_view(r))
            .collect())
    }

    async fn instance(&self, who: &Principal, id: i64) -> Result<InstanceView, AppError> {
        Ok(self.instance_view(self.visible_instance(who, id).await?))
    }

    async fn act(&self, who: &Principal, id: i64, kind: TaskKind) -> Result<i64, AppError> {
        let row = self.visible_instance(who, id).await?;
        let allowed = match (kind, row.status.as_str()) {
            (TaskKind::Delete, "ready" | "failed") => true,
            (
                TaskKind::Start | TaskKind::Shutdown | TaskKind::Reboot | TaskKind::Poweroff,
                "ready",
            ) => true,
            (TaskKind::Deploy, _) | (_, _) => false,
        };
        if row.running_task.is_some() {
            return Err(AppError::Conflict(format!(
                "{} is busy with another task; try again when it ends",
                row.name
            )));
        }
        if !allowed {
            return Err(AppError::Conflict(format!(
                "{} cannot {} while it is {}",
                row.name,
                kind.as_str(),
                row.status
            )));
        }
        match self.engine.submit_action(id, kind).await {
            Err(EngineError::Store(StoreError::Duplicate(_))) => Err(AppError::Conflict(format!(
                "{} is busy with another task; try again when it ends",
                row.name
            ))),
            Ok(task) => {
                let action = format!("instance.{}", kind.as_str());
                let object = format!("instance {}", row.name);
                self.audit_change(who, &action, object, row.department_id, None)
                    .await;
                Ok(task)
            }
            Err(e) => Err(engine_err(e)),
        }
    }

    async fn task(&self, who: &Principal, id: i64) -> Result<TaskView, AppError> {
        let task = self
            .store
            .read(move |c| {
                let Some(task) = tasks::get(c, id)? else {
                    return Ok(None);
                };
                // The instance may be gone (a finished delete): then only
                // its owner and appliance admins see the task.
                let department =
                    instances::by_uuid(c, &task.instance_uuid)?.and_then(|i| i.department_id);
                Ok(Some((task, department)))
            })
            .await
            .map_err(store_err)?
            .filter(|(t, department)| may_use(who, t.owner_id, *department))
            .map(|(t, _)| t)
            .ok_or_else(|| AppError::NotFound("task".into()))?;
        Ok(task_view(task))
    }

    async fn hosts(&self) -> Result<Vec<HostStatus>, AppError> {
        let rows = self.store.read(hosts::list).await.map_err(store_err)?;
        Ok(futures::future::join_all(rows.into_iter().map(|r| self.host_status(r))).await)
    }

    async fn add_host(&self, who: &Principal, request: AddHost) -> Result<HostStatus, AppError> {
        let uri = validate::libvirt_uri("uri", &request.uri, self.config.test_driver())?;
        let storage_dir = validate::absolute_dir("storage_dir", &request.storage_dir)?;
        let network = validate::libvirt_name("network", &request.network)?;
        let name = request
            .name
            .map(|n| validate::display_name("name", &n))
            .transpose()?;
        let report = probe_new_host("uri", &uri, &network, &storage_dir, Patience::None).await?;
        let name =
            name.unwrap_or_else(|| report.probe.hostname.clone().unwrap_or_else(|| uri.clone()));
        let object = format!("host {uri}");
        let id = self
            .store
            .write(move |tx| hosts::insert(tx, &name, &uri, &storage_dir, &network))
            .await
            .map_err(store_err)?;
        self.audit_change(who, "host.add", object, None, None).await;
        self.engine.sync_hosts().await.map_err(engine_err)?;
        let row = self
            .store
            .read(hosts::list)
            .await
            .map_err(store_err)?
            .into_iter()
            .find(|h| h.id == id)
            .ok_or(AppError::Internal)?;
        Ok(self.host_status(row).await)
    }

    async fn remove_host(&self, who: &Principal, id: i64) -> Result<(), AppError> {
        let removed = self
            .store
            .write(move |tx| {
                let used: i64 = tx.query_row(
                    "SELECT count(*) FROM instances WHERE host_id = ?1",
                    [id],
                    |r| r.get(0),
                )?;
                if used > 0 {
                    return Ok(Err(used));
                }
                Ok(Ok(tx.execute("DELETE FROM hosts WHERE id = ?1", [id])? == 1))
            })
            .await
            .map_err(store_err)?;
        match removed {
            Err(used) => Err(AppError::Conflict(format!(
                "the host still holds {used} instance(s)"
            ))),
            Ok(false) => Err(AppError::NotFound("host".into())),
            Ok(true) => {
                self.engine.forget_host(id);
                self.audit_change(who, "host.remove", format!("host #{id}"), None, None)
                    .await;
                Ok(())
            }
        }
    }

    async fn cleaned_orphans(&self) -> Result<Vec<String>, AppError> {
        Ok(self.engine.cleaned_orphans())
    }

    async fn zones(&self) -> Result<ZonesView, AppError> {
        self.store
            .read(|c| {
                let mut inside_networks: Vec<String> =
                    hosts::list(c)?.into_iter().map(|h| h.network).collect();
                inside_networks.sort();
                inside_networks.dedup();
                let outside = match zones::outside(c)? {
                    Some(zone) => {
                        let in_use = zones::pool_usage(c, &zone)?;
                        Some(OutsideZoneView {
                            settings: zone.settings(),
                            in_use,
                            free: zone.size() - in_use,
                        })
                    }
                    None => None,
                };
                Ok(ZonesView {
                    inside_networks,
                    outside,
                })
            })
            .await
            .map_err(store_err)
    }

    async fn set_outside_zone(
        &self,
        who: &Principal,
        settings: OutsideZoneSettings,
    ) -> Result<ZonesView, AppError> {
        let zone = validate::outside_zone(&settings)?;
        let detail = format!("bridge {}, {} to {}", zone.bridge, zone.first, zone.last);
        tracing::info!(bridge = zone.bridge, first = %zone.first, last = %zone.last, "outside zone set");
        self.store
            .write(move |tx| zones::set_outside(tx, &zone))
            .await
            .map_err(store_err)?;
        self.audit_change(who, "zone.set", "outside zone", None, Some(detail))
            .await;
        self.zones().await
    }

    async fn clear_outside_zone(&self, who: &Principal) -> Result<(), AppError> {
        let cleared = self
            .store
            .write(|tx| zones::clear_outside(tx))
            .await
            .map_err(store_err)?;
        if cleared {
            self.audit_change(who, "zone.clear", "outside zone", None, None)
                .await;
            Ok(())
        } else {
            Err(AppError::Conflict(
                "instances still use the outside zone; delete them first".into(),
            ))
        }
    }
}
