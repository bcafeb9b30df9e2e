//! A fake host's serial line: one end of a UNIX socket pair, with a
//! "guest" on the other end that greets once and echoes what is typed,
//! as a shell on a terminal does.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;

use server::engine::hypervisor::{ConsoleLine, HostError};

/// What the fake guest writes when its line opens.
pub const GREETING: &str = "fake-guest login: ";

pub struct FakeLine {
    ours: UnixStream,
}

impl FakeLine {
    /// A line to a fresh fake guest, which runs until the line closes.
    pub fn open() -> Result<FakeLine, HostError> {
        let (ours, mut theirs) = UnixStream::pair().map_err(HostError::Upload)?;
        std::thread::spawn(move || {
            if theirs.write_all(GREETING.as_bytes()).is_err() {
                return;
            }
            let mut buf = [0u8; 1024];
            while let Ok(n @ 1..) = theirs.read(&mut buf) {
                if theirs.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        });
        Ok(FakeLine { ours })
    }
}

impl ConsoleLine for FakeLine {
    fn read(&self, buf: &mut [u8]) -> Result<usize, HostError> {
        (&self.ours).read(buf).map_err(HostError::Upload)
    }
    fn write(&self, bytes: &[u8]) -> Result<(), HostError> {
        (&self.ours).write_all(bytes).map_err(HostError::Upload)
    }
    fn close(&self) {
        let _ = self.ours.shutdown(Shutdown::Both);
    }
}

/// What a VNC server says first: the newest RFB version it speaks.
pub const RFB_GREETING: &[u8] = b"RFB 003.008\n";

/// A fake host's guest display: a socket to a "VNC server" that greets
/// as QEMU's does, then echoes what the viewer sends.
pub fn fake_display() -> Result<UnixStream, HostError> {
    let (ours, mut theirs) = UnixStream::pair().map_err(HostError::Upload)?;
    std::thread::spawn(move || {
        if theirs.write_all(RFB_GREETING).is_err() {
            return;
        }
        let mut buf = [0u8; 1024];
        while let Ok(n @ 1..) = theirs.read(&mut buf) {
            if theirs.write_all(&buf[..n]).is_err() {
                return;
            }
        }
    });
    Ok(ours)
}
