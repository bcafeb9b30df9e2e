//! The delivery worker: a tokio task started with the engine. Each pass
//! routes new notices, then takes each due delivery in turn: claims it
//! (an IMMEDIATE transaction: `sending`, one more attempt, a deadline),
//! sends it, and records the outcome: sent, or failed and tried again
//! after a doubling wait, or given up. A delivery is claimed before it is
//! sent and marked sent after, so nothing is sent twice unless dpe dies
//! during the very attempt; then it is sent again when its claim runs
//! out, with the same webhook-id or Message-ID, which receivers use to
//! drop the copy. Time is the injectable clock's.

use std::sync::Arc;

use app::model::DeliveryChannel;

use super::mail::{self, Mail};
use super::{NotifyError, Rules, message, route, webhook};
use crate::auth::secret_box::SecretBox;
use crate::clock::Clock;
use crate::store::notify::{self, Claimed, SMTP_PASSWORD, WEBHOOK_SECRET};
use crate::store::{Store, StoreError, outbox, settings};

/// How long a claim holds: longer than any attempt takes (lettre's and
/// reqwest's timeouts), so a live attempt is never taken over.
const CLAIM: i64 = 120;
/// Notices routed, and deliveries tried, per pass at most.
const BATCH: i64 = 50;

pub struct Notifier {
    store: Store,
    secrets: SecretBox,
    clock: Arc<dyn Clock>,
    rules: Rules,
    http: reqwest::Client,
}

/// What one pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pass {
    pub routed: usize,
    pub sent: usize,
    pub failed: usize,
}

impl Notifier {
    pub fn new(store: Store, secrets: SecretBox, clock: Arc<dyn Clock>, rules: Rules) -> Self {
        Notifier {
            store,
            secrets,
            clock,
            rules,
            http: webhook::client(),
        }
    }

    /// Runs a pass every interval until the runtime ends.
    pub fn spawn(self: Arc<Self>) {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(self.rules.interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = self.pass().await {
                    tracing::warn!(error = %crate::error_chain(&e), "notification pass failed");
                }
            }
        });
    }

    /// Routes what is new and tries what is due.
    pub async fn pass(&self) -> Result<Pass, StoreError> {
        let mut done = Pass::default();
        let now = self.clock.now();
        for notice in self.store.read(|c| outbox::unrouted(c, BATCH)).await? {
            let made = self
                .store
                .write(move |tx| route::route(tx, &notice, now))
                .await?;
            done.routed += made;
        }
        let due = self.store.read(move |c| notify::due(c, now, BATCH)).await?;
        for id in due {
            let now = self.clock.now();
            let Some(claimed) = self
                .store
                .write(move |tx| notify::claim(tx, id, now, now + CLAIM))
                .await?
            else {
                continue;
            };
            let attempts = claimed.attempts;
            let outcome = self.send(&claimed).await;
            let now = self.clock.now();
            match outcome {
                Ok(()) => {
                    self.store
                        .write(move |tx| notify::sent(tx, id, now))
                        .await?;
                    done.sent += 1;
                }
                Err(e) => {
                    let error = crate::error_chain(&e);
                    let retry = self.rules.retry_at(attempts, now);
                    tracing::warn!(
                        delivery = id,
                        attempts,
                        error,
                        given_up = retry.is_none(),
                        "notification not delivered"
                    );
                    self.store
                        .write(move |tx| notify::attempt_failed(tx, id, now, &error, retry))
                        .await?;
                    done.failed += 1;
                }
            }
        }
        Ok(done)
    }

    async fn send(&self, claimed: &Claimed) -> Result<(), NotifyError> {
        let (apps, name) = self
            .store
            .read(|c| {
                Ok((
                    settings::apps(c)?,
                    settings::get(c, settings::APPLIANCE_NAME)?,
                ))
            })
            .await?;
        let portal = apps.map(|a| a.portal_origin).unwrap_or_default();
        let name = name.unwrap_or_else(|| "dpe".into());
        let notice = &claimed.notice;
        match claimed.channel {
            DeliveryChannel::Mail => {
                let config = self
                    .store
                    .read(notify::smtp)
                    .await?
                    .ok_or(NotifyError::NoSmtp)?;
                let password = match &config.password_sealed {
                    Some(sealed) => Some(
                        self.secrets
                            .open(sealed, SMTP_PASSWORD)
                            .map_err(NotifyError::Secret)?,
                    ),
                    None => None,
                };
                let mail = Mail {
                    to: claimed.recipient.clone(),
                    subject: message::subject(&name, notice),
                    text: message::mail_text(&name, &portal, notice),
                    message_id: message_id(claimed, &config.from),
                };
                mail::send(&config, password, mail, self.rules.loopback_only).await?;
                Ok(())
            }
            DeliveryChannel::Webhook => {
                let hook_id = claimed.webhook_id.ok_or(NotifyError::NoWebhook)?;
                let hook = self
                    .store
                    .read(move |c| notify::webhook(c, hook_id))
                    .await?
                    .ok_or(NotifyError::NoWebhook)?;
                let mut secrets = vec![
                    self.secrets
                        .open(&hook.secret, WEBHOOK_SECRET)
                        .map_err(NotifyError::Secret)?,
                ];
                // The secret before a rotation signs too, for a while.
                if let (Some(old), Some(until)) = (&hook.old_secret, hook.old_secret_until)
                    && self.clock.now() < until
                {
                    secrets.push(
                        self.secrets
                            .open(old, WEBHOOK_SECRET)
                            .map_err(NotifyError::Secret)?,
                    );
                }
                let body = message::webhook_body(&portal, notice);
                webhook::post(
                    &self.http,
                    &hook.url,
                    &secrets,
                    &webhook_id(claimed),
                    body,
                    self.rules.loopback_only,
                )
                .await
            }
        }
    }
}

/// The `webhook-id` of a delivery: the same on every attempt.
pub fn webhook_id(claimed: &Claimed) -> String {
    format!("msg_dpe_{}_{}", claimed.notice.id, claimed.id)
}

/// The Message-ID of a delivery: the same on every attempt, in the
/// sender's domain.
fn message_id(claimed: &Claimed, from: &str) -> String {
    let domain = from.rsplit_once('@').map_or("dpe.invalid", |(_, d)| d);
    format!("<dpe.{}.{}@{domain}>", claimed.notice.id, claimed.id)
}
