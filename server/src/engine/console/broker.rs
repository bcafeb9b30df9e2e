//! The brokers of open serial lines, one per domain, whose output goes
//! to every viewer, with the last 64 KB kept for a viewer that arrives
//! later. A line closes a short grace after its last viewer leaves, so a
//! page reload keeps it (and its scrollback). A leaf: the engine holds
//! its `Consoles`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::sync::broadcast;

use crate::blocking::run_blocking;
use crate::engine::EngineError;
use crate::engine::hypervisor::ConsoleLine;

/// The output a viewer that arrives later is given first.
pub const SCROLLBACK_BYTES: usize = 64 * 1024;
/// How long a line stays open after its last viewer left.
const GRACE: Duration = Duration::from_secs(5);
/// Chunks a slow viewer may fall behind before it misses some.
const BACKLOG_CHUNKS: usize = 1024;
/// The most one read takes from the line.
const READ_BYTES: usize = 4096;

/// What a viewer receives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConsoleOutput {
    Bytes(Vec<u8>),
    /// The line ended: the guest stopped, or the host dropped the stream.
    Ended,
}

/// The brokers of the open lines, by domain UUID.
#[derive(Default)]
pub struct Consoles {
    open: Mutex<HashMap<String, Arc<Broker>>>,
    /// One line opened at a time: two viewers arriving together must not
    /// open two streams (the second would take the line from the first).
    opening: tokio::sync::Mutex<()>,
}

impl Consoles {
    fn open(&self) -> MutexGuard<'_, HashMap<String, Arc<Broker>>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One domain's line and its viewers.
struct Broker {
    uuid: String,
    line: Arc<dyn ConsoleLine>,
    /// The scrollback, and the number of viewers: under one lock, so that
    /// a new viewer's copy and its subscription see every byte once.
    shared: Mutex<Shared>,
    output: broadcast::Sender<ConsoleOutput>,
    /// Where the broker is registered, to leave when its line ends.
    consoles: Weak<Consoles>,
}

#[derive(Default)]
struct Shared {
    scrollback: VecDeque<u8>,
    viewers: usize,
    ended: bool,
}

impl Broker {
    fn shared(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads the line until it ends, on a thread of its own (reads block
    /// for as long as the guest is quiet).
    fn pump(self: Arc<Self>) {
        let mut buf = vec![0u8; READ_BYTES];
        loop {
            match self.line.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let chunk = buf[..n].to_vec();
                    let mut shared = self.shared();
                    shared.scrollback.extend(&chunk);
                    let over = shared.scrollback.len().saturating_sub(SCROLLBACK_BYTES);
                    shared.scrollback.drain(..over);
                    // No viewer (in the grace) is no error.
                    let _ = self.output.send(ConsoleOutput::Bytes(chunk));
                }
                Err(e) => {
                    tracing::warn!(domain = %self.uuid, error = %crate::error_chain(&e),
                        "a serial console's stream failed");
                    break;
                }
            }
        }
        self.shared().ended = true;
        let _ = self.output.send(ConsoleOutput::Ended);
        self.line.close();
        self.leave();
    }

    /// Unregisters this broker (not a newer one of the same domain).
    fn leave(self: &Arc<Self>) {
        if let Some(consoles) = self.consoles.upgrade() {
            let mut open = consoles.open();
            if open.get(&self.uuid).is_some_and(|b| Arc::ptr_eq(b, self)) {
                open.remove(&self.uuid);
            }
        }
    }

    /// A viewer: the scrollback so far, and what follows; `None` once
    /// the line has ended.
    fn join(self: &Arc<Self>) -> Option<ConsoleViewer> {
        let mut shared = self.shared();
        if shared.ended {
            return None;
        }
        shared.viewers += 1;
        Some(ConsoleViewer {
            scrollback: shared.scrollback.iter().copied().collect(),
            output: self.output.subscribe(),
            broker: self.clone(),
        })
    }

