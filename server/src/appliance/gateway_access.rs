//! The gateway's capability: which instance an origin names, who visits,
//! and the tickets that carry a portal sign-in to an application's origin.

use std::sync::Arc;
use std::time::Duration;

use app::model::{AppsSettings, DAY, Principal};
use app::policy::may_open;
use app::service::SessionService;
use async_trait::async_trait;

use super::Appliance;
use crate::addressing::app_origins::{self, Target};
use crate::addressing::origin::WebOrigin;
use crate::auth::token;
use crate::gateway::ENTER_PATH;
use crate::gateway::access::{GatewayAccess, Ticketed};
use crate::gateway::error::GatewayError;
use crate::store::audit::{self, Audit};
use crate::store::gateway::{self, Visit};
use crate::store::instances::{self, InstanceRow};
use crate::store::leases;

/// How long a look-up may serve at most: writes by this process end it at
/// once (the store's generation), another process's (`dpe` commands) after
/// this.
const CACHED_AT_MOST: Duration = Duration::from_secs(1);

/// The gateway's look-ups, kept while the store is unchanged: a request
/// then costs no read of the store, and no thread hand-over.
pub(crate) struct GatewayCache {
    /// Target → (store generation, the instance).
    instances: moka::sync::Cache<Target, (u64, Option<Arc<InstanceRow>>)>,
    /// (session secret hash, instance) → (store generation, the visitor).
    visitors: moka::sync::Cache<(Vec<u8>, i64), (u64, Option<Principal>)>,
    /// Instance → the last day (unix seconds / a day) its use was looked
    /// at for its lease: later requests that day cost nothing.
    used: moka::sync::Cache<i64, i64>,
}

impl Default for GatewayCache {
    fn default() -> Self {
        GatewayCache {
            instances: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(CACHED_AT_MOST)
                .build(),
            visitors: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(CACHED_AT_MOST)
                .build(),
            used: moka::sync::Cache::new(100_000),
        }
    }
}

#[async_trait]
impl GatewayAccess for Appliance {
    fn apps(&self) -> Result<AppsSettings, GatewayError> {
        Appliance::apps(self).ok_or(GatewayError::NotSetUp)
    }

    async fn instance(&self, target: &Target) -> Result<Arc<InstanceRow>, GatewayError> {
        let generation = self.store.generation();
        let cached = self.gateway_cache.instances.get(target);
        let row = match cached {
            Some((at, row)) if at == generation => row,
            Some(_) | None => {
                let key = target.clone();
                let row = self
                    .store
                    .read(move |c| match &key {
                        Target::Port(port) => instances::by_app_port(c, *port),
                        Target::Name(name) => instances::by_name(c, name),
                    })
                    .await?
                    .map(Arc::new);
                self.gateway_cache
                    .instances
                    .insert(target.clone(), (generation, row.clone()));
                row
            }
        };
        row.ok_or(GatewayError::Gone)
    }

    async fn ticket(
        &self,
        who: &Principal,
        portal_session: &str,
        to: &str,
    ) -> Result<Ticketed, GatewayError> {
        let apps = GatewayAccess::apps(self)?;
        // Only an application's own origin: anything else would make the
        // portal an open redirect.
        let (origin, path) = split_url(to).ok_or(GatewayError::NotAnApplication)?;
        let target =
            app_origins::target_of_origin(&apps, &origin).ok_or(GatewayError::NotAnApplication)?;
        let instance = GatewayAccess::instance(self, &target).await?;
        if app_origins::app_origin(&apps, &instance.name, instance.app_port).as_ref()
            != Some(&origin)
        {
            return Err(GatewayError::NotAnApplication);
        }
        if !may_open(
            Some(who),
            instance.share,
            instance.owner_id,
            instance.department_id,
        ) {
            return Err(GatewayError::Forbidden {
                instance_id: instance.id,
            });
        }
        let (secret, hash) = token::generate_unprefixed();
        let visit = Visit {
            instance_id: instance.id,
            user_id: who.user_id,
            portal_session: portal_session.to_owned(),
        };
        self.store
            .write(move |tx| gateway::insert_ticket(tx, &hash, &visit))
            .await?;
        let query = serde_urlencoded::to_string([("ticket", secret.as_str()), ("next", &path)])
            .unwrap_or_default();
        Ok(Ticketed {
            redirect: format!("{origin}{ENTER_PATH}?{query}"),
        })
    }

