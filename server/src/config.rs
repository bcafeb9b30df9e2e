//! `dpe serve` settings: built-in defaults, then a TOML file, then `DPE_*`
//! environment variables, then command-line flags. Unknown keys anywhere
//! are an error, so a typo never silently falls back to a default.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::addressing::origin::{PortalOrigin, WebOrigin};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the portal and API listen on.
    pub listen: SocketAddr,
    /// Directory of the store (`dpe.sqlite3`) and, by default, instance storage.
    pub data_dir: PathBuf,
    /// The compiled site (wasm, JS, CSS) that cargo-leptos builds.
    pub site_dir: PathBuf,
    /// Mark cookies `Secure` and name them `__Host-…`. Set it when the
    /// portal is served over HTTPS (directly or by a TLS proxy).
    pub secure_cookies: bool,
    /// Sign-in attempts a minute allowed for one account.
    pub sign_in_per_account: NonZeroU32,
    /// Sign-in attempts a minute allowed from one address.
    pub sign_in_per_address: NonZeroU32,
    /// Idle minutes after which a session ends.
    pub session_idle_minutes: u32,
    /// Hours after sign-in that a session ends, however busy.
    pub session_max_hours: u32,
    /// The application stack's folder (its `manifest.toml`).
    pub stack_dir: PathBuf,
    /// Where the stack's golden image was built (`build-image OUT_DIR`).
    pub image_dir: PathBuf,
    /// The libvirt storage pool dpe manages on each host.
    pub storage_pool: String,
    /// Seconds a guest gets to power off after the ACPI button.
    pub shutdown_timeout_secs: u64,
    /// Milliseconds between two reconcile passes.
    pub reconcile_interval_ms: u64,
    /// Milliseconds between two readings of what instances use (the
    /// finest tier keeps one per 10 s).
    pub usage_interval_ms: u64,
    /// Seconds between two lease passes (warnings, expiries, deletions).
    pub lease_interval_secs: u64,
    /// Seconds a restore drill's guest gets to come up and answer.
    pub drill_timeout_secs: u64,
    /// How many snapshots an instance may keep.
    pub snapshot_limit: u32,
    /// PEM certificate chain: with `tls_key`, `listen` serves HTTPS (and
    /// cookies are `Secure` and `__Host-` prefixed).
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// `tls_cert` is the appliance's own self-signed certificate: dpe
    /// re-issues it (same key) to also cover `*.DOMAIN` once applications
    /// open under a wildcard domain. Leave it off for a certificate of a CA.
    pub tls_self_signed: bool,
    /// The key that seals secrets kept in the store (the directory's bind
    /// password), made on first use. Unset: `secret.key` beside `tls_key`,
    /// or in `data_dir` without TLS. Keep it out of store backups.
    pub secret_key: Option<PathBuf>,
    /// A plain-HTTP address whose every request is redirected to HTTPS,
    /// e.g. `0.0.0.0:80` (only with TLS).
    pub redirect_listen: Option<SocketAddr>,
    /// The portal's origin (`https://dpe.example.org`) when a proxy serves
    /// it under another name than the one dpe listens on; state-changing
    /// browser requests must come from it. Unset, each request's own
    /// authority and the listener's scheme are the portal's origin.
    pub public_origin: Option<String>,
    /// Accept libvirt's test driver (`test:///default`) as a host: nothing
    /// runs on it. For tests and demos only.
    pub allow_test_driver: bool,
    /// Days the audit log keeps a record (at most a million are kept).
    pub audit_retention_days: u32,
    /// Minutes the directory's word on an account holds: directory
    /// accounts are looked up again this often, and before a token of one
    /// is used if the last look is older.
    pub directory_recheck_minutes: u32,
    /// The applications' wildcard domain the setup wizard proposes
    /// (`scripts/run` proposes `localhost`). Only a proposal: what the
    /// wizard submits is kept in the store and changed under Settings.
    pub setup_apps_domain: Option<String>,
    /// Seconds before a failed notification is tried again; each further
    /// failure doubles it.
    pub notify_retry_secs: u64,
    /// Attempts per notification (mail to one person, one webhook) before
    /// it is given up and shown as failed.
    pub notify_attempts: u32,
    /// Milliseconds between two looks at the outbox.
    pub notify_interval_ms: u64,
    /// Refuse mail servers and webhooks anywhere but this machine
    /// (loopback): for tests and the API fuzzer, whose made-up settings
    /// must not send anything off the machine.
    pub notify_loopback_only: bool,
}

