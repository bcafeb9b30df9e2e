//! Delivery of the outbox's notices, routed as Proxmox VE 8.1 does:
//! matchers (event kinds, severity, department) send each notice to
//! targets, mail (the appliance's SMTP server, to the people concerned,
//! as each one's preferences say) and webhooks (Standard Webhooks).
//!
//! `route.rs` turns a notice into deliveries, one per recipient or
//! webhook, in one transaction; `worker.rs` claims each due delivery,
//! sends it (`mail.rs`, `webhook.rs`, words from `message.rs`), and
//! records the outcome, retrying with backoff and then giving up;
//! `reach.rs` keeps traffic where the rules allow. Below the appliance
//! (which sends test mail through `mail.rs`) and beside the engine, both
//! of which it is started with; it reads and writes only through the
//! store.

pub mod mail;
pub mod message;
pub mod reach;
pub mod route;
pub mod webhook;
pub mod worker;

use std::time::Duration;

use crate::store::StoreError;

/// How deliveries are tried (from the configuration).
#[derive(Clone, Debug)]
pub struct Rules {
    /// Seconds before the first retry; doubled after each failure.
    pub retry_after: i64,
    /// Attempts before giving up.
    pub attempts: u32,
    /// How often the worker looks at the outbox.
    pub interval: Duration,
    /// Only loopback targets (tests, the API fuzzer).
    pub loopback_only: bool,
}

impl Rules {
    /// When a delivery that failed its `attempts`th attempt at `now` is
    /// tried again; None when it is given up.
    pub fn retry_at(&self, attempts: u32, now: i64) -> Option<i64> {
        (attempts < self.attempts).then(|| {
            let doublings = attempts.saturating_sub(1).min(16);
            now + self.retry_after.saturating_mul(1 << doublings)
        })
    }
}

/// Why a notification could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("cannot resolve {host}")]
    Resolve {
        host: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{host} resolves to no address")]
    NoAddress { host: String },
    #[error("{host} is not on this machine, and notify_loopback_only allows only loopback targets")]
    OffMachine { host: String },
    #[error("{host} is not on this machine: unencrypted mail or http:// goes to loopback only")]
    PlainOffMachine { host: String },
    #[error("no mail server is set up")]
    NoSmtp,
    #[error("invalid mail address {0:?}")]
    Address(String, #[source] lettre::address::AddressError),
    #[error("cannot build the message")]
    Message(#[source] lettre::error::Error),
    #[error("the mail server refused or failed")]
    Smtp(#[source] lettre::transport::smtp::Error),
    #[error("invalid webhook URL {0:?}")]
    Url(String),
    #[error("the webhook could not be reached")]
    Http(#[source] reqwest::Error),
    #[error("the webhook answered {0}")]
    Status(u16),
    #[error("cannot sign the webhook")]
    Sign(#[source] standardwebhooks::WebhookError),
    #[error("cannot open a stored secret")]
    Secret(#[source] crate::auth::secret_box::OpenError),
    #[error("the webhook target is gone")]
    NoWebhook,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_until_the_attempts_are_spent() {
        let rules = Rules {
            retry_after: 60,
            attempts: 4,
            interval: Duration::from_secs(1),
            loopback_only: true,
        };
        assert_eq!(rules.retry_at(1, 1000), Some(1060));
        assert_eq!(rules.retry_at(2, 1000), Some(1120));
        assert_eq!(rules.retry_at(3, 1000), Some(1240));
        assert_eq!(rules.retry_at(4, 1000), None);
    }
}
