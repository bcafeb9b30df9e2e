//! A small disk that fills up for real: a tmpfs, for the tests of what
//! dpe answers when its data disk or backup store is full.

use std::io::Write;
use std::path::Path;
use std::process::Command;

/// A tmpfs of `size` mounted on a new directory, unmounted when dropped:
/// a disk that fills up for real.
pub struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    pub fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mounting a tmpfs needs root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(dir)
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }

    /// Writes `file` until the disk refuses another byte.
    pub fn fill(&self, file: &Path) {
        let mut out = std::fs::File::create(file).unwrap();
        for chunk in [1 << 20, 4096, 1] {
            let bytes = vec![0u8; chunk];
            while out.write_all(&bytes).is_ok() && out.flush().is_ok() {}
        }
        // tmpfs takes whole pages: nothing is left now.
        assert!(out.write_all(&[0]).and_then(|()| out.sync_all()).is_err());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.0.path()).status();
    }
}