/// Sign-in attempts per minute for one account, and for one address.
const SIGN_IN_PER_ACCOUNT: NonZeroU32 = NonZeroU32::new(6).unwrap();
const SIGN_IN_PER_ADDRESS: NonZeroU32 = NonZeroU32::new(30).unwrap();

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("data"),
            site_dir: PathBuf::from("target/site"),
            secure_cookies: false,
            sign_in_per_account: SIGN_IN_PER_ACCOUNT,
            sign_in_per_address: SIGN_IN_PER_ADDRESS,
            session_idle_minutes: 12 * 60,
            session_max_hours: 7 * 24,
            stack_dir: PathBuf::from("image/stacks/dokuwiki"),
            image_dir: PathBuf::from("data/images/dokuwiki"),
            storage_pool: "dpe".into(),
            shutdown_timeout_secs: 60,
            reconcile_interval_ms: 3000,
            usage_interval_ms: 10_000,
            lease_interval_secs: 60,
            drill_timeout_secs: 15 * 60,
            snapshot_limit: app::model::DEFAULT_SNAPSHOT_LIMIT,
            tls_cert: None,
            tls_key: None,
            tls_self_signed: false,
            secret_key: None,
            redirect_listen: None,
            public_origin: None,
            allow_test_driver: false,
            audit_retention_days: 400,
            directory_recheck_minutes: 15,
            setup_apps_domain: None,
            notify_retry_secs: 60,
            notify_attempts: 6,
            notify_interval_ms: 1000,
            notify_loopback_only: false,
        }
    }
}

/// Values given on the command line; `None` leaves the lower layers' value.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {0} does not exist")]
    Missing(PathBuf),
    #[error("invalid configuration")]
    Invalid(#[source] Box<figment::Error>),
    #[error("invalid configuration: {0}")]
    Inconsistent(&'static str),
    #[error(
        "invalid configuration: public_origin {0:?} is not an origin like https://dpe.example.org"
    )]
    BadOrigin(String),
}

