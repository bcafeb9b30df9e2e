//! The serial consoles of running guests: one libvirt console stream per
//! domain (a second open would take the line over), shared by every
//! viewer through its broker (`broker.rs`). A line opened anew starts
//! with the end of the console's log, since the stream only carries what
//! the guest writes from then on: the boot the owner came to look at.

pub(super) mod broker;
mod graphics;

use std::sync::Arc;

pub use self::broker::{ConsoleOutput, ConsoleViewer, SCROLLBACK_BYTES};
use super::EngineError;
use super::hypervisor::Hypervisor;
use super::runtime::Engine;
use super::volumes::InstanceVolumes;
use crate::blocking::run_blocking;

impl Engine {
    /// A viewer of the serial console of domain `uuid` on host `host_id`,
    /// whose volumes' names start with `volume_stem`: of its open line if
    /// there is one, else of a line opened now.
    pub async fn console(
        &self,
        host_id: i64,
        uuid: &str,
        volume_stem: &str,
    ) -> Result<ConsoleViewer, EngineError> {
        let opened = async {
            let host: Arc<dyn Hypervisor> = self.connect(host_id).await?;
            let uuid = uuid.to_owned();
            let pool = self.config.storage_pool.clone();
            let log = InstanceVolumes::of(volume_stem).console_log;
            run_blocking(move || {
                // The line first, then the log: what the guest writes in
                // between is in both (rather than in neither).
                let line = host.open_console(&uuid)?;
                let earlier = match host.volume_tail(&pool, &log, SCROLLBACK_BYTES as u64) {
                    Ok(tail) => from_whole_line(tail.unwrap_or_default()),
                    Err(e) => {
                        tracing::info!(domain = %uuid, error = %crate::error_chain(&e),
                            "the console's log cannot be read: no earlier output");
                        Vec::new()
                    }
                };
                Ok::<_, EngineError>((line, earlier))
            })
            .await
        };
        self.consoles.viewer(uuid, opened).await
    }
}

/// The log's end from its first whole line, when it was cut (a line cut
/// short may be half an escape sequence).
fn from_whole_line(mut tail: Vec<u8>) -> Vec<u8> {
    if tail.len() >= SCROLLBACK_BYTES
        && let Some(newline) = tail.iter().position(|&b| b == b'\n')
    {
        tail.drain(..=newline);
    }
    tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_length_log_end_starts_at_its_first_whole_line_and_a_shorter_one_is_kept_whole() {
        let mut cut = b"ape\x1b[0m\nsecond line\n".to_vec();
        cut.resize(SCROLLBACK_BYTES, b'x');
        let kept = from_whole_line(cut);
        assert!(kept.starts_with(b"second line\n"));
        assert_eq!(from_whole_line(b"half\nwhole\n".to_vec()), b"half\nwhole\n");
        assert_eq!(from_whole_line(Vec::new()), b"");
    }
}
