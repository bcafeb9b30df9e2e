//! Inside a real guest, through its QEMU agent: what the sandbox's tests
//! (`libvirt.rs`, `stack.rs`) run there to write and read what users
//! would.

use std::time::Duration;

use server::engine::hypervisor::Hypervisor;
use server::engine::libvirt::LibvirtHost;

/// Runs `script` with `/bin/sh` in the guest `uuid` on the libvirt at
/// `uri`, which must succeed: its standard error (where tests have the
/// guest print what they read back).
pub fn in_guest(uri: &str, uuid: &str, script: &str) -> String {
    let host = LibvirtHost::connect(uri).unwrap();
    let argv = ["/bin/sh".to_owned(), "-c".to_owned(), script.to_owned()];
    let exit = host
        .guest_exec(uuid, &argv, b"", Duration::from_secs(30))
        .unwrap();
    assert_eq!(exit.code, 0, "{script}: {}", exit.stderr);
    exit.stderr
}
