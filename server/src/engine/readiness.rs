//! Waiting for a booting guest's application: the stack's readiness
//! command, run through the guest agent until it exits 0. A warm-pool
//! member and a restore drill's guest both wait this way.

use std::time::{Duration, Instant};

use super::EngineError;
use super::guest::Guest;
use super::hypervisor::GuestExit;
use super::runtime::Engine;

/// How long one run of the readiness command may take in the guest.
const READY_CHECK: Duration = Duration::from_secs(60);
/// Between two runs: a guest still booting has no agent yet.
const READY_POLL: Duration = Duration::from_secs(2);

/// How a wait for a guest's readiness ended.
pub(super) enum Readiness {
    Ready,
    /// The waiter's own cancellation said to stop.
    Cancelled,
    /// The deadline passed: the last answer, an exit or the agent's error.
    NeverReady(Result<GuestExit, EngineError>),
}

impl Engine {
    /// Runs `ready` in `guest` until it exits 0, `cancelled` returns true,
    /// or `deadline` passes.
    pub(super) async fn wait_until_ready(
        &self,
        guest: &Guest,
        ready: &[String],
        deadline: Instant,
        cancelled: impl Fn() -> bool,
    ) -> Readiness {
        loop {
            if cancelled() {
                return Readiness::Cancelled;
            }
            let argv = ready.to_vec();
            let answer = self
                .on_host(guest, move |h, u| h.guest_exec(u, &argv, b"", READY_CHECK))
                .await;
            match answer {
                Ok(exit) if exit.code == 0 => return Readiness::Ready,
                Ok(_) | Err(_) if Instant::now() < deadline => tokio::time::sleep(READY_POLL).await,
                last @ (Ok(_) | Err(_)) => return Readiness::NeverReady(last),
            }
        }
    }
}
