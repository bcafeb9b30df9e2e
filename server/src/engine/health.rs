//! The application health check: one GET to the instance's own address and
//! port. A guest is not trusted: its answer may redirect anywhere or never
//! end, so no redirect is followed and at most 1 MiB is read. The
//! reconciler records the answer; the first healthy one also rewrites the
//! seed without the user-data, and so without secrets.

use std::sync::Arc;
use std::time::Duration;

use app::model::Health;

use super::EngineError;
use super::definition::{EMPTY_USER_DATA, seed_image};
use super::guest::Tracked;
use super::hypervisor::Hypervisor;
use super::runtime::Engine;
use super::volumes::InstanceVolumes;
use crate::blocking::run_blocking;
use crate::store::instances;

/// The most of an answer that is read before the check gives up.
const MAX_BODY: usize = 1 << 20;

/// Whether `url` answers 2xx with `expect` in the first MiB of its body.
pub async fn answers(client: &reqwest::Client, url: &str, expect: &str) -> bool {
    let Ok(mut response) = client.get(url).send().await else {
        return false;
    };
    if !response.status().is_success() {
        return false;
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) if body.len() + chunk.len() <= MAX_BODY => {
                body.extend_from_slice(&chunk);
            }
            // Over the limit, or broken off.
            Ok(Some(_)) | Err(_) => return false,
            Ok(None) => break,
        }
    }
    String::from_utf8_lossy(&body).contains(expect)
}

/// Between two checks of a warm deploy that just finished.
const FOLLOW_EVERY: Duration = Duration::from_millis(250);
/// How long it is followed that closely; the reconciler's passes go on.
const FOLLOW_FOR: Duration = Duration::from_secs(60);

impl Engine {
    /// Checks the application of a warm deploy that just finished every
    /// 250 ms until it answers (a minute at most): it answers within
    /// seconds, and its health should show then, not at the next pass.
    pub(super) async fn follow_new_instance(self: Arc<Self>, id: i64) {
        let deadline = std::time::Instant::now() + FOLLOW_FOR;
        while std::time::Instant::now() < deadline {
            tokio::time::sleep(FOLLOW_EVERY).await;
            match self.check_new_instance(id).await {
                Ok(true) => return,
                Ok(false) => {}
                Err(e) => {
                    tracing::debug!(id, error = %crate::error_chain(&e), "checking a new instance")
                }
            }
        }
    }

    /// One check of a new instance; true when there is nothing more to
    /// follow (healthy, gone, or busy with another task).
    async fn check_new_instance(&self, id: i64) -> Result<bool, EngineError> {
        let Some(row) = self.store.read(move |c| instances::by_id(c, id)).await? else {
            return Ok(true);
        };
        let inst = Tracked::of_instance(&row)?;
        if inst.status != app::model::InstanceStatus::Ready
            || inst.running_task.is_some()
            || inst.health == Health::Healthy
        {
            return Ok(true);
        }
        let (host, _) = self.host_for(&inst.guest).await?;
        let ip = match inst.ip.clone() {
            Some(ip) => ip,
            None => {
                let (conn, network, mac) = (
                    host.clone(),
                    inst.guest.nic.network.clone(),
                    inst.guest.nic.mac.clone(),
                );
                let lease = run_blocking(move || {
                    let leases = conn.dhcp_leases(&network)?;
                    Ok::<_, EngineError>(leases.into_iter().find(|l| l.mac == mac))
                })
                .await?;
                match lease {
                    Some(lease) => lease.ip,
                    None => return Ok(false),
                }
            }
        };
        self.check_health(inst, ip, host).await?;
        let health = self
            .store
            .read(move |c| instances::by_id(c, id))
            .await?
            .map(|i| i.health);
        Ok(health == Some(Health::Healthy))
    }

    pub(super) async fn record_health(&self, id: i64, health: Health) -> Result<(), EngineError> {
        self.store
            .write(move |tx| instances::set_health(tx, id, health))
            .await?;
        Ok(())
    }

    /// Asks the application for its health page; on its first success,
    /// rewrites the seed without the user-data (and so without secrets).
    pub(super) async fn check_health(
        &self,
        inst: Tracked,
        ip: String,
        host: Arc<dyn Hypervisor>,
    ) -> Result<(), EngineError> {
        let app = &self.stack.manifest.app;
        let url = format!("http://{ip}:{}{}", app.port, app.health_path);
        let expect = inst.health_expect.clone().unwrap_or_default();
        let healthy = answers(&self.http, &url, &expect).await;
        let health = match (healthy, inst.healthy_ms) {
            (true, _) => Health::Healthy,
            (false, None) => Health::Starting,
            (false, Some(_)) => Health::Unhealthy,
        };
        self.record_health(inst.id, health).await?;
        if healthy && !inst.seed_scrubbed {
            self.scrub_seed(&inst, host).await?;
        }
        Ok(())
    }

    /// Rewrites the seed with empty user-data, once.
    async fn scrub_seed(
        &self,
        inst: &Tracked,
        host: Arc<dyn Hypervisor>,
    ) -> Result<(), EngineError> {
        let pool = self.config.storage_pool.clone();
        let seed_name = InstanceVolumes::of(&inst.guest.volume_stem).seed;
        let guest = inst.guest.clone();
        run_blocking(move || {
            let bytes = seed_image(&guest, EMPTY_USER_DATA)?;
            host.overwrite_volume(&pool, &seed_name, &bytes)?;
            Ok::<_, EngineError>(())
        })
        .await?;
        let id = inst.id;
        self.store
            .write(move |tx| instances::set_seed_scrubbed(tx, id))
            .await?;
        tracing::info!(
            instance = inst.guest.name,
            "healthy; the seed no longer holds user-data"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::response::Redirect;
    use axum::routing::get;

    async fn serve(app: Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn only_the_first_mib_of_a_direct_answer_counts() {
        let big = "x".repeat(MAX_BODY) + "DokuWiki";
        let base = serve(
            Router::new()
                .route("/ok", get(|| async { "<title>DokuWiki</title>" }))
                .route("/big", get(move || async move { big }))
                .route("/moved", get(|| async { Redirect::temporary("/ok") }))
                .route("/nothing", get(|| async { "" })),
        )
        .await;
        let client = super::super::health_client::client().unwrap();
        assert!(answers(&client, &format!("{base}/ok"), "DokuWiki").await);
        assert!(!answers(&client, &format!("{base}/big"), "DokuWiki").await);
        assert!(!answers(&client, &format!("{base}/moved"), "DokuWiki").await);
        assert!(!answers(&client, &format!("{base}/nothing"), "DokuWiki").await);
        assert!(!answers(&client, &format!("{base}/missing"), "DokuWiki").await);
    }
}
