//! An instance's serial and graphical consoles, as the console pages'
//! WebSockets use them.

use async_trait::async_trait;

use crate::error::AppError;
use crate::model::ConsoleView;
use crate::policy::{Authorized, rights};

#[async_trait]
pub trait ConsoleService: Send + Sync + 'static {
    /// What the console page shows around the terminal: the instance and
    /// how to sign in on its line. `NotFound` when `who` may not see it.
    async fn console_page(
        &self,
        who: Authorized<'_, rights::UseInstances>,
        id: i64,
    ) -> Result<ConsoleView, AppError>;

    /// Opens the running instance's serial console for `who`; audited.
    /// `NotFound` when `who` may not see the instance, `Conflict` when it
    /// does not run, `Unavailable` when its host offers no console.
    async fn open_console(
        &self,
        who: Authorized<'_, rights::UseInstances>,
        id: i64,
    ) -> Result<Box<dyn ConsoleSession>, AppError>;

    /// Connects `who` to the running instance's display (its VNC server);
    /// audited as a console opened, graphical. `NotFound` when `who` may
    /// not see the instance, `Conflict` when it does not run,
    /// `Unavailable` when its host cannot hand out its display.
    async fn open_graphics(
        &self,
        who: Authorized<'_, rights::UseInstances>,
        id: i64,
    ) -> Result<Box<dyn GraphicsSession>, AppError>;
}

/// One viewer's connection to a guest's display, RFB both ways; dropping
/// it disconnects.
#[async_trait]
pub trait GraphicsSession: Send {
    /// What the display sent next; `None` once it has closed. Cancel-safe:
    /// nothing is lost when the future is dropped unfinished.
    async fn output(&mut self) -> Option<Vec<u8>>;
    /// Sends `bytes` to the display.
    async fn input(&mut self, bytes: &[u8]) -> Result<(), AppError>;
}

/// One viewer's console, open; dropping it leaves.
#[async_trait]
pub trait ConsoleSession: Send {
    /// What the line printed before this viewer came (the last 64 KB),
    /// once.
    fn take_scrollback(&mut self) -> Vec<u8>;
    /// The guest's next output; `None` once the line has ended.
    async fn output(&mut self) -> Option<Vec<u8>>;
    /// Types `bytes` on the line.
    async fn input(&self, bytes: Vec<u8>) -> Result<(), AppError>;
    /// Tells the guest's shell the terminal's size; `Invalid` beyond
    /// the limits of [`crate::model::ConsoleControl`].
    async fn resize(&self, rows: u16, cols: u16) -> Result<(), AppError>;
}