    /// A viewer left: the last one starts the grace, after which the
    /// line closes unless someone came back.
    fn part(self: &Arc<Self>) {
        let mut shared = self.shared();
        shared.viewers = shared.viewers.saturating_sub(1);
        if shared.viewers > 0 || shared.ended {
            return;
        }
        drop(shared);
        let broker = self.clone();
        let closing = async move {
            tokio::time::sleep(GRACE).await;
            // Ended under the lock: a viewer that comes now opens a new
            // line rather than joining one about to close.
            let closes = {
                let mut shared = broker.shared();
                let closes = shared.viewers == 0 && !shared.ended;
                shared.ended |= closes;
                closes
            };
            if closes {
                broker.leave();
                let line = broker.line.clone();
                // Closing aborts the stream: a libvirt call, which blocks.
                run_blocking(move || line.close()).await;
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(closing);
            }
            // Outside a runtime (the process is ending): close at once.
            Err(_) => {
                self.leave();
                self.line.close();
            }
        }
    }
}

/// One viewer of a domain's console. Dropping it leaves.
pub struct ConsoleViewer {
    scrollback: Vec<u8>,
    output: broadcast::Receiver<ConsoleOutput>,
    broker: Arc<Broker>,
}

impl ConsoleViewer {
    /// The output before this viewer came (at most [`SCROLLBACK_BYTES`]),
    /// once; empty afterwards.
    pub fn take_scrollback(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.scrollback)
    }

    /// The next output; a viewer too slow to keep up misses what it fell
    /// behind by, rather than holding the others up.
    pub async fn next(&mut self) -> ConsoleOutput {
        loop {
            match self.output.recv().await {
                Ok(out) => return out,
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "a console viewer fell behind");
                }
                Err(broadcast::error::RecvError::Closed) => return ConsoleOutput::Ended,
            }
        }
    }

    /// Sends keystrokes (or a command) to the guest.
    pub async fn send(&self, bytes: Vec<u8>) -> Result<(), EngineError> {
        let line = self.broker.line.clone();
        Ok(run_blocking(move || line.write(&bytes)).await?)
    }
}

impl Drop for ConsoleViewer {
    fn drop(&mut self) {
        self.broker.part();
    }
}

impl Consoles {
    /// A viewer of domain `uuid`'s line: of the open one if there is one,
    /// else of the line `open` opens now, with what the guest wrote
    /// before (the scrollback it starts with).
    pub async fn viewer(
        self: &Arc<Self>,
        uuid: &str,
        open: impl Future<Output = Result<(Box<dyn ConsoleLine>, Vec<u8>), EngineError>>,
    ) -> Result<ConsoleViewer, EngineError> {
        let joined = || self.open().get(uuid).and_then(|b| b.join());
        if let Some(viewer) = joined() {
            return Ok(viewer);
        }
        let _opening = self.opening.lock().await;
        if let Some(viewer) = joined() {
            return Ok(viewer);
        }
        let (line, mut earlier) = open.await?;
        let line: Arc<dyn ConsoleLine> = Arc::from(line);
        earlier.drain(..earlier.len().saturating_sub(SCROLLBACK_BYTES));
        let broker = Arc::new(Broker {
            uuid: uuid.to_owned(),
            line: line.clone(),
            shared: Mutex::new(Shared {
                scrollback: earlier.iter().copied().collect(),
                viewers: 1,
                ended: false,
            }),
            output: broadcast::channel(BACKLOG_CHUNKS).0,
            consoles: Arc::downgrade(self),
        });
        let viewer = ConsoleViewer {
            scrollback: earlier,
            output: broker.output.subscribe(),
            broker: broker.clone(),
        };
        let pump = broker.clone();
        if let Err(e) = std::thread::Builder::new()
            .name("dpe-console".into())
            .spawn(move || pump.pump())
        {
            line.close();
            return Err(EngineError::ConsoleThread(e));
        }
        self.open().insert(uuid.to_owned(), broker);
        Ok(viewer)
    }
}