impl Config {
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.is_file() {
                return Err(ConfigError::Missing(file.to_owned()));
            }
            figment = figment.merge(Toml::file(file));
        }
        let config: Config = figment
            // DPE_CONFIG names the file itself, read by the CLI.
            .merge(Env::prefixed("DPE_").ignore(&["config"]))
            .merge(Serialized::defaults(overrides))
            .extract()
            .map_err(|e| ConfigError::Invalid(Box::new(e)))?;
        if let Some(origin) = &config.public_origin
            && WebOrigin::parse(origin).is_none()
        {
            return Err(ConfigError::BadOrigin(origin.clone()));
        }
        match (&config.tls_cert, &config.tls_key, config.redirect_listen) {
            (Some(_), None, _) | (None, Some(_), _) => Err(ConfigError::Inconsistent(
                "tls_cert and tls_key go together",
            )),
            (None, None, Some(_)) => Err(ConfigError::Inconsistent(
                "redirect_listen redirects to HTTPS: set tls_cert and tls_key",
            )),
            (Some(_), Some(_), _) | (None, None, None) => Ok(config),
        }
    }

    /// Whether `listen` serves HTTPS.
    pub fn serves_tls(&self) -> bool {
        self.tls_cert.is_some() && self.tls_key.is_some()
    }

    /// Cookies are `Secure` when asked, and always over HTTPS.
    pub fn secure_cookies(&self) -> bool {
        self.secure_cookies || self.serves_tls()
    }

    /// Where the sealing key lives: `secret_key`, else beside the TLS key,
    /// else in the data directory.
    pub fn secret_key_path(&self) -> PathBuf {
        if let Some(path) = &self.secret_key {
            return path.clone();
        }
        match self.tls_key.as_deref().and_then(Path::parent) {
            Some(dir) => dir.join("secret.key"),
            None => self.data_dir.join("secret.key"),
        }
    }

    pub fn engine(&self) -> crate::engine::runtime::EngineConfig {
        crate::engine::runtime::EngineConfig {
            storage_pool: self.storage_pool.clone(),
            // Beside the instances' pool, named after it: two appliances
            // (or tests) on one host keep their backups apart too.
            backup_pool: format!("{}-backups", self.storage_pool),
            shutdown_timeout: std::time::Duration::from_secs(self.shutdown_timeout_secs),
            reconcile_interval: std::time::Duration::from_millis(
                self.reconcile_interval_ms.max(100),
            ),
            lease_interval: std::time::Duration::from_secs(self.lease_interval_secs.max(1)),
            usage_interval: std::time::Duration::from_millis(self.usage_interval_ms.max(100)),
            drill_timeout: std::time::Duration::from_secs(self.drill_timeout_secs.max(1)),
        }
    }

    pub fn notify(&self) -> crate::notify::Rules {
        crate::notify::Rules {
            retry_after: self.notify_retry_secs.max(1) as i64,
            attempts: self.notify_attempts.max(1),
            interval: std::time::Duration::from_millis(self.notify_interval_ms.max(50)),
            loopback_only: self.notify_loopback_only,
        }
    }

    /// Where the portal's pages come from, for the cross-site check.
    pub fn portal_origin(&self) -> PortalOrigin {
        match self.public_origin.as_deref().and_then(WebOrigin::parse) {
            Some(origin) => PortalOrigin::Configured(origin),
            None => PortalOrigin::Listener {
                secure: self.serves_tls(),
            },
        }
    }

    /// Whether hosts may be libvirt's test driver.
    pub fn test_driver(&self) -> app::validate::TestDriver {
        if self.allow_test_driver {
            app::validate::TestDriver::Allowed
        } else {
            app::validate::TestDriver::Refused
        }
    }

    pub fn store_path(&self) -> PathBuf {
        self.data_dir.join("dpe.sqlite3")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail dictates the signature
    fn layers_apply_in_order_and_unknown_keys_fail() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "dpe.toml",
                "listen = \"127.0.0.1:9000\"\ndata_dir = \"/srv/dpe\"",
            )?;
            jail.set_env("DPE_DATA_DIR", "/env/dpe");
            let overrides = Overrides {
                listen: Some("127.0.0.1:9100".parse().unwrap()),
                data_dir: None,
            };
            let c = Config::load(Some(Path::new("dpe.toml")), &overrides).unwrap();
            assert_eq!(c.listen.port(), 9100, "flag beats file");
            assert_eq!(c.data_dir, PathBuf::from("/env/dpe"), "env beats file");
            assert!(!c.secure_cookies);

            jail.create_file("typo.toml", "listne = \"127.0.0.1:1\"")?;
            let err =
                Config::load(Some(Path::new("typo.toml")), &Overrides::default()).unwrap_err();
            assert!(format!("{:?}", err).contains("listne"), "{err:?}");

            jail.create_file("origin.toml", "public_origin = \"dpe.example.org\"")?;
            let err =
                Config::load(Some(Path::new("origin.toml")), &Overrides::default()).unwrap_err();
            assert!(err.to_string().contains("public_origin"), "{err}");

            jail.set_env("DPE_LISTNE", "x");
            assert!(Config::load(None, &Overrides::default()).is_err());
            Ok(())
        });
    }

    #[test]
    fn a_missing_file_is_an_error() {
        let err = Config::load(
            Some(Path::new("/nonexistent/dpe.toml")),
            &Overrides::default(),
        );
        assert!(matches!(err, Err(ConfigError::Missing(_))));
    }
}
