//! The URI libvirt opens for a stored host URI: the stored one names the
//! host only; the credentials' parameters are added here, by the server.

use std::path::Path;

use super::HostCredentials;

/// Percent-encodes a path for a URI's query (libvirt decodes it).
fn encoded(path: &Path) -> String {
    let mut out = String::new();
    for byte in path.as_os_str().as_encoded_bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(*byte));
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// `qemu+tls` gets dpe's `pkipath`; `qemu+ssh` and `qemu+libssh` go
/// through libvirt's in-process libssh2 transport (so the key and the
/// known_hosts file are dpe's, whatever ~/.ssh holds) with dpe's key and
/// its pinned host keys, verified (`normal`: an unknown or changed key
/// is refused). Not the libssh transport: in libvirt 9.0 (Debian 12) a
/// reply of more than a few KB (capabilities) stalls there until the next
/// keepalive. Others are opened as they are.
pub fn open_uri(credentials: &HostCredentials, uri: &str) -> String {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return uri.to_owned();
    };
    match scheme {
        "qemu+tls" => format!("{uri}?pkipath={}", encoded(&credentials.pki_dir())),
        "qemu+ssh" | "qemu+libssh" => format!(
            "qemu+libssh2://{rest}?keyfile={}&known_hosts={}&known_hosts_verify=normal&sshauth=privkey",
            encoded(&credentials.ssh_key_path()),
            encoded(&credentials.known_hosts_path()),
        ),
        _ => uri.to_owned(),
    }
}

/// The known_hosts name of an SSH host URI's server: `host`, or
/// `[host]:port` off port 22; `None` for other transports.
pub fn pin_target(uri: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once("://")?;
    if !matches!(scheme, "qemu+ssh" | "qemu+libssh") {
        return None;
    }
    let authority = rest.split('/').next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = match host_port.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6.split_once(']')?;
            (host, after.strip_prefix(':'))
        }
        None => match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        },
    };
    Some(match port {
        None | Some("22") => host.to_owned(),
        Some(port) => format!("[{host}]:{port}"),
    })
}
