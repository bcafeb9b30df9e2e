//! What each CLI command does.

use std::io::{BufRead, IsTerminal};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use app::model::Role;
use tower_sessions::ExpiredDeletion;

use crate::appliance::Appliance;
use crate::auth::password;
use crate::blocking::run_blocking;
use crate::config::Config;
use crate::store::audit::Audit;
use crate::store::sessions::SqliteSessionStore;
use crate::store::{Store, audit, settings, users};

/// The audit log's cap, besides its retention in days.
const AUDIT_RECORDS_KEPT: u64 = 1_000_000;

/// How often expired sessions, idle throttle entries and old audit records
/// are swept.
const SWEEP_INTERVAL: Duration = Duration::from_secs(300);

pub fn open_store(config: &Config) -> anyhow::Result<Store> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
    // Nobody else lists the data directory; QEMU's user still passes
    // through it to the instance storage below.
    std::fs::set_permissions(
        &config.data_dir,
        std::os::unix::fs::PermissionsExt::from_mode(0o711),
    )
    .with_context(|| format!("cannot restrict {}", config.data_dir.display()))?;
    Ok(Store::open(&config.store_path())?)
}

/// Every `SWEEP_INTERVAL`: deletes expired sessions, prunes the audit log
/// and the sign-in throttle, and asks the directory about stale accounts.
fn spawn_sweeper(
    store: Store,
    config: &Config,
    appliance: Arc<Appliance>,
) -> tokio::task::JoinHandle<()> {
    let audit_store = store.clone();
    let audit_days = config.audit_retention_days;
    let sessions = SqliteSessionStore::new(store);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SWEEP_INTERVAL);
        loop {
            tick.tick().await;
            if let Err(e) = sessions.delete_expired().await {
                tracing::warn!(error = %e, "could not delete expired sessions");
            }
            let days = audit_days;
            match audit_store
                .write(move |tx| audit::prune(tx, days, AUDIT_RECORDS_KEPT))
                .await
            {
                Ok(0) => {}
                Ok(n) => tracing::info!(records = n, "pruned the audit log"),
                Err(e) => tracing::warn!(error = %e, "could not prune the audit log"),
            }
            match audit_store
                .write(|tx| crate::store::gateway::prune(tx))
                .await
            {
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not prune the gateway's sessions"),
            }
            appliance.prune_throttle();
            appliance.recheck_directory_now().await;
        }
    })
}

pub async fn serve(config: Config) -> anyhow::Result<()> {
    let store = open_store(&config)?;
    let appliance = Appliance::new(store.clone(), config.clone()).await?;
    // One gateway for the portal's listener and the applications' ports:
    // one upstream pool, one pseudonym in `Via`.
    let gateway = crate::http::gateway_of(&appliance);
    let router = crate::http::router(appliance.clone(), gateway.clone());
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(crate::http::tls::server_config(cert, key)?),
        (_, _) => None,
    };
    // The appliance's own certificate follows the applications' domain.
    let certificate = match (&tls, &config.tls_cert, &config.tls_key) {
        (Some(tls), Some(cert), Some(key)) if config.tls_self_signed => {
            Some(crate::http::certificate::follow_apps_domain(
                tls.clone(),
                cert.clone(),
                key.clone(),
                appliance.watch_apps(),
            ))
        }
        (_, _, _) => None,
    };
    // Applications on ports of their own open beside the portal.
    let ports = crate::gateway::listeners::PortListeners {
        gateway,
        store: store.clone(),
        ip: config.listen.ip(),
        tls: tls.clone(),
    }
    .spawn(appliance.watch_apps());

    let sweeper = spawn_sweeper(store, &config, appliance.clone());

    match tls {
        Some(tls) => {
            let listener = std::net::TcpListener::bind(config.listen)
                .with_context(|| format!("cannot listen on {}", config.listen))?;
            listener.set_nonblocking(true)?;
            let local = listener.local_addr()?;
            let redirect = match config.redirect_listen {
                Some(addr) => Some(crate::http::tls::serve_redirect(addr, local.port()).await?),
                None => None,
            };
            tracing::info!(
                "dpe {} serving https://{local} (data in {})",
                env!("CARGO_PKG_VERSION"),
                config.data_dir.display()
            );
            let handle = axum_server::Handle::new();
            tokio::spawn({
                let handle = handle.clone();
                async move {
                    shutdown_signal().await;
                    handle.graceful_shutdown(Some(Duration::from_secs(10)));
                }
            });
            // TCP_NODELAY: an answer's head and body go out together.
            axum_server::from_tcp(listener)
                .acceptor(
                    axum_server::tls_rustls::RustlsAcceptor::new(tls)
                        .acceptor(axum_server::accept::NoDelayAcceptor::new()),
                )
                .handle(handle)
                .serve(router.into_make_service_with_connect_info::<SocketAddr>())
                .await?;
            if let Some(redirect) = redirect {
                redirect.abort();
            }
        }
        None => {
            let listener = tokio::net::TcpListener::bind(config.listen)
                .await
                .with_context(|| format!("cannot listen on {}", config.listen))?;
            tracing::info!(
                "dpe {} serving http://{} (data in {})",
                env!("CARGO_PKG_VERSION"),
                listener.local_addr()?,
                config.data_dir.display()
            );
            use axum::serve::ListenerExt;
            let listener = listener.tap_io(|tcp| {
                if let Err(e) = tcp.set_nodelay(true) {
                    tracing::debug!(error = %e, "cannot set TCP_NODELAY");
                }
            });
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(shutdown_signal())
            .await?;
        }
    }
    sweeper.abort();
    ports.abort();
    if let Some(certificate) = certificate {
        certificate.abort();
    }
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}

