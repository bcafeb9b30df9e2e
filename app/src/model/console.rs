//! The console page's WebSocket: what the browser sends besides
//! keystrokes (which go as binary frames, as typed).

use serde::{Deserialize, Serialize};

/// The terminal sizes a resize may ask for.
pub const CONSOLE_MAX_ROWS: u16 = 500;
pub const CONSOLE_MAX_COLS: u16 = 1000;

/// A text frame from the console page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ConsoleControl {
    /// Tells the guest's shell the terminal's size: the server types
    /// `stty rows R cols C` on the line (a serial line carries no size).
    Resize { rows: u16, cols: u16 },
}
