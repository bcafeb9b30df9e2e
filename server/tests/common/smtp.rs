//! A real SMTP server on loopback for the notification tests: Python's
//! aiosmtpd, from the virtual environment `scripts/smtp-sink` makes. Each
//! message it accepts is a JSON line in a file the test reads.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

pub struct SmtpSink {
    pub port: u16,
    out: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl SmtpSink {
    /// Starts one on a free port; `login` ("user:password") is required
    /// of clients when given.
    pub fn start(login: Option<&str>) -> SmtpSink {
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        SmtpSink::on(port, dir, login)
    }

    /// Starts one on `port`, writing into `dir` (again after `stop`).
    fn on(port: u16, dir: tempfile::TempDir, login: Option<&str>) -> SmtpSink {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/smtp-sink");
        let out = dir.path().join("received.jsonl");
        let mut command = Command::new(script);
        command.arg(port.to_string()).arg(&out);
        if let Some(login) = login {
            command.arg(login);
        }
        let child = command
            .stdout(Stdio::null())
            .spawn()
            .expect("scripts/smtp-sink");
        let sink = SmtpSink {
            port,
            out,
            child,
            _dir: dir,
        };
        // The first start makes the virtual environment: give it time.
        for _ in 0..1200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return sink;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the SMTP sink did not start on port {port}");
    }

    /// Stops the server (connections are then refused), keeping what it
    /// received.
    pub fn stop(mut self) -> (u16, tempfile::TempDir) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let port = self.port;
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(&self.out, dir.path().join("received.jsonl")).ok();
        (port, dir)
    }

    /// Starts it again on the same port, with what it had received.
    pub fn restart((port, dir): (u16, tempfile::TempDir)) -> SmtpSink {
        SmtpSink::on(port, dir, None)
    }

    /// Every message received so far, in order.
    pub fn received(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Waits up to `seconds` until `n` messages arrived; all received.
    pub fn wait_for(&self, n: usize, seconds: u64) -> Vec<Value> {
        for _ in 0..seconds * 10 {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.received()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