/// A new password: from standard input (one line) or asked twice.
fn read_new_password(from_stdin: bool, username: &str) -> anyhow::Result<String> {
    let password = if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        let first = rpassword::prompt_password(format!("Password for {username}: "))?;
        let again = rpassword::prompt_password("Again: ")?;
        if first != again {
            bail!("the passwords differ");
        }
        first
    };
    if let Some(why) = password::weakness(&password, &[username]) {
        bail!("password refused: {why}");
    }
    Ok(password)
}

/// An audit record of a change made on the appliance's console.
fn console_change(action: &str, username: &str, detail: String) -> audit::Record {
    let change = Audit::by_console()
        .action(action)
        .object(format!("user {username}"));
    if detail.is_empty() {
        change.ok()
    } else {
        change.detail(detail).ok()
    }
}

pub async fn user_add(
    config: &Config,
    username: &str,
    role: Role,
    password_stdin: bool,
) -> anyhow::Result<()> {
    let username =
        app::validate::username("username", username).map_err(|e| anyhow::anyhow!("{e}"))?;
    let store = open_store(config)?;
    let password = read_new_password(password_stdin, &username)?;
    let hash = run_blocking(move || password::hash(&password)).await?;
    let name = username.clone();
    store
        .write(move |tx| {
            users::insert(tx, &name, Some(&hash), role)?;
            audit::record(
                tx,
                &console_change("user.create", &name, format!("as {role}")),
            )
        })
        .await?;
    println!("created {role} {username}");
    Ok(())
}

pub async fn user_passwd(
    config: &Config,
    username: &str,
    password_stdin: bool,
) -> anyhow::Result<()> {
    let store = open_store(config)?;
    let username = username.trim().to_lowercase();
    let password = read_new_password(password_stdin, &username)?;
    let hash = run_blocking(move || password::hash(&password)).await?;
    let name = username.clone();
    if !store
        .write(move |tx| {
            let found = users::set_password(tx, &name, &hash)?;
            if found {
                // Whoever knew the old password may hold a session or token.
                users::end_access(tx, &name)?;
                audit::record(tx, &console_change("user.passwd", &name, String::new()))?;
            }
            Ok(found)
        })
        .await?
    {
        bail!("no user {username}");
    }
    store.noticed_by_others().await;
    println!("password of {username} changed");
    Ok(())
}

pub async fn setup_code(config: &Config) -> anyhow::Result<()> {
    let store = open_store(config)?;
    if store.read(settings::setup_complete).await? {
        return Ok(());
    }
    let code = crate::auth::setup_code::ensure(&config.data_dir).with_context(|| {
        format!(
            "cannot make the setup code in {}",
            config.data_dir.display()
        )
    })?;
    println!("{code}");
    Ok(())
}

pub async fn user_list(config: &Config) -> anyhow::Result<()> {
    let store = open_store(config)?;
    let rows = store.read(users::list).await?;
    println!("{:<32} {:<16} STATE", "USERNAME", "ROLE");
    for u in rows {
        let state = if u.disabled { "disabled" } else { "active" };
        println!("{:<32} {:<16} {state}", u.username, u.effective_role());
    }
    Ok(())
}

pub async fn user_disable(config: &Config, username: &str) -> anyhow::Result<()> {
    let store = open_store(config)?;
    let name = username.trim().to_lowercase();
    let lookup = name.clone();
    if !store
        .write(move |tx| {
            let found = users::set_disabled(tx, &lookup, true)?;
            if found {
                users::end_access(tx, &lookup)?;
                audit::record(tx, &console_change("user.disable", &lookup, String::new()))?;
            }
            Ok(found)
        })
        .await?
    {
        bail!("no user {name}");
    }
    store.noticed_by_others().await;
    println!("disabled {name}");
    Ok(())
}

