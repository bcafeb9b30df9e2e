//! The appliance's service layer: the one implementation of
//! [`PortalService`], shared by the portal's server functions and the REST
//! handlers. Callers have already authorized the request.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use app::error::AppError;
use app::model::{
    Dashboard, HostProbe, HostStatus, Me, NewToken, Principal, Role, SetupDefaults, SetupRequest,
    SetupStatus, TokensView,
};
use app::service::{PortalService, RequestContext};
use app::validate;
use async_trait::async_trait;

use crate::auth::{password, throttle::SignInThrottle, token};
use crate::blocking::run_blocking;
use crate::config::Config;
use crate::engine::probe;
use crate::error_chain;
use crate::store::{Store, StoreError, hosts, settings, tokens, users};

/// Session keys.
const SESSION_USER: &str = "user_id";
const SESSION_NEW_TOKEN: &str = "new_token";

pub struct Appliance {
    pub store: Store,
    pub config: Config,
    throttle: SignInThrottle,
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
        other => internal(&other),
    }
}

fn session_err(err: tower_sessions::session::Error) -> AppError {
    internal(&err)
}

impl Appliance {
    pub async fn new(store: Store, config: Config) -> Result<Arc<Appliance>, StoreError> {
        let complete = store.read(|c| settings::setup_complete(c)).await?;
        Ok(Arc::new(Appliance {
            store,
            throttle: SignInThrottle::new(config.sign_in_per_account, config.sign_in_per_address),
            config,
            setup_complete: AtomicBool::new(complete),
        }))
    }

    pub fn is_set_up(&self) -> bool {
        self.setup_complete.load(Ordering::Acquire)
    }

    pub fn prune_throttle(&self) {
        self.throttle.prune();
    }

    /// The account bound to a session, unless it was disabled since.
    pub async fn principal_for_user(&self, user_id: i64) -> Result<Option<Principal>, AppError> {
        let user = self
            .store
            .read(move |c| users::by_id(c, user_id))
            .await
            .map_err(store_err)?;
        Ok(user.filter(|u| !u.disabled).map(|u| Principal {
            user_id: u.id,
            username: u.username,
            role: u.role,
        }))
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
        self.store
            .write(move |tx| tokens::touch(tx, token_id))
            .await
            .map_err(store_err)?;
        Ok(Some(Principal {
            user_id: user.id,
            username: user.username,
            role: user.role,
        }))
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

    fn throttled(&self, account: &str, peer: IpAddr) -> Result<(), AppError> {
        self.throttle.attempt(account, peer).map_err(|wait| {
            tracing::warn!(account, %peer, "sign-in throttled");
            AppError::Throttled {
                retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
            }
        })
    }
}

/// Creates the storage directory when the host is this machine.
fn prepare_local_storage(uri: &str, dir: &str) -> Result<(), AppError> {
    let local = uri
        .split_once("://")
        .is_some_and(|(_, rest)| rest.starts_with('/'));
    if !local || uri.starts_with("test:") {
        return Ok(());
    }
    std::fs::create_dir_all(Path::new(dir))
        .map_err(|e| AppError::invalid("storage_dir", format!("cannot create the directory: {e}")))
}

#[async_trait]
impl PortalService for Appliance {
    async fn setup_status(&self) -> Result<SetupStatus, AppError> {
        Ok(SetupStatus {
            complete: self.is_set_up(),
            defaults: self.defaults(),
        })
    }

    async fn complete_setup(&self, request: SetupRequest) -> Result<(), AppError> {
        if self.is_set_up() {
            return Err(AppError::Conflict("the appliance is already set up".into()));
        }
        let defaults = self.defaults();
        let appliance_name = validate::display_name("appliance_name", &request.appliance_name)?;
        let username = validate::username("admin_username", &request.admin_username)?;
        if let Some(why) =
            password::weakness(&request.admin_password, &[&username, &appliance_name])
        {
            return Err(AppError::invalid("admin_password", why));
        }
        let host_uri = validate::libvirt_uri("host_uri", &request.host_uri)?;
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

        let report = probe::probe(&host_uri).await.map_err(|e| {
            AppError::invalid(
                "host_uri",
                format!("could not connect: {}", error_chain(&e)),
            )
        })?;
        if !report.networks.contains(&network) {
            return Err(AppError::invalid(
                "network",
                format!(
                    "the host has no network {network:?}; it has: {}",
                    report.networks.join(", ")
                ),
            ));
        }
        prepare_local_storage(&host_uri, &storage_dir)?;

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
                users::insert(tx, &username, Some(&hash), Role::Admin)?;
                hosts::insert(tx, &host_name, &host_uri, &storage_dir, &network)?;
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
        self.setup_complete.store(true, Ordering::Release);
        tracing::info!("setup completed");
        Ok(())
    }

    async fn probe_host(&self, uri: String) -> Result<HostProbe, AppError> {
        let uri = validate::libvirt_uri("uri", &uri)?;
        Ok(probe::probe_status(&uri).await)
    }

    async fn sign_in(
        &self,
        ctx: &RequestContext,
        username: String,
        password: String,
    ) -> Result<Me, AppError> {
        let session = ctx.session.as_ref().ok_or(AppError::Internal)?;
        // Throttle on what was typed, so invalid names count as well.
        let account = username.trim().to_lowercase();
        self.throttled(&account, ctx.peer)?;
        if password.is_empty() || password.len() > password::MAX_LENGTH {
            return Err(AppError::InvalidCredentials);
        }
        let lookup = account.clone();
        let user = self
            .store
            .read(move |c| users::by_name(c, &lookup))
            .await
            .map_err(store_err)?
            .filter(|u| !u.disabled);
        let stored = user.as_ref().and_then(|u| u.password_hash.clone());
        let ok = run_blocking(move || password::verify(stored.as_deref(), &password)).await;
        let (true, Some(user)) = (ok, user) else {
            tracing::info!(account, peer = %ctx.peer, "sign-in refused");
            return Err(AppError::InvalidCredentials);
        };
        // A new id at the privilege change defeats session fixation.
        session.cycle_id().await.map_err(session_err)?;
        session
            .insert(SESSION_USER, user.id)
            .await
            .map_err(session_err)?;
        tracing::info!(account, peer = %ctx.peer, "signed in");
        Ok(Me {
            username: user.username,
            role: user.role,
        })
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
        let probes =
            futures::future::join_all(host_rows.iter().map(|h| probe::probe_status(&h.uri))).await;
        let hosts = host_rows
            .into_iter()
            .zip(probes)
            .map(|(h, probe)| HostStatus {
                id: h.id,
                name: h.name,
                storage_dir: h.storage_dir,
                network: h.network,
                probe,
            })
            .collect();
        Ok(Dashboard {
            appliance_name: name.unwrap_or_else(|| "dpe".to_owned()),
            me: Me::from(who),
            hosts,
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
    ) -> Result<NewToken, AppError> {
        let name = validate::display_name("name", &name)?;
        let (secret, hash) = token::generate();
        let (user_id, stored_name) = (who.user_id, name.clone());
        let id = self
            .store
            .write(move |tx| tokens::insert(tx, user_id, &stored_name, &hash))
            .await
            .map_err(store_err)?;
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
            Ok(())
        } else {
            Err(AppError::NotFound("token".into()))
        }
    }
}
