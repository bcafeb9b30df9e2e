//! What the engine runs on its own once the server starts: tasks a
//! restart cut off are resumed, the reconcile loop runs a pass every
//! interval (or at once when rung), each followed by tending the warm
//! pool and a drain pass (moving instances off hosts being drained), the
//! lease loop takes the leases' steps as they come due, and the
//! usage loop reads what instances use. The top of the engine: it calls into every room, none into it.

use std::sync::Arc;

use super::EngineError;

/// How often the backup scheduler looks for instances due a backup.
const BACKUP_SCHEDULE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);
use super::runtime::Engine;
use crate::store::tasks;

impl Engine {
    /// Resumes cut-off tasks and starts the reconcile loop.
    pub async fn start_background(self: &Arc<Self>) -> Result<(), EngineError> {
        for task_id in self.store.read(tasks::running).await? {
            tracing::info!(task_id, "resuming a task cut off by a restart");
            tokio::spawn(self.clone().run_task(task_id));
        }
        if let Err(e) = self.recover_drills().await {
            tracing::warn!(error = %crate::error_chain(&e), "drills cut off by a restart remain");
        }
        self.start_lease_loop();
        let engine = Arc::downgrade(self);
        let bell = self.reconcile_now.clone();
        let interval = self.config.reconcile_interval;
        tokio::spawn(async move {
            // The images built while dpe was down are versions before the
            // first pass tends the pool by the current one. Not built yet
            // is no error: the first deploy looks again.
            if let Some(engine) = engine.upgrade()
                && let Err(e) = engine.scan_versions().await
            {
                tracing::info!(error = %crate::error_chain(&e), "no stack image registered yet");
            }
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                // Only the bell is held while waiting, never the engine: a
                // dropped engine ends this loop at its next wake.
                tokio::select! {
                    _ = tick.tick() => {}
                    () = bell.notified() => {}
                }
                let Some(engine) = engine.upgrade() else {
                    break;
                };
                if let Err(e) = engine.reconcile_once().await {
                    tracing::warn!(error = %crate::error_chain(&e), "reconcile failed");
                }
                if let Err(e) = engine.tend_pool().await {
                    tracing::warn!(error = %crate::error_chain(&e), "tending the warm pool failed");
                }
                if let Err(e) = engine.drain_pass().await {
                    tracing::warn!(error = %crate::error_chain(&e), "draining hosts failed");
                }
            }
        });
        self.every(self.config.usage_interval, |engine| async move {
            let started = std::time::Instant::now();
            match engine.collect_usage().await {
                Ok(()) => tracing::debug!(
                    seconds = started.elapsed().as_secs_f64(),
                    "usage collection pass"
                ),
                Err(e) => {
                    tracing::warn!(error = %crate::error_chain(&e), "reading instances' use failed");
                }
            }
        });
        self.every(BACKUP_SCHEDULE_INTERVAL, |engine| async move {
            let now = engine.clock.now();
            if let Err(e) = engine.schedule_backups(now).await {
                tracing::warn!(error = %crate::error_chain(&e), "scheduling backups failed");
            }
            if let Err(e) = engine.schedule_drills(now).await {
                tracing::warn!(error = %crate::error_chain(&e), "scheduling drills failed");
            }
        });
        Ok(())
    }

    /// A lease pass and an approval pass at once (catching up on what came
    /// due while dpe was down), then every lease interval.
    fn start_lease_loop(self: &Arc<Self>) {
        self.every(self.config.lease_interval, |engine| async move {
            if let Err(e) = engine.lease_pass().await {
                tracing::warn!(error = %crate::error_chain(&e), "the lease pass failed");
            }
            // Requests nobody decided in time lapse on the same beat.
            if let Err(e) = engine.approval_pass().await {
                tracing::warn!(error = %crate::error_chain(&e), "the approval pass failed");
            }
        });
    }

    /// Runs `pass` at once, then every `interval` (a late tick delays the
    /// next rather than bunching up). The loop holds the engine only during
    /// a pass: a dropped engine ends it at its next tick.
    fn every<F, Fut>(self: &Arc<Self>, interval: std::time::Duration, pass: F)
    where
        F: Fn(Arc<Engine>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let engine = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(engine) = engine.upgrade() else {
                    break;
                };
                pass(engine).await;
            }
        });
    }
}