pub async fn seed(
    config: &Config,
    prefix: &str,
    accounts: usize,
    count: usize,
    password_stdin: bool,
) -> anyhow::Result<()> {
    let prefix = app::validate::dns_label("prefix", prefix).map_err(|e| anyhow::anyhow!("{e}"))?;
    if accounts == 0 {
        bail!("--accounts must be at least 1");
    }
    let hash = if password_stdin {
        let password = read_new_password(true, "seed")?;
        run_blocking(move || password::hash(&password)).await?
    } else {
        // No password hashes to this: the accounts cannot sign in.
        "!".to_owned()
    };
    let store = open_store(config)?;
    let started = std::time::Instant::now();
    let prefix_owned = prefix.clone();
    let seeded = store
        .write(move |tx| crate::dev::seed::fill(tx, &prefix_owned, accounts, count, &hash))
        .await?;
    println!(
        "seeded {} instances of {} accounts in {} departments ({prefix}-*) in {:.1} s",
        seeded.instances,
        seeded.accounts,
        seeded.departments,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

pub async fn backup(config: &Config, file: &Path, force: bool) -> anyhow::Result<()> {
    if file.exists() && !force {
        bail!("{} exists; pass --force to replace it", file.display());
    }
    if !config.store_path().is_file() {
        bail!("no store at {}", config.store_path().display());
    }
    let store = open_store(config)?;
    store.backup_to(file.to_owned()).await?;
    println!(
        "backed up {} to {}",
        config.store_path().display(),
        file.display()
    );
    Ok(())
}

/// Puts the store backup `file` in place as the store: checked first (an
/// SQLite file that is whole, of a schema this dpe knows), then copied
/// beside the store and renamed over it, so that a failure leaves the
/// store as it was.
pub fn restore_store(config: &Config, file: &Path, force: bool) -> anyhow::Result<()> {
    let target = config.store_path();
    if target.exists() && !force {
        bail!(
            "a store exists at {}; stop dpe and pass --force to replace it",
            target.display()
        );
    }
    let conn = rusqlite::Connection::open_with_flags(
        file,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("cannot open {}", file.display()))?;
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .with_context(|| format!("{} is not an SQLite database", file.display()))?;
    if check != "ok" {
        bail!("{} is damaged: {check}", file.display());
    }
    let version = crate::store::migrations::schema_version(&conn)?;
    let latest = crate::store::migrations::latest_version();
    if version == 0 {
        bail!("{} is not a dpe store", file.display());
    }
    if version > latest {
        bail!(
            "{} is from a newer dpe (schema {version}; this one knows {latest})",
            file.display()
        );
    }
    drop(conn);
    std::fs::create_dir_all(&config.data_dir)?;
    // Copied beside the target first, then renamed over it: a copy cut
    // short (a full disk) leaves no half store, and its temporary file
    // goes when it is dropped.
    let mut partial = tempfile::Builder::new()
        .prefix(".dpe-restoring-")
        .tempfile_in(&config.data_dir)
        .with_context(|| format!("cannot write in {}", config.data_dir.display()))?;
    let mut source =
        std::fs::File::open(file).with_context(|| format!("cannot read {}", file.display()))?;
    std::io::copy(&mut source, partial.as_file_mut())
        .and_then(|_| partial.as_file().sync_all())
        .with_context(|| {
            format!(
                "cannot copy {} into {}",
                file.display(),
                config.data_dir.display()
            )
        })?;
    for stale in ["dpe.sqlite3-wal", "dpe.sqlite3-shm"] {
        let path = config.data_dir.join(stale);
        if path.exists() {
            std::fs::remove_file(&path)?;
        }
    }
    // The copy knows nothing deployed after it was made: until an admin
    // says otherwise, the reconciler keeps what the hosts hold that it
    // does not know, instead of removing it as a crash's leftovers. Marked
    // in the copy before it is put in place, so no dpe ever serves the
    // restored store unmarked.
    rusqlite::Connection::open(partial.path())
        .and_then(|conn| {
            conn.execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                rusqlite::params![
                    crate::store::settings::LEFTOVERS_HELD_SINCE,
                    crate::store::now().to_string()
                ],
            )
        })
        .with_context(|| format!("cannot mark the copy of {} as restored", file.display()))?;
    partial
        .persist(&target)
        .with_context(|| format!("cannot put the store in place at {}", target.display()))?;
    println!(
        "restored {} as {} (schema {version}; `dpe serve` migrates it to {latest}); \
         the hosts' instances and backups show again as the reconciler finds them, and \
         what they hold that this copy does not know is kept until an admin decides \
         (the portal's dashboard)",
        file.display(),
        target.display()
    );
    Ok(())
}

pub async fn healthcheck(config: &Config, url: Option<String>) -> anyhow::Result<()> {
    let url = url.unwrap_or_else(|| {
        let mut addr = config.listen;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        let scheme = if config.serves_tls() { "https" } else { "http" };
        format!("{scheme}://{addr}/api/v1/health")
    });
    // A liveness check of this machine's own server: the appliance's
    // certificate is self-signed and names its host, not 127.0.0.1.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .danger_accept_invalid_certs(config.serves_tls())
        .build()?;
    let response = client
        .get(&url)
        .send()
        .await
        .with_context(|| format!("no answer from {url}"))?;
    if !response.status().is_success() {
        bail!("{url} answered {}", response.status());
    }
    let body: serde_json::Value = response.json().await.context("unreadable health answer")?;
    if body["status"] != "ok" {
        bail!("unhealthy: {body}");
    }
    println!("ok: {body}");
    Ok(())
}