    async fn redeem(&self, instance: &InstanceRow, ticket: &str) -> Result<String, GatewayError> {
        let ticket_hash = token::digest(ticket);
        let (secret, session_hash) = token::generate_unprefixed();
        let instance_id = instance.id;
        self.store
            .write(move |tx| gateway::redeem_ticket(tx, &ticket_hash, instance_id, &session_hash))
            .await?
            .map(|_| secret)
            .ok_or(GatewayError::TicketRefused { instance_id })
    }

    async fn visitor(
        &self,
        instance: &InstanceRow,
        secret: &str,
    ) -> Result<Option<Principal>, GatewayError> {
        let hash = token::digest(secret);
        let instance_id = instance.id;
        let key = (hash.clone(), instance_id);
        let generation = self.store.generation();
        if let Some((at, visitor)) = self.gateway_cache.visitors.get(&key)
            && at == generation
        {
            return Ok(visitor);
        }
        let user = self
            .store
            .read(move |c| gateway::session_user(c, &hash, instance_id))
            .await?;
        let visitor = match user {
            None => None,
            Some(user_id) => self
                .principal_for_user(user_id)
                .await
                .map_err(GatewayError::Account)?,
        };
        self.gateway_cache
            .visitors
            .insert(key, (generation, visitor.clone()));
        Ok(visitor)
    }

    async fn used(&self, instance: &InstanceRow, visitor: &Principal) {
        // No lease, or one run out (the instance is off): nothing to move.
        match instance.lease {
            Some(lease) if !lease.stage.is_expired() => {}
            Some(_) | None => return,
        }
        let now = self.engine.now();
        let day = now.div_euclid(DAY);
        if self.gateway_cache.used.get(&instance.id) == Some(day) {
            return;
        }
        self.gateway_cache.used.insert(instance.id, day);
        let id = instance.id;
        let who = visitor.clone();
        let moved = self
            .store
            .write(move |tx| {
                let Some(row) = instances::by_id(tx, id)? else {
                    return Ok(None);
                };
                let Some(lease) = row.lease.filter(|l| !l.stage.is_expired()) else {
                    return Ok(None);
                };
                // Another process (or this one before a restart) took the day.
                if leases::used_day(tx, id)? == Some(day) {
                    return Ok(None);
                }
                let (policy, _) = leases::effective(tx, row.department_id)?;
                let Some(until) = policy.after_use(lease.expires_at, now) else {
                    return Ok(None);
                };
                leases::record_use(tx, id, until, day)?;
                let record = Audit::by(&who)
                    .action("lease.use")
                    .object(format!("instance {}", row.name))
                    .department(row.department_id)
                    .detail(format!(
                        "used through the gateway: the lease runs until {}",
                        crate::clock::rfc3339(until)
                    ))
                    .ok();
                audit::record(tx, &record)?;
                Ok(Some(until))
            })
            .await;
        match moved {
            Ok(Some(until)) => {
                tracing::info!(instance = %instance.name, until, "lease: moved by use");
            }
            Ok(None) => {}
            // The request goes on; the next day tries again.
            Err(e) => {
                tracing::warn!(error = %crate::error_chain(&e), "lease: recording use failed")
            }
        }
    }
}

/// An absolute `http(s)` URL's origin and its path with query (`/` when it
/// has none).
fn split_url(url: &str) -> Option<(WebOrigin, String)> {
    let uri: axum::http::Uri = url.parse().ok()?;
    let origin = WebOrigin::parse(&format!(
        "{}://{}",
        uri.scheme_str()?,
        uri.authority()?.as_str()
    ))?;
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    Some((origin, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_return_address_splits_into_origin_and_path() {
        let (origin, path) = split_url("https://wiki.apps.example.org/doku.php?id=a").unwrap();
        assert_eq!(origin.to_string(), "https://wiki.apps.example.org");
        assert_eq!(path, "/doku.php?id=a");
        assert_eq!(split_url("https://wiki.apps.example.org").unwrap().1, "/");
        for bad in [
            "/relative",
            "javascript:alert(1)",
            "https://user@host/",
            "ftp://h/",
        ] {
            assert!(split_url(bad).is_none(), "{bad}");
        }
    }
}
